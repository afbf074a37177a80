#!/usr/bin/env bash
# Mixed precision step throughput (issue 21): `./moco4j bench --precision bf16` against `--precision fp32` and against
# the official builders under torch.autocast("cpu", torch.bfloat16), alternated round by round in one run.
# Usage: bench/run-precision-benchmark.sh NOTEBOOK MOCO_V3 TIMM [CASE ...]
#   NOTEBOOK: facebookresearch/moco branch colab-notebook, colab/moco_cifar10_demo.ipynb (the v2 CIFAR builder)
#   MOCO_V3, TIMM: checkouts of facebookresearch/moco-v3 and pytorch-image-models at v0.4.9
#   CASE: v2-64 v2-256 v3-64 vit-64 (default: all four)
# ROUNDS (2), STEPS (5), THREADS (2). Each line printed is one JSON result with img_per_s and peak_rss_mb.
# Needs Debian's python3-torch (1.13), python3-torchvision and libopenblas0-pthread (checked: an unfair baseline
# is refused).
set -euo pipefail
cd "$(dirname "$0")/.."
/usr/bin/python3 bench/reference_blas.py || exit 2
notebook="$1"; moco_v3="$2"; timm="$3"; shift 3
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(v2-64 v2-256 v3-64 vit-64)
rounds=${ROUNDS:-2}; steps=${STEPS:-5}; threads=${THREADS:-2}
export MOCO4J_JAVA_OPTS="${MOCO4J_JAVA_OPTS:-} -Dai.djl.pytorch.num_threads=$threads -Dai.djl.pytorch.num_interop_threads=1"
export OPENBLAS_NUM_THREADS=1   # the reference's OpenBLAS pool inside torch's threads oversubscribes 2 cores
ours() { ./moco4j bench --device cpu --steps "$steps" --warmup 2 "$@" | tail -1; }
for c in "${cases[@]}"; do
  b="${c##*-}"
  for r in $(seq "$rounds"); do
    echo "# case $c round $r $(date -u +%T) load $(cut -d' ' -f1 /proc/loadavg)"
    for p in fp32 bf16; do
      case "$c" in
        v2-*) ours --preset cifar10-demo --batch-size "$b" --precision "$p" --set moco.symmetric=false
              /usr/bin/python3 bench/reference_moco_step.py --notebook "$notebook" --batch "$b" --steps "$steps" \
                --warmup 2 --threads "$threads" --autocast "${p/fp32/none}" ;;
        v3-*) ours --preset cifar10-v3 --batch-size "$b" --precision "$p"
              /usr/bin/python3 bench/reference_v3_step.py --moco-v3 "$moco_v3" --batch "$b" --steps "$steps" \
                --warmup 2 --threads "$threads" --autocast "${p/fp32/none}" ;;
        vit-*) ours --preset cpu-vit --batch-size "$b" --precision "$p"
              PYTHONPATH="$timm:$moco_v3" /usr/bin/python3 bench/reference_v3_step.py --moco-v3 "$moco_v3" --vit \
                --vit-size 128 4 4 --dim 128 --mlp-dim 1024 --batch "$b" --steps "$steps" --warmup 2 \
                --threads "$threads" --autocast "${p/fp32/none}" ;;
        *) echo "unknown case $c (v2-B, v3-B or vit-B)" >&2; exit 2 ;;
      esac
    done
  done
done
