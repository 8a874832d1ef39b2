"""Hyperparameter tuning (chapter 6): thin glue between the course's recommenders, Optuna and the test split.

Optuna and Keras Tuner do the searching; this module only removes what every notebook would otherwise repeat:

    objective = optuna_objective(NCFRecommender(model="gmf"), space, fit_part, val, metric="ndcg@10")
    study.optimize(objective, n_trials=12)        # each trial: clone, set_params(**space(trial)), fit, score

- ``optuna_objective``: an Optuna objective for any course recommender, built from a ``space(trial) -> params``
  function; models that train in epochs report their validation metric after every epoch (``OptunaPruning``), so
  a pruner can stop hopeless trials early. It sees the training and validation data only.
- ``SealedTest``: the test split, out of reach while tuning; ``evaluate_once`` opens it a single time.

Validation discipline: tune on a validation split carved out of the training data; look at the test split once,
for the final model. A test score that chose the hyperparameters is no longer an estimate of anything.
"""
from __future__ import annotations

import math
import time
from typing import Callable

from .._validation import check_choice


class OptunaPruning:
    """A fit callback: report ``metric`` to an Optuna trial after every epoch and prune when the pruner says so.

    Pass it in ``fit(..., val_data=val, callbacks=[OptunaPruning(trial, "ndcg@10")])``. Pruning raises
    ``optuna.TrialPruned`` out of fit, which Optuna records as a pruned trial. ``last_epoch``: the epoch the budget
    ends at, reported but never pruned (stopping there saves nothing and would hide a complete result).
    """

    def __init__(self, trial, metric: str, last_epoch: int | None = None):
        if not hasattr(trial, "report") or not hasattr(trial, "should_prune"):
            raise TypeError(f"The 'trial' parameter of OptunaPruning must be an optuna Trial. Got {type(trial).__name__}.")
        if not isinstance(metric, str):
            raise TypeError(f"The 'metric' parameter of OptunaPruning must be a str. Got {metric!r}.")
        self.trial, self.metric = trial, metric
        self.final_epoch = last_epoch  # the budget's last epoch: reported, never pruned (the trial is complete)
        self.last_epoch = 0  # the last epoch reported

    def __call__(self, epoch, train_loss, val_metrics):
        import optuna

        if not val_metrics or self.metric not in val_metrics:
            raise ValueError(f"OptunaPruning needs the validation metric {self.metric!r} after every epoch: pass "
                             f"val_data to fit and name a metric the model computes. Got validation metrics "
                             f"{sorted(val_metrics or {})}.")
        value = float(val_metrics[self.metric])
        self.trial.report(value, epoch)
        self.last_epoch = epoch
        if epoch != self.final_epoch and self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {epoch}: {self.metric} = {value:.4f}")


def _score(model, metric: str, val, train):
    """The model's validation metric: the last epoch's (when fit recorded it), else one evaluation on val."""
    history = getattr(model, "history_", None)
    if history is not None and len(history) and metric in history.records[-1]:
        return float(history.records[-1][metric])
    from ..evaluation import Evaluator
    from ..metrics import RANKING_METRICS, RATING_METRICS

    if metric in RATING_METRICS:
        return float(Evaluator(metrics=[metric]).evaluate(model, val, task="rating")[metric])
    name, _, k = metric.partition("@")
    if name not in RANKING_METRICS or not k.isdigit() or int(k) < 1:
        raise ValueError(f"The 'metric' parameter of optuna_objective must be one of {sorted(RATING_METRICS)} or a "
                         f"ranking metric at k such as 'ndcg@10' (from {sorted(RANKING_METRICS)}) for a model without "
                         f"per-epoch validation metrics. Got {metric!r}.")
    return float(Evaluator(metrics=[name], k_values=[int(k)]).evaluate(model, val, train_data=train)[metric])


def optuna_objective(model, space: Callable, train, val, metric: str = "ndcg@10", direction: str = "maximize",
                     prune: bool = True, prune_last_epoch: bool = True) -> Callable:
    """An Optuna objective for a course recommender: ``objective(trial) -> validation metric``.

    model: an (unfitted) course recommender, the template: every trial fits a fresh copy with its parameters.
    space: ``space(trial) -> dict`` of constructor parameters, drawn with ``trial.suggest_*``.
    train, val: the data to fit on and to score on (never the test split: see ``SealedTest``).
    metric: a key of the model's validation metrics (``history_``), e.g. "ndcg@10", "hit_rate@10", "rmse".
    direction: "maximize" or "minimize"; validated only (the study's own direction decides what is better).
    prune: report the metric after every epoch (models that train in epochs) so the study's pruner can stop a trial.
    prune_last_epoch: False never prunes at the model's last epoch (``epochs``): the trial has spent its budget.
    Each trial records the seconds its fit took and the epochs it trained as user attributes. A trial whose training
    diverges (non-finite loss or metric) returns NaN, which Optuna records as FAIL with the reason in the user
    attribute "error", and the study goes on: a learning rate too large is something a search is expected to try.
    """
    if not hasattr(model, "get_params") or not hasattr(model, "fit"):
        raise TypeError(f"The 'model' parameter of optuna_objective must be a course recommender (with get_params and "
                        f"fit). Got {type(model).__name__}.")
    if not callable(space):
        raise TypeError(f"The 'space' parameter of optuna_objective must be a function space(trial) -> dict of "
                        f"parameters. Got {space!r}.")
    check_choice(direction, "direction", ["maximize", "minimize"], "optuna_objective")
    template = model.get_params()

    def objective(trial):
        params = space(trial)
        if not isinstance(params, dict):
            raise TypeError(f"space(trial) must return a dict of {type(model).__name__} parameters. Got {params!r}.")
        candidate = type(model)(**template).set_params(**params)
        start = time.perf_counter()
        last = None if prune_last_epoch else getattr(candidate, "epochs", None)
        callbacks = [OptunaPruning(trial, metric, last_epoch=last)] if prune else []  # called only by models that train in epochs
        try:
            candidate.fit(train, val_data=val, callbacks=callbacks)
        except FloatingPointError as err:  # diverged: a failed trial, not a failed study
            trial.set_user_attr("error", str(err))
            return float("nan")
        finally:
            trial.set_user_attr("seconds", round(time.perf_counter() - start, 3))
            history = getattr(candidate, "history_", None)  # absent when pruning stopped fit
            epochs = len(history) if history is not None else max([cb.last_epoch for cb in callbacks], default=0)
            if epochs:
                trial.set_user_attr("epochs", epochs)
        value = _score(candidate, metric, val, train)
        if not math.isfinite(value):
            trial.set_user_attr("error", f"the validation {metric} is {value} with the parameters {params}")
            return float("nan")
        return value

    return objective


class SealedTest:
    """The test split, kept out of reach while tuning: ``evaluate_once(fn)`` hands it to ``fn`` a single time.

        test = SealedTest(test_part)
        ...tune on train / validation only...
        result = test.evaluate_once(lambda part: evaluator.evaluate(best_model, part, train_data=train))

    A second call raises: choosing between models by their test scores would turn the test split into a second
    validation split, and its score into an optimistic one.
    """

    def __init__(self, part):
        if part is None:
            raise TypeError("The 'part' parameter of SealedTest must be the test split (a DataFrame or split part). Got None.")
        self._part = part
        self.opened = False

    def __len__(self) -> int:
        data = getattr(self._part, "data", self._part)
        return len(data)

    def __repr__(self) -> str:
        return f"SealedTest({len(self)} rows, {'opened' if self.opened else 'sealed'})"

    def evaluate_once(self, fn: Callable):
        """Return ``fn(test_part)``; allowed once."""
        if not callable(fn):
            raise TypeError(f"The 'fn' parameter of SealedTest.evaluate_once must be a function fn(test_part). Got {fn!r}.")
        if self.opened:
            raise RuntimeError("The test split was already used once. Compare models on the validation split; report "
                               "the test score of the final model only (re-create the SealedTest to start over).")
        self.opened = True
        return fn(self._part)
