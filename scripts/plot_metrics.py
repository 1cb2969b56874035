#!/usr/bin/env python3
"""Turns a run's metrics.jsonl into PNG curves.

    scripts/plot_metrics.py runs/demo            # writes runs/demo/plots/*.png
    scripts/plot_metrics.py runs/demo/metrics.jsonl --out /tmp/plots

Plots: loss parts per step, per-domain L_si per epoch, samples/s per step, and the
step-time split per epoch. Needs matplotlib (Debian: python3-matplotlib).
"""
import argparse
import json
import os
import sys


def load(path):
    steps, epochs = [], []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"plot_metrics: error: {path}:{number}: not JSON ({e})")
            if record.get("kind") == "step":
                steps.append(record)
            elif record.get("kind") == "epoch":
                epochs.append(record)
    return steps, epochs


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="run directory or its metrics.jsonl")
    parser.add_argument("--out", help="output directory (default: <run dir>/plots)")
    args = parser.parse_args()
    path = os.path.join(args.run, "metrics.jsonl") if os.path.isdir(args.run) else args.run
    if not os.path.isfile(path):
        print(f"plot_metrics: error: {path}: no such file", file=sys.stderr)
        return 2
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(path)), "plots")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot_metrics: error: matplotlib is not installed (apt-get install python3-matplotlib)",
              file=sys.stderr)
        return 2
    steps, epochs = load(path)
    if not steps:
        print(f"plot_metrics: error: {path}: no step records", file=sys.stderr)
        return 2
    os.makedirs(out, exist_ok=True)
    written = []

    x = [s["global_step"] for s in steps]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    axes[0].plot(x, [s["loss"] for s in steps], label="loss")
    axes[0].plot(x, [s["seq_item"] for s in steps], label="L_si", alpha=0.7)
    axes[1].plot(x, [s["seq_seq"] for s in steps], label="L_ss", color="tab:green")
    axes[2].plot(x, [s["reg"] for s in steps], label="reg")
    axes[2].plot(x, [s["reg_aug"] for s in steps], label="reg'", alpha=0.7)
    for ax in axes:
        ax.set_xlabel("global step")
        ax.legend()
    fig.suptitle("pretraining losses")
    fig.tight_layout()
    written.append(os.path.join(out, "losses.png"))
    fig.savefig(written[-1], dpi=100)

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(x, [s["samples_per_s"] for s in steps])
    ax.set_xlabel("global step")
    ax.set_ylabel("samples/s")
    fig.tight_layout()
    written.append(os.path.join(out, "throughput.png"))
    fig.savefig(written[-1], dpi=100)

    if epochs:
        e = [r["epoch"] for r in epochs]
        fig, axes = plt.subplots(1, 2, figsize=(12, 4))
        domains = sorted({d for r in epochs for d in r.get("domain_seq_item", {})})
        for domain in domains:
            axes[0].plot(e, [r["domain_seq_item"].get(domain, float("nan")) for r in epochs], marker="o",
                         label=domain)
        axes[0].set_xlabel("epoch")
        axes[0].set_ylabel("L_si")
        axes[0].set_title("per-domain L_si")
        axes[0].legend()
        bottom = [0.0] * len(epochs)
        for part in ("data", "forward", "backward", "comm", "optimizer"):
            values = [1e3 * r["time_s"][part] for r in epochs]
            axes[1].bar(e, values, bottom=bottom, label=part)
            bottom = [b + v for b, v in zip(bottom, values)]
        axes[1].set_xlabel("epoch")
        axes[1].set_ylabel("ms per step")
        axes[1].set_title("step-time split")
        axes[1].legend()
        fig.tight_layout()
        written.append(os.path.join(out, "epochs.png"))
        fig.savefig(written[-1], dpi=100)
    for name in written:
        print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
