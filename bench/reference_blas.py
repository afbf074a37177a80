#!/usr/bin/env python3
"""Which BLAS the reference PyTorch runs its matrix products on, and a refusal when it is the netlib reference BLAS.

Debian's torch 1.13 calls the system libblas.so.3 (BLAS_INFO=generic in torch.__config__.show(), which therefore does
not name it). Without libopenblas0-pthread that alternative is netlib's reference BLAS, unoptimised Fortran: the
reference's linears and convolutions then run several times slower (a ViT reference step took 56 s instead of ~2 s), so
a MoCo4J / reference ratio would flatter MoCo4J. The library really loaded is read from /proc/self/maps after a
product has run, which follows the alternatives symlinks.

    /usr/bin/python3 bench/reference_blas.py            # prints the BLAS; exit 3 with one line when it is unfair
    import reference_blas; reference_blas.require_fair()   # the same inside a reference script
"""
import os
import re
import sys

FIX = "apt-get install libopenblas0-pthread"


def loaded_blas():
    """(kind, path): kind is openblas, blis, mkl, atlas, netlib or unknown; path the library file (None if none)."""
    import torch
    a = torch.randn(64, 64)
    (a @ a).sum().item()  # make sure the BLAS is loaded and used
    paths = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                p = line.split()[-1]
                if p.startswith("/") and re.search(r"(blas|mkl|blis|atlas)[^/]*\.so", os.path.basename(p)) and p not in paths:
                    paths.append(p)
    except OSError:
        pass
    return classify(paths, torch.__config__.show())


def classify(paths, config=""):
    """The BLAS among loaded library paths (and torch's build config when none is a separate library).

    The libblas.so.3 decides when one is loaded: torch links that soname, so its sgemm_ is the one called, even when
    another BLAS is loaded beside it (e.g. OpenBLAS pulled in by liblapack.so.3). Its folder names the package.
    """
    kinds = (("mkl", r"mkl"), ("openblas", r"openblas"), ("blis", r"blis"), ("atlas", r"atlas"))
    for p in paths:
        if os.path.basename(p).startswith("libblas.so"):
            folder = os.path.basename(os.path.dirname(p))
            for kind, pattern in kinds:
                if re.search(pattern, folder):
                    return kind, p
            # Debian's netlib package installs /usr/lib/<triplet>/blas/libblas.so.3
            return ("netlib" if folder == "blas" else "unknown"), p
    for kind, pattern in kinds:
        for p in paths:
            if re.search(pattern, os.path.basename(p)):
                return kind, p
    if re.search(r"BLAS_INFO=mkl", config):
        return "mkl", None  # statically linked into a pip/conda torch
    return "unknown", None


def require_fair(out=sys.stderr):
    """Exits (status 3) with one line naming the fix when the reference would run on the netlib reference BLAS."""
    kind, path = loaded_blas()
    if kind == "netlib":
        print("error: the reference torch runs on the netlib reference BLAS (%s), several times slower than OpenBLAS,"
              " so a speed ratio against it would be unfair; fix: %s" % (path, FIX), file=out)
        sys.exit(3)
    return kind, path


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--classify":  # for checking the rule on given paths
        print("%s %s" % classify(sys.argv[2:]))
        sys.exit(0)
    kind, path = require_fair()
    print("reference BLAS: %s (%s)" % (kind, path or "built into torch"))
