"""Sharded item features (data.feature_sharding, docs/scaling.md): each rank holds only
its share of the items' feature rows and a step fetches the rows its batch needs from
their owners, yet pretraining computes what it computes on replicated tables.

* np = 1, 2, 3: 2 epochs of pretraining on the demo data (two interest refreshes, word
  drop on) with replicated and with sharded features: every step's and epoch's losses
  and the final checkpoint's model, Adam moments and interest tables equal bit for bit.
* The exchange overlaps the previous step: every step's rows but each epoch's first are
  fetched while the previous step ran.
* Memory per rank: the ranks' shares are the contiguous ranges [1 + rN/P, 1 + (r+1)N/P),
  covering the items once, each within one row of N/P; a rank's feature bytes are its
  share of the replicated tables'.
* The same at np=3 with the sampled refresh (cluster.method), and at np=2 with bfloat16
  tables (data.feature_dtype).
* auto: sharded at np=2 when data.shard_above_mb is 0, replicated at the default.
* Fine-tuning refuses sharded (exit 2 naming the key).
"""
import os
import re
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from script_check import (SMALL_MODEL, check, finish, read_checkpoint_tensors, read_metrics, run, synth_demo,
                          write_config)

PREFETCHED = re.compile(r"item features: (\d+) of (\d+) steps' rows fetched while the previous step ran.*")
SHARE = re.compile(r"item features sharded: ids \[(\d+), (\d+)\) of (\d+) on rank \d+, (\d+) bytes")


def pretrain(tmp, name, ranks, cluster=None, **data):
    run_dir = os.path.join(tmp, name)
    config = write_config(os.path.join(tmp, name + ".yaml"), {
        "run": {"dir": run_dir, "seed": 3},
        "data": dict({"dir": os.path.join(tmp, "demo", "pretrain")}, **data),
        "model": dict(SMALL_MODEL, dropout=0.1, attn_dropout=0.1),
        "train": {"epochs": 2, "batch_size": 96, "log_every": 1},
        "cluster": dict({"interest_ratio": 0.05, "memory_mb": 64}, **(cluster or {})),
    })
    code, out, err = run(["pretrain", "--config", config], mpi_np=ranks, timeout=300)
    check(f"{name}: pretraining at np={ranks} exits 0", code == 0, (out + err)[-3000:])
    return run_dir, err


def outcome(run_dir):
    fields = ("loss", "seq_item", "seq_seq", "reg", "reg_aug")
    records = [[m[f] for f in fields] for kind in ("step", "epoch") for m in read_metrics(run_dir, kind)]
    latest = os.path.join(run_dir, "checkpoints", "latest")
    tensors = {}
    for group in ("model", "optimizer", "interests"):
        try:
            tensors.update({group + "/" + k: v for k, v in read_checkpoint_tensors(latest, group).items()})
        except KeyError:
            pass
    return np.array(records), tensors


def equal(a, b):
    return a[0].shape == b[0].shape and np.array_equal(a[0], b[0]) and sorted(a[1]) == sorted(b[1]) and all(
        np.array_equal(a[1][k], b[1][k]) for k in a[1])


with tempfile.TemporaryDirectory() as tmp:
    synth_demo(os.path.join(tmp, "demo"), 0.05)
    for ranks in (1, 2, 3):
        replicated, rep_log = pretrain(tmp, f"replicated{ranks}", ranks, feature_sharding="replicated")
        sharded, log = pretrain(tmp, f"sharded{ranks}", ranks, feature_sharding="sharded")
        a, b = outcome(replicated), outcome(sharded)
        check(f"np={ranks}: the runs logged steps and checkpointed", len(a[0]) > 4 and len(a[1]) > 10,
              (len(a[0]), sorted(a[1])[:5]))
        check(f"np={ranks}: sharded losses, model, Adam and interests equal replicated bit for bit", equal(a, b),
              [k for k in a[1] if k in b[1] and not np.array_equal(a[1][k], b[1][k])][:5])
        check(f"np={ranks}: the replicated run does not shard", SHARE.search(rep_log) is None)
        overlap = PREFETCHED.search(log)
        steps = len(read_metrics(sharded, "step"))
        check(f"np={ranks}: every step's rows but each epoch's first were fetched while the previous step ran",
              overlap is not None and int(overlap[2]) == steps and int(overlap[1]) == steps - 2,
              overlap[0] if overlap else log[-1500:])
        shares = sorted((int(m[1]), int(m[2]), int(m[3]), int(m[4])) for m in SHARE.finditer(log))
        check(f"np={ranks}: every rank logs its share", len(shares) == ranks, shares)
        if len(shares) == ranks:
            items = shares[0][2]
            bounds = [1 + r * items // ranks for r in range(ranks + 1)]
            check(f"np={ranks}: shares are [1 + rN/P, 1 + (r+1)N/P), covering 1..{items} once",
                  [(s[0], s[1]) for s in shares] == list(zip(bounds, bounds[1:])), shares)
            row_bytes = shares[0][3] / max(1, shares[0][1] - shares[0][0])
            check(f"np={ranks}: each rank holds its rows only ({shares[0][3]} bytes on rank 0, "
                  f"replicated {row_bytes * (items + 1):.0f})",
                  all(abs(s[3] - row_bytes * (s[1] - s[0])) < 1 and s[1] - s[0] <= items // ranks + 1 for s in shares))

    # The sampled refresh over sharded features sends each rank its shard of the tokens
    # (no rank holds them all): the same tables, so the same run.
    sampled = {"method": "sampled", "sample_size": 200}
    a = outcome(pretrain(tmp, "replicated_sampled", 3, sampled, feature_sharding="replicated")[0])
    b = outcome(pretrain(tmp, "sharded_sampled", 3, sampled, feature_sharding="sharded")[0])
    check("np=3, sampled refresh: sharded equals replicated bit for bit", len(a[0]) > 4 and equal(a, b))

    # Half-precision tables travel as their bytes.
    a = outcome(pretrain(tmp, "replicated_bf16", 2, feature_sharding="replicated", feature_dtype="bfloat16")[0])
    b = outcome(pretrain(tmp, "sharded_bf16", 2, feature_sharding="sharded", feature_dtype="bfloat16")[0])
    check("np=2, bfloat16 tables: sharded equals replicated bit for bit", len(a[0]) > 4 and equal(a, b))

    _, log = pretrain(tmp, "auto_small", 2)
    check("auto: replicated at the default threshold (demo tables are small)", SHARE.search(log) is None)
    _, log = pretrain(tmp, "auto_zero", 2, shard_above_mb=0)
    check("auto: sharded at np=2 above data.shard_above_mb", len(SHARE.findall(log)) == 2, log[-2000:])

    config = write_config(os.path.join(tmp, "ft.yaml"), {
        "run": {"dir": os.path.join(tmp, "ft")}, "data": {"feature_sharding": "sharded"},
        "model": SMALL_MODEL, "train": {"epochs": 1}})
    code, out, err = run(["finetune", "--config", config, "--data", os.path.join(tmp, "demo", "downstream")])
    check("fine-tuning refuses sharded features: exit 2 naming data.feature_sharding",
          code == 2 and "data.feature_sharding" in err, (code, err[-500:]))
finish()
