"""Baselines every neural model must beat: most popular items (all-time or recent), a first-order Markov chain of
item-to-item transitions (the simplest sequential model), and EASE (Steck, WWW 2019).

EASE learns an item-item weight matrix B in closed form: minimize ||X - XB||^2 + reg_lambda ||B||^2 with diag(B) = 0.
With P = (X^T X + reg_lambda I)^-1 the solution is B_ij = -P_ij / P_jj (and B_jj = 0); a user's scores are x_u B.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._validation import check_dataframe, check_positive
from ..recommender import BaseRecommender


class PopularityRecommender(BaseRecommender):
    """Scores every item by how many training users interacted with it: the same list for everyone."""

    def __init__(self):
        pass

    def _fit(self, df, val_df, callbacks):
        self.item_counts_ = np.asarray(self.seen_.sum(axis=0)).ravel().astype(np.float64)

    def _score_users(self, users):
        return np.broadcast_to(self.item_counts_, (len(users), len(self.item_counts_)))

    def score_next(self, windows):
        """Next-item scores (chapter 5's evaluate_next_item), the same whatever the window holds: log(count + 1), so
        that a softmax over them is a probability (count + 1) / total and the cross-entropy means something.
        Returns an (n, n_items) array the caller owns."""
        return np.tile(np.log1p(self.item_counts_), (len(windows), 1))

    def _get_state(self):
        return {"item_counts": self.item_counts_}

    def _set_state(self, state):
        self.item_counts_ = state["item_counts"]


class RecentPopularityRecommender(PopularityRecommender):
    """Scores every item by its interactions in the last ``days`` days of the training log: what is watched now.

    Ties (items nobody touched in the window) are broken by all-time popularity. Needs a timestamp column (seconds).
    days: the window, a hyperparameter to choose on validation (chapter 5).
    """

    def __init__(self, days: float = 30.0):
        self.days = days

    def _validate_params(self):
        check_positive(self.days, "days", "RecentPopularityRecommender")

    def _fit(self, df, val_df, callbacks):
        df = check_dataframe(df, "train", ["timestamp"], "RecentPopularityRecommender.fit")
        recent = df[df["timestamp"] >= df["timestamp"].max() - self.days * 86400]
        counts = np.bincount(self.item_index_.get_indexer(recent["item_id"]), minlength=len(self.item_index_))
        overall = np.asarray(self.seen_.sum(axis=0)).ravel().astype(np.float64)
        self.item_counts_ = counts + overall / (overall.max() + 1.0)  # the all-time count only breaks ties


class MarkovRecommender(BaseRecommender):
    """A first-order Markov chain: the next item depends on the last one only.

    P(next = j | last = i) = (transitions i -> j + smoothing * P_pop(j)) / (transitions from i + smoothing), counted
    over consecutive events of every user's training history in time order; P_pop is the items' popularity, so an
    item with few transitions backs off to popularity. ``recommend`` reads each user's last training item;
    ``score_next`` the last item of each window (chapter 5's evaluate_next_item). Needs a timestamp column.
    smoothing: the weight of the popularity prior, a hyperparameter to choose on validation.
    """

    max_seq_length = 1  # the windows of evaluate_next_item: the last item is all the model reads

    def __init__(self, smoothing: float = 1.0):
        self.smoothing = smoothing

    def _validate_params(self):
        check_positive(self.smoothing, "smoothing", "MarkovRecommender")

    def _fit(self, df, val_df, callbacks):
        df = check_dataframe(df, "train", ["timestamp"], "MarkovRecommender.fit")
        users = self.user_index_.get_indexer(df["user_id"])
        items = self.item_index_.get_indexer(df["item_id"])
        order = np.lexsort((np.arange(len(df)), df["timestamp"].to_numpy(), users))  # stable within equal times
        users, items = users[order], items[order]
        same = users[1:] == users[:-1]
        n = len(self.item_index_)
        self.transitions_ = sp.csr_matrix((np.ones(int(same.sum()), dtype=np.float64), (items[:-1][same], items[1:][same])),
                                          shape=(n, n))
        self.transitions_.sum_duplicates()
        counts = np.bincount(items, minlength=n).astype(np.float64)
        self.popularity_ = counts / counts.sum()
        last = np.flatnonzero(np.r_[~same, True])  # each user's last event (users are sorted)
        self.last_item_ = np.full(len(self.user_index_), -1, dtype=np.int64)
        self.last_item_[users[last]] = items[last]

    def _next_probabilities(self, last: np.ndarray) -> np.ndarray:
        """(len(last), n_items) P(next | last item index); a row of -1 (no known last item) gets popularity."""
        known = last >= 0
        rows = np.asarray(self.transitions_[np.where(known, last, 0)].todense())
        rows[~known] = 0.0
        totals = rows.sum(axis=1, keepdims=True)
        return (rows + self.smoothing * self.popularity_[None, :]) / (totals + self.smoothing)

    def _score_users(self, users):
        return self._next_probabilities(self.last_item_[np.asarray(users)])

    def score_next(self, windows):
        """log P(next item | the window's last item) for every item: an (n, n_items) array the caller owns. windows:
        (n, T) item codes (item index + 1, 0 = padding on the left); only the last real item is read."""
        windows = np.atleast_2d(np.asarray(windows, dtype=np.int64))
        if len(windows) == 0:
            return np.zeros((0, len(self.item_index_)))
        self._check_fitted()
        last = windows[:, -1] - 1  # left-padded: the last column is the most recent item (-1: nothing readable)
        if last.max() >= len(self.item_index_):
            raise ValueError(f"score_next: item codes must lie in 0..{len(self.item_index_)} (0 = padding). "
                             f"Got {int(last.max()) + 1}.")
        return np.log(self._next_probabilities(last))

    def _get_state(self):
        t = self.transitions_
        return {"indptr": t.indptr, "indices": t.indices, "data": t.data, "popularity": self.popularity_,
                "last_item": self.last_item_}

    def _set_state(self, state):
        n = len(self.item_index_)
        self.transitions_ = sp.csr_matrix((state["data"], state["indices"], state["indptr"]), shape=(n, n))
        self.popularity_, self.last_item_ = state["popularity"], state["last_item"]


class EASERecommender(BaseRecommender):
    """Embarrassingly Shallow Autoencoder: a closed-form item-item linear model on the binary interaction matrix.

    reg_lambda: the L2 term lambda ||B||^2 of the paper's objective ||X - XB||^2 + lambda ||B||^2 (Steck, WWW 2019;
    500 suits MovieLens 100K; larger catalogues often want 100-3000).
    Memory and time grow with n_items^2 and n_items^3: fine up to ~20,000 items on a laptop.
    """

    def __init__(self, reg_lambda: float = 500.0):
        self.reg_lambda = reg_lambda

    def _validate_params(self):
        check_positive(self.reg_lambda, "reg_lambda", "EASERecommender")

    def _fit(self, df, val_df, callbacks):
        X = self.seen_.astype(np.float64)
        gram = (X.T @ X).toarray()
        gram[np.diag_indices_from(gram)] += self.reg_lambda
        P = np.linalg.inv(gram)
        B = P / (-np.diag(P))[None, :]
        B[np.diag_indices_from(B)] = 0.0
        self.B_ = B.astype(np.float32)

    def _score_users(self, users):
        return np.asarray(self.seen_[users] @ self.B_)

    def _get_state(self):
        return {"B": self.B_}

    def _set_state(self, state):
        self.B_ = state["B"]
