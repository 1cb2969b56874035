#!/usr/bin/env python3
"""Loads a missrec fine-tuned model (a PyTorch export: `missrec export --checkpoint
best.h5 --format pytorch`) into the public MISSRec implementation's own model, built by
its own code on the same release-layout dataset in the same stage (inductive_ft or
transductive_ft), with load_state_dict(strict=True), and evaluates it with the public
evaluator on the test split; prints one JSON line with its Recall and NDCG at 10, 20, 50.

  public_crosscheck.py --public PATH --data DIR --dataset NAME --mode MODE --model FILE.pth
      --workdir DIR [--set key=value ...]

The model's shape comes from the export's config. The state_dict given to the public model holds every parameter of the export and the
export's interest tables, and the public dataset's own feature tables and their empty
masks; RecBole numbers items in its own order (field2id_token), so rows indexed by item
(item_embedding, the interest lookup tables) are taken through that map: the public
item with token t is missrec's item t + 1.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import public_shims  # noqa: E402


def main():
    parser = public_shims.parser(__doc__, ("--mode", {"choices": ["transductive", "inductive"], "required": True}),
                                 ("--model", {"required": True}))
    args = parser.parse_args()
    public = os.path.abspath(args.public)
    model_path = os.path.abspath(args.model)
    os.makedirs(args.workdir, exist_ok=True)
    os.chdir(args.workdir)
    settings = public_shims.settings_from(args.set, {
        "data_path": os.path.abspath(args.data), "world_size": 1, "gpu_id": "", "use_gpu": False,
        "show_progress": False, "topk": [9, 19, 49], "metrics": ["Recall", "NDCG"], "valid_metric": "NDCG@9",
        "metric_decimal_place": 6, "train_stage": args.mode + "_ft"})
    public_shims.prepare(public, 0.1)
    import torch
    exported = torch.load(model_path)
    shape = exported["config"]
    for key in ("hidden_size", "n_heads", "n_layers", "inner_size", "layer_norm_eps", "hidden_act", "temperature"):
        settings[key] = shape[key]
    settings["MAX_ITEM_LIST_LENGTH"] = shape["max_seq_len"]
    from recbole.config import Config
    from recbole.data import data_preparation
    from data.dataset import MISSRecDataset
    from missrec import MISSRec
    from trainer import MISSRecTrainer

    props = [os.path.join(public, "props", name) for name in ("MISSRec.yaml", "finetune.yaml")]
    config = Config(model=MISSRec, dataset=args.dataset, config_file_list=props, config_dict=settings)
    dataset = MISSRecDataset(config)
    _, _, test_data = data_preparation(config, dataset)
    model = MISSRec(config, test_data.dataset)
    ours = exported["state_dict"]
    interests = exported["interests"]
    tokens = dataset.field2id_token["item_id"]
    ours_row = torch.tensor([0] + [int(t) + 1 for t in tokens[1:]])  # public id -> missrec id
    state = {}
    for name, value in model.state_dict().items():
        if name == "item_embedding.weight":
            state[name] = ours[name][ours_row]
        elif name in ours:
            state[name] = ours[name]
        elif name == "interest_embeddings":
            state[name] = interests["interest_embeddings"]
        elif name in ("plm_interest_lookup_table", "img_interest_lookup_table"):
            table = interests["text_interest" if name.startswith("plm") else "image_interest"]
            state[name] = table[ours_row]
        else:  # the dataset's feature tables and empty masks
            state[name] = value
    unused = sorted(set(ours) - set(state))
    if unused:
        sys.exit(f"public_crosscheck.py: the public model has no parameter {unused}")
    model.load_state_dict(state, strict=True)
    trainer = MISSRecTrainer(config, model)
    result = trainer.evaluate(test_data, load_best_model=False)
    line = {"side": "public-scores-missrec", "mode": args.mode}
    for k, shown in ((9, 10), (19, 20), (49, 50)):
        for metric in ("recall", "ndcg"):
            line[f"{metric}@{shown}"] = float(result[f"{metric}@{k}"])
    print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
