"""Negatives per second of the course's vectorized samplers (training negatives and sampled-evaluation candidates).

Draws training negatives for every interaction of a log (MovieLens 100K when available, else a synthetic log of the
same size, and a larger synthetic log), and sampled-evaluation candidates (1 positive + 100 negatives per user).
"""
from __future__ import annotations

import time
from functools import partial

import numpy as np
import pandas as pd

from course_utils import InteractionDataset, PopularitySampler, UniformSampler, make_synthetic, sample_eval_candidates
from course_utils.data import DatasetError, load_movielens


def _logs(large: bool):
    try:
        yield "MovieLens 100K", load_movielens("100k")
    except DatasetError:
        yield "synthetic 943 x 1,682", make_synthetic(n_users=943, n_items=1682, mean_interactions=106, seed=0)
    if large:
        yield "synthetic 20,000 x 10,000", make_synthetic(n_users=20_000, n_items=10_000, mean_interactions=50, seed=0)


def _best_of(fn, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def add_arguments(parser) -> None:
    parser.add_argument("--no-large", action="store_true", help="skip the 1M-interaction synthetic log")


def run(args) -> list[dict]:
    rows = []
    for name, df in _logs(not args.no_large):
        train, _ = InteractionDataset(df, implicit=True).split(test_size=0.2, strategy="user_random")
        pos, users = train.to_csr(), train.user_indices()
        for label, sampler in [("uniform", UniformSampler(train.n_items, random_state=0)),
                               ("popularity", PopularitySampler(train.n_items, train.item_popularity(), random_state=0))]:
            for n_neg in (1, 4):
                seconds, neg = _best_of(partial(sampler.sample, users, pos, n_neg))
                rows.append({"log": name, "what": f"{label}, {n_neg} per positive", "samples": neg.size,
                             "seconds": seconds, "samples/s": neg.size / seconds})
        eval_users = np.arange(train.n_users)
        targets = np.asarray(pos.argmin(axis=1)).ravel()  # each user's first item it never touched
        seconds, cand = _best_of(partial(sample_eval_candidates, pos, eval_users, targets, 100, random_state=0), 1)
        rows.append({"log": name, "what": "eval candidates, 1 + 100 per user", "samples": cand.size - len(eval_users),
                     "seconds": seconds, "samples/s": (cand.size - len(eval_users)) / seconds})
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, formatters={"seconds": "{:.4f}".format, "samples/s": "{:,.0f}".format,
                                                   "samples": "{:,}".format}))
    return [{"settings": f"{r['log']}: {r['what']} (numpy, best of {1 if 'eval' in r['what'] else 3})", "device": "cpu (numpy)",
             "metrics": {"samples": r["samples"], "samples/s": round(r["samples/s"])}, "total s": r["seconds"]}
            for r in rows]
