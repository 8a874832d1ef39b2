"""NCF on MovieLens 100K: seconds per epoch and quality, for the course's defaults and the seed chapter's settings.

    python benchmarks/ncf.py                       # CPU (or CUDA when available: --device auto)
    python benchmarks/ncf.py --device cuda
Protocols: full ranking on the per-user 75/25 split (seed 42), and the NCF paper's leave-one-out with 100 sampled
negatives (HR@10, NDCG@10). Prints one table.
"""
from __future__ import annotations

import argparse
import time

import pandas as pd

from course_utils import EASERecommender, Evaluator, InteractionDataset, NCFRecommender, load_movielens

CONFIGS = {
    "course defaults": {},
    "seed chapter (64, [128, 64, 32], batch 256, 20 epochs)": dict(embedding_dim=64, hidden_layers=(128, 64, 32), learning_rate=0.001,
                                                                  batch_size=256, epochs=20, pretrain=False),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS), help="which settings to run")
    args = parser.parse_args()
    ratings = load_movielens("100k")
    dataset = InteractionDataset(ratings, implicit=True)
    train, test = dataset.split(test_size=0.25, strategy="user_random", seed=42)
    loo_train, loo_test = dataset.split(strategy="leave_one_out")
    full = Evaluator(metrics=["ndcg", "precision"], k_values=[10])
    sampled = Evaluator(metrics=["hit_rate", "ndcg"], k_values=[10])
    rows = []
    for name in args.configs:
        for protocol, (tr, te, ev, kw) in {"full ranking, 75/25": (train, test, full, {}),
                                           "leave-one-out, 100 negatives": (loo_train, loo_test, sampled,
                                                                            {"protocol": "sampled", "n_negatives": 100})}.items():
            start = time.perf_counter()
            model = NCFRecommender(device=args.device, random_state=42, verbose=False, **CONFIGS[name]).fit(tr.data)
            seconds = time.perf_counter() - start
            epochs = model.history_.to_frame()["seconds"]
            metrics = ev.evaluate(model, te, train_data=tr, **kw).metrics()
            rows.append({"settings": name, "protocol": protocol, "device": str(next(model.module_.parameters()).device),
                         "epochs": len(epochs) + (2 * len(epochs) if model.pretrain else 0), "s/epoch (NeuMF)": epochs.mean(),
                         "train s": seconds, **{k: round(v, 4) for k, v in metrics.items()}})
    ease = EASERecommender().fit(train.data)
    rows.append({"settings": "EASE (l2_reg=500), for reference", "protocol": "full ranking, 75/25", "device": "cpu",
                 **{k: round(v, 4) for k, v in full.evaluate(ease, test, train_data=train).metrics().items()}})
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda x: f"{x:.3f}"))


if __name__ == "__main__":
    main()
