"""The distributed protocol (docs/reliability.md): a rank that dies ends the whole job
with a non-zero status within dist.timeout_s + 30 s and a message naming the rank, never
a hang. Rank 1 is killed with SIGKILL in the middle of an epoch; rank 0 is then blocked
in a collective."""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from script_check import (BIN, SMALL_MODEL, check, communicate_or_kill, count_records, finish, mpi_command,
                          synth_demo, write_config)

sys.path.insert(0, os.path.dirname(__file__))
from rank_processes import rank_pids

TIMEOUT_S = 20

with tempfile.TemporaryDirectory() as tmp:
    synth_demo(os.path.join(tmp, "demo"), 0.1)
    config = write_config(os.path.join(tmp, "run.yaml"), {
        "run": {"dir": os.path.join(tmp, "run")},
        "data": {"dir": os.path.join(tmp, "demo", "pretrain")},
        "model": SMALL_MODEL,
        "train": {"epochs": 50, "batch_size": 128, "log_every": 1},
        "cluster": {"memory_mb": 64},
        "dist": {"timeout_s": TIMEOUT_S},
    })
    proc = subprocess.Popen(mpi_command(2, [BIN,
                             "pretrain", "--config", config]), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    metrics = os.path.join(tmp, "run", "metrics.jsonl")
    killed_at, deadline = None, time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if count_records(metrics, "step") >= 3:
            pids = rank_pids(config)
            if 1 in pids:
                os.kill(pids[1], signal.SIGKILL)
                killed_at = time.time()
                break
        time.sleep(0.02)
    output = communicate_or_kill(proc, TIMEOUT_S + 60)
    ended = time.time()
    check("rank 1 killed mid-epoch", killed_at is not None, output[-2000:])
    if killed_at is not None:
        took = ended - killed_at
        check(f"the job ends within dist.timeout_s + 30 s ({took:.1f} s)", took <= TIMEOUT_S + 30, output[-2000:])
    check(f"exit status is non-zero ({proc.returncode})", proc.returncode not in (0, None))
    check("the message names rank 1", re.search(r"rank 1\b", output) is not None, output[-3000:])
    leftover = rank_pids(config)
    check("no rank process is left running", not leftover, leftover)
finish()
