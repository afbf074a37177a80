#!/usr/bin/env bash
# Regenerates every golden reference file under src/test/resources/golden/ from PyTorch/torchvision/PIL.
# Needs Debian's python3-torch (1.13), python3-torchvision (0.14), python3-numpy and python3-pil:
#   apt-get install python3-torch python3-torchvision
set -euo pipefail
cd "$(dirname "$0")"
py=/usr/bin/python3
for script in model.py optim.py augment.py decode.py interop.py eval.py moco_official.py moco_step.py; do
  if [ -f "$script" ]; then
    echo "== $script"
    "$py" "$script"
  fi
done
