#!/usr/bin/env python3
"""Converts a checkpoint of the public Python MISSRec implementation into the native
export that `missrec finetune --pretrained` reads.

    scripts/convert_public_checkpoint.py MISSRec-pretrain.pth --out pretrained.h5 \
        [--hidden-size 300 --n-heads 4 --n-layers 2 --inner-size 256 ...]

The input is a torch.save file: a dict with the parameters under "state_dict" (RecBole's
layout) or the state_dict itself. It may also hold objects of classes this Python
cannot import (RecBole's Config, numpy states, ...): those are read as placeholders
and their plain attributes kept, so no RecBole install is needed. The model's shape is
taken from the checkpoint's config when it has one, else from the flags (the paper's
values by default). Parameters with the public implementation's names are kept; the rest (the feature
tables the public code stores as embeddings, optimizer state, ...) are listed and left
out. Exit status 2 with one line naming the problem for an unusable file.
"""
import argparse
import os
import pickle
import sys

MODEL_PREFIXES = ("text_adaptor.", "img_adaptor.", "position_embedding.", "LayerNorm.", "trm_model.",
                 "item_embedding.")
MODEL_NAMES = ("fusion_factor",)
REQUIRED = ("text_adaptor.weight", "img_adaptor.weight", "position_embedding.weight", "LayerNorm.weight",
            "fusion_factor")
SHAPE_KEYS = {  # ours: (RecBole config keys, default)
    "hidden_size": (("hidden_size",), 300),
    "n_heads": (("n_heads",), 4),
    "n_layers": (("n_layers",), 2),
    "inner_size": (("inner_size",), 256),
    "layer_norm_eps": (("layer_norm_eps",), 1e-12),
    "hidden_act": (("hidden_act",), "gelu"),
    "max_seq_len": (("MAX_ITEM_LIST_LENGTH", "max_seq_len"), 50),
    "temperature": (("temperature", "temp"), 0.07),
}


def fail(message):
    print(f"convert_public_checkpoint: error: {message}", file=sys.stderr)
    sys.exit(2)


class Placeholder:
    """Stands in for an object whose class cannot be imported; keeps its state."""

    def __init__(self, *args, **kwargs):
        self.args = args

    def __setstate__(self, state):
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self.state = state

    def __call__(self, *args, **kwargs):
        return Placeholder()

    def __getitem__(self, key):
        return self.__dict__.get("final_config_dict", self.__dict__).get(key)


class TolerantUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError):
            return type(name, (Placeholder,), {"__module__": "placeholder." + module})


class TolerantPickleModule:
    Unpickler = TolerantUnpickler
    __name__ = "tolerant_pickle"

    @staticmethod
    def load(file, **kwargs):
        return TolerantUnpickler(file, **kwargs).load()


def config_values(checkpoint):
    """Plain settings from the checkpoint's config, whatever object holds them."""
    config = checkpoint.get("config") if isinstance(checkpoint, dict) else None
    if config is None:
        return {}
    if isinstance(config, dict):
        return config
    values = dict(getattr(config, "__dict__", {}))
    for nested in ("final_config_dict", "external_config_dict"):
        if isinstance(values.get(nested), dict):
            values = {**values[nested], **values}
    return values


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("--out", required=True, help="native export to write (.h5)")
    for key, (_, default) in SHAPE_KEYS.items():
        parser.add_argument("--" + key.replace("_", "-"), type=type(default), default=None,
                            help=f"used when the checkpoint's config lacks it (default {default})")
    parser.add_argument("--epoch", type=int, default=None)
    args = parser.parse_args()

    try:
        import h5py
        import numpy as np
        import torch
        import yaml
    except ImportError as e:
        fail(f"needs python3-torch, python3-h5py and python3-yaml ({e})")
    if not os.path.isfile(args.checkpoint):
        fail(f"{args.checkpoint}: no such file")
    # torch 1.13's torch.load replaces any pickle_module with `pickle` itself, so the
    # tolerant unpickler is also installed as pickle.Unpickler while loading.
    original_unpickler = pickle.Unpickler
    pickle.Unpickler = TolerantUnpickler
    try:
        try:
            checkpoint = torch.load(args.checkpoint, map_location="cpu", pickle_module=TolerantPickleModule,
                                    weights_only=False)
        except TypeError:  # torch < 1.13 has no weights_only
            checkpoint = torch.load(args.checkpoint, map_location="cpu", pickle_module=TolerantPickleModule)
    except Exception as e:  # noqa: BLE001 - any unreadable file is bad input
        fail(f"{args.checkpoint}: not a readable torch.save file ({type(e).__name__}: {e})")
    finally:
        pickle.Unpickler = original_unpickler

    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not any(torch.is_tensor(v) for v in state.values()):
        fail(f"{args.checkpoint}: no state_dict of tensors (expected a dict with 'state_dict', or a state_dict)")
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    kept = {k: v for k, v in state.items()
            if torch.is_tensor(v) and (k.startswith(MODEL_PREFIXES) or k in MODEL_NAMES)}
    dropped = sorted(k for k in state if k not in kept)
    missing = [k for k in REQUIRED if k not in kept]
    if missing:
        fail(f"{args.checkpoint}: state_dict lacks {', '.join(missing)} (not a MISSRec checkpoint?)")
    if not any(k.startswith("trm_model.encoder.layers.") for k in kept):
        fail(f"{args.checkpoint}: state_dict has no trm_model.encoder.layers.* (not a MISSRec checkpoint?)")

    settings = config_values(checkpoint)
    model = {}
    for key, (their_keys, default) in SHAPE_KEYS.items():
        flag = getattr(args, key)
        found = next((settings[k] for k in their_keys if k in settings and settings[k] is not None), None)
        value = flag if flag is not None else (found if found is not None else default)
        model[key] = type(default)(value)
    hidden = kept["text_adaptor.weight"].shape[0]
    if model["hidden_size"] != hidden:
        print(f"convert_public_checkpoint: hidden_size {hidden} from the weights "
              f"(config said {model['hidden_size']})", file=sys.stderr)
        model["hidden_size"] = hidden
    model["max_seq_len"] = int(kept["position_embedding.weight"].shape[0])
    encoder_layers = {k.split(".")[3] for k in kept if k.startswith("trm_model.encoder.layers.")}
    decoder_layers = {k.split(".")[3] for k in kept if k.startswith("trm_model.decoder.layers.")}
    model["n_layers"] = len(encoder_layers) + len(decoder_layers)
    linear1 = kept.get("trm_model.encoder.layers.0.linear1.weight")
    if linear1 is not None:
        model["inner_size"] = int(linear1.shape[0])
    temperature = model.pop("temperature")
    epoch = args.epoch if args.epoch is not None else checkpoint.get("epoch", 0) if isinstance(checkpoint, dict) else 0
    try:
        epoch = int(epoch)
    except (TypeError, ValueError):
        epoch = 0
    config_text = yaml.safe_dump({"run": {"name": "converted"},
                                  "model": {**model, "temperature": temperature}}, sort_keys=False)

    staging = args.out + ".partial"
    try:
        with h5py.File(staging, "w") as f:
            for name, tensor in kept.items():
                value = tensor.detach().cpu()
                f.create_dataset("model/" + name, data=value.float().numpy() if value.is_floating_point()
                                 else value.long().numpy())
            f.attrs["format"] = np.bytes_("missrec-export")
            f.attrs["format_version"] = np.int64(1)
            f.attrs["epoch"] = np.int64(epoch)
            f.attrs["global_step"] = np.int64(0)
            f.attrs["config"] = np.bytes_(config_text)
        os.replace(staging, args.out)
    except OSError as e:
        if os.path.exists(staging):
            os.remove(staging)
        fail(f"{args.out}: cannot write ({e})")
    print(f"wrote {args.out}: {len(kept)} tensors (hidden_size {model['hidden_size']}, n_layers "
          f"{model['n_layers']}, max_seq_len {model['max_seq_len']}); left out {len(dropped)}: "
          f"{', '.join(dropped) if dropped else 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
