"""NCF on MovieLens 100K under the paper's protocol (leave-one-out + 100 negatives) and under full ranking, with pre-training.

Models: GMF, MLP, NeuMF from scratch and NeuMF from pre-trained GMF and MLP (the paper's recipe), at the course's
defaults, and NeuMF at the seed chapter's settings (64, [128, 64, 32], batch 256, 20 epochs, no pre-training).
Protocols: "loo-100": each user's last interaction is the test item, ranked against 100 items the user never
touched (He et al. 2017: HR@10, NDCG@10); "full": the per-user 75/25 split (seed 42), ranked against the whole
catalogue minus the training items (nDCG@10, Precision@10, Recall@10, MAP@10).
Published: the NCF paper reports NeuMF with pre-training at HR@10 0.730 / NDCG@10 0.447 on MovieLens 1M (loo-100);
recommenders' ML-100K benchmark (75/25, full ranking) NCF nDCG@10 0.369.
"""
from __future__ import annotations

import time

import pandas as pd

CONFIGS = {
    "GMF": dict(model="gmf"),
    "MLP": dict(model="mlp"),
    "NeuMF, from scratch": dict(model="neumf", pretrain=False),
    "NeuMF, pre-trained (course default)": dict(model="neumf", pretrain=True),
    "NeuMF, seed chapter settings": dict(embedding_dim=64, hidden_layers=(128, 64, 32), learning_rate=0.001,
                                         batch_size=256, epochs=20, pretrain=False),
}
PROTOCOLS = ["loo-100", "full"]


def add_arguments(parser) -> None:
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS), choices=list(CONFIGS), metavar="CONFIG",
                        help=f"which models (default: all of {list(CONFIGS)})")
    parser.add_argument("--protocols", nargs="*", default=PROTOCOLS, choices=PROTOCOLS)
    parser.add_argument("--seed", type=int, default=42)


def run(args) -> list[dict]:
    from course_utils import Evaluator, InteractionDataset, NCFRecommender, load_movielens

    dataset = InteractionDataset(load_movielens("100k"), implicit=True)
    splits = {"full": dataset.split(test_size=0.25, strategy="user_random", seed=42),
              "loo-100": dataset.split(strategy="leave_one_out")}
    evaluators = {"full": (Evaluator(metrics=["ndcg", "precision", "recall", "map"], k_values=[10]), {}),
                  "loo-100": (Evaluator(metrics=["hit_rate", "ndcg"], k_values=[10]),
                              {"protocol": "sampled", "n_negatives": 100, "random_state": args.seed})}
    rows, table = [], []
    for protocol in args.protocols:
        train, test = splits[protocol]
        evaluator, kwargs = evaluators[protocol]
        for name in args.configs:
            start = time.perf_counter()
            model = NCFRecommender(device=args.device, random_state=args.seed, verbose=False, **CONFIGS[name]).fit(train.data)
            train_s = time.perf_counter() - start
            metrics = evaluator.evaluate(model, test, train_data=train, **kwargs).metrics()
            total_s = time.perf_counter() - start
            epochs = model.history_.to_frame()["seconds"]
            pretrained = model.model == "neumf" and model.pretrain
            n_epochs = len(epochs) + (sum(len(h) for h in model.pretrain_history_.values()) if pretrained else 0)
            settings = (f"{name}: {protocol}, {model.model} emb {model.embedding_dim} MLP {list(model.hidden_layers)}, "
                        f"batch {model.batch_size}, lr {model.learning_rate}, {model.n_negatives} negatives, "
                        f"{n_epochs} epochs{' (GMF, MLP, then NeuMF)' if pretrained else ''}, seed {args.seed}")
            rows.append({"settings": settings, "metrics": {k: round(v, 4) for k, v in metrics.items()},
                         "s/epoch": epochs.mean(), "total s": total_s})
            table.append({"protocol": protocol, "model": name, "epochs": n_epochs, "s/epoch": epochs.mean(),
                          "train s": train_s, **{k: round(v, 4) for k, v in metrics.items()}})
            print(table[-1], flush=True)
    print(pd.DataFrame(table).to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    return rows
