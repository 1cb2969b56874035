"""Fine-tuning survives interruption (docs/reliability.md): its checkpoints carry the best
model, the early-stopping state and the RNG, so an interrupted-then-resumed run is the
uninterrupted one.

* A: transductive fine-tuning on 2 ranks, dropout on, 4 epochs, a checkpoint per epoch.
* B: stopped by train.max_steps in the middle of epoch 2, then --resume latest: the same
  test metrics, best epoch and best model, bit for bit, as A.
* C: SIGUSR1 to rank 1 mid-run: the ranks agree on a stop step, write a checkpoint and
  exit 75; --resume latest then gives A's test metrics and best model bit for bit.
* T: SIGTERM to rank 0 mid-run: the same agreed stop, checkpoint and exit 75; the resume
  gives A's outcome bit for bit.
* D: a mid-epoch checkpoint resumed on 1 rank (elastic): best model within 1e-5
  relative (per-tensor L2) of an uninterrupted run's with dropout off (the per-rank dropout draws differ by design).
* S: early stopping survives a resume: patience 2; an uninterrupted run stops early; the
  same run stopped in its last epoch, after an epoch without improvement (the counter at
  1), resumes and stops after the same epoch with the same best model: a lost counter
  would train an epoch more.
* E: a finished run resumes as finished: it only tests.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from script_check import (BIN, SMALL_MODEL, check, finish, mpi_command, parameter_error, read_metrics,
                          run, synth_demo, write_config)

sys.path.insert(0, os.path.dirname(__file__))
from rank_processes import signal_rank_after_steps


def config_for(tmp, name, dropout=0.1, patience=3, **train):
    settings = {"epochs": 4, "batch_size": 64, "lr": 1e-3, "log_every": 1}
    settings.update(train)
    return write_config(os.path.join(tmp, name + ".yaml"), {
        "run": {"dir": os.path.join(tmp, name), "seed": 5},
        "data": {"dir": os.path.join(tmp, "demo", "downstream")},
        "model": dict(SMALL_MODEL, dropout=dropout, attn_dropout=dropout),
        "train": settings,
        "cluster": {"interest_ratio": 0.5, "memory_mb": 64},
        "finetune": {"mode": "transductive", "patience": patience},
        "checkpoint": {"every_epochs": 1, "keep": 2},
    })


def finetune(config, *extra, ranks=2):
    return run(["finetune", "--config", config] + list(extra), mpi_np=ranks, timeout=300)


def outcome(tmp, name):
    """(test metrics, best epoch, best model tensors) of a finished run."""
    with open(os.path.join(tmp, name, "test_metrics.json")) as f:
        metrics = json.load(f)
    with h5py.File(os.path.join(tmp, name, "best.h5"), "r") as f:
        best = {n: f["model"][n][()] for n in f["model"]}
        epoch = int(f.attrs["epoch"])
    return metrics, epoch, best


def same(a, b):
    return a[0] == b[0] and a[1] == b[1] and sorted(a[2]) == sorted(b[2]) and all(
        np.array_equal(a[2][n], b[2][n]) for n in a[2])


with tempfile.TemporaryDirectory() as tmp:
    synth_demo(os.path.join(tmp, "demo"), 0.1)

    code, out, err = finetune(config_for(tmp, "A"))
    check("A: uninterrupted fine-tuning exits 0", code == 0, out + err)
    reference = outcome(tmp, "A")
    epochs = read_metrics(os.path.join(tmp, "A"), "epoch")
    steps_per_epoch = epochs[0]["steps"] if epochs else 4
    check("A: more than 2 steps per epoch (a mid-epoch stop is possible)", steps_per_epoch > 2, epochs)
    check("A: a checkpoint per epoch", len(read_metrics(os.path.join(tmp, "A"), "checkpoint")) == len(epochs))

    # B: max_steps in the middle of epoch 2, then resume.
    stop_at = steps_per_epoch + steps_per_epoch // 2
    code, out, err = finetune(config_for(tmp, "B", max_steps=stop_at))
    check("B: run stopped by max_steps exits 0", code == 0, out + err)
    mid = os.path.realpath(os.path.join(tmp, "B", "checkpoints", "latest"))
    check("B: the mid-epoch checkpoint carries the best model", os.path.exists(os.path.join(mid, "best.h5")))
    code, out, err = finetune(config_for(tmp, "B"), "--resume", "latest")
    check("B: resumed run exits 0", code == 0, out + err)
    check("B: test metrics, best epoch and best model equal A's bit for bit", same(outcome(tmp, "B"), reference),
          (outcome(tmp, "B")[:2], reference[:2]))

    # C: SIGUSR1 to rank 1, T: SIGTERM to rank 0, while they train.
    for name, sig, rank, after in [("C", signal.SIGUSR1, 1, steps_per_epoch + 1),
                                   ("T", signal.SIGTERM, 0, 2 * steps_per_epoch + 1)]:
        config = config_for(tmp, name)
        proc = subprocess.Popen(mpi_command(2, [BIN, "finetune", "--config", config]), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        sent = signal_rank_after_steps(proc, config, os.path.join(tmp, name, "metrics.jsonl"), after, rank, sig)
        output, _ = proc.communicate(timeout=180)
        check(f"{name}: {sig.name} sent to rank {rank} during training", sent, output[-2000:])
        check(f"{name}: stopped run exits 75 (got {proc.returncode})", proc.returncode == 75, output[-3000:])
        check(f"{name}: no test ran before the stop", not os.path.exists(os.path.join(tmp, name, "test_metrics.json")))
        code, out, err = finetune(config, "--resume", "latest")
        check(f"{name}: resumed run exits 0", code == 0, out + err)
        check(f"{name}: test metrics, best epoch and best model equal A's bit for bit",
              same(outcome(tmp, name), reference))

    # D: elastic, dropout off on both sides.
    code, out, err = finetune(config_for(tmp, "A0", dropout=0.0))
    check("A0: uninterrupted run without dropout exits 0", code == 0, out + err)
    code, out, err = finetune(config_for(tmp, "D0", dropout=0.0, max_steps=stop_at))
    check("D0: stopped at 2 ranks exits 0", code == 0, out + err)
    code, out, err = finetune(config_for(tmp, "D0", dropout=0.0), "--resume", "latest", ranks=1)
    check("D0: resumed on 1 rank exits 0", code == 0, out + err)
    check("D0: the resume says it is elastic", "elastic resume" in err, err[-2000:])
    a0, d0 = outcome(tmp, "A0"), outcome(tmp, "D0")
    worst = parameter_error(d0[2], a0[2], SMALL_MODEL["hidden_size"])
    check(f"D0: best model within 1e-5 relative of the uninterrupted run's (max {worst:.2e})", worst <= 1e-5)
    check("D0: same best epoch", d0[1] == a0[1], (d0[1], a0[1]))

    # S: the early-stopping counter is part of the checkpoint.
    code, out, err = finetune(config_for(tmp, "S", patience=2, epochs=12, lr=3e-3))
    check("S: uninterrupted run with patience 2 exits 0", code == 0, out + err)
    s_epochs = read_metrics(os.path.join(tmp, "S"), "epoch")
    last = s_epochs[-1]["epoch"]
    check(f"S: it stops early (after epoch {last} of 12)", last < 12, s_epochs)
    check("S: the epoch before its last did not improve (the counter was 1 there)",
          last >= 3 and s_epochs[-2]["best_epoch"] < last - 1, [(e["epoch"], e["best_epoch"]) for e in s_epochs])
    code, out, err = finetune(config_for(tmp, "S2", patience=2, epochs=12, lr=3e-3,
                                         max_steps=(last - 1) * steps_per_epoch + steps_per_epoch // 2))
    check("S2: stopped in the last epoch exits 0", code == 0, out + err)
    code, out, err = finetune(config_for(tmp, "S2", patience=2, epochs=12, lr=3e-3), "--resume", "latest")
    check("S2: resumed run exits 0", code == 0, out + err)
    s2_epochs = read_metrics(os.path.join(tmp, "S2"), "epoch")
    check("S2: stops after the same epoch", s2_epochs[-1]["epoch"] == last, (s2_epochs[-1]["epoch"], last))
    check("S2: test metrics, best epoch and best model equal S's bit for bit", same(outcome(tmp, "S2"), outcome(tmp, "S")))

    # E: a finished run resumes as finished.
    code, out, err = finetune(config_for(tmp, "A"), "--resume", "latest")
    check("E: resuming a finished run exits 0", code == 0, out + err)
    check("E: it says the run is at its end and only tests", "already at the end" in err, err[-2000:])
    check("E: the same test metrics", outcome(tmp, "A")[0] == reference[0])
    code, out, err = finetune(config_for(tmp, "S", patience=2, epochs=12, lr=3e-3), "--resume", "latest")
    check("E: resuming a run that stopped early exits 0 and only tests",
          code == 0 and "already at the end" in err, err[-2000:])
finish()
