#!/usr/bin/python3
"""Checks, with PyTorch, the files `moco4j export` writes from a checkpoint imported from moco_v1_trained.pth.tar.

    ./mvnw -B -o -q test -Dtest=CheckpointInteropTest -Dmoco4j.interop.exportDir=/tmp/moco_export
    /usr/bin/python3 tools/golden/moco_official_check_export.py /tmp/moco_export

export.moco goes through main_moco.py's resume steps (model.load_state_dict, optimizer.load_state_dict, one SGD
step) and main_lincls.py's --pretrained loading; export.pth loads strictly into the narrow torchvision ResNet
with fc = Identity; export.safetensors is parsed with numpy. Tensors must equal the golden checkpoint's.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interop import BasicBlock, NarrowResNet  # noqa: E402
from moco_official import Ddp, Moco  # noqa: E402

torch.set_num_threads(1)
GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "test", "resources", "golden",
                      "moco_official", "moco_v1_trained.pth.tar")


def check_moco(d, golden):
    ckpt = torch.load(os.path.join(d, "export.moco"), map_location="cpu")
    assert ckpt["epoch"] == golden["epoch"] and ckpt["arch"] == golden["arch"], (ckpt["epoch"], ckpt["arch"])
    sd = ckpt["state_dict"]
    assert set(sd.keys()) == set(golden["state_dict"].keys())  # order differs: torch lists own buffers first
    for k, v in golden["state_dict"].items():
        assert sd[k].dtype == v.dtype and torch.equal(sd[k], v), k
    model = Ddp(Moco())
    model.load_state_dict(sd, strict=True)
    optimizer = torch.optim.SGD(model.parameters(), 0.03, momentum=0.9, weight_decay=1e-4)
    optimizer.load_state_dict(ckpt["optimizer"])
    for i, p in enumerate(model.parameters()):
        want = golden["optimizer"]["state"].get(i)
        got = optimizer.state.get(p)
        assert (want is None) == (not got), i
        if want is not None:
            assert torch.equal(got["momentum_buffer"], want["momentum_buffer"]), i
    q = model.module.encoder_q
    q.train()
    loss = q(torch.randn(4, 3, 32, 32)).pow(2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    # main_lincls.py --pretrained: encoder_q without fc into a fresh network.
    lin = NarrowResNet(BasicBlock, [2, 2, 2, 2], base=2, num_classes=10)
    state = {k[len("module.encoder_q."):]: v for k, v in sd.items()
             if k.startswith("module.encoder_q") and not k.startswith("module.encoder_q.fc")}
    msg = lin.load_state_dict(state, strict=False)
    assert set(msg.missing_keys) == {"fc.weight", "fc.bias"} and not msg.unexpected_keys, msg
    print("export.moco: equal to the golden; main_moco resume (strict model load, optimizer load, a step) and main_lincls load ok")


def check_torchvision(d, golden):
    sd = torch.load(os.path.join(d, "export.pth"), map_location="cpu", weights_only=True)
    net = NarrowResNet(BasicBlock, [2, 2, 2, 2], base=2, num_classes=8)
    net.fc = nn.Identity()
    net.load_state_dict(sd, strict=True)
    for k, v in sd.items():
        assert torch.equal(v, golden["state_dict"]["module.encoder_q." + k]), k
    print("export.pth: strict load into the narrow torchvision ResNet-18 (fc = Identity), tensors equal")


def check_safetensors(d, golden):
    raw = open(os.path.join(d, "export.safetensors"), "rb").read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__")
    assert meta["arch"] == "resnet18" and meta["epoch"] == "3" and meta["encoder"] == "encoder_q", meta
    types = {"F32": np.float32, "I64": np.int64}
    for name, info in header.items():
        b, e = info["data_offsets"]
        arr = np.frombuffer(raw[8 + n + b:8 + n + e], dtype=types[info["dtype"]]).reshape(info["shape"])
        assert np.array_equal(arr, golden["state_dict"]["module.encoder_q." + name].numpy()), name
    print("export.safetensors: %d tensors equal, metadata %s" % (len(header), meta))


if __name__ == "__main__":
    d = sys.argv[1] if len(sys.argv) > 1 else "/tmp/moco_export"
    golden = torch.load(GOLDEN, map_location="cpu")
    check_moco(d, golden)
    check_torchvision(d, golden)
    check_safetensors(d, golden)
    print("all exported files load in PyTorch", torch.__version__)
