#!/usr/bin/env bash
# Evidence on real data (issue 5): kNN (k 200, t 0.1) and fast linear-probe accuracy on the CIFAR-10 test set
# of raw pixels, a randomly initialised encoder and the MoCo encoder trained with the cpu-small preset,
# plus the kNN-vs-training-time chart against the official PyTorch builder's curve measured on this machine.
# Usage: CIFAR10=/tmp/cifar10 EPOCHS=15 STOP_AFTER=6 bench/cifar10-evidence.sh
#   CIFAR10: ../shared/data/cifar10-jpg.tar.gz unpacked (tar xzf ... -C /tmp/cifar10); never commit it.
#   EPOCHS: length of the cosine schedule; STOP_AFTER: stop (as Ctrl-C would) after that many epochs.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${CIFAR10:-/tmp/cifar10}
epochs=${EPOCHS:-15}
stop_after=${STOP_AFTER:-$epochs}
out=${OUT:-runs/cifar10-cpu-small}
train="$data/train"; test="$data/test"
./moco4j knn --raw-pixels --train "$train" --val "$test" --k 200 --device cpu
./moco4j knn --raw-pixels --train "$train" --val "$test" --k 20 --device cpu
./moco4j knn --random-init cpu-small --train "$train" --val "$test" --device cpu
./moco4j pretrain --preset cpu-small --data "$train" --val "$test" --out "$out" --epochs "$epochs" --seed 0 \
  --set train.knn_every=1 --set train.checkpoint_every=1 --device cpu &
pid=$!
while kill -0 "$pid" 2>/dev/null; do  # SIGTERM = finish the step, save, exit: the curve's first STOP_AFTER epochs
  if [ -f "$out/metrics.jsonl" ] && [ "$(grep -c '"knn_top1"' "$out/metrics.jsonl")" -ge "$stop_after" ]; then
    kill -TERM "$pid"
  fi
  sleep 5
done
wait "$pid" || true
./moco4j report "$out" --reference "official builder, issue (head)=260:38.9,520:42.1,780:45.1,1040:47.4" \
  --reference "official builder, here (backbone)=251:38.58,498:41.47,772:43.73,1049:45.43"
for source in "--raw-pixels" "--random-init cpu-small" "--checkpoint $out/checkpoints/last.ckpt"; do
  # shellcheck disable=SC2086
  ./moco4j lincls $source --train "$train" --val "$test" --fast --epochs 100 --out "$out-lincls-$(echo $source | tr -c 'a-z0-9' '_' | cut -c1-20)" --device cpu
done
