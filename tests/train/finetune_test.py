"""Fine-tuning on a downstream domain and full-ranking evaluation end to end:
* from a pretrained export, trm_model.* and position_embedding stay exactly as
  pretrained after training; the adaptors move; test_metrics.json has exactly the keys
  recall and ndcg at 10, 20 and 50 and users;
* `missrec evaluate` gives identical numbers at np=1, 2 and 3, equal to the run's own
  test metrics;
* early stopping: with a learning rate too small to change anything, validation NDCG@10
  never improves after epoch 1, the run stops after finetune.patience more epochs and the
  kept best model is epoch 1's;
* a transductive model (best.h5, written again by `missrec export` as a PyTorch file)
  loads strictly into a PyTorch module with the public implementation's names and item
  ID embeddings, and computes the same sequence vectors and every item's score as
  `missrec encode`;
* scripts/convert_public_checkpoint.py turns a public-style torch.save dict (state_dict
  with extra tables, a config object of a class that cannot be imported, an epoch) into a
  native export with the same tensors, and finetune accepts it.
"""
import json
import os
import subprocess
import sys
import tempfile
import types
from collections import OrderedDict

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from script_check import (SMALL_MODEL, check, finish, read_metrics, run, synth_demo, write_config)
from torch_missrec import MISSRec, dataset_features

SOURCE = os.environ.get("MISSREC_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))


def tensors(path):
    with h5py.File(path, "r") as f:
        return {name: f["model"][name][()] for name in f["model"]}


def finetune_config(tmp, name, **train):
    settings = {"epochs": 2, "batch_size": 256, "lr": 1e-3}
    settings.update(train)
    return write_config(os.path.join(tmp, name + ".yaml"), {
        "run": {"dir": os.path.join(tmp, name)},
        "data": {"dir": os.path.join(tmp, "demo", "downstream")},
        "model": dict(SMALL_MODEL, dropout=0.1, attn_dropout=0.1),
        "train": settings,
        "cluster": {"interest_ratio": 0.5, "memory_mb": 64},
        "finetune": {"mode": "transductive", "patience": 2},
    })


with tempfile.TemporaryDirectory() as tmp:
    synth_demo(os.path.join(tmp, "demo"), 0.1)
    pre_dir = os.path.join(tmp, "pre")
    config = write_config(os.path.join(tmp, "pre.yaml"), {
        "run": {"dir": pre_dir}, "data": {"dir": os.path.join(tmp, "demo", "pretrain")},
        "model": SMALL_MODEL, "train": {"epochs": 1, "batch_size": 128, "max_steps": 4},
        "cluster": {"memory_mb": 64}})
    code, out, err = run(["pretrain", "--config", config], mpi_np=2)
    check("pretrain exits 0", code == 0, out + err)
    pretrained = os.path.join(tmp, "pre.h5")
    run(["export", "--checkpoint", pre_dir, "--format", "native", "--out", pretrained])
    run(["export", "--checkpoint", pre_dir, "--format", "pytorch", "--out", os.path.join(tmp, "pre.pth")])

    # Fine-tune from the export.
    code, out, err = run(["finetune", "--config", finetune_config(tmp, "ft"), "--pretrained", pretrained],
                         mpi_np=2, timeout=300)
    check("finetune --pretrained exits 0", code == 0, out + err)
    best = os.path.join(tmp, "ft", "best.h5")
    before, after = tensors(pretrained), tensors(best)
    frozen = [n for n in before if n.startswith("trm_model.") or n.startswith("position_embedding.")]
    check("frozen tensors (trm_model.*, position_embedding) unchanged bit for bit",
          frozen and all(np.array_equal(before[n], after[n]) for n in frozen))
    check("the adaptors were trained", not np.array_equal(before["text_adaptor.weight"], after["text_adaptor.weight"]))
    check("transductive: item ID embeddings for every item plus padding",
          after.get("item_embedding.weight", np.zeros((0, 0))).shape[0] == 151)
    with open(os.path.join(tmp, "ft", "test_metrics.json")) as f:
        test_metrics = json.load(f)
    check("test_metrics.json has recall/ndcg @10/@20/@50 and users",
          set(test_metrics) == {"recall@10", "ndcg@10", "recall@20", "ndcg@20", "recall@50", "ndcg@50", "users"}, test_metrics)
    check("every test user counted once", test_metrics.get("users") == 120, test_metrics)

    # The transductive export in PyTorch: strict load, same z and scores as `missrec encode`.
    downstream = os.path.join(tmp, "demo", "downstream")
    pth, encoded = os.path.join(tmp, "ft.pth"), os.path.join(tmp, "ft_z.h5")
    code, out, err = run(["export", "--checkpoint", best, "--format", "pytorch", "--out", pth])
    check("export --checkpoint best.h5 --format pytorch exits 0", code == 0, out + err)
    code, out, err = run(["encode", "--model", best, "--data", downstream, "--split", "test", "--samples", "40",
                          "--out", encoded])
    check("encode accepts a transductive export", code == 0, out + err)
    if code == 0 and os.path.exists(pth):
        exported = torch.load(pth)
        module = MISSRec(exported["config"], n_items=exported["state_dict"]["item_embedding.weight"].shape[0] - 1)
        missing, unexpected = module.load_state_dict(exported["state_dict"], strict=True)
        check("the transductive state_dict loads strictly (item_embedding included)", not missing and not unexpected)
        module.train()  # dropout is 0 in the module; train mode avoids the encoder's nested-tensor path
        with h5py.File(encoded, "r") as f:
            inputs = {name: torch.as_tensor(np.asarray(f[name][()])) for name in f}
        text_all, image_all = dataset_features(downstream)
        with torch.no_grad():
            z = module(inputs["text"], inputs["image"], inputs["item_seq"], inputs["item_length"],
                       inputs["interest_seq"], exported["interests"]["interest_embeddings"])
            scores = module.scores(z, text_all, image_all)
        z_error = float((z - inputs["z"]).abs().max())
        check(f"transductive z equals the C++ model's (max abs error {z_error:.2e} <= 1e-5)", z_error <= 1e-5)
        s_error = float((scores - inputs["scores"]).abs().max())
        check(f"every item's score equals the C++ model's (max abs error {s_error:.2e} <= 1e-4)", s_error <= 1e-4)
        without_ids = MISSRec(exported["config"])
        without_ids.load_state_dict({k: v for k, v in exported["state_dict"].items() if k != "item_embedding.weight"})
        without_ids.train()
        with torch.no_grad():
            z_without = without_ids(inputs["text"], inputs["image"], inputs["item_seq"], inputs["item_length"],
                                    inputs["interest_seq"], exported["interests"]["interest_embeddings"])
        check("the item ID embeddings change z (the check can fail)", float((z_without - z).abs().max()) > 1e-3)

    # Evaluate at several rank counts.
    results = {}
    for ranks in (1, 2, 3):
        code, out, err = run(["evaluate", "--checkpoint", best, "--data", os.path.join(tmp, "demo", "downstream"),
                              "--split", "test"], mpi_np=ranks)
        check(f"evaluate at np={ranks} exits 0", code == 0, out + err)
        lines = [line for line in out.splitlines() if line.startswith("{")]
        results[ranks] = json.loads(lines[-1]) if lines else None
    check("np=1, 2 and 3 give identical metrics", results[1] == results[2] == results[3], results)
    check("evaluate equals the run's test metrics", results[1] == test_metrics, (results[1], test_metrics))

    # Early stopping and the best model: replay the rule on the logged validation NDCG@10.
    code, out, err = run(["finetune", "--config", finetune_config(tmp, "stop", epochs=12, lr=1e-12)], mpi_np=2,
                         timeout=300)
    check("finetune with patience 2 exits 0", code == 0, out + err)
    for name in ("ft", "stop"):
        epochs = read_metrics(os.path.join(tmp, name), "epoch")
        scores = [e["valid_ndcg@10"] for e in epochs]
        best_score, best_epoch, waited, stop_after = -1.0, 0, 0, None
        for epoch, score in enumerate(scores, 1):
            if score > best_score:
                best_score, best_epoch, waited = score, epoch, 0
            else:
                waited += 1
            if waited >= 2:
                stop_after = epoch
                break
        expected_epochs = stop_after if stop_after is not None else len(scores)
        check(f"{name}: ran {len(scores)} epochs as the patience rule says ({expected_epochs})",
              len(scores) == expected_epochs and (stop_after is not None or len(scores) in (2, 12)), scores)
        with h5py.File(os.path.join(tmp, name, "best.h5"), "r") as f:
            check(f"{name}: best.h5 is the epoch with the best validation NDCG@10 ({best_epoch})",
                  int(f.attrs["epoch"]) == best_epoch)
    check("the long run stopped early", len(read_metrics(os.path.join(tmp, "stop"), "epoch")) < 12)

    # The public checkpoint converter.
    exported = torch.load(os.path.join(tmp, "pre.pth"))
    fake = types.ModuleType("recbole_fake.config")

    class Config:  # pickled under a module the converter cannot import
        pass
    Config.__module__ = "recbole_fake.config"
    fake.Config = Config
    sys.modules["recbole_fake"] = types.ModuleType("recbole_fake")
    sys.modules["recbole_fake.config"] = fake
    public_config = Config()
    public_config.final_config_dict = {"hidden_size": 32, "n_heads": 2, "n_layers": 2, "inner_size": 64,
                                       "hidden_act": "gelu", "layer_norm_eps": 1e-12, "MAX_ITEM_LIST_LENGTH": 50}
    state = OrderedDict(exported["state_dict"])
    state["plm_embedding.weight"] = torch.randn(20, 512)
    state["img_embedding.weight"] = torch.randn(20, 512)
    public = os.path.join(tmp, "public.pth")
    torch.save({"config": public_config, "epoch": 7, "cur_step": 0, "best_valid_score": -1,
                "state_dict": state, "other_parameter": None, "optimizer": {"state": {}, "param_groups": []}},
               public)
    converted = os.path.join(tmp, "converted.h5")
    script = os.path.join(SOURCE, "scripts", "convert_public_checkpoint.py")
    proc = subprocess.run([sys.executable, script, public, "--out", converted], capture_output=True, text=True)
    check("converter exits 0 on a dict holding non-tensor objects", proc.returncode == 0, proc.stdout + proc.stderr)
    check("converter names what it left out", "plm_embedding.weight" in proc.stdout, proc.stdout)
    if proc.returncode == 0:
        got = tensors(converted)
        check("converted tensors equal the source state_dict",
              sorted(got) == sorted(exported["state_dict"]) and
              all(np.array_equal(got[n], exported["state_dict"][n].numpy()) for n in got))
        with h5py.File(converted, "r") as f:
            check("converted file keeps the epoch", int(f.attrs["epoch"]) == 7)
        code, out, err = run(["finetune", "--config", finetune_config(tmp, "from_public", epochs=1),
                              "--pretrained", converted], mpi_np=1, timeout=300)
        check("finetune --pretrained accepts the converted file", code == 0, out + err)
    bad = os.path.join(tmp, "bad.pth")
    torch.save({"state_dict": {"something.weight": torch.zeros(2)}}, bad)
    proc = subprocess.run([sys.executable, script, bad, "--out", os.path.join(tmp, "bad.h5")], capture_output=True,
                          text=True)
    check("converter rejects a non-MISSRec checkpoint with exit 2", proc.returncode == 2 and "lacks" in proc.stderr,
          proc.stderr)
    check("nothing written for the rejected file", not os.path.exists(os.path.join(tmp, "bad.h5")))
finish()
