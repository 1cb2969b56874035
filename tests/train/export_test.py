"""The PyTorch export (docs/data-format.md): `missrec export --format pytorch` writes a
file Python's torch.load reads; a PyTorch module with the public implementation's
parameter names (text_adaptor, img_adaptor, position_embedding, LayerNorm,
fusion_factor, torch.nn.Transformer for trm_model) loads its state_dict strictly and
computes the same sequence vectors as the C++ model on one batch (`missrec encode` on
the native export gives the C++ side and the inputs)."""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from script_check import SMALL_MODEL, check, finish, run, synth_demo, write_config
from torch_missrec import MISSRec


with tempfile.TemporaryDirectory() as tmp:
    synth_demo(os.path.join(tmp, "demo"), 0.05)
    run_dir = os.path.join(tmp, "run")
    config = write_config(os.path.join(tmp, "run.yaml"), {
        "run": {"dir": run_dir},
        "data": {"dir": os.path.join(tmp, "demo", "pretrain")},
        "model": SMALL_MODEL,
        "train": {"epochs": 1, "batch_size": 128, "max_steps": 6},
        "cluster": {"memory_mb": 64},
    })
    code, out, err = run(["pretrain", "--config", config], mpi_np=2, timeout=240)
    check("pretrain exits 0", code == 0, out + err)
    pth, native = os.path.join(tmp, "model.pth"), os.path.join(tmp, "model.h5")
    for fmt, path in (("pytorch", pth), ("native", native)):
        code, out, err = run(["export", "--checkpoint", run_dir, "--format", fmt, "--out", path])
        check(f"export --format {fmt} exits 0", code == 0, out + err)

    # torch.load's default since PyTorch 2.6 is weights_only=True, the safe unpickler. The
    # torch of these tests may be older (1.13's safe unpickler knows no floats): then the
    # check runs with the CUDA torch wheel of scripts/cuda_torch.sh, when it is installed.
    load_safely = "import sys, torch; e = torch.load(sys.argv[1], weights_only=True); assert 'state_dict' in e"
    wheel_python = os.path.join(os.environ["MISSREC_SOURCE_DIR"], ".venv-torch", "bin", "python")
    safe_python = sys.executable if int(torch.__version__.split(".")[0]) >= 2 else wheel_python
    if os.path.exists(safe_python):
        proc = subprocess.run([safe_python, "-c", load_safely, pth], capture_output=True, text=True, timeout=120)
        check(f"torch.load(weights_only=True) of {os.path.basename(safe_python)}'s torch reads the export",
              proc.returncode == 0, proc.stderr[-800:])
    else:
        print("skipped: torch.load(weights_only=True) needs torch >= 2 (none here)")
    exported = torch.load(pth)
    check("torch.load gives a dict with state_dict, epoch, config",
          isinstance(exported, dict) and {"state_dict", "epoch", "config"} <= set(exported))
    c = exported["config"]
    needed = {"hidden_size", "n_heads", "n_layers", "inner_size", "layer_norm_eps", "hidden_act",
              "temperature", "max_seq_len", "dataset"}
    check("config has the model keys and the dataset", needed <= set(c), sorted(c))
    check("epoch is an int", isinstance(exported["epoch"], int))
    module = MISSRec(c)
    missing, unexpected = module.load_state_dict(exported["state_dict"], strict=True)
    check("a PyTorch module with the public implementation's names loads the state_dict strictly",
          not missing and not unexpected)
    module.train()  # dropout is 0; train mode avoids the encoder's nested-tensor fast path

    encoded = os.path.join(tmp, "z.h5")
    code, out, err = run(["encode", "--model", native, "--data", os.path.join(tmp, "demo", "pretrain"),
                          "--samples", "48", "--out", encoded])
    check("encode exits 0", code == 0, out + err)
    with h5py.File(encoded, "r") as f:
        inputs = {name: torch.as_tensor(np.asarray(f[name][()])) for name in f}
    with torch.no_grad():
        z = module(inputs["text"], inputs["image"], inputs["item_seq"], inputs["item_length"],
                   inputs["interest_seq"], exported["interests"]["interest_embeddings"])
    error = float((z - inputs["z"]).abs().max())
    check(f"sequence vectors equal the C++ model's (max abs error {error:.2e} <= 1e-5)", error <= 1e-5)
    check("the batch has histories of different lengths",
          int(inputs["item_length"].min()) < int(inputs["item_length"].max()))
finish()
