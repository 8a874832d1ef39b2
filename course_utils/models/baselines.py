"""Baselines every neural model must beat: most popular items, and EASE (Steck, WWW 2019).

EASE learns an item-item weight matrix B in closed form: minimize ||X - XB||^2 + reg_lambda ||B||^2 with diag(B) = 0.
With P = (X^T X + reg_lambda I)^-1 the solution is B_ij = -P_ij / P_jj (and B_jj = 0); a user's scores are x_u B.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_positive
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
