"""Evaluator: the course's evaluation protocols, with results that carry their protocol.

    evaluator = Evaluator(metrics=["precision", "recall", "ndcg"], k_values=[10, 20])
    results = evaluator.evaluate(model, test, task="ranking", train_data=train)            # full ranking
    results = evaluator.evaluate(model, test, train_data=train, protocol="sampled")         # 1 positive + 100 negatives
    evaluator.print_results(results)

Protocols
- "full": every test user known to the model gets scores for the whole catalogue the model knows; the items the user
  has in ``train_data`` (or, without it, in the model's own training data) are removed; the top k are compared with
  the user's test items. Test items the model never saw stay relevant and count as misses. Tied scores rank by item
  index, the lower first (``metrics.top_k_indices``), the same lists on every machine.
- "sampled" (NCF and SASRec papers): each test interaction is ranked against ``n_negatives`` items drawn uniformly
  among those the user never interacted with (in train or test); ties count against the model. Krichene & Rendle
  (KDD 2020) show this inflates numbers and can reorder models: report it beside "full", never instead of it.
- task="rating": RMSE/MAE of ``model.predict`` on the test ratings.
Users the model has never seen are skipped and counted (``results.skipped_users``); nothing is averaged silently.

Memory (both protocols work in blocks; nothing of size n_users x n_items is ever built, no Python loop runs per user):
- "full": users are scored ``min(batch_size, max(1, Evaluator.max_block_bytes // (8 * n_items)))`` at a time, so a
  block's dense float64 scores take at most ``max_block_bytes`` (default 32 MiB, ``recommender.SCORE_BLOCK`` scores);
  seen items are masked through CSR indexing, the top k taken with ``np.argpartition`` (``top_k_indices``), the
  metrics computed for the block and only the per-user values kept. Peak: about 3 x max_block_bytes (the scores, argpartition's int64 indices,
  the model's own output) plus O(test users x k), whatever the number of users.
- "sampled": test interactions are ranked ``max(1, max_block_bytes // 128 // (n_negatives + 1))`` at a time
  (262,144 (user, item) pairs for the default budget: 2 MiB of scores, and room for models that gather an embedding
  per pair); the candidates are drawn by ``sample_eval_candidates``, whose noise batches are bounded too (~48 MB).
Block sizes never change a result: every user's scores, list and metric values are computed row by row.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._validation import check_choice, check_int
from .metrics import PAD, RANKING_METRICS, RATING_METRICS, top_k_indices
from .recommender import SCORE_BLOCK, BaseRecommender

ALL_METRICS = [*RANKING_METRICS, "coverage", *RATING_METRICS]


class EvaluationResult(dict):
    """A dict of metric values ("ndcg@10": 0.43, ...) plus "protocol" and "n_users", printed with its protocol."""

    def __init__(self, values: dict, protocol: str, task: str, n_users: int, skipped_users: int = 0,
                 per_user: pd.DataFrame | None = None):
        super().__init__(values)
        self["protocol"] = protocol
        self["n_users"] = n_users
        self.protocol, self.task, self.n_users, self.skipped_users = protocol, task, n_users, skipped_users
        self.per_user = per_user  # evaluate(..., per_user=True): one row per test user (index user_id), one column per metric

    def metrics(self) -> dict[str, float]:
        return {k: v for k, v in self.items() if k not in ("protocol", "n_users")}

    def to_frame(self) -> pd.DataFrame:
        """Metrics as a table: one row per metric, one column per k (a single column for rating metrics)."""
        rows = {}
        for key, value in self.metrics().items():
            name, _, k = key.partition("@")
            rows.setdefault(name, {})[f"@{k}" if k else "value"] = value
        return pd.DataFrame(rows).T

    def __str__(self) -> str:
        skipped = f"; {self.skipped_users} test users unknown to the model were skipped" if self.skipped_users else ""
        table = self.to_frame().to_string(float_format=lambda x: f"{x:.4f}")
        return f"{self.task} evaluation, {self.protocol} ({self.n_users:,} users{skipped})\n{table}"


class Evaluator:
    """Evaluate any course recommender on a test split. Metric names: precision, recall, ndcg, hit_rate, mrr, map,
    coverage (ranking, each at every k) and mse, rmse, mae (rating).

    max_block_bytes: the memory budget of one block of dense float64 scores (class attribute, 32 MiB; set it on an
    instance to change it). Full ranking scores min(batch_size, max(1, max_block_bytes // (8 * n_items))) users per
    block; the sampled protocol ranks max(1, max_block_bytes // 128 // (n_negatives + 1)) test interactions per block.
    The peak memory of evaluate stays within a few max_block_bytes plus O(test users x max(k)); results do not depend
    on the block size."""

    max_block_bytes = 8 * SCORE_BLOCK

    def __init__(self, metrics=("precision", "recall", "ndcg"), k_values=(10, 20)):
        if isinstance(metrics, str) or not isinstance(metrics, (list, tuple)) or not metrics:
            raise TypeError(f"The 'metrics' parameter of Evaluator must be a non-empty list of names from {ALL_METRICS}. Got {metrics!r}.")
        for m in metrics:
            check_choice(m, "metrics", ALL_METRICS, "Evaluator")
        if isinstance(k_values, (int, np.integer)):
            k_values = [k_values]
        if not isinstance(k_values, (list, tuple)) or not k_values:
            raise TypeError(f"The 'k_values' parameter of Evaluator must be a non-empty list of ints >= 1. Got {k_values!r}.")
        self.metrics = list(metrics)
        self.k_values = sorted({check_int(k, "k_values", "Evaluator", min_value=1) for k in k_values})

    def __repr__(self) -> str:
        return f"Evaluator(metrics={self.metrics}, k_values={self.k_values})"

    def evaluate(self, model, test, task: str = "ranking", train_data=None, protocol: str = "full",
                 n_negatives: int = 100, random_state: int = 42, batch_size: int = 1024,
                 per_user: bool = False) -> EvaluationResult:
        """Evaluate ``model`` on ``test``. per_user=True also keeps each test user's value of every ranking metric
        (``result.per_user``, indexed by user_id): what a paired comparison of two models over users needs."""
        check_choice(task, "task", ["ranking", "rating"], "evaluate")
        if not isinstance(per_user, bool):
            raise TypeError(f"The 'per_user' parameter of evaluate must be True or False. Got {per_user!r}.")
        check_choice(protocol, "protocol", ["full", "sampled"], "evaluate")
        test_df = _frame(test, "test", need_rating=(task == "rating"))
        train_df = None if train_data is None else _frame(train_data, "train_data")
        if not hasattr(model, "user_index_"):
            raise ValueError(f"The 'model' parameter of evaluate must be a fitted recommender. {type(model).__name__} "
                             f"is not fitted: call fit first.")
        if task == "rating":
            return self._rating(model, test_df)
        metrics = [m for m in self.metrics if m in RANKING_METRICS or m == "coverage"]
        if not metrics:
            raise ValueError(f"task='ranking' needs ranking metrics; this Evaluator has only {self.metrics}.")
        if protocol == "full":
            check_int(batch_size, "batch_size", "evaluate", min_value=1)
            return self._full(model, test_df, train_df, metrics, batch_size, per_user)
        check_int(n_negatives, "n_negatives", "evaluate", min_value=1)
        return self._sampled(model, test_df, train_df, metrics, n_negatives, random_state, per_user)

    # ------------------------------------------------------------------ protocols
    def _rating(self, model, test_df):
        metrics = [m for m in self.metrics if m in RATING_METRICS]
        if not metrics:
            raise ValueError(f"task='rating' needs a rating metric ({', '.join(RATING_METRICS)}); this Evaluator has {self.metrics}.")
        known = model.user_index_.get_indexer(test_df["user_id"]) >= 0
        known &= model.item_index_.get_indexer(test_df["item_id"]) >= 0
        rows = test_df[known]
        if len(rows) == 0:
            raise ValueError("evaluate(task='rating'): no test rating has both its user and its item in the model's training data.")
        pred = model.predict(rows["user_id"].to_numpy(), rows["item_id"].to_numpy())
        values = {m: RATING_METRICS[m](rows["rating"].to_numpy(), pred) for m in metrics}
        skipped = int((~known).sum())
        protocol = f"rating prediction on {len(rows):,} test ratings" + (f" ({skipped} with an unseen user or item skipped)" if skipped else "")
        return EvaluationResult(values, protocol, "rating", int(rows["user_id"].nunique()))

    def _full(self, model, test_df, train_df, metrics, batch_size, per_user=False):
        n_items = len(model.item_index_)
        k_max = self.k_values[-1]
        if k_max > n_items:
            raise ValueError(f"The 'k_values' of Evaluator must not exceed the model's catalogue ({n_items} items). Got {k_max}.")
        users, relevant, skipped = self._test_users(model, test_df)
        exclude = model.seen_ if train_df is None else _matrix(model, train_df)
        acc = _Accumulator(self, metrics, n_items)
        block = max(1, min(batch_size, int(self.max_block_bytes) // (8 * n_items)))
        for start in range(0, len(users), block):
            u = users[start:start + block]
            scores = _user_scores(model, u)
            rows = exclude[u]
            n_excluded = np.diff(rows.indptr)
            scores[np.repeat(np.arange(len(u)), n_excluded), rows.indices] = -np.inf
            ranked = top_k_indices(scores, k_max, overwrite=True)  # ties: the lower item index first
            del scores, rows
            ranked[np.arange(k_max)[None, :] >= (n_items - n_excluded)[:, None]] = PAD  # fewer unseen items than k: pad
            acc.add(ranked, relevant[start:start + len(u)])
        values = acc.result()
        table = None
        if per_user:
            table = pd.DataFrame({key: v for key, v in values.items() if isinstance(v, np.ndarray)},
                                 index=pd.Index(model.user_index_[users], name="user_id"))
        values = {key: float(v.mean()) if isinstance(v, np.ndarray) else v for key, v in values.items()}
        seen = "training items removed" if train_df is not None else "the model's training items removed"
        return EvaluationResult(values, f"full ranking over {n_items:,} items, {seen}", "ranking", len(users), skipped,
                                per_user=table)

    def _sampled(self, model, test_df, train_df, metrics, n_negatives, random_state, per_user=False):
        from ._validation import check_random_state
        from .data.sampling import _check_eval_candidates, _draw_eval_candidates

        n_items = len(model.item_index_)
        users = model.user_index_.get_indexer(test_df["user_id"])
        items = model.item_index_.get_indexer(test_df["item_id"])
        skipped = int(pd.unique(test_df["user_id"][users < 0]).size)
        keep = users >= 0
        users, items = users[keep], items[keep]
        if len(users) == 0:
            raise ValueError("evaluate(protocol='sampled'): no test user occurs in the model's training data.")
        known_item = items >= 0
        base = model.seen_ if train_df is None else (model.seen_ + _matrix(model, train_df))
        test_m = sp.csr_matrix((np.ones(int(known_item.sum())), (users[known_item], items[known_item])), shape=base.shape)
        everything = (base + test_m).tocsr()  # negatives avoid every item the user has, in training or in test
        everything.data[:] = 1.0
        everything, users, targets = _check_eval_candidates(everything, users, np.where(known_item, items, 0), n_negatives)
        rng = check_random_state(random_state)  # one stream over the blocks: the draws of a single call
        acc = _Accumulator(self, metrics, n_items)
        block = max(1, int(self.max_block_bytes) // 128 // (n_negatives + 1))
        for start in range(0, len(users), block):
            u, known = users[start:start + block], known_item[start:start + block]
            cand = _draw_eval_candidates(everything, u, targets[start:start + block], n_negatives, rng)
            cand = np.concatenate([cand[:, 1:], cand[:, :1]], axis=1)  # target last: a stable sort puts ties before it
            scores = _pair_scores(model, np.repeat(u, n_negatives + 1), cand.ravel()).reshape(cand.shape)
            scores[~known, -1] = -np.inf  # a test item the model never saw cannot be ranked: a miss
            ranked = np.take_along_axis(cand, np.argsort(-scores, axis=1, kind="stable"), axis=1)
            del scores
            relevant = sp.csr_matrix((np.ones(len(u)), (np.arange(len(u)), cand[:, -1])), shape=(len(u), n_items))
            acc.add(ranked, relevant)
        per_pair = acc.result()
        groups = pd.Series(users)  # average over each user's test items first, then over users
        by_user = {key: pd.Series(v).groupby(groups).mean() for key, v in per_pair.items() if isinstance(v, np.ndarray)}
        values = {key: float(by_user[key].mean()) if key in by_user else v for key, v in per_pair.items()}
        table = None
        if per_user:
            table = pd.DataFrame(by_user)
            table.index = pd.Index(model.user_index_[table.index.to_numpy()], name="user_id")
        protocol = f"sampled: each test item ranked against {n_negatives} random items the user never interacted with"
        return EvaluationResult(values, protocol, "ranking", int(np.unique(users).size), skipped, per_user=table)

    # ------------------------------------------------------------------ helpers
    def _test_users(self, model, test_df):
        users = model.user_index_.get_indexer(test_df["user_id"])
        skipped = int(pd.unique(test_df["user_id"][users < 0]).size)
        df = test_df[users >= 0]
        if len(df) == 0:
            raise ValueError("evaluate: no test user occurs in the model's training data.")
        u = model.user_index_.get_indexer(df["user_id"])
        i = model.item_index_.get_indexer(df["item_id"])
        cold = i < 0  # test items the model never saw: extra columns that no ranked list can hit
        i = i.copy()
        i[cold] = len(model.item_index_) + pd.factorize(df["item_id"][cold])[0]
        unique_users, row = np.unique(u, return_inverse=True)
        relevant = sp.csr_matrix((np.ones(len(u)), (row, i)), shape=(len(unique_users), int(i.max()) + 1))
        relevant.data[:] = 1.0
        return unique_users, relevant, skipped

    @staticmethod
    def print_results(results: EvaluationResult) -> None:
        """Print the metrics as a table under their protocol."""
        if not isinstance(results, EvaluationResult):
            raise TypeError(f"The 'results' parameter of print_results must be what evaluate returned. Got {type(results).__name__}.")
        print(results)


def compare(results: dict) -> pd.DataFrame:
    """One table for several models: {"EASE": results, "Popularity": results} -> one row per model, with the protocol."""
    if not isinstance(results, dict) or not results:
        raise TypeError("The 'results' parameter of compare must be a non-empty dict {model name: EvaluationResult}.")
    for name, r in results.items():
        if not isinstance(r, EvaluationResult):
            raise TypeError(f"compare: the value for {name!r} must be an EvaluationResult. Got {type(r).__name__}.")
    table = pd.DataFrame({name: {**r.metrics(), "protocol": r.protocol, "users": r.n_users} for name, r in results.items()}).T
    table.index.name = "model"
    return table


def _frame(part, name: str, need_rating: bool = False) -> pd.DataFrame:
    df = part.data if hasattr(part, "data") and hasattr(part, "dataset") else part
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"The '{name}' parameter of evaluate must be a split part (train/test) or a DataFrame. Got {type(part).__name__}.")
    from ._validation import check_dataframe

    return check_dataframe(df, name, ["user_id", "item_id"] + (["rating"] if need_rating else []), "evaluate")


def _matrix(model, df: pd.DataFrame) -> sp.csr_matrix:
    """A (model users, model items) binary matrix of df's interactions; ids the model does not know are left out."""
    shape = (len(model.user_index_), len(model.item_index_))
    u = model.user_index_.get_indexer(df["user_id"])
    i = model.item_index_.get_indexer(df["item_id"])
    keep = (u >= 0) & (i >= 0)
    index_dtype = np.int32 if max(shape) < 2**31 else np.int64  # what scipy would convert to anyway: no extra copy
    u, i = u[keep].astype(index_dtype), i[keep].astype(index_dtype)
    m = sp.csr_matrix((np.ones(len(u), dtype=np.float32), (u, i)), shape=shape)
    m.data[:] = 1.0
    return m


def _user_scores(model, users: np.ndarray) -> np.ndarray:
    """(len(users), n_items) float64 scores that the caller owns, for user indices: model.score_all, without the
    round trip through raw ids when score_all is BaseRecommender's (which is exactly this)."""
    if getattr(type(model), "score_all", None) is BaseRecommender.score_all:
        return np.array(model._score_users(users), dtype=np.float64)
    return np.array(model.score_all(model.user_index_[users]), dtype=np.float64)


def _pair_scores(model, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """float64 scores of (user index, item index) pairs: model.score, without the round trip through raw ids (a Python
    list of every id) when score is BaseRecommender's."""
    if getattr(type(model), "score", None) is BaseRecommender.score:
        return np.array(model._score_pairs(users, items), dtype=np.float64)
    return np.asarray(model.score(model.user_index_[users].to_numpy(), model.item_index_[items].to_numpy()),
                      dtype=np.float64)


class _Accumulator:
    """Ranking metrics gathered block by block: per-row values of every metric at every k, and the items each k
    reaches (catalogue coverage). result() gives what one call over all the rows would: the same numbers."""

    def __init__(self, evaluator: Evaluator, metrics: list, n_items: int):
        self.keys = [(m, k) for k in evaluator.k_values for m in metrics]
        self.n_items = n_items
        self.rows: dict[str, list] = {f"{m}@{k}": [] for m, k in self.keys if m != "coverage"}
        self.covered = {k: np.zeros(n_items, dtype=bool) for m, k in self.keys if m == "coverage"}

    def add(self, ranked: np.ndarray, relevant) -> None:
        for m, k in self.keys:
            if m == "coverage":
                top = ranked[:, :k]
                self.covered[k][top[top != PAD]] = True
            else:
                self.rows[f"{m}@{k}"].append(RANKING_METRICS[m](ranked, relevant, k, per_user=True))

    def result(self) -> dict:
        """{"ndcg@10": per-row values (an array), ..., "coverage@10": a float}, in the Evaluator's key order."""
        return {f"{m}@{k}": int(np.count_nonzero(self.covered[k])) / self.n_items if m == "coverage"
                else np.concatenate(self.rows[f"{m}@{k}"]) for m, k in self.keys}


def evaluate_next_item(model, history, targets, k: int = 10, block: int = 2048) -> dict:
    """Next-item protocol of chapter 5: every event of ``targets`` predicted from the same user's earlier events.

    model: a fitted model with ``score_next(windows)`` (the sequence models, SASRec, popularity); history and targets:
    DataFrames (or split parts) with user_id, item_id, timestamp. Full ranking over the model's catalogue, the
    items of the user's earlier events removed. Returns hit_rate@k, ndcg@k, mrr (over every target), loss (softmax
    cross-entropy of the target item, over targets the model knows; for models whose scores are logits) and counts:
    n_targets (predicted), n_skipped (no readable earlier event), n_unknown (target item not in the model's catalogue:
    counted as misses), n_repeats (target item already among the user's earlier items: removed with them, so a miss;
    MovieLens has none). Ties count against the model: a target tied with other items ranks behind all of them.
    """
    if not hasattr(model, "score_next"):
        raise TypeError(f"The 'model' parameter of evaluate_next_item must have score_next(windows) (the chapter 5 "
                        f"models, SASRecRecommender, PopularityRecommender). Got {type(model).__name__}.")
    if not hasattr(model, "item_index_"):
        raise ValueError("The 'model' parameter of evaluate_next_item must be fitted: call fit first.")
    check_int(k, "k", "evaluate_next_item", min_value=1, max_value=len(model.item_index_))
    from .data.sequences import next_item_targets

    history, targets = _frame(history, "history"), _frame(targets, "targets")
    if len(targets) == 0:
        raise ValueError("The 'targets' parameter of evaluate_next_item is empty: nothing to predict.")
    task = next_item_targets(history, targets, model.item_index_, getattr(model, "max_seq_length", 1))
    if len(task[3]) == 0:
        raise ValueError("evaluate_next_item: no target has an earlier event of a known item to predict from.")
    return {**next_item_metrics(model, *task[:3], k=k, block=block), "n_skipped": int(len(targets) - len(task[3]))}


def next_item_metrics(model, windows, target_codes, seen, k: int = 10, block: int = 2048) -> dict:
    """evaluate_next_item's metrics for windows prepared once by ``data.next_item_targets`` (training reuses them
    every epoch)."""
    import torch

    ranks, losses, repeats = [], [], 0
    for s in range(0, len(windows), block):
        scores = torch.from_numpy(np.array(model.score_next(windows[s:s + block]), dtype=np.float32))  # a copy
        t = torch.as_tensor(target_codes[s:s + block])
        known = t > 0
        if known.any():  # cross-entropy over the whole catalogue, before removing the earlier items
            losses.append(torch.nn.functional.cross_entropy(scores[known], t[known] - 1, reduction="none"))
        part = seen[s:s + block]
        rows = np.repeat(np.arange(len(part)), [len(x) for x in part])
        scores[torch.as_tensor(rows), torch.as_tensor(np.concatenate(part) - 1)] = -torch.inf
        target_score = scores.gather(1, (t - 1).clamp(min=0)[:, None])
        repeats += int((known & torch.isneginf(target_score[:, 0])).sum())  # the user had it before: a miss
        rank = (scores >= target_score).sum(1)  # 1 = first; ties count against the model (the target is behind them)
        ranks.append(torch.where(known, rank, torch.full_like(rank, len(model.item_index_) + 1)))
    rank = torch.cat(ranks).double()
    hit = rank <= k
    return {f"hit_rate@{k}": float(hit.double().mean()),
            f"ndcg@{k}": float(torch.where(hit, 1 / torch.log2(rank + 1), torch.zeros_like(rank)).mean()),
            "mrr": float((1 / rank).mean()),
            "loss": float(torch.cat(losses).mean()) if losses else float("nan"),
            "n_targets": int(len(windows)), "n_unknown": int((target_codes == 0).sum()), "n_repeats": repeats}
