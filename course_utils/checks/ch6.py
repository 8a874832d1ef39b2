"""Chapter 6, hyperparameter tuning: a Keras Tuner ``build_model(hp)`` and an Optuna search space (their ranges and
scales, and the drawn values reaching the model), the size of a grid, and the best trial of a results table.
"""
import numpy as np
import pandas as pd

from .. import frameworks
from .harness import as_number, function_exercise

KT_SPACE = {  # the ranges exercise 6.1 asks for: name -> (kind, config)
    "embedding_dim": ("Int", {"min_value": 2, "max_value": 16, "step": 2}),
    "units": ("Choice", {"values": [32, 64, 128, 256]}),
    "dropout": ("Float", {"min_value": 0.0, "max_value": 0.3, "step": 0.1}),
    "learning_rate": ("Float", {"min_value": 1e-3, "max_value": 1e-2, "sampling": "log"}),
}


def _kt_space_problem(hp) -> str | None:
    """A message when the hyperparameters registered on ``hp`` are not KT_SPACE's, else None."""
    space = {h.name: h for h in hp.space}
    missing = sorted(set(KT_SPACE) - set(space))
    if missing:
        return f"the search space has no hyperparameter named {missing[0]!r} (yours has {sorted(space)})."
    for name, (kind, config) in KT_SPACE.items():
        h = space[name]
        if type(h).__name__ != kind:
            return f"{name!r} should be hp.{kind}(...); yours is hp.{type(h).__name__}."
        got = h.get_config()
        for key, want in config.items():
            value = got.get(key)
            if key == "sampling" and value != want:
                return f"{name!r} should be drawn with sampling={want!r} (a range spanning a factor of 10); yours: {value!r}."
            if key != "sampling" and (list(value) != want if key == "values" else not np.isclose(value, want)):
                return f"{name!r}: {key} should be {want!r}; yours is {value!r}."
    return None


def _kt_model_problem(model) -> str | None:
    """A message when a model built with embedding_dim 12, units 256, dropout 0.3 and learning rate 0.005 does not use
    those values (32 units in the second hidden layer), else None."""
    layers = model.layers
    embeddings = [layer for layer in layers if type(layer).__name__ == "Embedding"]
    dense = [layer for layer in layers if type(layer).__name__ == "Dense"]
    dropouts = [layer for layer in layers if type(layer).__name__ == "Dropout"]
    if not embeddings or any(layer.output_dim != 12 for layer in embeddings):
        return "with embedding_dim = 12 the Embedding layers should have output_dim 12: pass the drawn value to the model."
    if not dense or dense[0].units != 256:
        return "with units = 256 the first Dense layer should have 256 units: pass the drawn value as hidden_layers[0]."
    if len(dense) < 2 or dense[1].units != 32:
        return "the second hidden layer should stay at 32 units: hidden_layers=(units, 32)."
    if not dropouts or any(not np.isclose(layer.rate, 0.3) for layer in dropouts):
        return "with dropout = 0.3 the model should have Dropout layers of rate 0.3 (build_keras_mlp(..., dropout=...))."
    lr = float(np.asarray(model.optimizer.learning_rate))
    if not np.isclose(lr, 0.005):
        return f"with learning_rate = 0.005 the optimizer's learning rate should be 0.005; yours is {lr:g}."
    return None


@function_exercise(
    "ch6.build-model", "A Keras Tuner build_model", 2, takes=["hp"],
    hint="hp.Int('embedding_dim', 2, 16, step=2), hp.Choice('units', [32, 64, 128, 256]), hp.Float('dropout', 0.0, "
         "0.3, step=0.1), hp.Float('learning_rate', 1e-3, 1e-2, sampling='log'); pass them to build_keras_mlp(..., "
         "hidden_layers=(units, 32), dropout=...) and compile with Adam(learning_rate) and loss='mse'.")
def keras_tuner_build_run(fn):
    """``build_model(hp)`` for Keras Tuner: the ranges of KT_SPACE, a compiled model that uses the drawn values."""
    frameworks.keras()  # TensorFlow through the course's one import point, before keras_tuner imports it
    import keras_tuner as kt

    hp = kt.HyperParameters()
    model = fn(hp)
    if not hasattr(model, "count_params"):
        return False, f"build_model must return a Keras model; it returned {type(model).__name__}."
    if getattr(model, "optimizer", None) is None:
        return False, "the model is not compiled: call model.compile(optimizer=..., loss='mse') before returning it."
    problem = _kt_space_problem(hp)
    if problem:
        return False, problem
    if getattr(model, "loss", None) not in ("mse", "mean_squared_error"):
        return False, f"compile the model with loss='mse' (the metric is RMSE); yours has loss={getattr(model, 'loss', None)!r}."
    fixed = kt.HyperParameters()
    for name, value in {"embedding_dim": 12, "units": 256, "dropout": 0.3, "learning_rate": 0.005}.items():
        fixed.Fixed(name, value)
    problem = _kt_model_problem(fn(fixed))
    if problem:
        return False, problem
    return True, "correct: four hyperparameters with the asked ranges, and the model is built and compiled with the drawn values."


def _grid_size(space) -> int:
    """A list gives len(list) values, a range (low, high, step) floor((high - low) / step) + 1 (the 1e-9 keeps 0.3 / 0.1
    = 2.9999999999999996 from flooring to 2); the grid is their product."""
    sizes = [int(np.floor((v[1] - v[0]) / v[2] + 1e-9)) + 1 if isinstance(v, tuple) else len(v) for v in space.values()]
    return int(np.prod(sizes))


@function_exercise(
    "ch6.grid-size", "Counting the trials of a grid", 1, takes=["space"],
    hint="a list gives len(list) values; a range (low, high, step) gives floor((high - low) / step) + 1 values "
         "(add a small epsilon before the floor for float steps); multiply over all hyperparameters.")
def grid_size_run(fn):
    """``grid_size(space) -> int``: the trials of a full grid; a list is a set of choices, (low, high, step) a range."""
    properties = [("one list of 3 choices", {"units": [32, 64, 128]}, 3),
                  ("an integer range: 32, 64, ..., 256", {"units": (32, 256, 32)}, 8),
                  ("a float range: 0.0, 0.1, ..., 0.5", {"dropout": (0.0, 0.5, 0.1)}, 6),
                  ("the dimensions multiply", {"units": [32, 64], "dropout": (0.0, 0.5, 0.1), "lr": [1e-3, 1e-2, 1e-1]}, 36),
                  ("a range whose high end is not on the grid: 4, 8, 12", {"dim": (4, 14, 4)}, 3),
                  ("no hyperparameter: one trial (the defaults)", {}, 1)]
    for description, space, expected in properties:
        got = as_number(fn(dict(space)))
        if got != expected:
            return False, f"{description}: expected {expected}, yours gives {got!r}."
    rng = np.random.default_rng(23)
    for _ in range(20):
        space = {}
        for j in range(int(rng.integers(1, 5))):
            if rng.random() < 0.5:
                space[f"p{j}"] = list(range(int(rng.integers(1, 6))))
            else:
                step = float(rng.choice([0.05, 0.1, 0.25]))
                space[f"p{j}"] = (0.0, step * int(rng.integers(0, 9)), step)
        got = as_number(fn(dict(space)))
        if got != _grid_size(space):
            return False, f"it passes the simple cases but not the space {space}: yours gives {got!r}."
    return True, "correct: a grid multiplies the number of values of every hyperparameter."


OPTUNA_SPACE = {  # exercise 6.3: name -> (distribution class, low, high, log)
    "embedding_dim": ("IntDistribution", 8, 64, True),
    "learning_rate": ("FloatDistribution", 1e-4, 3e-2, True),
    "n_negatives": ("IntDistribution", 1, 8, False),
}


def _optuna_distribution_problem(trial) -> str | None:
    """A message when the distributions suggested on ``trial`` are not OPTUNA_SPACE's, else None."""
    for name, (kind, low, high, log) in OPTUNA_SPACE.items():
        d = trial.distributions.get(name)
        if d is None:
            return f"nothing was suggested under the name {name!r} (yours: {sorted(trial.distributions)})."
        if type(d).__name__ != kind:
            which = "trial.suggest_int" if kind == "IntDistribution" else "trial.suggest_float"
            return f"{name!r} should come from {which}; yours gives a {type(d).__name__}."
        if not (np.isclose(d.low, low) and np.isclose(d.high, high)):
            return f"{name!r} should range over [{low}, {high}]; yours: [{d.low}, {d.high}]."
        if bool(d.log) != log:
            return (f"{name!r} should be drawn {'on a log scale (log=True)' if log else 'uniformly (log=False)'}: "
                    f"{'its range spans orders of magnitude' if log else 'a few small counts'}.")
    return None


@function_exercise(
    "ch6.optuna-space", "An Optuna search space for GMF", 2, takes=["trial"],
    hint="trial.suggest_int('embedding_dim', 8, 64, log=True), trial.suggest_float('learning_rate', 1e-4, 3e-2, "
         "log=True), trial.suggest_int('n_negatives', 1, 8); return them in a dict under the same names.")
def optuna_space_run(fn):
    """``gmf_space(trial) -> dict``: the OPTUNA_SPACE distributions, and the drawn values returned as parameters."""
    import optuna

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = []
    for _ in range(10):
        trial = study.ask()
        params = fn(trial)
        if not isinstance(params, dict):
            return False, f"gmf_space must return a dict of parameters; it returned {type(params).__name__}."
        problem = _optuna_distribution_problem(trial)
        if problem:
            return False, problem
        if set(params) != set(OPTUNA_SPACE) or any(params[k] != trial.params[k] for k in OPTUNA_SPACE):
            return False, f"return the suggested values under the model's parameter names {sorted(OPTUNA_SPACE)}; yours returns {params}."
        seen.append(params["learning_rate"])
        study.tell(trial, 0.0)
    if len(set(seen)) < 5:
        return False, "the returned values do not change from trial to trial: return what trial.suggest_* gives."
    return True, "correct: three distributions with the right ranges and scales, and the drawn values go to the model."


@function_exercise(
    "ch6.best-trial", "The best trial of a results table", 1, takes=["table", "direction"],
    hint="keep the rows whose state is 'COMPLETE'; take the max (maximize) or min (minimize) of 'value'; among equal "
         "values return the smallest 'number'.")
def best_trial_run(fn):
    """``best_trial(table, direction) -> int``: the number of the best COMPLETE trial (ties: the earliest)."""
    def table(values, states):
        return pd.DataFrame({"number": range(len(values)), "value": values, "state": states})

    c, p, f = "COMPLETE", "PRUNED", "FAIL"
    properties = [("the largest value when maximizing", table([0.1, 0.3, 0.2], [c, c, c]), "maximize", 1),
                  ("the smallest value when minimizing", table([0.9, 0.95, 0.88], [c, c, c]), "minimize", 2),
                  ("a pruned trial never wins (its value is from an unfinished run)", table([0.1, 0.5, 0.2], [c, p, c]), "maximize", 2),
                  ("a failed trial has no value", table([0.1, np.nan, 0.2], [c, f, c]), "maximize", 2),
                  ("ties go to the earlier trial", table([0.3, 0.1, 0.3], [c, c, c]), "maximize", 0)]
    for description, t, direction, expected in properties:
        got = as_number(fn(t.copy(), direction))
        if got != expected:
            return False, f"{description}: expected trial {expected}, yours gives {got!r}."
    rng = np.random.default_rng(29)
    for _ in range(20):
        n = int(rng.integers(2, 30))
        values = np.round(rng.random(n), 2)
        states = rng.choice([c, c, c, p, f], n)
        states[int(rng.integers(n))] = c
        values = np.where(states == f, np.nan, values)
        direction = str(rng.choice(["maximize", "minimize"]))
        t = table(values, states).sample(frac=1.0, random_state=int(rng.integers(1000)))  # rows in any order
        done = t[t["state"] == c]
        best = done["value"].max() if direction == "maximize" else done["value"].min()
        expected = int(done.loc[done["value"] == best, "number"].min())
        got = as_number(fn(t.copy(), direction))
        if got != expected:
            return False, f"it passes the simple cases but not a random table of {n} trials ({direction}): yours gives {got!r}."
    return True, "correct: only completed trials count, and the direction decides what best means."
