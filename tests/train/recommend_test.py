"""`missrec recommend` and `missrec vectors` (docs/usage.md) on a fine-tuned demo model
(transductive, so item-ID vectors too): the files are identical at np=1 and np=2;
Recall@10/20 computed from the top-K lists equal `evaluate`'s; the lists equal a
brute-force scoring in NumPy from the written vectors (fused text/image similarities
with the model's fusion factor, the ID similarity, divided by the temperature);
--exclude-history keeps every history item out of the lists and changes them; the
.npy files equal the HDF5 datasets; bad input is exit 2 with nothing written."""
import json
import os
import sys
import tempfile

import h5py
import numpy as np
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from script_check import SMALL_MODEL, check, finish, run, synth_demo, write_config


def read_all(path):
    with h5py.File(path, "r") as f:
        out = {}
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
        return out


def brute_force_topk(vectors, model_file, k):
    """Top-k global ids and scores of every user from vectors.h5 alone."""
    with h5py.File(model_file, "r") as f:
        factor = float(f["model/fusion_factor"][()])
        temperature = yaml.safe_load(f.attrs["config"])["model"]["temperature"]
    z = vectors["users/z"].astype(np.float64)
    a, c = z @ vectors["items/text"].T.astype(np.float64), z @ vectors["items/image"].T.astype(np.float64)
    fused = c + (a - c) / (1.0 + np.exp(-factor * (a - c)))
    if "items/id" in vectors:
        fused = (z @ vectors["items/id"].T.astype(np.float64) + 2.0 * fused) / 3.0
    scores = fused / temperature
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return order + 1, np.take_along_axis(scores, order, 1)


def recall(items, targets, k):
    return float(np.mean([t in row[:k] for row, t in zip(items, targets)]))


with tempfile.TemporaryDirectory() as tmp:
    synth_demo(os.path.join(tmp, "demo"), 0.1)
    data = os.path.join(tmp, "demo", "downstream")
    ft_dir = os.path.join(tmp, "ft")
    ft = write_config(os.path.join(tmp, "ft.yaml"), {
        "run": {"dir": ft_dir}, "data": {"dir": data}, "model": SMALL_MODEL,
        "train": {"epochs": 2, "batch_size": 128}, "cluster": {"interest_ratio": 0.5, "memory_mb": 64},
        "finetune": {"mode": "transductive"}})
    code, out, err = run(["finetune", "--config", ft], mpi_np=2)
    check("finetune exits 0", code == 0, err[-2000:])
    model = os.path.join(ft_dir, "best.h5")

    rec = {}
    for np_ in (1, 2):
        rec[np_] = os.path.join(tmp, f"rec{np_}.h5")
        code, out, err = run(["recommend", "--model", model, "--data", data, "--topk", "20", "--out", rec[np_]],
                             mpi_np=np_)
        check(f"recommend exits 0 at np={np_}", code == 0, err[-2000:])
    one, two = read_all(rec[1]), read_all(rec[2])
    check("recommend: np=1 and np=2 write the same datasets",
          sorted(one) == sorted(two) and all(np.array_equal(one[k], two[k]) for k in one), sorted(one))
    check("recommend: /items [U, 20], /scores, /sample, /user, /target",
          one["items"].shape[1] == 20 and one["scores"].shape == one["items"].shape
          and np.array_equal(one["sample"], np.arange(len(one["sample"]))) and (one["user"] >= 0).all())
    code, out, err = run(["evaluate", "--checkpoint", model, "--data", data, "--split", "test"])
    metrics = json.loads([line for line in out.splitlines() if line.startswith("{")][-1])
    for k in (10, 20):
        got = recall(one["items"], one["target"], k)
        check(f"Recall@{k} from the lists equals evaluate's ({metrics[f'recall@{k}']})",
              abs(got - metrics[f"recall@{k}"]) < 1e-6, got)

    vec = {}
    for np_ in (1, 2):
        vec[np_] = os.path.join(tmp, f"vec{np_}")
        code, out, err = run(["vectors", "--model", model, "--data", data, "--out", vec[np_]], mpi_np=np_)
        check(f"vectors exits 0 at np={np_}", code == 0, err[-2000:])
    same = all(open(os.path.join(vec[1], n), "rb").read() == open(os.path.join(vec[2], n), "rb").read()
               for n in ("items.npy", "users.npy"))
    check("vectors: np=1 and np=2 write the same .npy files", same)
    vectors = read_all(os.path.join(vec[1], "vectors.h5"))
    items_npy = np.load(os.path.join(vec[1], "items.npy"), mmap_mode="r")
    check("items.npy is text | image | id of vectors.h5",
          np.array_equal(items_npy, np.concatenate([vectors["items/text"], vectors["items/image"],
                                                    vectors["items/id"]], 1)))
    check("users.npy is /users/z", np.array_equal(np.load(os.path.join(vec[1], "users.npy")), vectors["users/z"]))
    ids, scores = brute_force_topk(vectors, model, 20)
    check("the lists' scores equal the brute-force scores from the vectors (1e-4 relative)",
          np.allclose(one["scores"], scores, rtol=1e-4, atol=1e-4),
          np.abs(one["scores"] - scores).max())
    agree = np.mean(ids == one["items"])
    check(f"the lists equal the brute-force top-20 (agreement {agree:.5f}; near-ties may swap)", agree > 0.999)

    excl = os.path.join(tmp, "excl.h5")
    code, out, err = run(["recommend", "--model", model, "--data", data, "--topk", "20", "--exclude-history",
                          "--out", excl])
    check("recommend --exclude-history exits 0", code == 0, err[-1000:])
    ex = read_all(excl)
    # One domain: global id = local id + 1; samples in file order.
    with h5py.File(os.path.join(data, "Scientific.h5"), "r") as f:
        offsets, local = f["samples/test/offsets"][()], f["samples/test/items"][()]
    histories = [set(local[offsets[i]:offsets[i + 1]] + 1) for i in range(len(offsets) - 1)]
    check("--exclude-history: no history item in any list",
          len(histories) == len(ex["items"]) and all(not (set(row) & h) for row, h in zip(ex["items"], histories)))
    check("without it some lists hold history items (what the option removes)",
          any(set(row) & h for row, h in zip(one["items"], histories)))
    changed = not np.array_equal(ex["items"], one["items"])
    check("--exclude-history changes the lists", changed)
    check("--exclude-history only removes items, the rest keep their order",
          all([i for i in one["items"][u] if i in set(ex["items"][u])] ==
              [i for i in ex["items"][u] if i in set(one["items"][u])] for u in range(len(one["items"]))))

    for args, what in [(["--topk", "0"], "--topk"), (["--topk", "99999999"], "--topk"),
                       (["--split", "nope"], "--split")]:
        bad = os.path.join(tmp, "bad.h5")
        code, out, err = run(["recommend", "--model", model, "--data", data, "--out", bad] + args)
        check(f"recommend {' '.join(args)}: exit 2 naming {what}, nothing written",
              code == 2 and what in err and not os.path.exists(bad), err[-400:])
    code, out, err = run(["vectors", "--model", model, "--data", data, "--out", vec[1]])
    check("vectors into an existing directory: exit 2 naming it", code == 2 and vec[1] in err, err[-400:])
finish()
