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


def run(args, mpi_np=None, timeout=300):
    cmd = [BIN] + args
    if mpi_np is not None:
        cmd = [MPIEXEC, "--allow-run-as-root", "--oversubscribe", "-np", str(mpi_np)] + cmd
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


def finish():
    print(f"{len(failures)} failures")
    sys.exit(1 if failures else 0)
