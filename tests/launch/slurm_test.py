"""launch/slurm/pretrain.sbatch on a real Slurm: a private one-node cluster (munged,
slurmctld and slurmd from Debian's slurm-wlm, started by launch/slurm/local_cluster.sh)
runs the batch script with 2 srun tasks on the demo data.

1. `sbatch --wait` finishes and leaves the checkpoint of every epoch.
2. `scancel --signal=TERM` mid-epoch: the ranks checkpoint and exit 75, the script
   requeues the job, Slurm restarts it, it resumes from checkpoints/latest and ends
   with the same parameters as the uninterrupted run (bit for bit).
3. SIGKILL to one task: srun --kill-on-bad-exit ends the job, non-zero, not requeued.
4. A one-minute time limit with --signal=USR1@58 on a run sized to outlast the signal:
   the ranks checkpoint on USR1, the job is requeued, resumes and finishes every epoch.
5. A bad config key (found before MPI starts) and a missing dataset (after): the job
   fails with status 2 and the one-line error, is not requeued, leaves no run directory.
6. launch/slurm/finetune.sbatch: `scancel --signal=USR1` mid-run, the ranks checkpoint
   and exit 75, the script requeues the job, it resumes and ends with the test metrics,
   best epoch and best model of an uninterrupted fine-tuning job, bit for bit.
Without root or without slurm-wlm/munge installed the test is skipped (CTest status
77) with a line saying which; scripts/test.sh installs the packages and CI runs as
root. A cluster that does not start then fails the test, with the daemons' logs.
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import shutil

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from script_check import (BIN, SMALL_MODEL, check, communicate_or_kill, count_records, finish, read_metrics, synth_demo,
                          write_config)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "train"))
from rank_processes import rank_pids

SOURCE_DIR = os.environ.get("MISSREC_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
LOCAL_CLUSTER = os.path.join(SOURCE_DIR, "launch", "slurm", "local_cluster.sh")
PRETRAIN_SBATCH = os.path.join(SOURCE_DIR, "launch", "slurm", "pretrain.sbatch")
FINETUNE_SBATCH = os.path.join(SOURCE_DIR, "launch", "slurm", "finetune.sbatch")
TIMEOUT_S = 30


def slurm(args, env, timeout=60):
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr


def job_fields(job_id, env):
    _, text = slurm(["scontrol", "show", "job", str(job_id)], env)
    return dict(re.findall(r"(\w+)=(\S+)", text))


def sbatch(env, config, run_dir, log, extra_args=(), wait=True, options=(), script=PRETRAIN_SBATCH):
    """sbatch of a batch script (pretraining by default) with 2 tasks of 1 CPU and no
    GPU: the command and its environment. extra_args go to missrec, options to sbatch;
    env may carry the script's variables (DATA for fine-tuning)."""
    cmd = ["sbatch", "--parsable", "--ntasks=2", "--ntasks-per-node=2", "--cpus-per-task=1",
           "--gpus-per-task=0", f"--output={log}", *options, script, *extra_args]
    if wait:
        cmd.insert(1, "--wait")
    return cmd, dict(env, MISSREC=BIN, CONFIG=config, RUN_DIR=run_dir)


def submit(env, config, run_dir, log, extra_args=(), script=PRETRAIN_SBATCH):
    """sbatch --wait, running."""
    cmd, job_env = sbatch(env, config, run_dir, log, extra_args, script=script)
    return subprocess.Popen(cmd, env=job_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def submit_detached(env, config, run_dir, log, extra_args=(), options=(), script=PRETRAIN_SBATCH):
    """sbatch without --wait (which polls at 2, 8, then 32 s): the job id."""
    cmd, job_env = sbatch(env, config, run_dir, log, extra_args, wait=False, options=options, script=script)
    code, output = slurm(cmd, job_env)
    check("sbatch accepts the job", code == 0 and output.strip().split(";")[0].isdigit(), output)
    return output.strip().split(";")[0]


FINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL",
                "DEADLINE", "PREEMPTED"}


def wait_for_job_end(job_id, env, seconds):
    """The job's scontrol fields once it has ended; a requeue passes through PENDING,
    so the final state must hold for two looks a second apart."""
    deadline = time.time() + seconds
    settled = 0
    fields = {}
    while time.time() < deadline:
        fields = job_fields(job_id, env)
        settled = settled + 1 if fields.get("JobState") in FINAL_STATES else 0
        if settled == 2:
            return fields
        time.sleep(1.0 if settled else 0.2)
    return dict(fields, JobState=f"{fields.get('JobState')} (still, after {seconds} s)")


def job_is_active(job_id, env):
    return job_fields(job_id, env).get("JobState") not in FINAL_STATES


def wait_for_steps(run_dir, count, still_running, seconds=120):
    metrics = os.path.join(run_dir, "metrics.jsonl")
    deadline = time.time() + seconds
    while time.time() < deadline and still_running():
        if count_records(metrics, "step") >= count:
            return True
        time.sleep(0.05)
    return False


def finish_job(proc, seconds):
    output = communicate_or_kill(proc, seconds)
    return proc.returncode, output


def read(path):
    return open(path).read() if os.path.exists(path) else f"({path} missing)"


def checkpoint_datasets(ckpt_dir):
    """{path: array} of every dataset in a checkpoint's state.h5."""
    import h5py
    arrays = {}
    with h5py.File(os.path.join(ckpt_dir, "state.h5"), "r") as f:
        f.visititems(lambda name, item: arrays.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
    return arrays


def latest_checkpoint(run_dir):
    link = os.path.join(run_dir, "checkpoints", "latest")
    return os.path.realpath(link) if os.path.exists(link) else None


SKIPPED = 77
missing = [tool for tool in ("munged", "slurmctld", "slurmd", "sbatch") if shutil.which(tool) is None]
if missing:
    print(f"slurm_test: skipped: {', '.join(missing)} not found (scripts/setup.sh --with-slurm installs them)")
    sys.exit(SKIPPED)
if os.geteuid() != 0:
    print("slurm_test: skipped: the private cluster's daemons (munged, slurmctld, slurmd) need root")
    sys.exit(SKIPPED)

with tempfile.TemporaryDirectory() as tmp:
    cluster_dir = os.path.join(tmp, "slurm")
    code, started = slurm([LOCAL_CLUSTER, "start", cluster_dir], dict(os.environ))
    check("the local Slurm cluster starts (munged, slurmctld, slurmd)", code == 0, started)
    if code != 0:
        for log in ("log/slurmctld.log", "log/slurmd.log", "munge/munged.log"):
            print(f"--- {log}\n{read(os.path.join(cluster_dir, log))[-2000:]}")
        finish()
    env = dict(os.environ, SLURM_CONF=os.path.join(cluster_dir, "slurm.conf"))
    try:
        synth_demo(os.path.join(tmp, "demo"), 0.1)
        config = write_config(os.path.join(tmp, "pretrain.yaml"), {
            "run": {"seed": 2020},
            "data": {"dir": os.path.join(tmp, "demo", "pretrain")},
            "model": SMALL_MODEL,
            "train": {"epochs": 2, "batch_size": 64, "log_every": 5},
            "checkpoint": {"every_epochs": 1, "keep": 3},
            "dist": {"timeout_s": TIMEOUT_S},
        })

        # 1. A whole run.
        whole_dir = os.path.join(tmp, "whole")
        whole_log = os.path.join(tmp, "whole.out")
        start = time.time()
        code, output = finish_job(submit(env, config, whole_dir, whole_log), 300)
        log = read(whole_log)
        print(f"whole run: sbatch --wait returned {code} after {time.time() - start:.1f} s")
        check("sbatch --wait returns 0 for the whole run", code == 0, output + log[-3000:])
        check("the job ran 2 srun tasks as 2 MPI ranks", "2 ranks (2 on this node)" in log, log[:2000])
        check("the run finished", "pretraining finished" in log, log[-2000:])
        whole_latest = latest_checkpoint(whole_dir)
        check("checkpoints/latest is the epoch-2 checkpoint",
              whole_latest is not None and "ckpt-e0002-" in whole_latest, whole_latest)
        checkpoints = sorted(os.listdir(os.path.join(whole_dir, "checkpoints"))) if whole_latest else []
        check("one checkpoint per epoch", sum(name.startswith("ckpt-") for name in checkpoints) == 2, checkpoints)

        # 2. Preempted with SIGTERM mid-epoch, requeued, resumed.
        preempt_dir = os.path.join(tmp, "preempted")
        preempt_log = os.path.join(tmp, "preempted.out")
        job_id = submit_detached(env, config, preempt_dir, preempt_log)
        running = wait_for_steps(preempt_dir, 2, lambda: job_is_active(job_id, env))
        check(f"job {job_id} is training", running, read(preempt_log)[-2000:])
        code, text = slurm(["scancel", "--signal=TERM", job_id], env)
        check("scancel --signal=TERM is accepted", code == 0, text)
        signalled_at = time.time()
        fields = wait_for_job_end(job_id, env, 300)
        log = read(preempt_log)
        print(f"preempted run: job {job_id} {fields.get('JobState')} after {fields.get('Restarts')} restart(s), "
              f"{time.time() - signalled_at:.1f} s after the signal")
        check("the requeued job ends with status 0", fields.get("ExitCode") == "0:0", fields)
        check("the ranks wrote a checkpoint on the signal",
              re.search(r"stop requested \(2 rank\(s\) got SIGTERM/SIGUSR1\): writing a checkpoint", log) is not None,
              log[-3000:])
        check("srun reports exit status 75", "Exited with exit code 75" in log, log[-3000:])
        check("the batch script requeued the job", f"requeueing job {job_id}" in log, log[-3000:])
        check("Slurm restarted it once", fields.get("Restarts") == "1" and fields.get("JobState") == "COMPLETED",
              fields)
        check("the restarted job resumed from the checkpoint",
              re.search(r"resuming from \S+/ckpt-e\d+-s\d+ at epoch \d+, step [1-9]", log) is not None, log[-3000:])
        check("the resumed run finished", "pretraining finished" in log, log[-2000:])
        check("metrics.jsonl records the resume", len(read_metrics(preempt_dir, "resume")) == 1)
        preempt_latest = latest_checkpoint(preempt_dir)
        # The checkpoint's name holds its epoch and step: equal names, equal step counts.
        check("both runs end at the same checkpoint (epoch and step)",
              bool(whole_latest and preempt_latest)
              and os.path.basename(whole_latest) == os.path.basename(preempt_latest), (whole_latest, preempt_latest))
        whole = checkpoint_datasets(whole_latest) if whole_latest else {}
        resumed = checkpoint_datasets(preempt_latest) if preempt_latest else {}
        different = [name for name in whole if name not in resumed or not np.array_equal(whole[name], resumed[name])]
        check(f"the preempted + resumed state (model, Adam, interests, RNG: {len(whole)} datasets) "
              "equals the uninterrupted run's bit for bit",
              bool(whole) and not different and set(whole) == set(resumed), different[:5])

        # 3. One task killed: the whole job ends, non-zero, and is not requeued.
        killed_dir = os.path.join(tmp, "killed")
        killed_log = os.path.join(tmp, "killed.out")
        job_id = submit_detached(env, config, killed_dir, killed_log, ["--set", "train.epochs=50"])
        killed_at = None
        if wait_for_steps(killed_dir, 2, lambda: job_is_active(job_id, env)):
            pids = rank_pids(killed_dir)
            if 1 in pids:
                os.kill(pids[1], signal.SIGKILL)
                killed_at = time.time()
        fields = wait_for_job_end(job_id, env, TIMEOUT_S + 90)
        ended_at = time.time()
        log = read(killed_log)
        check("task 1 was killed mid-epoch", killed_at is not None, log[-2000:])
        if killed_at is not None:
            # The end is seen at most ~1.2 s late (two looks a second apart).
            took = ended_at - killed_at
            print(f"killed task: job {job_id} {fields.get('JobState')} {took:.1f} s later")
            check(f"the job ends within dist.timeout_s + 30 s ({took:.1f} s)", took <= TIMEOUT_S + 30, log[-2000:])
        check(f"the job failed ({fields.get('JobState')}, exit {fields.get('ExitCode')})",
              fields.get("JobState") == "FAILED" and fields.get("ExitCode") != "0:0", fields)
        check("it was not restarted", fields.get("Restarts") == "0", fields)
        check("srun names the killed task", re.search(r"task 1: Killed", log) is not None, log[-3000:])
        check("the failed job is not requeued", "requeueing" not in log, log[-2000:])
        check("no task is left running", not rank_pids(killed_dir), rank_pids(killed_dir))

        # 4. The time limit: `--time=1 --signal=USR1@58` (the script's USR1@180, scaled
        # down). slurmctld checks time limits every 30 s, so the signal comes 2-32 s in
        # (plus the job's start). The run must outlast that on any machine: its epoch
        # count follows the whole run's measured epoch time, for at least 60 s of training.
        epoch_s = max(record["wall_s"] + record["refresh_s"] for record in read_metrics(whole_dir, "epoch"))
        limited_epochs = max(12, int(60.0 / max(epoch_s, 0.05)) + 1)
        print(f"time-limited run: {limited_epochs} epochs of about {epoch_s:.2f} s")
        limited_dir = os.path.join(tmp, "time-limited")
        limited_log = os.path.join(tmp, "time-limited.out")
        job_id = submit_detached(env, config, limited_dir, limited_log,
                                 ["--set", f"train.epochs={limited_epochs}", "--set", "train.log_every=50"],
                                 options=["--time=1", "--signal=USR1@58"])
        submitted_at = time.time()
        # After the first requeue the limit is lifted, so the test takes one restart.
        deadline = time.time() + 120
        while time.time() < deadline and job_fields(job_id, env).get("Restarts", "0") == "0":
            time.sleep(0.2)
        slurm(["scontrol", "update", f"JobId={job_id}", "TimeLimit=UNLIMITED"], env)
        fields = wait_for_job_end(job_id, env, 300)
        log = read(limited_log)
        print(f"time-limited run: job {job_id} {fields.get('JobState')} after {fields.get('Restarts')} restart(s), "
              f"{time.time() - submitted_at:.1f} s")
        check("the time-limit signal (USR1) stopped the run with a checkpoint",
              "stopped by signal 10 with a checkpoint" in log, log[-3000:])
        check("the job was requeued and resumed",
              "requeueing job" in log and "resuming from" in log and fields.get("Restarts", "0") != "0", fields)
        check(f"the time-limited job finished all {limited_epochs} epochs",
              fields.get("JobState") == "COMPLETED" and fields.get("ExitCode") == "0:0"
              and f"ckpt-e{limited_epochs:04d}-" in (latest_checkpoint(limited_dir) or ""),
              (fields, latest_checkpoint(limited_dir)))

        # 5. Bad input, found before MPI starts (a config key) and after (the dataset):
        # exit status 2 and the one-line error, no requeue, no run directory.
        for what, setting, expected in [("a bad config key", "train.no_such_key=1", "train.no_such_key"),
                                        ("a missing dataset", "data.dir=/nonexistent/pretrain",
                                         "/nonexistent/pretrain/dataset.yaml: cannot read")]:
            bad_dir = os.path.join(tmp, "bad")
            bad_log = os.path.join(tmp, f"bad-{len(expected)}.out")
            code, output = finish_job(submit(env, config, bad_dir, bad_log, ["--set", setting]), 120)
            log = read(bad_log)
            check(f"{what} fails the job with status 2 ({code})", code == 2, output + log[-2000:])
            check(f"the error names it ({expected})", expected in log, log[-2000:])
            check(f"{what}: not requeued, no run directory", "requeueing" not in log and not os.path.exists(bad_dir),
                  log[-2000:])

        # 6. Fine-tuning: preempted with USR1 mid-run, requeued, resumed; the same outcome.
        finetune_config = write_config(os.path.join(tmp, "finetune.yaml"), {
            "run": {"seed": 2020},
            "model": dict(SMALL_MODEL, dropout=0.1, attn_dropout=0.1),
            "train": {"epochs": 3, "batch_size": 64, "log_every": 5},
            "cluster": {"interest_ratio": 0.5, "memory_mb": 64},
            "finetune": {"mode": "transductive", "patience": 3},
            "checkpoint": {"every_epochs": 1, "keep": 2},
            "dist": {"timeout_s": TIMEOUT_S},
        })
        finetune_env = dict(env, DATA=os.path.join(tmp, "demo", "downstream"))
        outcomes = {}
        for name in ("finetune-whole", "finetune-preempted"):
            run_dir, log_path = os.path.join(tmp, name), os.path.join(tmp, name + ".out")
            job_id = submit_detached(finetune_env, finetune_config, run_dir, log_path, script=FINETUNE_SBATCH)
            if name == "finetune-preempted":
                running = wait_for_steps(run_dir, 4, lambda: job_is_active(job_id, env))
                check(f"fine-tuning job {job_id} is training", running, read(log_path)[-2000:])
                code, text = slurm(["scancel", "--signal=USR1", job_id], env)
                check("scancel --signal=USR1 is accepted", code == 0, text)
            fields = wait_for_job_end(job_id, env, 300)
            log = read(log_path)
            check(f"{name}: the job ends with status 0", fields.get("ExitCode") == "0:0", (fields, log[-3000:]))
            metrics_path = os.path.join(run_dir, "test_metrics.json")
            best_path = os.path.join(run_dir, "best.h5")
            if os.path.exists(metrics_path) and os.path.exists(best_path):
                import h5py
                with h5py.File(best_path, "r") as f:
                    best = {n: f["model"][n][()] for n in f["model"]}
                    outcomes[name] = (read(metrics_path), int(f.attrs["epoch"]), best)
            if name == "finetune-preempted":
                check("fine-tuning: the ranks checkpointed on USR1, exited 75 and the job was requeued",
                      "stopped by signal 10 with a checkpoint" in log and f"requeueing job {job_id}" in log
                      and fields.get("Restarts") == "1", (fields, log[-3000:]))
                check("fine-tuning: the requeued job resumed", "resuming from" in log, log[-3000:])
        whole, preempted = outcomes.get("finetune-whole"), outcomes.get("finetune-preempted")
        check("fine-tuning: test metrics, best epoch and best model equal the uninterrupted job's bit for bit",
              whole is not None and preempted is not None and whole[:2] == preempted[:2]
              and all(np.array_equal(whole[2][n], preempted[2][n]) for n in whole[2]),
              (whole[:2] if whole else None, preempted[:2] if preempted else None))
    finally:
        slurm([LOCAL_CLUSTER, "stop", cluster_dir], env)
finish()
