"""A realistic interaction log that needs no download: the embedded offline default of the course.

What makes it realistic enough to teach with:
- popularity skew: item popularity follows a Zipf law, so a few items get most interactions (the long tail);
- taste groups: each user belongs to one of ``n_groups`` groups and prefers items of that group;
- ratings driven by taste match, item quality and user bias, plus noise;
- sequential structure: each group's items form a chain, and a user's next item is often the successor of the last
  one (like the next film in a series), so that sequence models (SASRec, LSTM) have something to learn.

Two generators share these ideas. The default one (no ``like``, no ``n_interactions``) walks user by user and is the
log the notebooks were written with: it must never change. The large-log one (``like="1m"``, ``"10m"``, ... or an
explicit ``n_interactions``) is fully vectorized with NumPy: 10 million rows take seconds, and its memory stays a
small multiple of the output.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .._validation import check_choice, check_fraction, check_int, check_positive, check_random_state

# The shape of each MovieLens release: users, items (movies with at least one rating), ratings, the period of its
# timestamps (Unix seconds) and whether ratings come in half stars.
LIKE = {
    "100k": dict(n_users=943, n_items=1_682, n_interactions=100_000, period=(874_724_710, 893_286_638), half_stars=False),
    "1m": dict(n_users=6_040, n_items=3_706, n_interactions=1_000_209, period=(956_703_932, 1_046_454_590), half_stars=False),
    "10m": dict(n_users=69_878, n_items=10_677, n_interactions=10_000_054, period=(789_652_009, 1_231_131_736),
                half_stars=True),
    "20m": dict(n_users=138_493, n_items=26_744, n_interactions=20_000_263, period=(789_652_009, 1_427_784_002),
                half_stars=True),
}
_LIKE_MIN_INTERACTIONS = 20  # every MovieLens user rated at least 20 movies
_LARGE = 1_000_000  # from this many rows on, ids are int32 and whole-star ratings int16, as the loaders give them
_LONGEST = 0.6  # the longest history, as a share of the items (unless the log is too dense for it)
_LENGTH_SIGMA = 1.25  # log-normal spread of the users' history lengths: a median user well below the mean, a long tail


def make_synthetic(n_users: int | None = None, n_items: int | None = None, *, n_groups: int | None = None,
                   mean_interactions: int | None = None, min_interactions: int | None = None,
                   popularity_exponent: float = 1.0, sequential_strength: float = 0.5, seed: int | None = 0,
                   like: str | None = None, n_interactions: int | None = None) -> pd.DataFrame:
    """Return a log with the columns of MovieLens: user_id (1..n_users), item_id (1..n_items), rating, timestamp.

    Each user has at least ``min_interactions`` distinct items, in strictly increasing time order; rows are sorted by
    user and time. Same seed, same log.

    Small log (the default, what the notebooks use): n_users=300, n_items=200, n_groups=4, ``mean_interactions``=30
    per user on average (Poisson, capped at n_items), min_interactions=5; int64 columns.

    Large log: ``like`` ("100k", "1m", "10m" or "20m") takes the users, items and number of ratings of that MovieLens
    release (min_interactions 20, its period of timestamps, half-star float32 ratings for "10m" and "20m"); or give
    ``n_interactions`` (with n_users and n_items, default 300 and 200). Arguments given explicitly override those of
    ``like``. The log has exactly n_interactions rows; users' history lengths are heavy-tailed (log-normal);
    n_groups defaults to max(4, n_items // 500). From 1,000,000 rows on, user_id/item_id are int32 and whole-star
    ratings int16, like the MovieLens loaders' 1M and larger sets.
    """
    if like is not None:
        check_choice(like, "like", list(LIKE), "make_synthetic")
    if like is None and n_interactions is None:
        return _small_log(300 if n_users is None else n_users, 200 if n_items is None else n_items,
                          n_groups=4 if n_groups is None else n_groups,
                          mean_interactions=30 if mean_interactions is None else mean_interactions,
                          min_interactions=5 if min_interactions is None else min_interactions,
                          popularity_exponent=popularity_exponent, sequential_strength=sequential_strength, seed=seed)

    if mean_interactions is not None:
        raise ValueError("The 'mean_interactions' parameter of make_synthetic sets the small log's mean; with 'like' or "
                         "'n_interactions' the mean is n_interactions / n_users, so leave it out. "
                         f"Got mean_interactions={mean_interactions!r} with like={like!r}, n_interactions={n_interactions!r}.")
    shape = LIKE.get(like, {})
    n_users = check_int(shape.get("n_users", 300) if n_users is None else n_users, "n_users", "make_synthetic", min_value=1)
    n_items = check_int(shape.get("n_items", 200) if n_items is None else n_items, "n_items", "make_synthetic", min_value=2)
    if n_interactions is None:
        n_interactions = shape["n_interactions"]
    check_int(n_interactions, "n_interactions", "make_synthetic", min_value=1)
    if min_interactions is None:
        min_interactions = _LIKE_MIN_INTERACTIONS if like else 5
        min_interactions = max(1, min(min_interactions, n_items, n_interactions // n_users))
    check_int(min_interactions, "min_interactions", "make_synthetic", min_value=1, max_value=n_items)
    low, high = n_users * min_interactions, n_users * n_items
    if not low <= n_interactions <= high:
        raise ValueError(f"The 'n_interactions' parameter of make_synthetic must be an int in [{low:,}, {high:,}] "
                         f"(n_users * min_interactions to n_users * n_items: every user has at least min_interactions "
                         f"distinct items and at most all {n_items:,} items). Got {n_interactions:,} instead "
                         f"(n_users={n_users:,}, n_items={n_items:,}, min_interactions={min_interactions}).")
    if n_groups is None:
        n_groups = min(n_items, max(4, n_items // 500))
    check_int(n_groups, "n_groups", "make_synthetic", min_value=1, max_value=n_items)
    check_positive(popularity_exponent, "popularity_exponent", "make_synthetic", strict=False)
    if sequential_strength != 0:
        check_fraction(sequential_strength, "sequential_strength", "make_synthetic")
    rng = check_random_state(seed)
    return _large_log(n_users, n_items, int(n_interactions), n_groups=n_groups, min_interactions=min_interactions,
                      popularity_exponent=float(popularity_exponent), sequential_strength=float(sequential_strength),
                      rng=rng, period=shape.get("period", (880_000_000, 890_000_000)),
                      half_stars=shape.get("half_stars", False))


def _small_log(n_users, n_items, *, n_groups, mean_interactions, min_interactions, popularity_exponent,
               sequential_strength, seed) -> pd.DataFrame:
    """The course's original generator, user by user. Its output is pinned by a test: do not change it."""
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


# ---------------------------------------------------------------------------------------------------------------------
# The large log, vectorized.
#
# A user's history is a stream of "runs": a seed item drawn from the user's taste-weighted popularity, followed by a
# geometric number of steps along the seed's series chain (continue with probability sequential_strength), the
# vectorized counterpart of the small generator's "next item is often the successor of the last one". Items already in
# the history are dropped (keep the first occurrence), and the stream is cut at the user's length. Drawing seeds with
# replacement and dropping repeats is exactly weighted sampling without replacement, in its order; how many seeds a
# user needs comes from the expected number of distinct items (_seed_draws_needed). Users with very long histories,
# and the rare user whose stream fell short, get their seeds without replacement instead: one exponential key per item,
# smallest first (Efraimidis-Spirakis), the same distribution at a cost of n_items per user.
# ---------------------------------------------------------------------------------------------------------------------

_CHUNK_ROWS = 1 << 18  # users are processed in chunks of about this many output rows: bounded temporary memory
_WHOLE_STARS = np.float32(0.5)  # half-star logs: the share of ratings rounded to a whole star (the rest to a half)


def _history_lengths(rng, n_users, n_items, n_interactions, min_interactions) -> np.ndarray:
    """Heavy-tailed (log-normal) lengths that add up to exactly n_interactions, each in [min_interactions, 60% of
    n_items] (up to n_items when the log is too dense for that)."""
    extra_total = n_interactions - n_users * min_interactions
    longest = max(min_interactions, int(_LONGEST * n_items))  # MovieLens' most active users rated 35-70% of the movies
    if n_users * longest < n_interactions:  # too dense for that: only the hard limit, every item
        longest = n_items
    cap = float(longest - min_interactions)
    raw = rng.lognormal(0.0, _LENGTH_SIGMA, n_users)
    extra = np.zeros(n_users)
    free = np.ones(n_users, dtype=bool)
    remaining = float(extra_total)
    while remaining > 0 and free.any():  # water-filling: scale, cap the users above the longest, rescale the others
        share = raw * free * (remaining / raw[free].sum())
        over = free & (extra + share > cap)
        if not over.any():
            extra += share
            break
        remaining -= float((cap - extra[over]).sum())
        extra[over] = cap
        free &= ~over
    base = np.floor(extra).astype(np.int64)
    short = extra_total - int(base.sum())  # distribute the rounding remainder to the largest fractional parts
    if short > 0:
        frac = np.where(base < cap, extra - base, -1.0)
        base[np.argpartition(-frac, short - 1)[:short]] += 1
    return base + min_interactions


def _expand_runs(rng, seeds, chain_pos, chain_items, chain_end, strength):
    """The run of each seed: the seed, then steps along its chain. Returns (items, index of the seed of each item)."""
    remaining = chain_end[seeds] - chain_pos[seeds]  # the seed and its successors up to the end of its chain
    if strength > 0:
        steps = rng.geometric(1.0 - strength, len(seeds)).astype(np.int64)  # 1 + number of successors taken
        run = np.minimum(steps, remaining)
    else:
        run = np.ones(len(seeds), dtype=np.int64)
    owner = np.repeat(np.arange(len(seeds)), run)
    offset = np.arange(len(owner)) - np.repeat(np.cumsum(run) - run, run)
    return chain_items[chain_pos[seeds][owner] + offset], owner


def _first_distinct(local_user, items, n_items, lengths):
    """Keep each user's first occurrence of every item, in stream order, up to lengths[user] of them.

    local_user must be non-decreasing. Returns (kept row indices into the stream, their rank within the user, count of
    distinct items found per user)."""
    key = local_user.astype(np.int64) * n_items + items
    _, first = np.unique(key, return_index=True)
    first.sort()
    kept_user = local_user[first]
    found = np.bincount(kept_user, minlength=len(lengths))
    rank = np.arange(len(first)) - (np.cumsum(found) - found)[kept_user]
    keep = rank < lengths[kept_user]
    return first[keep], rank[keep], found


def _draw_seeds(rng, weights, cdf, groups, n_seeds):
    """n_seeds[u] independent draws from weights[groups[u]] for each user u, user after user.

    Per taste group, the group's draws are dealt to its users in turn. Few draws: inverse CDF (a binary search
    each); many: how often each item is drawn is one multinomial, those counts spread out and shuffled (no search)."""
    n_items = weights.shape[1]
    by_group = np.argsort(groups, kind="stable")  # the users, group after group
    starts = np.cumsum(n_seeds) - n_seeds
    counts = n_seeds[by_group]
    slots = np.repeat(starts[by_group] - (np.cumsum(counts) - counts), counts) + np.arange(int(counts.sum()))
    draws = np.empty(len(slots), dtype=np.int64)
    totals = np.bincount(groups, weights=n_seeds, minlength=weights.shape[0]).astype(np.int64)  # draws per group
    done = 0
    for g in np.flatnonzero(totals):  # ascending group, the order of by_group
        total = int(totals[g])
        if total < n_items:
            picked = np.minimum(np.searchsorted(cdf[g], rng.random(total), side="right"), n_items - 1)
        else:
            picked = np.repeat(np.arange(n_items), rng.multinomial(total, weights[g]))
            rng.shuffle(picked)
        draws[done:done + total] = picked
        done += total
    seeds = np.empty_like(draws)
    seeds[slots] = draws
    return seeds


def _seed_draws_needed(weights, chain_items, group_end, strength):
    """A function (groups, targets) -> seeds to draw so that a user's runs hold about `target` distinct items.

    One seed covers item i when it is i itself or one of the k-th predecessors of i in its chain whose run reaches i
    (probability strength**k), so with D seeds drawn independently P(i missing) = (1 - c_i)**D, with
    c_i = sum_k strength**k * w[pred^k(i)], and the expected number of distinct items is sum_i 1 - (1 - c_i)**D.
    That curve is tabulated on a geometric grid of D for each taste group and inverted by interpolation.
    """
    n_groups, n_items = weights.shape
    by_position = weights[:, chain_items]  # weights in chain order
    cover = by_position.copy()
    if strength > 0:
        chain_start = np.repeat(np.concatenate([[0], group_end[:-1]]), np.diff(np.concatenate([[0], group_end])))
        position = np.arange(n_items)
        for k in range(1, min(n_items, 64)):  # an estimate: runs longer than 64 steps are rare enough to ignore
            factor = strength ** k
            if factor < 1e-4:
                break
            same_chain = position[k:] - k >= chain_start[k:]
            cover[:, k:] += factor * by_position[:, :-k] * same_chain
    cover = np.minimum(cover, 1.0 - 1e-12)
    grid = np.unique(np.geomspace(1, 64 * n_items, 96).astype(np.int64))
    log_miss = np.log1p(-cover).astype(np.float32)  # (G, I)
    expected = np.stack([n_items - np.exp(np.multiply.outer(grid.astype(np.float32), log_miss[g])).sum(axis=1)
                         for g in range(n_groups)])  # (G, len(grid)), increasing in D

    def needed(groups, targets):
        out = np.empty(len(groups), dtype=np.int64)
        for g in np.unique(groups):
            mine = groups == g
            # a target beyond the curve's reach gets the grid's last value: such users take the exact path
            out[mine] = np.ceil(np.interp(np.minimum(targets[mine], n_items), expected[g], grid)).astype(np.int64)
        return np.maximum(out, 1)

    return needed


def _large_log(n_users, n_items, n_interactions, *, n_groups, min_interactions, popularity_exponent,
               sequential_strength, rng, period, half_stars) -> pd.DataFrame:
    popularity = 1.0 / rng.permutation(np.arange(1, n_items + 1)) ** popularity_exponent  # Zipf, shuffled over ids
    item_group = rng.integers(0, n_groups, n_items)
    item_quality = rng.normal(0.0, 0.5, n_items).astype(np.float32)
    # each group's items form a chain (a "series"): chain_items lists the chains one after the other
    chain_items = np.argsort(item_group * 2.0 + rng.random(n_items), kind="stable")  # random order within each group
    chain_pos = np.empty(n_items, dtype=np.int64)
    chain_pos[chain_items] = np.arange(n_items)
    group_end = np.cumsum(np.bincount(item_group, minlength=n_groups))
    chain_end = group_end[item_group]  # one past the last position of each item's chain

    user_group = rng.integers(0, n_groups, n_users)
    user_bias = rng.normal(0.0, 0.3, n_users).astype(np.float32)
    lengths = _history_lengths(rng, n_users, n_items, n_interactions, min_interactions)
    offsets = np.concatenate([[0], np.cumsum(lengths)])

    weights = popularity[None, :] * np.where(item_group[None, :] == np.arange(n_groups)[:, None], 8.0, 1.0)  # (G, I)
    weights /= weights.sum(axis=1, keepdims=True)
    cdf = np.cumsum(weights, axis=1)
    draws_needed = _seed_draws_needed(weights, chain_items, group_end, sequential_strength)
    mean_run = 1.0 / (1.0 - sequential_strength)

    items = np.empty(n_interactions, dtype=np.int32 if n_interactions >= _LARGE else np.int64)
    bounds = np.searchsorted(offsets, np.arange(0, n_interactions, _CHUNK_ROWS), side="right") - 1
    bounds = np.unique(np.concatenate([bounds, [n_users]]))
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        need, groups = lengths[lo:hi], user_group[lo:hi]
        # seeds with replacement, as many as make the expected number of distinct items reach the need with a margin;
        # users for whom that stream would be longer than the item catalogue take the exact path below directly
        n_seeds = draws_needed(groups, need + 2.0 * np.sqrt(need) + 2.0)
        light = n_seeds * mean_run <= n_items
        n_seeds = np.where(light, n_seeds, 0)
        seed_user = np.repeat(np.arange(hi - lo), n_seeds)
        seeds = _draw_seeds(rng, weights, cdf, groups, n_seeds)
        stream, owner = _expand_runs(rng, seeds, chain_pos, chain_items, chain_end, sequential_strength)
        kept, rank, found = _first_distinct(seed_user[owner], stream, n_items, need)
        full = found >= need
        kept_user = seed_user[owner[kept]]
        done = full[kept_user]
        items[offsets[lo + kept_user[done]] + rank[done]] = stream[kept[done]]
        del stream, owner, kept, rank, kept_user, done, seeds, seed_user
        # the other users: seeds without replacement (one exponential key per item, the smallest first), which is the
        # same distribution at a cost of n_items per user; a few users at a time
        exact = np.flatnonzero(~full)
        exact = exact[np.argsort(need[exact], kind="stable")]  # similar lengths in a batch: less to sort
        per_batch = max(1, (4 * _CHUNK_ROWS) // n_items)
        for first in range(0, len(exact), per_batch):
            batch = exact[first:first + per_batch]
            take = need[batch]
            keys = rng.exponential(1.0, (len(batch), n_items)) / weights[groups[batch]]
            most = int(take.max())
            if most < n_items:  # only the `most` smallest keys of each row matter: partition, then sort those
                part = np.argpartition(keys, most - 1, axis=1)[:, :most]
                order = np.take_along_axis(part, np.argsort(np.take_along_axis(keys, part, axis=1), axis=1), axis=1)
            else:
                order = np.argsort(keys, axis=1)
            seed_user = np.repeat(np.arange(len(batch)), take)
            seeds = order[seed_user, np.arange(len(seed_user)) - np.repeat(np.cumsum(take) - take, take)]
            stream, owner = _expand_runs(rng, seeds, chain_pos, chain_items, chain_end, sequential_strength)
            kept, rank, _ = _first_distinct(seed_user[owner], stream, n_items, take)
            items[offsets[lo + batch[seed_user[owner[kept]]]] + rank] = stream[kept]

    big = n_interactions >= _LARGE
    id_type = np.int32 if big else np.int64
    users = np.repeat(np.arange(n_users, dtype=id_type), lengths)
    match = (item_group[items] == user_group[users]).astype(np.float32)
    match -= match.mean()
    # the small log's rating model, centred like MovieLens (mean about 3.5 instead of 3)
    raw = (3.5 + 1.2 * match + item_quality[items] + user_bias[users]
           + rng.standard_normal(n_interactions, dtype=np.float32) * np.float32(0.7))
    if half_stars:  # about 1 rating in 4 is a half star (MovieLens 10M/20M)
        whole = rng.random(n_interactions, dtype=np.float32) < _WHOLE_STARS
        rating = np.clip(np.where(whole, np.rint(raw), np.rint(raw * 2) / 2), 0.5, 5.0).astype(np.float32)
        del whole
    else:
        rating = np.clip(np.rint(raw), 1, 5).astype(np.int16 if big else np.int64)
    del raw, match
    start = rng.integers(period[0], period[1], n_users)
    gaps = rng.exponential(3600.0, n_interactions).astype(np.int64) + 1  # strictly increasing within a user
    timestamp = np.cumsum(gaps)
    del gaps
    timestamp += np.repeat(start - timestamp[offsets[:-1]], lengths)  # each user's first item at its start
    users += 1
    items += 1
    return pd.DataFrame({"user_id": users, "item_id": items.astype(id_type, copy=False), "rating": rating,
                         "timestamp": timestamp}, copy=False)
