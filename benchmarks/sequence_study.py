"""Chapter 5's study: every next-item model with 3 seeds, each stopped at its best validation epoch; two baselines.

    python -m benchmarks run sequence-study --device cpu          # ~15 min on the 2-core CPU

Protocol (chapter 5): MovieLens 100K cut once in time for everyone (first 80% of the ratings train, next 10%
validation, last 10% test; ``split(strategy="global_temporal", test_size=0.1, val_size=0.1)``). Each neural
configuration trains with ``EarlyStopping(monitor="ndcg@10", patience=PATIENCE, restore_best_weights=True)`` on the
validation period (1,000 validation events per epoch, the recommenders' ``val_targets``) up to a budget no model
reaches on this data (MAX_EPOCHS), so that every model is tested at its own best validation epoch; BERT4Rec, whose
validation score stays flat over its first epochs, gets more patience and epochs (BERT_PATIENCE, BERT_MAX_EPOCHS); then every event
of the test period is predicted from the user's earlier events (``evaluate_next_item``, full ranking). The
baselines' one hyperparameter (the recent-popularity window, the Markov chain's smoothing) is chosen on the
validation period, then they are refitted on train + validation for the test. Seeds 0, 1, 2.

Writes benchmarks/logs/sequence_study/curves.csv (every epoch of every run) and results.csv (one row per model and
seed: best epoch, validation and test metrics, seconds), which chapter 5 reads.
"""
from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

LOGS = Path(__file__).with_name("logs") / "sequence_study"
SEEDS = (0, 1, 2)
MAX_EPOCHS = 60
PATIENCE = 5
BERT_MAX_EPOCHS, BERT_PATIENCE = 100, 15  # BERT4Rec's validation score stays flat for its first epochs (it learns
# the popularity of the masked items first): with the causal models' patience of 5 it stopped during that flat start
RECENT_DAYS = (1, 3, 7, 14, 30, 60, 90, 180)
MARKOV_SMOOTHING = (1.0, 100.0, 1000.0, 10000.0, 100000.0)


def configs(device: str) -> dict:
    from course_utils import BERT4RecRecommender, LSTMAttentionRecommender, LSTMRecommender, SASRecRecommender

    class NextItemSASRec(SASRecRecommender):
        """SASRec validated like the chapter 5 models: 1,000 validation events, each predicted from the events before
        it (SASRec's own validation ranks each user's validation items from the end of training)."""

        _val_protocol = "next_item"
        val_targets = 1000

    common = {"device": device, "verbose": False, "epochs": MAX_EPOCHS}
    bert = {**common, "epochs": BERT_MAX_EPOCHS}
    return {
        "LSTM": lambda seed: LSTMRecommender(random_state=seed, **common),
        "LSTM + MHA (2 heads)": lambda seed: LSTMAttentionRecommender(n_heads=2, random_state=seed, **common),
        "LSTM + MHA (8 heads)": lambda seed: LSTMAttentionRecommender(n_heads=8, random_state=seed, **common),
        "BERT4Rec (2 heads)": lambda seed: BERT4RecRecommender(n_heads=2, random_state=seed, **bert),
        "BERT4Rec (8 heads)": lambda seed: BERT4RecRecommender(n_heads=8, random_state=seed, **bert),
        "BERT4Rec (2 heads), cloze only": lambda seed: BERT4RecRecommender(n_heads=2, last_item_share=0.0,
                                                                           random_state=seed, **bert),
        "SASRec": lambda seed: NextItemSASRec(max_seq_length=50, window_stride=50, batch_size=64, random_state=seed,
                                                 **common),
    }


def add_arguments(parser) -> None:
    parser.add_argument("--models", nargs="*", default=None, metavar="MODEL",
                        help=f"a subset of {list(configs('cpu'))} and the baselines 'Recent popularity', 'Markov chain'")
    parser.add_argument("--logs", type=Path, default=LOGS, help=f"where the CSVs go (default {LOGS})")


def data():
    from course_utils import InteractionDataset, load_movielens

    dataset = InteractionDataset(load_movielens("100k"), implicit=True)
    return tuple(p.data for p in dataset.split(strategy="global_temporal", test_size=0.1, val_size=0.1))


def _metrics(r: dict) -> dict:
    return {"HR@10": r["hit_rate@10"], "NDCG@10": r["ndcg@10"], "MRR": r["mrr"], "loss": r["loss"]}


def baselines(train, val, test) -> list[dict]:
    """Popularity, recent popularity and the Markov chain: the hyperparameter chosen on validation, test once."""
    from course_utils import MarkovRecommender, PopularityRecommender, RecentPopularityRecommender, evaluate_next_item

    seen_before_test = pd.concat([train, val])
    rows = []
    for name, cls, param, values in (("Recent popularity", RecentPopularityRecommender, "days", RECENT_DAYS),
                                     ("Markov chain", MarkovRecommender, "smoothing", MARKOV_SMOOTHING)):
        scores = {v: evaluate_next_item(cls(**{param: v}).fit(train), train, val)["ndcg@10"] for v in values}
        best = max(scores, key=scores.get)
        print(f"{name}: validation nDCG@10 by {param}: " + ", ".join(f"{v}: {s:.4f}" for v, s in scores.items())
              + f" -> {param}={best}", flush=True)
        model = cls(**{param: best}).fit(seen_before_test)
        rows.append({"model": name, "seed": 0, "params": f"{param}={best}", "best epoch": None,
                     "val NDCG@10": scores[best], **_metrics(evaluate_next_item(model, seen_before_test, test))})
    popularity = PopularityRecommender().fit(train)  # as chapter 5 counts it: on the training period
    rows.append({"model": "Popularity", "seed": 0, "params": "", "best epoch": None,
                 "val NDCG@10": evaluate_next_item(popularity, train, val)["ndcg@10"],
                 **_metrics(evaluate_next_item(popularity, seen_before_test, test))})
    return rows


def run(args) -> list[dict]:
    from course_utils import EarlyStopping, evaluate_next_item

    train, val, test = data()
    seen_before_test = pd.concat([train, val])
    makers = configs(args.device)
    chosen = args.models or [*makers, "Recent popularity", "Markov chain"]
    curves, results = [], []
    for name in [m for m in makers if m in chosen]:
        for seed in SEEDS:
            model = makers[name](seed)
            patience = BERT_PATIENCE if name.startswith("BERT4Rec") else PATIENCE
            stopper = EarlyStopping(monitor="ndcg@10", patience=patience, restore_best_weights=True)
            start = time.perf_counter()
            model.fit(train, val_data=val, callbacks=[stopper])
            seconds = time.perf_counter() - start
            history = model.history_.to_frame().reset_index()
            curves.append(history.assign(model=name, seed=seed))
            r = evaluate_next_item(model, seen_before_test, test)
            results.append({"model": name, "seed": seed, "params": f"patience {patience}", "best epoch": stopper.best_epoch,
                            "epochs run": len(history), "val NDCG@10": stopper.best_value, **_metrics(r),
                            "parameters": model.n_parameters(), "s/epoch": float(history["seconds"].mean()),
                            "train s": seconds})
            print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in results[-1].items()}, flush=True)
    if {"Recent popularity", "Markov chain"} & set(chosen):
        results += baselines(train, val, test)
    args.logs.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(results)
    for path, fresh in ((args.logs / "results.csv", table),
                        (args.logs / "curves.csv", pd.concat(curves, ignore_index=True) if curves else None)):
        if fresh is None:
            continue
        if path.exists() and args.models:  # a subset replaces its own rows only
            old = pd.read_csv(path)
            merged = pd.concat([old[~old["model"].isin(fresh["model"].unique())], fresh], ignore_index=True)
        else:
            merged = fresh
        merged.to_csv(path, index=False, float_format="%.6g")
    summary = table.groupby("model", sort=False)[["NDCG@10", "HR@10", "best epoch"]].agg(["mean", "std"])
    print(summary.to_string(float_format=lambda x: f"{x:.4f}"))
    rows = []
    for name, part in table.groupby("model", sort=False):
        rows.append({"settings": f"chapter 5 study, {name} {part['params'].iloc[0]}; ML-100K global time split 80/10/10; "
                                 f"{len(part)} seed(s), each at its best validation epoch (patience {PATIENCE}, at most "
                                 f"{MAX_EPOCHS}; BERT4Rec {BERT_PATIENCE} and {BERT_MAX_EPOCHS})",
                     "metrics": {"test NDCG@10": f"{part['NDCG@10'].mean():.4f} ± {part['NDCG@10'].std(ddof=1):.4f}"
                                 if len(part) > 1 else round(float(part['NDCG@10'].iloc[0]), 4),
                                 "test HR@10": round(float(part["HR@10"].mean()), 4),
                                 "best epochs": "/".join(str(int(e)) for e in part["best epoch"].dropna())},
                     "s/epoch": float(part["s/epoch"].mean()) if "s/epoch" in part and part["s/epoch"].notna().any() else "",
                     "total s": float(part["train s"].sum()) if "train s" in part and part["train s"].notna().any() else ""})
    return rows
