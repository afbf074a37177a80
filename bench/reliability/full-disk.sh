#!/usr/bin/env bash
# Full disk: the run directory on a 3 MB tmpfs; the tiny model's checkpoint is ~2.2 MB, so the second
# last.ckpt (written beside the first before the rename) fills the disk. Needs root (mount).
# Checks: one error line, last.ckpt intact (the first one), no temporary or partial file, resumable after space is freed.
set -uo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
classes=${CLASSES:-$here/target}
cp="$classes/classes:$(cat "${CP_FILE:-/tmp/reliab-cp.txt}")"
mnt=${1:-/tmp/moco4j-fulldisk}
mkdir -p "$mnt"; mountpoint -q "$mnt" && umount "$mnt"
mount -t tmpfs -o size=3m tmpfs "$mnt" || { echo "cannot mount a tmpfs (needs root)"; exit 1; }
run() { env OMP_NUM_THREADS=1 nice -n 10 java -Dai.djl.offline=true -cp "$cp" io.moco4j.cli.Main pretrain "$@"; }
settings=(--data builtin:32:32 --preset cpu-small --epochs 3 --workers 1 --set model.width=0.125 --set model.dim=8
  --set moco.queue_size=16 --set train.batch_size=8 --set moco.bn_splits=2 --set train.knn_every=0
  --set train.log_every=1 --set train.checkpoint_every=0)
run --out "$mnt/run" "${settings[@]}" > "$mnt.out" 2> "$mnt.err"; rc=$?
echo "exit code: $rc"
echo "error lines: $(grep -c '^error' "$mnt.err")"; grep '^error' "$mnt.err"
echo "files left: $(cd "$mnt/run/checkpoints" && ls -A | tr '\n' ' ')"
cp "$mnt/run/checkpoints/last.ckpt" /tmp/moco4j-fulldisk-last.ckpt
/usr/bin/python3 -c "import numpy, sys; z = numpy.load(sys.argv[1]); print('last.ckpt opens with numpy:', len(z.files), 'arrays')" /tmp/moco4j-fulldisk-last.ckpt 2>&1 | tail -1
mount -o remount,size=64m "$mnt"
run --out "$mnt/run" --resume > "$mnt.resume.out" 2> "$mnt.resume.err"; rc2=$?
echo "after freeing space, --resume: exit $rc2; $(grep -m1 '^Resuming' "$mnt.resume.out"); $(grep '^Done' "$mnt.resume.out")"
umount "$mnt"
