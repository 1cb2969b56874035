"""missrec data convert on small inputs in the public MISSRec/UniSRec layouts (downstream
and pretraining): every row and item kept, ids mapped as docs/data-format.md describes
(a public 0-based item index becomes the local item id of its domain, "<d>-<i>" picks
domain d of pt_datasets); each malformed input exits 2 naming the file (and line), and
leaves no output behind."""
import os
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.environ["MISSREC_SOURCE_DIR"], "tests", "support"))
from script_check import check, failures, finish, run  # noqa: E402

HEADER = "user_id:token\titem_id_list:token_seq\titem_id:token\n"
D = 8






def write_features(path, rows, seed, missing=()):
    values = np.random.default_rng(seed).standard_normal((rows, D)).astype("<f4")
    for row in missing:
        values[row] = 0
    values.tofile(path)
    return values


def write_inter(path, rows):
    with open(path, "w") as f:
        f.write(HEADER)
        for user, history, target in rows:
            f.write(f"{user}\t{' '.join(history)}\t{target}\n")


def downstream(src):
    os.makedirs(src)
    text = write_features(f"{src}/Sci.feat1CLS", 6, 1)
    image = write_features(f"{src}/Sci.feat3CLS", 6, 2, missing=(3,))
    aug = write_features(f"{src}/Sci.feat2CLS", 6, 3)
    write_inter(f"{src}/Sci.train.inter", [("u1", ["0", "1"], "2"), ("u1", ["0"], "1"),
                                           ("u2", ["3", "4", "5"], "0")])
    write_inter(f"{src}/Sci.valid.inter", [("u1", ["0", "1", "2"], "3")])
    write_inter(f"{src}/Sci.test.inter", [("u1", ["0", "1", "2", "3"], "5"),
                                          ("u2", ["3"], "4")])
    with open(f"{src}/Sci.item2index", "w") as f:
        for i in range(6):
            f.write(f"ASIN{i}\t{i}\n")
    return text, image, aug


def pretraining(src):
    os.makedirs(src)
    with open(f"{src}/FHC.pt_datasets", "w") as f:
        f.write("Food,Home\n")
    feats = {}
    for d, (name, rows) in enumerate([("Food", 4), ("Home", 3)]):
        feats[name] = write_features(f"{src}/{name}.feat1CLS", rows, 10 + d)
        write_features(f"{src}/{name}.feat3CLS", rows, 20 + d)
    write_inter(f"{src}/FHC.train.inter", [("a", ["0-0", "0-1"], "0-3"), ("b", ["1-2"], "1-0"),
                                           ("b", ["1-2", "1-0"], "1-1"), ("c", ["0-3"], "0-2")])
    return feats


with tempfile.TemporaryDirectory() as tmp:
    # Downstream layout.
    src = f"{tmp}/down"
    text, image, aug = downstream(src)
    code, out, err = run(["data", "convert", "--from-missrec", src, "--out", f"{tmp}/down.h5ds",
                          "--feature-dim", str(D)])
    check("downstream converts", code == 0, out + err)
    check("downstream prints counts", "Sci: 6 items, 1 test, 3 train, 1 valid" not in out and
          "6 items" in out and "3 train" in out and "2 test" in out, out)
    with h5py.File(f"{tmp}/down.h5ds/Sci.h5", "r") as f:
        check("text kept", np.array_equal(f["items/text"][:], text))
        check("image kept (missing row zero)", np.array_equal(f["items/image"][:], image)
              and not f["items/image"][3].any())
        check("text_aug from feat2CLS", np.array_equal(f["items/text_aug"][:], aug))
        check("tokens from item2index", [t.decode() if isinstance(t, bytes) else t
                                         for t in f["items/token"][:]] ==
              [f"ASIN{i}" for i in range(6)])
        train = f["samples/train"]
        check("train rows in order", list(train["offsets"][:]) == [0, 2, 3, 6] and
              list(train["items"][:]) == [0, 1, 0, 3, 4, 5] and list(train["target"][:]) == [2, 1, 0])
        check("users indexed", list(train["user"][:]) == [0, 0, 1])
        check("test rows", list(f["samples/test/target"][:]) == [5, 4])
    code, out, err = run(["data", "inspect", f"{tmp}/down.h5ds"])
    check("converted dataset inspects clean", code == 0, out + err)

    # Pretraining layout.
    src = f"{tmp}/pt"
    feats = pretraining(src)
    code, out, err = run(["data", "convert", "--from-missrec", src, "--out", f"{tmp}/pt.h5ds",
                          "--feature-dim", str(D)])
    check("pretraining converts", code == 0, out + err)
    check("pretraining counts", "Food: 4 items, 2 train" in out and "Home: 3 items, 2 train" in out
          and "train.inter: 4 rows kept" in out, out)
    with h5py.File(f"{tmp}/pt.h5ds/Home.h5", "r") as f:
        check("domain features", np.array_equal(f["items/text"][:], feats["Home"]))
        check("domain samples use local ids", list(f["samples/train/items"][:]) == [2, 2, 0] and
              list(f["samples/train/target"][:]) == [0, 1])
    with open(f"{tmp}/pt.h5ds/dataset.yaml") as f:
        manifest = f.read()
    check("domain order from pt_datasets", manifest.index("Food") < manifest.index("Home"), manifest)

    # Malformed inputs: exit 2, one line naming file (and line), nothing written.
    def malformed(name, mutate, *expected):
        case = f"{tmp}/bad_{name}"
        downstream(case)
        mutate(case)
        out_dir = f"{tmp}/out_{name}"
        code, out, err = run(["data", "convert", "--from-missrec", case, "--out", out_dir,
                              "--feature-dim", str(D)])
        lines = [l for l in err.splitlines() if l.strip()]
        check(f"{name}: exit 2", code == 2, out + err)
        check(f"{name}: one line", len(lines) == 1, err)
        for text in expected:
            check(f"{name}: mentions {text!r}", text in err, err)
        leftovers = [p for p in os.listdir(tmp) if p.startswith(f"out_{name}") or
                     p.startswith(f".out_{name}")]
        check(f"{name}: nothing left behind", not leftovers, leftovers)

    def append(path, text):
        with open(path, "a") as f:
            f.write(text)

    malformed("ragged", lambda s: append(f"{s}/Sci.train.inter", "u3\t0 1\n"),
              "Sci.train.inter:5", "expected 3 tab-separated fields")
    malformed("unknown_token", lambda s: append(f"{s}/Sci.train.inter", "u3\t0 x7\t1\n"),
              "Sci.train.inter:5", "unknown item token 'x7'")
    malformed("id_beyond_features", lambda s: append(f"{s}/Sci.valid.inter", "u3\t0\t6\n"),
              "Sci.valid.inter:3", "item id 6 beyond the 6 feature rows")
    malformed("feature_size", lambda s: append(f"{s}/Sci.feat3CLS", "abc"),
              "Sci.feat3CLS", "not a multiple of 4*D")
    malformed("feature_rows", lambda s: np.zeros((5, D), "<f4").tofile(f"{s}/Sci.feat3CLS"),
              "Sci.feat3CLS", "has 5 rows, expected 6")
    malformed("missing_features", lambda s: os.remove(f"{s}/Sci.feat1CLS"), "Sci.feat1CLS")
    malformed("bad_header", lambda s: open(f"{s}/Sci.test.inter", "w").write("user\titems\titem\n"),
              "Sci.test.inter:1", "expected the header")
    malformed("empty_history", lambda s: append(f"{s}/Sci.train.inter", "u3\t\t1\n"),
              "Sci.train.inter:5", "empty item_id_list")
    code, out, err = run(["data", "convert", "--from-missrec", f"{tmp}/nothing", "--out", f"{tmp}/x"])
    check("missing source: exit 2", code == 2 and "nothing" in err, err)

finish()
