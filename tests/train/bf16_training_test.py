"""train.precision: bf16 trains differently from fp32, and about as well: the demo
(scaled), 2 pretraining epochs on 2 ranks in fp32 and in bf16 give epoch losses that
differ (relative gap > 0) by at most 2 %; fine-tuning the downstream domain from each
export (in the export's precision) and from scratch (in each precision) gives test
Recall@10 within 0.01 of fp32's. Skipped (CTest status 77) on a CPU without bf16
arithmetic, where bf16 is refused with exit 2 (checked instead)."""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from script_check import check, finish, read_metrics, run, synth_demo, write_config

SOURCE = os.environ.get("MISSREC_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
MODEL = {"hidden_size": 64, "n_heads": 4, "n_layers": 2, "inner_size": 128, "dropout": 0.1, "attn_dropout": 0.1,
         "max_seq_len": 50}


def cpu_has_bf16():
    flags = open("/proc/cpuinfo").read()
    return " avx512_bf16" in flags or " amx_bf16" in flags


def config(tmp, name, data, precision, **train):
    settings = {"epochs": 2, "batch_size": 256, "lr": 1e-3, "precision": precision}
    settings.update(train)
    return write_config(os.path.join(tmp, name + ".yaml"), {
        "run": {"dir": os.path.join(tmp, name), "seed": 6},
        "data": {"dir": data},
        "model": MODEL,
        "train": settings,
        "cluster": {"interest_ratio": 0.5 if "downstream" in data else 0.02, "memory_mb": 128},
        "finetune": {"mode": "transductive", "patience": 3},
    })


with tempfile.TemporaryDirectory() as tmp:
    synth_demo(os.path.join(tmp, "demo"), 0.3)
    pretrain_data = os.path.join(tmp, "demo", "pretrain")
    downstream = os.path.join(tmp, "demo", "downstream")
    if not cpu_has_bf16():
        code, out, err = run(["pretrain", "--config", config(tmp, "refused", pretrain_data, "bf16")], mpi_np=1)
        check("without bf16 arithmetic, bf16 is refused with exit 2 naming train.precision",
              code == 2 and "train.precision" in err, err[-1000:])
        print("bf16_training_test: the rest skipped: this CPU has no bf16 arithmetic")
        finish()
        sys.exit(77 if code == 2 else 1)
    losses, exports = {}, {}
    for precision in ("fp32", "bf16"):
        name = f"pre_{precision}"
        code, out, err = run(["pretrain", "--config", config(tmp, name, pretrain_data, precision)], mpi_np=2,
                             timeout=600)
        check(f"{precision} pretraining exits 0", code == 0, err[-2000:])
        losses[precision] = [e["loss"] for e in read_metrics(os.path.join(tmp, name), "epoch")]
        exports[precision] = os.path.join(tmp, name + ".h5")
        run(["export", "--checkpoint", os.path.join(tmp, name), "--format", "native", "--out", exports[precision]])
    gaps = [abs(b - f) / f for f, b in zip(losses["fp32"], losses["bf16"])]
    check(f"two epoch losses each ({losses})", len(losses["fp32"]) == 2 and len(losses["bf16"]) == 2)
    check(f"bf16 changes every epoch loss (relative gaps {gaps})", gaps and all(g > 0 for g in gaps))
    check(f"and by at most 2 % ({max(gaps or [1]):.2e})", gaps and max(gaps) <= 0.02)

    recall = {}
    for start in ("pretrained", "scratch"):
        for precision in ("fp32", "bf16"):
            name = f"ft_{start}_{precision}"
            extra = ["--pretrained", exports[precision]] if start == "pretrained" else []
            code, out, err = run(["finetune", "--config", config(tmp, name, downstream, precision, epochs=6),
                                  "--data", downstream] + extra, mpi_np=2, timeout=600)
            check(f"fine-tuning {start} in {precision} exits 0", code == 0, err[-2000:])
            with open(os.path.join(tmp, name, "test_metrics.json")) as f:
                recall[(start, precision)] = json.load(f)["recall@10"]
        gap = abs(recall[(start, "bf16")] - recall[(start, "fp32")])
        check(f"{start}: bf16 test Recall@10 {recall[(start, 'bf16')]:.4f} within 0.01 of fp32's "
              f"{recall[(start, 'fp32')]:.4f}", gap <= 0.01)
finish()
