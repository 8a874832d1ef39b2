"""The one shape every recommender of the course follows (scikit-learn's conventions, the seed chapter's names).

    model = EASERecommender(reg_lambda=500.0)          # the constructor only stores hyperparameters
    model.fit(train.data)                           # returns the model; learned attributes end in "_"
    model.recommend([1, 2, 3], k=10)                # {user_id: [(item_id, score), ...]}, raw ids, best first
    model.score([1, 1], [50, 172])                  # scores of (user, item) pairs
    model.save("ease.npz"); EASERecommender().load("ease.npz")

Saved models are safe to open: numpy archives read with allow_pickle=False (BaseRecommender) or torch files read with
weights_only=True (TorchRecommender, in course_utils.torch_recommender), hyperparameters as JSON. No pickle of anything
a user hands over.
"""
from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._validation import as_id_list, check_dataframe, check_int, check_seed
from .metrics import top_k_indices

FORMAT = "course_utils/2"  # 2: the course's one vocabulary (embedding_dim, n_layers, dropout, reg_lambda)
SCORE_BLOCK = 1 << 22  # recommend scores users in blocks of at most this many (user, item) scores (32 MB of float64)
PAIR_BLOCK = 1 << 18  # _score_users_by_pairs hands a pair-scoring model (MLPs) at most this many pairs per call


class NotFittedError(ValueError):
    """A method that needs a fitted model was called before fit."""


class BaseRecommender:
    """Base class: subclasses define ``__init__`` (hyperparameters only), ``_fit`` and ``_score_users``."""

    task = "ranking"  # "rating" for models that predict ratings (they need a 'rating' column)

    # ---------------------------------------------------------------- hyperparameters (scikit-learn style)
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values() if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    def get_params(self, deep: bool = True) -> dict:
        """The constructor's arguments, as stored."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Set hyperparameters by name (for tuning); returns the model. Takes effect at the next fit."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"Invalid parameter {name!r} for {type(self).__name__}. Valid parameters are: {valid}.")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"

    # ---------------------------------------------------------------- fitting
    def fit(self, train, val_data=None, callbacks=None, callback=None):
        """Learn from ``train`` (a DataFrame with user_id, item_id[, rating], or a split part); returns self.

        val_data: held-out interactions for validation metrics during training (models that train in epochs).
        callbacks: functions called after every epoch as ``callback(epoch, train_loss, val_metrics)``;
        ``callback=`` (one function, the seed chapter's spelling) is accepted too.
        """
        df = self._check_frame(train, "train", "fit")
        val_df = None if val_data is None else self._check_frame(val_data, "val_data", "fit")
        callbacks = list(callbacks or []) + ([callback] if callback is not None else [])
        for cb in callbacks:
            if not callable(cb):
                raise TypeError(f"The 'callbacks' parameter of fit must hold callables callback(epoch, train_loss, val_metrics). Got {cb!r}.")
        if "random_state" in self._param_names():
            check_seed(self.random_state, "random_state", type(self).__name__)
        self._validate_params()
        self.user_index_ = pd.Index(np.sort(df["user_id"].unique()), name="user_id")
        self.item_index_ = pd.Index(np.sort(df["item_id"].unique()), name="item_id")
        self.seen_ = self._interaction_matrix(df)
        self.__dict__.pop("_fit_seen_", None)  # set_histories' copy of an earlier fit's training interactions
        self._fit(df, val_df, callbacks)
        return self

    def _validate_params(self) -> None:
        """Check hyperparameters at fit time (scikit-learn validates in fit, not in __init__)."""

    def _fit(self, df: pd.DataFrame, val_df: pd.DataFrame | None, callbacks: list) -> None:
        raise NotImplementedError

    def _check_frame(self, part, name: str, func: str) -> pd.DataFrame:
        df = part.data if hasattr(part, "data") and hasattr(part, "dataset") else part
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"The '{name}' parameter of {func} must be a DataFrame with user_id and item_id columns "
                            f"(or a split part such as train). Got {type(part).__name__} instead.")
        required = ["user_id", "item_id"] + (["rating"] if self.task == "rating" else [])
        return check_dataframe(df, name, required, f"{type(self).__name__}.{func}")

    def _interaction_matrix(self, df: pd.DataFrame, values=None) -> sp.csr_matrix:
        """(n_users, n_items) CSR of df in the model's indices (1.0 per pair, or the given values)."""
        u = self.user_index_.get_indexer(df["user_id"])
        i = self.item_index_.get_indexer(df["item_id"])
        data = np.ones(len(df), dtype=np.float32) if values is None else np.asarray(values, dtype=np.float32)
        m = sp.csr_matrix((data, (u, i)), shape=(len(self.user_index_), len(self.item_index_)))
        if values is None:
            m.data[:] = 1.0
        m.sort_indices()
        return m

    # ---------------------------------------------------------------- scoring
    def _check_fitted(self) -> None:
        if not hasattr(self, "user_index_"):
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet: call fit(train) first.")

    def _user_indices(self, users, func: str) -> np.ndarray:
        self._check_fitted()
        users = as_id_list(users, "users", func)
        idx = self.user_index_.get_indexer(pd.Index(users))
        if (idx < 0).any():
            bad = users[int(np.flatnonzero(idx < 0)[0])]
            raise KeyError(f"The 'users' parameter of {func} must hold user ids seen in training. Got {bad!r}, unknown to "
                           f"this {type(self).__name__} ({len(self.user_index_):,} known users, ids such as "
                           f"{', '.join(map(str, self.user_index_[:3].tolist()))}).")
        return idx

    def _item_indices(self, items, func: str) -> np.ndarray:
        items = as_id_list(items, "items", func)
        idx = self.item_index_.get_indexer(pd.Index(items))
        if (idx < 0).any():
            bad = items[int(np.flatnonzero(idx < 0)[0])]
            raise KeyError(f"The 'items' parameter of {func} must hold item ids seen in training. Got {bad!r}, unknown to "
                           f"this {type(self).__name__} ({len(self.item_index_):,} known items).")
        return idx

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        """(len(users), n_items) scores for user indices. Subclasses implement it."""
        raise NotImplementedError

    def _score_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Scores of (user index, item index) pairs; the default reads them from whole-catalogue scores, computed for
        at most SCORE_BLOCK // n_items distinct users at a time (never a dense all-users x all-items matrix)."""
        users, items = np.asarray(users), np.asarray(items)
        uniq, inv = np.unique(users, return_inverse=True)
        inv = inv.ravel()
        chunk = max(1, SCORE_BLOCK // max(1, len(self.item_index_)))
        if len(uniq) <= chunk:
            return self._score_users(uniq)[inv, items]
        order = np.argsort(inv, kind="stable")  # the pairs grouped by user, so that each block reads one slice
        bounds = np.searchsorted(inv[order], np.arange(0, len(uniq) + chunk, chunk))
        out = None
        for b, start in enumerate(range(0, len(uniq), chunk)):
            sel = order[bounds[b]:bounds[b + 1]]
            block = np.asarray(self._score_users(uniq[start:start + chunk]))
            if out is None:
                out = np.empty(len(users), dtype=block.dtype)
            out[sel] = block[inv[sel] - start, items[sel]]
        return out

    def _score_users_by_pairs(self, users: np.ndarray) -> np.ndarray:
        """Whole-catalogue scores for models that score (user, item) pairs (MLPs): every pair, in calls of at most
        PAIR_BLOCK pairs (whole users), so that a model's per-pair activations stay bounded."""
        users, n_items = np.asarray(users), len(self.item_index_)
        step = max(1, PAIR_BLOCK // max(1, n_items))
        parts = []
        for start in range(0, len(users), step) or [0]:  # [0]: no user still makes one (empty) call
            part = users[start:start + step]
            parts.append(np.asarray(self._score_pairs(np.repeat(part, n_items), np.tile(np.arange(n_items), len(part)))))
        pairs = np.concatenate(parts) if len(parts) > 1 else parts[0]
        return pairs.reshape(len(users), n_items)

    def score(self, users, items) -> np.ndarray:
        """Scores of the pairs (users[j], items[j]) as a float array; raw ids, same length."""
        u = self._user_indices(users, "score")
        i = self._item_indices(items, "score")
        if len(u) != len(i):
            raise ValueError(f"The 'users' and 'items' parameters of score must have the same length. Got {len(u)} and {len(i)}.")
        return np.array(self._score_pairs(u, i), dtype=np.float64)

    def predict(self, users, items) -> np.ndarray:
        """Predicted ratings (rating models) or scores (ranking models) for (user, item) pairs; same as score."""
        return self.score(users, items)

    def score_all(self, users) -> np.ndarray:
        """(len(users), n_items) float64 scores over the whole catalogue, an array the caller owns (mask it, sort it);
        column j is item ``item_index_[j]``."""
        return np.array(self._score_users(self._user_indices(users, "score_all")), dtype=np.float64)  # a copy: yours

    def recommend(self, users, k: int = 10, exclude_seen: bool = True) -> dict:
        """Top-k items per user: ``{user_id: [(item_id, score), ...]}``, best first (tied scores: the lower item index
        first), raw ids.

        exclude_seen: leave out items the user interacted with in training, or, for a sequence model, in the history
        given to set_histories (a user with fewer than k unseen items gets fewer than k).
        """
        u = self._user_indices(users, "recommend")
        n_items = len(self.item_index_)
        check_int(k, "k", "recommend", min_value=1, max_value=n_items)
        if not isinstance(exclude_seen, bool):
            raise TypeError(f"The 'exclude_seen' parameter of recommend must be a bool. Got {exclude_seen!r}.")
        item_ids = self.item_index_.to_numpy()
        user_ids = self.user_index_[u].tolist()
        out = {}
        chunk = max(1, SCORE_BLOCK // n_items)  # users scored at once, so that the score block fits memory
        for start in range(0, len(u), chunk):
            part = u[start:start + chunk]
            scores = np.array(self._score_users(part), dtype=np.float64)
            if exclude_seen:
                rows = self.seen_[part]
                scores[np.repeat(np.arange(len(part)), np.diff(rows.indptr)), rows.indices] = -np.inf
            top = top_k_indices(scores, k)  # ties: the lower item index first, on every machine
            for row, user in enumerate(user_ids[start:start + chunk]):
                s = scores[row, top[row]]
                out[user] = [(_py(item_ids[j]), float(v)) for j, v in zip(top[row], s, strict=True) if np.isfinite(v)]
        return out

    # ---------------------------------------------------------------- persistence
    def _get_state(self) -> dict[str, np.ndarray]:
        """Learned arrays to save (subclasses)."""
        return {}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore learned arrays (subclasses)."""

    def _meta(self) -> dict:
        # the device is the loading machine's choice; a torch model's module class is code, kept by the loading object
        params = {k: v for k, v in self.get_params().items() if k not in ("device", "module")}
        try:
            json.dumps(params)
        except TypeError as err:
            raise TypeError(f"{type(self).__name__}.save: hyperparameters must be JSON values to be saved safely: {err}") from err
        return {"format": FORMAT, "class": type(self).__name__, "params": params}

    def _restore_meta(self, meta: dict, path) -> None:
        if meta.get("format") != FORMAT or meta.get("class") != type(self).__name__:
            raise ValueError(f"{path} holds a {meta.get('class')!r} saved in format {meta.get('format')!r}; "
                             f"{type(self).__name__}.load expects a {type(self).__name__!r} in format {FORMAT!r}.")
        self.set_params(**meta["params"])

    def save(self, path) -> Path:
        """Save hyperparameters (JSON) and learned arrays in one numpy archive; no pickle. Returns the path."""
        self._check_fitted()
        path = Path(path)
        arrays = {f"state.{k}": np.asarray(v) for k, v in self._get_state().items()}
        with open(path, "wb") as f:  # a file handle: numpy would otherwise append ".npz" to the name
            np.savez_compressed(f, meta=np.array(json.dumps(self._meta())), user_ids=_ids_array(self.user_index_),
                                item_ids=_ids_array(self.item_index_), seen_indptr=self.seen_.indptr,
                                seen_indices=self.seen_.indices, **arrays)
        return path

    def load(self, path):
        """Load what ``save`` wrote (into this object, keeping its device); returns self."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            meta = json.loads(str(arrays["meta"]))
        except FileNotFoundError:
            raise
        except (OSError, ValueError, KeyError, EOFError) as err:  # not an archive, pickled objects, missing entries
            raise ValueError(f"{path} is not a model saved by {type(self).__name__}.save ({type(err).__name__}: {err}).") from err
        self._restore_meta(meta, path)
        self._restore_index(arrays["user_ids"], arrays["item_ids"], arrays["seen_indptr"], arrays["seen_indices"])
        self._set_state({k[len("state."):]: v for k, v in arrays.items() if k.startswith("state.")})
        return self

    def _restore_index(self, user_ids, item_ids, indptr, indices) -> None:
        self.user_index_ = pd.Index(np.asarray(user_ids), name="user_id")
        self.item_index_ = pd.Index(np.asarray(item_ids), name="item_id")
        indptr, indices = np.asarray(indptr), np.asarray(indices)
        self.seen_ = sp.csr_matrix((np.ones(len(indices), dtype=np.float32), indices, indptr),
                                   shape=(len(self.user_index_), len(self.item_index_)))
        self.__dict__.pop("_fit_seen_", None)


def _py(x):
    """numpy scalar -> plain Python value (so that printed ids read 50, not np.int64(50))."""
    return x.item() if isinstance(x, np.generic) else x


def _ids_array(index: pd.Index) -> np.ndarray:
    values = index.to_numpy()
    if np.issubdtype(values.dtype, np.integer):
        return values.astype(np.int64)
    if all(isinstance(v, str) for v in values):
        return np.asarray(values, dtype=str)
    raise TypeError(f"Ids must be all integers or all strings to be saved safely. Got dtype {values.dtype}.")
