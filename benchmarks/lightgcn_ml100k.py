"""LightGCN on MovieLens 100K: the seed chapter's settings against the course's defaults, time and quality.

    python -m benchmarks run lightgcn-ml100k --device cpu
    python -m benchmarks run lightgcn-ml100k --configs "course defaults" --seeds 42 0 1   # spread over seeds
Protocol: per-user 75/25 split (seed 42); the settings are compared on a validation part carved from the training part
(10% of each user's training interactions), full ranking over the catalogue, training items removed: a comparison
of settings is a choice, so the test part is never opened. Prints one table.
"""
from __future__ import annotations

import time

import pandas as pd

from course_utils import Evaluator, InteractionDataset, LightGCNRecommender, load_movielens

CONFIGS = {
    "course defaults": {},
    "course defaults, constant learning rate": dict(lr_schedule="constant"),
    "seed chapter (lr 0.001, batch 1024, 50 epochs, L2 1e-4)": dict(learning_rate=0.001, batch_size=1024, epochs=50,
                                                                    reg_lambda=1e-4, lr_schedule="constant"),
    "recommenders' notebook (lr 0.005, batch 1024, 50 epochs, L2 1e-4)": dict(learning_rate=0.005, batch_size=1024, epochs=50,
                                                                              reg_lambda=1e-4, lr_schedule="constant"),
    "course lr and decay, seed's L2 1e-4": dict(reg_lambda=1e-4),
}


def add_arguments(parser) -> None:
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS), choices=list(CONFIGS), metavar="CONFIG",
                        help=f"which settings to run (default: all of {list(CONFIGS)})")
    parser.add_argument("--seeds", nargs="*", type=int, default=[42], help="random_state of each training run")


def run(args) -> list[dict]:
    dataset = InteractionDataset(load_movielens("100k"), implicit=True)
    train, _ = dataset.split(test_size=0.25, strategy="user_random", seed=42)  # the test part stays sealed
    train, val = InteractionDataset(train.data, implicit=True).split(test_size=0.1, strategy="user_random", seed=42)
    evaluator = Evaluator(metrics=["ndcg", "precision", "recall"], k_values=[10])
    rows, table = [], []
    for name in args.configs:
        for seed in args.seeds:
            start = time.perf_counter()
            model = LightGCNRecommender(device=args.device, random_state=seed, verbose=False, **CONFIGS[name]).fit(train.data)
            seconds = time.perf_counter() - start
            metrics = {f"val {k}": round(v, 4) for k, v in evaluator.evaluate(model, val, train_data=train).metrics().items()}
            per_epoch = model.history_.to_frame()["seconds"].mean()
            table.append({"settings": name, "seed": seed, "epochs": model.epochs, "s/epoch": per_epoch, "train s": seconds, **metrics})
            rows.append({"settings": f"LightGCN {name}: lr {model.learning_rate} {model.lr_schedule}, batch {model.batch_size}, "
                                     f"{model.epochs} epochs, L2 {model.reg_lambda}; validation part of the 75/25 split's training part, full "
                                     f"ranking, seed {seed}",
                         "metrics": metrics, "s/epoch": per_epoch, "total s": seconds})
            print(table[-1], flush=True)
    print(pd.DataFrame(table).to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    return rows
