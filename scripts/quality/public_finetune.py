#!/usr/bin/env python3
"""Runs the public MISSRec implementation's own fine-tuning (its finetune.finetune: RecBole
data loading, MISSRecTrainer, early stopping, test with the best model) on one dataset in
the release layout, on the CPU in this process, and prints one JSON line of results.

  public_finetune.py --public PATH --data DIR --dataset NAME --mode transductive|inductive
      --seed N --workdir DIR [--pretrained FILE] [--set key=value ...]

DIR holds NAME/NAME.{train,valid,test}.inter and NAME.feat{1,3}CLS. --set passes RecBole
settings (hidden_size=64, epochs=20, ...; values are Python literals). public_shims.py
says what running it on a CPU in one process takes (its interest refresh runs its own
DPC-KNN).

The public evaluator reports metric@(k+1) for topk k (it indexes the k-th entry of
the cumulative metric, 0-based): it is asked for k = 9, 19, 49 and the results are
printed as @10, @20, @50, and the validation metric selecting the best epoch is its
NDCG@9, the true NDCG@10, as ours. best_epoch is 1-based.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import public_shims  # noqa: E402


def main():
    parser = public_shims.parser(__doc__, ("--mode", {"choices": ["transductive", "inductive"], "required": True}),
                                 ("--seed", {"type": int, "required": True}), ("--pretrained", {"default": ""}))
    args = parser.parse_args()
    public = os.path.abspath(args.public)
    data = os.path.abspath(args.data)
    pretrained = os.path.abspath(args.pretrained) if args.pretrained else ""
    os.makedirs(args.workdir, exist_ok=True)
    os.chdir(args.workdir)  # its logs and checkpoints go to ./log and ./saved
    settings = public_shims.settings_from(args.set, {
        "data_path": data, "seed": args.seed, "world_size": 1, "gpu_id": "", "use_gpu": False,
        "show_progress": False, "checkpoint_dir": "saved", "topk": [9, 19, 49], "metrics": ["Recall", "NDCG"],
        "valid_metric": "NDCG@9", "metric_decimal_place": 6})
    public_shims.prepare(public, float(settings.get("knn_local_ratio", 0.1)))
    import recbole.trainer.trainer as recbole_trainer  # its fit() calls early_stopping
    from finetune import finetune

    updates = []
    original = recbole_trainer.early_stopping

    def recording_early_stopping(*a, **k):
        result = original(*a, **k)
        updates.append(result[3])
        return result

    recbole_trainer.early_stopping = recording_early_stopping
    props = ",".join(os.path.join(public, "props", name) for name in ("MISSRec.yaml", "finetune.yaml"))
    start = time.time()
    _, _, result = finetune(args.dataset, pretrained, props=props, mode=args.mode, fix_enc=True, **settings)
    elapsed = time.time() - start
    best_epoch = max((i + 1 for i, updated in enumerate(updates) if updated), default=0)
    line = {"side": "public", "mode": args.mode, "seed": args.seed, "pretrained": bool(pretrained)}
    for k, shown in ((9, 10), (19, 20), (49, 50)):
        for metric in ("recall", "ndcg"):
            line[f"{metric}@{shown}"] = float(result["test_result"][f"{metric}@{k}"])
    line.update({"best_epoch": best_epoch, "epochs": len(updates), "time_s": round(elapsed, 1)})
    print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
