"""A realistic interaction log that needs no download: the embedded offline default of the course.

What makes it realistic enough to teach with:
- popularity skew: item popularity follows a Zipf law, so a few items get most interactions (the long tail);
- taste groups: each user belongs to one of ``n_groups`` groups and prefers items of that group;
- ratings 1-5 driven by taste match, item quality and user bias, plus noise;
- sequential structure: each group's items form a chain, and a user's next item is often the successor of the last
  one (like the next film in a series), so that sequence models (SASRec, LSTM) have something to learn.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .._validation import check_fraction, check_int, check_positive, check_random_state


def make_synthetic(n_users: int = 300, n_items: int = 200, *, n_groups: int = 4, mean_interactions: int = 30,
                   min_interactions: int = 5, popularity_exponent: float = 1.0, sequential_strength: float = 0.5,
                   seed: int | None = 0) -> pd.DataFrame:
    """Return a log with the columns of MovieLens: user_id (1..n_users), item_id (1..n_items), rating, timestamp.

    Each user has at least ``min_interactions`` distinct items (``mean_interactions`` on average, capped at n_items),
    sorted by user and time. Same seed, same log.
    """
    check_int(n_users, "n_users", "make_synthetic", min_value=1)
    check_int(n_items, "n_items", "make_synthetic", min_value=2)
    check_int(n_groups, "n_groups", "make_synthetic", min_value=1, max_value=n_items)
    check_int(min_interactions, "min_interactions", "make_synthetic", min_value=1, max_value=n_items)
    check_int(mean_interactions, "mean_interactions", "make_synthetic", min_value=min_interactions)
    check_positive(popularity_exponent, "popularity_exponent", "make_synthetic", strict=False)
    if sequential_strength != 0:
        check_fraction(sequential_strength, "sequential_strength", "make_synthetic")
    rng = check_random_state(seed)

    popularity = 1.0 / rng.permutation(np.arange(1, n_items + 1)) ** popularity_exponent  # Zipf, shuffled over ids
    item_group = rng.integers(0, n_groups, n_items)
    item_quality = rng.normal(0.0, 0.5, n_items)
    successor = np.full(n_items, -1)
    for g in range(n_groups):  # each group's items form a chain: item -> the next one in the "series"
        chain = rng.permutation(np.flatnonzero(item_group == g))
        successor[chain[:-1]] = chain[1:]

    user_group = rng.integers(0, n_groups, n_users)
    user_bias = rng.normal(0.0, 0.3, n_users)
    lengths = np.clip(rng.poisson(mean_interactions - min_interactions, n_users) + min_interactions, min_interactions, n_items)
    weights = popularity[None, :] * np.where(item_group[None, :] == np.arange(n_groups)[:, None], 8.0, 1.0)  # (G, I)

    users, items = [], []
    for u in range(n_users):
        w = weights[user_group[u]].copy()
        seq = [int(rng.choice(n_items, p=w / w.sum()))]
        w[seq[0]] = 0.0
        while len(seq) < lengths[u]:
            nxt = successor[seq[-1]]
            if nxt < 0 or w[nxt] == 0.0 or rng.random() >= sequential_strength:
                nxt = int(rng.choice(n_items, p=w / w.sum()))
            seq.append(int(nxt))
            w[nxt] = 0.0
        users.extend([u] * len(seq))
        items.extend(seq)
    users, items = np.asarray(users), np.asarray(items)

    match = (item_group[items] == user_group[users]).astype(float)
    raw = 3.0 + 1.2 * match - 0.6 + item_quality[items] + user_bias[users] + rng.normal(0.0, 0.7, len(items))
    rating = np.clip(np.rint(raw), 1, 5).astype(np.int64)
    start = rng.integers(880_000_000, 890_000_000, n_users)  # 1997-98, like MovieLens 100K
    gaps = rng.exponential(3600.0, len(items)).astype(np.int64) + 1  # strictly increasing within a user
    csum = np.cumsum(gaps)
    first = np.concatenate([[0], np.cumsum(lengths)[:-1]])  # each user's first row
    timestamp = start[users] + csum - csum[first][users]  # the first item at `start`, then one gap per step
    return pd.DataFrame({"user_id": users + 1, "item_id": items + 1, "rating": rating, "timestamp": timestamp.astype(np.int64)})
