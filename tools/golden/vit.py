#!/usr/bin/python3
"""Golden files for the Vision Transformer backbone (model.VisionTransformer) and AdamW (optim.AdamW).

Run with Debian's torch 1.13 and the official code from checkouts given on the command line (never committed):
  /usr/bin/python3 tools/golden/vit.py --moco-v3 /path/to/moco-v3 --timm /path/to/timm-0.4.9
(facebookresearch/moco-v3: vits.py, moco/builder.py, main_moco.py; huggingface/pytorch-image-models at tag v0.4.9).
Writes src/test/resources/golden/vit/ (format also in that folder's README.md):

  vit.json          metadata and scalars:
                      tiny:        the spec of the forward/backward model (img, patch, dim, depth, heads)
                      names:       per variant (tiny, vit_small, vit_base, vit_tiny, vit_cifar_tiny) the backbone's
                                   state_dict keys and shapes in order, from the official constructors (num_classes=0,
                                   so no head), plus which of them require grad with stop_grad_conv1
                      moco_head_names: keys and shapes of MoCo_ViT's base_encoder.head.* (the 3-layer projector) and
                                   predictor.* for the step model below
                      init_stats:  per tensor of an official freshly built ViT (img 32, patch 4, dim 192, depth 2,
                                   heads 3): mean, std, min, max, the bound the official init uses (uniform tensors)
                      adamw:       hyper-parameters, learning rates per step, param names
                      moco_step:   hyper-parameters and per step {lr, m, loss}
  pos_embed.npz     d192_g8x8: pos_embed of the dim-192 model at 32 px / patch 4, (1, 65, 192);
                    d16_g4x6: of a dim-16 model built for 16 x 24 images / patch 4 (non-square grid), (1, 25, 16)
  forward.npz       state/<key>: the tiny model's weights (official init, then LayerNorm, biases and cls token
                    randomised so they matter; all but pos_embed rounded to multiples of 1/256);
                    x (2, 3, 16, 16), out (2, 32) = cls token after the final norm; r (2, 32) the loss weights,
                    loss = sum(out * r); grad_x; grad/<key> for every trainable tensor (stop_grad_conv1 off);
                    x_wide (2, 3, 16, 24) and out_wide: the same weights in a model built for 16 x 24 (its own
                    pos_embed), the output a model built for 16 px must give after recomputing its embedding
  adamw.npz         init/<name>, grad/step<i>/<name>, after/step<i>/<name>, and the torch state after the last
                    step: exp_avg/<name>, exp_avg_sq/<name>, step/<name> (float32 scalars, as torch 1.13 keeps them)
  moco_step.npz     3 official MoCo_ViT steps as main_moco.py runs them with --optimizer adamw: per step
                    x1/step<i>, x2/step<i> (4, 3, 16, 16); init/<key> (base_encoder incl. head.*, then predictor.*
                    as predictor.<key>: the momentum encoder starts as the base encoder's copy);
                    final_base/<key>, final_momentum/<key>, final_predictor/<key> (BatchNorm running stats and
                    num_batches_tracked included); adam/exp_avg/<name>, adam/exp_avg_sq/<name>, adam/step/<name>
                    with <name> = base_encoder.<key> or predictor.<key> (only tensors that had a gradient)
  checkpoint.pth.tar  torch.save of what main_moco.py saves after those 3 steps: {'epoch': 1, 'arch': 'vit_tiny16',
                    'state_dict': module.base_encoder.*, module.momentum_encoder.*, module.predictor.*,
                    'optimizer': AdamW.state_dict() over model.parameters(), 'scaler': GradScaler().state_dict()}
  checkpoint_features.npz  x (3, 3, 16, 16) and the cls features (after the final norm, before head) of the
                    checkpoint's base encoder (base) and momentum encoder (momentum), eval mode

Inputs are rounded to multiples of 1/32 and initial weights to 1/256 so files compress and Java reads exact values.
In the MoCo_ViT steps the K third of each qkv bias and the final norm.bias have an exactly zero gradient (softmax
and the projector's BatchNorm are invariant to them), so AdamW turns rounding noise into +-lr steps there: compare
everything else (src/test/resources/golden/vit/README.md says which tensors).
"""
import argparse
import json
import math
import os
import sys
from functools import partial

import numpy as np
import torch
import torch.nn as nn

torch.set_num_threads(1)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "test", "resources", "golden", "vit")


def rounded(t, q=256):
    return torch.round(t * q) / q


def vit(vits, img, patch, dim, depth, heads, stop=False, num_classes=0):
    """VisionTransformerMoCo as vits.vit_small/vit_base build it, with free sizes."""
    return vits.VisionTransformerMoCo(img_size=img, patch_size=patch, embed_dim=dim, depth=depth, num_heads=heads,
                                      mlp_ratio=4, qkv_bias=True, norm_layer=partial(nn.LayerNorm, eps=1e-6),
                                      stop_grad_conv1=stop, num_classes=num_classes)


def names_of(model):
    sd = model.state_dict()
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    return {"keys": list(sd.keys()), "shapes": [list(v.shape) for v in sd.values()],
            "trainable": [k for k in sd.keys() if k in trainable]}


def randomize(model, gen):
    """LayerNorm scales/shifts, biases and the cls token random, matrices rounded: every tensor matters."""
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name == "pos_embed":
                continue
            if name == "cls_token":
                t.copy_(torch.randn(t.shape, generator=gen) * 0.5)
            elif "norm" in name and name.endswith("weight"):
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)
            elif name.endswith("bias"):
                t.copy_(torch.randn(t.shape, generator=gen) * 0.1)
            t.copy_(rounded(t))


def init_stats(vits):
    torch.manual_seed(0)
    m = vit(vits, 32, 4, 192, 2, 3)
    d = 192
    out = {}
    for k, v in m.state_dict().items():
        bound = None
        if k == "patch_embed.proj.weight":
            bound = math.sqrt(6.0 / (3 * 4 * 4 + d))
        elif k.endswith("qkv.weight"):
            bound = math.sqrt(6.0 / (d + d))
        elif v.dim() == 2 and k.endswith("weight"):
            bound = math.sqrt(6.0 / (v.shape[0] + v.shape[1]))
        out[k] = {"mean": v.mean().item(), "std": v.std().item() if v.numel() > 1 else 0.0,
                  "min": v.min().item(), "max": v.max().item(), "bound": bound, "numel": v.numel()}
    return out


def write_npz(name, arrays):
    np.savez_compressed(os.path.join(OUT, name), **{k: np.asarray(v) for k, v in arrays.items()})  # ascontiguousarray would make 0-dim 1-dim


def np32(t):
    """A copy (numpy() of a CPU tensor shares its memory, and the optimizer updates parameters in place)."""
    t = t.detach().cpu()
    return (t.to(torch.float32) if t.is_floating_point() else t).numpy().copy()


def forward_golden(vits, meta):
    gen = torch.Generator().manual_seed(7)
    spec = dict(img=16, patch=4, dim=32, depth=2, heads=4)
    meta["tiny"] = spec
    m = vit(vits, spec["img"], spec["patch"], spec["dim"], spec["depth"], spec["heads"])
    randomize(m, gen)
    m.eval()
    x = rounded(torch.randn(2, 3, 16, 16, generator=gen), 32).requires_grad_(True)
    r = rounded(torch.randn(2, 32, generator=gen), 32)
    out = m(x)
    loss = (out * r).sum()
    loss.backward()
    arrays = {"state/" + k: np32(v) for k, v in m.state_dict().items()}
    arrays.update({"x": np32(x), "out": np32(out), "r": np32(r), "loss": np.float64(loss.item()),
                   "grad_x": np32(x.grad)})
    for n, p in m.named_parameters():
        if p.grad is not None:
            arrays["grad/" + n] = np32(p.grad)
    wide = vit(vits, (16, 24), spec["patch"], spec["dim"], spec["depth"], spec["heads"])
    sd = {k: v for k, v in m.state_dict().items() if k != "pos_embed"}
    wide.load_state_dict(sd, strict=False)
    wide.eval()
    xw = rounded(torch.randn(2, 3, 16, 24, generator=gen), 32)
    with torch.no_grad():
        arrays["x_wide"] = np32(xw)
        arrays["out_wide"] = np32(wide(xw))
    write_npz("forward.npz", arrays)


def pos_embed_golden(vits):
    a = vit(vits, 32, 4, 192, 1, 3).pos_embed
    b = vit(vits, (16, 24), 4, 16, 1, 2).pos_embed
    write_npz("pos_embed.npz", {"d192_g8x8": np32(a), "d16_g4x6": np32(b)})


def adamw_golden(meta):
    gen = torch.Generator().manual_seed(3)
    shapes = {"w": (4, 3), "b": (3,), "s": ()}
    params = {n: nn.Parameter(rounded(torch.randn(s, generator=gen))) for n, s in shapes.items()}
    frozen = nn.Parameter(torch.ones(2))  # in the optimizer but never given a gradient: torch skips it entirely
    frozen.requires_grad_(False)
    lrs = [0.0, 0.05, 0.1, 0.02, 0.07]
    wd = 0.1
    opt = torch.optim.AdamW(list(params.values()) + [frozen], lr=lrs[0], weight_decay=wd)
    arrays = {"init/" + n: np32(p) for n, p in params.items()}
    for i, lr in enumerate(lrs):
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad()
        for n, p in params.items():
            p.grad = rounded(torch.randn(p.shape, generator=gen) * (0.5 if n != "s" else 3.0), 64)
            arrays["grad/step%d/%s" % (i, n)] = np32(p.grad)
        opt.step()
        for n, p in params.items():
            arrays["after/step%d/%s" % (i, n)] = np32(p)
    for n, p in params.items():
        st = opt.state[p]
        arrays["exp_avg/" + n] = np32(st["exp_avg"])
        arrays["exp_avg_sq/" + n] = np32(st["exp_avg_sq"])
        arrays["step/" + n] = np32(st["step"])
    assert opt.state.get(frozen) is None and torch.equal(frozen.detach(), torch.ones(2))
    meta["adamw"] = {"lr": lrs, "weight_decay": wd, "betas": [0.9, 0.999], "eps": 1e-8,
                     "names": list(shapes.keys()), "shapes": {n: list(s) for n, s in shapes.items()}}
    write_npz("adamw.npz", arrays)


class Ddp(nn.Module):
    """Stands in for DistributedDataParallel: only its 'module.' key prefix matters for the checkpoint."""

    def __init__(self, module):
        super().__init__()
        self.module = module


def moco_step_golden(vits, builder, meta):
    # Hyper-parameters of main_moco.py, scaled down; the schedule functions are main_moco.py's own.
    # main_moco.py imports tensorboard at the top for its SummaryWriter, which these steps never use
    import types
    sys.modules.setdefault("torch.utils.tensorboard", types.SimpleNamespace(SummaryWriter=None))
    import main_moco
    args = argparse.Namespace(lr=0.4, batch_size=4, epochs=4, warmup_epochs=1, moco_m=0.9, weight_decay=0.1,
                              moco_dim=16, moco_mlp_dim=32, moco_t=0.2)
    args.lr = args.lr * args.batch_size / 256  # as main_moco.py: 0.00625
    iters_per_epoch = 2
    spec = dict(img=16, patch=4, dim=16, depth=2, heads=2)
    torch.manual_seed(11)
    model = builder.MoCo_ViT(partial(vits.VisionTransformerMoCo, img_size=16, patch_size=4, embed_dim=16, depth=2,
                                     num_heads=2, mlp_ratio=4, qkv_bias=True,
                                     norm_layer=partial(nn.LayerNorm, eps=1e-6), stop_grad_conv1=True),
                             args.moco_dim, args.moco_mlp_dim, args.moco_t)
    gen = torch.Generator().manual_seed(13)
    with torch.no_grad():
        # the official init, rounded (the cls token's N(0, 1e-6) would round to 0: draw it wider so it counts)
        for k, t in list(model.base_encoder.state_dict().items()) + list(model.predictor.state_dict().items()):
            if k == "cls_token":
                t.copy_(torch.randn(t.shape, generator=gen) * 0.02)
            if t.is_floating_point() and k != "pos_embed":
                t.copy_(rounded(t))
        for pb, pm in zip(model.base_encoder.parameters(), model.momentum_encoder.parameters()):
            pm.copy_(pb)
    model.train()
    init = {"init/" + k: np32(v) for k, v in model.base_encoder.state_dict().items()}
    init.update({"init/predictor." + k: np32(v) for k, v in model.predictor.state_dict().items()})
    optimizer = torch.optim.AdamW(model.parameters(), args.lr, weight_decay=args.weight_decay)
    arrays = dict(init)
    steps = []
    for s in range(3):
        epoch, i = divmod(s, iters_per_epoch)
        lr = main_moco.adjust_learning_rate(optimizer, epoch + i / iters_per_epoch, args)
        m = main_moco.adjust_moco_momentum(epoch + i / iters_per_epoch, args)
        x1 = rounded(torch.randn(4, 3, 16, 16, generator=gen), 32)
        x2 = rounded(torch.randn(4, 3, 16, 16, generator=gen), 32)
        arrays["x1/step%d" % s] = np32(x1)
        arrays["x2/step%d" % s] = np32(x2)
        loss = model(x1, x2, m)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        steps.append({"epoch": epoch, "iter": i, "lr": lr, "m": m, "loss": loss.item()})
    for prefix, mod in (("final_base/", model.base_encoder), ("final_momentum/", model.momentum_encoder),
                        ("final_predictor/", model.predictor)):
        arrays.update({prefix + k: np32(v) for k, v in mod.state_dict().items()})
    names = {id(p): "base_encoder." + n for n, p in model.base_encoder.named_parameters()}
    names.update({id(p): "predictor." + n for n, p in model.predictor.named_parameters()})
    for p, st in optimizer.state.items():
        n = names[id(p)]
        arrays["adam/exp_avg/" + n] = np32(st["exp_avg"])
        arrays["adam/exp_avg_sq/" + n] = np32(st["exp_avg_sq"])
        arrays["adam/step/" + n] = np32(st["step"])
    meta["moco_step"] = {"spec": spec, "stop_grad_conv1": True, "dim": args.moco_dim, "mlp_dim": args.moco_mlp_dim,
                         "T": args.moco_t, "base_lr": 0.4, "batch_size": args.batch_size, "lr": args.lr,
                         "epochs": args.epochs, "warmup_epochs": args.warmup_epochs,
                         "iters_per_epoch": iters_per_epoch, "moco_m": args.moco_m, "weight_decay": args.weight_decay,
                         "betas": [0.9, 0.999], "eps": 1e-8, "steps": steps,
                         "optimizer_param_order": [n for n, _ in Ddp(model).named_parameters()]}
    meta["moco_head_names"] = {
        "head": [[k, list(v.shape)] for k, v in model.base_encoder.state_dict().items() if k.startswith("head.")],
        "predictor": [[k, list(v.shape)] for k, v in model.predictor.state_dict().items()]}
    write_npz("moco_step.npz", arrays)

    scaler = torch.cuda.amp.GradScaler(enabled=False)
    torch.save({"epoch": 1, "arch": "vit_tiny16", "state_dict": Ddp(model).state_dict(),
                "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict()},
               os.path.join(OUT, "checkpoint.pth.tar"))
    model.eval()
    x = rounded(torch.randn(3, 3, 16, 16, generator=gen), 32)
    with torch.no_grad():
        feats = {"x": np32(x), "base": np32(model.base_encoder.forward_features(x)),
                 "momentum": np32(model.momentum_encoder.forward_features(x))}
    write_npz("checkpoint_features.npz", feats)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--moco-v3", required=True, help="checkout of facebookresearch/moco-v3")
    ap.add_argument("--timm", required=True, help="checkout of pytorch-image-models at tag v0.4.9")
    a = ap.parse_args()
    sys.path[:0] = [a.timm, a.moco_v3]
    import warnings
    warnings.filterwarnings("ignore")
    import vits  # noqa: E402
    import moco.builder as builder  # noqa: E402
    # The official loss gathers keys across processes and puts its labels on the GPU: one CPU gloo process.
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    import torch.distributed as dist
    if not dist.is_initialized():
        dist.init_process_group("gloo", init_method="tcp://127.0.0.1:%d" % (29500 + os.getpid() % 1000),
                                world_size=1, rank=0)
    os.makedirs(OUT, exist_ok=True)
    meta = {}
    names = {"tiny": names_of(vit(vits, 16, 4, 32, 2, 4, stop=True)),
             "vit_small": names_of(vits.vit_small(stop_grad_conv1=True, num_classes=0)),
             "vit_base": names_of(vits.vit_base(stop_grad_conv1=True, num_classes=0)),
             "vit_tiny": names_of(vit(vits, 224, 16, 192, 12, 3, stop=True)),
             "vit_cifar_tiny": names_of(vit(vits, 32, 4, 192, 6, 3, stop=True))}
    meta["names"] = names
    meta["init_stats"] = init_stats(vits)
    pos_embed_golden(vits)
    forward_golden(vits, meta)
    adamw_golden(meta)
    moco_step_golden(vits, builder, meta)
    with open(os.path.join(OUT, "vit.json"), "w") as f:
        json.dump(meta, f, indent=1)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
