"""Finding the rank processes of a running mpirun job (signal and kill tests)."""
import os


def rank_pids(marker):
    pids = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
            if not cmdline or not cmdline[0].endswith(b"missrec") or marker.encode() not in b" ".join(cmdline):
                continue
            env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
        except OSError:
            continue
        for item in env:
            if item.startswith(b"OMPI_COMM_WORLD_RANK="):
                pids[int(item.split(b"=")[1])] = int(pid)
    return pids
