#!/usr/bin/env python3
"""Fine-tunes missrec and the public MISSRec implementation side by side on one dataset in
the release layout (scripts/quality/make_real_data.py writes one), with the same
hyperparameters, for each mode and seed, and prints one table: test Recall@10, NDCG@10,
Recall@20, NDCG@20 (means over the seeds, with the seeds' spread), the best epoch and
the time. Not a CI test: it takes hours on a small CPU machine.

  scripts/quality/quality_bench.py --data DIR/downstream/Beauty --out OUT
      [--public PATH] [--public-python PY] [--missrec build/missrec]
      [--modes transductive,inductive] [--seeds 2020,2021] [--epochs 20] [--stopping-step 10]
      [--pretrain-data DIR/pretrain/PT [--pretrain-epochs 3]] [--label TEXT]

With --pretrain-data both sides first pretrain on it (--pretrain-epochs, batch 4096,
interest_ratio 0.02, lambda 1e-3, the shared model settings) and fine-tune from their own
pretrained model (trm_model and position_embedding frozen, as both do by default); the
table is labelled "pretrained N epochs".

--public is a checkout of the public implementation (gimpong/MM23-MISSRec); without it the
table shows the public side as missing. Its Python (--public-python, default this one)
needs torch, numpy < 2, pandas, scipy, scikit-learn, colorlog and colorama.
With --public each missrec model is also loaded strictly into the public code's model
and tested by the public evaluator (public_crosscheck.py): the last column says whether
that gives the same test metrics. Every run's JSON line is appended to OUT/results.jsonl; reruns skip the runs already
there, and the table covers every line of the file with this --label.

The shared settings: hidden 64, 2 layers, 2 heads, feed-forward 256, dropout 0.5, Adam
1e-3, batch 512, temperature 0.07, gamma 1e-4, interest_ratio 0.5, knn_local_ratio 0.1,
max 50 history items, best epoch by validation NDCG@10, full ranking. The public code
stops after stopping_step + 1 epochs without a better score, missrec after
finetune.patience: patience = stopping_step + 1.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = {"hidden_size": 64, "n_layers": 2, "n_heads": 2, "inner_size": 256, "dropout": 0.5, "attn_dropout": 0.5,
         "max_seq_len": 50, "temperature": 0.07}
LR, BATCH, GAMMA, INTEREST_RATIO, KNN_LOCAL_RATIO = 1e-3, 512, 1e-4, 0.5, 0.1
PRETRAIN_BATCH, PRETRAIN_INTEREST_RATIO = 4096, 0.02
METRICS = ("recall@10", "ndcg@10", "recall@20", "ndcg@20")


def write_yaml(path, sections):
    with open(path, "w") as f:
        for section, values in sections.items():
            f.write(f"{section}:\n" + "".join(f"  {key}: {value}\n" for key, value in values.items()))


def run_ours(args, data, mode, seed, workdir):
    run_dir = os.path.join(workdir, "run")
    shutil.rmtree(run_dir, ignore_errors=True)  # what an interrupted earlier try left
    config = os.path.join(workdir, "finetune.yaml")
    write_yaml(config, {
        "run": {"dir": run_dir, "seed": seed},
        "data": {"dir": data},
        "model": MODEL,
        "loss": {"gamma": GAMMA},
        "train": {"epochs": args.epochs, "batch_size": BATCH, "lr": LR, "log_every": 10},
        "cluster": {"interest_ratio": INTEREST_RATIO, "knn_local_ratio": KNN_LOCAL_RATIO, "memory_mb": 1024},
        "finetune": {"mode": mode, "patience": args.stopping_step + 1},
    })
    command = [args.missrec, "finetune", "--config", config, "--data", data]
    if args.pretrained_ours:
        command += ["--pretrained", args.pretrained_ours]
    start = time.time()
    with open(os.path.join(workdir, "log.txt"), "w") as log:
        subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=True)
    elapsed = time.time() - start
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        records = [json.loads(line) for line in f]
    test = [r for r in records if r.get("kind") == "test"][-1]
    epochs = len([r for r in records if r.get("kind") == "epoch"])
    line = {"side": "missrec", "mode": mode, "seed": seed}
    line.update({m: test[m] for m in METRICS + ("recall@50", "ndcg@50")})
    line.update({"best_epoch": test["best_epoch"], "epochs": epochs, "time_s": round(elapsed, 1)})
    if args.public:
        add_crosscheck(args, line, workdir)
    return line


def add_crosscheck(args, line, workdir):
    """Adds the public code's test metrics of the run's best model and whether they are
    missrec's (to the 6 decimals the public evaluator rounds to)."""
    line["public_scores_it"] = crosscheck(args, line["mode"], os.path.join(workdir, "run", "best.h5"), workdir)
    line["same_in_public"] = all(abs(line["public_scores_it"][m] - round(line[m], 6)) <= 1.5e-6 for m in METRICS)


def crosscheck(args, mode, best, workdir):
    """The public code's test metrics of missrec's best model (public_crosscheck.py)."""
    pth = os.path.join(workdir, "best.pth")
    subprocess.run([args.missrec, "export", "--checkpoint", best, "--format", "pytorch", "--out", pth], check=True,
                   stdout=subprocess.DEVNULL)
    release, name = os.path.split(os.path.abspath(args.data))
    command = [args.public_python, os.path.join(HERE, "public_crosscheck.py"), "--public", args.public, "--data",
               release, "--dataset", name, "--mode", mode, "--model", pth, "--workdir",
               os.path.join(workdir, "crosscheck")]
    with open(os.path.join(workdir, "crosscheck-log.txt"), "w") as log:
        proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=log, text=True, check=True)
    scored = json.loads(proc.stdout.strip().splitlines()[-1])
    return {m: scored[m] for m in METRICS}


def public_settings():
    """The shared settings under the public code's (RecBole's) names."""
    return {"hidden_size": MODEL["hidden_size"], "n_layers": MODEL["n_layers"], "n_heads": MODEL["n_heads"],
            "inner_size": MODEL["inner_size"], "hidden_dropout_prob": MODEL["dropout"],
            "attn_dropout_prob": MODEL["attn_dropout"], "MAX_ITEM_LIST_LENGTH": MODEL["max_seq_len"],
            "temperature": MODEL["temperature"], "learning_rate": LR, "train_batch_size": BATCH, "gamma": GAMMA,
            "interest_ratio": INTEREST_RATIO, "knn_local_ratio": KNN_LOCAL_RATIO}


def run_public(args, data, mode, seed, workdir):
    release, name = os.path.split(os.path.abspath(args.data))
    command = [args.public_python, os.path.join(HERE, "public_finetune.py"), "--public", args.public,
               "--data", release, "--dataset", name, "--mode", mode, "--seed", str(seed), "--workdir", workdir]
    if args.pretrained_public:
        command += ["--pretrained", args.pretrained_public]
    for key, value in dict(public_settings(), epochs=args.epochs, stopping_step=args.stopping_step).items():
        command += ["--set", f"{key}={value}"]
    with open(os.path.join(workdir, "log.txt"), "w") as log:
        proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=log, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def pretrain_both(args):
    """Pretrains missrec and (with --public) the public code on --pretrain-data for
    --pretrain-epochs epochs with the shared settings; returns the two models' paths."""
    folder = os.path.join(args.out, f"pretrain-{args.pretrain_epochs}")
    os.makedirs(folder, exist_ok=True)
    ours = os.path.join(folder, "missrec.h5")
    if not os.path.exists(ours):
        data = os.path.join(args.out, "missrec-pretrain-data")
        if not os.path.exists(data):
            subprocess.run([args.missrec, "data", "convert", "--from-missrec", args.pretrain_data, "--out", data],
                           check=True)
        config = os.path.join(folder, "pretrain.yaml")
        write_yaml(config, {
            "run": {"dir": os.path.join(folder, "missrec-run"), "seed": 2020},
            "data": {"dir": data},
            "model": MODEL,
            "loss": {"lambda": 1e-3, "gamma": GAMMA},
            "train": {"epochs": args.pretrain_epochs, "batch_size": PRETRAIN_BATCH, "lr": LR, "log_every": 5},
            "cluster": {"interest_ratio": PRETRAIN_INTEREST_RATIO, "knn_local_ratio": KNN_LOCAL_RATIO},
        })
        start = time.time()
        with open(os.path.join(folder, "missrec-log.txt"), "w") as log:
            subprocess.run([args.missrec, "pretrain", "--config", config], stdout=log, stderr=subprocess.STDOUT,
                           check=True)
        print(json.dumps({"side": "missrec", "pretrain_epochs": args.pretrain_epochs,
                          "time_s": round(time.time() - start, 1)}), flush=True)
        subprocess.run([args.missrec, "export", "--checkpoint", os.path.join(folder, "missrec-run"), "--format",
                        "native", "--out", ours], check=True)
    public = ""
    if args.public:
        release, name = os.path.split(os.path.abspath(args.pretrain_data))
        command = [args.public_python, os.path.join(HERE, "public_pretrain.py"), "--public", args.public,
                   "--data", release, "--dataset", name, "--epochs", str(args.pretrain_epochs), "--seed", "2020",
                   "--workdir", os.path.join(folder, "public")]
        for key, value in public_settings().items():
            if key not in ("epochs", "stopping_step"):
                command += ["--set", f"{key}={value}"]
        command += ["--set", f"train_batch_size={PRETRAIN_BATCH}", "--set", f"interest_ratio={PRETRAIN_INTEREST_RATIO}"]
        record = os.path.join(folder, "public.json")
        if not os.path.exists(record):
            with open(os.path.join(folder, "public-log.txt"), "w") as log:
                proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=log, text=True, check=True)
            with open(record, "w") as f:
                f.write(proc.stdout.strip().splitlines()[-1])
        with open(record) as f:
            line = json.load(f)
        print(json.dumps(dict(line, pretrain_epochs=args.pretrain_epochs)), flush=True)
        public = line["checkpoint"]
    return ours, public


def table(lines, label):
    rows = ["| mode | side | seeds | R@10 | N@10 | R@20 | N@20 | best epoch | time per run | public code on missrec's model |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for mode in sorted({line["mode"] for line in lines}, reverse=True):
        for side in ("public", "missrec"):
            runs = [line for line in lines if line["mode"] == mode and line["side"] == side]
            if not runs:
                rows.append(f"| {mode} | {side} | missing | | | | | | | |")
                continue

            def cell(metric):
                values = [run[metric] for run in runs]
                spread = f" ± {(max(values) - min(values)) / 2:.4f}" if len(values) > 1 else ""
                return f"{statistics.mean(values):.4f}{spread}"

            seeds = ",".join(str(run["seed"]) for run in runs)
            epochs = ",".join(str(run["best_epoch"]) for run in runs)
            seconds = statistics.mean(run["time_s"] for run in runs)
            checked = [run["same_in_public"] for run in runs if "same_in_public" in run]
            same = "" if not checked else ("same metrics" if all(checked) else "DIFFERENT metrics")
            rows.append(f"| {mode} | {side} | {seeds} | " + " | ".join(cell(m) for m in METRICS)
                        + f" | {epochs} | {seconds:.0f} s | {same} |")
    return f"{label}:\n" + "\n".join(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="release-layout dataset directory (<ds>/<ds>.train.inter...)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--public", default="")
    parser.add_argument("--public-python", default=sys.executable)
    parser.add_argument("--missrec", default=os.path.join(HERE, "..", "..", "build", "missrec"))
    parser.add_argument("--modes", default="transductive,inductive")
    parser.add_argument("--seeds", default="2020,2021")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--stopping-step", type=int, default=10)
    parser.add_argument("--pretrained-ours", default="")
    parser.add_argument("--pretrained-public", default="")
    parser.add_argument("--pretrain-data", default="", help="release-layout pretraining dataset (<ds>.pt_datasets)")
    parser.add_argument("--pretrain-epochs", type=int, default=3)
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    if args.pretrain_data:
        args.pretrained_ours, args.pretrained_public = pretrain_both(args)
    if not args.label:
        args.label = f"pretrained {args.pretrain_epochs} epochs" if args.pretrain_data else "from scratch"
    os.makedirs(args.out, exist_ok=True)
    ours_data = os.path.join(args.out, "missrec-data")
    if not os.path.exists(ours_data):
        subprocess.run([args.missrec, "data", "convert", "--from-missrec", args.data, "--out", ours_data], check=True)
    results = os.path.join(args.out, "results.jsonl")
    done = []
    if os.path.exists(results):
        with open(results) as f:
            done = [json.loads(line) for line in f if line.strip()]
    sides = [("missrec", run_ours)] + ([("public", run_public)] if args.public else [])
    for mode in args.modes.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            for side, runner in sides:
                if any(d["side"] == side and d["mode"] == mode and d["seed"] == seed and d.get("label") == args.label
                       for d in done):
                    continue
                workdir = os.path.join(args.out, args.label.replace(" ", "-"), f"{side}-{mode}-{seed}")
                os.makedirs(workdir, exist_ok=True)
                line = dict(runner(args, ours_data, mode, seed, workdir), label=args.label)
                print(json.dumps(line), flush=True)
                with open(results, "a") as f:
                    f.write(json.dumps(line) + "\n")
                done.append(line)
    if args.public:  # runs recorded before the cross-check was asked for
        for line in done:
            if line["side"] == "missrec" and line.get("label") == args.label and "same_in_public" not in line:
                workdir = os.path.join(args.out, args.label.replace(" ", "-"), f"missrec-{line['mode']}-{line['seed']}")
                add_crosscheck(args, line, workdir)
        with open(results, "w") as f:
            f.writelines(json.dumps(line) + "\n" for line in done)
    print(table([d for d in done if d.get("label") == args.label], args.label))


if __name__ == "__main__":
    main()
