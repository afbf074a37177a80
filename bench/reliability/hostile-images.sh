#!/usr/bin/env bash
# Hostile images: N mutated/odd/bomb files through `pretrain` (one epoch of a tiny model) and `embed`.
# Usage: bench/reliability/hostile-images.sh [N] [WORKDIR]
set -uo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
classes=${CLASSES:-$here/target}
cp="$classes/classes:$classes/test-classes:$(cat "${CP_FILE:-/tmp/reliab-cp.txt}")"
n=${1:-1000}; work=${2:-/tmp/moco4j-hostile-images}
rm -rf "$work"; mkdir -p "$work"
jvm=(env OMP_NUM_THREADS=1 nice -n 10 java -Xmx2g -Dai.djl.offline=true -Djava.awt.headless=true -cp "$cp")
"${jvm[@]}" io.moco4j.bench.HostileImageSet "$work/images" "$n" 2>&1 | tail -1
"${jvm[@]}" io.moco4j.cli.Main pretrain --data "$work/images" --out "$work/run" --preset cpu-small --epochs 1 --workers 2 \
  --set train.image_size=32 --set model.width=0.125 --set model.dim=8 --set moco.queue_size=64 --set train.batch_size=32 \
  --set moco.bn_splits=2 --set train.knn_every=0 --set train.log_every=5 > "$work/pretrain.out" 2> "$work/pretrain.err"
echo "pretrain: exit $?, $(grep -c 'skipping unreadable image' "$work/pretrain.err") images skipped with a warning, $(grep -c '"type":"step"' "$work/run/metrics.jsonl" 2>/dev/null) steps logged; $(grep -c 'refused\|declares' "$work/pretrain.err") of them bombs; hs_err files: $(ls hs_err_pid*.log "$work"/hs_err_pid*.log 2>/dev/null | wc -l); OutOfMemoryError lines: $(grep -c OutOfMemoryError "$work/pretrain.err")"
grep -m3 'declares\|frames' "$work/pretrain.err" | cut -c1-220
"${jvm[@]}" io.moco4j.cli.Main embed --random-init cpu-small --images "$work/images" --out "$work/emb.npy" --image-size 32 \
  > "$work/embed.out" 2> "$work/embed.err"
echo "embed: exit $?, $(tail -n1 "$work/embed.out"); $(grep -c 'skipping unreadable image' "$work/embed.err") warnings; OutOfMemoryError lines: $(grep -c OutOfMemoryError "$work/embed.err")"
