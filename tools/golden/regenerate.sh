#!/usr/bin/env bash
# Regenerates every golden reference file under src/test/resources/golden/ from PyTorch/torchvision/PIL.
# Needs Debian's python3-torch (1.13), python3-torchvision (0.14), python3-numpy and python3-pil:
#   apt-get install python3-torch python3-torchvision
# The ViT goldens also need checkouts of the official code (never committed), found through
#   MOCO_V3=/path/to/facebookresearch/moco-v3  TIMM=/path/to/pytorch-image-models@v0.4.9
# (defaults /work/ref/moco-v3 and /work/ref/timm-0.4.9); vit.py is skipped with a message when they are absent.
set -euo pipefail
cd "$(dirname "$0")"
py=/usr/bin/python3
for script in model.py optim.py augment.py decode.py interop.py eval.py moco_official.py moco_step.py; do
  if [ -f "$script" ]; then
    echo "== $script"
    "$py" "$script"
  fi
done
moco_v3=${MOCO_V3:-/work/ref/moco-v3}
timm=${TIMM:-/work/ref/timm-0.4.9}
if [ -f "$moco_v3/vits.py" ] && [ -f "$timm/timm/models/vision_transformer.py" ]; then
  echo "== vit.py"
  "$py" vit.py --moco-v3 "$moco_v3" --timm "$timm"
else
  echo "== vit.py skipped: set MOCO_V3 to a moco-v3 checkout and TIMM to a timm v0.4.9 checkout"
fi
