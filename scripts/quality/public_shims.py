"""What running the public MISSRec implementation on a CPU-only machine in one process
needs, applied before its modules are used (scripts/quality/public_*.py):

* its RecBole copy uses np.float, which numpy 1.24 removed: the alias is restored;
* its trainers call torch.distributed even on one process: a one-process gloo group is
  started (its DDP setup, NCCL on a GPU, is replaced by keeping the model on the CPU);
* its interest refresh calls a CUDA-only k-means (torchpq, through cupy), with the paper's
  DPC-KNN call commented out beside it: the refresh runs its own cluster_dpc_knn instead,
  with local size ceil(knn_local_ratio x tokens), as missrec does; an import placeholder
  stands in for torchpq and raises if it is ever called;
* RecBole reads --key=value settings from the command line: sys.argv is emptied.
"""
import math
import os
import socket
import sys
import types


def prepare(public, knn_local_ratio):
    sys.path.insert(0, os.path.abspath(public))
    sys.argv = sys.argv[:1]
    import numpy as np
    if not hasattr(np, "float"):
        np.float = float

    placeholder = types.ModuleType("torchpq.clustering")

    class MinibatchKMeans:
        def __init__(self, *a, **k):
            raise RuntimeError("torchpq k-means is not available on the CPU")

    placeholder.MinibatchKMeans = MinibatchKMeans
    sys.modules.setdefault("torchpq", types.ModuleType("torchpq"))
    sys.modules["torchpq.clustering"] = placeholder

    import torch.distributed as dist
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)

    import trainer as public_trainer

    def dpc_knn_refresh(all_tokens, cluster_num, **_):
        local_size = max(1, math.ceil(len(all_tokens) * knn_local_ratio))
        return public_trainer.cluster_dpc_knn(all_tokens, cluster_num=cluster_num, local_size=local_size)

    public_trainer.cluster_kmeans = dpc_knn_refresh

    def on_cpu(self, rank, world_size):
        return 0

    public_trainer.DDPPretrainTrainer._build_distribute = on_cpu
    public_trainer.DDPTrainer._build_distribute = on_cpu
    return public_trainer


def parser(doc, *extra):
    """The drivers' command line: --public, --data, --dataset, --workdir and repeated --set,
    then `extra` (name, add_argument keywords) pairs."""
    import argparse
    result = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in ("--public", "--data", "--dataset", "--workdir"):
        result.add_argument(name, required=True)
    for name, options in extra:
        result.add_argument(name, **options)
    result.add_argument("--set", action="append", default=[])
    return result


def settings_from(items, base):
    """base updated with key=value items (values as Python literals where they parse)."""
    import ast
    settings = dict(base)
    for item in items:
        key, _, value = item.partition("=")
        try:
            settings[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            settings[key] = value
    return settings
