"""The missrec executable end to end: help, version, config show, bad input of every
kind (one line on stderr, exit 2), and comm-check under mpirun at np=1 and np=2."""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.environ["MISSREC_SOURCE_DIR"], "tests", "support"))
from script_check import check, failures, finish, run  # noqa: E402

SRC = os.environ["MISSREC_SOURCE_DIR"]






def bad_input(name, args, *expected):
    code, out, err = run(args)
    lines = [line for line in err.splitlines() if line.strip()]
    check(f"{name}: exit 2", code == 2, f"exit {code}\nstdout: {out}\nstderr: {err}")
    check(f"{name}: one stderr line", len(lines) == 1, err)
    for text in expected:
        check(f"{name}: mentions {text!r}", text in err, err)


pretrain = os.path.join(SRC, "configs", "pretrain.yaml")

code, out, _ = run(["--help"])
check("--help lists commands", code == 0 and "comm-check" in out and "config show" in out, out)
code, out, _ = run(["config", "show", "--help"])
check("command --help", code == 0 and "--set" in out, out)
# Each option's default and whether it is required are stated once, in its spec:
# --help prints them, and a missing required option is bad input naming it.
code, out, _ = run(["bench", "train", "--help"])
check("--help prints option defaults", code == 0 and "(default 256)" in out and "(default demo)" in out, out)
code, out, _ = run(["check-model", "--help"])
check("--help marks required options", code == 0 and "(required)" in out and "(default cpu)" in out, out)
bad_input("a required option missing", ["export", "--format", "native", "--out", "x.h5"],
          "--checkpoint DIR is required")

code, out, _ = run(["version"])
check("version", code == 0 and "libtorch:" in out and "mpi: built" in out, out)
check("version names nccl state", "nccl: built" in out or "nccl: not built" in out, out)

bad_input("--set bad value", ["config", "show", "--config", pretrain, "--set", "train.lr=abc"],
          "train.lr", "expected a number")
bad_input("--set typo", ["config", "show", "--config", pretrain, "--set", "trian.lr=1"],
          "did you mean 'train.lr'")
bad_input("--set out of range", ["config", "show", "--set", "model.dropout=1.5"],
          "model.dropout")
bad_input("unknown command", ["pretrian"], "unknown command 'pretrian'")
bad_input("unknown subcommand", ["config", "shw"], "unknown subcommand 'shw'")
bad_input("unknown option", ["config", "show", "--confg", pretrain], "did you mean '--config'")
bad_input("missing value", ["config", "show", "--config"], "--config", "expects a value")
bad_input("repeated option", ["config", "show", "--config", pretrain, "--config", pretrain],
          "given more than once")
bad_input("stray argument", ["version", "extra"], "unexpected argument 'extra'")
bad_input("missing config file", ["config", "show", "--config", "/nonexistent.yaml"],
          "/nonexistent.yaml", "cannot read")
bad_input("comm-check bad size", ["comm-check", "--max-bytes", "lots"], "--max-bytes")

with tempfile.TemporaryDirectory() as tmp:
    broken = os.path.join(tmp, "broken.yaml")
    with open(broken, "w") as f:
        f.write("train:\n  lr: 0.001\n  batch_size: many\n")
    bad_input("bad file value names file:line and key", ["config", "show", "--config", broken],
              f"{broken}:3", "train.batch_size")

    # config show prints YAML that reads back to the same configuration.
    code, shown, err = run(["config", "show", "--config", pretrain, "--set", "train.lr=0.002",
                            "--set", "run.name=exp"])
    check("config show", code == 0, err)
    check("--set wins over the file", "lr: 0.002" in shown, shown)
    check("run.dir default resolved", 'dir: "runs/exp"' in shown, shown)
    again = os.path.join(tmp, "again.yaml")
    with open(again, "w") as f:
        f.write(shown)
    code, reshown, err = run(["config", "show", "--config", again])
    check("config show round-trips", code == 0 and reshown == shown, err)

code, out, err = run(["comm-check", "--max-bytes", "64K"], mpi_np=1)
check("comm-check np=1", code == 0 and "all passed" in out, out + err)
code, out, err = run(["comm-check", "--max-bytes", "1M"], mpi_np=2)
check("comm-check np=2", code == 0 and "20 collectives checked on 2 ranks: all passed" in out,
      out + err)
check("comm-check prints bus bandwidth", "busbw(GB/s)" in out and "1048576" in out, out)
code, out, err = run(["comm-check", "--max-bytes", "8K", "--json"], mpi_np=2)
check("comm-check --json", code == 0 and out.startswith('{"bench":"comm"') and
      '"checks_passed":true' in out, out + err)
code, out, err = run(["comm-check", "--set", "dist.timeout_s=0"], mpi_np=2)
check("comm-check bad config under mpirun: exit 2", code == 2, out + err)
check("comm-check bad config: reported once", err.count("dist.timeout_s") == 1, err)

finish()
