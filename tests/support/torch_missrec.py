"""MISSRec's sequence side and scoring in plain PyTorch, with the public implementation's
parameter names (text_adaptor, img_adaptor, position_embedding, LayerNorm, fusion_factor,
torch.nn.Transformer for trm_model, item_embedding when transductive): the tests load our
exports into it strictly and compare its numbers with the C++ model's."""
import os

import h5py
import numpy as np
import torch
import torch.nn.functional as F
import yaml
from torch import nn


class MISSRec(nn.Module):
    """c: an export's config dict; n_items > 0 adds item ID embeddings [n_items + 1, H]
    (transductive fine-tuning), added to every history position's input and scored."""

    def __init__(self, c, n_items=0):
        super().__init__()
        hidden = c["hidden_size"]
        self.temperature = c["temperature"]
        self.text_adaptor = nn.Linear(c["text_dim"], hidden)
        self.img_adaptor = nn.Linear(c["image_dim"], hidden)
        self.position_embedding = nn.Embedding(c["max_seq_len"], hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=c["layer_norm_eps"])
        self.fusion_factor = nn.Parameter(torch.zeros(()))
        self.trm_model = nn.Transformer(
            d_model=hidden, nhead=c["n_heads"], num_encoder_layers=c["n_layers"] // 2,
            num_decoder_layers=c["n_layers"] // 2, dim_feedforward=c["inner_size"], dropout=0.0,
            activation=c["hidden_act"], layer_norm_eps=c["layer_norm_eps"], batch_first=True)
        self.item_embedding = nn.Embedding(n_items + 1, hidden, padding_idx=0) if n_items > 0 else None

    def forward(self, text, image, item_seq, item_length, interest_seq, interest_embeddings):
        batch, width = item_seq.shape
        interest_padding = interest_seq.eq(0)
        memory = self.trm_model.encoder(interest_embeddings[interest_seq],
                                        src_key_padding_mask=interest_padding)
        x = self.text_adaptor(text) + self.img_adaptor(image) + self.position_embedding(torch.arange(width))[None]
        if self.item_embedding is not None:
            x = x + self.item_embedding(item_seq)
        decoded = self.trm_model.decoder(self.LayerNorm(x), memory, tgt_key_padding_mask=item_seq.eq(0),
                                         memory_key_padding_mask=interest_padding)
        return F.normalize(decoded[torch.arange(batch), item_length - 1], dim=-1)

    def scores(self, z, text_all, image_all):
        """Every item 1..N's score [B, N] from the full feature tables [N+1, D] (row 0
        padding), divided by the temperature, as the public full_sort_predict."""
        text = F.normalize(self.text_adaptor(text_all), dim=1)
        image = F.normalize(self.img_adaptor(image_all), dim=1)
        both = torch.stack([z @ text.T, z @ image.T], -1)
        fused = (both * F.softmax(both * self.fusion_factor, -1)).sum(-1)
        if self.item_embedding is not None:
            fused = (z @ F.normalize(self.item_embedding.weight, dim=1).T + 2 * fused) / 3
        return (fused / self.temperature)[:, 1:]


def dataset_features(directory):
    """The text and image tables [N+1, D] of a missrec dataset (row 0 zero), by global id:
    the domains and their files in dataset.yaml order."""
    with open(os.path.join(directory, "dataset.yaml")) as f:
        manifest = yaml.safe_load(f)
    tables = {"text": [], "image": []}
    for domain in manifest["domains"]:
        for name in domain["files"]:
            with h5py.File(os.path.join(directory, name), "r") as f:
                for key in tables:
                    tables[key].append(np.asarray(f["items"][key][()], dtype=np.float32))
    out = []
    for key in ("text", "image"):
        rows = np.concatenate(tables[key])
        out.append(torch.from_numpy(np.concatenate([np.zeros((1, rows.shape[1]), np.float32), rows])))
    return out
