#!/usr/bin/python3
"""Golden files for io.moco4j.io (torch.save readers, restricted unpickler, official MoCo layout).

Run with Debian's torch 1.13: /usr/bin/python3 tools/golden/interop.py
Writes small files into src/test/resources/golden/interop/.
"""
import collections
import json
import os
import pickle
import subprocess  # only referenced (never called) by the malicious test pickles
import zipfile

import numpy as np
import torch
import torch.nn as nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

torch.set_num_threads(1)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "test", "resources", "golden", "interop")
os.makedirs(OUT, exist_ok=True)


def out(name):
    return os.path.join(OUT, name)


def as_numpy(t):
    """Exact expected values: half/bfloat16 widen to float32, small ints widen to int64."""
    t = t.detach().contiguous()
    if t.dtype in (torch.float16, torch.bfloat16):
        return t.float().numpy()
    if t.dtype in (torch.int8, torch.int16):
        return t.long().numpy()
    return t.numpy()


# ---------------------------------------------------------------- dtypes, views, shared storages
def dtype_state():
    g = torch.Generator().manual_seed(1)
    base = torch.randn(3, 4, generator=g)
    big = torch.arange(20, dtype=torch.float32) * 0.5 - 3
    grid = torch.randn(4, 5, generator=g)
    sd = collections.OrderedDict()
    sd["f32"] = base
    sd["f64"] = torch.randn(5, generator=g, dtype=torch.float64)
    sd["f16"] = torch.tensor([[1.0, -2.5, 65504.0], [6.1e-5, 5.96e-8, -0.0]], dtype=torch.float16)
    sd["bf16"] = torch.tensor([1.0, -3.140625, 1e30, -1e-30], dtype=torch.bfloat16)
    sd["i64"] = torch.tensor([0, -1, 2**40, -(2**62), 2**63 - 1], dtype=torch.int64)
    sd["i32"] = torch.tensor([[7, -8], [2**31 - 1, -(2**31)]], dtype=torch.int32)
    sd["u8"] = torch.tensor([0, 1, 128, 255], dtype=torch.uint8)
    sd["i8"] = torch.tensor([-128, 0, 127], dtype=torch.int8)
    sd["i16"] = torch.tensor([-32768, 5, 32767], dtype=torch.int16)
    sd["bool"] = torch.tensor([True, False, True])
    sd["transposed"] = base.t()                 # non-contiguous, shares storage with f32
    sd["sliced"] = grid[1:3, 2:]                 # storage offset 7, row stride 5
    sd["stepped"] = grid[::2, ::3]               # strides (10, 3)
    sd["shared_a"] = big[:10]                    # two tensors sharing one storage
    sd["shared_b"] = big[10:].view(2, 5)         # storage offset 10
    sd["scalar"] = torch.tensor(3.5)
    sd["empty"] = torch.zeros(0, 3)
    sd["param"] = nn.Parameter(torch.tensor([0.25, -0.75]))
    sd["num_batches_tracked"] = torch.tensor(42)
    return sd


def write_dtypes():
    sd = dtype_state()
    obj = {"tensors": sd,
           "meta": {"epoch": 7, "arch": "resnet18", "lr": 0.03, "flag": True, "none": None,
                    "list": [1, 2, "x"], "tuple": (1, 2.5), "big": 2**70, "neg": -5, "unicode": "µ-ß"}}
    torch.save(obj, out("dtypes_zip.pt"))
    torch.save(obj, out("dtypes_legacy.pt"), _use_new_zipfile_serialization=False)
    np.savez(out("dtypes_expected.npz"), **{k: as_numpy(v) for k, v in sd.items()})
    with open(out("dtypes_meta.json"), "w") as f:
        json.dump({"dtypes": {k: str(v.dtype).replace("torch.", "") for k, v in sd.items()},
                   "shapes": {k: list(v.shape) for k, v in sd.items()},
                   "big": str(2**70)}, f, indent=1)


# ---------------------------------------------------------------- tiny torchvision-structured ResNets
class NarrowResNet(ResNet):
    """torchvision's ResNet with module names unchanged but stage widths base, 2base, 4base, 8base."""

    def __init__(self, block, layers, base=64, num_classes=1000, cifar_stem=False):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = base
        self.dilation = 1
        self.groups = 1
        self.base_width = 64
        if cifar_stem:
            self.conv1 = nn.Conv2d(3, base, kernel_size=3, stride=1, padding=1, bias=False)
            self.maxpool = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(3, base, kernel_size=7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(base)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(block, base, layers[0])
        self.layer2 = self._make_layer(block, base * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(block, base * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(block, base * 8, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(base * 8 * block.expansion, num_classes)


def randomize_bn(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.num_batches_tracked.fill_(7)


def add_mlp(encoder):
    dim_mlp = encoder.fc.weight.shape[1]
    encoder.fc = nn.Sequential(nn.Linear(dim_mlp, dim_mlp), nn.ReLU(), encoder.fc)


def write_official_moco():
    """An official-layout MoCo v2 checkpoint (main_moco.py, DDP 'module.' prefix), legacy format like 2020."""
    torch.manual_seed(3)
    dim, K = 8, 16
    q = NarrowResNet(BasicBlock, [2, 2, 2, 2], base=2, num_classes=dim)
    add_mlp(q)
    randomize_bn(q, 4)
    k = NarrowResNet(BasicBlock, [2, 2, 2, 2], base=2, num_classes=dim)
    add_mlp(k)
    with torch.no_grad():  # a key encoder a few momentum steps behind the query encoder
        for pq, pk in zip(q.state_dict().values(), k.state_dict().values()):
            pk.copy_(pq if pq.dtype == torch.long else pq * 0.9 + 0.01)
    queue = nn.functional.normalize(torch.randn(dim, K), dim=0)
    sd = collections.OrderedDict()
    for name, t in q.state_dict().items():
        sd["module.encoder_q." + name] = t
    for name, t in k.state_dict().items():
        sd["module.encoder_k." + name] = t
    sd["module.queue"] = queue
    sd["module.queue_ptr"] = torch.tensor([4], dtype=torch.long)
    optimizer = torch.optim.SGD(q.parameters(), lr=0.03, momentum=0.9, weight_decay=1e-4)
    ckpt = {"epoch": 200, "arch": "resnet18", "state_dict": sd, "optimizer": optimizer.state_dict()}
    torch.save(ckpt, out("moco_official_legacy.pth.tar"), _use_new_zipfile_serialization=False)
    manifest = {k2: {"shape": list(v.shape), "dtype": str(v.dtype).replace("torch.", ""),
                     "sum": float(v.double().sum())} for k2, v in sd.items()}
    with open(out("moco_official_manifest.json"), "w") as f:
        json.dump({"epoch": 200, "arch": "resnet18", "dim": dim, "K": K, "tensors": manifest}, f, indent=0)
    keep = ["module.queue", "module.queue_ptr", "module.encoder_q.conv1.weight", "module.encoder_q.fc.2.weight",
            "module.encoder_k.layer3.1.bn2.running_var", "module.encoder_q.layer4.0.downsample.0.weight"]
    np.savez(out("moco_official_expected.npz"), **{n: sd[n].numpy() for n in keep})

    # The same network as a lincls (main_lincls.py) checkpoint: backbone + linear classifier.
    lin = NarrowResNet(BasicBlock, [2, 2, 2, 2], base=2, num_classes=10)
    lsd = collections.OrderedDict(("module." + n, t) for n, t in lin.state_dict().items())
    torch.save({"epoch": 100, "arch": "resnet18", "state_dict": lsd, "best_acc1": torch.tensor(12.5),
                "optimizer": torch.optim.SGD(lin.fc.parameters(), lr=30.0, momentum=0.9).state_dict()},
               out("lincls_official.pth.tar"), _use_new_zipfile_serialization=False)

    # A bare torchvision state dict of a narrow ResNet-50 (Bottleneck) for the layout detection.
    r50 = NarrowResNet(Bottleneck, [3, 4, 6, 3], base=1, num_classes=5)
    torch.save(r50.state_dict(), out("torchvision_r50_narrow.pth"), _use_new_zipfile_serialization=False)


def write_forward_golden():
    """A width-reduced torchvision ResNet-18 (CIFAR stem, MLP head) with its eval-mode output."""
    torch.manual_seed(5)
    net = NarrowResNet(BasicBlock, [2, 2, 2, 2], base=4, num_classes=8, cifar_stem=True)
    add_mlp(net)
    randomize_bn(net, 6)
    net.eval()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        feats = {}
        net.avgpool.register_forward_hook(lambda m, i, o: feats.setdefault("features", torch.flatten(o, 1)))
        y = net(x)
    torch.save(net.state_dict(), out("resnet18_w4_cifar_mlp.pt"))
    np.savez(out("resnet18_w4_cifar_mlp_io.npz"), input=x.numpy(), output=y.numpy(),
             features=feats["features"].numpy())
    with open(out("resnet18_w4_cifar_mlp.json"), "w") as f:
        json.dump({"depth": 18, "base_width": 4, "width_multiplier": 4 / 64, "cifar_stem": True,
                   "head": "mlp", "dim_mlp": 32, "dim": 8, "input_shape": list(x.shape),
                   "note": "torchvision module names; stem conv 3x3 stride 1 pad 1, no maxpool; eval mode"}, f, indent=1)


def write_resnet18_shapes():
    """Key order and shapes of torchvision's resnet18, for the Java export that PyTorch re-loads."""
    import torchvision
    sd = torchvision.models.resnet18(num_classes=10).state_dict()
    with open(out("resnet18_shapes.json"), "w") as f:
        json.dump({"keys": list(sd.keys()), "shapes": [list(v.shape) for v in sd.values()],
                   "dtypes": [str(v.dtype).replace("torch.", "") for v in sd.values()]}, f)


# ---------------------------------------------------------------- malicious files
class Reduce:
    """Pickles as fn(*args); torch.load would call fn when unpickling."""

    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def write_malicious():
    t = torch.arange(4.0)
    # os.system pickles as posix.system; nested inside a valid-looking state dict (zip format).
    torch.save({"state_dict": collections.OrderedDict([("conv1.weight", t), ("x", Reduce(os.system, ("echo pwned",)))])},
               out("evil_system_zip.pt"))
    # builtins.eval (written as __builtin__.eval by protocol 2) in the optimizer of a legacy MoCo-looking file.
    torch.save({"epoch": 1, "arch": "resnet18", "state_dict": {"module.queue": t},
                "optimizer": Reduce(eval, ("print('pwned')",))},
               out("evil_eval_legacy.pth.tar"), _use_new_zipfile_serialization=False)
    # subprocess.Popen with pickle protocol 4 (STACK_GLOBAL, MEMOIZE, FRAME opcodes).
    torch.save({"w": t, "p": Reduce(subprocess.Popen, (["true"],))}, out("evil_popen_p4.pt"), pickle_protocol=4)
    # A whole pickled nn.Module: an unknown global, not code, but still not a plain checkpoint.
    torch.save(nn.Linear(2, 2), out("whole_module.pt"))
    # getattr-style gadget through an allowed-looking module name.
    torch.save({"w": t, "g": Reduce(getattr, (t, "numpy"))}, out("evil_getattr.pt"))


if __name__ == "__main__":
    write_dtypes()
    write_official_moco()
    write_forward_golden()
    write_resnet18_shapes()
    write_malicious()
    total = sum(os.path.getsize(out(n)) for n in os.listdir(OUT))
    print("wrote", len(os.listdir(OUT)), "files,", total, "bytes, into", os.path.normpath(OUT))
