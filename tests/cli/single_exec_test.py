"""A missrec command starts once: under `strace -f -e trace=execve` each command makes
exactly one execve of the missrec executable (its own start; Open MPI's orted may follow), with the launcher's BLAS/OpenMP settings present
(launch/env.sh) and without them; without them a training command warns once, naming
what is missing, and still runs. Skipped (CTest status 77) without strace."""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from script_check import BIN, check, finish  # noqa: E402

if shutil.which("strace") is None:
    print("single_exec_test: skipped: strace not found (scripts/setup.sh installs it)")
    sys.exit(77)

BLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_THREAD_TIMEOUT", "GOTO_THREAD_TIMEOUT", "GOMP_SPINCOUNT",
                  "OMP_WAIT_POLICY")
bare = {k: v for k, v in os.environ.items() if k not in BLAS_VARIABLES}
SOURCE = os.environ.get("MISSREC_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
# What the launchers export: launch/env.sh sourced into the bare environment.
sourced = subprocess.run(["bash", "-c", '. "$0"; env -0', os.path.join(SOURCE, "launch", "env.sh")], env=bare,
                         capture_output=True, text=True, check=True).stdout
launched = dict(item.split("=", 1) for item in sourced.split("\0") if "=" in item)


def execs(args, env):
    with tempfile.NamedTemporaryFile("r", suffix=".strace") as trace:
        proc = subprocess.run(["strace", "-f", "-qq", "-e", "trace=execve", "-o", trace.name, BIN] + args, env=env,
                              capture_output=True, text=True, timeout=120)
        # Only execs of missrec itself count: a singleton MPI run also starts Open MPI's orted.
        target = os.path.realpath(BIN)
        calls = [line for line in trace.read().splitlines()
                 if "execve(" in line and f'execve("{target}"' in line.replace(BIN, target)]
    return proc, calls


with tempfile.TemporaryDirectory() as tmp:
    data = os.path.join(tmp, "demo")
    subprocess.run([BIN, "data", "synth", "--preset", "downstream", "--out", data, "--scale", "0.05",
                    "--feature-dim", "16"], check=True, capture_output=True, env=launched)
    commands = [["version"], ["config", "show"], ["data", "inspect", data],
                ["cluster", "--help"]]
    for env_name, env in (("without the settings", bare), ("with the launcher's settings", launched)):
        for args in commands:
            proc, calls = execs(args, env)
            check(f"missrec {' '.join(args)} {env_name} exits 0", proc.returncode == 0, proc.stderr[-1000:])
            check(f"missrec {' '.join(args)} {env_name}: exactly one execve ({len(calls)})", len(calls) == 1,
                  "\n".join(calls))
    # A training command warns once when the settings are missing, and not when present.
    run_args = ["finetune", "--set", f"data.dir={data}", "--set", f"run.dir={os.path.join(tmp, 'run')}",
                "--set", "train.epochs=1", "--set", "train.max_steps=1", "--set", "model.hidden_size=16",
                "--set", "model.inner_size=32", "--set", "model.n_heads=2", "--set", "train.batch_size=32"]
    proc, calls = execs(run_args, bare)
    check("a training command without the settings runs (exit 0)", proc.returncode == 0, proc.stderr[-2000:])
    check("it makes one execve", len(calls) == 1, "\n".join(calls))
    warnings = [line for line in proc.stderr.splitlines() if "missing from the environment" in line]
    check("it warns once, naming the missing settings and launch/env.sh",
          len(warnings) == 1 and "GOMP_SPINCOUNT" in warnings[0] and "launch/env.sh" in warnings[0], warnings)
    shutil.rmtree(os.path.join(tmp, "run"))
    proc, _ = execs(run_args, launched)
    check("with the settings present it does not warn", "missing from the environment" not in proc.stderr,
          proc.stderr[-1000:])
finish()
