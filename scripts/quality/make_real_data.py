#!/usr/bin/env python3
"""Builds real-data cases in the public MISSRec release layout from public interaction
histories: the Amazon (and Yelp, LastFM) domains of the S3-Rec repository
(RUCAIBox/CIKM2020-S3Rec, data/<Domain>.txt: one user per line, items in time order;
data/<Domain>_item2attributes.json: each item's attribute ids).

  scripts/quality/make_real_data.py --out DIR [--s3rec PATH] [--target Beauty]
      [--users 3000] [--pretrain Sports_and_Outdoors,Toys_and_Games,Yelp,LastFM]
      [--pretrain-users 2000] [--seed 2020]

--s3rec is a checkout of that repository (or its data/ folder); without it the files are
downloaded from GitHub into DIR/source (nothing of it belongs in this repository).

Writes
  DIR/downstream/<target>/  <target>.{train,valid,test}.inter, .feat1CLS (text), .feat3CLS
                            (image), .item2index: `users` users drawn at random, leave-one-out
                            (the last item tests, the one before validates, every earlier
                            prefix trains), histories of at most 50 items;
  DIR/pretrain/PT/          PT.pt_datasets, PT.train.inter ("<domain>-<item>" tokens) and
                            <Domain>.feat{1,2,3}CLS for each pretraining domain (every item
                            of a sequence but the last two is a training target).
Item features are derived from the item's attributes: each attribute id has a fixed
random 512-d vector per modality; an item's text feature is the normalised sum of its
attributes' text vectors plus a random vector of the item's own at half that length (two
items with the same attributes still differ, as their titles and photos would), its
image feature the same with the image vectors, its word-dropped text (feat2CLS) the same
with a fixed fifth of the attributes left out. An item without attributes has zero
features (a missing modality). Everything is deterministic given --seed.
"""
import argparse
import json
import os
import sys
import urllib.request

np = None  # numpy, imported once the command line is read (--help needs nothing)

RAW = "https://raw.githubusercontent.com/RUCAIBox/CIKM2020-S3Rec/master/data/"
DIM = 512
MAX_LEN = 50
HEADER = "user_id:token\titem_id_list:token_seq\titem_id:token\n"


def source_file(args, name):
    for folder in ([os.path.join(args.s3rec, "data"), args.s3rec] if args.s3rec else []):
        if os.path.isfile(os.path.join(folder, name)):
            return os.path.join(folder, name)
    if args.s3rec:
        sys.exit(f"make_real_data.py: {args.s3rec} has no {name} (expected the S3-Rec repository or its data/)")
    cache = os.path.join(args.out, "source", name)
    if not os.path.exists(cache):
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        print(f"downloading {RAW + name}", flush=True)
        urllib.request.urlretrieve(RAW + name, cache + ".part")
        os.replace(cache + ".part", cache)
    return cache


def read_domain(args, domain, users, rng):
    """(sequences of raw item ids, {raw item: [attribute ids]}) of `users` random users."""
    with open(source_file(args, f"{domain}.txt")) as f:
        sequences = [line.split()[1:] for line in f if len(line.split()) > 1]
    if users and users < len(sequences):
        sequences = [sequences[i] for i in sorted(rng.choice(len(sequences), users, replace=False))]
    with open(source_file(args, f"{domain}_item2attributes.json")) as f:
        attributes = json.load(f)
    return sequences, attributes


def unit(vector):
    return vector / np.linalg.norm(vector)


def features(items, attributes, seed):
    """text, text_aug, image [len(items), DIM] float32 from the items' attribute bags, each
    plus an item's own component (half the attribute part's length): many items share an
    attribute bag, and identical features would tie in every ranking."""
    names = sorted({a for item in items for a in attributes.get(item, [])})
    column = {a: i for i, a in enumerate(names)}
    rng = np.random.default_rng(seed)
    text_basis = rng.standard_normal((len(names) + 1, DIM)).astype(np.float32)
    image_basis = rng.standard_normal((len(names) + 1, DIM)).astype(np.float32)
    own = {"text": rng.standard_normal((len(items), DIM)).astype(np.float32),
           "image": rng.standard_normal((len(items), DIM)).astype(np.float32)}
    out = {key: np.zeros((len(items), DIM), np.float32) for key in ("text", "text_aug", "image")}
    for row, item in enumerate(items):
        bag = [column[a] for a in attributes.get(item, [])]
        if not bag:
            continue
        kept = [c for c in bag if (c * 2654435761 + row) % 5 != 0] or bag
        for key, basis, chosen, mine in (("text", text_basis, bag, own["text"]),
                                         ("text_aug", text_basis, kept, own["text"]),
                                         ("image", image_basis, bag, own["image"])):
            out[key][row] = unit(unit(basis[chosen].sum(0)) + 0.5 * unit(mine[row])) * np.sqrt(DIM)
    return out


def index_items(sequences):
    """Raw item ids in first-appearance order, and their 0-based indexes."""
    order = {}
    for sequence in sequences:
        for item in sequence:
            order.setdefault(item, len(order))
    return list(order), order


def write_inter(path, rows):
    with open(path, "w") as f:
        f.write(HEADER)
        for user, history, target in rows:
            f.write(f"{user}\t{' '.join(history[-MAX_LEN:])}\t{target}\n")


def write_downstream(args, rng):
    sequences, attributes = read_domain(args, args.target, args.users, rng)
    items, index = index_items(sequences)
    folder = os.path.join(args.out, "downstream", args.target)
    os.makedirs(folder, exist_ok=True)
    splits = {"train": [], "valid": [], "test": []}
    for user, sequence in enumerate(sequences):
        tokens = [str(index[item]) for item in sequence]
        if len(tokens) < 3:
            continue
        for i in range(1, len(tokens) - 2):
            splits["train"].append((user, tokens[:i], tokens[i]))
        splits["valid"].append((user, tokens[:-2], tokens[-2]))
        splits["test"].append((user, tokens[:-1], tokens[-1]))
    for split, rows in splits.items():
        write_inter(os.path.join(folder, f"{args.target}.{split}.inter"), rows)
    feats = features(items, attributes, args.seed)
    feats["text"].tofile(os.path.join(folder, f"{args.target}.feat1CLS"))
    feats["image"].tofile(os.path.join(folder, f"{args.target}.feat3CLS"))
    with open(os.path.join(folder, f"{args.target}.item2index"), "w") as f:
        f.writelines(f"{item}\t{i}\n" for i, item in enumerate(items))
    print(f"{folder}: {len(sequences)} users, {len(items)} items, "
          + ", ".join(f"{len(rows)} {split}" for split, rows in splits.items()))


def write_pretrain(args, rng):
    domains = [d for d in args.pretrain.split(",") if d]
    folder = os.path.join(args.out, "pretrain", "PT")
    os.makedirs(folder, exist_ok=True)
    rows = []
    for d, domain in enumerate(domains):
        sequences, attributes = read_domain(args, domain, args.pretrain_users, rng)
        items, index = index_items(sequences)
        for user, sequence in enumerate(sequences):
            tokens = [f"{d}-{index[item]}" for item in sequence[:-2]]
            for i in range(1, len(tokens)):
                rows.append((f"{d}_{user}", tokens[:i], tokens[i]))
        feats = features(items, attributes, args.seed + 1 + d)
        for key, suffix in (("text", "feat1CLS"), ("text_aug", "feat2CLS"), ("image", "feat3CLS")):
            feats[key].tofile(os.path.join(folder, f"{domain}.{suffix}"))
        print(f"{folder}: {domain}: {len(sequences)} users, {len(items)} items")
    with open(os.path.join(folder, "PT.pt_datasets"), "w") as f:
        f.write(",".join(domains))
    write_inter(os.path.join(folder, "PT.train.inter"), rows)
    print(f"{folder}: {len(rows)} training rows")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--s3rec", default="")
    parser.add_argument("--target", default="Beauty")
    parser.add_argument("--users", type=int, default=3000)
    parser.add_argument("--pretrain", default="Sports_and_Outdoors,Toys_and_Games,Yelp,LastFM")
    parser.add_argument("--pretrain-users", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=2020)
    args = parser.parse_args()
    global np
    import numpy as np
    rng = np.random.default_rng(args.seed)
    write_downstream(args, rng)
    if args.pretrain:
        write_pretrain(args, rng)


if __name__ == "__main__":
    main()
