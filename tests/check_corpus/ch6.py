"""Chapter 6, hyperparameter tuning (course_utils/checks/ch6.py)."""
import numpy as np


def _kt_build(hp, dropout_name="dropout", lr_sampling="log", use_units=True):
    from course_utils.frameworks import keras
    from course_utils.models.keras_mlp import build_keras_mlp

    units = hp.Choice("units", [32, 64, 128, 256])
    model = build_keras_mlp(10, 20, embedding_dim=hp.Int("embedding_dim", 2, 16, step=2),
                            hidden_layers=(units if use_units else 128, 32),
                            dropout=hp.Float(dropout_name, 0.0, 0.3, step=0.1))
    lr = hp.Float("learning_rate", 1e-3, 1e-2, sampling=lr_sampling)
    model.compile(optimizer=keras().optimizers.Adam(learning_rate=lr), loss="mse")
    return model


def _gmf_space(trial, lr_log=True, names=("embedding_dim", "learning_rate", "n_negatives")):
    values = [trial.suggest_int("embedding_dim", 8, 64, log=True),
              trial.suggest_float("learning_rate", 1e-4, 3e-2, log=lr_log), trial.suggest_int("n_negatives", 1, 8)]
    return dict(zip(names, values, strict=True))


def _best_trial(table, direction, only_complete=True):
    done = table[table["state"] == "COMPLETE"] if only_complete else table.dropna(subset=["value"])
    best = done["value"].max() if direction == "maximize" else done["value"].min()
    return int(done.loc[done["value"] == best, "number"].min())


def _grid_size(space):
    total = 1
    for v in space.values():
        total *= int(np.floor((v[1] - v[0]) / v[2] + 1e-9)) + 1 if isinstance(v, tuple) else len(v)
    return total


REFERENCE = {
    "ch6.build-model": _kt_build,
    "ch6.grid-size": _grid_size,
    "ch6.optuna-space": _gmf_space,
    "ch6.best-trial": _best_trial,
}
WRONG = {
    "ch6.build-model": [lambda hp: _kt_build(hp, dropout_name="rate"), lambda hp: _kt_build(hp, lr_sampling="linear"),
                        lambda hp: _kt_build(hp, use_units=False)],  # draws units but builds 128
    "ch6.grid-size": [lambda space: int(np.prod([len(v) if isinstance(v, list) else (v[1] - v[0]) / v[2]
                                                  for v in space.values()])),  # a range misses its end point
                      lambda space: sum(len(v) if isinstance(v, list) else 1 for v in space.values())],  # adds
    "ch6.optuna-space": [lambda trial: _gmf_space(trial, lr_log=False),
                         lambda trial: _gmf_space(trial, names=("embedding_dim", "lr", "n_negatives")),
                         lambda trial: {"embedding_dim": 32, "learning_rate": 0.001, "n_negatives": 4}],
    "ch6.best-trial": [lambda table, direction: _best_trial(table, direction, only_complete=False),
                       lambda table, direction: int(table.loc[table["value"].idxmax(), "number"])],
}
