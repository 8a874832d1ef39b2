"""Chapter 6, hyperparameter tuning (course_utils/checks/ch6.py)."""
import math

import numpy as np


def _kt_build(hp, dropout_name="dropout", lr_sampling="log", use_units=True, use_lr=True):
    from course_utils.frameworks import keras
    from course_utils.models.keras_mlp import build_keras_mlp

    units = hp.Choice("units", [32, 64, 128, 256])
    model = build_keras_mlp(10, 20, embedding_dim=hp.Int("embedding_dim", 2, 16, step=2),
                            hidden_layers=(units if use_units else 128, 32),
                            dropout=hp.Float(dropout_name, 0.0, 0.3, step=0.1))
    lr = hp.Float("learning_rate", 1e-3, 1e-2, sampling=lr_sampling)
    optimizer = keras().optimizers.Adam(learning_rate=lr) if use_lr else keras().optimizers.Adam()
    model.compile(optimizer=optimizer, loss="mse")
    return model


def _gmf_space(trial, lr_log=True, names=("embedding_dim", "learning_rate", "n_negatives")):
    values = [trial.suggest_int("embedding_dim", 8, 64, log=True),
              trial.suggest_float("learning_rate", 1e-4, 3e-2, log=lr_log), trial.suggest_int("n_negatives", 1, 8)]
    return dict(zip(names, values, strict=True))


def _best_trial(table, direction, only_complete=True):
    done = table[table["state"] == "COMPLETE"] if only_complete else table.dropna(subset=["value"])
    best = done["value"].max() if direction == "maximize" else done["value"].min()
    return int(done.loc[done["value"] == best, "number"].min())


def _best_by_row(table, direction):  # ties go to the first row, not to the smallest trial number
    done = table[table["state"] == "COMPLETE"]
    return int(done.loc[done["value"].idxmax() if direction == "maximize" else done["value"].idxmin(), "number"])


def _grid_size(space):
    total = 1
    for v in space.values():
        total *= int(np.floor((v[1] - v[0]) / v[2] + 1e-9)) + 1 if isinstance(v, tuple) else len(v)
    return total


def _grid_size_no_epsilon(space):  # 0.3 / 0.1 = 2.9999999999999996 floors to 2
    total = 1
    for v in space.values():
        total *= int((v[1] - v[0]) / v[2]) + 1 if isinstance(v, tuple) else len(v)
    return total


# ---------------------------------------------------------------- the learning-rate schedule
def _warmup_cosine(optimizer, warmup_steps, epochs, steps_per_epoch, min_factor, *, start_at_zero=False,
                   late_decay=False, floor=True, in_epochs=False, times_base=False, linear=False, clip=False):
    import torch

    total = epochs if in_epochs else epochs * steps_per_epoch
    base = optimizer.defaults["lr"]
    m = min_factor if floor else 0.0

    def factor(step):
        if step < warmup_steps:
            f = step / warmup_steps if start_at_zero else (step + 1) / warmup_steps
        else:
            shift = 0 if (late_decay or start_at_zero) else 1
            p = (step - warmup_steps + shift) / (total - warmup_steps)
            f = m + (1 - m) * ((1 - p) if linear else 0.5 * (1 + math.cos(math.pi * p)))
            if clip:  # the cosine from 1 to 0, cut off at the floor instead of scaled onto it
                f = max(m, 0.5 * (1 + math.cos(math.pi * p)))
        return base * f if times_base else f

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


# ---------------------------------------------------------------- decoupled weight decay
def _decay(params, lr, weight_decay):
    import torch

    with torch.no_grad():
        for p in params:
            p.mul_(1 - lr * weight_decay)


def _decay_coupled(params, lr, weight_decay):  # the L2 penalty's gradient: Adam rescales it
    import torch

    with torch.no_grad():
        for p in params:
            p.grad.add_(weight_decay * p)


def _decay_no_lr(params, lr, weight_decay):
    import torch

    with torch.no_grad():
        for p in params:
            p.mul_(1 - weight_decay)


def _decay_rebinds(params, lr, weight_decay):  # a new tensor bound to the loop variable: the parameters never change
    for p in params:
        p = p * (1 - lr * weight_decay)  # noqa: PLW2901


def _decay_with_autograd(params, lr, weight_decay):  # in place on a leaf that requires grad: autograd refuses
    for p in params:
        p.mul_(1 - lr * weight_decay)


def _decay_grows(params, lr, weight_decay):
    import torch

    with torch.no_grad():
        for p in params:
            p.add_(lr * weight_decay * p)


# ---------------------------------------------------------------- an objective that reports and prunes
def _objective(trial, model, train, val, *, metric="ndcg@10", prune=True, raise_on_prune=True, best=True,
               validate_on=None, ask_first=False):
    import optuna

    reported = []

    def report(epoch, train_loss, val_metrics):
        if ask_first and prune and trial.should_prune():  # asks before reporting this epoch: one epoch late
            raise optuna.TrialPruned()
        value = train_loss if metric == "loss" else val_metrics[metric]
        reported.append(value)
        trial.report(value, epoch)
        if prune and not ask_first and trial.should_prune():
            if raise_on_prune:
                raise optuna.TrialPruned(f"pruned at epoch {epoch}")
            raise StopIteration  # caught below: the trial returns as if complete

    try:
        model.fit(train, val_data=val if validate_on is None else validate_on(train, val), callbacks=[report])
    except StopIteration:
        return reported[-1]
    return max(reported) if best else reported[-1]


REFERENCE = {
    "ch6.build-model": _kt_build,
    "ch6.grid-size": _grid_size,
    "ch6.optuna-space": _gmf_space,
    "ch6.best-trial": _best_trial,
    "ch6.lr-schedule": _warmup_cosine,
    "ch6.weight-decay": _decay,
    "ch6.pruned-objective": _objective,
}
WRONG = {
    "ch6.build-model": [lambda hp: _kt_build(hp, dropout_name="rate"), lambda hp: _kt_build(hp, lr_sampling="linear"),
                        lambda hp: _kt_build(hp, use_units=False),  # draws units but builds 128
                        lambda hp: _kt_build(hp, use_lr=False)],  # draws a learning rate, compiles with the default
    "ch6.grid-size": [lambda space: int(np.prod([len(v) if isinstance(v, list) else (v[1] - v[0]) / v[2]
                                                  for v in space.values()])),  # a range misses its end point
                      lambda space: sum(len(v) if isinstance(v, list) else 1 for v in space.values()),  # adds
                      _grid_size_no_epsilon,
                      lambda space: int(np.prod([len(v) for v in space.values()]))],  # a (low, high, step) as 3 choices
    "ch6.optuna-space": [lambda trial: _gmf_space(trial, lr_log=False),
                         lambda trial: _gmf_space(trial, names=("embedding_dim", "lr", "n_negatives")),
                         lambda trial: {"embedding_dim": 32, "learning_rate": 0.001, "n_negatives": 4}],
    "ch6.best-trial": [lambda table, direction: _best_trial(table, direction, only_complete=False),
                       lambda table, direction: int(table.loc[table["value"].idxmax(), "number"]),
                       lambda table, direction: _best_trial(table, "maximize"),  # ignores the direction
                       _best_by_row],
    "ch6.lr-schedule": [lambda *a: _warmup_cosine(*a, start_at_zero=True),  # the first step's rate is 0
                        lambda *a: _warmup_cosine(*a, late_decay=True),  # the cosine starts one step late
                        lambda *a: _warmup_cosine(*a, floor=False),  # decays to 0
                        lambda *a: _warmup_cosine(*a, in_epochs=True),  # total length in epochs
                        lambda *a: _warmup_cosine(*a, times_base=True),  # returns a rate, not a factor
                        lambda *a: _warmup_cosine(*a, linear=True),  # a straight line
                        lambda *a: _warmup_cosine(*a, clip=True)],  # cut off at the floor
    "ch6.weight-decay": [_decay_coupled, _decay_no_lr, _decay_rebinds, _decay_with_autograd, _decay_grows],
    "ch6.pruned-objective": [lambda *a: _objective(*a, best=False),  # the last epoch's score
                             lambda *a: _objective(*a, prune=False),  # never asks the pruner
                             lambda *a: _objective(*a, raise_on_prune=False),  # returns when pruned
                             lambda *a: _objective(*a, metric="loss"),  # reports the training loss
                             lambda *a: _objective(*a, validate_on=lambda train, val: train),  # validates on train
                             lambda *a: _objective(*a, ask_first=True)],  # prunes one epoch late
}
