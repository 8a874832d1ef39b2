"""InteractionDataset: an interaction log with contiguous indices both ways, filters, and the course's splits.

    dataset = InteractionDataset(df, implicit=True, min_user_interactions=5)
    train, test = dataset.split(test_size=0.25, strategy="user_random", seed=42)
    train, val, test = dataset.split(strategy="leave_one_out", val_size=1)

Every part of a split keeps raw ids in ``.data`` (a DataFrame, as in the seed chapter's ``model.fit(train.data)``)
and shares the dataset's id maps (``user_index``, ``item_index``: position = contiguous index).
"""
from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._validation import check_choice, check_dataframe, check_fraction, check_int

STRATEGIES = ("random", "user_random", "temporal", "global_temporal", "leave_one_out")


class InteractionDataset:
    """An interaction log (user_id, item_id[, rating][, timestamp]) ready for splitting.

    implicit: keep every interaction as a positive (rating set to 1.0); with ``rating_threshold`` only ratings
        >= threshold are kept first (for example 4 on MovieLens: "liked").
    min_user_interactions, min_item_interactions: drop users/items with fewer interactions, repeated until both
        hold (a k-core filter: dropping an item can push a user under the limit). ``n_removed`` counts dropped rows.
    The caller's DataFrame is never modified.
    """

    def __init__(self, df: pd.DataFrame, implicit: bool = False, min_user_interactions: int = 0,
                 min_item_interactions: int = 0, rating_threshold: float | None = None):
        check_dataframe(df, "df", ["user_id", "item_id"], "InteractionDataset")
        if not isinstance(implicit, bool):
            raise TypeError(f"The 'implicit' parameter of InteractionDataset must be a bool. Got {implicit!r} instead.")
        check_int(min_user_interactions, "min_user_interactions", "InteractionDataset", min_value=0)
        check_int(min_item_interactions, "min_item_interactions", "InteractionDataset", min_value=0)
        has_rating = "rating" in df.columns
        if not has_rating and not implicit:
            raise ValueError("The 'df' parameter of InteractionDataset must have a 'rating' column unless implicit=True. "
                             f"Got columns {list(df.columns)}.")
        if has_rating:
            check_dataframe(df, "df", ["rating"], "InteractionDataset")
            if not pd.api.types.is_numeric_dtype(df["rating"]):
                raise TypeError(f"The 'rating' column of 'df' in InteractionDataset must be numeric. Got dtype {df['rating'].dtype}.")
        if rating_threshold is not None:
            if not has_rating:
                raise ValueError("The 'rating_threshold' parameter of InteractionDataset needs a 'rating' column in df.")
            if isinstance(rating_threshold, bool) or not isinstance(rating_threshold, numbers.Real) or np.isnan(rating_threshold):
                raise TypeError(f"The 'rating_threshold' parameter of InteractionDataset must be a number. Got {rating_threshold!r}.")
        if "timestamp" in df.columns:
            check_dataframe(df, "df", ["timestamp"], "InteractionDataset")

        cols = [c for c in ["user_id", "item_id", "rating", "timestamp"] if c in df.columns]
        data = df[cols].copy()
        if rating_threshold is not None:
            data = data[data["rating"] >= rating_threshold]
        if implicit:
            data["rating"] = 1.0
        data = _k_core(data, min_user_interactions, min_item_interactions)
        if len(data) == 0:
            raise ValueError(f"InteractionDataset: no interactions are left after filtering (rating_threshold="
                             f"{rating_threshold!r}, min_user_interactions={min_user_interactions}, "
                             f"min_item_interactions={min_item_interactions}) out of {len(df):,} rows.")
        self.data = data.reset_index(drop=True)
        self.implicit = implicit
        self.n_removed = len(df) - len(self.data)
        self.user_index = pd.Index(np.sort(self.data["user_id"].unique()), name="user_id")
        self.item_index = pd.Index(np.sort(self.data["item_id"].unique()), name="item_id")

    @property
    def n_users(self) -> int:
        return len(self.user_index)

    @property
    def n_items(self) -> int:
        return len(self.item_index)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        kind = "implicit" if self.implicit else "explicit"
        return f"InteractionDataset({len(self):,} interactions, {self.n_users:,} users, {self.n_items:,} items, {kind})"

    def split(self, test_size: float = 0.2, strategy: str = "random", seed: int = 42, val_size=None):
        """Split into (train, test), or (train, val, test) when ``val_size`` is given.

        strategy:
          "random"        per interaction, exactly sklearn's ``train_test_split(df, test_size, random_state=seed)``
                          (ML-100K, test_size=0.2, seed 42: 80,000 train rows, in sklearn's row order);
                          ``val_size`` (a fraction of all rows) is then split off the training part the same way.
          "user_random"   stratified per user: each user's interactions are shuffled and round((1 - test_size) * n)
                          go to train (75/25 for test_size=0.25), the rest to test; ``val_size`` likewise.
          "temporal"      per user by timestamp: each user's latest round(test_size * n) interactions are test.
          "global_temporal" one cut in time for everyone: the latest round(test_size * n) interactions of the whole
                          log are test (and the round(val_size * n) before them validation). Nothing in train
                          happened after anything in val or test: no leak from the future, also across users.
                          Test users may be new (a sequence model still predicts from their earlier test events).
          "leave_one_out" each user's latest interaction is test and, with val_size=1, the one before it validation.
                          ``test_size`` is not used. Timestamp ties keep the log's row order (the later row is "latest").
        Users with too few interactions to give one to every part (1 for "user_random"/"temporal", 1 or 2 for
        "leave_one_out") stay entirely in train.

        Cold start: with "random", a test user or item may never occur in train. Such rows are kept (so the row counts
        stay sklearn's); ``test.cold_users(train)`` and ``test.cold_items(train)`` list them. Evaluator skips test
        users a model has never seen and reports how many; test items never seen in training stay relevant and count
        as misses. The per-user strategies never produce cold users; "global_temporal" does (users and items that
        appear only after the cut), as real time does.
        """
        check_choice(strategy, "strategy", STRATEGIES, "split")
        check_int(seed, "seed", "split", min_value=0)
        if strategy == "leave_one_out":
            if val_size not in (None, 1):
                raise ValueError(f"The 'val_size' parameter of split must be None or 1 for strategy='leave_one_out' "
                                 f"(one validation item per user). Got {val_size!r} instead.")
        else:
            check_fraction(test_size, "test_size", "split")
            check_fraction(val_size, "val_size", "split", allow_none=True)
            if val_size is not None and test_size + val_size >= 1:
                raise ValueError(f"The 'test_size' and 'val_size' parameters of split must add up to less than 1. "
                                 f"Got {test_size} + {val_size} = {test_size + val_size}.")
        if strategy in ("temporal", "global_temporal", "leave_one_out") and "timestamp" not in self.data.columns:
            raise ValueError(f"split(strategy={strategy!r}) needs a 'timestamp' column. The dataset has {list(self.data.columns)}.")

        if strategy == "random":
            parts = self._random_split(test_size, val_size, seed)
        elif strategy == "global_temporal":
            order = np.lexsort((np.arange(len(self)), self.data["timestamp"].to_numpy()))  # ties: the log's order
            n_test, n_val = round(test_size * len(self)), round((val_size or 0) * len(self))
            cut = [len(self) - n_test - n_val, len(self) - n_test]
            train, val, test = (np.sort(p) for p in np.split(order, cut))
            parts = (train, test) if val_size is None else (train, val, test)
        else:
            parts = self._per_user_split(strategy, test_size, val_size, seed)
        names = ["train", "val", "test"] if len(parts) == 3 else ["train", "test"]
        for name, rows in zip(names, parts, strict=True):
            if len(rows) == 0:
                raise ValueError(f"split(strategy={strategy!r}, test_size={test_size}, val_size={val_size}) gives an empty "
                                 f"{name} part on {len(self):,} interactions from {self.n_users:,} users.")
        return tuple(InteractionSplit(self.data.iloc[rows].reset_index(drop=True), self, name) for name, rows in zip(names, parts, strict=True))

    def _random_split(self, test_size, val_size, seed):
        from sklearn.model_selection import train_test_split

        rows = np.arange(len(self))
        try:
            train, test = train_test_split(rows, test_size=test_size, random_state=seed)
            if val_size is None:
                return train, test
            train, val = train_test_split(train, test_size=val_size / (1 - test_size), random_state=seed)
        except ValueError as err:  # sklearn: a part would be empty
            raise ValueError(f"split(strategy='random', test_size={test_size}, val_size={val_size}) on {len(self)} "
                             f"interactions leaves a part empty: {err}") from err
        return train, val, test

    def _per_user_split(self, strategy, test_size, val_size, seed):
        users = self.user_index.get_indexer(self.data["user_id"])
        if strategy == "user_random":
            key = np.random.default_rng(seed).random(len(self))
        else:  # by time; ties keep the log's order because lexsort is stable
            key = self.data["timestamp"].to_numpy()
        order = np.lexsort((key, users))  # grouped by user, ascending key within a user
        counts = np.bincount(users, minlength=self.n_users)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        pos = np.arange(len(order)) - np.repeat(starts, counts)  # position within the user's ordered rows
        n = np.repeat(counts, counts)
        if strategy == "leave_one_out":
            n_test = np.where(n >= 2, 1, 0)
            n_val = np.where(n >= 3, 1, 0) if val_size else np.zeros_like(n)
        else:
            n_train = np.floor((1 - test_size - (val_size or 0)) * n + 0.5)
            n_val = np.floor((val_size or 0) * n + 0.5)
            n_train = np.maximum(n_train, 1)
            n_val = np.where(n_train + n_val >= n, 0, n_val)
            n_test = np.maximum(n - n_train - n_val, 0)
            n_test = np.where(n >= 2, n_test, 0)
        from_end = n - pos  # 1 = the user's last row in the order
        is_test = from_end <= n_test
        is_val = ~is_test & (from_end <= n_test + n_val)
        train, val, test = order[~is_test & ~is_val], order[is_val], order[is_test]
        return (np.sort(train), np.sort(test)) if val_size is None else (np.sort(train), np.sort(val), np.sort(test))


class InteractionSplit:
    """One part of a split: ``.data`` with raw ids, plus the dataset's shared id maps."""

    def __init__(self, data: pd.DataFrame, dataset: InteractionDataset, name: str):
        self.data = data
        self.dataset = dataset
        self.name = name

    @property
    def user_index(self) -> pd.Index:
        return self.dataset.user_index

    @property
    def item_index(self) -> pd.Index:
        return self.dataset.item_index

    @property
    def n_users(self) -> int:
        return self.dataset.n_users

    @property
    def n_items(self) -> int:
        return self.dataset.n_items

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return (f"InteractionSplit({self.name}: {len(self):,} interactions, {self.data['user_id'].nunique():,} users, "
                f"{self.data['item_id'].nunique():,} items)")

    def user_indices(self) -> np.ndarray:
        return self.user_index.get_indexer(self.data["user_id"])

    def item_indices(self) -> np.ndarray:
        return self.item_index.get_indexer(self.data["item_id"])

    def to_csr(self) -> sp.csr_matrix:
        """A binary (n_users, n_items) matrix of this part's interactions, in the dataset's indices."""
        m = sp.csr_matrix((np.ones(len(self), dtype=np.float32), (self.user_indices(), self.item_indices())),
                          shape=(self.n_users, self.n_items))
        m.data[:] = 1.0  # repeated (user, item) rows count once
        return m

    def item_popularity(self) -> np.ndarray:
        """Interactions per item in this part, indexed like ``item_index`` (for PopularitySampler)."""
        return np.bincount(self.item_indices(), minlength=self.n_items)

    def cold_users(self, train: InteractionSplit) -> np.ndarray:
        """Raw ids of this part's users that never occur in ``train``."""
        return np.setdiff1d(self.data["user_id"].unique(), train.data["user_id"].unique())

    def cold_items(self, train: InteractionSplit) -> np.ndarray:
        """Raw ids of this part's items that never occur in ``train``."""
        return np.setdiff1d(self.data["item_id"].unique(), train.data["item_id"].unique())


def _k_core(data: pd.DataFrame, min_user: int, min_item: int) -> pd.DataFrame:
    while min_user > 1 or min_item > 1:
        keep = np.ones(len(data), dtype=bool)
        if min_item > 1:
            keep &= data.groupby("item_id")["item_id"].transform("size").to_numpy() >= min_item
        if min_user > 1:
            keep &= data.groupby("user_id")["user_id"].transform("size").to_numpy() >= min_user
        if keep.all():
            break
        data = data[keep]
    return data
