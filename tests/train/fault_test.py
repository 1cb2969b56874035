"""Faults injected into pretraining runs on 2 ranks (the distributed protocol and the
checkpoints, docs/reliability.md): the job never hangs and never loses more than the
work since the last checkpoint.

* SIGSTOP one rank mid-epoch: the collective timeout (dist.timeout_s) aborts the job
  within dist.timeout_s + 30 s, non-zero, and the message names the operation
  (`collective timeout: <op> #<n>`).
* SIGKILL one rank during the interest refresh: the job ends non-zero within
  dist.timeout_s + 30 s, naming the rank.
* The checkpoint directory's disk fills up (a 1100k tmpfs, about 1.07 MiB): the run
  exits 1 (a failure, not bad input) with an error naming the ckpt-….partial staging
  directory; no partial directory is left, and `latest` remains and its checkpoint
  verifies and exports. When no tmpfs can be mounted the case fails as root and, when
  not root, is left out, saying so.
* A non-finite loss (injected: MISSREC_FAULT=nan-loss@S): the run exits 1 with the
  global step and the loss part (seq_item) in its message; the epoch-1 checkpoint stays
  the latest and resuming from it without the fault finishes.
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from script_check import (BIN, SMALL_MODEL, check, communicate_or_kill, finish, mpi_command,
                          read_checkpoint_tensors, run, synth_demo, write_config)

sys.path.insert(0, os.path.dirname(__file__))
from rank_processes import rank_pids

TIMEOUT_S = 6


def config_for(tmp, name, run_dir=None, **train):
    settings = {"epochs": 3, "batch_size": 128, "log_every": 1}
    settings.update(train)
    return write_config(os.path.join(tmp, name + ".yaml"), {
        "run": {"dir": run_dir or os.path.join(tmp, name)},
        "data": {"dir": os.path.join(tmp, "demo", "pretrain")},
        "model": SMALL_MODEL,
        "train": settings,
        "cluster": {"memory_mb": 64},
        "checkpoint": {"every_epochs": 1, "keep": 2},
        "dist": {"timeout_s": TIMEOUT_S},
    })


def launch(config, env=None):
    return subprocess.Popen(mpi_command(2, [BIN, "pretrain",
                             "--config", config]), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)


def wait_for(proc, predicate, limit=120):
    """Reads the job's output until predicate(line) or the job ends; returns the lines."""
    lines, deadline = [], time.time() + limit
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if predicate(line):
            return lines, True
    return lines, False


def finish_job(proc, lines, limit):
    return "".join(lines) + communicate_or_kill(proc, limit)


def signal_rank_1_when(config, predicate, signal_number):
    """Launches the run, sends rank 1 the signal at the first log line matching
    predicate and waits for the job: (proc, output, signalled, seconds from the signal
    to the end)."""
    proc = launch(config)
    lines, seen = wait_for(proc, predicate)
    pids = rank_pids(config)
    signalled_at = time.time()
    signalled = seen and 1 in pids
    if signalled:
        os.kill(pids[1], signal_number)
    output = finish_job(proc, lines, TIMEOUT_S + 60)
    return proc, output, signalled, time.time() - signalled_at


with tempfile.TemporaryDirectory() as tmp:
    synth_demo(os.path.join(tmp, "demo"), 0.1)

    # SIGSTOP rank 1 mid-epoch.
    config = config_for(tmp, "stopped")
    proc, output, stopped, took = signal_rank_1_when(
        config, lambda line: re.search(r"step 3/", line) is not None, signal.SIGSTOP)
    for pid in rank_pids(config).values():  # leave nothing stopped behind
        os.kill(pid, signal.SIGKILL)
    check("SIGSTOP: rank 1 stopped mid-epoch", stopped, output[-1500:])
    check(f"SIGSTOP: the job ends within dist.timeout_s + 30 s ({took:.1f} s)", took <= TIMEOUT_S + 30)
    check(f"SIGSTOP: non-zero exit ({proc.returncode})", proc.returncode not in (0, None))
    check("SIGSTOP: the timeout message names the collective",
          re.search(r"collective timeout: \w+ #\d+", output) is not None, output[-2500:])

    # SIGKILL rank 1 during the second epoch's refresh.
    config = config_for(tmp, "killed")
    proc, output, killed, took = signal_rank_1_when(
        config, lambda line: "epoch 2: interest refresh started" in line, signal.SIGKILL)
    check("refresh kill: rank 1 killed during the refresh", killed, output[-1500:])
    check(f"refresh kill: the job ends within dist.timeout_s + 30 s ({took:.1f} s)", took <= TIMEOUT_S + 30)
    check(f"refresh kill: non-zero exit ({proc.returncode})", proc.returncode not in (0, None))
    check("refresh kill: the message names rank 1", re.search(r"rank 1\b", output) is not None, output[-2500:])

    # Disk full while writing the second checkpoint.
    full = os.path.join(tmp, "full")
    os.makedirs(full)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1100k", "tmpfs", full],
                             capture_output=True).returncode == 0
    env = dict(os.environ)
    try:
        run_dir = os.path.join(full, "run")
        if not mounted:
            # Root can always mount a tmpfs: only elsewhere is the case left out.
            check("disk full: a tmpfs can be mounted (needed for the case)", os.geteuid() != 0)
            print("(not root: the disk-full case is left out)")
        else:
            code, out, err = run(["pretrain", "--config", config_for(tmp, "full", run_dir=run_dir, log_every=1000)],
                                 mpi_np=2, timeout=240)
            # A full disk is not bad input (2): a failure, 1.
            check(f"disk full: the run fails with exit status 1 (exit {code})", code == 1, err[-1500:])
            check("disk full: the error names the checkpoint file", re.search(r"ckpt-\S+\.partial", err) is not None,
                  err[-2000:])
            checkpoints = os.path.join(run_dir, "checkpoints")
            names = sorted(n for n in os.listdir(checkpoints)) if os.path.isdir(checkpoints) else []
            check("disk full: the previous checkpoint and latest remain, no partial directory",
                  "latest" in names and not any(n.endswith(".partial") for n in names), names)
            if "latest" in names:
                code, out, err = run(["export", "--checkpoint", run_dir, "--format", "native",
                                      "--out", os.path.join(tmp, "from_full.h5")])
                check("disk full: the previous checkpoint verifies and exports", code == 0, out + err)
    finally:
        if mounted:
            subprocess.run(["umount", full])

    # NaN loss at global step 5 (epoch 1 ends at step steps_per_epoch).
    nan_dir = os.path.join(tmp, "nan")
    config = config_for(tmp, "nan", run_dir=nan_dir, max_steps=0)
    code, out, err = run(["pretrain", "--config", config_for(tmp, "probe", max_steps=1)], mpi_np=2)
    steps = re.search(r"(\d+) steps of 128 per epoch", err)
    check("NaN: the probe run (one step) exits 0 and reports its steps per epoch", code == 0 and steps is not None,
          err[-1500:])
    steps_per_epoch = int(steps.group(1)) if steps else 10
    poisoned = steps_per_epoch + 2
    env["MISSREC_FAULT"] = f"nan-loss@{poisoned}"
    proc = subprocess.run(mpi_command(2, [BIN, "pretrain",
                           "--config", config]), capture_output=True, text=True, env=env, timeout=240)
    output = proc.stdout + proc.stderr
    check(f"NaN: the run stops with a failure (exit {proc.returncode})", proc.returncode == 1, output[-1500:])
    check("NaN: the message gives the global step and the loss part",
          f"global step {poisoned}" in output and "seq_item" in output, output[-2500:])
    latest = os.path.realpath(os.path.join(nan_dir, "checkpoints", "latest"))
    check("NaN: the epoch-1 checkpoint is the latest", os.path.basename(latest) == f"ckpt-e0001-s{steps_per_epoch:09d}",
          latest)
    code, out, err = run(["pretrain", "--config", config, "--resume", "latest", "--set", "train.epochs=2"],
                         mpi_np=2, timeout=240)
    check("NaN: resuming from the kept checkpoint without the fault finishes", code == 0, err[-1500:])
finish()
