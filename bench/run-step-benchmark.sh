#!/usr/bin/env bash
# Training-step throughput of MoCo4J vs the official PyTorch MoCo builder, alternated in one run.
# Usage: bench/run-step-benchmark.sh NOTEBOOK [BATCH ...]
#   NOTEBOOK: the official demo notebook (facebookresearch/moco, branch colab-notebook,
#             colab/moco_cifar10_demo.ipynb), which holds the reference builder we time.
# Needs Debian's python3-torch (1.13) and python3-torchvision, and libopenblas0-pthread.
set -euo pipefail
cd "$(dirname "$0")/.."
# An unfair baseline is refused before anything runs: the reference torch must not be on the netlib reference BLAS.
/usr/bin/python3 bench/reference_blas.py || exit 2
notebook="$1"; shift
batches=("${@:-64}")
[ ${#batches[@]} -gt 0 ] || batches=(64 256)
rounds=${ROUNDS:-2}
steps=${STEPS:-5}
for b in "${batches[@]}"; do
  for r in $(seq "$rounds"); do
    # The demo model, non-symmetric as the reference builder below is run.
    ./moco4j bench --preset cifar10-demo --batch-size "$b" --steps "$steps" --warmup 2 --profile --device cpu \
        --set moco.symmetric=false | tail -1
    /usr/bin/python3 bench/reference_moco_step.py --notebook "$notebook" --batch "$b" --steps "$steps" --warmup 2 --threads 2
  done
done
