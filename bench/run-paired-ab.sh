#!/usr/bin/env bash
# Issue 21's step comparisons with bench/paired_ab.py: the official moco-v3 step (Debian's torch 1.13, OpenBLAS, under
# torch.autocast for bf16) and ours, started once each and alternated step by step (see paired_ab.py for why).
# Usage: bench/run-paired-ab.sh MOCO_V3 TIMM CASE...   CASE: v3-64 (CIFAR R18 MoCo v3), vit-64 (cpu-vit), v2-64 or
#   v2-256 (CIFAR R18 MoCo v2 against the colab notebook's ModelMoCo: NOTEBOOK=path of colab/moco_cifar10_demo.ipynb
#   from facebookresearch/moco's colab-notebook branch)
#   PRECISIONS="bf16 fp32" THREADS=2 WARMUP=10 STEPS=20 by default; BEFORE_JAR=path adds another build's jar as an arm.
#   Idle arms are paused (paired_ab.py --stop-idle; STOP_IDLE=0 lets them run, the protocol before 2026-12-07 04:00).
#   Our arms run with the allocator ./moco4j would choose (tcmalloc when installed, else glibc set to keep freed memory;
#   MOCO4J_MALLOC=glibc|system as for the launcher); MALLOC_ARMS=1 adds "official-tcmalloc", "moco4j-glibc-kept" (glibc
#   with the launcher's settings) and "moco4j-glibc" (glibc as it is), to show what the allocator does for each side.
# Build first: ./mvnw -q -B package -DskipTests (target/moco4j.jar). One summary JSON per case and precision goes to
# runs/paired-CASE-PRECISION.json.
set -euo pipefail
cd "$(dirname "$0")/.."
/usr/bin/python3 bench/reference_blas.py
moco_v3="$1"; timm="$2"; shift 2
threads=${THREADS:-2}; warmup=${WARMUP:-10}; steps=${STEPS:-20}; precisions=${PRECISIONS:-bf16 fp32}
mkdir -p runs
tcmalloc=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
[ -f "$tcmalloc" ] || tcmalloc=""
launcher_env() {  # MOCO4J_MALLOC value -> "LD_PRELOAD=... GLIBC_TUNABLES=..." as ./moco4j sets them
  env -u LD_PRELOAD -u GLIBC_TUNABLES MOCO4J_MALLOC="$1" MOCO4J_DRY_RUN=1 ./moco4j | sed -n 1p
}
ours_env="$(launcher_env "${MOCO4J_MALLOC:-auto}")"
echo "# our arms' allocator: $ours_env"
java_arm() {  # NAME "LD_PRELOAD=... GLIBC_TUNABLES=..." JAR ARGS...
  local name=$1 malloc=$2 jar=$3; shift 3
  echo "$name=env $malloc TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD=1099511627776 java -Dai.djl.offline=true" \
    "-Djava.awt.headless=true -Dai.djl.pytorch.num_threads=$threads -Dai.djl.pytorch.num_interop_threads=1 -jar $jar" \
    "bench --device cpu --steps $steps --warmup $warmup --turns $*"
}
for c in "$@"; do
  case "$c" in
    v3-64) ours="--preset cifar10-v3 --batch-size 64"; ref="--batch 64"; path="" ;;
    vit-64) ours="--preset cpu-vit --batch-size 64"; ref="--vit --vit-size 128 4 4 --dim 128 --mlp-dim 1024 --batch 64"
            path="PYTHONPATH=$timm:$moco_v3" ;;
    v2-64|v2-256)
            b=${c#v2-}; ours="--preset cifar10-demo --batch-size $b --set moco.symmetric=false"; ref=""; path="" ;;
    *) echo "unknown case $c (v3-64, vit-64, v2-64 or v2-256)" >&2; exit 2 ;;
  esac
  for p in $precisions; do
    echo "# case $c $p $(date -u '+%F %T') load $(cut -d' ' -f1-3 /proc/loadavg)"
    official="$path OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/reference_v3_step.py --moco-v3 $moco_v3 $ref
      --steps $steps --warmup $warmup --threads $threads --autocast ${p/fp32/none} --turns"
    if [[ $c == v2-* ]]; then
      official="OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/reference_moco_step.py --notebook ${NOTEBOOK:?set NOTEBOOK}
        --batch $b --steps $steps --warmup $warmup --threads $threads --autocast ${p/fp32/none} --turns"
    fi
    arms=(--arm "official=env $official" --arm "$(java_arm moco4j "$ours_env" target/moco4j.jar $ours --precision $p)")
    if [ -n "${BEFORE_JAR:-}" ]; then arms+=(--arm "$(java_arm before "$ours_env" "$BEFORE_JAR" $ours --precision $p)"); fi
    if [ -n "${MALLOC_ARMS:-}" ] && [ -n "$tcmalloc" ]; then
      arms+=(--arm "official-tcmalloc=env LD_PRELOAD=$tcmalloc $official"
        --arm "$(java_arm moco4j-glibc-kept "$(launcher_env glibc)" target/moco4j.jar $ours --precision $p)"
        --arm "$(java_arm moco4j-glibc "$(launcher_env system)" target/moco4j.jar $ours --precision $p)")
    fi
    stop=(--stop-idle); [ "${STOP_IDLE:-1}" = 0 ] && stop=()
    /usr/bin/python3 bench/paired_ab.py "${stop[@]}" --warmup "$warmup" --steps "$steps" --out "runs/paired-$c-$p.json" "${arms[@]}" \
      2> >(grep -v -e meshgrid -e '_VF.meshgrid' >&2) | grep -v '^{'
  done
done
