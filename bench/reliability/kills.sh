#!/usr/bin/env bash
# Kills: pretrain runs ended by SIGKILL at random moments, then resumed (--resume, again after each kill)
# until they finish; every step's last logged loss must equal an uninterrupted run's.
# Usage: bench/reliability/kills.sh [TRIALS] [WORKDIR]   (CLASSES=dir with classes/ and test-classes/; SEED;
# KILL_SCALE=k draws the kill moment from k times the reference training time, for a loaded machine)
set -uo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
trials=${1:-30}; work=${2:-/tmp/moco4j-kills}
classes=${CLASSES:-$here/target}
cp="$classes/classes:$(cat "${CP_FILE:-/tmp/reliab-cp.txt}")"
RANDOM=${SEED:-30}
settings=(--data builtin:32:32 --preset cpu-small --epochs 2 --workers 1 --set model.width=0.125 --set model.dim=8
  --set moco.queue_size=16 --set train.batch_size=8 --set moco.bn_splits=2 --set train.knn_every=0
  --set train.log_every=1 --set train.checkpoint_every=1)
# env and nice exec java, so $! of a background call is the JVM itself (kill -KILL reaches it).
jvm=(env OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} nice -n 10 java -Dai.djl.offline=true -cp "$cp" io.moco4j.cli.Main pretrain)
pretrain() { "${jvm[@]}" "$@"; }
rm -rf "$work"; mkdir -p "$work"; cd "$work"
# Training time of the reference run, from its first line of training output to its exit.
started() { grep -q "^Training\|^Resuming\|^Warning" "$1" 2>/dev/null; }
"${jvm[@]}" --out ref "${settings[@]}" > ref.out 2>&1 & refpid=$!
until started ref.out || ! kill -0 $refpid 2>/dev/null; do sleep 0.1; done; t0=$(date +%s.%N)
wait $refpid || { echo "reference run failed"; cat ref.out; exit 1; }
tref=$(echo "$(date +%s.%N) - $t0" | bc); echo "reference run: $(grep -c '"type":"step"' ref/metrics.jsonl) steps in ${tref%.*} s of training"
ok=0; during_write=0; fellback=0; kills_total=0
for i in $(seq "$trials"); do
  d="t$i"; kills=0; resumes=0
  # Kill somewhere between 2 s and the reference run's wall time; the resumed run may be killed again.
  arg=(--out "$d" "${settings[@]}")
  while :; do
    "${jvm[@]}" "${arg[@]}" > "$d.log.$kills" 2>&1 & pid=$!
    if [ $kills -lt 2 ]; then
      # A random moment of the training phase (JVM start-up excluded): uniform over the reference's training time.
      delay=$(echo "scale=2; $((RANDOM % 1000)) * $tref * ${KILL_SCALE:-1} / 1000" | bc)
      ( until started "$d.log.$kills" || ! kill -0 $pid 2>/dev/null; do sleep 0.1; done
        sleep "$delay"; kill -KILL $pid 2>/dev/null && echo "$delay" > "$d.killed.$kills" ) & killer=$!
    else killer=; fi
    wait $pid; rc=$?
    [ -n "$killer" ] && kill $killer 2>/dev/null; wait $killer 2>/dev/null
    if [ -f "$d.killed.$kills" ]; then
      kills=$((kills + 1)); kills_total=$((kills_total + 1))
      ls "$d/checkpoints"/.*.tmp >/dev/null 2>&1 && during_write=$((during_write + 1))
      if [ -f "$d/checkpoints/last.ckpt" ] || ls "$d/checkpoints"/epoch_*.ckpt >/dev/null 2>&1; then
        arg=(--out "$d" --resume); resumes=$((resumes + 1))
      else rm -rf "$d"; arg=(--out "$d" "${settings[@]}"); fi   # killed before the first checkpoint: start again
      continue
    fi
    break
  done
  grep -q "last.ckpt is damaged" "$d".log.* 2>/dev/null && fellback=$((fellback + 1))
  verdict=$([ -f "$work/$d/metrics.jsonl" ] || echo "no metrics"; /usr/bin/python3 - "$work/ref/metrics.jsonl" "$work/$d/metrics.jsonl" <<'PY'
import json, sys
def last_losses(p):
    out = {}
    for line in open(p):
        try: r = json.loads(line)
        except ValueError: continue
        if r.get("type") == "step": out[r["step"]] = r["loss"]
    return out
ref, got = last_losses(sys.argv[1]), last_losses(sys.argv[2])
bad = [s for s in ref if s not in got or abs(got[s] - ref[s]) > 1e-6]
print("equal" if not bad and len(got) == len(ref) else "DIFFERENT at steps %s" % bad[:5])
PY
)
  [ "$rc" = 0 ] && [ "$verdict" = equal ] && ok=$((ok + 1))
  echo "trial $i: killed $kills x (at $(cat "$d".killed.* 2>/dev/null | tr '\n' ' ')s into training), resumed $resumes x, final exit $rc, losses vs uninterrupted: $verdict"
done
echo "summary: $ok of $trials trials finished with losses equal to the uninterrupted run; $kills_total SIGKILLs,"\
  "$during_write left a checkpoint temp file (killed during a write), $fellback resumes fell back past last.ckpt"
