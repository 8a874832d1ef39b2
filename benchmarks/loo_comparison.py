"""Chapter 4's comparison with seeds: SASRec against popularity, EASE, NCF and LightGCN under leave-one-out.

    python -m benchmarks run loo-comparison --device cpu          # ~8 min on the 2-core CPU

Protocol (chapter 4): MovieLens 100K, each user's latest interaction is the test item
(``split(strategy="leave_one_out")``); inside the training part each user's latest interaction is the validation
item. SASRec (the course's defaults) trains on the rest with ``EarlyStopping(monitor="ndcg@10", patience=PATIENCE,
restore_best_weights=True)`` on the validation items, at most MAX_EPOCHS epochs, then predicts the test item from the
whole training sequence (``set_histories``). Popularity, EASE, NCF and LightGCN (course defaults) train on the whole
training part. Every model is evaluated once on the test items: full ranking (training items removed) and the paper's
sampled protocol (100 negatives). Seeds 0, 1, 2 (the seed of every random choice of a run; popularity and EASE have
none).

Writes benchmarks/logs/loo_comparison/results.csv (one row per model and seed), which chapter 4 reads.
"""
from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

LOGS = Path(__file__).with_name("logs") / "loo_comparison"
SEEDS = (0, 1, 2)
MAX_EPOCHS = 40
PATIENCE = 3


def add_arguments(parser) -> None:
    parser.add_argument("--logs", type=Path, default=LOGS, help=f"where the CSV goes (default {LOGS})")


def run(args) -> list[dict]:
    from course_utils import (EarlyStopping, EASERecommender, Evaluator, InteractionDataset, LightGCNRecommender,
                              NCFRecommender, PopularityRecommender, SASRecRecommender, load_movielens)

    dataset = InteractionDataset(load_movielens("100k"), implicit=True)
    train, test = (p.data for p in dataset.split(strategy="leave_one_out"))
    fit_part, valid = (p.data for p in InteractionDataset(train, implicit=True).split(strategy="leave_one_out"))
    full = Evaluator(metrics=["hit_rate", "ndcg"], k_values=[10])
    rows = []
    makers = {"Popularity": lambda seed: PopularityRecommender(), "EASE": lambda seed: EASERecommender(),
              "NCF": lambda seed: NCFRecommender(device=args.device, random_state=seed, verbose=False),
              "LightGCN": lambda seed: LightGCNRecommender(device=args.device, random_state=seed, verbose=False),
              "SASRec": lambda seed: SASRecRecommender(epochs=MAX_EPOCHS, device=args.device, random_state=seed,
                                                       verbose=False)}
    for name, make in makers.items():
        for seed in SEEDS if name not in ("Popularity", "EASE") else SEEDS[:1]:
            model = make(seed)
            start = time.perf_counter()
            extra = {}
            if name == "SASRec":
                stopper = EarlyStopping(monitor="ndcg@10", patience=PATIENCE, restore_best_weights=True)
                model.fit(fit_part, val_data=valid, callbacks=[stopper])
                model.set_histories(train)
                extra = {"best epoch": stopper.best_epoch, "epochs run": len(model.history_),
                         "val NDCG@10": stopper.best_value}
            else:
                model.fit(train)
            seconds = time.perf_counter() - start
            f = full.evaluate(model, test, train_data=train)
            s = full.evaluate(model, test, train_data=train, protocol="sampled", n_negatives=100, random_state=seed)
            rows.append({"model": name, "seed": seed, "HR@10 full": f["hit_rate@10"], "NDCG@10 full": f["ndcg@10"],
                         "HR@10 sampled": s["hit_rate@10"], "NDCG@10 sampled": s["ndcg@10"], **extra,
                         "train s": seconds})
            print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in rows[-1].items()}, flush=True)
    table = pd.DataFrame(rows)
    args.logs.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.logs / "results.csv", index=False, float_format="%.6g")
    print(table.groupby("model", sort=False)[["HR@10 full", "HR@10 sampled"]].agg(["mean", "std"])
          .to_string(float_format=lambda x: f"{x:.4f}"))
    out = []
    for name, part in table.groupby("model", sort=False):
        out.append({"settings": f"chapter 4 comparison, {name} (course defaults); ML-100K leave-one-out, "
                                f"{len(part)} seed(s)" + (f", SASRec at its best validation epoch (patience {PATIENCE})"
                                                          if name == "SASRec" else ""),
                    "metrics": {k: (f"{part[k].mean():.4f} ± {part[k].std(ddof=1):.4f}" if len(part) > 1
                                    else round(float(part[k].iloc[0]), 4))
                                for k in ("HR@10 full", "NDCG@10 full", "HR@10 sampled")},
                    "total s": float(part["train s"].sum())})
    return out
