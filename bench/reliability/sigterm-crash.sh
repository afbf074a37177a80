#!/usr/bin/env bash
# Reproduces hs_err_pid19504.log: MemoryBenchmark (tiny model, real loader) ended by SIGTERM mid-run,
# as a `timeout` wrapper does. Usage: bench/reliability/sigterm-crash.sh [RUNS] [WORKDIR]
# Prints one line per run: the second the TERM was sent, the exit code and whether the JVM wrote an hs_err file.
set -uo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
runs=${1:-8}; work=${2:-/tmp/moco4j-sigterm}
classes=${CLASSES:-$here/target}
cp="$classes/classes:$classes/test-classes:$(cat "${CP_FILE:-/tmp/reliab-cp.txt}")"
mkdir -p "$work"; cd "$work"
RANDOM=${SEED:-13}
crashes=0
for i in $(seq "$runs"); do
  t=$((15 + RANDOM % 30))
  rm -f hs_err_pid*.log
  nice -n 10 timeout -s TERM "$t" java -Dai.djl.offline=true -cp "$cp" ${EXTRA_JAVA_OPTS:-} io.moco4j.bench.MemoryBenchmark 1000000 > "run$i.out" 2>&1
  rc=$?
  hs=$(ls hs_err_pid*.log 2>/dev/null | head -1)
  if [ -n "$hs" ]; then crashes=$((crashes + 1)); mv "$hs" "crash$i.log"; fi
  echo "run $i: TERM after ${t}s, exit $rc, hs_err ${hs:+yes ($(grep -m1 'Problematic frame' -A1 "crash$i.log" | tail -1))}${hs:-no}"
done
echo "summary: $crashes of $runs runs ended by SIGTERM crashed the JVM"
