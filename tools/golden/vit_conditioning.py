"""Is the MoCo_ViT step golden (moco_step.npz) well-conditioned? Prints, writes no golden.

Runs vit.py's official 3-step replay (facebookresearch/moco-v3 MoCo_ViT, torch.optim.AdamW) several times in one
process: twice with 1 thread, twice with 2, then with the sign of the rounding noise in the exactly-zero gradient of
every qkv.bias's K third flipped at random before each AdamW step. The step losses agreeing to ~1e-6 across all of
them says the golden's losses are determined, and that a second run in one process repeats the first
(docs/ISSUES-FOUND.md, "Explained"). Usage, with Debian's python3-torch 1.13:

  /usr/bin/python3 tools/golden/vit_conditioning.py --moco-v3 CHECKOUT --timm CHECKOUT_AT_v0.4.9
"""
import argparse
import importlib.util
import os
import sys
import tempfile

import torch


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--moco-v3", required=True)
    ap.add_argument("--timm", required=True)
    a = ap.parse_args()
    sys.path[:0] = [a.timm, a.moco_v3]
    import warnings
    warnings.filterwarnings("ignore")
    spec = importlib.util.spec_from_file_location("vit_golden", os.path.join(os.path.dirname(__file__), "vit.py"))
    golden = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(golden)
    golden.OUT = tempfile.mkdtemp()  # vit.py's replay also saves its files: not over the committed ones
    import vits
    import moco.builder as builder
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    import torch.distributed as dist
    dist.init_process_group("gloo", init_method="tcp://127.0.0.1:%d" % (29600 + os.getpid() % 1000),
                            world_size=1, rank=0)

    flip = {"gen": None}
    adamw_step = torch.optim.AdamW.step

    def step(self, *args, **kwargs):
        if flip["gen"] is not None:
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None and getattr(p, "is_qkv_bias", False):
                        d = p.numel() // 3
                        signs = torch.where(torch.rand(d, generator=flip["gen"]) < 0.5, -1.0, 1.0)
                        p.grad[d:2 * d] *= signs
        return adamw_step(self, *args, **kwargs)

    torch.optim.AdamW.step = step
    mark = builder.MoCo_ViT.__init__

    def init(self, *args, **kwargs):
        mark(self, *args, **kwargs)
        for name, p in self.base_encoder.named_parameters():
            p.is_qkv_bias = name.endswith("attn.qkv.bias")

    builder.MoCo_ViT.__init__ = init

    def run(tag):
        meta = {}
        golden.moco_step_golden(vits, builder, meta)
        print("%-28s" % tag, " ".join("%.7f" % s["loss"] for s in meta["moco_step"]["steps"]), flush=True)

    for threads in (1, 2):
        torch.set_num_threads(threads)
        for r in range(2):
            run("%d thread(s), run %d" % (threads, r))
    torch.set_num_threads(1)
    for r in range(3):
        flip["gen"] = torch.Generator().manual_seed(100 + r)
        run("K-third noise flipped, %d" % r)


if __name__ == "__main__":
    main()
