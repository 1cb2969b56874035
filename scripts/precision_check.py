#!/usr/bin/env python3
"""Trains one demo pretraining epoch in fp32 and in bf16 on a device and prints one JSON
line with both epoch losses and their relative gap; exits 1 unless bf16 changed the loss
(gap > 0) by at most 2 %. scripts/gpu_check.sh runs it on the GPU (the CPU's counterpart
is tests/train/bf16_training_test.py).

  scripts/precision_check.py --missrec build/missrec --device cuda --work /tmp/precision
"""
import argparse
import json
import os
import shlex
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--missrec", required=True, help="the missrec executable")
    parser.add_argument("--device", default="cuda", help="run.device (default cuda)")
    parser.add_argument("--work", required=True, help="scratch directory (the demo data is made there once)")
    parser.add_argument("--mpirun", default="", help="launcher prefix, e.g. 'mpirun -np 1' (default: none)")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    demo = os.path.join(args.work, "demo")
    if not os.path.isdir(demo):
        subprocess.run([args.missrec, "data", "synth", "--preset", "demo", "--out", demo], check=True,
                       stdout=subprocess.DEVNULL)
    losses = {}
    for precision in ("fp32", "bf16"):
        run_dir = os.path.join(args.work, f"run_{precision}")
        command = shlex.split(args.mpirun) + [
            args.missrec, "pretrain", "--config", os.path.join(ROOT, "configs", "tiny.yaml"),
            "--set", f"data.dir={demo}/pretrain", "--set", f"run.dir={run_dir}", "--set", "train.epochs=1",
            "--set", f"train.precision={precision}", "--set", f"run.device={args.device}"]
        proc = subprocess.run(command, capture_output=True, text=True)
        if proc.returncode != 0:
            print(json.dumps({"error": f"{precision} run exited {proc.returncode}", "tail": proc.stderr[-1500:]}))
            return 1
        with open(os.path.join(run_dir, "metrics.jsonl")) as f:
            epochs = [r for r in map(json.loads, f) if r.get("kind") == "epoch"]
        losses[precision] = epochs[-1]["loss"]
    gap = abs(losses["bf16"] - losses["fp32"]) / losses["fp32"]
    ok = 0 < gap <= 0.02
    print(json.dumps({"device": args.device, "fp32_loss": losses["fp32"], "bf16_loss": losses["bf16"],
                      "relative_gap": gap, "ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
