"""Matrix factorization baselines from well-kept libraries, on the course's recommender shape:
LightFM (WARP or BPR loss; Kula 2015) and implicit's ALS (Hu, Koren & Volinsky 2008).

Both learn user and item vectors; scores are dot products (plus LightFM's item bias). The learned arrays are saved in
the course's safe format and scoring after ``load`` needs neither library.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_choice, check_int, check_positive
from ..recommender import BaseRecommender


class _FactorsRecommender(BaseRecommender):
    def _score_users(self, users):
        return self.user_factors_[users] @ self.item_factors_.T + self.item_bias_[None, :]

    def _score_pairs(self, users, items):
        return (self.user_factors_[users] * self.item_factors_[items]).sum(axis=1) + self.item_bias_[items]

    def _get_state(self):
        return {"user_factors": self.user_factors_, "item_factors": self.item_factors_, "item_bias": self.item_bias_}

    def _set_state(self, state):
        self.user_factors_, self.item_factors_, self.item_bias_ = state["user_factors"], state["item_factors"], state["item_bias"]


class LightFMRecommender(_FactorsRecommender):
    """LightFM without side features: matrix factorization trained with the WARP (default) or BPR ranking loss.

    Defaults measured on MovieLens 100K (per-user 75/25, full ranking): WARP nDCG@10 0.44 in 1.5 s; BPR is weaker there
    (0.30-0.34), as LightFM's documentation warns.

    The hyperparameters keep LightFM's own names (no_components, item_alpha, user_alpha, num_threads; epochs and
    learning_rate are LightFM's too), because the course teaches the library itself: what you learn here reads
    straight into its documentation. random_state: an int seeds LightFM; None leaves it unseeded.
    """

    def __init__(self, loss: str = "warp", no_components: int = 32, learning_rate: float = 0.05, item_alpha: float = 1e-6,
                 user_alpha: float = 1e-6, epochs: int = 20, num_threads: int = 1, random_state: int | None = 42):
        self.loss = loss
        self.no_components = no_components
        self.learning_rate = learning_rate
        self.item_alpha = item_alpha
        self.user_alpha = user_alpha
        self.epochs = epochs
        self.num_threads = num_threads
        self.random_state = random_state

    def _validate_params(self):
        f = type(self).__name__
        check_choice(self.loss, "loss", ["warp", "bpr", "warp-kos", "logistic"], f)
        check_int(self.no_components, "no_components", f, min_value=1)
        check_int(self.epochs, "epochs", f, min_value=1)
        check_int(self.num_threads, "num_threads", f, min_value=1)
        check_positive(self.learning_rate, "learning_rate", f)
        check_positive(self.item_alpha, "item_alpha", f, strict=False)
        check_positive(self.user_alpha, "user_alpha", f, strict=False)

    def _fit(self, df, val_df, callbacks):
        from lightfm import LightFM

        model = LightFM(no_components=self.no_components, loss=self.loss, learning_rate=self.learning_rate,
                        item_alpha=self.item_alpha, user_alpha=self.user_alpha, random_state=self.random_state)
        model.fit(self.seen_.tocoo(), epochs=self.epochs, num_threads=self.num_threads)
        self.user_factors_ = model.user_embeddings.astype(np.float32)
        self.item_factors_ = model.item_embeddings.astype(np.float32)
        self.item_bias_ = model.item_biases.astype(np.float32)  # the user bias shifts a user's scores equally: no effect on ranking


class ALSRecommender(_FactorsRecommender):
    """Implicit-feedback ALS (implicit library): confidence 1 + alpha * r for observed pairs, weighted least squares.

    Defaults chosen on validation (``python -m benchmarks run defaults``: MovieLens 100K, per-user 65/10/25 splits of
    seeds 1-3; regularization 10 over the earlier 0.05, validation nDCG@10 0.1933 against 0.1911); test nDCG@10 about
    0.47 on those splits, in 0.2 s.

    The hyperparameters keep implicit's own names (factors, regularization, alpha, iterations), because the course
    teaches the library itself: what you learn here reads straight into its documentation. random_state: an int seeds
    implicit; None leaves it unseeded.
    """

    def __init__(self, factors: int = 16, regularization: float = 10.0, alpha: float = 1.0, iterations: int = 15,
                 random_state: int | None = 42):
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state

    def _validate_params(self):
        f = type(self).__name__
        check_int(self.factors, "factors", f, min_value=1)
        check_int(self.iterations, "iterations", f, min_value=1)
        check_positive(self.regularization, "regularization", f, strict=False)
        check_positive(self.alpha, "alpha", f)

    def _fit(self, df, val_df, callbacks):
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1, "blas"):  # implicit parallelizes itself; a threaded BLAS inside it only oversubscribes
            model = AlternatingLeastSquares(factors=self.factors, regularization=self.regularization, alpha=self.alpha,
                                            iterations=self.iterations, random_state=self.random_state, num_threads=1)
            model.fit(self.seen_.astype(np.float32).tocsr(), show_progress=False)
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float32)
        self.item_bias_ = np.zeros(self.item_factors_.shape[0], dtype=np.float32)
