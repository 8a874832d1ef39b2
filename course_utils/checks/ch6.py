"""Chapter 6, hyperparameter tuning: a Keras Tuner ``build_model(hp)`` and an Optuna search space (their ranges and
scales, and the drawn values reaching the model), the size of a grid, the best trial of a results table, and what
happens inside one trial: a warm-up + cosine learning-rate schedule (torch, checked step by step against a reference
written here), decoupled weight decay (torch, checked against AdamW over several steps) and an Optuna objective that
reports every epoch and prunes when told (checked with a fake trial and a fake model that follow the protocol).
"""
import math

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
    hint="each hyperparameter is declared once, by name, with the kind of values it takes (integers on a step, a "
         "fixed set of choices, floats on a step, floats spread over a factor of 10 where every factor is equally "
         "likely); the values drawn must then reach the model and its optimizer, not stay unused.",
    nudge="four calls on the HyperParameters object: Int with a step, Choice with the list, Float with a step, and "
          "Float with sampling='log'; give the drawn numbers to build_keras_mlp (embedding size, the first hidden "
          "layer, dropout) and the learning rate to the Adam optimizer you compile with, together with the MSE loss.")
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
    hint="a grid tries every combination, so the counts of values multiply; a range includes both of its ends when "
         "they fall on the grid, and a float division such as 0.3 / 0.1 is not exactly 3.",
    nudge="a list gives its length; for a (low, high, step) range, count how many whole steps fit between the ends "
          "and do not forget the first value; the division of floats can land a hair below a whole number, so "
          "allow a small tolerance before rounding down.")
def grid_size_run(fn):
    """``grid_size(space) -> int``: the trials of a full grid; a list is a set of choices, (low, high, step) a range."""
    properties = [("one list of 3 choices", {"units": [32, 64, 128]}, 3),
                  ("an integer range: 32, 64, ..., 256", {"units": (32, 256, 32)}, 8),
                  ("a float range: 0.0, 0.1, ..., 0.5", {"dropout": (0.0, 0.5, 0.1)}, 6),
                  ("a float range whose division is inexact (0.3 / 0.1 = 2.9999999999999996): 0.0, 0.1, 0.2, 0.3",
                   {"dropout": (0.0, 0.3, 0.1)}, 4),
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
    hint="a search space names each parameter once, draws integers for counts and floats for rates, and puts a size "
         "or a rate whose range spans a large factor on a log scale (a count where each added unit costs the same "
         "work stays uniform); the drawn values, not constants, go back to the model under its own parameter names.",
    nudge="one suggest_int or suggest_float call per parameter, with log=True for the sizes and rates whose range "
          "spans a factor of 8 or more; return a dict whose keys are NCFRecommender's parameter names.")
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
    hint="only finished trials have a value that can be compared; the direction says whether large or small is "
         "better; rows may come in any order, so a tie goes to the earliest trial by its number, not by its row.",
    nudge="pandas can select rows by a condition on a column; decide which states may compete, find the best value "
          "in the direction asked, and settle ties with the trial numbers, never with the row order.")
def best_trial_run(fn):
    """``best_trial(table, direction) -> int``: the number of the best COMPLETE trial (ties: the earliest)."""
    def table(values, states):
        return pd.DataFrame({"number": range(len(values)), "value": values, "state": states})

    c, p, f = "COMPLETE", "PRUNED", "FAIL"
    properties = [("the largest value when maximizing", table([0.1, 0.3, 0.2], [c, c, c]), "maximize", 1),
                  ("the smallest value when minimizing", table([0.9, 0.95, 0.88], [c, c, c]), "minimize", 2),
                  ("a pruned trial never wins (its value is from an unfinished run)", table([0.1, 0.5, 0.2], [c, p, c]), "maximize", 2),
                  ("a failed trial has no value", table([0.1, np.nan, 0.2], [c, f, c]), "maximize", 2),
                  ("ties go to the earlier trial", table([0.3, 0.1, 0.3], [c, c, c]), "maximize", 0),
                  ("rows in reverse order: a tie still goes to the smaller trial number, not to the first row",
                   table([0.2, 0.1, 0.2, 0.05], [c, c, c, c]).iloc[::-1], "maximize", 0)]
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


# ---------------------------------------------------------------- inside a trial: the learning-rate schedule
def reference_warmup_cosine_factor(step: int, warmup_steps: int, total_steps: int, min_factor: float) -> float:
    """The factor of the base learning rate at optimizer step ``step`` (0-based): linear warm-up reaching 1 at step
    warmup_steps - 1, then a half cosine from 1 down to ``min_factor`` at the last step, total_steps - 1."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps + 1) / (total_steps - warmup_steps)
    return min_factor + (1 - min_factor) * 0.5 * (1 + math.cos(math.pi * progress))


def _schedule_lrs(fn, base_lr, warmup_steps, epochs, steps_per_epoch, min_factor):
    """The learning rate of every optimizer step under the learner's scheduler, stepped as fit_loop steps it (after
    each optimizer step), for epochs x steps_per_epoch steps; or a message."""
    import torch

    weight = torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.SGD([weight], lr=base_lr)
    scheduler = fn(optimizer, warmup_steps, epochs, steps_per_epoch, min_factor)
    if not hasattr(scheduler, "step") or not hasattr(scheduler, "get_last_lr"):
        return f"return a torch learning-rate scheduler (LambdaLR); yours returned {type(scheduler).__name__}."
    lrs = []
    for _ in range(epochs * steps_per_epoch):
        lrs.append(optimizer.param_groups[0]["lr"])
        weight.grad = torch.ones_like(weight)
        optimizer.step()
        scheduler.step()
    return np.array(lrs)


def _or_nan(f, *args) -> float:
    try:
        return float(f(*args))
    except ZeroDivisionError:
        return float("nan")


def _schedule_variants(base_lr, warmup, epochs, spe, m):
    """The mistakes a learner makes, as learning-rate sequences: name -> (lrs, message)."""
    total = epochs * spe
    ref = lambda s, w=warmup, t=total, f=m: reference_warmup_cosine_factor(s, w, t, f)  # noqa: E731
    cosine = lambda p: 0.5 * (1 + math.cos(math.pi * p))  # noqa: E731
    steps = range(total)
    return {
        "warm-up starts at zero": ([base_lr * (s / warmup if s < warmup else m + (1 - m) * cosine((s - warmup) / (total - warmup)))
                                    for s in steps],
                                   "your first step has learning rate 0: during warm-up step s (counted from 0) is "
                                   "the (s + 1)-th update, so the rate must already be above zero at step 0 and reach "
                                   "the full rate at the last warm-up step."),
        "decay one step late": ([base_lr * ((s + 1) / warmup if s < warmup else m + (1 - m) * cosine((s - warmup) / (total - warmup)))
                                 for s in steps],
                                "your decay starts one step late and ends above the floor: the cosine should start at "
                                "the last warm-up step (factor 1) and reach the floor exactly at the last step."),
        "decays to zero": ([base_lr * ref(s, f=0.0) for s in steps],
                           "your schedule ends at 0: it should end at min_factor times the base learning rate."),
        "schedule in epochs": ([base_lr * _or_nan(reference_warmup_cosine_factor, s, warmup, epochs, m) for s in steps],
                               "your schedule runs over epochs, not steps: the scheduler is stepped after every "
                               "batch, so the whole run is epochs x steps_per_epoch steps long."),
        "learning rate, not factor": ([base_lr ** 2 * ref(s) for s in steps],
                                      "your function returns a learning rate, and LambdaLR multiplies it by the base "
                                      "rate again: return the factor (1 at the peak)."),
        "clipped at the floor": ([base_lr * ((s + 1) / warmup if s < warmup else max(m, cosine((s - warmup + 1) / (total - warmup))))
                                  for s in steps],
                                 "you cut the cosine off at the floor: it then reaches the floor early and stays flat; "
                                 "scale the half cosine so that it runs smoothly from 1 down to min_factor."),
        "linear decay": ([base_lr * ((s + 1) / warmup if s < warmup else m + (1 - m) * (1 - (s - warmup + 1) / (total - warmup)))
                          for s in steps],
                         "your decay is a straight line: the exercise asks for a half cosine, flat near the peak and "
                         "near the floor, steepest in the middle."),
    }


@function_exercise(
    "ch6.lr-schedule", "A warm-up and cosine learning-rate schedule", 2,
    takes=["optimizer", "warmup_steps", "epochs", "steps_per_epoch", "min_factor"],
    hint="a scheduler multiplies the base learning rate by a factor of the step number; the step is counted in "
         "batches (optimizer updates) from 0, the warm-up's first update already moves, the peak is the last warm-up "
         "step, and the half cosine ends at the floor exactly on the very last update.",
    nudge="LambdaLR calls your function with the step (0, 1, ...) and multiplies the base rate by what it returns; "
          "the warm-up is a straight line through (step 0, above 0) and (step warmup_steps - 1, 1); for the decay "
          "define a progress that is 0 at the peak and 1 at the last step, and map it with a half cosine shifted and "
          "scaled to end at min_factor.")
def lr_schedule_run(fn):
    """``warmup_cosine(optimizer, warmup_steps, epochs, steps_per_epoch, min_factor)`` -> a scheduler stepped after
    every batch: the learning rate of every step equals the reference's (warm-up boundary, floor, steps not epochs)."""
    import torch

    with torch.random.fork_rng(devices=[]):
        cases = [("base 0.1, 4 warm-up steps, 3 epochs of 5 steps, floor 0.1", (0.1, 4, 3, 5, 0.1)),
                 ("base 0.5, 1 warm-up step, 2 epochs of 7 steps, floor 0.0", (0.5, 1, 2, 7, 0.0)),
                 ("base 0.01, 10 warm-up steps, 4 epochs of 25 steps, floor 0.2", (0.01, 10, 4, 25, 0.2)),
                 ("base 1.0, 3 warm-up steps, 1 epoch of 5 steps, floor 0.5", (1.0, 3, 1, 5, 0.5))]
        for description, (base, warmup, epochs, spe, m) in cases:
            lrs = _schedule_lrs(fn, base, warmup, epochs, spe, m)
            if isinstance(lrs, str):
                return False, lrs
            expected = np.array([base * reference_warmup_cosine_factor(s, warmup, epochs * spe, m)
                                 for s in range(epochs * spe)])
            if np.allclose(lrs, expected, rtol=1e-6, atol=1e-12):
                continue
            for variant, message in _schedule_variants(base, warmup, epochs, spe, m).values():
                if np.allclose(lrs, variant, rtol=1e-6, atol=1e-12):
                    return False, f"with {description}: {message}"
            if lrs[0] == 0:
                return False, f"with {description}: {_schedule_variants(base, warmup, epochs, spe, m)['warm-up starts at zero'][1]}"
            if int(np.argmax(lrs)) != warmup - 1 and not np.isclose(lrs[warmup - 1], lrs.max()):
                return False, (f"with {description}: your learning rate peaks at step {int(np.argmax(lrs))}; the peak is "
                               f"the last warm-up step, {warmup - 1}.")
            if not np.isclose(lrs[-1], m * base, rtol=1e-6, atol=1e-12):
                return False, (f"with {description}: the last step's learning rate should be min_factor x base = "
                               f"{m * base:g}; yours is {lrs[-1]:g}.")
            step = int(np.flatnonzero(~np.isclose(lrs, expected, rtol=1e-6, atol=1e-12))[0])
            phase = "warm-up" if step < warmup else "decay"
            return False, f"with {description}: the learning rate first differs at step {step} (the {phase})."
    return True, ("correct: on four schedules every step's learning rate matches: the warm-up starts above zero, peaks "
                  "at its last step, and the cosine ends on the floor at the last batch.")


# ---------------------------------------------------------------- inside a trial: decoupled weight decay
def _decay_tensors(seed: int):
    import torch

    g = torch.Generator().manual_seed(seed)
    return [torch.randn(5, 3, generator=g), torch.randn(4, generator=g), torch.randn(2, 2, 3, generator=g)]


@function_exercise(
    "ch6.weight-decay", "Decoupled weight decay (AdamW) by hand", 2, takes=["params", "lr", "weight_decay"],
    hint="decoupled weight decay shrinks each weight itself toward zero by a fraction proportional to the learning "
         "rate and the decay strength, in place, without going through the gradient (which Adam would rescale) and "
         "without autograd recording it.",
    nudge="the decay is its own line of AdamW's pseudo-code (torch.optim.AdamW's documentation), before the moment "
          "estimates; change each parameter itself, in place, where autograd does not record it; the gradient stays "
          "as it is (adding to the gradient is the old, coupled L2 penalty).")
def weight_decay_run(fn):
    """``decay_weights_(params, lr, weight_decay)``: in place, w <- w (1 - lr wd), gradients untouched; followed by an
    Adam step it must reproduce torch.optim.AdamW over several steps."""
    import torch

    with torch.random.fork_rng(devices=[]):
        lr, wd = 0.1, 0.5
        params = [torch.nn.Parameter(t) for t in _decay_tensors(1)]
        before = [p.detach().clone() for p in params]
        grads = [torch.randn_like(p) for p in params]
        for p, g in zip(params, grads, strict=True):
            p.grad = g.clone()
        fn(params, lr, wd)
        after = [p.detach() for p in params]
        if any(not torch.equal(p.grad, g) for p, g in zip(params, grads, strict=True)):
            coupled = all(torch.allclose(p.grad, g + wd * b) for p, g, b in zip(params, grads, before, strict=True))
            return False, ("you add the decay to the gradient: that is the coupled L2 penalty, which Adam then divides "
                           "by its running gradient scale; decoupled decay shrinks the weights directly."
                           if coupled else "your function changes the gradients: decoupled decay only touches the weights.")
        if all(torch.equal(a, b) for a, b in zip(after, before, strict=True)):
            return False, ("the weights are unchanged after your call: rebinding a loop variable (w = w * ...) creates a "
                           "new tensor; change the parameter itself, in place.")
        for a, b in zip(after, before, strict=True):
            if torch.allclose(a, b * (1 - lr * wd)):
                continue
            if torch.allclose(a, b * (1 - wd)):
                return False, "your shrinking ignores the learning rate: AdamW shrinks by lr * weight_decay per step."
            if torch.allclose(a, b * (1 + lr * wd)):
                return False, "your weights grow: decay shrinks them toward zero."
            if torch.allclose(a, b - lr * wd):
                return False, "you subtract a constant: the decay is proportional to each weight."
            return False, "with lr 0.1 and weight_decay 0.5 every weight should shrink by the same fraction; yours do not."
        for lr, wd, seed in [(0.01, 0.1, 2), (0.3, 0.05, 3), (0.001, 1.0, 4)]:
            mine = [torch.nn.Parameter(t) for t in _decay_tensors(seed)]
            ref = [torch.nn.Parameter(t.clone()) for t in _decay_tensors(seed)]
            adam, adamw = torch.optim.Adam(mine, lr=lr), torch.optim.AdamW(ref, lr=lr, weight_decay=wd)
            g = torch.Generator().manual_seed(seed + 100)
            for _ in range(5):
                for a, b in zip(mine, ref, strict=True):
                    grad = torch.randn(a.shape, generator=g)
                    a.grad, b.grad = grad.clone(), grad.clone()
                fn(adam.param_groups[0]["params"], lr, wd)
                adam.step()
                adamw.step()
            if any(not torch.allclose(a, b, rtol=1e-5, atol=1e-6) for a, b in zip(mine, ref, strict=True)):
                return False, f"after 5 steps with lr {lr} and weight_decay {wd}, Adam plus your decay differs from AdamW."
    return True, ("correct: every weight shrinks by lr x weight_decay in place, the gradients are untouched, and Adam "
                  "plus your decay reproduces torch.optim.AdamW step for step.")


# ---------------------------------------------------------------- inside a trial: report, prune, best validation value
class FakeTrial:
    """An Optuna trial as the objective sees it: ``report(value, step)``, ``should_prune()`` (True once a step at or
    after ``prune_at`` has been reported), and the suggest methods (fixed values)."""

    def __init__(self, prune_at: int | None = None):
        self.prune_at, self.reports, self.prune_asked = prune_at, [], []

    def report(self, value, step):
        self.reports.append((step, float(value)))

    def should_prune(self) -> bool:
        last = self.reports[-1][0] if self.reports else None
        self.prune_asked.append(last)
        return self.prune_at is not None and last is not None and last >= self.prune_at

    def suggest_float(self, name, low, high, **kwargs):
        return low

    def suggest_int(self, name, low, high, **kwargs):
        return low

    def set_user_attr(self, key, value):
        pass


class _Records:
    def __init__(self):
        self.records = []

    def __len__(self):
        return len(self.records)

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.records).set_index("epoch")


class FakeModel:
    """A course recommender as fit_loop drives it: ``fit(train, val_data=..., callbacks=[...])`` trains epoch by epoch
    and calls every callback as callback(epoch, train_loss, val_metrics); an exception raised by a callback ends fit.
    The validation metrics follow a scripted curve; ``history_`` holds the finished epochs."""

    def __init__(self, curve, train, val):
        self.curve, self.train, self.val = curve, train, val
        self.fits, self.epochs_trained, self.history_ = [], 0, None

    def fit(self, train, val_data=None, callbacks=()):
        self.fits.append((train, val_data))
        for cb in callbacks:
            if type(cb).__name__ == "OptunaPruning":
                raise RuntimeError("exercise 6.7 asks you to write the callback yourself, not to use OptunaPruning")
        history = _Records()
        for epoch, value in enumerate(self.curve, start=1):
            self.epochs_trained = epoch
            on_val = val_data is self.val
            metrics = None if val_data is None else {"ndcg@10": value if on_val else 0.9, "recall@10": value / 2 + 0.01,
                                                     "hit_rate@10": min(1.0, 3 * value)}
            loss = 0.7 - 0.05 * epoch
            history.records.append({"epoch": epoch, "train_loss": loss, **(metrics or {})})
            self.history_ = history
            for cb in callbacks:
                cb(epoch, loss, metrics)
        return self


@function_exercise(
    "ch6.pruned-objective", "An objective that reports every epoch and can be pruned", 2,
    takes=["trial", "model", "train", "val"],
    hint="a pruner can only stop a trial it hears from: after every epoch the validation score (never the training "
         "loss, never the test split) is reported with its epoch number, the pruner is asked right after, a pruned "
         "trial ends by an exception rather than a return value, and a finished one returns its best epoch's score.",
    nudge="pass fit a callback(epoch, train_loss, val_metrics) that calls trial.report with the validation nDCG@10 "
          "and the epoch, then raises optuna.TrialPruned when trial.should_prune() is True; fit on train with "
          "val_data=val; after fit return the maximum of the reported values (or of the history's 'ndcg@10').")
def pruned_objective_run(fn):
    """``train_and_report(trial, model, train, val)``: checked with a FakeTrial and a FakeModel against the protocol:
    validation on val, a report per epoch with its number, pruning raised when told (not a step late), the best value
    returned."""
    import optuna

    train, val = object(), object()  # sentinels: the fake model knows which is which
    curve = [0.10, 0.16, 0.19, 0.18, 0.17]  # the best epoch is not the last
    trial, model = FakeTrial(), FakeModel(curve, train, val)
    result = fn(trial, model, train, val)
    if not model.fits:
        return False, "your function never calls model.fit: the trial must train the model it is given."
    fitted_on, validated_on = model.fits[-1]
    if fitted_on is not train:
        return False, "fit the model on the training data (train), and only on it."
    if validated_on is None:
        return False, "fit without val_data computes no validation score after each epoch: pass val_data=val."
    if validated_on is not val:
        return False, ("your model is validated on another split than val (the training data scores itself "
                       "optimistically; the test split is never used to choose).")
    steps = [s for s, _ in trial.reports]
    if not trial.reports:
        return False, "nothing was reported to the trial: report the validation score after every epoch."
    if steps != list(range(1, len(curve) + 1)):
        if len(steps) == 1:
            return False, "you report once, after training: a pruner needs a report after every epoch to stop a trial early."
        return False, f"report once per epoch with the epoch number as the step (1, 2, ...); yours reported steps {steps}."
    values = [v for _, v in trial.reports]
    if np.allclose(values, [0.7 - 0.05 * e for e in range(1, len(curve) + 1)]):
        return False, "you report the training loss: the pruner compares trials on their validation score."
    if not np.allclose(values, curve):
        return False, "the reported values are not the validation nDCG@10 of each epoch."
    if not trial.prune_asked:
        return False, "your function never asks the trial whether to prune (should_prune): a pruner cannot stop it."
    number = None if isinstance(result, bool) else as_number(result)
    if number is None or not math.isclose(number, max(curve), rel_tol=1e-9):
        if number is not None and math.isclose(number, curve[-1], rel_tol=1e-9):
            return False, ("you return the last epoch's score; return the best epoch's (the score an early-stopped "
                           "model that keeps its best weights would have).")
        return False, f"a finished trial should return its best validation nDCG@10; yours returned {result!r}."
    for prune_at in (1, 3):
        trial, model = FakeTrial(prune_at=prune_at), FakeModel(curve, train, val)
        try:
            result = fn(trial, model, train, val)
        except optuna.TrialPruned:
            if model.epochs_trained > prune_at:
                return False, (f"the pruner said stop after epoch {prune_at}, but your trial trained until epoch "
                               f"{model.epochs_trained}: ask should_prune right after each report.")
            continue
        if model.epochs_trained > prune_at:
            return False, ("when should_prune() is True the trial must stop: yours went on training "
                           f"(told at epoch {prune_at}, trained {model.epochs_trained} epochs).")
        return False, ("a pruned trial must raise optuna.TrialPruned: returning a value records it as a complete "
                       f"trial (yours returned {result!r}).")
    return True, ("correct: the trial is validated on val, reports every epoch with its number, stops by raising "
                  "TrialPruned as soon as it is told, and otherwise returns its best validation score.")

