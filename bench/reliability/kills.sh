#!/usr/bin/env bash
# Kills: pretrain runs ended by SIGKILL, then resumed (--resume, again after each kill) until they finish;
# every step's last logged loss must equal an uninterrupted run's. The kill moments follow the run directory
# (after the k-th checkpoint, or while a checkpoint's temporary file exists), see kills.py.
# Usage: bench/reliability/kills.sh [TRIALS] [WORKDIR]   (CLASSES=dir with classes/; CP_FILE; SEED)
set -uo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
trials=${1:-30}; work=${2:-/tmp/moco4j-kills}
classes=${CLASSES:-$here/target}
cp="$classes/classes:$(cat "${CP_FILE:-/tmp/reliab-cp.txt}")"
rm -rf "$work"
# env execs java, so the child of kills.py is the JVM itself (SIGKILL reaches it); it inherits nice 10.
exec nice -n 10 /usr/bin/python3 "$here/bench/reliability/kills.py" "$trials" "$work" "${SEED:-30}" -- \
  env OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" java -Dai.djl.offline=true -cp "$cp" io.moco4j.cli.Main pretrain
