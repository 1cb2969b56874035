"""Job-wide failure handling under mpirun -np 2:
* a rank skips a collective: the job ends non-zero within dist.timeout_s + 10 s and the
  message names the operation, its number and the reporting rank;
* a rank throws: the job ends non-zero well before the timeout, with the error logged."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from script_check import mpi_command  # noqa: E402

probe = sys.argv[1]


def run(mode, timeout_s):
    start = time.monotonic()
    proc = subprocess.run(
        mpi_command(2, [probe, mode, str(timeout_s)]),
        capture_output=True, text=True, timeout=timeout_s + 60)
    elapsed = time.monotonic() - start
    output = proc.stdout + proc.stderr
    print(output)
    print(f"{mode}: exit {proc.returncode} after {elapsed:.1f} s")
    assert proc.returncode != 0, "the job must fail"
    assert "unreachable" not in output
    return elapsed, output


elapsed, output = run("skip", 3.0)
assert elapsed < 3.0 + 10, f"took {elapsed:.1f} s, limit 13 s"
assert "collective timeout: allreduce #2" in output, "must name the operation and number"
assert "on rank 0 of 2" in output, "must name the reporting rank"

elapsed, output = run("throw", 60.0)
assert elapsed < 30, f"a throwing rank must end the job promptly, took {elapsed:.1f} s"
assert "uncaught error: injected failure on the last rank" in output
assert "r1/2" in output, "the message must carry the failing rank"
print("ok")
