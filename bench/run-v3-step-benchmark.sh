#!/usr/bin/env bash
# MoCo v3 training-step throughput: MoCo4J (`./moco4j bench --preset cifar10-v3`) against the official
# moco-v3 MoCo_ResNet + LARS on PyTorch (bench/reference_v3_step.py), same batch, image size and heads,
# alternated in one run so both see the same machine.
# Usage: bench/run-v3-step-benchmark.sh MOCO_V3_CHECKOUT [BATCH ...]
# VIT=1 (with PYTHONPATH=TIMM_0.4.9:MOCO_V3): the cpu-vit preset against the official MoCo_ViT + AdamW instead, at the
# ViT size VIT_SIZE="WIDTH DEPTH HEADS" (default "192 6 3": vit_cifar_tiny; "128 4 4" is cpu-vit's own size).
# THREADS (default 2) sets libtorch's intra-op threads on both sides. REF_BLAS_THREADS sets OPENBLAS_NUM_THREADS for
# the reference: Debian's torch calls OpenBLAS, whose own thread pool (one thread per core by default) runs inside
# torch's threads; on 2 cores that oversubscription made the reference's small GEMMs (attention bmm) up to 10x slower.
# Needs Debian's python3-torch (1.13) and python3-torchvision.
set -euo pipefail
cd "$(dirname "$0")/.."
# An unfair baseline is refused before anything runs: the reference torch must not be on the netlib reference BLAS.
/usr/bin/python3 bench/reference_blas.py || exit 2
checkout="$1"; shift
batches=("$@")
[ ${#batches[@]} -gt 0 ] || batches=(64 256)
rounds=${ROUNDS:-2}
steps=${STEPS:-5}
threads=${THREADS:-2}
read -r vw vd vh <<< "${VIT_SIZE:-192 6 3}"
export MOCO4J_JAVA_OPTS="${MOCO4J_JAVA_OPTS:-} -Dai.djl.pytorch.num_threads=$threads -Dai.djl.pytorch.num_interop_threads=1"
for b in "${batches[@]}"; do
  for r in $(seq "$rounds"); do
    if [ -n "${VIT:-}" ]; then
      ./moco4j bench --preset cpu-vit --batch-size "$b" --steps "$steps" --warmup 2 --device cpu \
          --set model.vit_width="$vw" --set model.vit_depth="$vd" --set model.vit_heads="$vh" | tail -1
      env ${REF_BLAS_THREADS:+OPENBLAS_NUM_THREADS=$REF_BLAS_THREADS} \
          /usr/bin/python3 bench/reference_v3_step.py --moco-v3 "$checkout" --vit --vit-size "$vw" "$vd" "$vh" --dim 128 \
          --mlp-dim 1024 --batch "$b" --steps "$steps" --warmup 2 --threads "$threads"
    else
      ./moco4j bench --preset cifar10-v3 --batch-size "$b" --steps "$steps" --warmup 2 --device cpu | tail -1
      env ${REF_BLAS_THREADS:+OPENBLAS_NUM_THREADS=$REF_BLAS_THREADS} \
          /usr/bin/python3 bench/reference_v3_step.py --moco-v3 "$checkout" --batch "$b" --steps "$steps" --warmup 2 --threads "$threads"
    fi
  done
done
