"""Pretraining across test hosts (launch/testbed/hosts.sh: network namespaces on one
machine, Open MPI's TCP transport between them). Needs root and iproute2; skipped (77)
without them, failed when they are there and the bed does not start.

* 2 hosts x 2 ranks compute what 1 host x 4 ranks computes (dropout 0: losses of every
  step and final parameters within 1e-5 relative); the log names both hosts.
* A 2-host epoch against a 1-host epoch on the same data (printed).
* One host's link goes down mid-epoch, during the interest refresh, and while rank 0
  writes a checkpoint: every surviving rank ends within dist.timeout_s + 30 s, the
  message names the collective and the ranks and host that stopped answering, the exit
  status is non-zero, `latest` is a whole checkpoint, and a resume from it finishes.
* A degraded link (rate limit, 1% loss; netem delay when the kernel has it) gives the
  same losses as the clean link, at a higher communication cost."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from script_check import (BIN, SMALL_MODEL, check, finish, max_relative, parameter_error, read_checkpoint_tensors,
                          read_metrics, run, step_losses, synth_demo, write_config)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
HOSTS_SH = os.path.join(ROOT, "launch", "testbed", "hosts.sh")
MPIRUN_SH = os.path.join(ROOT, "launch", "mpirun.sh")
TIMEOUT_S = 30

missing = [what for what, ok in [("root", os.geteuid() == 0), ("iproute2 (ip)", shutil.which("ip")),
                                  ("util-linux (unshare)", shutil.which("unshare"))] if not ok]
if missing:
    print(f"skipped: the test hosts need {', '.join(missing)}, missing here")
    sys.exit(77)


class Job:
    """A job started on the bed; its output is collected line by line as it comes."""

    def __init__(self, cmd, env=None):
        self.lines = []
        self.started = time.time()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=dict(os.environ, **(env or {})))
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    def wait_for(self, predicate, seconds):
        deadline = time.time() + seconds
        while time.time() < deadline and self.proc.poll() is None:
            if predicate():
                return True
            time.sleep(0.1)
        return predicate()

    def saw(self, pattern):
        return any(re.search(pattern, line) for line in self.lines)

    def finish(self, seconds):
        try:
            self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.lines.append(f"(hung: killed by the test after {seconds} s)\n")
        self.reader.join(timeout=10)
        return self.proc.returncode, "".join(self.lines)


class Bed:
    def __init__(self, directory, count):
        self.dir = directory
        proc = subprocess.run([HOSTS_SH, "start", str(count), directory], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"the test bed did not start: {proc.stdout}{proc.stderr}")
        with open(os.path.join(directory, "hosts")) as f:
            self.hosts = [line.split()[1] for line in f if line.strip()]

    def hostfile(self, count):
        path = os.path.join(self.dir, f"hostfile{count}")
        with open(path, "w") as f:
            for host in self.hosts[:count]:
                f.write(f"{host} slots=2\n")
        return path

    def launch(self, args, hosts=2, per_node=2, env=None):
        cmd = [os.path.join(self.dir, "on"), self.hosts[0], MPIRUN_SH, "--hostfile", self.hostfile(hosts),
               "--per-node", str(per_node), "--iface", "eth0", "--launch-agent", os.path.join(self.dir, "rsh"),
               "-n", str(hosts * per_node), "--threads", "1", "--bin", BIN] + args
        return Job(cmd, env)

    def hosts_sh(self, *args):
        proc = subprocess.run([HOSTS_SH, args[0], self.dir] + list(args[1:]), capture_output=True, text=True,
                              timeout=60)
        return proc.returncode, proc.stdout + proc.stderr

    def stop(self):
        subprocess.run([HOSTS_SH, "stop", self.dir], capture_output=True, text=True, timeout=120)

    def namespaces(self):
        """The bed's network namespaces that exist now (its hosts and its switch)."""
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        prefix = self.hosts[0].rsplit("-", 1)[0] + "-"
        return [line.split()[0] for line in listed.splitlines() if line.startswith(prefix)]

    def processes_on(self, host):
        """Command names of the processes in `host`'s namespace."""
        pids = subprocess.run(["ip", "netns", "pids", host], capture_output=True, text=True).stdout.split()
        names = []
        for pid in pids:
            try:
                names.append(open(f"/proc/{pid}/comm").read().strip())
            except OSError:
                pass
        return names


def config(tmp, name, train, checkpoint=None):
    sections = {
        "run": {"dir": os.path.join(tmp, name), "seed": 7},
        "data": {"dir": os.path.join(tmp, "demo", "pretrain")},
        "model": SMALL_MODEL,
        "train": dict({"batch_size": 96, "log_every": 1}, **train),
        "cluster": {"interest_ratio": 0.02, "memory_mb": 64},
        "dist": {"timeout_s": TIMEOUT_S},
    }
    if checkpoint:
        sections["checkpoint"] = checkpoint
    return write_config(os.path.join(tmp, name + ".yaml"), sections)


def comm_ms(output):
    values = [float(v) for v in re.findall(r"comm ([0-9.]+) opt", output)]
    return float(np.median(values)) if values else float("nan")


def epoch_seconds(run_dir):
    """Training time of each epoch from metrics.jsonl (start-up and refresh excluded)."""
    return [m["wall_s"] for m in read_metrics(run_dir, "epoch")]


def link_fault(bed, tmp, name, fault_env, trigger, what, inspect=None):
    """Cuts host 1's link when `trigger` holds for the running job; checks how the job
    ends, runs `inspect(output, run_dir)` for what the case leaves behind, and that a
    resume from `latest` finishes the run."""
    run_dir = os.path.join(tmp, name)
    cfg = config(tmp, name, {"epochs": 3}, {"every_epochs": 1, "keep": 3})
    job = bed.launch(["pretrain", "--config", cfg], env=fault_env)
    ready = job.wait_for(lambda: trigger(job, run_dir), 240)
    check(f"{what}: the moment to cut the link came", ready, "".join(job.lines[-20:]))
    cut = time.time()
    code, out = bed.hosts_sh("link", bed.hosts[1], "down")
    check(f"{what}: link of {bed.hosts[1]} down", code == 0, out)
    code, output = job.finish(TIMEOUT_S + 90)
    took = time.time() - cut
    # The lost host comes back as after a reboot: the cut-off ranks are gone.
    bed.hosts_sh("reset", bed.hosts[1])
    bed.hosts_sh("link", bed.hosts[1], "up")
    print(f"     {what}: the job ended {took:.1f} s after the link went down (exit status {code})")
    check(f"{what}: the job ends within dist.timeout_s + 30 s ({took:.1f} s)", took <= TIMEOUT_S + 30, output[-3000:])
    check(f"{what}: non-zero exit status ({code})", code not in (0, None))
    # The ranks on host 0 say which collective waits and who stopped answering (the
    # early survey, or the timeout's); Open MPI then ends the job for the lost host.
    timeout_lines = [line for line in output.splitlines() if re.search(r"collective (timeout: )?\S+ #\d+", line)]
    check(f"{what}: a rank names the collective that waits", bool(timeout_lines), output[-3000:])
    lost = f"ranks 2, 3 ({bed.hosts[1]}) stopped answering"
    named = [line for line in timeout_lines if lost in line]
    check(f"{what}: the message names the ranks and host that stopped answering ({lost})", bool(named),
          "\n".join(timeout_lines[:4]))
    if named:
        print("     " + named[0].strip()[:400])
    left = [name for name in bed.processes_on(bed.hosts[0]) if name == "missrec"]
    check(f"{what}: no rank is left running on {bed.hosts[0]}", not left, left)
    if inspect:
        inspect(output, run_dir)
    latest = os.path.join(run_dir, "checkpoints", "latest")
    check(f"{what}: a checkpoint is `latest`", os.path.exists(latest))
    code, output = bed.launch(["pretrain", "--config", cfg, "--resume", "latest"]).finish(300)
    if code != 0 and "ORTE was unable to reliably start one or more daemons" in output:
        # Open MPI's start-up, not the run: seen once right after the link came back.
        print("     the launcher could not start its daemon on the returned host; starting once more")
        code, output = bed.launch(["pretrain", "--config", cfg, "--resume", "latest"]).finish(300)
    check(f"{what}: the resume from latest exits 0", code == 0, output[-3000:])
    check(f"{what}: the resumed run finished its 3 epochs",
          any(m["epoch"] == 3 for m in read_metrics(run_dir, "epoch")))


def failed_start_leaves_nothing(tmp):
    """A start that fails halfway (its second host's namespace is taken) removes what it made."""
    import hashlib
    directory = os.path.realpath(os.path.join(tmp, "failing-bed"))
    prefix = "tb" + hashlib.md5(directory.encode()).hexdigest()[:6] + "-"
    subprocess.run(["ip", "netns", "add", prefix + "h1"], check=True)
    proc = subprocess.run([HOSTS_SH, "start", "2", directory], capture_output=True, text=True, timeout=120)
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    left = [line.split()[0] for line in listed.splitlines() if line.startswith(prefix)]
    for name in left:
        subprocess.run(["ip", "netns", "del", name])
    check("a failed start of the test bed exits non-zero", proc.returncode != 0, proc.stdout + proc.stderr)
    check("a failed start leaves no namespace behind", not left, left)
    check("a failed start leaves no host files behind",
          not any(os.path.exists(os.path.join(directory, f)) for f in ("hosts", "hostfile", "on", "rsh")))


with tempfile.TemporaryDirectory() as tmp:
    failed_start_leaves_nothing(tmp)
    synth_demo(os.path.join(tmp, "demo"), 0.05)
    try:
        bed = Bed(os.path.join(tmp, "bed"), 2)
    except RuntimeError as error:
        check("the test bed starts", False, str(error))
        finish()
    try:
        # 2 hosts x 2 ranks against 1 host x 4 ranks.
        steps = 5
        job = bed.launch(["pretrain", "--config", config(tmp, "two_hosts", {"epochs": 1, "max_steps": steps})])
        code, output = job.finish(300)
        check("2 hosts x 2 ranks: pretrain exits 0", code == 0, output[-3000:])
        placement = f"on {bed.hosts[0]} (ranks 0-1), {bed.hosts[1]} (ranks 2-3)"
        check(f"the log names every rank's host ({placement})", placement in output, output[-2000:])
        check("rank 0's log lines carry its host", f" r0/4 {bed.hosts[0]} " in output)
        code, out, err = run(["pretrain", "--config", config(tmp, "one_host", {"epochs": 1, "max_steps": steps})],
                             mpi_np=4, timeout=300)
        check("1 host x 4 ranks: pretrain exits 0", code == 0, out + err)
        two, one = step_losses(os.path.join(tmp, "two_hosts")), step_losses(os.path.join(tmp, "one_host"))
        same = len(two) == len(one) == steps
        check(f"{steps} steps logged by both", same, f"{len(two)} and {len(one)}")
        error = max_relative(two, one) if same else float("inf")
        check(f"losses of every step equal within 1e-5 relative (max {error:.2e})", error <= 1e-5)
        error = parameter_error(read_checkpoint_tensors(os.path.join(tmp, "two_hosts", "checkpoints", "latest")),
                                read_checkpoint_tensors(os.path.join(tmp, "one_host", "checkpoints", "latest")),
                                SMALL_MODEL["hidden_size"])
        check(f"final parameters equal within 1e-5 relative (max {error:.2e})", error <= 1e-5)
        clean_comm = comm_ms(output)

        # One epoch on 2 hosts against 1 host.
        start = time.time()
        code, output = bed.launch(["pretrain", "--config", config(tmp, "epoch_two", {"epochs": 1})]).finish(600)
        two_s = time.time() - start
        check("a 2-host epoch exits 0", code == 0, output[-2000:])
        start = time.time()
        code, out, err = run(["pretrain", "--config", config(tmp, "epoch_one", {"epochs": 1}), "--set",
                              "run.threads=1"], mpi_np=4, timeout=600)
        one_s = time.time() - start
        check("a 1-host epoch exits 0", code == 0, out + err)
        two_epoch, one_epoch = epoch_seconds(os.path.join(tmp, "epoch_two")), epoch_seconds(os.path.join(tmp, "epoch_one"))
        check("both runs record their epoch", len(two_epoch) == len(one_epoch) == 1, (two_epoch, one_epoch))
        print(f"     one epoch, 4 ranks ({len(read_metrics(os.path.join(tmp, 'epoch_two'), 'step'))} steps): "
              f"2 hosts {two_epoch[0] if two_epoch else float('nan'):.2f} s, "
              f"1 host {one_epoch[0] if one_epoch else float('nan'):.2f} s of training; "
              f"wall with start-up {two_s:.1f} s and {one_s:.1f} s")

        def inside_refresh(output, run_dir):
            check("link down during the refresh: the epoch-2 refresh had started and never ended",
                  "epoch 2: interest refresh started" in output and "epoch 2: interest refresh (" not in output,
                  output[-2000:])

        def half_written(output, run_dir):
            checkpoints = os.path.join(run_dir, "checkpoints")
            names = sorted(os.listdir(checkpoints))
            latest = os.path.basename(os.path.realpath(os.path.join(checkpoints, "latest")))
            check("link down during a checkpoint: the half-written checkpoint is left as .partial",
                  any(name.startswith("ckpt-e0002-") and name.endswith(".partial") for name in names), names)
            check(f"link down during a checkpoint: `latest` is still the epoch-1 checkpoint ({latest})",
                  latest.startswith("ckpt-e0001-") and not latest.endswith(".partial"), names)

        # Network faults.
        link_fault(bed, tmp, "cut_mid_epoch", None, lambda job, run_dir: job.saw(r"epoch 2/3 step 2/"),
                   "link down mid-epoch")
        link_fault(bed, tmp, "cut_in_refresh", {"MISSREC_FAULT": "pause-refresh@2"},
                   lambda job, run_dir: job.saw(r"fault injection: rank 0 pauses"), "link down during the refresh",
                   inside_refresh)
        steps_per_epoch = len([m for m in read_metrics(os.path.join(tmp, "epoch_two"), "step")])
        link_fault(bed, tmp, "cut_in_checkpoint", {"MISSREC_FAULT": f"pause-checkpoint@{2 * steps_per_epoch}"},
                   lambda job, run_dir: job.saw(r"fault injection: rank 0 pauses"), "link down during a checkpoint",
                   half_written)

        # A degraded link: same losses, more time in communication.
        code, out = bed.hosts_sh("shape", bed.hosts[1], "netem delay 50ms loss 1%")
        if code == 0:
            shaping = "netem delay 50 ms, loss 1%"
        else:
            print("     tc netem is not available in this kernel: a rate limit and nftables loss instead")
            code, out = bed.hosts_sh("shape", bed.hosts[1], "tbf rate 20mbit burst 32kb latency 400ms")
            check("rate limit on host 1's link", code == 0, out)
            code, out = bed.hosts_sh("drop", bed.hosts[1], "1")
            check("1% loss on host 1's link", code == 0, out)
            shaping = "20 Mbit/s, loss 1%"
        job = bed.launch(["pretrain", "--config", config(tmp, "degraded", {"epochs": 1, "max_steps": steps})])
        code, output = job.finish(600)
        bed.hosts_sh("shape", bed.hosts[1], "clear")
        bed.hosts_sh("drop", bed.hosts[1], "0")
        check(f"degraded link ({shaping}): pretrain exits 0", code == 0, output[-3000:])
        degraded = step_losses(os.path.join(tmp, "degraded"))
        check("degraded link: the same losses as the clean link, bit for bit",
              len(degraded) == len(two) and np.array_equal(degraded, two))
        error = parameter_error(read_checkpoint_tensors(os.path.join(tmp, "degraded", "checkpoints", "latest")),
                                read_checkpoint_tensors(os.path.join(tmp, "two_hosts", "checkpoints", "latest")),
                                SMALL_MODEL["hidden_size"])
        check(f"degraded link: the same final parameters as the clean link (max difference {error:.1e})", error == 0)
        degraded_comm = comm_ms(output)
        print(f"     communication per step (median of the progress lines): clean {clean_comm:.1f} ms, "
              f"degraded {degraded_comm:.1f} ms")
        check("degraded link: the step-time split shows the communication cost (at least 1.5x the clean link's)",
              degraded_comm >= 1.5 * clean_comm, (clean_comm, degraded_comm))
    finally:
        bed.stop()
        left = bed.namespaces()
        check("the test bed leaves no namespace behind", not left, left)
        check("the test bed leaves no /etc/netns entry behind",
              not any(os.path.exists(f"/etc/netns/{host}") for host in bed.hosts))
finish()
