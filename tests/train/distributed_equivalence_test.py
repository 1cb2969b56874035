"""Distributed pretraining (global in-batch negatives, docs/architecture.md) and the
distributed protocol (docs/reliability.md): with dropout 0, pretraining on 2 ranks
computes what 1 rank computes on the same global batches: the losses of every step and
the parameters after 5 steps agree within 1e-5 relative (global in-batch negatives
through the all-gather whose backward returns each rank its rows' gradients, and one
fused gradient allreduce). Local negatives, the option, differ at np=2 (a check that the
comparison can fail)."""
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from script_check import (SMALL_MODEL, check, finish, read_checkpoint_tensors, read_metrics, run,
                          synth_demo, write_config)

STEPS = 5


def pretrain(tmp, name, ranks, negatives="global"):
    run_dir = os.path.join(tmp, name)
    config = write_config(os.path.join(tmp, name + ".yaml"), {
        "run": {"dir": run_dir, "seed": 7},
        "data": {"dir": os.path.join(tmp, "demo", "pretrain")},
        "model": SMALL_MODEL,
        "train": {"epochs": 1, "batch_size": 96, "max_steps": STEPS, "log_every": 1},
        "contrastive": {"negatives": negatives},
        "cluster": {"interest_ratio": 0.02, "memory_mb": 64},
    })
    code, out, err = run(["pretrain", "--config", config], mpi_np=ranks, timeout=240)
    check(f"{name}: pretrain at np={ranks} exits 0", code == 0, out + err)
    latest = os.path.join(run_dir, "checkpoints", "latest")
    losses = [(m["loss"], m["seq_item"], m["seq_seq"], m["reg"]) for m in read_metrics(run_dir, "step")]
    return read_checkpoint_tensors(latest), np.array(losses)


def max_relative(a, b):
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-6)))


with tempfile.TemporaryDirectory() as tmp:
    synth_demo(os.path.join(tmp, "demo"), 0.05)
    one, losses_one = pretrain(tmp, "np1", 1)
    two, losses_two = pretrain(tmp, "np2", 2)
    check("5 steps logged by both runs", len(losses_one) == STEPS and len(losses_two) == STEPS,
          f"{len(losses_one)} and {len(losses_two)}")
    same_steps = len(losses_one) == len(losses_two) == STEPS
    error = max_relative(losses_two, losses_one) if same_steps else float("inf")
    check(f"losses of every step equal within 1e-5 relative (max {error:.2e})", error <= 1e-5)
    check("same parameter names", sorted(one) == sorted(two))
    # Relative error per tensor: |a - b| / |b| (L2). Adam divides each element's step by
    # its gradient's running scale, so elements whose gradient is rounding-sized move by
    # rounding-sized but amplified amounts; they are bounded by the absolute check. The
    # key block of every in_proj_bias has a zero gradient in exact arithmetic (softmax is
    # shift invariant): compared in absolute terms only.
    hidden = SMALL_MODEL["hidden_size"]
    worst_name, worst, worst_abs, key_bias = "", 0.0, 0.0, 0.0
    for name in one:
        a, b = one[name].astype(np.float64), two[name].astype(np.float64)
        if name.endswith("in_proj_bias"):
            key_bias = max(key_bias, float(np.max(np.abs(a[hidden:2 * hidden] - b[hidden:2 * hidden]))))
            a = np.concatenate([a[:hidden], a[2 * hidden:]])
            b = np.concatenate([b[:hidden], b[2 * hidden:]])
        error = float(np.linalg.norm(a - b) / max(np.linalg.norm(a), 1e-12))
        worst_abs = max(worst_abs, float(np.max(np.abs(a - b))))
        if error > worst:
            worst_name, worst = name, error
    check(f"parameters after {STEPS} steps equal within 1e-5 relative (max {worst:.2e} in {worst_name})",
          worst <= 1e-5)
    check(f"no parameter value differs by more than 1e-5 (max {worst_abs:.2e}; Adam's step is 1e-3)",
          worst_abs <= 1e-5)
    check(f"attention key biases (zero gradient) equal within 1e-5 absolute (max {key_bias:.2e})",
          key_bias <= 1e-5)
    local, losses_local = pretrain(tmp, "np2_local", 2, negatives="local")
    same_steps = len(losses_local) == len(losses_one) == STEPS
    check("the local-negatives run logged the same 5 steps", same_steps, f"{len(losses_local)}")
    check("local negatives at np=2 give other losses (the comparison can fail)",
          same_steps and max_relative(losses_local, losses_one) > 1e-3)
finish()
