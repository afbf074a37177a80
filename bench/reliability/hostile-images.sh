#!/usr/bin/env bash
# Hostile images: N mutated/odd/bomb files through `pretrain` (one epoch of a tiny model), `embed` and `serve`
# (the folder indexed, then every file uploaded as a query image over HTTP, see serve_uploads.py).
# Usage: bench/reliability/hostile-images.sh [N] [WORKDIR]   (SKIP_EMBED=1 leaves out the embed pass)
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
if [ -z "${SKIP_EMBED:-}" ]; then
"${jvm[@]}" io.moco4j.cli.Main embed --random-init cpu-small --images "$work/images" --out "$work/emb.npy" --image-size 32 \
  > "$work/embed.out" 2> "$work/embed.err"
echo "embed: exit $?, $(tail -n1 "$work/embed.out"); $(grep -c 'skipping unreadable image' "$work/embed.err") warnings; OutOfMemoryError lines: $(grep -c OutOfMemoryError "$work/embed.err")"
fi
# serve: index the folder with the checkpoint pretrain just wrote, then upload every file (and two thin PNGs).
"${jvm[@]}" io.moco4j.cli.Main serve --checkpoint "$work/run/checkpoints/last.ckpt" --images "$work/images" --port 0 \
  --device cpu --cache "$work/serve-cache" > "$work/serve.out" 2> "$work/serve.err" & spid=$!
until grep -q '^Serving' "$work/serve.out" 2>/dev/null || ! kill -0 $spid 2>/dev/null; do sleep 1; done
url=$(grep -o 'http://[0-9.:]*' "$work/serve.out" | head -1)
echo "serve: $(grep '^Serving' "$work/serve.out" | cut -c1-60)...; $(grep -c 'skipping unreadable image' "$work/serve.err") images left out of the gallery with a warning"
UPLOAD_LOG="$work/uploads.tsv" nice -n 10 /usr/bin/python3 "$here/bench/reliability/serve_uploads.py" "$url" "$work/images"
alive=$(kill -0 $spid 2>/dev/null && echo "still running" || echo "NOT RUNNING")
kill -TERM $spid 2>/dev/null; wait $spid; src=$?
echo "serve after the uploads: $alive; exit on SIGTERM $src; OutOfMemoryError lines: $(grep -c OutOfMemoryError "$work/serve.err"); requests that failed inside (HTTP 500): $(grep -c 'request .* failed' "$work/serve.err"); hs_err files: $(ls hs_err_pid*.log "$work"/hs_err_pid*.log 2>/dev/null | wc -l)"
