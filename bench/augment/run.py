#!/usr/bin/python3
"""MoCo4J augmentation benchmark: decode + two augmented views per image, MoCo4J (Java) vs torchvision (PIL).

One command from the project root:   /usr/bin/python3 bench/augment/run.py [--repeats 3]
It prepares the inputs under /tmp (bench/augment/make_inputs.py), compiles the test classes, then for each
repeat runs, back to back on the same files: MoCo4J's AugmentBenchmark (ImageIO decode + CpuViewTransform,
a thread pool of 1 or 2 threads) and torchvision's pipeline (PIL decode + transforms, 1 process or a pool of
2 worker processes like DataLoader workers). Prints per-run img/s, the median ratio Java/torchvision and a
per-stage breakdown (ms per image, both views) from the first repeat.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HERE = os.path.dirname(os.path.abspath(__file__))


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout


def classpath(work):
    cp_file = os.path.join(work, "cp.txt")
    subprocess.run([os.path.join(ROOT, "mvnw"), "-B", "-q", "-o", "test-compile"], cwd=ROOT, check=True)
    if not os.path.exists(cp_file):
        cmd = [os.path.join(ROOT, "mvnw"), "-B", "-q", "dependency:build-classpath", "-Dmdep.includeScope=test",
               "-Dmdep.outputFile=" + cp_file]
        if subprocess.run(cmd + ["-o"], cwd=ROOT, capture_output=True).returncode != 0:
            subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)  # first time: fetch the plugin's deps
    with open(cp_file) as f:
        deps = f.read().strip()
    return ":".join([os.path.join(ROOT, "target", "classes"), os.path.join(ROOT, "target", "test-classes"), deps])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--work", default="/tmp/moco4j-augment-bench")
    ap.add_argument("--tarball", default=None, help="cifar10-jpg.tar.gz (default: ../shared/data or ../../shared/data)")
    ap.add_argument("--only", default=None, help="run only configs whose name contains this")
    args = ap.parse_args()
    tarball = args.tarball or next((p for p in (os.path.join(ROOT, "..", "shared", "data", "cifar10-jpg.tar.gz"),
                                                os.path.join(ROOT, "..", "..", "shared", "data", "cifar10-jpg.tar.gz"))
                                    if os.path.exists(p)), None)
    subprocess.run(["/usr/bin/python3", os.path.join(HERE, "make_inputs.py"), args.work, tarball or "missing"], check=True)
    cp = classpath(args.work)
    java = ["java", "-Xmx2g", "-XX:+UseParallelGC", "-cp", cp, "io.moco4j.data.augment.bench.AugmentBenchmark"]
    tv = ["/usr/bin/python3", os.path.join(HERE, "tv_bench.py")]
    big = os.path.join(args.work, "jpg400")
    small = os.path.join(args.work, "cifar32")
    # name, dir, moco4j recipe, torchvision recipe, size, threads, images, java warm-up images
    configs = [("v2 224px 1 thread", big, "v2", "v2", 224, 1, 500, 300),
               ("v2 224px 2 threads", big, "v2", "v2", 224, 2, 500, 300),
               ("cifar 32px 1 thread", small, "cifar", "cifar", 32, 1, 5000, 3000),
               ("cifar 32px 2 threads", small, "cifar", "cifar", 32, 2, 5000, 3000)]
    if args.only:
        configs = [c for c in configs if args.only in c[0]]

    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    now = datetime.datetime.now().isoformat(timespec="seconds")
    print(f"# {now}  {platform.node()}  {cpu}, {os.cpu_count()} cores, load avg {os.getloadavg()[0]:.1f}")
    print("# " + subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0])
    print("# " + sh(["/usr/bin/python3", "-c", "import torch, torchvision, PIL, sys; "
                     "print('python', sys.version.split()[0], 'torch', torch.__version__, 'torchvision', "
                     "torchvision.__version__, 'Pillow', PIL.__version__)"]).strip())
    results = {c[0]: {"java": [], "tv": [], "java_cpu": [], "tv_cpu": [], "stages": {}} for c in configs}
    for rep in range(args.repeats):
        for name, d, recipe, tv_recipe, size, threads, images, warm in configs:
            stages = "1" if rep == 0 and threads == 1 else "0"
            j = json.loads(sh(java + [d, recipe, str(size), str(threads), str(images), str(warm), stages]).strip().splitlines()[-1])
            t = json.loads(sh(tv + [d, tv_recipe, str(size), str(threads), str(images), stages]).strip().splitlines()[-1])
            r = results[name]
            r["java"].append(j["img_per_s"])
            r["tv"].append(t["img_per_s"])
            r["java_cpu"].append(j["img_per_cpu_s"])
            r["tv_cpu"].append(t["img_per_cpu_s"])
            if stages == "1":
                r["stages"] = {"moco4j": j["stages_ms"], "torchvision": t["stages_ms"]}
            print(f"repeat {rep + 1}: {name:22s} moco4j {j['img_per_s']:8.1f} img/s   torchvision {t['img_per_s']:8.1f} img/s"
                  f"   ratio {j['img_per_s'] / t['img_per_s']:.2f}   per CPU-second {j['img_per_cpu_s']:.1f} vs {t['img_per_cpu_s']:.1f}"
                  f"   (load avg {os.getloadavg()[0]:.1f})", flush=True)
    print()
    print("| config | MoCo4J img/s median (min-max) | torchvision img/s median (min-max) | ratio of medians (per-repeat range) "
          "| img per CPU-second MoCo4J / torchvision (medians) | ratio |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        ratios = [a / b for a, b in zip(r["java"], r["tv"])]
        print(f"| {name} | {statistics.median(r['java']):.1f} ({min(r['java']):.1f}-{max(r['java']):.1f}) | "
              f"{statistics.median(r['tv']):.1f} ({min(r['tv']):.1f}-{max(r['tv']):.1f}) | "
              f"{statistics.median(r['java']) / statistics.median(r['tv']):.2f} ({min(ratios):.2f}-{max(ratios):.2f}) | "
              f"{statistics.median(r['java_cpu']):.1f} / {statistics.median(r['tv_cpu']):.1f} | "
              f"{statistics.median(r['java_cpu']) / statistics.median(r['tv_cpu']):.2f} |")
    for name, r in results.items():
        if r["stages"]:
            print(f"\nstages, {name} (ms per image, both views, one thread, first repeat):")
            for side, st in r["stages"].items():
                print(f"  {side:12s} " + ", ".join(f"{k} {v:.3f}" for k, v in st.items()) + f"  (sum {sum(st.values()):.2f})")


if __name__ == "__main__":
    main()
