#!/usr/bin/env python3
"""Step speed of two or more implementations measured in alternation, one step at a time.

On a shared or throttled machine the speed of the same program drifts by tens of percent within minutes, so runs
made one after the other compare the minutes as much as the programs. Here every arm is started once, each runs its
steps only when told (`./moco4j bench --turns`, `bench/reference_v3_step.py --turns`: a line on stdin starts one
step, which answers `done WALL CPU`), and the driver alternates them step by step, the order swapped on every pair.
Only one arm runs a step at any time, and with --stop-idle the others are paused altogether (their JIT compilers,
garbage collectors and OpenMP workers too: an OpenMP worker told to spin, OMP_WAIT_POLICY=ACTIVE, took a core from
the arm being timed and made it 3x slower). The figure of merit is the median over timed steps of the ratio between
an arm's step and the first arm's step of the same pair.

  bench/paired_ab.py --warmup 10 --steps 20 \\
    --arm 'official=env OPENBLAS_NUM_THREADS=1 python3 bench/reference_v3_step.py --moco-v3 M --autocast bf16 --turns' \\
    --arm 'moco4j=java -Dai.djl.offline=true -Dai.djl.pytorch.num_threads=2 -jar target/moco4j.jar bench \\
             --preset cifar10-v3 --batch-size 64 --precision bf16 --device cpu --turns'

Both --warmup and --steps must match the arms' own (--warmup, --steps); the first arm is the baseline.
Prints one line per arm and a JSON summary (the per-step seconds of every arm included).
"""
import argparse
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import time


class Arm:
    def __init__(self, name, command, stop_idle):
        self.name = name
        self.command = command
        self.stop_idle = stop_idle
        # its own process group, so that --stop-idle pauses every process and thread of the arm
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
                                     start_new_session=True)
        self.wall = []
        self.cpu = []
        self.signal(signal.SIGSTOP)

    def signal(self, sig):
        if self.stop_idle and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)

    def step(self):
        """Runs one step of this arm and returns its (wall, cpu) seconds as the arm measured them."""
        self.signal(signal.SIGCONT)
        try:
            self.proc.stdin.write("go\n")
            self.proc.stdin.flush()
            for line in self.proc.stdout:
                if line.startswith("done "):
                    wall, cpu = (float(v) for v in line.split()[1:3])
                    self.signal(signal.SIGSTOP)
                    return wall, cpu
        except BrokenPipeError:
            pass
        sys.exit("arm %s ended before its step finished (exit code %s): %s"
                 % (self.name, self.proc.wait(), " ".join(self.command)))

    def finish(self):
        """Lets the arm print its own summary and returns its last JSON line (or None)."""
        self.signal(signal.SIGCONT)
        self.proc.stdin.close()
        last = None
        for line in self.proc.stdout:
            if line.startswith("{"):
                last = line
        self.proc.wait()
        return json.loads(last) if last else None


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arm", action="append", required=True, metavar="NAME=COMMAND",
                   help="an implementation: a name, '=', and its command line (run with --turns); the first is the baseline")
    p.add_argument("--warmup", type=int, default=10, help="untimed steps per arm, run one arm at a time (default 10)")
    p.add_argument("--steps", type=int, default=20, help="timed steps per arm, alternated (default 20)")
    p.add_argument("--pause", type=float, default=0.05, help="seconds between two steps (idle threads settle)")
    p.add_argument("--stop-idle", action="store_true",
                   help="pause every arm (SIGSTOP to its process group) except while it runs a step: an idle arm's "
                        "background threads (JIT compiler, GC, OpenMP workers spinning for work) then take no CPU "
                        "from the arm being timed, and its own background work lands in its own steps")
    p.add_argument("--out", help="also write the JSON summary here")
    a = p.parse_args()
    if len(a.arm) < 2:
        sys.exit("paired_ab.py: give at least two --arm NAME=COMMAND")
    arms = []
    for spec in a.arm:
        name, sep, command = spec.partition("=")
        if not sep or not command.strip():
            sys.exit("paired_ab.py: --arm wants NAME=COMMAND, got %r" % spec)
        arms.append(Arm(name.strip(), shlex.split(command), a.stop_idle))
    try:
        for arm in arms:  # warm-up: each arm alone, so no arm's first (interpreted, unjitted) steps meet another's
            for _ in range(a.warmup):
                arm.step()
                time.sleep(a.pause)
        for i in range(a.steps):
            order = arms if i % 2 == 0 else arms[::-1]
            for arm in order:
                wall, cpu = arm.step()
                arm.wall.append(wall)
                arm.cpu.append(cpu)
                time.sleep(a.pause)
        own = {arm.name: arm.finish() for arm in arms}
    finally:
        for arm in arms:
            if arm.proc.poll() is None:
                arm.signal(signal.SIGCONT)
                arm.proc.kill()
    base = arms[0]
    summary = {"date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "warmup": a.warmup, "steps": a.steps,
               "stop_idle": a.stop_idle,
               "load": os.getloadavg(), "baseline": base.name, "arms": []}
    for arm in arms:
        ratios = [b / w for w, b in zip(arm.wall, base.wall)]  # > 1: this arm's step is shorter than the baseline's
        row = {"name": arm.name, "median_step_seconds": statistics.median(arm.wall),
               "median_step_cpu_seconds": statistics.median(arm.cpu),
               "speed_vs_baseline_median": statistics.median(ratios),
               "speed_vs_baseline_quartiles": statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios,
               "step_seconds": arm.wall, "own_summary": own.get(arm.name)}
        summary["arms"].append(row)
        print("%-12s median step %.3f s (CPU %.3f s)  speed vs %s: median %.3fx, quartiles %s"
              % (arm.name, row["median_step_seconds"], row["median_step_cpu_seconds"], base.name,
                 row["speed_vs_baseline_median"], " ".join("%.3f" % q for q in row["speed_vs_baseline_quartiles"])))
    print(json.dumps(summary))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
