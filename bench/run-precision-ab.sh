#!/usr/bin/env bash
# bench/run-precision-benchmark.sh's arms for v3-64 / vit-64, with another build's jar (BEFORE_JAR, e.g. main's) and this one's
# target/moco4j.jar (build it first: ./mvnw -q -B package -DskipTests)
# alternated in every round beside the official step (Usage: bench/run-precision-ab.sh BEFORE_JAR MOCO_V3 TIMM v3-64|vit-64|v2-64 ...;
# v2-64 needs NOTEBOOK=.../colab/moco_cifar10_demo.ipynb; PRECISIONS="bf16 fp32" by default).
# Same settings as run-precision-benchmark.sh: 2 threads, 5 timed steps after 2 warm-up (THREADS, STEPS, WARMUP
# override them; our first steps run in the JVM interpreter, so short runs under-rate us: see BENCHMARKS.md); a line per arm: main|branch|official JSON.
cd "$(dirname "$0")/.."
/usr/bin/python3 bench/reference_blas.py || exit 2
before_jar="$1"; moco_v3="$2"; timm="$3"; shift 3
rounds=${ROUNDS:-2}; steps=${STEPS:-5}; warmup=${WARMUP:-2}; threads=${THREADS:-2}; precisions=${PRECISIONS:-bf16 fp32}
export MOCO4J_JAVA_OPTS="-Dai.djl.pytorch.num_threads=$threads -Dai.djl.pytorch.num_interop_threads=1"
export OPENBLAS_NUM_THREADS=1
ours() { local jar=$1; shift; java -Dai.djl.offline=true -Djava.awt.headless=true $MOCO4J_JAVA_OPTS -jar "$jar" bench --device cpu --steps "$steps" --warmup "$warmup" "$@" | tail -1; }
for c in "$@"; do
  for r in $(seq "$rounds"); do
    echo "# case $c round $r $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
    for p in $precisions; do
      for side in main branch; do
        jar="$before_jar"; [ $side = branch ] && jar=target/moco4j.jar
        echo -n "$side "
        case "$c" in
          v3-64) ours $jar --preset cifar10-v3 --batch-size 64 --precision $p ;;
          vit-64) ours $jar --preset cpu-vit --batch-size 64 --precision $p ;;
          v2-64) ours $jar --preset cifar10-demo --batch-size 64 --precision $p --set moco.symmetric=false ;;
        esac
      done
      echo -n "official "
      case "$c" in
        v2-64) /usr/bin/python3 bench/reference_moco_step.py --notebook "$NOTEBOOK" --batch 64 --steps "$steps" \
                 --warmup "$warmup" --threads "$threads" --autocast "${p/fp32/none}" ;;
        v3-64) /usr/bin/python3 bench/reference_v3_step.py --moco-v3 "$moco_v3" --batch 64 --steps "$steps" \
                 --warmup "$warmup" --threads "$threads" --autocast "${p/fp32/none}" ;;
        vit-64) PYTHONPATH="$timm:$moco_v3" /usr/bin/python3 bench/reference_v3_step.py \
                 --moco-v3 "$moco_v3" --vit --vit-size 128 4 4 --dim 128 --mlp-dim 1024 --batch 64 --steps "$steps" \
                 --warmup "$warmup" --threads "$threads" --autocast "${p/fp32/none}" 2>/dev/null ;;
      esac
    done
  done
done
