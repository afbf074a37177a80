#!/usr/bin/env bash
# MoCo v3 training-step throughput: MoCo4J (`./moco4j bench --preset cifar10-v3`) against the official
# moco-v3 MoCo_ResNet + LARS on PyTorch (bench/reference_v3_step.py), same batch, image size and heads,
# alternated in one run so both see the same machine.
# Usage: bench/run-v3-step-benchmark.sh MOCO_V3_CHECKOUT [BATCH ...]
# VIT=1 (with PYTHONPATH=TIMM_0.4.9:MOCO_V3): the cpu-vit preset against the official MoCo_ViT + AdamW instead.
# Needs Debian's python3-torch (1.13) and python3-torchvision.
set -euo pipefail
cd "$(dirname "$0")/.."
checkout="$1"; shift
batches=("$@")
[ ${#batches[@]} -gt 0 ] || batches=(64 256)
rounds=${ROUNDS:-2}
steps=${STEPS:-5}
for b in "${batches[@]}"; do
  for r in $(seq "$rounds"); do
    if [ -n "${VIT:-}" ]; then
      ./moco4j bench --preset cpu-vit --batch-size "$b" --steps "$steps" --warmup 2 --device cpu | tail -1
      /usr/bin/python3 bench/reference_v3_step.py --moco-v3 "$checkout" --vit --dim 128 --mlp-dim 1024 --batch "$b" \
          --steps "$steps" --warmup 2 --threads 2
    else
      ./moco4j bench --preset cifar10-v3 --batch-size "$b" --steps "$steps" --warmup 2 --device cpu | tail -1
      /usr/bin/python3 bench/reference_v3_step.py --moco-v3 "$checkout" --batch "$b" --steps "$steps" --warmup 2 --threads 2
    fi
  done
done
