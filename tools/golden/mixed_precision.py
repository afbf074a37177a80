#!/usr/bin/python3
"""Golden files for mixed precision (issue 21): torch.autocast("cpu", torch.bfloat16) on Debian's torch 1.13.

Run with the official checkouts (never committed):
    /usr/bin/python3 tools/golden/mixed_precision.py --moco-v3 /path/to/moco-v3 --timm /path/to/timm-0.4.9 \
        [--logits float32|autocast] [--out DIR]
Writes src/test/resources/golden/mixed_precision/mixed_precision.json (small; no tensors but the final states):

  op_dtypes   the dtype each kind of op returns under CPU bf16 autocast, from float32 inputs and parameters
              (conv2d, linear, matmul), from a bf16 input with float32 parameters (batch_norm, layer_norm, softmax,
              log_softmax, relu, gelu, add of a float32 tensor), and outside autocast.
  cases       three training steps of each of: v2_mlp (tools/golden/moco_step.py's MoCo v2 with the MLP head, same
              seed, inputs and hyper-parameters), v3_resnet (the official moco-v3 MoCo_ResNet + LARS of
              tools/golden/moco_v3.py's case t02), v3_vit (the official MoCo_ViT + AdamW of tools/golden/vit.py,
              its initial state and inputs read from golden/vit/moco_step.npz; its attention scale multiplied as
              torch 2.x does, see Torch2Scale, with torch 1.13's own losses beside). Per case: the losses, and
              <case>.npz with the final state dicts (flattened as the float32 goldens are).

--logits chooses where the contrastive part (normalisation, logits, loss) runs:
  float32   (default; what the committed goldens are and what MoCo4J does, BENCHMARKS.md "Contrastive logits in
            float32": bf16 logits err 1e-2..3e-2 at T 0.07-0.1): what runs under autocast is the encoders' forward
            passes (query encoder and, for v3, the predictor, with autograd; key/momentum encoder under no_grad);
            their outputs are brought back to float32 (.float()) and normalisation, logits and loss run in an
            autocast-disabled region. For the official v3 code this is its own contrastive_loss wrapped as
                with torch.autocast("cpu", enabled=False): loss(q.float(), k.float())
            (the model's forward itself stays the official one, under autocast as main_moco.py runs it).
  autocast  the official recipe untouched: the whole forward and loss under autocast (normalize and the logits
            matmul in bf16), for comparison only; MoCo4J's steps are not expected to match it. In float32 mode the
            script also runs this variant and records its distance to the float32-logits run as
            "logits_autocast_vs_float32" (how much the logits decision alone moves the 3 steps).
The backward runs outside autocast, and the optimizer, momentum update and queue are float32, as MoCo4J does.

Noise floor. bf16 results depend on the kernels (oneDNN version, memory format, thread split): the same step through
another correct kernel moves the state by far more than float32 rounding does. Each case is therefore also run
(a) with 2 threads, (b) in channels_last (other oneDNN kernels), (c) with every view's batch in reverse order (the same
sums over the batch in another order: BatchNorm statistics, weight gradients; the queue is compared in the main run's
order), (d) with oneDNN off (torch's native bf16 convolution, which accumulates in bf16; recorded under "variants" but
not part of the floor, see FLOOR_VARIANTS); "spread" is the largest difference of (a), (b) and (c) to the main run,
per quantity (loss: relative; state: max |a - b| /
max(1, max |b|), as moco_step.py). MoCo4J runs libtorch 2.7.1's kernels, a further implementation; the Java test
allows TOLERANCE_FACTOR x that spread. "bf16_vs_fp32" records how far the float32 run of the same steps is, so the
test can check that its tolerance tells bf16 from float32 at all.
"""
import argparse
import copy
import json
import math
import os
import sys
import tempfile
from contextlib import contextmanager
from functools import partial

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import moco_step  # noqa: E402

OUT = os.path.join(HERE, "..", "..", "src", "test", "resources", "golden", "mixed_precision")
GOLDEN = os.path.join(HERE, "..", "..", "src", "test", "resources", "golden")
TOLERANCE_FACTOR = 2.0
# The noise floor comes from other correct bf16 kernels (oneDNN, which accumulates in float32, with another thread
# split or memory format). torch 1.13's native bf16 path (no_mkldnn) is recorded but not part of it: it rounds partial
# sums to bf16 and moves these steps by more than float32 differs from bf16 (measured: v2 loss 6.5e-2 vs 7.2e-2).
FLOOR_VARIANTS = ("threads2", "channels_last", "reversed")
BF16 = torch.bfloat16


LOGITS = "float32"  # set from --logits; see the module docstring


def autocast():
    return torch.autocast("cpu", BF16)


def no_autocast():
    return torch.autocast("cpu", BF16, enabled=False)


def scaled_diff(a, b):
    a, b = torch.as_tensor(a).double(), torch.as_tensor(b).double()
    return float((a - b).abs().max() / max(1.0, float(b.abs().max())))


def flat(state):
    return np.concatenate([v.detach().float().numpy().ravel() for v in state.values()])


@contextmanager
def variant(name, model_modules=()):
    """The run's kernel variant: main (1 thread, oneDNN), threads2, no_mkldnn, channels_last, reversed (batch order)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2 if name == "threads2" else 1)
    try:
        if name == "no_mkldnn":
            with torch.backends.mkldnn.flags(enabled=False):
                yield
        else:
            yield
    finally:
        torch.set_num_threads(threads)


def memory_format(name, x):
    return x.contiguous(memory_format=torch.channels_last) if name == "channels_last" and x.dim() == 4 else x


# ---------------------------------------------------------------- op dtypes

def op_dtypes():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 6, 6, generator=g)
    w = torch.randn(4, 3, 3, 3, generator=g)
    lin_w = torch.randn(5, 8, generator=g)
    v = torch.randn(4, 8, generator=g)
    bn_w, bn_b, rm, rv = torch.rand(4) + 0.5, torch.randn(4), torch.zeros(4), torch.ones(4)
    out = {}

    def record(name, fn):
        try:
            out[name] = str(fn().dtype).replace("torch.", "")
        except RuntimeError as e:  # torch 1.13 has no mixed bf16-input / float32-weight kernel for some ops
            out[name] = "error: " + str(e).splitlines()[0]

    with autocast():
        conv = F.conv2d(x, w)
        h = F.linear(v, lin_w)  # bf16
        record("conv2d", lambda: conv)
        record("linear", lambda: h)
        record("matmul", lambda: v @ v.t())
        record("batch_norm_train", lambda: F.batch_norm(conv, rm.clone(), rv.clone(), bn_w, bn_b, True))
        record("batch_norm_running_mean", lambda: rm)
        record("layer_norm", lambda: F.layer_norm(h, (5,), torch.ones(5), torch.zeros(5)))
        record("layer_norm_float32_input", lambda: F.layer_norm(h.float(), (5,), torch.ones(5), torch.zeros(5)))
        record("softmax", lambda: h.softmax(1))
        record("log_softmax", lambda: h.log_softmax(1))
        record("relu", lambda: h.relu())
        record("gelu", lambda: F.gelu(h))
        record("add_float32", lambda: h + torch.ones(1, 5))
        record("mul_0dim_float32", lambda: h * torch.tensor(0.5))
    record("matmul_outside", lambda: v @ v.t())
    return out


# ---------------------------------------------------------------- MoCo v2 (moco_step.py)

class MixedMoco(moco_step.Moco):
    """moco_step.Moco with the encoders' forwards under bf16 autocast; logits and loss as self.logits says."""
    variant = "main"
    logits = "float32"

    def half_loss(self, im_q, im_k):
        im_q, im_k = memory_format(self.variant, im_q), memory_format(self.variant, im_k)
        if self.logits == "autocast":  # the official builder's forward, all of it under autocast
            with autocast():
                loss, k = super().half_loss(im_q, im_k)
            return loss, k.float()
        with autocast():
            q = self.q(im_q)
        with no_autocast():
            q = F.normalize(q.float(), dim=1)
        with torch.no_grad():
            with autocast():
                k = self.k(im_k)
            with no_autocast():
                k = F.normalize(k.float(), dim=1)
        with no_autocast():
            pos = (q * k).sum(dim=1, keepdim=True)
            neg = q @ self.queue.t()
            logits = torch.cat([pos, neg], dim=1) / moco_step.T
            return F.cross_entropy(logits, torch.zeros(logits.shape[0], dtype=torch.long)), k


# moco_step.py's v2_mlp case (width 0.025: 2-13 channels, batch 4 of 16 px, seed 2, inputs seed 100). Its initial
# state and inputs are written to v2_mlp.npz (init, queue0, step<i>/view1|2) and its state_dict layout to the JSON, so
# the case can be changed here alone. Measured (docs/TOLERANCES.md): wider (x0.25, batch 8 of 32 px) does not help, its
# channels_last spread is as large as its bf16-vs-float32 distance.
V2 = {"width": 0.025, "batch": 4, "size": 16, "seed": 2, "inputs_seed": 100}


def v2_inputs():
    gen = torch.Generator().manual_seed(V2["inputs_seed"])
    return [tuple(torch.round(torch.randn(V2["batch"], 3, V2["size"], V2["size"], generator=gen) * 32) / 32
                  for _ in range(2)) for _ in range(moco_step.STEPS)]


def v2_case(var, mixed=True, logits=None):
    cls = MixedMoco if mixed else moco_step.Moco
    moco = cls(V2["width"], "mlp", False, V2["seed"])
    fixed = {"init": flat(moco.q.state_dict()), "queue0": moco.queue.numpy().copy()}
    views = v2_inputs()
    for i, (x1, x2) in enumerate(views):
        fixed["step%d/view1" % i], fixed["step%d/view2" % i] = x1.numpy(), x2.numpy()
    if var == "reversed":
        views = [(x1.flip(0), x2.flip(0)) for x1, x2 in views]
    if mixed:
        moco.variant = var
        moco.logits = logits or LOGITS
    if var == "channels_last":
        moco.q.to(memory_format=torch.channels_last)
        moco.k.to(memory_format=torch.channels_last)
    with variant(var):
        losses, _, queues = moco.run(views)
    queue = queues[-1].numpy().copy()
    if var == "reversed":  # each step enqueued its keys in reverse order: back to the main run's order
        n = V2["batch"]
        assert len(views) * n <= len(queue), "the keys of these steps wrapped around the queue"
        for i in range(len(views)):
            queue[i * n:(i + 1) * n] = queue[i * n:(i + 1) * n][::-1].copy()
    return {"losses": losses, "final_q": flat(moco.q.state_dict()), "final_k": flat(moco.k.state_dict()),
            "queue": queue, "fixed": fixed,
            "spec": dict(V2, state_keys=[[k, list(v.shape)] for k, v in moco.q.state_dict().items()])}


# ---------------------------------------------------------------- MoCo v3, ResNet (moco_v3.py case t02)

def float32_logits(model):
    """The official contrastive_loss with its inputs in float32 and autocast off (--logits float32)."""
    official = model.contrastive_loss

    def float32_loss(q, k):
        with no_autocast():
            return official(q.float(), k.float())
    model.contrastive_loss = float32_loss


def v3_resnet_case(mv3, builder, optimizer_mod, fns, var, mixed=True, logits=None):
    views = []
    inputs = np.load(os.path.join(GOLDEN, "moco_v3", "train_inputs.npz"))
    s = 0
    while "step%d/x1" % s in inputs:
        views.append((torch.from_numpy(inputs["step%d/x1" % s]), torch.from_numpy(inputs["step%d/x2" % s])))
        s += 1
    model = mv3.build_model(builder, 0.2, 31, torch.float32)
    if var == "channels_last":
        model.to(memory_format=torch.channels_last)
    if mixed and (logits or LOGITS) == "float32":
        float32_logits(model)
    args = argparse.Namespace(lr=mv3.LR, warmup_epochs=mv3.WARMUP, epochs=mv3.EPOCHS, moco_m=mv3.MOCO_M,
                              weight_decay=mv3.WD, momentum=0.9)
    optimizer = optimizer_mod.LARS(model.parameters(), args.lr, weight_decay=args.weight_decay, momentum=args.momentum)
    model.train()
    losses = []
    it, epoch = 0, 0
    with variant(var):
        while it < len(views):
            for i in range(mv3.ITERS_PER_EPOCH):
                if it == len(views):
                    break
                x1, x2 = (memory_format(var, v.flip(0) if var == "reversed" else v) for v in views[it])
                fns["adjust_learning_rate"](optimizer, epoch + i / mv3.ITERS_PER_EPOCH, args)
                m = fns["adjust_moco_momentum"](epoch + i / mv3.ITERS_PER_EPOCH, args)
                with torch.autocast("cpu", BF16, enabled=mixed):
                    loss = model(x1, x2, m)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
                it += 1
            epoch += 1
    return {"losses": losses, "final_base": flat(model.base_encoder.state_dict()),
            "final_momentum": flat(model.momentum_encoder.state_dict()), "final_predictor": flat(model.predictor.state_dict())}


# ---------------------------------------------------------------- MoCo v3, ViT (vit.py moco_step)

def v3_vit_case(vits, builder, var, mixed=True, logits=None):
    meta = json.load(open(os.path.join(GOLDEN, "vit", "vit.json")))["moco_step"]
    g = np.load(os.path.join(GOLDEN, "vit", "moco_step.npz"))
    sp = meta["spec"]
    torch.manual_seed(11)
    model = builder.MoCo_ViT(partial(vits.VisionTransformerMoCo, img_size=sp["img"], patch_size=sp["patch"],
                                     embed_dim=sp["dim"], depth=sp["depth"], num_heads=sp["heads"], mlp_ratio=4,
                                     qkv_bias=True, norm_layer=partial(nn.LayerNorm, eps=1e-6), stop_grad_conv1=True),
                             meta["dim"], meta["mlp_dim"], meta["T"])
    with torch.no_grad():
        for k, t in model.base_encoder.state_dict().items():
            t.copy_(torch.from_numpy(g["init/" + k]))
        for k, t in model.predictor.state_dict().items():
            t.copy_(torch.from_numpy(g["init/predictor." + k]))
        model.momentum_encoder.load_state_dict(model.base_encoder.state_dict())
    if mixed and (logits or LOGITS) == "float32":
        float32_logits(model)
    if TORCH2_SCALE:
        for module in model.modules():
            if hasattr(module, "scale") and hasattr(module, "qkv"):  # timm's Attention
                module.scale = Torch2Scale(module.scale)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), meta["lr"], weight_decay=meta["weight_decay"])
    losses = []
    with variant(var):
        for s, st in enumerate(meta["steps"]):
            for group in optimizer.param_groups:
                group["lr"] = st["lr"]
            x1 = memory_format(var, torch.from_numpy(g["x1/step%d" % s]))
            x2 = memory_format(var, torch.from_numpy(g["x2/step%d" % s]))
            if var == "reversed":
                x1, x2 = x1.flip(0), x2.flip(0)
            with torch.autocast("cpu", BF16, enabled=mixed):
                loss = model(x1, x2, st["m"])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return {"losses": losses, "final_base": flat(without_noise(model.base_encoder.state_dict())),
            "final_momentum": flat(without_noise(model.momentum_encoder.state_dict())),
            "final_predictor": flat(model.predictor.state_dict())}


class Torch2Scale:
    """timm's attention scale (a Python float) multiplied as torch 2.x multiplies it.

    torch 1.13's CPU mul casts a Python scalar to the tensor's dtype first: bf16 scores times 8^-0.5 are multiplied by
    bf16(8^-0.5) = 0.353515625, which rounds 2.5% of the products differently from torch 2.x (libtorch 2.7.1, what
    MoCo4J runs), whose mul keeps a scalar next to a bf16 tensor in float32 and rounds the product once (measured
    2026-12-07: 2537 of 100000 products differ). Set as each Attention's `scale`, it leaves timm's forward as it is:
    `scores * self.scale` falls through to __rmul__, which computes the product in float32 and rounds it to the
    scores' dtype. Float32 scores are multiplied as before, bit for bit.
    """

    def __init__(self, value):
        self.value = value

    def __rmul__(self, t):
        return t * self.value if t.dtype == torch.float32 else (t.float() * self.value).to(t.dtype)


TORCH2_SCALE = True  # main() sets it False once to record the untouched torch 1.13 run ("torch113_scale_losses")


# Tensors whose gradient is exactly zero in MoCo_ViT (the K third of attn.qkv.bias, the final norm.bias) get rounding
# noise that AdamW turns into +-lr steps of random sign, and head.1.running_mean tracks norm.bias (see
# VitMocoStepGoldenTest.closeUnlessNoise): left out of the ViT state vectors.
VIT_NOISE = ("attn.qkv.bias", "norm.bias", "head.1.running_mean")


def without_noise(state):
    return {k: v for k, v in state.items() if not (k.endswith(VIT_NOISE[0]) or k == VIT_NOISE[1] or k == VIT_NOISE[2])}


def compare(a, b):
    steps = [abs(x - y) / abs(y) for x, y in zip(a["losses"], b["losses"])]
    d = {"loss_rel": max(steps), "loss_rel_steps": steps}
    for k, v in b.items():
        if isinstance(v, np.ndarray):
            d[k] = scaled_diff(a[k], v)
    return d


def fmt(d):
    return {k: ["%.2e" % x for x in v] if isinstance(v, list) else "%.2e" % v for k, v in d.items()}


def run(name, fn):
    main = fn("main", True)
    spread, variants = {}, {}
    for var in ("threads2", "channels_last", "reversed", "no_mkldnn"):
        d = compare(fn(var, True), main)
        variants[var] = d
        print(name, var, fmt(d))
        if var in FLOOR_VARIANTS:
            for k, v in d.items():
                if k == "loss_rel_steps":
                    spread[k] = [max(x, y) for x, y in zip(spread.get(k, [0.0] * len(v)), v)]
                else:
                    spread[k] = max(spread.get(k, 0.0), v)
    fp32 = fn("main", False)
    far = compare(fp32, main)
    print(name, "fp32 vs bf16", fmt(far))
    arrays = {k: v for k, v in main.items() if isinstance(v, np.ndarray)}
    arrays.update(main.get("fixed", {}))
    np.savez_compressed(os.path.join(OUT, name + ".npz"), **arrays)
    out = {"spec": main["spec"]} if "spec" in main else {}
    out.update({"losses": main["losses"], "fp32_losses": fp32["losses"], "variants": variants, "spread": spread,
           "bf16_vs_fp32": far, "tolerance": {k: TOLERANCE_FACTOR * v for k, v in spread.items() if k != "loss_rel_steps"}})
    if LOGITS == "float32":
        official = fn("main", True, "autocast")
        out["autocast_logits_losses"] = official["losses"]
        out["logits_autocast_vs_float32"] = compare(official, main)
        print(name, "logits under autocast vs float32", fmt(out["logits_autocast_vs_float32"]))
    return out


def main():
    global LOGITS, OUT, TORCH2_SCALE
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--moco-v3", required=True)
    ap.add_argument("--timm", required=True)
    ap.add_argument("--logits", choices=("float32", "autocast"), default="float32",
                    help="float32 (default, MoCo4J's choice and the committed goldens): encoder outputs .float(), "
                         "normalisation/logits/loss with autocast disabled; autocast: the official code untouched")
    ap.add_argument("--out", default=OUT, help="output folder (default: the test resources)")
    ap.add_argument("--cases", default="v2_mlp,v3_resnet,v3_vit",
                    help="comma-separated cases to (re)generate; the others are kept from OUT's mixed_precision.json")
    a = ap.parse_args()
    LOGITS, OUT = a.logits, a.out
    sys.path[:0] = [a.timm, a.moco_v3]
    import warnings
    warnings.filterwarnings("ignore")
    import moco_v3 as mv3  # tools/golden/moco_v3.py (build_model, constants, functions_from)
    import moco.builder as builder
    import moco.optimizer as optimizer_mod
    import vits
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    # One process: concat_all_gather is the identity. gloo's all_gather has no bf16 ("Invalid scalar type"), which
    # the official loss under autocast (--logits autocast, and the comparison run of the float32 mode) hands it.
    builder.concat_all_gather = lambda tensor: tensor.detach().clone()
    import torch.distributed as dist
    init_file = tempfile.NamedTemporaryFile(delete=False)
    init_file.close()
    os.remove(init_file.name)
    dist.init_process_group("gloo", init_method="file://" + init_file.name, world_size=1, rank=0)
    fns = mv3.functions_from(os.path.join(a.moco_v3, "main_moco.py"), ["adjust_learning_rate", "adjust_moco_momentum"],
                             {"math": math})
    os.makedirs(OUT, exist_ok=True)
    old = os.path.join(OUT, "mixed_precision.json")
    kept = json.load(open(old))["cases"] if os.path.exists(old) else {}
    meta = {"torch": torch.__version__, "logits": LOGITS, "tolerance_factor": TOLERANCE_FACTOR, "op_dtypes": op_dtypes(),
            "cases": kept}
    print("op dtypes", meta["op_dtypes"])
    cases = {"v2_mlp": v2_case,
             "v3_resnet": lambda var, mixed, logits=None: v3_resnet_case(mv3, builder, optimizer_mod, fns, var, mixed, logits),
             "v3_vit": lambda var, mixed, logits=None: v3_vit_case(vits, builder, var, mixed, logits)}
    for name in a.cases.split(","):
        meta["cases"][name] = run(name, cases[name])
        if name == "v3_vit":  # how far torch 1.13's own scalar rounding is (see Torch2Scale)
            TORCH2_SCALE = False
            untouched = cases[name]("main", True)
            TORCH2_SCALE = True
            meta["cases"][name]["torch113_scale_losses"] = untouched["losses"]
            meta["cases"][name]["torch113_scale_vs_torch2"] = compare(untouched, cases[name]("main", True))
            print(name, "torch 1.13 scalar rounding vs torch 2's", fmt(meta["cases"][name]["torch113_scale_vs_torch2"]))
    with open(os.path.join(OUT, "mixed_precision.json"), "w") as f:
        json.dump(meta, f, indent=1)
    dist.destroy_process_group()
    for f in sorted(os.listdir(OUT)):
        print(f, os.path.getsize(os.path.join(OUT, f)))


if __name__ == "__main__":
    main()
