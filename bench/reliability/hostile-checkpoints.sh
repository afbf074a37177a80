#!/usr/bin/env bash
# Hostile checkpoints: N mutations each of a torch .pth (zip) and a MoCo4J .ckpt through `import` / `export`.
# Usage: bench/reliability/hostile-checkpoints.sh CKPT [N] [WORKDIR]   (CKPT: any small MoCo4J checkpoint)
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
classes=${CLASSES:-$here/target}
cp="$classes/classes:$classes/test-classes:$(cat "${CP_FILE:-/tmp/reliab-cp.txt}")"
ckpt="$1"; n=${2:-1000}; work=${3:-/tmp/moco4j-hostile-ckpt}
rm -rf "$work"; mkdir -p "$work"
nice -n 10 java -Xmx2g -Dai.djl.offline=true -cp "$cp" io.moco4j.bench.HostileCheckpointBench \
  "$here/src/test/resources/golden/interop/resnet18_w4_cifar_mlp.pt" "$ckpt" "$n" "$work/cases" 2>/dev/null \
  | grep -a -v '^Note\|^Read\|^Model\|^Assumed\|^Wrote\|^Use'
