"""Kill trials for kills.sh: pretrain runs ended by SIGKILL, resumed with --resume after each kill until they
finish; every step's last logged loss must equal an uninterrupted run's.

The kill moment is chosen from what the run directory shows, never from a guess of the machine's speed:
  after   wait for the run's k-th new checkpoint (epoch_NNNN.ckpt appears), then for j more logged steps
          (metrics.jsonl), then sleep a random fraction of the last step's duration measured in this run;
  write   wait for the run's k-th checkpoint write to begin (a .last.ckpt.*.tmp or .epoch_NNNN.ckpt.*.tmp
          appears) and kill while that temporary file exists.
The first run of every trial is killed after at least one checkpoint, so every trial resumes from one.

Usage: python3 kills.py TRIALS WORKDIR SEED -- JAVA_COMMAND...   (the command up to and including `pretrain`)
"""
import json
import os
import random
import signal
import subprocess
import sys
import time

EPOCHS = 4
STEPS_PER_EPOCH = 4  # builtin:32:32 with batch 8
SETTINGS = ["--data", "builtin:32:32", "--preset", "cpu-small", "--epochs", str(EPOCHS), "--workers", "1",
            "--set", "model.width=0.125", "--set", "model.dim=8", "--set", "moco.queue_size=16",
            "--set", "train.batch_size=8", "--set", "moco.bn_splits=2", "--set", "train.knn_every=0",
            "--set", "train.log_every=1", "--set", "train.checkpoint_every=1"]
MAX_KILLS = 2
POLL = 0.002  # seconds; a checkpoint write (2.2 MB + fsync) lasts far longer


def epoch_checkpoints(run):
    try:
        return sorted(f for f in os.listdir(os.path.join(run, "checkpoints")) if f.startswith("epoch_") and f.endswith(".ckpt"))
    except FileNotFoundError:
        return []


def temporaries(run):
    try:
        return [f for f in os.listdir(os.path.join(run, "checkpoints")) if f.endswith(".tmp")]
    except FileNotFoundError:
        return []


def logged_steps(run):
    try:
        with open(os.path.join(run, "metrics.jsonl")) as f:
            return sum(1 for line in f if '"type":"step"' in line)
    except FileNotFoundError:
        return 0


def completed_epochs(run):
    return len(epoch_checkpoints(run))


def watch_and_kill(proc, run, plan):
    """Follows the run directory and SIGKILLs proc at the planned moment. Returns a description or None."""
    base = completed_epochs(run)
    steps_at_start = logged_steps(run)
    mode, k, j, u = plan
    stale = set(temporaries(run))  # left by an earlier kill; resume removes them
    last_step_seen, last_step_count, step_duration = None, steps_at_start, None
    armed_steps = None
    while proc.poll() is None:
        now = time.monotonic()
        n = logged_steps(run)
        if n != last_step_count:
            if last_step_seen is not None:
                step_duration = (now - last_step_seen) / (n - last_step_count)
            last_step_seen, last_step_count = now, n
        new = completed_epochs(run) - base
        if mode == "write":
            if new == k - 1:
                tmp = [f for f in temporaries(run) if f not in stale]
                if tmp:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    return "during the write of checkpoint %d of this run (%s)" % (k, tmp[0].split(".")[1])
            elif new >= k:
                k += 1  # the write was too quick to see: try the next one
        else:
            if armed_steps is None and new >= k:
                armed_steps = n + j
            if armed_steps is not None and n >= armed_steps:
                pause = u * (step_duration or 0.05)
                time.sleep(pause)
                if proc.poll() is not None:
                    return None
                leftover = set(temporaries(run)) - stale
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return "%d step(s) + %.2f of a step after checkpoint %d of this run%s" % (
                    j, u, k, " (a write was under way)" if leftover else "")
        time.sleep(POLL)
    return None


def last_losses(path):
    out = {}
    try:
        with open(path) as f:
            for line in f:
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                if r.get("type") == "step":
                    out[r["step"]] = r["loss"]
    except FileNotFoundError:
        pass
    return out


def main():
    trials, work, seed = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    java = sys.argv[sys.argv.index("--") + 1:]
    rng = random.Random(seed)
    os.makedirs(work, exist_ok=True)
    os.chdir(work)
    with open("ref.out", "w") as log:
        rc = subprocess.call(java + ["--out", "ref"] + SETTINGS, stdout=log, stderr=subprocess.STDOUT)
    ref = last_losses("ref/metrics.jsonl")
    if rc != 0 or len(ref) != EPOCHS * STEPS_PER_EPOCH:
        print("reference run failed (exit %d, %d steps); see %s/ref.out" % (rc, len(ref), work))
        return 1
    print("reference run: %d steps, %d checkpoints" % (len(ref), completed_epochs("ref")), flush=True)
    totals = dict(ok=0, kills=0, during_write=0, resumes=0, fellback=0, once=0, leftovers=0, restarts=0)
    for t in range(1, trials + 1):
        run = "t%d" % t
        args = ["--out", run] + SETTINGS
        kills, resumes, moments, rc, runs = 0, 0, [], None, 0
        while True:
            remaining = EPOCHS - completed_epochs(run)
            plan = None
            if kills < MAX_KILLS:
                # a first run killed while writing its first last.ckpt would have nothing to resume from
                first_write = 2 if completed_epochs(run) == 0 else 1
                if rng.random() < 0.3 and remaining >= first_write:
                    # kill during a checkpoint write, the last one of the run included
                    plan = ("write", rng.randint(first_write, remaining), 0, 0.0)
                elif remaining >= 2:
                    plan = ("after", rng.randint(1, remaining - 1), rng.randint(0, STEPS_PER_EPOCH - 1), rng.random())
            with open("%s.log.%d" % (run, runs), "w") as log:
                proc = subprocess.Popen(java + args, stdout=log, stderr=subprocess.STDOUT)
                what = watch_and_kill(proc, run, plan) if plan else None
                rc = proc.wait()
            with open("%s.log.%d" % (run, runs)) as f:
                text = f.read()
            if args[-1] == "--resume" and "Resuming" in text:
                resumes += 1
            if "is damaged" in text:
                totals["fellback"] += 1
            runs += 1
            if what is None:
                break
            kills += 1
            moments.append(what)
            if "during the write" in what:
                totals["during_write"] += 1
            if os.path.exists(os.path.join(run, "checkpoints", "last.ckpt")):
                args = ["--out", run, "--resume"]
            else:
                totals["restarts"] += 1  # not planned: killed before any checkpoint; start again
                subprocess.call(["rm", "-rf", run])
                args = ["--out", run] + SETTINGS
        leftovers = len(temporaries(run))
        totals["leftovers"] += leftovers
        got = last_losses(os.path.join(run, "metrics.jsonl"))
        bad = [s for s in ref if s not in got or abs(got[s] - ref[s]) > 1e-6]
        verdict = "equal" if not bad and len(got) == len(ref) else "DIFFERENT at steps %s" % bad[:5]
        if rc == 0 and verdict == "equal":
            totals["ok"] += 1
        totals["kills"] += kills
        totals["resumes"] += resumes
        totals["once"] += resumes >= 1
        print("trial %d: %d kill(s) [%s], %d resume(s) from a checkpoint, final exit %d, %d temporary file(s) left,"
              " losses vs uninterrupted: %s" % (t, kills, "; ".join(moments), resumes, rc, leftovers, verdict), flush=True)
    print("summary: %(ok)d of %(n)d trials finished with losses equal to the uninterrupted run; %(kills)d SIGKILLs,"
          " %(during_write)d during a checkpoint write; %(resumes)d resumes from a checkpoint (every trial at least"
          " once: %(once)d of %(n)d); %(fellback)d resumes fell back past last.ckpt; %(leftovers)d temporary files left;"
          " %(restarts)d restarts without a checkpoint"
          % dict(totals, n=trials))
    return 0


if __name__ == "__main__":
    sys.exit(main())
