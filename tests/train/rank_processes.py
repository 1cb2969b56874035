"""Finding the rank processes of a running mpirun or srun job (signal and kill tests)."""
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
        # mpirun sets OMPI_COMM_WORLD_RANK; srun sets only SLURM_PROCID.
        ranks = dict(item.split(b"=", 1) for item in env if b"=" in item)
        rank = ranks.get(b"OMPI_COMM_WORLD_RANK", ranks.get(b"SLURM_PROCID"))
        if rank is not None:
            pids[int(rank)] = int(pid)
    return pids


def signal_rank_after_steps(proc, marker, metrics_path, steps, rank, sig, seconds=120):
    """Sends `sig` to rank `rank` of the job `proc` (found by `marker` on its command line)
    once its metrics.jsonl holds `steps` step records; True when it was sent."""
    import time
    from script_check import count_records
    deadline = time.time() + seconds
    while time.time() < deadline and proc.poll() is None:
        if count_records(metrics_path, "step") >= steps:
            pids = rank_pids(marker)
            if rank in pids:
                os.kill(pids[rank], sig)
                return True
        time.sleep(0.02)
    return False
