#!/usr/bin/env python3
"""Turns a table of your own items into MISSRec features with CLIP, as the public release
made its features: a text feature (CLIP's projected text embedding of the item's text)
and an image feature (CLIP's projected image embedding) per item, a zero image row for an
item without an image. Optionally builds a whole downstream dataset from interactions.

    scripts/extract_features.py --items items.tsv --name MyShop --out features/ \
        [--model openai/clip-vit-base-patch32] [--image-root DIR] [--batch-size 64] \
        [--device cpu|cuda] [--interactions inter.tsv --dataset DIR] [--max-seq-len 50]

--items: tab-separated with a header naming `item_id`, `text` (or `title` and optional
`description`, joined) and optionally `image` (a path, relative to --image-root; empty:
no image). --model: a Hugging Face CLIP model name or a local directory
(CLIPModel + CLIPProcessor); needs the `transformers` package (scripts/setup.sh installs
it into .venv-py). --out receives the release's layout, which `missrec data convert`
reads: <name>.feat1CLS (text) and <name>.feat3CLS (image), raw float32 [N, D], and
<name>.item2index (item_id, row). With --interactions (tab-separated, header `user_id`,
`item_id`, `timestamp`) it also writes <name>.train/valid/test.inter (each user's items
by time: the last one tests, the one before validates, every earlier one is a training
target; histories capped at --max-seq-len) and, with --dataset, runs
`missrec data convert` (the binary from $MISSREC_BIN, else build/missrec, else PATH)
into that directory. Exit status 2 with one line naming the file and problem for bad input.
"""
import argparse
import csv
import os
import shutil
import subprocess
import sys
from collections import defaultdict


def fail(message):
    print(f"extract_features: error: {message}", file=sys.stderr)
    sys.exit(2)


def read_items(path):
    """[(item_id, text, image path or "")] in file order."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f, delimiter="\t")
            rows, header = list(reader), reader.fieldnames or []
    except OSError as error:
        fail(f"{path}: {error.strerror}")
    if not rows:
        fail(f"{path}: no items (expected a header line and one item per line)")
    if "item_id" not in header or ("text" not in header and "title" not in header):
        fail(f"{path}: expected a header with item_id and text (or title), got {sorted(header)}")
    items, seen = [], set()
    for line, row in enumerate(rows, start=2):
        item = (row.get("item_id") or "").strip()
        if not item or item in seen:
            fail(f"{path}: line {line}: {'empty' if not item else 'duplicate'} item_id '{item}'")
        seen.add(item)
        text = row.get("text") or " ".join(filter(None, [row.get("title"), row.get("description")]))
        items.append((item, text.strip(), (row.get("image") or "").strip()))
    return items


def load_clip(name, device):
    try:
        from transformers import CLIPModel, CLIPProcessor
    except ImportError:
        fail("the transformers package is not installed (scripts/setup.sh installs it into .venv-py)")
    try:
        model = CLIPModel.from_pretrained(name).to(device).eval()
        processor = CLIPProcessor.from_pretrained(name)
    except (OSError, ValueError) as error:
        fail(f"--model {name}: cannot load a CLIP model and processor ({str(error).splitlines()[0]})")
    return model, processor


def text_features(model, processor, texts, batch_size, device):
    import torch
    rows = []
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            inputs = processor(text=texts[start:start + batch_size], return_tensors="pt", padding=True,
                               truncation=True, max_length=processor.tokenizer.model_max_length)
            rows.append(model.get_text_features(**{k: v.to(device) for k, v in inputs.items()}).float().cpu())
    return torch.cat(rows)


def image_features(model, processor, items, image_root, batch_size, device):
    """[N, D]: CLIP image features; a zero row for an item without an image."""
    import torch
    from PIL import Image
    dim = model.config.projection_dim
    out = torch.zeros(len(items), dim)
    with_image = [i for i, (_, _, image) in enumerate(items) if image]
    with torch.no_grad():
        for start in range(0, len(with_image), batch_size):
            rows = with_image[start:start + batch_size]
            images = []
            for i in rows:
                path = os.path.join(image_root, items[i][2])
                try:
                    images.append(Image.open(path).convert("RGB"))
                except OSError as error:
                    fail(f"{path}: cannot read the image of item '{items[i][0]}' ({error})")
            inputs = processor(images=images, return_tensors="pt")
            out[rows] = model.get_image_features(pixel_values=inputs["pixel_values"].to(device)).float().cpu()
    return out


def read_interactions(path, index):
    """{user: [item rows by time]}, users in order of first appearance."""
    sequences = defaultdict(list)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f, delimiter="\t")
            if not reader.fieldnames or not {"user_id", "item_id", "timestamp"} <= set(reader.fieldnames):
                fail(f"{path}: expected a header with user_id, item_id and timestamp")
            for line, row in enumerate(reader, start=2):
                if row["item_id"] not in index:
                    fail(f"{path}: line {line}: item_id '{row['item_id']}' is not in the item table")
                try:
                    sequences[row["user_id"]].append((float(row["timestamp"]), line, index[row["item_id"]]))
                except ValueError:
                    fail(f"{path}: line {line}: timestamp '{row['timestamp']}' is not a number")
    except OSError as error:
        fail(f"{path}: {error.strerror}")
    return {user: [item for _, _, item in sorted(events)] for user, events in sequences.items()}


def write_splits(out, name, sequences, max_seq_len):
    """<name>.{train,valid,test}.inter; users with fewer than 3 items are left out."""
    files = {split: open(os.path.join(out, f"{name}.{split}.inter"), "w") for split in ("train", "valid", "test")}
    for f in files.values():
        f.write("user_id:token\titem_id_list:token_seq\titem_id:token\n")
    kept = 0
    for user, items in sequences.items():
        if len(items) < 3:
            continue
        kept += 1
        targets = [("train", t) for t in range(1, len(items) - 2)] + [("valid", len(items) - 2),
                                                                      ("test", len(items) - 1)]
        for split, t in targets:
            history = items[max(0, t - max_seq_len):t]
            files[split].write(f"{user}\t{' '.join(map(str, history))}\t{items[t]}\n")
    for f in files.values():
        f.close()
    return kept


def missrec_binary():
    for candidate in (os.environ.get("MISSREC_BIN"),
                      os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "missrec")):
        if candidate and os.path.exists(candidate):
            return candidate
    return shutil.which("missrec") or fail("no missrec binary (set MISSREC_BIN or build it)")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", required=True)
    parser.add_argument("--name", required=True, help="dataset (domain) name")
    parser.add_argument("--out", required=True, help="directory for the release-layout files")
    parser.add_argument("--model", default="openai/clip-vit-base-patch32")
    parser.add_argument("--image-root", default=".")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--interactions")
    parser.add_argument("--dataset", help="with --interactions: run missrec data convert into this directory")
    parser.add_argument("--max-seq-len", type=int, default=50)
    args = parser.parse_args()
    if args.dataset and not args.interactions:
        fail("--dataset needs --interactions")
    if args.batch_size < 1 or args.max_seq_len < 1:
        fail("--batch-size and --max-seq-len must be at least 1")
    return args


def main():
    args = parse_args()
    items = read_items(args.items)
    index = {item: row for row, (item, _, _) in enumerate(items)}
    sequences = read_interactions(args.interactions, index) if args.interactions else None
    model, processor = load_clip(args.model, args.device)
    text = text_features(model, processor, [t for _, t, _ in items], args.batch_size, args.device)
    image = image_features(model, processor, items, args.image_root, args.batch_size, args.device)
    os.makedirs(args.out, exist_ok=True)
    text.numpy().astype("<f4").tofile(os.path.join(args.out, f"{args.name}.feat1CLS"))
    image.numpy().astype("<f4").tofile(os.path.join(args.out, f"{args.name}.feat3CLS"))
    with open(os.path.join(args.out, f"{args.name}.item2index"), "w") as f:
        f.writelines(f"{item}\t{row}\n" for item, row in index.items())
    print(f"extract_features: {len(items)} items, {text.shape[1]}-d features "
          f"({sum(1 for _, _, i in items if not i)} without an image) in {args.out}")
    if sequences is None:
        return
    users = write_splits(args.out, args.name, sequences, args.max_seq_len)
    print(f"extract_features: {users} users with at least 3 items in {args.name}.train/valid/test.inter")
    if args.dataset:
        command = [missrec_binary(), "data", "convert", "--from-missrec", args.out, "--out", args.dataset,
                   "--dataset", args.name, "--feature-dim", str(text.shape[1])]
        sys.exit(subprocess.run(command).returncode)


if __name__ == "__main__":
    main()
