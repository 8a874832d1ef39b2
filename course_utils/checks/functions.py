"""Checkers for exercises whose answer is a function or a model: property tests, then hidden random cases.

Each ``*_run`` takes the learner's answer and returns (ok, message); the message names the first failing case in
words ("a perfect ranking should score 1"), never the expected number of a hidden case.
"""
from __future__ import annotations

import inspect

import numpy as np

from .. import metrics


def _signature_problem(fn, params: list[str]) -> str | None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    try:
        sig.bind(*params)
    except TypeError:
        return f"your function must take the arguments ({', '.join(params)}); yours takes {sig}."
    return None


def _ranking_cases(seed: int, n: int = 30):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        n_items = int(rng.integers(5, 40))
        ranked = rng.permutation(n_items)[: int(rng.integers(1, n_items + 1))].tolist()
        relevant = set(rng.choice(n_items, int(rng.integers(1, min(8, n_items) + 1)), replace=False).tolist())
        yield ranked, relevant, int(rng.integers(1, 15))


def ranking_metric_run(name: str, reference, properties):
    """A checker for a learner's ``metric(ranked, relevant, k) -> float`` on one user's list."""

    def run(fn):
        problem = _signature_problem(fn, ["ranked", "relevant", "k"])
        if problem:
            return False, problem
        for description, args, expected in properties:
            got = _number(fn(*args))
            if got is None or abs(got - expected) > 1e-6:
                return False, f"{description}: your {name} gives {got!r} for ranked={args[0]}, relevant={args[1]}, k={args[2]}."
        for ranked, relevant, k in _ranking_cases(seed=7):  # hidden cases: compared with the course's implementation
            got = _number(fn(list(ranked), set(relevant), k))
            if got is None or abs(got - reference([ranked], [relevant], k)) > 1e-6:
                return False, f"it passes the simple cases but not a random one (a list of {len(ranked)} items, {len(relevant)} relevant, k={k})."
        return True, f"correct: {name} passes the property tests and the hidden cases."

    return run


def _number(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


_log2 = np.log2
ndcg_run = ranking_metric_run("ndcg_at_k", metrics.ndcg_at_k, [
    ("a perfect ranking should score 1", ([3, 1, 2, 9], {1, 2, 3}, 3), 1.0),
    ("a list with no relevant item should score 0", ([4, 5, 6], {1, 2}, 3), 0.0),
    ("only the first k positions count", ([4, 5, 1], {1}, 2), 0.0),
    ("a single hit at position 2 of 2 relevant items", ([7, 1, 8], {1, 2}, 3), (1 / _log2(3)) / (1 + 1 / _log2(3))),
    ("the ideal DCG uses min(k, number of relevant items) positions", ([1, 9], {1, 2, 3}, 2), 1 / (1 + 1 / _log2(3))),
])
precision_run = ranking_metric_run("precision_at_k", metrics.precision_at_k, [
    ("a perfect ranking should score 1", ([3, 1, 2], {1, 2, 3}, 3), 1.0),
    ("a list with no relevant item should score 0", ([4, 5, 6], {1, 2}, 3), 0.0),
    ("only the first k positions count", ([4, 5, 1], {1}, 2), 0.0),
    ("precision divides by k, not by the number of relevant items", ([1, 5, 6, 7], {1}, 4), 0.25),
])


def module_run(make_module_input, output_shape, loss_fn, steps: int = 30, lr: float = 0.01):
    """A checker for a learner's torch module (or a function that builds one): right output shape on a fixed batch,
    and the loss goes down after a few Adam steps on that batch."""

    def run(answer):
        import torch

        module = answer() if inspect.isfunction(answer) or isinstance(answer, type) else answer
        if not isinstance(module, torch.nn.Module):
            return False, f"expected a torch.nn.Module (or a function that returns one), got {type(module).__name__}."
        inputs, target = make_module_input()
        try:
            out = module(*inputs)
        except Exception as err:  # the learner's forward: report, don't crash the notebook
            return False, f"calling your module on a batch raised {type(err).__name__}: {err}."
        if tuple(out.shape) != tuple(output_shape):
            return False, f"your module's output has shape {tuple(out.shape)}; this exercise needs {tuple(output_shape)}."
        params = [p for p in module.parameters() if p.requires_grad]
        if not params:
            return False, "your module has no trainable parameters."
        opt = torch.optim.Adam(params, lr=lr)
        first = None
        for _ in range(steps):
            opt.zero_grad()
            loss = loss_fn(module(*inputs), target)
            first = loss.item() if first is None else first
            loss.backward()
            opt.step()
        last = loss_fn(module(*inputs), target).item()
        if not last < 0.9 * first:
            return False, f"the loss on a fixed batch did not go down after {steps} Adam steps ({first:.3f} -> {last:.3f})."
        return True, f"correct: output shape {tuple(output_shape)}, and the loss drops from {first:.3f} to {last:.3f} on a fixed batch."

    return run
