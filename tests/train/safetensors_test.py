"""`missrec export --format safetensors` (docs/data-format.md): the file follows the
format's specification byte for byte (8-byte little-endian header length, a JSON header
padded with spaces to a multiple of 8, every tensor's dtype, shape and data_offsets, a
byte buffer covered without holes, each tensor aligned to its element size); it holds the .pth export's
state_dict exactly (names, shapes, dtypes, values) plus the interest tables and the
configuration as metadata; the state_dict loads strictly into a PyTorch module with the
public implementation's names; the `safetensors` package reads it when installed;
`finetune --pretrained` and `evaluate` take it. A malformed file, one case per field, is
exit 2 with the field named and nothing written."""
import json
import os
import struct
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from script_check import SMALL_MODEL, check, finish, run, synth_demo, write_config
from torch_missrec import MISSRec

DTYPES = {"F32": np.float32, "I64": np.int64}


def parse(path):
    """(header dict, byte buffer) as the specification reads a file."""
    data = open(path, "rb").read()
    (length,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + length]), data[8 + length:], length


def tensors_of(header, buffer):
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        out[name] = np.frombuffer(buffer[begin:end], dtype=DTYPES[entry["dtype"]]).reshape(entry["shape"])
    return out


def rewrite(path, out, header=None, buffer=None, raw_header=None, length=None):
    original_header, original_buffer, _ = parse(path)
    text = raw_header if raw_header is not None else json.dumps(header if header is not None else original_header)
    text = text.encode() + b" " * ((8 - len(text) % 8) % 8)
    with open(out, "wb") as f:
        f.write(struct.pack("<Q", length if length is not None else len(text)) + text +
                (buffer if buffer is not None else original_buffer))
    return out


with tempfile.TemporaryDirectory() as tmp:
    synth_demo(os.path.join(tmp, "demo"), 0.1)
    run_dir = os.path.join(tmp, "pre")
    config = write_config(os.path.join(tmp, "pre.yaml"), {
        "run": {"dir": run_dir}, "data": {"dir": os.path.join(tmp, "demo", "pretrain")}, "model": SMALL_MODEL,
        "train": {"epochs": 1, "batch_size": 128, "max_steps": 3}, "cluster": {"memory_mb": 64}})
    code, out, err = run(["pretrain", "--config", config])
    check("pretrain exits 0", code == 0, err[-2000:])
    st, pth = os.path.join(tmp, "pre.safetensors"), os.path.join(tmp, "pre.pth")
    code, out, err = run(["export", "--checkpoint", run_dir, "--format", "safetensors", "--out", st])
    check("export --format safetensors exits 0", code == 0, err[-1000:])
    run(["export", "--checkpoint", run_dir, "--format", "pytorch", "--out", pth])

    header, buffer, length = parse(st)
    check("the header length is a multiple of 8 and the header is a JSON object padded with spaces",
          length % 8 == 0 and isinstance(header, dict))
    entries = sorted((e["data_offsets"], n) for n, e in header.items() if n != "__metadata__")
    covered = all(a[0][1] == b[0][0] for a, b in zip(entries, entries[1:])) and entries[0][0][0] == 0 \
        and entries[-1][0][1] == len(buffer)
    check("the byte buffer is covered from 0 to its end without holes or overlaps", covered)
    sizes = {"F32": 4, "I64": 8}
    check("every tensor starts at a multiple of its element size (the data starts 8-byte aligned)",
          all(o[0] % sizes[header[n]["dtype"]] == 0 for o, n in entries))
    check("dtypes are F32 and I64 only", {e["dtype"] for n, e in header.items() if n != "__metadata__"} <= set(DTYPES))
    meta = header.get("__metadata__", {})
    check("metadata: format, config (YAML), epoch, global_step",
          meta.get("format") == "missrec-export" and "hidden_size" in meta.get("config", "")
          and meta.get("global_step") == "3")
    ours = tensors_of(header, buffer)
    exported = torch.load(pth)
    state = {n: t.numpy() for n, t in exported["state_dict"].items()}
    same = sorted(n for n in ours if not n.startswith("interests.")) == sorted(state) and all(
        ours[n].dtype == state[n].dtype and np.array_equal(ours[n], state[n]) for n in state)
    check("the state_dict equals the .pth export's (names, shapes, dtypes, values)", same)
    check("the interest tables are there (interests.*)",
          np.array_equal(ours["interests.text_interest"], exported["interests"]["text_interest"].numpy()))
    module = MISSRec(exported["config"])
    missing, unexpected = module.load_state_dict(
        {n: torch.from_numpy(ours[n].copy()) for n in state}, strict=True)
    check("the state_dict loads strictly into the public-named PyTorch module", not missing and not unexpected)
    try:
        from safetensors.numpy import load_file
        loaded = load_file(st)
        check("the safetensors package reads the same tensors",
              sorted(loaded) == sorted(ours) and all(np.array_equal(loaded[n], ours[n]) for n in ours))
    except ImportError:
        print("skipped: the safetensors package is not installed (pip install safetensors)")

    downstream = os.path.join(tmp, "demo", "downstream")
    ft = write_config(os.path.join(tmp, "ft.yaml"), {
        "run": {"dir": os.path.join(tmp, "ft")}, "data": {"dir": downstream}, "model": SMALL_MODEL,
        "train": {"epochs": 1, "batch_size": 128}, "cluster": {"interest_ratio": 0.5, "memory_mb": 64}})
    code, out, err = run(["finetune", "--config", ft, "--pretrained", st], mpi_np=1)
    check("finetune --pretrained takes the safetensors export", code == 0, err[-2000:])
    best_st = os.path.join(tmp, "best.safetensors")
    run(["export", "--checkpoint", os.path.join(tmp, "ft", "best.h5"), "--format", "safetensors", "--out", best_st])
    code, out, err = run(["evaluate", "--checkpoint", best_st, "--data", downstream, "--split", "test"])
    with open(os.path.join(tmp, "ft", "test_metrics.json")) as f:
        expected = json.load(f)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    check("evaluate takes a safetensors export and gives the run's test metrics",
          code == 0 and lines and json.loads(lines[-1]) == expected, err[-1000:])

    # Malformed files, one per field: exit 2, the field named, nothing written.
    name = sorted(n for n in header if n != "__metadata__")[0]
    bad_dtype = dict(header, **{name: dict(header[name], dtype="F64")})
    bad_offsets = dict(header, **{name: dict(header[name], data_offsets=[0, len(buffer) + 8])})
    bad_shape = dict(header, **{name: dict(header[name], shape=[1])})
    no_meta = {n: e for n, e in header.items() if n != "__metadata__"}
    cases = [
        ("header length beyond the file", rewrite(st, os.path.join(tmp, "b1"), length=1 << 40), "header length"),
        ("header not JSON", rewrite(st, os.path.join(tmp, "b2"), raw_header="{not json"), "not JSON"),
        ("unsupported dtype", rewrite(st, os.path.join(tmp, "b3"), header=bad_dtype), "dtype"),
        ("offsets beyond the buffer", rewrite(st, os.path.join(tmp, "b4"), header=bad_offsets), "data_offsets"),
        ("shape against offsets", rewrite(st, os.path.join(tmp, "b5"), header=bad_shape), "data_offsets"),
        ("a hole in the buffer", rewrite(st, os.path.join(tmp, "b6"), buffer=buffer + b"\0" * 8), "after its last"),
        ("no metadata", rewrite(st, os.path.join(tmp, "b7"), header=no_meta), "__metadata__"),
    ]
    for what, path, expected_text in cases:
        code, out, err = run(["evaluate", "--checkpoint", path, "--data", downstream, "--split", "test"])
        check(f"{what}: exit 2 naming the file and '{expected_text}'",
              code == 2 and expected_text in err and path in err, err[-600:])
    bad_run = os.path.join(tmp, "bad_ft")
    code, out, err = run(["finetune", "--config", ft, "--set", f"run.dir={bad_run}", "--pretrained",
                          cases[2][1]], mpi_np=1)
    check("finetune --pretrained with a malformed file: exit 2, no run directory",
          code == 2 and not os.path.exists(bad_run), err[-600:])
finish()
