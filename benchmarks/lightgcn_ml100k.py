"""LightGCN on MovieLens 100K: the seed chapter's settings against the course's defaults, time and quality.

    python benchmarks/lightgcn_ml100k.py                 # CPU
    python benchmarks/lightgcn_ml100k.py --device cuda
    python benchmarks/lightgcn_ml100k.py --seeds 42 0 1  # the course defaults' spread over seeds
Protocol: per-user 75/25 split (seed 42), full ranking over the catalogue, training items removed. Prints one table.
"""
from __future__ import annotations

import argparse
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS), help="which settings to run")
    parser.add_argument("--seeds", nargs="*", type=int, default=[42], help="random_state of each training run")
    args = parser.parse_args()
    dataset = InteractionDataset(load_movielens("100k"), implicit=True)
    train, test = dataset.split(test_size=0.25, strategy="user_random", seed=42)
    evaluator = Evaluator(metrics=["ndcg", "precision", "recall"], k_values=[10])
    rows = []
    for name in args.configs:
        for seed in args.seeds:
            start = time.perf_counter()
            model = LightGCNRecommender(device=args.device, random_state=seed, verbose=False, **CONFIGS[name]).fit(train.data)
            seconds = time.perf_counter() - start
            metrics = evaluator.evaluate(model, test, train_data=train).metrics()
            rows.append({"settings": name, "seed": seed, "device": str(model._torch_device()), "epochs": model.epochs,
                         "s/epoch": model.history_.to_frame()["seconds"].mean(), "train s": seconds,
                         **{k: round(v, 4) for k, v in metrics.items()}})
            print(rows[-1], flush=True)
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda x: f"{x:.3f}"))


if __name__ == "__main__":
    main()
