#!/usr/bin/env bash
# Regenerates every golden reference file under src/test/resources/golden/ from PyTorch/torchvision/PIL.
# Needs Debian's python3-torch (1.13), python3-torchvision (0.14), python3-numpy and python3-pil:
#   apt-get install python3-torch python3-torchvision
# The MoCo v3 goldens run the official code from a facebookresearch/moco-v3 checkout, the ViT goldens also need
# pytorch-image-models at tag v0.4.9 (never committed):
#   tools/golden/regenerate.sh --moco-v3 /path/to/moco-v3 --timm /path/to/timm-0.4.9   (each skipped with a message
#   when its checkout is not given)
set -euo pipefail
cd "$(dirname "$0")"
py=/usr/bin/python3
moco_v3=""
timm=""
while [ $# -gt 0 ]; do
  case "$1" in
    --moco-v3) moco_v3="$2"; shift 2 ;;
    --timm) timm="$2"; shift 2 ;;
    *) echo "unknown argument $1; usage: regenerate.sh [--moco-v3 /path/to/moco-v3] [--timm /path/to/timm-0.4.9]" >&2
       exit 2 ;;
  esac
done
for script in model.py optim.py augment.py decode.py interop.py eval.py moco_official.py moco_step.py scaler.py native_ops.py; do
  if [ -f "$script" ]; then
    echo "== $script"
    "$py" "$script"
  fi
done
echo "== moco_v3.py"
if [ -n "$moco_v3" ]; then
  "$py" moco_v3.py --moco-v3 "$moco_v3"
else
  echo "skipped: pass --moco-v3 /path/to/facebookresearch/moco-v3 to regenerate golden/moco_v3"
fi
echo "== vit.py"
if [ -n "$moco_v3" ] && [ -n "$timm" ]; then
  "$py" vit.py --moco-v3 "$moco_v3" --timm "$timm"
else
  echo "skipped: pass --moco-v3 /path/to/moco-v3 and --timm /path/to/timm-0.4.9 to regenerate golden/vit"
fi
