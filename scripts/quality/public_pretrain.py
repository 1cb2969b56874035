#!/usr/bin/env python3
"""Runs the public MISSRec implementation's own pretraining (its ddp_pretrain.pretrain:
PretrainMISSRecDataset, CustomizedTrainDataLoader, DDPMISSRecPretrainTrainer) on a
pretraining dataset in the release layout, on the CPU in this one process, and prints one
JSON line with the checkpoint it saved after the last epoch.

  public_pretrain.py --public PATH --data DIR --dataset NAME --epochs N --seed N
      --workdir DIR [--set key=value ...]

DIR holds NAME/NAME.pt_datasets, NAME.train.inter and <Domain>.feat{1,2,3}CLS. --set passes
RecBole settings (values are Python literals). public_shims.py says what running it on a
CPU in one process takes (its interest refresh runs its own DPC-KNN).
"""
import glob
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import public_shims  # noqa: E402


def main():
    parser = public_shims.parser(__doc__, ("--epochs", {"type": int, "required": True}),
                                 ("--seed", {"type": int, "required": True}))
    args = parser.parse_args()
    public = os.path.abspath(args.public)
    os.makedirs(args.workdir, exist_ok=True)
    os.chdir(args.workdir)  # its logs and checkpoints go to ./log and ./saved
    settings = public_shims.settings_from(args.set, {
        "data_path": os.path.abspath(args.data), "seed": args.seed, "gpu_id": "", "use_gpu": False,
        "checkpoint_dir": "saved", "pretrain_epochs": args.epochs, "save_step": args.epochs})
    public_shims.prepare(public, float(settings.get("knn_local_ratio", 0.1)))
    import ddp_pretrain

    if not os.path.exists("props"):  # its props paths are relative to the working directory
        os.symlink(os.path.join(public, "props"), "props")
    settings["checkpoint_dir"] = os.path.abspath("saved")
    start = time.time()
    ddp_pretrain.pretrain(0, 1, args.dataset, **settings)
    elapsed = time.time() - start
    saved = sorted(glob.glob(os.path.join(settings["checkpoint_dir"], f"*-{args.epochs}-*.pth")))
    if not saved:
        sys.exit(f"public_pretrain.py: no checkpoint of epoch {args.epochs} in {settings['checkpoint_dir']}")
    print(json.dumps({"side": "public", "checkpoint": saved[-1], "epochs": args.epochs, "time_s": round(elapsed, 1)}),
          flush=True)


if __name__ == "__main__":
    main()
