"""Elastic resume: a checkpoint written by P ranks resumes on P' != P. With dropout 0, a
run stopped at P=4, resumed at P'=2 and then at P''=3 computes what an uninterrupted
P=1 run computes (losses of every step and final parameters within 1e-5 relative),
and each resume on another rank count says so in one log line."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from script_check import (SMALL_MODEL, check, finish, max_relative, parameter_error, read_checkpoint_tensors, run,
                          step_losses, synth_demo, write_config)


def config(tmp, name, max_steps):
    return write_config(os.path.join(tmp, f"{name}_{max_steps}.yaml"), {
        "run": {"dir": os.path.join(tmp, name), "seed": 7},
        "data": {"dir": os.path.join(tmp, "demo", "pretrain")},
        "model": SMALL_MODEL,
        "train": {"epochs": 2, "batch_size": 96, "max_steps": max_steps, "log_every": 1},
        "cluster": {"interest_ratio": 0.02, "memory_mb": 64},
    })


with tempfile.TemporaryDirectory() as tmp:
    synth_demo(os.path.join(tmp, "demo"), 0.05)
    code, out, err = run(["pretrain", "--config", config(tmp, "whole", 9)], mpi_np=1, timeout=300)
    check("uninterrupted P=1 run exits 0", code == 0, out + err)
    # 4 ranks for 3 steps, 2 ranks to step 6, 3 ranks to step 9 (the second stage crosses
    # into epoch 2 when an epoch is shorter than 6 steps).
    for ranks, max_steps, resume in [(4, 3, []), (2, 6, ["--resume", "latest"]), (3, 9, ["--resume", "latest"])]:
        code, out, err = run(["pretrain", "--config", config(tmp, "elastic", max_steps)] + resume, mpi_np=ranks,
                             timeout=300)
        check(f"P={ranks} to step {max_steps} exits 0", code == 0, out + err)
        lines = [line for line in err.splitlines() if "elastic resume" in line]
        if resume:
            check(f"P={ranks}: one log line says the resume is elastic", len(lines) == 1, err[-2000:])
            if lines:
                print("     " + lines[0].strip())
        else:
            check("the first run does not call itself elastic", not lines)
    a, b = step_losses(os.path.join(tmp, "elastic")), step_losses(os.path.join(tmp, "whole"))
    check("9 steps logged by both", len(a) == 9 and len(b) == 9, f"{len(a)} and {len(b)}")
    error = max_relative(a, b) if a.shape == b.shape else float("inf")
    check(f"losses of every step equal within 1e-5 relative (max {error:.2e})", error <= 1e-5)
    worst = parameter_error(read_checkpoint_tensors(os.path.join(tmp, "elastic", "checkpoints", "latest")),
                            read_checkpoint_tensors(os.path.join(tmp, "whole", "checkpoints", "latest")),
                            SMALL_MODEL["hidden_size"])
    check(f"final parameters equal within 1e-5 relative (max {worst:.2e})", worst <= 1e-5)
finish()
