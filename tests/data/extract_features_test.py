"""scripts/extract_features.py (docs/data-format.md) with no download: a tiny randomly
initialised CLIP model and processor built here from a CLIPConfig and a byte-level
vocabulary, items with generated images (some without), interactions of a few users.
The script's features are CLIP's own (recomputed here), an item without an image gets
a zero row, the splits follow the leave-one-out rule, `missrec data convert` (run by the
script) makes a dataset that `missrec data inspect` accepts and that fine-tunes for one
epoch; bad input is exit 2 naming the file. Reports CTest's skip status, naming the
package, when `transformers` is not installed."""
import json
import os
import random
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from script_check import SMALL_MODEL, check, finish, run, write_config

try:
    import torch
    from PIL import Image
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer
    from transformers.models.clip.tokenization_clip import bytes_to_unicode
except ImportError as error:
    print(f"skipped: the transformers Python package is not installed ({error}; scripts/setup.sh installs it)")
    sys.exit(77)

SCRIPT = os.path.join(os.environ["MISSREC_SOURCE_DIR"], "scripts", "extract_features.py")
DIM = 16


def tiny_clip(directory):
    """A random CLIP with a byte-level vocabulary (no merges), saved like a hub model."""
    vocab = {}
    for symbol in bytes_to_unicode().values():
        vocab[symbol] = len(vocab)
        vocab[symbol + "</w>"] = len(vocab)
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    with open(os.path.join(directory, "vocab.json"), "w") as f:
        json.dump(vocab, f)
    with open(os.path.join(directory, "merges.txt"), "w") as f:
        f.write("#version: 0.2\n")
    tokenizer = CLIPTokenizer(os.path.join(directory, "vocab.json"), os.path.join(directory, "merges.txt"),
                              model_max_length=77)
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    torch.manual_seed(0)
    config = CLIPConfig(
        text_config=dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=37, num_attention_heads=4,
                         num_hidden_layers=2, max_position_embeddings=77,
                         bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"]),
        vision_config=dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                           image_size=32, patch_size=8),
        projection_dim=DIM)
    model = CLIPModel(config).eval()
    model.save_pretrained(directory)
    CLIPProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(directory)
    return model, CLIPProcessor.from_pretrained(directory)


def write_items(tmp, count):
    rng = random.Random(3)
    words = ["red", "shoe", "lamp", "desk", "blue", "cable", "mug", "steel", "soft", "kit"]
    os.makedirs(os.path.join(tmp, "img"))
    rows = []
    for i in range(count):
        image = ""
        if i % 4 != 3:  # every fourth item has no image
            image = f"item{i}.png"
            pixels = np.random.RandomState(i).randint(0, 255, (40, 48, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(os.path.join(tmp, "img", image))
        rows.append((f"sku{i:03d}", " ".join(rng.choice(words) for _ in range(4)), image))
    with open(os.path.join(tmp, "items.tsv"), "w") as f:
        f.write("item_id\ttitle\timage\n")
        f.writelines(f"{item}\t{text}\t{image}\n" for item, text, image in rows)
    return rows


def write_interactions(tmp, items, users):
    rng = random.Random(5)
    lines = ["user_id\titem_id\ttimestamp\n"]
    for u in range(users):
        for t in rng.sample(range(1000), rng.randint(5, 9)):
            lines.append(f"u{u}\t{rng.choice(items)[0]}\t{t}\n")
    with open(os.path.join(tmp, "inter.tsv"), "w") as f:
        f.writelines(lines)


def extract(tmp, *extra):
    return subprocess.run([sys.executable, SCRIPT, "--items", os.path.join(tmp, "items.tsv"), "--name", "Shop",
                           "--model", os.path.join(tmp, "clip"), "--image-root", os.path.join(tmp, "img"),
                           "--batch-size", "7"] + list(extra), capture_output=True, text=True, timeout=300)


with tempfile.TemporaryDirectory() as tmp:
    os.makedirs(os.path.join(tmp, "clip"))
    model, processor = tiny_clip(os.path.join(tmp, "clip"))
    items = write_items(tmp, 40)
    write_interactions(tmp, items, 30)
    out, dataset = os.path.join(tmp, "release"), os.path.join(tmp, "dataset")
    proc = extract(tmp, "--out", out, "--interactions", os.path.join(tmp, "inter.tsv"), "--dataset", dataset)
    check("extract_features exits 0", proc.returncode == 0, proc.stdout[-800:] + proc.stderr[-1500:])
    text = np.fromfile(os.path.join(out, "Shop.feat1CLS"), dtype="<f4").reshape(-1, DIM)
    image = np.fromfile(os.path.join(out, "Shop.feat3CLS"), dtype="<f4").reshape(-1, DIM)
    check("one text and one image row per item", text.shape == image.shape == (40, DIM))
    with torch.no_grad():
        inputs = processor(text=[items[5][1], items[6][1]], return_tensors="pt", padding=True)
        expected_text = model.get_text_features(**inputs).numpy()
        pixels = processor(images=[Image.open(os.path.join(tmp, "img", items[5][2])).convert("RGB")],
                           return_tensors="pt")["pixel_values"]
        expected_image = model.get_image_features(pixel_values=pixels).numpy()
    check("text rows are CLIP's text features (batched, padded)", np.allclose(text[5:7], expected_text, atol=1e-5),
          np.abs(text[5:7] - expected_text).max())
    check("image rows are CLIP's image features", np.allclose(image[5], expected_image[0], atol=1e-5))
    no_image = [i for i, (_, _, img) in enumerate(items) if not img]
    check("an item without an image has a zero image row, the others do not",
          not image[no_image].any() and all(image[i].any() for i in range(40) if i not in no_image))
    lines = open(os.path.join(out, "Shop.test.inter")).read().splitlines()
    check("one test line per user with >= 3 items, the release's header",
          lines[0] == "user_id:token\titem_id_list:token_seq\titem_id:token" and len(lines) == 31, lines[:2])
    code, stdout, err = run(["data", "inspect", dataset])
    check("missrec data inspect accepts the dataset", code == 0 and "Shop" in stdout, err[-800:])
    ft = write_config(os.path.join(tmp, "ft.yaml"), {
        "run": {"dir": os.path.join(tmp, "ft")}, "data": {"dir": dataset}, "model": SMALL_MODEL,
        "train": {"epochs": 1, "batch_size": 32}, "cluster": {"interest_ratio": 0.5, "memory_mb": 64}})
    code, stdout, err = run(["finetune", "--config", ft], mpi_np=1)
    check("the dataset fine-tunes for one epoch", code == 0 and os.path.exists(
        os.path.join(tmp, "ft", "test_metrics.json")), err[-1500:])

    with open(os.path.join(tmp, "bad_items.tsv"), "w") as f:
        f.write("id\ttitle\nx\ty\n")
    proc = subprocess.run([sys.executable, SCRIPT, "--items", os.path.join(tmp, "bad_items.tsv"), "--name", "S",
                           "--out", os.path.join(tmp, "bad")], capture_output=True, text=True)
    check("an item table without item_id: exit 2 naming the file", proc.returncode == 2 and "bad_items.tsv" in
          proc.stderr and "item_id" in proc.stderr and not os.path.exists(os.path.join(tmp, "bad")), proc.stderr)
    with open(os.path.join(tmp, "inter.tsv"), "a") as f:
        f.write("u1\tnope\t5\n")
    proc = extract(tmp, "--out", os.path.join(tmp, "bad2"), "--interactions", os.path.join(tmp, "inter.tsv"))
    check("an interaction with an unknown item: exit 2 naming the file and line",
          proc.returncode == 2 and "inter.tsv: line" in proc.stderr and "'nope'" in proc.stderr, proc.stderr)
finish()
