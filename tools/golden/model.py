#!/usr/bin/python3
"""Golden reference files for io.moco4j.model (run with Debian's /usr/bin/python3: torch 1.13, torchvision 0.14).

Writes src/test/resources/golden/model/:
  keys_resnet{18,34,50}.json   torchvision state_dict keys and shapes, in order
  r18_cifar_mlp.npz            width-1/16 ResNet-18, CIFAR stem, MoCo v2 MLP head: weights, random BN stats,
                               eval/train outputs, buffers after one train forward, gradients, split-BN (S=2) run
  r50_linear.npz               width-1/32 ResNet-50, ImageNet stem, linear head: same contents (no split BN)
  bn.npz                       BatchNorm2d alone and the MoCo CIFAR demo's SplitBatchNorm with S=2 and S=4
"""
import json
import os
from functools import partial

import numpy as np
import torch
import torch.nn as nn
import torchvision
from torchvision.models import resnet as tvr

torch.set_num_threads(2)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "test", "resources", "golden", "model")


class SplitBatchNorm(nn.BatchNorm2d):
    """Same semantics as SplitBatchNorm in facebookresearch/moco colab/moco_cifar10_demo.ipynb."""

    def __init__(self, num_features, num_splits, **kw):
        super().__init__(num_features, **kw)
        self.num_splits = num_splits

    def forward(self, x):
        n, c, h, w = x.shape
        if not self.training:
            return nn.functional.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                            False, self.momentum, self.eps)
        s = self.num_splits
        mean_s = self.running_mean.repeat(s)
        var_s = self.running_var.repeat(s)
        y = nn.functional.batch_norm(x.view(-1, c * s, h, w), mean_s, var_s, self.weight.repeat(s),
                                     self.bias.repeat(s), True, self.momentum, self.eps).view(n, c, h, w)
        self.running_mean.data.copy_(mean_s.view(s, c).mean(dim=0))
        self.running_var.data.copy_(var_s.view(s, c).mean(dim=0))
        return y


class ScaledResNet(tvr.ResNet):
    """torchvision's ResNet with explicit (small) widths; reuses torchvision's _make_layer and forward, so
    module structure and state_dict keys are exactly torchvision's."""

    def __init__(self, block, layers, stem_width, widths, fc, cifar_stem, norm_layer=nn.BatchNorm2d):
        nn.Module.__init__(self)
        self._norm_layer = norm_layer
        self.inplanes = stem_width
        self.dilation = 1
        self.groups = 1
        self.base_width = 64
        if cifar_stem:
            self.conv1 = nn.Conv2d(3, stem_width, kernel_size=3, stride=1, padding=1, bias=False)
        else:
            self.conv1 = nn.Conv2d(3, stem_width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = norm_layer(stem_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity() if cifar_stem else nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, widths[0], layers[0])
        self.layer2 = self._make_layer(block, widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, widths[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, widths[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = fc


def randomize(model, gen):
    """Non-trivial weights and BN running statistics (so eval mode is not the identity)."""
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                t.fill_(3)
            elif name.endswith("running_mean"):
                t.copy_(torch.randn(t.shape, generator=gen) * 0.3)
            elif name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=gen) * 1.5 + 0.5)
            elif t.dim() == 4:
                fan_in = t.shape[1] * t.shape[2] * t.shape[3]
                t.copy_(torch.randn(t.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
            elif name.startswith("fc"):
                t.copy_((torch.rand(t.shape, generator=gen) * 2 - 1) / (t.shape[-1] ** 0.5 if t.dim() == 2 else 4))
            elif name.endswith("weight"):
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)
            else:
                t.copy_(torch.randn(t.shape, generator=gen) * 0.2)


def backbone_features(m, x):
    """torchvision's _forward_impl without the fc: pooled, flattened features."""
    x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
    x = m.layer4(m.layer3(m.layer2(m.layer1(x))))
    return torch.flatten(m.avgpool(x), 1)


def np32(t):
    return t.detach().cpu().numpy().astype(np.float32)


def forward_case(name, build, x_shape, grad_keys, split_model=None, seed=0):
    gen = torch.Generator().manual_seed(seed)
    model = build(nn.BatchNorm2d)
    randomize(model, gen)
    x = torch.randn(x_shape, generator=gen)
    out_dim = None
    arrays = {"x": x.numpy()}
    for k, v in model.state_dict().items():
        arrays["state/" + k] = v.numpy().copy()
    model.eval()
    with torch.no_grad():
        out_eval = model(x)
        arrays["out_eval"] = np32(out_eval)
        arrays["features_eval"] = np32(backbone_features(model, x))
    out_dim = out_eval.shape[1]
    r = torch.randn((x_shape[0], out_dim), generator=gen)
    arrays["loss_weights"] = r.numpy()
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    out_train = model(x)
    loss = (out_train * r).sum()
    loss.backward()
    arrays["out_train"] = np32(out_train)
    arrays["loss"] = np.array(loss.item(), dtype=np.float64)
    params = dict(model.named_parameters())
    for k in grad_keys:
        arrays["grad/" + k] = np32(params[k].grad)
    for k, v in model.state_dict().items():
        if "running" in k or "num_batches" in k:
            arrays["after/" + k] = v.numpy().copy()
    if split_model is not None:
        splits = split_model
        m2 = build(partial(SplitBatchNorm, num_splits=splits))
        m2.load_state_dict(initial)
        m2.train()
        with torch.no_grad():
            arrays["out_train_split%d" % splits] = np32(m2(x))
        for k, v in m2.state_dict().items():
            if "running" in k:
                arrays["after_split%d/%s" % (splits, k)] = v.numpy().copy()
    np.savez_compressed(os.path.join(OUT, name + ".npz"), **arrays)


def bn_case():
    gen = torch.Generator().manual_seed(7)
    c = 6
    x = torch.randn((8, c, 5, 5), generator=gen) * 2 + 0.5
    weight = torch.rand(c, generator=gen) + 0.5
    bias = torch.randn(c, generator=gen) * 0.3
    rm = torch.randn(c, generator=gen) * 0.3
    rv = torch.rand(c, generator=gen) + 0.5
    arrays = {"x": x.numpy(), "weight": weight.numpy(), "bias": bias.numpy(), "running_mean": rm.numpy(),
              "running_var": rv.numpy()}

    def fresh(module):
        with torch.no_grad():
            module.weight.copy_(weight)
            module.bias.copy_(bias)
            module.running_mean.copy_(rm)
            module.running_var.copy_(rv)
        return module

    bn = fresh(nn.BatchNorm2d(c))
    bn.eval()
    with torch.no_grad():
        arrays["out_eval"] = np32(bn(x))
    bn.train()
    with torch.no_grad():
        arrays["out_train"] = np32(bn(x))
    arrays["running_mean_after"] = bn.running_mean.numpy().copy()
    arrays["running_var_after"] = bn.running_var.numpy().copy()
    arrays["num_batches_tracked_after"] = bn.num_batches_tracked.numpy().copy()
    for s in (2, 4):
        sbn = fresh(SplitBatchNorm(c, s))
        sbn.train()
        with torch.no_grad():
            arrays["out_train_split%d" % s] = np32(sbn(x))
        arrays["running_mean_after_split%d" % s] = sbn.running_mean.numpy().copy()
        arrays["running_var_after_split%d" % s] = sbn.running_var.numpy().copy()
        sbn.eval()
        with torch.no_grad():
            arrays["out_eval_after_split%d" % s] = np32(sbn(x))
    np.savez_compressed(os.path.join(OUT, "bn.npz"), **arrays)


def keys_case():
    for depth, fn in ((18, torchvision.models.resnet18), (34, torchvision.models.resnet34),
                      (50, torchvision.models.resnet50)):
        model = fn()
        entries = [[k, list(v.shape)] for k, v in model.state_dict().items()]
        with open(os.path.join(OUT, "keys_resnet%d.json" % depth), "w") as f:
            json.dump({"torchvision": torchvision.__version__, "keys": entries}, f)


def main():
    os.makedirs(OUT, exist_ok=True)
    keys_case()

    def r18(norm_layer):
        w = [4, 8, 16, 32]
        fc = nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 16))  # MoCo v2 --mlp, dim_mlp = 32
        return ScaledResNet(tvr.BasicBlock, [2, 2, 2, 2], 4, w, fc, True, norm_layer)

    def r50(norm_layer):
        w = [2, 4, 8, 16]
        return ScaledResNet(tvr.Bottleneck, [3, 4, 6, 3], 2, w, nn.Linear(64, 10), False, norm_layer)

    forward_case("r18_cifar_mlp", r18, (4, 3, 32, 32), ["conv1.weight", "fc.0.weight", "fc.2.weight"],
                 split_model=2, seed=1)
    forward_case("r50_linear", r50, (2, 3, 64, 64), ["conv1.weight", "fc.weight", "fc.bias"], seed=2)
    bn_case()
    for f in sorted(os.listdir(OUT)):
        print(f, os.path.getsize(os.path.join(OUT, f)))


if __name__ == "__main__":
    main()
