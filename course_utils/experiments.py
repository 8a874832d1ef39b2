"""Claims with their uncertainty: one configuration over several seeds, and a paired comparison of two.

    runs = over_seeds(lambda seed: NCFRecommender(random_state=seed, verbose=False), train, val, seeds=[0, 1, 2])
    runs.summary()                       # mean, std and "0.4312 ± 0.0041" per metric
    other = over_seeds(lambda seed: LightGCNRecommender(random_state=seed, verbose=False), train, val, seeds=[0, 1, 2])
    paired_comparison(other, runs, "ndcg@10")   # the difference, a paired t-test over seeds, a bootstrap over users

A seed changes everything random in a run: the model's initialization and sampling, and, when ``split`` is given,
the train/test split itself. "A beats B" needs the difference to stand out of that noise; ``paired_comparison``
answers with "no measurable difference" when it does not. Both runs must use the same seeds (and splits): the
comparison is paired, seed by seed and user by user.
"""
from __future__ import annotations

import re

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from ._validation import check_int

__all__ = ["SeedRuns", "Comparison", "over_seeds", "paired_comparison"]


@dataclass
class SeedRuns:
    """What ``over_seeds`` measured: ``table`` has one row per seed (index ``seed``) and one column per metric
    (plus ``epoch``, the epoch a model was stopped at, when it has a history); ``per_user`` maps each seed to the
    per-user values of that run (index user_id)."""

    name: str
    table: pd.DataFrame
    per_user: dict

    @property
    def seeds(self) -> list[int]:
        return list(self.table.index)

    def summary(self, digits: int = 4) -> pd.DataFrame:
        """One row per metric: mean, std (ddof=1, over seeds), min, max and a "mean ± std" string."""
        metrics = self.table.select_dtypes("number").drop(columns=["epoch"], errors="ignore")
        out = pd.DataFrame({"mean": metrics.mean(), "std": metrics.std(ddof=1), "min": metrics.min(),
                            "max": metrics.max()})
        out["mean ± std"] = [f"{m:.{digits}f} ± {s:.{digits}f}" for m, s in zip(out["mean"], out["std"], strict=True)]
        out.index.name = self.name
        return out

    def mean_std(self, metric: str, digits: int = 4) -> str:
        """'0.4312 ± 0.0041' for one metric."""
        _check_metric(self, metric)
        values = self.table[metric]
        return f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f}"


@dataclass
class Comparison:
    """A paired comparison of ``a`` against ``b`` on one metric (``difference`` = a - b, averaged over seeds)."""

    a: str
    b: str
    metric: str
    difference: float
    difference_std: float  # over seeds
    t_pvalue: float  # paired t-test over seeds (nan with fewer than 3 seeds or identical differences)
    ci_low: float  # 95% paired bootstrap interval of the difference, resampling users (nan without per-user values)
    ci_high: float
    wins: int  # seeds on which a is ahead (higher, or lower for an error metric)
    n_seeds: int
    higher_is_better: bool = True

    @property
    def significant(self) -> bool:
        """True when, with at least 3 seeds, the tests available agree that the difference is not 0: the t-test
        over seeds has p < 0.05 and (when per-user values exist) the bootstrap interval over users excludes 0."""
        if self.n_seeds < 3 or np.isnan(self.t_pvalue) or self.t_pvalue >= 0.05:
            return False
        return np.isnan(self.ci_low) or self.ci_low > 0 or self.ci_high < 0

    @property
    def verdict(self) -> str:
        """'A is ahead of B', 'B is ahead of A' or 'no measurable difference between A and B'."""
        if not self.significant:
            if self.n_seeds >= 3 and np.isnan(self.t_pvalue) and np.isnan(self.ci_low) and self.difference_std == 0:
                return f"no measurable difference between {self.a} and {self.b} (one result each, repeated: nothing to test)"
            return f"no measurable difference between {self.a} and {self.b}"
        a_better = self.difference > 0 if self.higher_is_better else self.difference < 0
        ahead, behind = (self.a, self.b) if a_better else (self.b, self.a)
        return f"{ahead} is ahead of {behind}"

    def __str__(self) -> str:
        ci = "" if np.isnan(self.ci_low) else f", 95% interval over users [{self.ci_low:+.4f}, {self.ci_high:+.4f}]"
        p = "" if np.isnan(self.t_pvalue) else f", paired t-test over seeds p = {self.t_pvalue:.3f}"
        return (f"{self.metric}: {self.a} - {self.b} = {self.difference:+.4f} ± {self.difference_std:.4f} over "
                f"{self.n_seeds} seeds ({self.a} ahead on {self.wins}){ci}{p}: {self.verdict}")

    def to_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "metric": self.metric, "difference": self.difference,
                "difference_std": self.difference_std, "t_pvalue": self.t_pvalue, "ci_low": self.ci_low,
                "ci_high": self.ci_high, "wins": self.wins, "n_seeds": self.n_seeds,
                "higher_is_better": self.higher_is_better, "verdict": self.verdict}


def over_seeds(make_model: Callable, train=None, test=None, seeds=(0, 1, 2), *, split: Callable | None = None,
               fit: Callable | None = None, evaluator=None, name: str | None = None, progress: bool = True,
               **evaluate_kwargs) -> SeedRuns:
    """Fit ``make_model(seed)`` once per seed and evaluate it on ``test`` (full ranking, training items removed,
    unless ``evaluate_kwargs`` say otherwise).

    make_model: seed -> an unfitted recommender (pass the seed as its random_state).
    train, test: the data of every seed; or ``split``: seed -> (train, test), when the split itself is drawn anew.
    fit: (model, train) -> None or a dict of columns to record, to fit differently (for example with validation data
         and EarlyStopping, returning {"epoch": stopper.best_epoch}); default ``model.fit(train)``. Without it the
         ``epoch`` column counts the epochs trained.
    evaluator: an Evaluator (default nDCG, recall and hit rate at 10).
    """
    from .evaluation import Evaluator

    if not callable(make_model):
        raise TypeError(f"The 'make_model' parameter of over_seeds must be a function seed -> unfitted recommender. "
                        f"Got {type(make_model).__name__}.")
    if (split is None) == (train is None or test is None):
        raise ValueError("over_seeds needs either train and test, or split (a function seed -> (train, test)); "
                         f"got train={'given' if train is not None else None}, test={'given' if test is not None else None}, "
                         f"split={'given' if split is not None else None}.")
    if split is not None and not callable(split):
        raise TypeError(f"The 'split' parameter of over_seeds must be a function seed -> (train, test). Got {type(split).__name__}.")
    if isinstance(seeds, (int, np.integer)) or not len(seeds):
        raise TypeError(f"The 'seeds' parameter of over_seeds must be a non-empty list of ints. Got {seeds!r}.")
    seeds = [check_int(s, "seeds", "over_seeds", min_value=0) for s in seeds]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"The 'seeds' parameter of over_seeds must not repeat a seed. Got {seeds}.")
    evaluator = evaluator or Evaluator(metrics=["ndcg", "recall", "hit_rate"], k_values=[10])
    rows, per_user = [], {}
    from tqdm.auto import tqdm

    for seed in tqdm(seeds, desc=name or "seeds", disable=not progress, leave=False):
        tr, te = split(seed) if split is not None else (train, test)
        model = make_model(seed)
        if name is None:
            name = type(model).__name__.removesuffix("Recommender")
        extra = fit(model, tr) if fit is not None else model.fit(tr)
        result = evaluator.evaluate(model, te, train_data=tr, per_user=True, **evaluate_kwargs)
        row = {"seed": seed, **result.metrics()}
        history = getattr(model, "history_", None)
        if history is not None and len(history):
            row["epoch"] = len(history)  # epochs trained
        if isinstance(extra, dict):
            row.update(extra)  # what fit reports, for example {"epoch": early_stopping.best_epoch}
        rows.append(row)
        per_user[seed] = result.per_user
    return SeedRuns(name=name, table=pd.DataFrame(rows).set_index("seed"), per_user=per_user)


def lower_is_better(metric: str) -> bool:
    """Errors and losses: a name with a rating metric (rmse, mse, mae) or "loss" as one of its words (val_rmse,
    "train loss")."""
    from .metrics import RATING_METRICS

    words = re.split(r"[\s_@]+", metric.lower())
    return any(w in RATING_METRICS or w == "loss" for w in words)


def paired_comparison(a: SeedRuns, b: SeedRuns, metric: str = "ndcg@10", n_bootstrap: int = 2000,
                      random_state: int = 0, higher_is_better: bool | None = None) -> Comparison:
    """Compare two SeedRuns on one metric, pairing seed with seed and user with user.

    - a paired t-test over seeds (scipy.stats.ttest_rel): is the per-seed difference consistently away from 0?
    - a paired bootstrap over users: resample the test users (the same ones for both models, per seed) and take the
      2.5% and 97.5% quantiles of the mean difference (averaged over seeds).
    The verdict says "no measurable difference" unless the t-test (p < 0.05) and, where per-user values exist, the
    bootstrap interval both exclude 0, with at least 3 seeds. higher_is_better: None infers it from the metric's name
    (rmse, mse, mae and loss are errors: lower is better).
    """
    from scipy import stats

    for arg, runs in (("a", a), ("b", b)):
        if not isinstance(runs, SeedRuns):
            raise TypeError(f"The '{arg}' parameter of paired_comparison must be what over_seeds returned. "
                            f"Got {type(runs).__name__}.")
        _check_metric(runs, metric)
    if a.seeds != b.seeds:
        raise ValueError(f"paired_comparison pairs seed with seed: both runs must use the same seeds. "
                         f"Got {a.seeds} and {b.seeds}.")
    if higher_is_better is None:
        higher_is_better = not lower_is_better(metric)
    diff = (a.table[metric] - b.table[metric]).to_numpy(dtype=float)
    n = len(diff)
    p = float("nan")
    repeats = np.ptp(a.table[metric].to_numpy(dtype=float)) == 0 and np.ptp(b.table[metric].to_numpy(dtype=float)) == 0
    if n >= 3 and np.ptp(diff) > 0:
        p = float(stats.ttest_rel(a.table[metric], b.table[metric]).pvalue)
    elif n >= 3 and diff[0] != 0 and not repeats:
        p = 0.0  # the same nonzero difference on every seed
    # where both sides give one result on every seed (deterministic models on one split), the seeds repeat one
    # measurement: there is nothing for a test over seeds to see, and p stays undefined
    lo = hi = float("nan")
    user_diffs = []
    for seed in a.seeds:
        ua, ub = a.per_user.get(seed), b.per_user.get(seed)
        if ua is None or ub is None or metric not in ua or metric not in ub:
            user_diffs = []
            break
        common = ua.index.intersection(ub.index)
        if len(common) != len(ua) or len(common) != len(ub):
            raise ValueError(f"paired_comparison: seed {seed} evaluated different users ({len(ua)} and {len(ub)}); "
                             f"a paired comparison needs the same test users for both runs.")
        user_diffs.append((ua.loc[common, metric] - ub.loc[common, metric]).to_numpy(dtype=float))
    if user_diffs:
        rng = np.random.default_rng(random_state)
        boot = np.zeros(n_bootstrap)
        for d in user_diffs:
            idx = rng.integers(0, len(d), size=(n_bootstrap, len(d)))
            boot += d[idx].mean(axis=1)
        boot /= len(user_diffs)
        lo, hi = (float(x) for x in np.quantile(boot, [0.025, 0.975]))
    return Comparison(a=a.name, b=b.name, metric=metric, difference=float(diff.mean()),
                      difference_std=float(diff.std(ddof=1)) if n > 1 else float("nan"), t_pvalue=p, ci_low=lo,
                      ci_high=hi, wins=int((diff > 0).sum() if higher_is_better else (diff < 0).sum()), n_seeds=n,
                      higher_is_better=higher_is_better)


def _check_metric(runs: SeedRuns, metric: str) -> None:
    if metric not in runs.table.columns or metric in ("epoch",):
        raise ValueError(f"The 'metric' parameter must be one of the metrics measured for {runs.name}: "
                         f"{[c for c in runs.table.columns if c != 'epoch']}. Got {metric!r}.")
