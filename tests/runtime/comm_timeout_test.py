"""A rank skips a collective: the job must end non-zero within dist.timeout_s + 10 s
and the message must name the operation and the reporting rank."""
import os
import subprocess
import sys
import time

probe = sys.argv[1]
mpiexec = os.environ.get("MISSREC_MPIEXEC", "mpirun")
timeout_s = 3.0
start = time.monotonic()
proc = subprocess.run(
    [mpiexec, "--allow-run-as-root", "--oversubscribe", "-np", "2", probe, str(timeout_s)],
    capture_output=True, text=True, timeout=timeout_s + 60)
elapsed = time.monotonic() - start
output = proc.stdout + proc.stderr
print(output)
print(f"exit {proc.returncode} after {elapsed:.1f} s")
assert proc.returncode != 0, "the job must fail"
assert elapsed < timeout_s + 10, f"took {elapsed:.1f} s, limit {timeout_s + 10}"
assert "collective timeout: allreduce #2" in output, "message must name the operation and number"
assert "on rank 0 of 2" in output, "message must name the reporting rank"
assert "unreachable" not in output
print("ok")
