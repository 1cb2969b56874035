"""TensorBoard event files (docs/usage.md): pretraining and fine-tuning write
<run.dir>/tensorboard/events.out.tfevents.*, and the `tensorboard` package's own reader
finds, for every "step" and "epoch" line of metrics.jsonl, each of its numbers under
<kind>/<field> at its global_step with the same value (as float32). Fine-tuning's epochs
carry the validation metrics; the learning rate and the interest count are there.
Reports CTest's skip status, naming the package, when `tensorboard` is not installed."""
import glob
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from script_check import SMALL_MODEL, check, finish, run, synth_demo, write_config

try:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
except ImportError:
    print("skipped: the tensorboard Python package is not installed (scripts/setup.sh installs it into .venv-py)")
    sys.exit(77)


def expected_scalars(metrics_path):
    """{(tag, global_step): value} from the step and epoch lines of metrics.jsonl."""
    expected = {}

    def add(prefix, obj, step):
        for key, value in obj.items():
            if isinstance(value, dict):
                add(f"{prefix}{key}/", value, step)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                expected[(prefix + key, step)] = value

    with open(metrics_path) as f:
        for line in f:
            record = json.loads(line)
            if record["kind"] in ("step", "epoch"):
                numbers = {k: v for k, v in record.items() if k not in ("kind", "epoch", "step", "steps", "global_step")}
                add(record["kind"] + "/", numbers, record["global_step"])
    return expected


def check_run(label, run_dir, required_tags):
    files = glob.glob(os.path.join(run_dir, "tensorboard", "events.out.tfevents.*"))
    check(f"{label}: one event file under tensorboard/", len(files) == 1, files)
    if not files:
        return
    events = EventAccumulator(os.path.join(run_dir, "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    found = {}
    for tag in events.Tags()["scalars"]:
        for event in events.Scalars(tag):
            found[(tag, event.step)] = event.value
    expected = expected_scalars(os.path.join(run_dir, "metrics.jsonl"))
    check(f"{label}: the same (tag, step) pairs as metrics.jsonl ({len(expected)})",
          set(found) == set(expected), sorted(set(found) ^ set(expected))[:10])
    wrong = [k for k in expected if k in found and found[k] != np.float32(expected[k])]
    check(f"{label}: every value equals metrics.jsonl's as float32", not wrong, wrong[:10])
    tags = {tag for tag, _ in found}
    missing = [t for t in required_tags if t not in tags]
    check(f"{label}: tags {', '.join(required_tags)}", not missing, missing)


with tempfile.TemporaryDirectory() as tmp:
    synth_demo(os.path.join(tmp, "demo"), 0.05)
    pre = os.path.join(tmp, "pre")
    config = write_config(os.path.join(tmp, "pre.yaml"), {
        "run": {"dir": pre}, "data": {"dir": os.path.join(tmp, "demo", "pretrain")}, "model": SMALL_MODEL,
        "train": {"epochs": 2, "batch_size": 128}, "cluster": {"memory_mb": 64}})
    code, out, err = run(["pretrain", "--config", config], mpi_np=2)
    check("pretrain exits 0", code == 0, err[-2000:])
    check_run("pretraining", pre, ["step/loss", "step/seq_item", "step/lr", "step/samples_per_s",
                                   "step/time_s/forward", "epoch/loss", "epoch/refresh_s", "epoch/interests"])
    domain_tags = [k for k, _ in expected_scalars(os.path.join(pre, "metrics.jsonl")) if "domain_seq_item/" in k]
    check("pretraining: per-domain losses", len({t.split("/")[-1] for t in domain_tags}) == 5, domain_tags[:5])

    ft_dir = os.path.join(tmp, "ft")
    ft = write_config(os.path.join(tmp, "ft.yaml"), {
        "run": {"dir": ft_dir}, "data": {"dir": os.path.join(tmp, "demo", "downstream")}, "model": SMALL_MODEL,
        "train": {"epochs": 2, "batch_size": 128}, "cluster": {"interest_ratio": 0.5, "memory_mb": 64}})
    code, out, err = run(["finetune", "--config", ft], mpi_np=2)
    check("finetune exits 0", code == 0, err[-2000:])
    check_run("fine-tuning", ft_dir, ["step/loss", "step/lr", "epoch/loss", "epoch/valid_recall@10",
                                      "epoch/valid_ndcg@10"])
finish()
