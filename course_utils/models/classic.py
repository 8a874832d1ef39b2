"""Classic rating predictors from scikit-surprise (SVD, BaselineOnly, KNNBasic) on the course's recommender shape,
so that Evaluator scores them exactly like the neural models."""
from __future__ import annotations

import numpy as np

from .._validation import check_choice
from ..recommender import BaseRecommender

ALGORITHMS = ("svd", "baseline", "knn")


class SurpriseRecommender(BaseRecommender):
    """A surprise algorithm: "svd" (Funk SVD with biases), "baseline" (mu + b_u + b_i by ALS) or "knn" (KNNBasic).

    params: keyword arguments for the surprise class (for example {"n_factors": 50} for SVD).
    Saving is not offered: surprise models are saved with pickle, which the course does not use for files.
    """

    task = "rating"

    def __init__(self, algorithm: str = "svd", params: dict | None = None, random_state: int | None = 42):
        self.algorithm = algorithm
        self.params = params
        self.random_state = random_state

    def _validate_params(self):
        check_choice(self.algorithm, "algorithm", ALGORITHMS, type(self).__name__)
        if self.params is not None and not isinstance(self.params, dict):
            raise TypeError(f"The 'params' parameter of {type(self).__name__} must be a dict or None. Got {self.params!r}.")

    def _fit(self, df, val_df, callbacks):
        import surprise

        lo, hi = float(df["rating"].min()), float(df["rating"].max())
        data = surprise.Dataset.load_from_df(df[["user_id", "item_id", "rating"]], surprise.Reader(rating_scale=(lo, hi)))
        trainset = data.build_full_trainset()
        params = dict(self.params or {})
        if self.algorithm == "svd":
            algo = surprise.SVD(random_state=self.random_state, **params)
        elif self.algorithm == "baseline":
            algo = surprise.BaselineOnly(verbose=False, **params)
        else:
            algo = surprise.KNNBasic(verbose=False, **params)
        self.algo_ = algo.fit(trainset)
        self.rating_range_ = (lo, hi)

    def _score_pairs(self, users, items):
        users_raw, items_raw = self.user_index_.to_numpy()[users], self.item_index_.to_numpy()[items]
        return np.array([self.algo_.predict(u, i).est for u, i in zip(users_raw.tolist(), items_raw.tolist(), strict=True)])

    def _score_users(self, users):
        return self._score_users_by_pairs(users)

    def save(self, path):
        raise NotImplementedError("SurpriseRecommender cannot be saved: surprise stores models with pickle, which the "
                                  "course never uses for files. Fit it again (seconds on MovieLens 100K).")
