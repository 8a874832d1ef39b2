"""The course's MovieLens 100K full-ranking table (per-user 75/25 split) beside recommenders' published ML-100K numbers.

Every model at the course's defaults, trained on the same training part (seed 42), ranked over the whole catalogue
minus the user's training items; MAP@10, nDCG@10, Precision@10, Recall@10 at k = 10, the protocol of recommenders'
benchmark notebook (stratified 75/25 split per user, top-10). Its published nDCG@10 on ML-100K: NCF 0.369,
LightGCN 0.416-0.453, BPR 0.445, BiVAE 0.469 (their splits, seeds and library versions, so differences of ~0.01
are noise).
"""
from __future__ import annotations

import time

import pandas as pd

from ._common import device_name

PUBLISHED_NDCG = {"NCF (NeuMF, pre-trained)": "0.369", "LightGCN": "0.416-0.453", "BPR-MF": "0.445 (BPR)"}


def models(device: str) -> dict:
    from course_utils import (ALSRecommender, BPRMFRecommender, EASERecommender, LightFMRecommender,
                              LightGCNRecommender, NCFRecommender, PopularityRecommender, SASRecRecommender)

    return {
        "Popularity": PopularityRecommender(),
        "EASE": EASERecommender(reg_lambda=500.0),
        "ALS": ALSRecommender(random_state=42),
        "LightFM (WARP)": LightFMRecommender(random_state=42),
        "BPR-MF": BPRMFRecommender(device=device, random_state=42, verbose=False),
        "NCF (NeuMF, pre-trained)": NCFRecommender(device=device, random_state=42, verbose=False),
        "LightGCN": LightGCNRecommender(device=device, random_state=42, verbose=False),
        "SASRec": SASRecRecommender(device=device, random_state=42, verbose=False),
    }


def add_arguments(parser) -> None:
    parser.add_argument("--models", nargs="*", default=None, metavar="MODEL",
                        help=f"a subset of {list(models('cpu'))} (default: all)")


def run(args) -> list[dict]:
    from course_utils import Evaluator, InteractionDataset, load_movielens

    dataset = InteractionDataset(load_movielens("100k"), implicit=True)
    train, test = dataset.split(test_size=0.25, strategy="user_random", seed=42)
    evaluator = Evaluator(metrics=["map", "ndcg", "precision", "recall"], k_values=[10])
    contenders = models(args.device)
    unknown = sorted(set(args.models or []) - set(contenders))
    if unknown:
        raise SystemExit(f"--models: unknown {unknown}; choose from {list(contenders)}")
    rows, table = [], []
    for name, model in contenders.items():
        if args.models and name not in args.models:
            continue
        start = time.perf_counter()
        model.fit(train.data)
        train_s = time.perf_counter() - start
        metrics = {k: round(v, 4) for k, v in evaluator.evaluate(model, test, train_data=train).metrics().items()}
        history = getattr(model, "history_", None)
        per_epoch = history.to_frame()["seconds"].mean() if history is not None and len(history) else ""
        params = ", ".join(f"{k}={v}" for k, v in model.get_params().items() if k not in ("verbose", "device", "random_state"))
        rows.append({"settings": f"{name} ({params}); 75/25 per user, seed 42, full ranking",
                     "device": device_name(args.device if history is not None else "cpu"),
                     "metrics": {**metrics, "published ndcg@10": PUBLISHED_NDCG.get(name, "-")}, "s/epoch": per_epoch,
                     "total s": time.perf_counter() - start})
        table.append({"model": name, **metrics, "recommenders' ndcg@10": PUBLISHED_NDCG.get(name, ""),
                      "train s": round(train_s, 1)})
        print(table[-1], flush=True)
    print(pd.DataFrame(table).to_string(index=False))
    return rows
