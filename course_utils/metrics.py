"""Ranking and rating metrics: pure functions over arrays, vectorized over users.

Every ranking metric has one signature, ``metric(ranked, relevant, k, per_user=False)``:
  ranked:   one ranked list of item ids per user: a 2-d array (n_users, n) or a list of lists (shorter lists and the
            padding value -1 in integer arrays count as empty positions); an item may not repeat in a list;
  relevant: one collection of relevant item ids per user (a list of sets/lists), or a scipy sparse (n_users, n_items)
            matrix whose non-zeros are relevant when ``ranked`` holds item indices;
  k:        the cut-off, an int >= 1: only the first k positions count.
It returns the mean over users (every user counts, a user with no relevant item scores 0), or the per-user values
with per_user=True. All values lie in [0, 1]; 1 is perfect.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._validation import check_int

PAD = -1


def _ranked_array(ranked, func: str) -> np.ndarray:
    if isinstance(ranked, np.ndarray):
        if ranked.ndim != 2:
            raise ValueError(f"The 'ranked' parameter of {func} must be 2-d (one ranked list per user). Got shape {ranked.shape}.")
        return ranked
    if not isinstance(ranked, (list, tuple)) or not all(isinstance(r, (list, tuple, np.ndarray, pd.Series)) for r in ranked):
        raise TypeError(f"The 'ranked' parameter of {func} must be a 2-d array or a list of lists of item ids. "
                        f"Got {type(ranked).__name__}.")
    width = max((len(r) for r in ranked), default=0)
    out = np.full((len(ranked), width), None, dtype=object)
    for i, r in enumerate(ranked):
        out[i, :len(r)] = list(r)
    return out


def hits_matrix(ranked, relevant, k: int, func: str = "hits_matrix") -> tuple[np.ndarray, np.ndarray]:
    """(hits, n_relevant): hits[u, j] is True when the item at position j < k of user u's list is relevant."""
    check_int(k, "k", func, min_value=1)
    ranked = _ranked_array(ranked, func)[:, :k]
    n_users = ranked.shape[0]
    if np.issubdtype(ranked.dtype, np.integer):
        valid = ranked != PAD
    else:
        valid = np.array([x is not None for x in ranked.ravel().tolist()], dtype=bool).reshape(ranked.shape)
    if sp.issparse(relevant):
        rel = relevant.tocsr()
        if rel.shape[0] != n_users:
            raise ValueError(f"The 'relevant' parameter of {func} must have one row per ranked list ({n_users}). Got {rel.shape[0]}.")
        if not np.issubdtype(ranked.dtype, np.integer):
            raise TypeError(f"With a sparse 'relevant' matrix, 'ranked' in {func} must hold integer item indices.")
        rel = rel.copy()
        rel.sum_duplicates()
        rel.eliminate_zeros()
        n_relevant = np.diff(rel.indptr)
        n_cols = max(rel.shape[1], int(ranked.max(initial=0)) + 1)
        rel_keys = np.sort(np.repeat(np.arange(n_users, dtype=np.int64), n_relevant) * n_cols + rel.indices)
        codes = np.where(valid, ranked, 0).astype(np.int64)
    else:
        if not isinstance(relevant, (list, tuple)) or len(relevant) != n_users:
            raise ValueError(f"The 'relevant' parameter of {func} must be a list with one collection of items per ranked "
                             f"list ({n_users}). Got {type(relevant).__name__}"
                             f"{' of length ' + str(len(relevant)) if hasattr(relevant, '__len__') else ''}.")
        rel_sets = [set(np.asarray(r).ravel().tolist()) if isinstance(r, np.ndarray) else set(r) for r in relevant]
        n_relevant = np.array([len(r) for r in rel_sets], dtype=np.int64)
        lookup: dict = {}
        for r in rel_sets:  # one integer code per distinct item id, relevant or ranked
            for item in r:
                lookup.setdefault(item, len(lookup))
        flat = ranked.ravel().tolist()
        for item, ok in zip(flat, valid.ravel().tolist(), strict=True):
            if ok:
                lookup.setdefault(item, len(lookup))
        codes = np.array([lookup[x] if ok else 0 for x, ok in zip(flat, valid.ravel().tolist(), strict=True)], dtype=np.int64).reshape(ranked.shape)
        n_cols = max(len(lookup), 1)
        rel_codes = np.array([lookup[i] for r in rel_sets for i in r], dtype=np.int64)
        rel_keys = np.sort(np.repeat(np.arange(n_users, dtype=np.int64), n_relevant) * n_cols + rel_codes)
    _check_no_repeats(np.where(valid, codes, -1 - np.arange(codes.size).reshape(codes.shape)), func)
    keys = np.arange(n_users, dtype=np.int64)[:, None] * n_cols + codes
    pos = np.searchsorted(rel_keys, keys)
    if len(rel_keys):
        found = (pos < len(rel_keys)) & (rel_keys[np.minimum(pos, len(rel_keys) - 1)] == keys)
    else:
        found = np.zeros(keys.shape, dtype=bool)
    hits = found & valid
    if hits.shape[1] < k:  # shorter lists: the missing positions are misses
        hits = np.pad(hits, ((0, 0), (0, k - hits.shape[1])))
    return hits, n_relevant


def _check_no_repeats(codes: np.ndarray, func: str) -> None:
    if codes.shape[1] < 2:
        return
    s = np.sort(codes, axis=1)
    dup = (s[:, 1:] == s[:, :-1]) & (s[:, 1:] >= 0)
    if dup.any():
        row = int(np.flatnonzero(dup.any(axis=1))[0])
        raise ValueError(f"The 'ranked' parameter of {func} must not repeat an item within a list. Row {row} does.")


def _mean(values: np.ndarray, per_user: bool):
    return values if per_user else float(values.mean()) if len(values) else 0.0


def top_k_indices(scores: np.ndarray, k: int, overwrite: bool = False) -> np.ndarray:
    """Column indices of the k largest scores of each row, best first; tied scores rank by column index (the lower
    first), so the lists do not depend on the machine. overwrite=True negates ``scores`` in place (no copy).

    ``np.argpartition`` finds the k best in linear time, but which of several items tied with the k-th it keeps
    depends on the CPU's sort kernels (numpy picks AVX-512 ones where the CPU has them): the rows where an item
    outside the k ties the k-th are sorted fully instead, with a stable sort.
    """
    neg = np.negative(scores, out=scores if overwrite else None)
    part = np.argpartition(neg, k - 1, axis=1)[:, :k].copy()  # a copy: the full (rows, n_items) indices are freed
    vals = np.take_along_axis(neg, part, axis=1)
    tied = np.flatnonzero((neg <= vals.max(axis=1, keepdims=True)).sum(axis=1) > k)
    if len(tied):
        sub = neg[tied]
        part[tied] = top = np.argsort(sub, axis=1, kind="stable")[:, :k]
        vals[tied] = np.take_along_axis(sub, top, axis=1)
    return np.take_along_axis(part, np.lexsort((part, vals), axis=1), axis=1)


def precision_at_k(ranked, relevant, k: int, per_user: bool = False):
    """Share of the first k positions that hold a relevant item: hits@k / k. Range [0, 1]."""
    hits, _ = hits_matrix(ranked, relevant, k, "precision_at_k")
    return _mean(hits.sum(axis=1) / k, per_user)


def recall_at_k(ranked, relevant, k: int, per_user: bool = False):
    """Share of the user's relevant items found in the first k positions: hits@k / |relevant|. Range [0, 1]."""
    hits, n_rel = hits_matrix(ranked, relevant, k, "recall_at_k")
    return _mean(np.divide(hits.sum(axis=1), n_rel, out=np.zeros(len(n_rel)), where=n_rel > 0), per_user)


def hit_rate_at_k(ranked, relevant, k: int, per_user: bool = False):
    """1 if at least one relevant item is in the first k positions, else 0 (HR@k). Range [0, 1]."""
    hits, _ = hits_matrix(ranked, relevant, k, "hit_rate_at_k")
    return _mean(hits.any(axis=1).astype(float), per_user)


def ndcg_at_k(ranked, relevant, k: int, per_user: bool = False):
    """DCG@k / ideal DCG@k with binary gains: sum of 1/log2(position + 2) over hits, normalized so that putting
    min(|relevant|, k) relevant items first scores 1. Range [0, 1]."""
    hits, n_rel = hits_matrix(ranked, relevant, k, "ndcg_at_k")
    discounts = 1.0 / np.log2(np.arange(k) + 2.0)
    dcg = (hits * discounts).sum(axis=1)
    idcg = np.cumsum(discounts)[np.clip(np.minimum(n_rel, k) - 1, 0, k - 1)]
    return _mean(np.where(n_rel > 0, dcg / idcg, 0.0), per_user)


def mrr_at_k(ranked, relevant, k: int, per_user: bool = False):
    """1 / (position of the first relevant item, counted from 1) within the first k positions, else 0. Range [0, 1]."""
    hits, _ = hits_matrix(ranked, relevant, k, "mrr_at_k")
    first = hits.argmax(axis=1)
    return _mean(np.where(hits.any(axis=1), 1.0 / (first + 1), 0.0), per_user)


def map_at_k(ranked, relevant, k: int, per_user: bool = False):
    """Average precision at k: the mean of precision@i over the positions i <= k that hold a relevant item,
    divided by min(|relevant|, k) so that a perfect list scores 1. Range [0, 1]."""
    hits, n_rel = hits_matrix(ranked, relevant, k, "map_at_k")
    precision_at_i = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    denom = np.minimum(n_rel, k)
    return _mean(np.divide((precision_at_i * hits).sum(axis=1), denom, out=np.zeros(len(denom)), where=denom > 0), per_user)


def catalog_coverage(ranked, n_items: int, k: int | None = None) -> float:
    """Share of the catalogue (n_items) that appears in at least one list's first k positions. Range [0, 1]."""
    check_int(n_items, "n_items", "catalog_coverage", min_value=1)
    arr = _ranked_array(ranked, "catalog_coverage")
    if k is not None:
        arr = arr[:, :check_int(k, "k", "catalog_coverage", min_value=1)]
    values = arr[arr != PAD] if np.issubdtype(arr.dtype, np.integer) else [x for x in arr.ravel().tolist() if x is not None]
    return len(set(np.asarray(values).tolist() if isinstance(values, np.ndarray) else values)) / n_items


def _check_pair(y_true, y_pred, func: str) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = np.asarray(y_true, dtype=float).ravel(), np.asarray(y_pred, dtype=float).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"The 'y_true' and 'y_pred' parameters of {func} must have the same length. Got {len(y_true)} and {len(y_pred)}.")
    if len(y_true) == 0:
        raise ValueError(f"The 'y_true' parameter of {func} must not be empty.")
    for name, v in [("y_true", y_true), ("y_pred", y_pred)]:
        if np.isnan(v).any():
            raise ValueError(f"The '{name}' parameter of {func} must not contain NaN. Got {int(np.isnan(v).sum())} NaN value(s).")
    return y_true, y_pred


def mse(y_true, y_pred) -> float:
    """Mean squared error of rating predictions, in squared rating units (the loss the rating models train on).
    Range [0, inf); 0 is perfect."""
    y_true, y_pred = _check_pair(y_true, y_pred, "mse")
    return float(np.mean((y_true - y_pred) ** 2))


def rmse(y_true, y_pred) -> float:
    """Root mean squared error of rating predictions, in rating units. Range [0, inf); 0 is perfect."""
    y_true, y_pred = _check_pair(y_true, y_pred, "rmse")
    return float(np.sqrt(np.mean((y_true - y_pred) ** 2)))


def mae(y_true, y_pred) -> float:
    """Mean absolute error of rating predictions, in rating units. Range [0, inf); 0 is perfect."""
    y_true, y_pred = _check_pair(y_true, y_pred, "mae")
    return float(np.mean(np.abs(y_true - y_pred)))


RANKING_METRICS = {"precision": precision_at_k, "recall": recall_at_k, "ndcg": ndcg_at_k, "hit_rate": hit_rate_at_k,
                   "mrr": mrr_at_k, "map": map_at_k}
RATING_METRICS = {"mse": mse, "rmse": rmse, "mae": mae}
