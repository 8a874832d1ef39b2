"""Negative sampling, vectorized: training negatives and the sampled-evaluation candidates of the NCF/SASRec papers.

Everything works on contiguous indices (``InteractionSplit.user_indices()``), never raw ids. ``positives`` is a
(n_users, n_items) CSR matrix of each user's items (``train.to_csr()``); a sampled negative is never one of them.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._validation import check_int, check_positive, check_random_state


def _check_positives(positives, n_items: int, func: str) -> sp.csr_matrix:
    if not sp.issparse(positives):
        raise TypeError(f"The 'positives' parameter of {func} must be a scipy sparse (n_users, n_items) matrix such as "
                        f"train.to_csr(). Got {type(positives).__name__} instead.")
    if positives.shape[1] != n_items:
        raise ValueError(f"The 'positives' parameter of {func} must have n_items={n_items} columns. Got shape {positives.shape}.")
    positives = positives.tocsr()
    if not positives.has_sorted_indices:
        positives = positives.sorted_indices()
    return positives


def _check_users(users, n_users: int, func: str) -> np.ndarray:
    users = np.asarray(users)
    if users.ndim != 1 or not np.issubdtype(users.dtype, np.integer):
        raise TypeError(f"The 'users' parameter of {func} must be a 1-d array of user indices. Got dtype {users.dtype}, shape {users.shape}.")
    if len(users) and (users.min() < 0 or users.max() >= n_users):
        bad = users[(users < 0) | (users >= n_users)][0]
        raise ValueError(f"The 'users' parameter of {func} must hold indices in [0, {n_users}). Got {bad}.")
    return users.astype(np.int64)


class UniformSampler:
    """Draws negatives uniformly from the catalogue, rejecting each user's positives (redrawn until none is left)."""

    def __init__(self, n_items: int, random_state=None):
        self.n_items = check_int(n_items, "n_items", "UniformSampler", min_value=2)
        self.random_state = random_state
        self._rng = check_random_state(random_state)
        self._cache: tuple | None = None  # (positives, sorted keys) of the last matrix seen

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_items={self.n_items})"

    def _draw(self, size: int) -> np.ndarray:
        return self._rng.integers(0, self.n_items, size)

    def _n_candidates(self, positives: sp.csr_matrix) -> np.ndarray:
        """How many items each user could be given (non-positive items this sampler can draw)."""
        return self.n_items - np.diff(positives.indptr)

    def _keys(self, positives: sp.csr_matrix) -> np.ndarray:
        if self._cache is None or self._cache[0] is not positives:
            rows = np.repeat(np.arange(positives.shape[0], dtype=np.int64), np.diff(positives.indptr))
            self._cache = (positives, rows * self.n_items + positives.indices)  # sorted: CSR rows, sorted indices
        return self._cache[1]

    def sample(self, users, positives, n_negatives: int = 1) -> np.ndarray:
        """(len(users), n_negatives) item indices, none of them a positive of its user (repeats are possible)."""
        check_int(n_negatives, "n_negatives", "sample", min_value=1)
        positives = _check_positives(positives, self.n_items, "sample")
        users = _check_users(users, positives.shape[0], "sample")
        starved = np.flatnonzero(self._n_candidates(positives)[users] <= 0)
        if len(starved):
            raise ValueError(f"User index {users[starved[0]]} has no item left to sample as a negative: every item it "
                             f"can be given is one of its positives.")
        keys = self._keys(positives)
        u = np.repeat(users, n_negatives)
        items = self._draw(len(u))
        todo = np.arange(len(u)) if len(keys) else np.arange(0)
        while len(todo):
            k = u[todo] * self.n_items + items[todo]
            pos = np.searchsorted(keys, k)
            hit = (pos < len(keys)) & (keys[np.minimum(pos, len(keys) - 1)] == k)
            todo = todo[hit]
            items[todo] = self._draw(len(todo))
        return items.reshape(len(users), n_negatives)


class TorchUniformSampler:
    """UniformSampler's draws on a torch device: the whole epoch's negatives are drawn where the model trains.

    On a GPU the NumPy sampler costs more per epoch than the training steps of a small model (Gowalla: ~0.2 s for
    810K draws on the CPU, then a copy); here the draws, the rejection of positives (a binary search in the sorted
    user * n_items + item keys) and the redraws stay on the device. positives: (n_users, n_items) CSR of each user's
    items; generator: a torch.Generator on ``device`` (the caller's seed).
    """

    def __init__(self, positives, device, generator):
        import torch

        positives = _check_positives(positives, positives.shape[1] if sp.issparse(positives) else None, "TorchUniformSampler")
        self.n_items = check_int(positives.shape[1], "n_items", "TorchUniformSampler", min_value=2)
        counts = np.diff(positives.indptr)
        if (counts >= self.n_items).any():
            raise ValueError(f"User index {int(np.argmax(counts >= self.n_items))} has no item left to sample as a "
                             f"negative: every item is one of its positives.")
        rows = np.repeat(np.arange(positives.shape[0], dtype=np.int64), counts)
        self.keys = torch.as_tensor(rows * self.n_items + positives.indices, device=device)  # sorted
        self.generator = generator
        self._indptr = torch.as_tensor(positives.indptr[:-1].astype(np.int64), device=device)
        self._degree = torch.as_tensor(counts.astype(np.int64), device=device)
        self._items = torch.as_tensor(positives.indices.astype(np.int64), device=device)

    def sample_pairs(self, n_pairs: int):
        """n_pairs (user, positive item) pairs: a user drawn uniformly among those with items, then one of its items
        uniformly (the NGCF/LightGCN papers' BPR sampler: every user weighs the same, whatever its history's length).
        """
        import torch

        check_int(n_pairs, "n_pairs", "sample_pairs", min_value=1)
        active = torch.nonzero(self._degree > 0).squeeze(1)
        if len(active) == 0:
            raise ValueError("sample_pairs needs at least one user with a positive item; the positives are empty.")
        dev = self._degree.device
        users = active[torch.randint(len(active), (n_pairs,), generator=self.generator, device=dev)]
        offset = (torch.rand(n_pairs, generator=self.generator, device=dev) * self._degree[users]).long()
        return users, self._items[self._indptr[users] + offset.clamp_(max=self._degree[users] - 1)]

    def sample(self, users, n_negatives: int = 1):
        """(len(users), n_negatives) item indices for a 1-d int64 tensor of user indices, none a positive."""
        import torch

        check_int(n_negatives, "n_negatives", "sample", min_value=1)
        u = users.repeat_interleave(n_negatives)
        items = torch.randint(self.n_items, u.shape, generator=self.generator, device=u.device)
        todo = torch.arange(len(u), device=u.device)
        while len(todo) and len(self.keys):
            k = u[todo] * self.n_items + items[todo]
            pos = torch.searchsorted(self.keys, k).clamp_(max=len(self.keys) - 1)
            todo = todo[self.keys[pos] == k]  # drew a positive: draw again
            items[todo] = torch.randint(self.n_items, todo.shape, generator=self.generator, device=u.device)
        return items.view(len(users), n_negatives)


class PopularitySampler(UniformSampler):
    """Draws negatives with probability proportional to popularity ** alpha (alpha=1: as often as they occur).

    item_popularity: counts per item index, length n_items (``train.item_popularity()``), or a dict/Series keyed
    by item index. Items with popularity 0 are never drawn.
    """

    def __init__(self, n_items: int, item_popularity, alpha: float = 1.0, random_state=None):
        super().__init__(n_items, random_state)
        self.alpha = check_positive(alpha, "alpha", "PopularitySampler", strict=False)
        if isinstance(item_popularity, dict) or hasattr(item_popularity, "items") and not isinstance(item_popularity, np.ndarray):
            pop = np.zeros(n_items)
            for key, value in dict(item_popularity).items():
                if isinstance(key, bool) or not isinstance(key, (int, np.integer)) or not 0 <= key < n_items:
                    raise ValueError(f"The 'item_popularity' parameter of PopularitySampler must be keyed by item indices in "
                                     f"[0, {n_items}) (map raw ids with dataset.item_index.get_indexer first). Got key {key!r}.")
                pop[key] = value
        else:
            pop = np.asarray(item_popularity, dtype=float)
            if pop.shape != (n_items,):
                raise ValueError(f"The 'item_popularity' parameter of PopularitySampler must have length n_items={n_items}. "
                                 f"Got shape {pop.shape}.")
        if np.isnan(pop).any() or (pop < 0).any() or pop.sum() <= 0:
            raise ValueError("The 'item_popularity' parameter of PopularitySampler must be non-negative, without NaN, "
                             "with a positive sum.")
        self.item_popularity = pop
        weights = pop ** self.alpha if self.alpha > 0 else (pop > 0).astype(float)
        self._sampleable = weights > 0
        self._cdf = np.cumsum(weights / weights.sum())

    def _draw(self, size: int) -> np.ndarray:
        idx = np.searchsorted(self._cdf, self._rng.random(size), side="right")
        return np.minimum(idx, self.n_items - 1)

    def _n_candidates(self, positives: sp.csr_matrix) -> np.ndarray:
        sampleable_positives = np.asarray(positives.multiply(self._sampleable[None, :]).sum(axis=1)).ravel()
        return int(self._sampleable.sum()) - sampleable_positives


NOISE_BLOCK = 1 << 22  # sample_eval_candidates draws at most this many (row, item) noise values at once (~48 MB)


def sample_eval_candidates(positives, users, targets, n_negatives: int = 100, random_state=None,
                           batch_size: int = 1024) -> np.ndarray:
    """Candidates for the sampled protocol: row r = [targets[r], n_negatives distinct items the user never touched].

    ``positives`` must hold every item of the user that may not be a negative (train and test items); negatives are
    drawn uniformly without replacement among the rest.

    Memory: rows are drawn in batches of min(batch_size, NOISE_BLOCK // n_items) rows (a float32 noise value and an
    int64 index per (row, item)), so the peak stays near 12 * NOISE_BLOCK bytes (~48 MB) plus the output, whatever the
    number of users; the batch size does not change the draws (one random stream, consumed row after row).
    """
    positives, users, targets = _check_eval_candidates(positives, users, targets, n_negatives)
    return _draw_eval_candidates(positives, users, targets, n_negatives, check_random_state(random_state), batch_size)


def _check_eval_candidates(positives, users, targets, n_negatives: int):
    """sample_eval_candidates' checks over every row at once: (CSR positives, int64 users, int64 targets)."""
    check_int(n_negatives, "n_negatives", "sample_eval_candidates", min_value=1)
    n_items = positives.shape[1] if sp.issparse(positives) else None
    positives = _check_positives(positives, n_items, "sample_eval_candidates")
    users = _check_users(users, positives.shape[0], "sample_eval_candidates")
    targets = np.asarray(targets, dtype=np.int64)
    if targets.shape != users.shape:
        raise ValueError(f"The 'targets' parameter of sample_eval_candidates must have one item per user: shape "
                         f"{users.shape}. Got {targets.shape}.")
    free = n_items - np.diff(positives.indptr)[users] - (~_is_positive(positives, users, targets))
    if len(users) and free.min() < n_negatives:
        r = int(np.argmin(free))
        raise ValueError(f"The 'n_negatives' parameter of sample_eval_candidates must be at most the number of items user "
                         f"index {users[r]} never touched ({int(free[r])}). Got {n_negatives}.")
    return positives, users, targets


def _draw_eval_candidates(positives: sp.csr_matrix, users: np.ndarray, targets: np.ndarray, n_negatives: int,
                          rng: np.random.Generator, batch_size: int = 1024) -> np.ndarray:
    """The draws of sample_eval_candidates for checked arguments. Consecutive calls on consecutive slices of the rows,
    with the same generator, return exactly what one call on all the rows returns."""
    n_items = positives.shape[1]
    out = np.empty((len(users), n_negatives + 1), dtype=np.int64)
    out[:, 0] = targets
    batch = max(1, min(int(batch_size), NOISE_BLOCK // n_items))
    for start in range(0, len(users), batch):
        u, t = users[start:start + batch], targets[start:start + batch]
        noise = rng.random((len(u), n_items), dtype=np.float32)
        rows = positives[u]
        noise[np.repeat(np.arange(len(u)), np.diff(rows.indptr)), rows.indices] = 2.0  # never a positive
        noise[np.arange(len(u)), t] = 2.0  # never the target itself
        out[start:start + len(u), 1:] = np.argpartition(noise, n_negatives, axis=1)[:, :n_negatives]
    return out


def _is_positive(positives: sp.csr_matrix, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    return np.asarray(positives[users, items]).ravel() > 0
