"""Shared helpers for the Python drivers of the missrec executable: run it, record
checks, exit non-zero when any failed."""
import os
import subprocess
import sys

BIN = os.environ.get("MISSREC_BIN", "missrec")
MPIEXEC = os.environ.get("MISSREC_MPIEXEC", "mpirun")
failures = []


def check(name, condition, detail=""):
    print(("ok   " if condition else "FAIL ") + name)
    if not condition:
        failures.append(name)
        if detail:
            print("     " + str(detail).replace("\n", "\n     "))


def mpi_command(np, command):
    """`command` (a list) under mpirun with np ranks: the one place that holds the Open MPI
    flags the tests need (root in containers, more ranks than cores)."""
    return [MPIEXEC, "--allow-run-as-root", "--oversubscribe", "-np", str(np)] + list(command)


def run(args, mpi_np=None, timeout=300):
    cmd = [BIN] + args
    if mpi_np is not None:
        cmd = mpi_command(mpi_np, cmd)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


def communicate_or_kill(proc, seconds):
    """The output of a Popen'd job (stdout piped, stderr merged), killing it when it has
    not ended within seconds, which the output then says."""
    try:
        output, _ = proc.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
        output += f"\n(hung: killed by the test after {seconds} s)"
    return output


def finish():
    print(f"{len(failures)} failures")
    sys.exit(1 if failures else 0)


def synth_demo(out, scale, seed=2020, max_seq_len=50):
    """A small demo dataset: out/pretrain (five domains) and out/downstream."""
    code, stdout, stderr = run(["data", "synth", "--preset", "demo", "--out", out, "--scale", str(scale),
                                "--seed", str(seed), "--max-seq-len", str(max_seq_len)])
    if code != 0:
        raise RuntimeError(f"data synth failed: {stdout}{stderr}")
    return out


def write_config(path, sections):
    """Writes a YAML config from {section: {key: value}}."""
    with open(path, "w") as f:
        for section, values in sections.items():
            f.write(f"{section}:\n")
            for key, value in values.items():
                f.write(f"  {key}: {value}\n")
    return path


# A model small enough for tests on two cores (MISSRec's structure, smaller widths).
SMALL_MODEL = {"hidden_size": 32, "n_heads": 2, "n_layers": 2, "inner_size": 64,
               "dropout": 0.0, "attn_dropout": 0.0, "max_seq_len": 50}


def read_checkpoint_tensors(ckpt_dir, group="model"):
    """{name: numpy array} of one group of a checkpoint's state.h5."""
    import h5py
    with h5py.File(os.path.join(ckpt_dir, "state.h5"), "r") as f:
        return {name: f[group][name][()] for name in f[group]}


def count_records(metrics_path, kind):
    """How many complete records of `kind` a metrics.jsonl being written holds (0 while it
    does not exist; a half-written last line is not counted)."""
    import json
    if not os.path.exists(metrics_path):
        return 0
    count = 0
    with open(metrics_path) as f:
        for line in f:
            try:
                count += json.loads(line).get("kind") == kind
            except ValueError:
                pass
    return count


def read_metrics(run_dir, kind):
    import json
    lines = []
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        for line in f:
            record = json.loads(line)
            if record.get("kind") == kind:
                lines.append(record)
    return lines


def step_losses(run_dir):
    """[(loss, seq_item, seq_seq, reg)] of every step record, by global step."""
    import numpy as np
    records = sorted(read_metrics(run_dir, "step"), key=lambda m: m["global_step"])
    return np.array([(m["loss"], m["seq_item"], m["seq_seq"], m["reg"]) for m in records])


def max_relative(a, b):
    import numpy as np
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-6)))


def parameter_error(actual, expected, hidden):
    """The worst per-tensor L2 relative error between two {name: array} parameter sets.
    The key block of every in_proj_bias is left out: its gradient is zero in exact
    arithmetic (softmax is shift invariant), so it only moves by rounding."""
    import numpy as np
    worst = 0.0
    for name in expected:
        x, y = actual[name].astype(np.float64), expected[name].astype(np.float64)
        if name.endswith("in_proj_bias"):
            x = np.concatenate([x[:hidden], x[2 * hidden:]])
            y = np.concatenate([y[:hidden], y[2 * hidden:]])
        worst = max(worst, float(np.linalg.norm(x - y) / max(np.linalg.norm(y), 1e-12)))
    return worst
