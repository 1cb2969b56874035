"""Checkpoints and the distributed protocol (docs/reliability.md): resuming is bit-exact,
and SIGTERM stops a run with a checkpoint.

* A: 3 epochs uninterrupted on 2 ranks, dropout on (so the RNG states matter).
* B: stopped by train.max_steps in the middle of epoch 2, then --resume latest: the final
  parameters equal A's bit for bit.
* C: SIGTERM to one rank mid-run: the ranks agree on a stop step, write a checkpoint and
  exit 75; --resume latest then finishes with A's parameters bit for bit.
* D: A's newest checkpoint truncated: --resume latest warns, falls back to the previous
  one, retrains the last epoch and again ends with A's parameters.
* The loss falls from epoch 1 to epoch 3.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from script_check import (BIN, SMALL_MODEL, check, finish, mpi_command, read_checkpoint_tensors,
                          read_metrics, run, synth_demo, write_config)

sys.path.insert(0, os.path.dirname(__file__))
from rank_processes import signal_rank_after_steps

EPOCHS = 3


def config_for(tmp, name, **train):
    model = dict(SMALL_MODEL, dropout=0.1, attn_dropout=0.1)
    settings = {"epochs": EPOCHS, "batch_size": 128, "log_every": 1}
    settings.update(train)
    return write_config(os.path.join(tmp, name + ".yaml"), {
        "run": {"dir": os.path.join(tmp, name), "seed": 11},
        "data": {"dir": os.path.join(tmp, "demo", "pretrain")},
        "model": model,
        "train": settings,
        "cluster": {"memory_mb": 64},
        "checkpoint": {"every_epochs": 1, "keep": 3},
    })


def pretrain(config, *extra):
    return run(["pretrain", "--config", config] + list(extra), mpi_np=2, timeout=240)


def final_params(tmp, name):
    return read_checkpoint_tensors(os.path.join(tmp, name, "checkpoints", "latest"))


def same_bits(a, b):
    return sorted(a) == sorted(b) and all(np.array_equal(a[n], b[n]) for n in a)


with tempfile.TemporaryDirectory() as tmp:
    synth_demo(os.path.join(tmp, "demo"), 0.1)

    code, out, err = pretrain(config_for(tmp, "A"))
    check("A: uninterrupted run exits 0", code == 0, out + err)
    reference = final_params(tmp, "A")
    epochs = read_metrics(os.path.join(tmp, "A"), "epoch")
    check("A: one metrics line per epoch", len(epochs) == EPOCHS, epochs)
    if len(epochs) == EPOCHS:
        check(f"A: loss falls ({epochs[0]['loss']:.4f} -> {epochs[-1]['loss']:.4f})",
              epochs[-1]["loss"] < epochs[0]["loss"])
        steps_per_epoch = epochs[0]["steps"]
        check("A: every epoch logs per-domain losses", all(len(e["domain_seq_item"]) == 5 for e in epochs))
    else:
        steps_per_epoch = 10

    # B: stop mid epoch 2 by max_steps, then resume.
    stop_at = steps_per_epoch + steps_per_epoch // 2
    code, out, err = pretrain(config_for(tmp, "B", max_steps=stop_at))
    check("B: run stopped by max_steps exits 0", code == 0, out + err)
    code, out, err = pretrain(config_for(tmp, "B"), "--resume", "latest")
    check("B: resumed run exits 0", code == 0, out + err)
    check("B: resumed from the mid-epoch checkpoint", f"step {stop_at - steps_per_epoch}" in err, err[-2000:])
    check("B: parameters after resuming equal the uninterrupted run's bit for bit",
          same_bits(final_params(tmp, "B"), reference))

    # C: SIGTERM to rank 1 while it trains.
    config_c = config_for(tmp, "C")
    proc = subprocess.Popen(mpi_command(2, [BIN,
                             "pretrain", "--config", config_c]), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    sent = signal_rank_after_steps(proc, config_c, os.path.join(tmp, "C", "metrics.jsonl"), 3, 1, signal.SIGTERM)
    output, _ = proc.communicate(timeout=180)
    check("C: SIGTERM sent to rank 1 during training", sent, output[-2000:])
    check(f"C: stopped run exits 75 (got {proc.returncode})", proc.returncode == 75, output[-3000:])
    check("C: the log says a stop was requested", "stop requested" in output, output[-2000:])
    latest = os.path.join(tmp, "C", "checkpoints", "latest")
    check("C: a checkpoint was written", os.path.exists(os.path.join(latest, "checkpoint.yaml")))
    code, out, err = pretrain(config_c, "--resume", "latest")
    check("C: resumed run exits 0", code == 0, out + err)
    check("C: parameters after stop and resume equal the uninterrupted run's bit for bit",
          same_bits(final_params(tmp, "C"), reference))

    # D: corrupt newest checkpoint -> fallback.
    shutil.copytree(os.path.join(tmp, "A"), os.path.join(tmp, "D"), symlinks=True)
    newest = os.path.realpath(os.path.join(tmp, "D", "checkpoints", "latest"))
    state = os.path.join(newest, "state.h5")
    with open(state, "r+b") as f:
        f.truncate(os.path.getsize(state) // 2)
    code, out, err = pretrain(config_for(tmp, "D"), "--resume", "latest")
    check("D: resume with a truncated newest checkpoint exits 0", code == 0, out + err)
    check("D: the corrupt checkpoint is named in a warning", "checksum mismatch" in err, err[-2000:])
    check("D: the last epoch is retrained to A's parameters bit for bit",
          same_bits(final_params(tmp, "D"), reference))
finish()
