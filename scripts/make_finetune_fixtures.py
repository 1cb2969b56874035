#!/usr/bin/env python3
"""Writes the fine-tuning parity fixtures (tests/fixtures/missrec_{inductive,transductive}_ft.h5) from the
public MISSRec implementation's own model code, imported from a checkout you give.

  scripts/make_finetune_fixtures.py --public PATH [--out tests/fixtures]

PATH is a checkout of the public implementation (gimpong/MM23-MISSRec); nothing of it is
copied. Its model needs torch, numpy and h5py, and its bundled recbole package colorlog
(`pip install colorlog colorama`). For each stage (inductive_ft, transductive_ft) the script builds
the public MISSRec with dropout 0 on a synthetic catalogue, sets its weights from a fixed
seed (LayerNorm affine values and fusion_factor moved away from their initial values, item
ID embeddings scaled up), sets interest tables, and records on one fixed batch: the
sequence vectors and interest regulariser (_compute_seq_embeddings), the loss
(calculate_loss) with every trainable parameter's gradient, and the full-ranking scores
(full_sort_predict). tests/fixtures/README.md describes the layout.
"""
import argparse
import os
import sys

# h5py, numpy and torch, imported once the command line is read (--help needs nothing).
h5py = np = torch = None

STAGES = ("inductive_ft", "transductive_ft")
SHAPE = dict(n_items=61, batch=16, max_len=20, hidden=64, heads=2, layers=2, inner=128, width=512)


class Catalogue:
    """The part of a RecBole dataset the public model reads: item counts and feature tables."""

    def __init__(self, text, image):
        self.plm_embedding = torch.nn.Embedding.from_pretrained(text, freeze=True, padding_idx=0)
        self.img_embedding = torch.nn.Embedding.from_pretrained(image, freeze=True, padding_idx=0)

    def num(self, field):
        return self.plm_embedding.num_embeddings


def public_config(stage):
    s = SHAPE
    return {
        "USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id", "LIST_SUFFIX": "_list",
        "ITEM_LIST_LENGTH_FIELD": "item_length", "NEG_PREFIX": "neg_", "MAX_ITEM_LIST_LENGTH": s["max_len"],
        "device": torch.device("cpu"), "n_layers": s["layers"], "n_heads": s["heads"], "hidden_size": s["hidden"],
        "inner_size": s["inner"], "hidden_dropout_prob": 0.0, "attn_dropout_prob": 0.0, "hidden_act": "gelu",
        "layer_norm_eps": 1e-12, "initializer_range": 0.02, "loss_type": "CE", "train_stage": stage,
        "temperature": 0.07, "lambda": 1e-3, "gamma": 1e-4, "modal_type": "img_text", "id_type": "id",
        "seq_mm_fusion": "add", "item_mm_fusion": "dynamic_shared", "interest_ratio": 0.1,
        "knn_local_ratio": 0.1, "plm_size": s["width"], "img_size": s["width"],
    }


def tables(rng):
    s = SHAPE
    text = rng.standard_normal((s["n_items"], s["width"])).astype(np.float32)
    image = rng.standard_normal((s["n_items"], s["width"])).astype(np.float32)
    text[0] = image[0] = 0.0
    image[[5, 17]] = 0.0  # items without an image
    text[29] = 0.0  # an item without text
    return torch.from_numpy(text), torch.from_numpy(image)


def batch(rng):
    s = SHAPE
    lengths = np.concatenate([[1, s["max_len"], s["max_len"]], rng.integers(1, s["max_len"] + 1, s["batch"] - 3)])
    item_seq = np.zeros((s["batch"], s["max_len"]), np.int64)
    for b, length in enumerate(lengths):
        item_seq[b, :length] = rng.integers(1, s["n_items"], length)
    pos_item = rng.integers(1, s["n_items"], s["batch"])
    return torch.from_numpy(item_seq), torch.from_numpy(lengths.astype(np.int64)), torch.from_numpy(pos_item)


def build(public_dir, stage, seed):
    sys.path.insert(0, public_dir)
    from missrec import MISSRec  # the public implementation's model

    rng = np.random.default_rng(seed)
    text, image = tables(rng)
    torch.manual_seed(seed)
    model = MISSRec(public_config(stage), Catalogue(text, image))
    with torch.no_grad():
        for name, value in model.named_parameters():
            if "norm" in name.lower():
                value.add_(torch.randn_like(value) * 0.1)
            if name == "item_embedding.weight":
                value.mul_(25.0)
                value[0] = 0.0
        model.fusion_factor.fill_(0.7)
        k = model.interest_embeddings.shape[0] - 1
        model.interest_embeddings.copy_(torch.cat([torch.zeros(1, SHAPE["hidden"]), torch.randn(k, SHAPE["hidden"])]))
        for buffer in (model.plm_interest_lookup_table, model.img_interest_lookup_table):
            buffer.copy_(torch.from_numpy(rng.integers(1, k + 1, SHAPE["n_items"])))
            buffer[0] = 0
    model.train()  # dropout is 0: training and evaluation agree
    return model, text, image


def interest_seq(model, item_seq):
    """The public model's per-sample interest ids: the sorted distinct ids of both tables."""
    both = torch.cat([model.plm_interest_lookup_table[item_seq], model.img_interest_lookup_table[item_seq]], -1)
    rows = [row.unique() for row in both]
    return torch.nn.utils.rnn.pad_sequence(rows, batch_first=True, padding_value=0)


def write(path, stage, model, text, image, item_seq, item_length, pos_item):
    interaction = {"item_id_list": item_seq, "item_length": item_length, "item_id": pos_item}
    seq_output, reg = model._compute_seq_embeddings(item_seq, item_length)
    model.zero_grad()
    loss = model.calculate_loss(interaction)
    loss.backward()
    with torch.no_grad():
        scores = model.full_sort_predict(interaction)
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    with h5py.File(path, "w") as f:
        config = f.create_group("config")
        for key in ("hidden_size", "n_heads", "n_layers", "inner_size", "hidden_act", "layer_norm_eps",
                    "temperature", "lambda", "gamma", "MAX_ITEM_LIST_LENGTH", "plm_size", "img_size", "train_stage"):
            config.attrs[key] = public_config(stage)[key]
        for name, value in trainable.items():
            f[f"weights/{name}"] = value.detach().numpy()
            f[f"expected_grad/{name}"] = value.grad.numpy()
        f["tables/text"], f["tables/image"] = text.numpy(), image.numpy()
        f["tables/text_interest"] = model.plm_interest_lookup_table.numpy()
        f["tables/image_interest"] = model.img_interest_lookup_table.numpy()
        f["tables/interest_embeddings"] = model.interest_embeddings.numpy()
        f["batch/item_seq"], f["batch/item_length"], f["batch/pos_item"] = item_seq, item_length, pos_item
        f["batch/interest_seq"] = interest_seq(model, item_seq).numpy()
        f["expected/seq_output"] = seq_output.detach().numpy()
        f["expected/interest_reg"] = np.float32(reg.item())
        f["expected/loss_total"] = np.float32(loss.item())
        f["expected/scores"] = scores.numpy()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--public", required=True, help="checkout of the public MISSRec implementation")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures"))
    args = parser.parse_args()
    global h5py, np, torch
    import h5py
    import numpy as np
    import torch
    if not os.path.isfile(os.path.join(args.public, "missrec.py")):
        sys.exit(f"make_finetune_fixtures.py: {args.public} has no missrec.py (expected the public implementation)")
    os.makedirs(args.out, exist_ok=True)
    torch.set_default_dtype(torch.float32)
    for seed, stage in enumerate(STAGES, 1):
        model, text, image = build(os.path.abspath(args.public), stage, seed)
        item_seq, item_length, pos_item = batch(np.random.default_rng(100 + seed))
        path = os.path.join(args.out, f"missrec_{stage.replace('_ft', '')}_ft.h5")
        write(path, stage, model, text, image, item_seq, item_length, pos_item)
        print(f"wrote {path} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
