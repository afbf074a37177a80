#!/usr/bin/python3
"""Checks, with PyTorch, the files MoCo4J's TorchCheckpointWriterTest writes.

    ./mvnw -B -o -q test -Dtest=TorchCheckpointWriterTest -Dmoco4j.interop.exportDir=/tmp/interop_export
    /usr/bin/python3 tools/golden/interop_check_java_export.py /tmp/interop_export

Every torch file is opened with torch.load(weights_only=True); weights go into torchvision models with
load_state_dict(strict=True), and the official checkpoint through main_lincls.py's loading code.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interop import BasicBlock, NarrowResNet, add_mlp, dtype_state  # noqa: E402

torch.set_num_threads(1)
GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "test", "resources", "golden", "interop")


def load(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def check_dtypes(d):
    got = load(os.path.join(d, "java_dtypes.pt"))
    want = dtype_state()
    assert list(got.keys()) == list(want.keys()), (list(got.keys()), list(want.keys()))
    for k, v in want.items():
        assert got[k].dtype == v.dtype, (k, got[k].dtype, v.dtype)
        assert got[k].shape == v.shape, (k, got[k].shape, v.shape)
        assert torch.equal(got[k], v.detach()), k
    print("java_dtypes.pt: %d tensors, every dtype equal" % len(got))


def check_official(d):
    golden = torch.load(os.path.join(GOLDEN, "moco_official_legacy.pth.tar"), map_location="cpu")
    ckpt = load(os.path.join(d, "java_moco_official.pth.tar"))
    assert ckpt["epoch"] == 200 and ckpt["arch"] == "resnet18"
    sd = ckpt["state_dict"]
    assert list(sd.keys()) == list(golden["state_dict"].keys())
    for k, v in golden["state_dict"].items():
        assert sd[k].dtype == v.dtype and torch.equal(sd[k], v), k
    assert sd["module.queue"].shape == (8, 16)
    # main_lincls.py's --pretrained loading, verbatim in behaviour.
    model = NarrowResNet(BasicBlock, [2, 2, 2, 2], base=2, num_classes=10)
    state_dict = dict(sd)
    for k in list(state_dict.keys()):
        if k.startswith("module.encoder_q") and not k.startswith("module.encoder_q.fc"):
            state_dict[k[len("module.encoder_q."):]] = state_dict[k]
        del state_dict[k]
    msg = model.load_state_dict(state_dict, strict=False)
    assert set(msg.missing_keys) == {"fc.weight", "fc.bias"}, msg
    assert not msg.unexpected_keys, msg
    # The full MoCo module (encoder_q/encoder_k with the MLP head, queue, queue_ptr) loads strictly.
    moco = nn.Module()
    moco.encoder_q = NarrowResNet(BasicBlock, [2, 2, 2, 2], base=2, num_classes=8)
    moco.encoder_k = NarrowResNet(BasicBlock, [2, 2, 2, 2], base=2, num_classes=8)
    add_mlp(moco.encoder_q)
    add_mlp(moco.encoder_k)
    moco.register_buffer("queue", torch.zeros(8, 16))
    moco.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))
    moco.load_state_dict({k[len("module."):]: v for k, v in sd.items()}, strict=True)
    print("java_moco_official.pth.tar: equal to the golden, main_lincls loading ok, MoCo module strict load ok")


def check_torchvision_narrow(d):
    sd = load(os.path.join(d, "java_torchvision.pth"))
    golden = torch.load(os.path.join(GOLDEN, "moco_official_legacy.pth.tar"), map_location="cpu")["state_dict"]
    model = NarrowResNet(BasicBlock, [2, 2, 2, 2], base=2, num_classes=8)
    model.fc = nn.Identity()
    model.load_state_dict(sd, strict=True)
    for k, v in sd.items():
        assert torch.equal(v, golden["module.encoder_q." + k]), k
    print("java_torchvision.pth: strict load into the narrow torchvision ResNet-18 (fc=Identity) ok")


def check_resnet18(d):
    sd = load(os.path.join(d, "java_resnet18_torchvision.pth"))
    spec = json.load(open(os.path.join(GOLDEN, "resnet18_shapes.json")))
    model = torchvision.models.resnet18(num_classes=10)
    model.fc = nn.Identity()
    model.load_state_dict(sd, strict=True)
    for k_index, key in enumerate(spec["keys"]):
        if key.startswith("fc."):
            assert key not in sd
            continue
        v = sd[key]
        if v.dtype == torch.long:
            assert int(v) == k_index, key
            continue
        i = np.arange(v.numel(), dtype=np.int64)
        want = ((i + 7 * k_index) % 1000).astype(np.float32) / np.float32(1000) - np.float32(0.5)
        assert np.array_equal(v.numpy().reshape(-1), want), key
    x = torch.randn(1, 3, 64, 64)
    model.eval()
    assert model(x).shape == (1, 512)
    print("java_resnet18_torchvision.pth: strict load into torchvision resnet18 (fc=Identity), values equal")


def check_safetensors(d):
    """Parses the safetensors file with numpy only (no safetensors package on this machine)."""
    path = os.path.join(d, "java_moco_internal.safetensors")
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    meta = header.pop("__metadata__")
    assert meta == {"format": "moco4j", "dim": "8"} or meta == {"dim": "8", "format": "moco4j"}, meta
    golden = torch.load(os.path.join(GOLDEN, "moco_official_legacy.pth.tar"), map_location="cpu")["state_dict"]
    np_types = {"F32": np.float32, "I64": np.int64}
    end = 0
    for name, info in header.items():
        b, e = info["data_offsets"]
        assert b == end, name
        end = e
        arr = np.frombuffer(data[b:e], dtype=np_types[info["dtype"]]).reshape(info["shape"])
        want = golden["module." + name].numpy()
        if name == "queue":
            want = want.T
        assert np.array_equal(arr, want), name
    assert end == len(data)
    print("java_moco_internal.safetensors: %d tensors equal (queue transposed to (K, dim))" % len(header))


if __name__ == "__main__":
    d = sys.argv[1] if len(sys.argv) > 1 else "/tmp/interop_export"
    check_dtypes(d)
    check_official(d)
    check_torchvision_narrow(d)
    check_resnet18(d)
    check_safetensors(d)
    print("all Java-written files load in PyTorch", torch.__version__)
