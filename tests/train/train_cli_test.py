"""Bad input to pretrain and export: one line naming the key, flag or file, exit
status 2, and nothing left behind."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from script_check import SMALL_MODEL, check, finish, run, synth_demo, write_config


def expect_bad_input(name, args, needle, mpi_np=None):
    code, out, err = run(args, mpi_np=mpi_np, timeout=120)
    check(f"{name}: exit 2 (got {code})", code == 2, out + err)
    check(f"{name}: message names '{needle}'", needle in err, err[-1500:])


with tempfile.TemporaryDirectory() as tmp:
    synth_demo(os.path.join(tmp, "demo"), 0.05)
    data = os.path.join(tmp, "demo", "pretrain")
    run_dir = os.path.join(tmp, "never")
    base = ["pretrain", "--set", f"run.dir={run_dir}"]
    expect_bad_input("no data.dir", base, "data.dir")
    expect_bad_input("missing dataset", base + ["--set", f"data.dir={tmp}/nothing"], "dataset.yaml")
    expect_bad_input("resume without checkpoints", base + ["--set", f"data.dir={data}", "--resume", "latest"],
                     "no checkpoint")
    expect_bad_input("batch not divisible by the ranks",
                     base + ["--set", f"data.dir={data}", "--set", "train.batch_size=97"], "train.batch_size",
                     mpi_np=2)
    check("no run directory left behind by bad input", not os.path.exists(run_dir))

    good = os.path.join(tmp, "good")
    config = write_config(os.path.join(tmp, "good.yaml"), {
        "run": {"dir": good}, "data": {"dir": data}, "model": SMALL_MODEL,
        "train": {"epochs": 1, "batch_size": 64, "max_steps": 2}, "cluster": {"memory_mb": 64}})
    code, out, err = run(["pretrain", "--config", config])
    check("a 2-step run exits 0", code == 0, out + err)
    out_file = os.path.join(tmp, "model.pth")
    expect_bad_input("export: unknown format", ["export", "--checkpoint", good, "--format", "onnx", "--out", out_file],
                     "--format")
    expect_bad_input("export: not a checkpoint", ["export", "--checkpoint", tmp, "--format", "pytorch", "--out", out_file],
                     "checkpoint.yaml")
    latest = os.path.realpath(os.path.join(good, "checkpoints", "latest"))
    with open(os.path.join(latest, "config.yaml"), "a") as f:
        f.write("# edited\n")
    expect_bad_input("export: a file changed after writing", ["export", "--checkpoint", good, "--format", "pytorch",
                                                              "--out", out_file], "checksum mismatch")
    check("no export left behind", not os.path.exists(out_file) and not os.path.exists(out_file + ".partial"))
    expect_bad_input("encode: not an export", ["encode", "--model", os.path.join(latest, "state.h5"), "--data", data,
                                               "--out", os.path.join(tmp, "z.h5")], "missrec-export")
finish()
