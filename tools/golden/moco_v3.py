#!/usr/bin/python3
"""Golden files for MoCo v3 with ResNet, computed by the official code (facebookresearch/moco-v3).

Run with Debian's torch 1.13 and a moco-v3 checkout (never committed):
    /usr/bin/python3 tools/golden/moco_v3.py --moco-v3 /path/to/moco-v3
It imports moco.builder and moco.optimizer from the checkout and takes adjust_learning_rate and
adjust_moco_momentum (main_moco.py) and main_lincls.py's adjust_learning_rate from the source files by name
(executing only those function definitions: main_moco.py imports vits/timm and tensorboard).
Two CPU shims, nothing else: torch.Tensor.cuda returns the tensor itself (contrastive_loss calls .cuda() on its
labels), and torch.distributed is a one-process gloo group (concat_all_gather, get_rank).

Writes src/test/resources/golden/moco_v3/ (all float tensors float32 unless noted; inputs and initial weights are
rounded to dyadic values, multiples of 1/32 and 1/256, so the archives compress and Java reads them exactly):

  moco_v3.json      everything scalar: versions, and per section below its hyper-parameters, key lists, losses
  lars.npz          LARS trajectory (moco/optimizer.py), parameters in the order of json lars.params [[name, shape]]:
                      init/<name>, grad/<step>/<name> (absent when the parameter has no gradient at that step),
                      after/<step>/<name> (parameter after step), mu/<step>/<name> (momentum buffer after step;
                      absent for a parameter never stepped), variant_trust_all/<name>: final parameters of the
                      WRONG variant that also trust-scales and decays <=1-D parameters (so a test can show it would fail)
  schedules.json    adjust_learning_rate / adjust_moco_momentum of main_moco.py and adjust_learning_rate of
                      main_lincls.py over grids of (epoch, step, steps_per_epoch), with the args used
  mlp_<case>.npz    MoCo._build_mlp(...) modules (cases in json mlp: last_bn / no_last_bn):
                      state/<key> (state_dict incl. random BN running stats), x, out_eval (eval mode, initial
                      state), out_train, loss_weights r, loss = sum(out_train * r) (float64), grad/x,
                      grad/<param key>, after/<buffer key> (running stats and num_batches_tracked after the train
                      forward)
  moco_resnet_keys.json   MoCo_ResNet state_dict [[key, shape]] in order: "tiny" (the engine model below) and
                      "resnet50" (torchvision resnet50, zero_init_residual, dim 256, mlp_dim 4096: the real layout)
  train_inputs.npz  step<i>/x1, step<i>/x2 (BATCH, 3, SIZE, SIZE): the two views of each training step
  train_<case>.npz  3 official steps of MoCo_ResNet (cases in json train: t1 = T 1.0, t02 = T 0.2). Each state dict is
                      ONE float32 vector, the tensors flattened in the order of json train.<case>.*_keys (key,
                      shape) and concatenated (num_batches_tracked as float):
                        init/base_encoder, init/predictor (the momentum encoder starts as an exact copy of
                        base_encoder, buffers included), final/base_encoder, final/momentum_encoder,
                        final/predictor, final/lars_mu (LARS 'mu' of every parameter with a gradient, in the order
                        of json train.<case>.lars_mu_keys, named 'base_encoder.<k>' / 'predictor.<k>')
                      json train.<case>: losses[3], lr[3], m[3], epoch/step per iteration, float32_vs_float64
  checkpoint_0000.pth.tar  after case t1's 3 steps (= its first epoch), exactly main_moco.py's save_checkpoint dict:
                      {'epoch': 1, 'arch': 'resnet18', 'state_dict': model.state_dict() with the DDP 'module.'
                      prefix, 'optimizer': LARS.state_dict() (state indices over model.parameters():
                      base_encoder, momentum_encoder (no state), predictor), 'scaler': GradScaler(enabled=False)
                      .state_dict() (= {})}; the encoder is the tiny CIFAR-stem ResNet-18 of the engine case
  checkpoint_0000_expected.npz  eval-mode outputs of that checkpoint's model on x (BATCH, 3, SIZE, SIZE):
                      features (base encoder backbone, pooled), projector (base_encoder(x)), predictor
                      (predictor(base_encoder(x))), momentum (momentum_encoder(x))

Initial state: not the official init but random values (model.py's randomize for the backbone, randomize_mlp for
the projector and predictor: BN gammas, betas and running statistics all non-trivial, so every term is exercised);
the official MoCo.__init__ copies only parameters into the momentum encoder, whose fresh buffers equal the base
encoder's under the official init, so with random buffers the whole state is copied.

The training steps are main_moco.py train() for one process: model.train(); per iteration
lr = adjust_learning_rate(optimizer, epoch + i / iters_per_epoch, args), m = adjust_moco_momentum(same, args)
(--moco-m-cos), loss = model(x1, x2, m) inside torch.cuda.amp.autocast(True) (which torch disables on a machine
without CUDA, so float32), optimizer.zero_grad(), loss.backward(), optimizer.step() (GradScaler disabled:
scaler.step is optimizer.step). LARS is built over model.parameters() as in main_moco.py. The whole run is
repeated in float64 and must agree with float32 within AGREEMENT (scaled as moco_step.py does); json records it.

Conditioning. A 2-channel-stem ResNet at batch 4 has exploding BatchNorm gradients towards the input (conv1's
gradient norm is ~20 at init), so float32 rounding alone moves one gradient by ~1e-5 relative, and LARS applies
1-D gradients without trust scaling. The initial residual gammas (bn2 of every block; the official init zeroes
them) are therefore drawn from [0, RESIDUAL_GAMMA), the learning rate is modest (0.3 after scaling, steps 0, 0.1,
0.2 in the warm-up), and the seed was picked among 8 for the best float32/float64 agreement (measured 8e-6 to 1e-4
across seeds). A float32 re-implementation can only be expected to agree to about 3x the recorded agreement.
"""
import argparse
import ast
import copy
import json
import math
import os
import sys
import tempfile
from functools import partial

import numpy as np
import torch
import torch.nn as nn
from torchvision.models import resnet as tvr
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import ScaledResNet, backbone_features, randomize  # noqa: E402

torch.set_num_threads(1)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "test", "resources", "golden",
                   "moco_v3")

# engine case: tiny narrow CIFAR ResNet-18 (width 0.025: stem 2, stages 2/3/6/13, 13 features)
WIDTH, SIZE, BATCH, DIM, MLP_DIM = 0.025, 16, 4, 8, 16
ITERS_PER_EPOCH, EPOCHS, WARMUP, STEPS = 3, 2, 1, 3
LR, WD, MOCO_M = 0.3, 0.05, 0.9
RESIDUAL_GAMMA = 0.25
AGREEMENT = 2e-5  # float32 vs float64 of the official run; see the docstring


def dyadic(t, scale):
    return torch.round(t * scale) / scale


def functions_from(path, names, namespace):
    """Executes only the named top-level function definitions of a source file."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    found = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in names]
    assert sorted(n.name for n in found) == sorted(names), "missing functions in " + path
    exec(compile(ast.Module(body=found, type_ignores=[]), path, "exec"), namespace)
    return namespace


def np32(t):
    return t.detach().cpu().numpy().astype(np.float32)


def shapes(state):
    return [[k, list(v.shape)] for k, v in state.items()]


# ---------------------------------------------------------------- LARS

def lars_case(optimizer_mod, meta):
    gen = torch.Generator().manual_seed(11)
    specs = [("conv.weight", (3, 2, 2, 2)), ("bn.weight", (3,)), ("bn.bias", (3,)), ("fc.weight", (4, 6)),
             ("fc.bias", (4,)), ("zero.weight", (2, 5)), ("frozen.weight", (3, 3)), ("scale", ())]
    init = {}
    for name, shape in specs:
        if name == "zero.weight":
            init[name] = torch.zeros(shape)
        else:
            init[name] = dyadic(torch.randn(shape, generator=gen) * 0.5, 256)
    lrs = [0.5, 1.0, 0.25, 2.0]
    steps = len(lrs)
    grads = []
    for s in range(steps):
        g = {}
        for name, shape in specs:
            if name == "frozen.weight":
                continue  # never has a gradient
            if name == "zero.weight" and s == 0:
                g[name] = torch.zeros(shape)  # both norms 0 on the first step
                continue
            g[name] = dyadic(torch.randn(shape, generator=gen) * 0.1, 1024)
        grads.append(g)
    arrays = {"init/" + k: v.numpy().copy() for k, v in init.items()}

    def run(opt_cls):
        params = {k: nn.Parameter(v.clone()) for k, v in init.items()}
        opt = opt_cls(list(params.values()), lr=0, weight_decay=WD_LARS, momentum=0.9)
        trajectory = []
        for s in range(steps):
            for name, p in params.items():
                p.grad = grads[s][name].clone() if name in grads[s] else None
            for group in opt.param_groups:
                group["lr"] = lrs[s]
            opt.step()
            trajectory.append(({k: p.detach().clone() for k, p in params.items()},
                               {k: opt.state[p]["mu"].clone() for k, p in params.items() if p in opt.state}))
        return trajectory

    official = run(optimizer_mod.LARS)
    for s in range(steps):
        for k, v in grads[s].items():
            arrays["grad/%d/%s" % (s, k)] = v.numpy()
        after, mu = official[s]
        for k, v in after.items():
            arrays["after/%d/%s" % (s, k)] = v.numpy()
        for k, v in mu.items():
            arrays["mu/%d/%s" % (s, k)] = v.numpy()

    class TrustAll(optimizer_mod.LARS):
        """The wrong variant: trust scaling and weight decay for every parameter (ndim test removed)."""

        @torch.no_grad()
        def step(self):
            for g in self.param_groups:
                for p in g["params"]:
                    dp = p.grad
                    if dp is None:
                        continue
                    dp = dp.add(p, alpha=g["weight_decay"])
                    pn, un = torch.norm(p), torch.norm(dp)
                    one = torch.ones_like(pn)
                    q = torch.where(pn > 0., torch.where(un > 0, g["trust_coefficient"] * pn / un, one), one)
                    dp = dp.mul(q)
                    st = self.state[p]
                    if "mu" not in st:
                        st["mu"] = torch.zeros_like(p)
                    st["mu"].mul_(g["momentum"]).add_(dp)
                    p.add_(st["mu"], alpha=-g["lr"])

    variant = run(TrustAll)
    for k, v in variant[-1][0].items():
        arrays["variant_trust_all/" + k] = v.numpy()
    np.savez_compressed(os.path.join(OUT, "lars.npz"), **arrays)
    meta["lars"] = {"params": [[n, list(s)] for n, s in specs], "lr": lrs, "weight_decay": WD_LARS, "momentum": 0.9,
                    "trust_coefficient": 0.001, "steps": steps, "no_grad": ["frozen.weight"],
                    "zero_grad_and_param_at_step0": ["zero.weight"]}


WD_LARS = 0.1


# ---------------------------------------------------------------- schedules

def schedules_case(ref, meta):
    ns = functions_from(os.path.join(ref, "main_moco.py"), ["adjust_learning_rate", "adjust_moco_momentum"],
                        {"math": math})
    lin = functions_from(os.path.join(ref, "main_lincls.py"), ["adjust_learning_rate"], {"math": math})

    class Opt:
        param_groups = [{}]

    out = {"lr": [], "momentum": [], "lincls_lr": []}
    # (args.lr after linear scaling, warmup_epochs, epochs, iters_per_epoch)
    for lr, warmup, epochs, iters in ((0.6 * 4096 / 256, 10, 100, 3), (0.3 * 4096 / 256, 40, 300, 1),
                                      (1.5, 0, 20, 5), (0.6 * 256 / 256, 3, 8, 13)):
        args = argparse.Namespace(lr=lr, warmup_epochs=warmup, epochs=epochs)
        values = [[e, i, ns["adjust_learning_rate"](Opt(), e + i / iters, args)]
                  for e in range(epochs) for i in range(iters)]
        out["lr"].append({"lr": lr, "warmup_epochs": warmup, "epochs": epochs, "iters_per_epoch": iters,
                          "values": values})
    for m0, epochs, iters in ((0.99, 100, 3), (0.996, 300, 1), (0.9, 10, 11)):
        args = argparse.Namespace(moco_m=m0, epochs=epochs)
        values = [[e, i, ns["adjust_moco_momentum"](e + i / iters, args)] for e in range(epochs) for i in range(iters)]
        out["momentum"].append({"moco_m": m0, "epochs": epochs, "iters_per_epoch": iters, "values": values})
    for init_lr, epochs in ((0.1 * 1024 / 256, 90), (0.5, 7)):
        args = argparse.Namespace(epochs=epochs)
        values = [[e, lin["adjust_learning_rate"](Opt(), init_lr, e, args) or Opt.param_groups[0]["lr"]]
                  for e in range(epochs)]
        out["lincls_lr"].append({"init_lr": init_lr, "epochs": epochs, "values": values})
    with open(os.path.join(OUT, "schedules.json"), "w") as f:
        json.dump(out, f)
    meta["schedules"] = {"file": "schedules.json"}


# ---------------------------------------------------------------- MLP

def randomize_mlp(seq, gen):
    """Linear weights U(+-1/sqrt(fan_in)) (dyadic), BN gamma in [0.5, 1.5), beta and running stats random."""
    with torch.no_grad():
        for name, t in seq.state_dict().items():
            if name.endswith("num_batches_tracked"):
                t.fill_(3)
            elif name.endswith("running_mean"):
                t.copy_(dyadic(torch.randn(t.shape, generator=gen) * 0.3, 256))
            elif name.endswith("running_var"):
                t.copy_(dyadic(torch.rand(t.shape, generator=gen) * 1.5 + 0.5, 256))
            elif t.dim() == 2:
                t.copy_(dyadic((torch.rand(t.shape, generator=gen) * 2 - 1) / t.shape[1] ** 0.5, 256))
            elif name.endswith("weight"):
                t.copy_(dyadic(torch.rand(t.shape, generator=gen) + 0.5, 256))
            else:
                t.copy_(dyadic(torch.randn(t.shape, generator=gen) * 0.2, 256))


def mlp_case(builder, name, layers, in_dim, hidden, out_dim, last_bn, seed, meta):
    gen = torch.Generator().manual_seed(seed)
    mlp = builder.MoCo._build_mlp(None, layers, in_dim, hidden, out_dim, last_bn)
    randomize_mlp(mlp, gen)
    arrays = {"state/" + k: v.numpy().copy() for k, v in mlp.state_dict().items()}
    x = dyadic(torch.randn(8, in_dim, generator=gen) * 1.5 + 0.25, 32)
    arrays["x"] = x.numpy()
    mlp.eval()
    with torch.no_grad():
        arrays["out_eval"] = np32(mlp(x))
    mlp.train()
    xg = x.clone().requires_grad_(True)
    out = mlp(xg)
    r = dyadic(torch.randn(out.shape, generator=gen), 32)
    loss = (out * r).sum()
    loss.backward()
    arrays["out_train"] = np32(out)
    arrays["loss_weights"] = r.numpy()
    arrays["loss"] = np.array(loss.item(), dtype=np.float64)
    arrays["grad/x"] = np32(xg.grad)
    for k, p in mlp.named_parameters():
        arrays["grad/" + k] = np32(p.grad)
    for k, v in mlp.named_buffers():
        arrays["after/" + k] = v.numpy().copy()
    np.savez_compressed(os.path.join(OUT, "mlp_%s.npz" % name), **arrays)
    meta.setdefault("mlp", {})[name] = {
        "layers": layers, "in_dim": in_dim, "mlp_dim": hidden, "out_dim": out_dim, "last_bn": last_bn,
        "batch": 8, "state_keys": shapes(mlp.state_dict()),
        "parameters": [k for k, _ in mlp.named_parameters()], "buffers": [k for k, _ in mlp.named_buffers()]}


# ---------------------------------------------------------------- MoCo_ResNet

def widths():
    return [max(1, round(b * WIDTH)) for b in (64, 128, 256, 512)]


def tiny_resnet18(num_classes, **_):
    """Narrow torchvision ResNet-18 with the CIFAR stem and torchvision's fc = Linear(features, num_classes)."""
    w = widths()
    return ScaledResNet(tvr.BasicBlock, [2, 2, 2, 2], w[0], w, nn.Linear(w[3], num_classes), True)


def keys_case(builder, meta):
    tiny = builder.MoCo_ResNet(tiny_resnet18, DIM, MLP_DIM, 1.0)
    big = builder.MoCo_ResNet(partial(torchvision.models.resnet50, zero_init_residual=True), 256, 4096, 1.0)
    out = {"tiny": {"width": WIDTH, "widths": widths(), "cifar_stem": True, "dim": DIM, "mlp_dim": MLP_DIM,
                    "keys": shapes(tiny.state_dict())},
           "resnet50": {"arch": "resnet50", "dim": 256, "mlp_dim": 4096, "keys": shapes(big.state_dict())}}
    with open(os.path.join(OUT, "moco_resnet_keys.json"), "w") as f:
        json.dump(out, f)


def flat(state):
    return np.concatenate([v.detach().numpy().astype(np.float32).ravel() for v in state.values()])


def flat64(state):
    return torch.cat([v.detach().double().ravel() for v in state.values()])


def scaled_diff(a, b):
    a, b = torch.as_tensor(a).double(), torch.as_tensor(b).double()
    return float((a - b).abs().max() / max(1.0, float(b.abs().max())))


def build_model(builder, T, seed, dtype):
    gen = torch.Generator().manual_seed(seed)
    model = builder.MoCo_ResNet(tiny_resnet18, DIM, MLP_DIM, T)
    randomize(model.base_encoder, gen)
    randomize_mlp(model.base_encoder.fc, gen)  # randomize()'s fc rule is for a Linear head, not an MLP with BN
    randomize_mlp(model.predictor, gen)
    with torch.no_grad():
        # The official init zeroes these (zero_init_residual=True); small non-zero values keep every branch live
        # while keeping the deep narrow network well-conditioned (random gammas of order 1 were not, see docstring).
        for name, t in model.base_encoder.state_dict().items():
            if name.startswith("layer") and name.endswith("bn2.weight"):
                t.copy_(torch.rand(t.shape, generator=gen) * RESIDUAL_GAMMA)
        for t in model.base_encoder.state_dict().values():
            if t.is_floating_point():
                t.copy_(dyadic(t, 256))
    model.momentum_encoder.load_state_dict(model.base_encoder.state_dict())
    return model.to(dtype)


def train(builder, optimizer_mod, fns, T, seed, views, dtype=torch.float32):
    """main_moco.py train() over STEPS iterations (epochs continue while iterations remain)."""
    model = build_model(builder, T, seed, dtype)
    init = (copy.deepcopy(model.base_encoder.state_dict()), copy.deepcopy(model.predictor.state_dict()))
    args = argparse.Namespace(lr=LR, warmup_epochs=WARMUP, epochs=EPOCHS, moco_m=MOCO_M, weight_decay=WD,
                              momentum=0.9)
    optimizer = optimizer_mod.LARS(model.parameters(), args.lr, weight_decay=args.weight_decay,
                                   momentum=args.momentum)
    scaler = torch.cuda.amp.GradScaler(enabled=False)
    model.train()
    record = {"losses": [], "lr": [], "m": [], "epoch": [], "step": []}
    it = 0
    epoch = 0
    while it < STEPS:
        for i in range(ITERS_PER_EPOCH):
            if it == STEPS:
                break
            x1, x2 = (v.to(dtype) for v in views[it])
            lr = fns["adjust_learning_rate"](optimizer, epoch + i / ITERS_PER_EPOCH, args)
            moco_m = fns["adjust_moco_momentum"](epoch + i / ITERS_PER_EPOCH, args)
            with torch.cuda.amp.autocast(True):
                loss = model(x1, x2, moco_m)
            optimizer.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            for k, v in (("losses", loss.item()), ("lr", lr), ("m", moco_m), ("epoch", epoch), ("step", i)):
                record[k].append(v)
            it += 1
        epoch += 1
    return model, optimizer, scaler, init, record, epoch


def lars_mu(model, optimizer):
    out = {}
    for prefix in ("base_encoder", "predictor"):
        for k, p in getattr(model, prefix).named_parameters():
            out[prefix + "." + k] = optimizer.state[p]["mu"]
    return out


class Ddp(nn.Module):
    """Only DistributedDataParallel's 'module.' key prefix matters for the checkpoint."""

    def __init__(self, module):
        super().__init__()
        self.module = module


def train_case(builder, optimizer_mod, fns, name, T, seed, views, meta, checkpoint=False):
    model, optimizer, scaler, init, record, epochs_done = train(builder, optimizer_mod, fns, T, seed, views)
    mu = lars_mu(model, optimizer)
    arrays = {"init/base_encoder": flat(init[0]), "init/predictor": flat(init[1]),
              "final/base_encoder": flat(model.base_encoder.state_dict()),
              "final/momentum_encoder": flat(model.momentum_encoder.state_dict()),
              "final/predictor": flat(model.predictor.state_dict()), "final/lars_mu": flat(mu)}
    np.savez_compressed(os.path.join(OUT, "train_%s.npz" % name), **arrays)

    ref, ref_opt, _, _, record64, _ = train(builder, optimizer_mod, fns, T, seed, views, torch.float64)
    ref_mu = lars_mu(ref, ref_opt)
    agreement = {
        "loss_rel": max(abs(a - b) / abs(b) for a, b in zip(record["losses"], record64["losses"])),
        "base_encoder": scaled_diff(arrays["final/base_encoder"], flat64(ref.base_encoder.state_dict())),
        "momentum_encoder": scaled_diff(arrays["final/momentum_encoder"], flat64(ref.momentum_encoder.state_dict())),
        "predictor": scaled_diff(arrays["final/predictor"], flat64(ref.predictor.state_dict())),
        "lars_mu": scaled_diff(arrays["final/lars_mu"], flat64(ref_mu)),
    }
    print(name, "float32 vs float64:", agreement)
    assert max(agreement.values()) < AGREEMENT, "ill-conditioned case %s: pick another seed" % name
    meta.setdefault("train", {})[name] = dict(
        T=T, seed=seed, float32_vs_float64=agreement, **record,
        base_encoder_keys=shapes(init[0]), predictor_keys=shapes(init[1]),
        momentum_encoder_keys=shapes(model.momentum_encoder.state_dict()),
        lars_mu_keys=[[k, list(v.shape)] for k, v in mu.items()])

    if checkpoint:
        state = {"epoch": epochs_done, "arch": "resnet18", "state_dict": Ddp(model).state_dict(),
                 "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict()}
        torch.save(state, os.path.join(OUT, "checkpoint_0000.pth.tar"))
        gen = torch.Generator().manual_seed(99)
        x = dyadic(torch.randn(BATCH, 3, SIZE, SIZE, generator=gen), 32)
        model.eval()
        with torch.no_grad():
            proj = model.base_encoder(x)
            expected = {"x": x.numpy(), "features": np32(backbone_features(model.base_encoder, x)),
                        "projector": np32(proj), "predictor": np32(model.predictor(proj)),
                        "momentum": np32(model.momentum_encoder(x))}
        np.savez_compressed(os.path.join(OUT, "checkpoint_0000_expected.npz"), **expected)
        n_base = len(list(model.base_encoder.parameters()))
        meta["checkpoint"] = {
            "file": "checkpoint_0000.pth.tar", "epoch": epochs_done, "arch": "resnet18", "from_case": name,
            "widths": widths(), "cifar_stem": True,
            "optimizer_state_indices": {"base_encoder": [0, n_base - 1],
                                        "momentum_encoder (no state)": [n_base, 2 * n_base - 1],
                                        "predictor": [2 * n_base, 2 * n_base + len(list(model.predictor.parameters())) - 1]},
            "param_groups": [{k: v for k, v in g.items() if k != "params"} for g in optimizer.state_dict()["param_groups"]],
            "scaler": scaler.state_dict()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--moco-v3", required=True, help="path of a facebookresearch/moco-v3 checkout")
    ref = os.path.abspath(ap.parse_args().moco_v3)
    sys.path.insert(0, ref)
    import moco.builder as builder  # noqa: E402
    import moco.optimizer as optimizer_mod  # noqa: E402

    torch.Tensor.cuda = lambda self, *a, **k: self  # contrastive_loss's labels.cuda() on a CPU-only machine
    import torch.distributed as dist
    init_file = tempfile.NamedTemporaryFile(delete=False)
    init_file.close()
    os.remove(init_file.name)
    dist.init_process_group("gloo", init_method="file://" + init_file.name, world_size=1, rank=0)

    os.makedirs(OUT, exist_ok=True)
    meta = {"torch": torch.__version__, "torchvision": torchvision.__version__}
    lars_case(optimizer_mod, meta)
    schedules_case(ref, meta)
    mlp_case(builder, "last_bn", 3, 6, 10, 5, True, 21, meta)
    mlp_case(builder, "no_last_bn", 2, 5, 12, 7, False, 22, meta)
    keys_case(builder, meta)

    fns = functions_from(os.path.join(ref, "main_moco.py"), ["adjust_learning_rate", "adjust_moco_momentum"],
                         {"math": math})
    gen = torch.Generator().manual_seed(200)
    views = [tuple(dyadic(torch.randn(BATCH, 3, SIZE, SIZE, generator=gen), 32) for _ in range(2))
             for _ in range(STEPS)]
    np.savez_compressed(os.path.join(OUT, "train_inputs.npz"),
                        **{"step%d/x%d" % (s, v + 1): x.numpy() for s, pair in enumerate(views)
                           for v, x in enumerate(pair)})
    meta["train_hyper"] = {"width": WIDTH, "widths": widths(), "cifar_stem": True, "image_size": SIZE,
                           "batch": BATCH, "dim": DIM, "mlp_dim": MLP_DIM, "lr": LR, "weight_decay": WD,
                           "lars_momentum": 0.9, "trust_coefficient": 0.001, "moco_m": MOCO_M, "moco_m_cos": True,
                           "epochs": EPOCHS, "warmup_epochs": WARMUP, "iters_per_epoch": ITERS_PER_EPOCH,
                           "steps": STEPS}
    train_case(builder, optimizer_mod, fns, "t1", 1.0, 31, views, meta, checkpoint=True)
    train_case(builder, optimizer_mod, fns, "t02", 0.2, 31, views, meta)
    dist.destroy_process_group()

    with open(os.path.join(OUT, "moco_v3.json"), "w") as f:
        json.dump(meta, f)
    total = 0
    for f in sorted(os.listdir(OUT)):
        size = os.path.getsize(os.path.join(OUT, f))
        total += size
        print(f, size)
    print("total", total)


if __name__ == "__main__":
    main()
