#!/usr/bin/env bash
# ViT backbone forward+backward throughput of MoCo4J vs the official vits.py model on PyTorch, alternated in one run,
# with the share of time in the attention core. Usage: bench/run-vit-benchmark.sh MOCO_V3_DIR TIMM_DIR [BATCH ...]
# (SIZE=vit_cifar_tiny ROUNDS=2 STEPS=5 by default). Needs Debian's python3-torch (1.13) and libopenblas0-pthread:
# without it that torch falls back to the reference BLAS and its linears are several times slower.
set -euo pipefail
cd "$(dirname "$0")/.."
# An unfair baseline is refused before anything runs: the reference torch must not be on the netlib reference BLAS.
/usr/bin/python3 bench/reference_blas.py || exit 2
moco_v3="$1"; timm="$2"; shift 2
batches=("${@:-64}")
size=${SIZE:-vit_cifar_tiny}
rounds=${ROUNDS:-2}
steps=${STEPS:-5}
./mvnw -q -B -o test-compile dependency:copy-dependencies -DincludeScope=test -DoutputDirectory=target/bench-lib >/dev/null
cp="target/classes:target/test-classes:target/bench-lib/*"
for b in "${batches[@]}"; do
  for r in $(seq "$rounds"); do
    java -Dai.djl.offline=true -cp "$cp" io.moco4j.bench.VitBenchmark "$size" "$b" "$steps" 2
    /usr/bin/python3 bench/reference_vit_step.py --moco-v3 "$moco_v3" --timm "$timm" --size "$size" --batch "$b" \
      --steps "$steps" --warmup 2 --threads 2
  done
done
