"""launch/slurm/pretrain.sbatch across 2 Slurm nodes: one slurmd per test host
(launch/testbed/hosts.sh, launch/slurm/local_cluster.sh --testbed), 2 tasks per node.

1. `--nodes=2` runs to the end; the log places ranks 0-1 and 2-3 on the two hosts.
2. `scancel --signal=USR1` mid-epoch: checkpoint, exit 75, requeue, resume on 2 nodes;
   the final state equals the uninterrupted 2-node run's bit for bit.
3. Requeued onto fewer nodes (the second node drained, the waiting job updated to 1
   node, 2 tasks and 2 CPUs): the job resumes on 1 node (2 ranks), says so (elastic resume), and finishes.
4. Every task of one node killed: the job ends within dist.timeout_s + 30 s, FAILED, not
   requeued, and srun names the lost tasks and their host.
Skipped (77) without root, iproute2 or slurm-wlm/munge."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from script_check import BIN, SMALL_MODEL, check, count_records, finish, read_metrics, synth_demo, write_config

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "train"))
from rank_processes import rank_pids

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
HOSTS_SH = os.path.join(ROOT, "launch", "testbed", "hosts.sh")
LOCAL_CLUSTER = os.path.join(ROOT, "launch", "slurm", "local_cluster.sh")
PRETRAIN_SBATCH = os.path.join(ROOT, "launch", "slurm", "pretrain.sbatch")
TIMEOUT_S = 30
FINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL"}

missing = [tool for tool in ("munged", "slurmctld", "slurmd", "sbatch", "ip", "unshare") if shutil.which(tool) is None]
if missing or os.geteuid() != 0:
    print(f"skipped: needs root and {', '.join(missing) or 'nothing else'}")
    sys.exit(77)


def read(path):
    return open(path).read() if os.path.exists(path) else f"({path} missing)"


with tempfile.TemporaryDirectory() as tmp:
    bed = os.path.join(tmp, "bed")
    cluster_dir = os.path.join(tmp, "slurm")
    proc = subprocess.run([HOSTS_SH, "start", "2", bed], capture_output=True, text=True, timeout=120)
    check("the test bed starts", proc.returncode == 0, proc.stdout + proc.stderr)
    if proc.returncode != 0:
        finish()
    hosts = [line.split()[1] for line in open(os.path.join(bed, "hosts")) if line.strip()]
    env = dict(os.environ, SLURM_CONF=os.path.join(cluster_dir, "slurm.conf"), MISSREC=BIN)

    def on_first(args, timeout=60, extra_env=None):
        proc = subprocess.run([os.path.join(bed, "on"), hosts[0]] + args, capture_output=True, text=True,
                              timeout=timeout, env=dict(env, **(extra_env or {})))
        return proc.returncode, proc.stdout + proc.stderr

    def job_fields(job_id):
        _, text = on_first(["scontrol", "show", "job", str(job_id)])
        return dict(re.findall(r"(\w+)=(\S+)", text))

    def wait_for_end(job_id, seconds):
        deadline, settled, fields = time.time() + seconds, 0, {}
        while time.time() < deadline:
            fields = job_fields(job_id)
            settled = settled + 1 if fields.get("JobState") in FINAL_STATES else 0
            if settled == 2:
                return fields
            time.sleep(1.0 if settled else 0.3)
        return dict(fields, JobState=f"{fields.get('JobState')} (still, after {seconds} s)")

    def submit(run_dir, log, nodes="2", extra=()):
        code, out = on_first(["sbatch", "--parsable", f"--nodes={nodes}", "--ntasks-per-node=2", "--cpus-per-task=1",
                              "--gpus-per-task=0", f"--output={log}", PRETRAIN_SBATCH, *extra],
                             extra_env={"CONFIG": config, "RUN_DIR": run_dir})
        job_id = out.strip().split(";")[0]
        check(f"sbatch accepts the job ({run_dir})", code == 0 and job_id.isdigit(), out)
        return job_id

    def wait_for_steps(run_dir, count, job_id, seconds=180):
        deadline = time.time() + seconds
        while time.time() < deadline and job_fields(job_id).get("JobState") not in FINAL_STATES:
            if count_records(os.path.join(run_dir, "metrics.jsonl"), "step") >= count:
                return True
            time.sleep(0.1)
        return False

    def state(run_dir):
        import h5py
        link = os.path.join(run_dir, "checkpoints", "latest")
        if not os.path.exists(link):
            return None, {}
        arrays = {}
        with h5py.File(os.path.join(link, "state.h5"), "r") as f:
            f.visititems(lambda n, item: arrays.__setitem__(n, item[()]) if isinstance(item, h5py.Dataset) else None)
        return os.path.basename(os.path.realpath(link)), arrays

    try:
        code, out = subprocess.run([LOCAL_CLUSTER, "start", cluster_dir, "--testbed", bed], capture_output=True,
                                   text=True, timeout=120).returncode, ""
        check("a 2-node Slurm cluster starts on the test hosts", code == 0,
              "\n".join(read(os.path.join(cluster_dir, "log", name))[-1500:]
                        for name in sorted(os.listdir(os.path.join(cluster_dir, "log")))
                        if os.path.isdir(os.path.join(cluster_dir, "log"))))
        if code != 0:
            raise SystemExit
        synth_demo(os.path.join(tmp, "demo"), 0.1)
        config = write_config(os.path.join(tmp, "pretrain.yaml"), {
            "run": {"seed": 2020},
            "data": {"dir": os.path.join(tmp, "demo", "pretrain")},
            "model": SMALL_MODEL,
            "train": {"epochs": 2, "batch_size": 64, "log_every": 5},
            "checkpoint": {"every_epochs": 1, "keep": 3},
            "dist": {"timeout_s": TIMEOUT_S},
        })

        # 1. The whole run on 2 nodes.
        whole_dir, whole_log = os.path.join(tmp, "whole"), os.path.join(tmp, "whole.out")
        start = time.time()
        fields = wait_for_end(submit(whole_dir, whole_log), 400)
        log = read(whole_log)
        print(f"     2-node run: {fields.get('JobState')} in {time.time() - start:.1f} s")
        check("the 2-node job completes", fields.get("JobState") == "COMPLETED" and fields.get("ExitCode") == "0:0",
              log[-3000:])
        placement = f"on {hosts[0]} (ranks 0-1), {hosts[1]} (ranks 2-3)"
        check(f"its ranks ran {placement}", placement in log, log[:3000])
        whole_name, whole = state(whole_dir)

        # 2. USR1 mid-epoch: checkpoint, requeue, resume on 2 nodes, the same final state.
        usr1_dir, usr1_log = os.path.join(tmp, "usr1"), os.path.join(tmp, "usr1.out")
        job_id = submit(usr1_dir, usr1_log)
        check("the job trains", wait_for_steps(usr1_dir, 3, job_id), read(usr1_log)[-2000:])
        code, out = on_first(["scancel", "--signal=USR1", job_id])
        check("scancel --signal=USR1 is accepted", code == 0, out)
        fields = wait_for_end(job_id, 400)
        log = read(usr1_log)
        check("the requeued job completes", fields.get("JobState") == "COMPLETED" and fields.get("Restarts") == "1",
              (fields, log[-3000:]))
        check("it stopped with a checkpoint and was requeued",
              "stopped by signal 10 with a checkpoint" in log and f"requeueing job {job_id}" in log, log[-3000:])
        check("it resumed on 2 nodes", "resuming from" in log and log.count(placement) == 2, log[-3000:])
        name, resumed = state(usr1_dir)
        different = [k for k in whole if k not in resumed or not np.array_equal(whole[k], resumed[k])]
        check(f"the final state equals the uninterrupted 2-node run's bit for bit ({len(whole)} datasets)",
              name == whole_name and bool(whole) and not different and set(whole) == set(resumed),
              (name, whole_name, different[:5]))

        # 3. Requeued onto fewer nodes.
        fewer_dir, fewer_log = os.path.join(tmp, "fewer"), os.path.join(tmp, "fewer.out")
        job_id = submit(fewer_dir, fewer_log)
        check("the job to shrink trains", wait_for_steps(fewer_dir, 3, job_id), read(fewer_log)[-2000:])
        on_first(["scontrol", "update", f"NodeName={hosts[1]}", "State=DRAIN", "Reason=test"])
        on_first(["scancel", "--signal=USR1", job_id])
        # Requeued, it waits for its 2 nodes; told it may run on 1, it does.
        deadline = time.time() + 120
        while time.time() < deadline and job_fields(job_id).get("Restarts", "0") == "0":
            time.sleep(0.3)
        code, out = on_first(["scontrol", "update", f"JobId={job_id}", "NumNodes=1", "NumTasks=2", "NumCPUs=2"])
        check("the waiting job accepts 1 node, 2 tasks and 2 CPUs", code == 0, out)
        fields = wait_for_end(job_id, 400)
        on_first(["scontrol", "update", f"NodeName={hosts[1]}", "State=RESUME"])
        log = read(fewer_log)
        check("the job came back on 1 node and completed",
              fields.get("JobState") == "COMPLETED" and fields.get("NumNodes") == "1", (fields, log[-3000:]))
        elastic = [line for line in log.splitlines() if "elastic resume" in line]
        check("the resumed run says the rank count changed", len(elastic) == 1, log[-3000:])
        if elastic:
            print("     " + elastic[0].strip())
        check("the resumed run finished", "pretraining finished" in log and
              any(m["epoch"] == 2 for m in read_metrics(fewer_dir, "epoch")), log[-2000:])

        # 4. Every task of one node killed.
        killed_dir, killed_log = os.path.join(tmp, "killed"), os.path.join(tmp, "killed.out")
        job_id = submit(killed_dir, killed_log, extra=["--set", "train.epochs=50"])
        killed_at = None
        if wait_for_steps(killed_dir, 3, job_id):
            pids = rank_pids(killed_dir)
            if 2 in pids and 3 in pids:
                os.kill(pids[2], signal.SIGKILL)
                os.kill(pids[3], signal.SIGKILL)
                killed_at = time.time()
        fields = wait_for_end(job_id, TIMEOUT_S + 90)
        took = time.time() - killed_at if killed_at else float("inf")
        log = read(killed_log)
        print(f"     the tasks of {hosts[1]} killed: job {fields.get('JobState')} {took:.1f} s later")
        check("the tasks of node 2 were killed mid-epoch", killed_at is not None, log[-2000:])
        check(f"the job ends within dist.timeout_s + 30 s ({took:.1f} s)", took <= TIMEOUT_S + 30, log[-2000:])
        check("the job failed and was not requeued",
              fields.get("JobState") == "FAILED" and fields.get("Restarts") == "0" and "requeueing" not in log, fields)
        named = [line for line in log.splitlines() if re.search(r"tasks? 2.*Killed", line) and hosts[1] in line]
        check("srun names the lost tasks and their host", bool(named), log[-2000:])
        if named:
            print("     " + named[0].strip())
        check("no task is left running", not rank_pids(killed_dir), rank_pids(killed_dir))
    except SystemExit:
        pass
    finally:
        subprocess.run([LOCAL_CLUSTER, "stop", cluster_dir, "--testbed", bed], capture_output=True, text=True,
                       timeout=180, env=env)
        subprocess.run([HOSTS_SH, "stop", bed], capture_output=True, text=True, timeout=120)
finish()
