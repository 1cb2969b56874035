"""Readers validate everything (the dataset layout and rules of docs/data-format.md):
each malformed dataset makes `missrec data inspect` exit 2 with one line naming the file
and the dataset path. Also: synth is deterministic, float16 datasets read, inspect
reports the expected summary."""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.environ["MISSREC_SOURCE_DIR"], "tests", "support"))
from script_check import check, failures, finish, run  # noqa: E402







def digest(directory):
    h = hashlib.sha256()
    for name in sorted(os.listdir(directory)):
        if name.endswith(".h5"):
            with h5py.File(os.path.join(directory, name), "r") as f:
                for path in ["items/text", "items/image", "items/text_aug",
                             "samples/train/items", "samples/train/target"]:
                    if path in f:
                        h.update(f[path][:].tobytes())
    return h.hexdigest()


with tempfile.TemporaryDirectory() as tmp:
    good = f"{tmp}/good"
    small = ["--preset", "downstream", "--scale", "0.02", "--feature-dim", "8", "--seed", "5"]
    code, out, err = run(["data", "synth", "--out", good] + small)
    check("synth downstream", code == 0, out + err)
    code, out, err = run(["data", "inspect", good])
    check("inspect good", code == 0 and "Scientific" in out and "valid" in out, out + err)
    code, _, err = run(["data", "synth", "--out", f"{tmp}/again"] + small)
    check("same seed, same data", code == 0 and digest(good) == digest(f"{tmp}/again"), err)
    code, _, err = run(["data", "synth", "--out", f"{tmp}/other"] + small[:-1] + ["6"])
    check("other seed, other data", code == 0 and digest(good) != digest(f"{tmp}/other"), err)
    code, _, err = run(["data", "synth", "--out", good] + small)
    check("synth refuses an existing directory", code == 2 and "already exists" in err, err)

    code, out, err = run(["data", "synth", "--out", f"{tmp}/half", "--float16"] + small)
    with h5py.File(f"{tmp}/half/Scientific.h5", "r") as f:
        check("float16 stored", f["items/text"].dtype == np.float16, f["items/text"].dtype)
    code, out, err = run(["data", "inspect", f"{tmp}/half"])
    check("float16 dataset inspects", code == 0, out + err)

    demo = f"{tmp}/demo"
    code, out, err = run(["data", "synth", "--out", demo, "--scale", "0.05", "--feature-dim", "8"])
    code, out, err = run(["data", "inspect", f"{demo}/pretrain"])
    check("demo pretrain: five domains, a sharded one", code == 0 and "5 domains" in out and
          os.path.exists(f"{demo}/pretrain/Food-00001.h5"), out + err)
    no_image = float(out.split("\n")[2].split()[6].rstrip("%"))
    check("about 30% missing images", 15 <= no_image <= 45, out)

    def case(name, mutate, *expected):
        bad = f"{tmp}/{name}"
        shutil.copytree(good, bad)
        mutate(bad)
        code, out, err = run(["data", "inspect", bad])
        lines = [l for l in err.splitlines() if l.strip()]
        check(f"{name}: exit 2", code == 2, out + err)
        check(f"{name}: one line", len(lines) == 1, err)
        for text in expected:
            check(f"{name}: mentions {text!r}", text in err, err)

    def h5(bad, fn):
        with h5py.File(f"{bad}/Scientific.h5", "r+") as f:
            fn(f)

    def replace(f, path, values):
        del f[path]
        f[path] = values

    case("missing_image", lambda b: h5(b, lambda f: f.__delitem__("items/image")),
         "Scientific.h5: /items/image", "missing dataset")
    case("wrong_dim", lambda b: h5(b, lambda f: replace(f, "items/text", np.zeros((120, 7), "f4"))),
         "/items/text", "expected 8 columns")
    case("wrong_rows", lambda b: h5(b, lambda f: replace(f, "items/image", np.zeros((119, 8), "f4"))),
         "/items/image", "expected 120 rows")
    case("offsets_decrease", lambda b: h5(b, lambda f: f["samples/train/offsets"].__setitem__(3, 1)),
         "/samples/train/offsets", "must be monotone")
    case("offsets_end", lambda b: h5(b, lambda f: f["samples/train/offsets"].__setitem__(-1, 10**6)),
         "/samples/train/offsets")
    case("item_out_of_range", lambda b: h5(b, lambda f: f["samples/train/items"].__setitem__(5, 120)),
         "/samples/train/items", "outside [0, 120)")
    case("negative_item", lambda b: h5(b, lambda f: f["samples/valid/items"].__setitem__(0, -1)),
         "/samples/valid/items")
    case("target_out_of_range", lambda b: h5(b, lambda f: f["samples/test/target"].__setitem__(2, 999)),
         "/samples/test/target", "item id 999")
    case("target_length", lambda b: h5(b, lambda f: replace(f, "samples/test/target", np.zeros(3, "i4"))),
         "/samples/test/target", "expected")
    case("non_finite", lambda b: h5(b, lambda f: f["items/text_aug"].__setitem__((7, 2), np.nan)),
         "/items/text_aug", "row 7 has non-finite values")
    case("float_ids", lambda b: h5(b, lambda f: replace(f, "samples/train/target",
                                                        f["samples/train/target"][:].astype("f4"))),
         "/samples/train/target", "expected integers")
    case("domain_attribute", lambda b: h5(b, lambda f: f.attrs.__setitem__("domain", "Other")),
         "Scientific.h5", "domain=Scientific")
    case("version_attribute", lambda b: h5(b, lambda f: f.attrs.__setitem__("version", 2)),
         "Scientific.h5", "version=1")
    case("not_hdf5", lambda b: open(f"{b}/Scientific.h5", "wb").write(b"garbage" * 100),
         "Scientific.h5", "not a readable HDF5 file")
    case("truncated", lambda b: os.truncate(f"{b}/Scientific.h5", 4096), "Scientific.h5")
    case("missing_file", lambda b: os.remove(f"{b}/Scientific.h5"), "Scientific.h5")
    case("manifest_unknown_key", lambda b: open(f"{b}/dataset.yaml", "a").write("extra: 1\n"),
         "dataset.yaml", "unknown key 'extra'")
    case("manifest_dims", lambda b: open(f"{b}/dataset.yaml", "w").write(
        "format: missrec-h5\nversion: 1\ndomains:\n  - {name: Scientific, files: [Scientific.h5]}\n"
        "feature_dims: {text: 16, image: 8}\n"), "/items/text", "expected 16 columns")
    case("manifest_version", lambda b: open(f"{b}/dataset.yaml", "w").write(
        "format: missrec-h5\nversion: 3\ndomains:\n  - {name: Scientific, files: [Scientific.h5]}\n"
        "feature_dims: {text: 8, image: 8}\n"), "dataset.yaml: version")
    code, out, err = run(["data", "inspect", f"{tmp}/absent"])
    check("absent dataset: exit 2", code == 2 and "absent/dataset.yaml" in err, err)

finish()
