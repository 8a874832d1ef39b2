"""What the chapter modules' checkers share: ``function_exercise`` (registers a checker, and checks the learner's
signature before it runs), answers read as numbers or arrays, property cases and seeded hidden cases, and the two
checkers several chapters reuse (ranking metrics, torch modules).

A checker takes the learner's answer and returns (ok, message); the message names the first failing case in words
("a perfect ranking should score 1"), never the expected number of a hidden case.
"""
from __future__ import annotations

import copy
import inspect

import numpy as np

from .core import Exercise, register


def signature_problem(fn, params: list[str]) -> str | None:
    """A message when ``fn`` cannot be called with the arguments ``params``, else None."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    try:
        sig.bind(*params)
    except TypeError:
        return f"your function must take the arguments ({', '.join(params)}); yours takes {sig}."
    return None


def function_exercise(exercise_id: str, title: str, points: int, takes: list[str], hint: str, nudge: str = ""):
    """Register the decorated checker as the "function" exercise ``exercise_id``. The learner's function must accept
    the arguments ``takes`` (a plain message says so otherwise) before the checker runs on it. ``hint`` names the
    concept (shown with every "not yet"), ``nudge`` is the stronger second level that ``hint(exercise_id)`` prints."""

    def decorate(checker):
        def run(fn):
            problem = signature_problem(fn, takes)
            return (False, problem) if problem else checker(fn)

        register(Exercise(exercise_id, title, points, "function", hint, run=run, nudge=nudge))
        return run

    return decorate


def as_number(x) -> float | None:
    """The learner's result as a float (from an int, a numpy scalar, a 0-d tensor...), or None."""
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def as_array(x) -> np.ndarray | None:
    """The learner's result as a float64 array (from a list, an array or a tensor), or None."""
    try:
        return np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def compare_arrays(got, expected: np.ndarray, what: str, case: str,
                   nonfinite: str = "a node of degree 0 must give 0, not a division by zero") -> str | None:
    """A message when ``got`` differs from ``expected`` in type, shape, finiteness or values, else None.
    nonfinite: what the message says about NaN or inf (the usual cause in this exercise)."""
    got = as_array(got)
    if got is None:
        return f"{what} must be a numpy array (or a tensor) of numbers."
    if got.shape != expected.shape:
        return f"for {case} {what} should have shape {expected.shape}; yours has {got.shape}."
    if not np.isfinite(got).all():
        return f"for {case} {what} holds NaN or inf: {nonfinite}."
    if not np.allclose(got, expected, rtol=1e-5, atol=1e-7):
        return f"for {case} {what} has the right shape but wrong values."
    return None


def number_cases_verdict(fn, properties, hidden_cases, reference, name: str, success: str, tolerance: float = 1e-9):
    """(ok, message) for a function that returns a number: (False, the first failing case) or (True, ``success``).

    properties: (description, args, expected) cases the message may show; hidden_cases: (description, args) pairs
    compared with ``reference(*args)``, whose message says what the case looks like but not its expected value.
    Each call gets its own copy of the arguments, so a learner's function that changes them in place changes nothing.
    """
    for description, args, expected in properties:
        got = as_number(fn(*_copies(args)))
        if got is None or abs(got - expected) > tolerance:
            return False, f"{description}: your {name} gives {got!r}."
    for description, args in hidden_cases:
        got = as_number(fn(*_copies(args)))
        if got is None or abs(got - reference(*args)) > tolerance:
            return False, f"it passes the simple cases but not a random one ({description})."
    return True, success


def _copies(args):
    return [a.copy() if hasattr(a, "copy") else a for a in args]


# ---------------------------------------------------------------- ranking metrics: metric(ranked, relevant, k)
def _ranking_cases(seed: int, n: int = 30):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        n_items = int(rng.integers(5, 40))
        ranked = rng.permutation(n_items)[: int(rng.integers(1, n_items + 1))].tolist()
        relevant = set(rng.choice(n_items, int(rng.integers(1, min(8, n_items) + 1)), replace=False).tolist())
        k = int(rng.integers(1, 15))
        yield f"a list of {len(ranked)} items, {len(relevant)} relevant, k={k}", (ranked, relevant, k)


def ranking_metric_run(name: str, reference, properties):
    """A checker for a learner's ``metric(ranked, relevant, k) -> float`` on one user's list: the ``properties``
    (description, (ranked, relevant, k), expected), then hidden random lists compared with ``reference``."""

    def run(fn):
        problem = signature_problem(fn, ["ranked", "relevant", "k"])
        if problem:
            return False, problem
        shown = [(f"{description} (ranked={ranked}, relevant={relevant}, k={k})", (ranked, relevant, k), expected)
                 for description, (ranked, relevant, k), expected in properties]
        return number_cases_verdict(fn, shown, _ranking_cases(seed=7), reference, name,
                                    f"correct: {name} passes the property tests and the hidden cases.", tolerance=1e-6)

    return run


# ---------------------------------------------------------------- torch modules: shape, then learning on a fixed batch
def mse(pred, target):
    """The mean squared error of two tensors (the loss of the rating exercises)."""
    return ((pred - target) ** 2).mean()


def _build(answer, kwargs: dict):
    """Call a class or factory with the keyword arguments its signature accepts; an instance is copied (a check
    never trains or changes the learner's own object)."""
    if not (inspect.isfunction(answer) or isinstance(answer, type)):
        return copy.deepcopy(answer)
    try:
        params = inspect.signature(answer).parameters
    except (TypeError, ValueError):
        return answer()
    return answer(**{k: v for k, v in kwargs.items() if k in params})


def module_run(make_module_input, output_shape, loss_fn, steps: int = 30, lr: float = 0.01, ctor_kwargs: dict | None = None):
    """A checker for a learner's torch module (or a class/function that builds one, given ``ctor_kwargs`` it accepts):
    right output shape on a fixed batch, and the loss goes down after a few Adam steps on that batch."""

    def run(answer):
        import torch

        with torch.random.fork_rng(devices=[]):  # the same verdict on every run, and the learner's RNG untouched
            torch.manual_seed(0)
            return _run(answer)

    def _run(answer):
        import torch

        module = _build(answer, ctor_kwargs or {})
        if not isinstance(module, torch.nn.Module):
            return False, f"expected a torch.nn.Module (or a function that returns one), got {type(module).__name__}."
        inputs, target = make_module_input()
        try:
            out = module(*inputs)
        except NotImplementedError:
            raise  # the placeholder of a student version: "not attempted", not "not yet"
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


# ---------------------------------------------------------------- torch modules: equivalence with a reference
def equivalent_module_run(reference, ctor_kwargs: dict, cases, diagnoses=(), success: str = "", training=None,
                          compare=None):
    """A checker for a learner's torch module whose weights the exercise defines (the learner writes ``forward``).

    The reference module (built here, with ``ctor_kwargs``) lends its weights to the learner's; then, on every input
    case, the outputs must be equal, and so must the gradients of every weight after one backward pass. ``cases()``
    yields (description, inputs); ``diagnoses`` are (test(module, reference, inputs) -> bool, message) pairs tried in
    order when the outputs differ, so that a known mistake gets a message naming the concept it misses.

    training: optional ``training(module) -> (ok, sentence)`` run last on a fresh copy of the learner's module, built
    at ``ctor_kwargs``: it must learn (the loss falls on a fixed batch and the trained module ranks better than the
    untrained one; see ``pair_learning``). compare: optional ``compare(out, expected) -> bool`` for outputs that are
    not one tensor (a tuple of tensors, for instance); by default one tensor of the reference's shape and values.
    """

    def run(answer):
        import torch

        with torch.random.fork_rng(devices=[]):  # the same verdict on every run, and the learner's RNG untouched
            torch.manual_seed(0)
            return _run(answer)

    def _run(answer):
        import torch

        # an instance stands for its class: a fresh one is built at the exercise's sizes (the learner's is untouched)
        module = _build(type(answer) if isinstance(answer, torch.nn.Module) else answer, ctor_kwargs)
        if not isinstance(module, torch.nn.Module):
            return False, f"expected a torch.nn.Module (or a class that builds one), got {type(module).__name__}."
        ref = reference(**ctor_kwargs)
        try:
            module.load_state_dict(ref.state_dict())
        except RuntimeError as err:
            return False, ("your module's weights are not the exercise's (keep __init__ as given and write forward): "
                           f"{str(err).splitlines()[-1].strip()}")
        module.train(False)
        ref.train(False)
        seed = 1
        for description, inputs in cases():
            try:
                out = module(*inputs)
            except NotImplementedError:
                raise  # the placeholder of a student version: "not attempted", not "not yet"
            except Exception as err:  # the learner's forward: report, don't crash the notebook
                return False, f"calling your module on {description} raised {type(err).__name__}: {err}."
            expected = ref(*inputs)
            if compare is None and (not isinstance(out, torch.Tensor) or out.shape != expected.shape):
                shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                return False, f"for {description} your module returns {shape}; it should return {tuple(expected.shape)}."
            if not (compare or tensors_close)(out, expected):
                for test, message in diagnoses:
                    with torch.no_grad():
                        if test(module, ref, inputs):
                            return False, message
                return False, f"for {description} your module's outputs differ from the reference's with the same weights."
            module.zero_grad()  # one backward pass through both, of the same random projection of the outputs
            ref.zero_grad()
            seed += 1
            _project(out, torch.Generator().manual_seed(seed)).backward()
            _project(expected, torch.Generator().manual_seed(seed)).backward()
            mine = dict(module.named_parameters())
            for name, p in ref.named_parameters():
                got = mine[name].grad
                if (got is None) != (p.grad is None) or (got is not None and not torch.allclose(got, p.grad, atol=1e-6)):
                    return False, (f"for {description} the outputs are right but the gradient of '{name}' is not: "
                                   f"something in forward is cut off from autograd (a .detach(), .item() or numpy "
                                   f"step) or changed in place.")
        if training is None:
            return True, success
        ok, sentence = training(_build(type(answer) if isinstance(answer, torch.nn.Module) else answer, ctor_kwargs))
        return (True, f"{success} {sentence}".strip()) if ok else (False, sentence)

    return run


def _project(out, generator):
    """A scalar that depends on every output value: the sum of the outputs (or of each tensor of a tuple) times fixed
    random weights drawn from ``generator``."""
    import torch

    tensors = out if isinstance(out, (tuple, list)) else (out,)
    return sum((t * torch.randn(t.shape, generator=generator)).sum() for t in tensors if t.is_floating_point())


def auc(scores, labels) -> float:
    """The probability that a random positive scores above a random negative (ties count one half)."""
    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels, dtype=bool)
    pos, neg = scores[labels], scores[~labels]
    return float(((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()))


def pair_learning(n_users: int, n_items: int, first: int = 0, task: str = "implicit", steps: int = 80,
                  lr: float = 0.02, batch: int = 512):
    """``training(module) -> (ok, sentence)`` for a (user ids, item ids) -> (B,) module: it must learn a planted
    preference (users and items with hidden 3-d tastes) from a fixed batch of pairs.

    task "implicit": labels 1 where the hidden affinity is in its top 30 %, the module's outputs are logits (BCE);
    "rating": ratings 1..5 from the affinity, the outputs are ratings (MSE). The loss must fall below 90 % of its start,
    and on other pairs of the same users and items the trained module must rank the liked pairs above the others (AUC)
    better than it did untrained, by 0.05 at least.
    """

    def train(module):
        import torch

        g = torch.Generator().manual_seed(11)
        taste_u, taste_i = torch.randn(n_users + first, 3, generator=g), torch.randn(n_items + first, 3, generator=g)

        def pairs(size):
            users = torch.randint(first, n_users + first, (size,), generator=g)
            items = torch.randint(first, n_items + first, (size,), generator=g)
            return users, items, (taste_u[users] * taste_i[items]).sum(-1)

        (users, items, affinity), (held_u, held_i, held_aff) = pairs(batch), pairs(batch)
        threshold = affinity.quantile(0.7)
        if task == "rating":
            target = (3 + affinity).clamp(1, 5)
            loss_fn = lambda out: ((out - target) ** 2).mean()  # noqa: E731
        else:
            target = (affinity > threshold).float()
            loss_fn = lambda out: torch.nn.functional.binary_cross_entropy_with_logits(out, target)  # noqa: E731
        liked = (held_aff > threshold).numpy()

        def held_auc():
            module.train(False)
            with torch.no_grad():
                quality = auc(module(held_u, held_i).numpy(), liked)
            module.train(True)
            return quality

        before = held_auc()
        opt = torch.optim.Adam([p for p in module.parameters() if p.requires_grad], lr=lr)
        first_loss = None
        for _ in range(steps):
            opt.zero_grad()
            loss = loss_fn(module(users, items))
            first_loss = loss.item() if first_loss is None else first_loss
            loss.backward()
            opt.step()
        module.train(False)
        with torch.no_grad():
            last_loss = loss_fn(module(users, items)).item()
        after = held_auc()
        if not last_loss < 0.9 * first_loss:
            return False, (f"your module does not learn: after {steps} Adam steps on a fixed batch its loss went from "
                           f"{first_loss:.3f} to {last_loss:.3f}.")
        if not after > before + 0.05:
            return False, (f"your module fits its training pairs (loss {first_loss:.3f} -> {last_loss:.3f}) but does not "
                           f"rank other pairs better than untrained (AUC {before:.2f} -> {after:.2f}).")
        return True, (f"Trained for {steps} steps on a planted preference, its loss falls from {first_loss:.3f} to "
                      f"{last_loss:.3f} and it ranks unseen pairs with AUC {after:.2f} (untrained {before:.2f}).")

    return train


def ignores_input(position: int):
    """A diagnosis: the learner's output does not move when input ``position`` changes, while the reference's does."""
    return lambda module, ref, inputs: not changes_with(position, inputs, module) and changes_with(position, inputs, ref)


def changes_with(position: int, inputs: tuple, module) -> bool:
    """Whether the module's output changes when input ``position`` is replaced by a permutation of itself."""
    import torch

    varied = list(inputs)
    varied[position] = inputs[position].roll(1)
    return not torch.allclose(module(*inputs), module(*varied))


def tensors_close(a, b) -> bool:
    """Same shape and the same values (to float32 rounding)."""
    import torch

    return a.shape == b.shape and torch.allclose(a, b, rtol=1e-5, atol=1e-6)


def id_pair_cases(n_users: int, n_items: int, first: int):
    """(user ids, item ids) batches that separate the usual mistakes: random pairs, a batch of one, one user with
    several items, several users with one item. Ids run from ``first`` (0, or 1 where row 0 is reserved)."""
    import torch

    g = torch.Generator().manual_seed(3)

    def ids(n, size):
        return torch.randint(first, n + first, (size,), generator=g)

    yield "a random batch of 16 pairs", (ids(n_users, 16), ids(n_items, 16))
    yield "a batch of one pair", (ids(n_users, 1), ids(n_items, 1))
    yield "one user with 6 items", (torch.full((6,), first + 2), ids(n_items, 6))
    yield "6 users with one item", (ids(n_users, 6), torch.full((6,), first + 4))


# ---------------------------------------------------------------- torch modules: next-item learning (chapters 4-5)
def next_item_learning(n_items: int, seq_len: int = 10, steps: int = 60, lr: float = 0.01, batch: int = 64):
    """``training(module) -> (ok, sentence)`` for a next-item encoder: ``module(seqs)`` maps (B, T) item codes
    (1..n_items, 0 = left padding) to (B, T, D) hidden states and ``module.item_scores(h)`` maps (..., D) to
    (..., n_items) scores (column j: code j + 1), the module contract of the course's sequence recommenders.

    Sequences of a planted habit (each item is followed by its own successor 8 times in 10, else by a random item;
    random lengths, left-padded) train it at every position with softmax cross-entropy on a fixed batch. The loss
    must fall below 90 % of its start, and on held-out sequences the trained module must rank the true last item
    (MRR, read at the last position) better than it did untrained, by 0.05 at least.
    """

    def train(module):
        import torch
        import torch.nn.functional as F

        g = torch.Generator().manual_seed(13)
        successor = torch.randperm(n_items, generator=g) + 1  # code c is usually followed by successor[c - 1]

        def sequences(size):
            seq = torch.zeros(size, seq_len + 1, dtype=torch.long)
            seq[:, 0] = torch.randint(1, n_items + 1, (size,), generator=g)
            for t in range(1, seq_len + 1):
                follow = torch.rand(size, generator=g) < 0.8
                seq[:, t] = torch.where(follow, successor[seq[:, t - 1] - 1],
                                        torch.randint(1, n_items + 1, (size,), generator=g))
            lengths = torch.randint(2, seq_len + 2, (size,), generator=g)  # 2..seq_len + 1 real items
            return seq.masked_fill(torch.arange(seq_len + 1)[None] < (seq_len + 1 - lengths)[:, None], 0)

        fixed, held = sequences(batch), sequences(256)

        def loss_of(seqs):
            inputs, targets = seqs[:, :-1], seqs[:, 1:]
            real = (inputs > 0) & (targets > 0)
            return F.cross_entropy(module.item_scores(module(inputs)[real]), targets[real] - 1)

        def held_mrr():
            module.train(False)
            with torch.no_grad():
                scores = module.item_scores(module(held[:, :-1])[:, -1])  # (256, n_items) after each history
                target = scores.gather(1, held[:, -1:] - 1)
                quality = (1.0 / ((scores > target).sum(1) + 1).float()).mean().item()
            module.train(True)
            return quality

        before = held_mrr()
        opt = torch.optim.Adam([p for p in module.parameters() if p.requires_grad], lr=lr)
        first_loss = None
        for _ in range(steps):
            opt.zero_grad()
            loss = loss_of(fixed)
            first_loss = loss.item() if first_loss is None else first_loss
            loss.backward()
            opt.step()
        module.train(False)
        with torch.no_grad():
            last_loss = loss_of(fixed).item()
        after = held_mrr()
        if not last_loss < 0.9 * first_loss:
            return False, (f"your module does not learn: after {steps} Adam steps on a fixed batch of sequences its "
                           f"next-item loss went from {first_loss:.3f} to {last_loss:.3f}.")
        if not after > before + 0.05:
            return False, (f"your module fits its training sequences (loss {first_loss:.3f} -> {last_loss:.3f}) but "
                           f"does not predict the next item of other sequences better than untrained (MRR "
                           f"{before:.2f} -> {after:.2f}).")
        return True, (f"Trained for {steps} steps on sequences with a planted habit, its next-item loss falls from "
                      f"{first_loss:.3f} to {last_loss:.3f} and it ranks the next item of unseen sequences with MRR "
                      f"{after:.2f} (untrained {before:.2f}).")

    return train


# ---------------------------------------------------------------- torch sequence layers: learning to read the past (chapter 4)
def sequence_layer_learning(dim: int, n_items: int = 10, length: int = 8, steps: int = 60, lr: float = 0.02,
                            batch: int = 128, margin: float = 0.3):
    """``training(layer) -> (ok, sentence)`` for a sequence layer ``layer(x (B, T, dim), padding (B, T) bool) ->
    (B, T, dim)`` that must read earlier positions (self-attention, a recurrent layer...): inside a tiny next-item
    model (item and position embeddings, the layer with a residual connection, layer normalization, scores against
    the item table) it must learn a planted rule from a fixed batch of left-padded sequences.

    The rule: each sequence alternates two random items (a b a b ...), so the next item is the one before the current
    one, which the current item alone cannot tell. The loss (cross-entropy over real positions) must fall below 90 %
    of its start, and on held-out sequences the share of last positions whose next item is ranked first must beat the
    untrained model's by ``margin``.
    """

    def train(layer):
        import math

        import torch
        from torch import nn

        g = torch.Generator().manual_seed(17)

        def sequences(size):  # items 1..n_items, 0 = padding; lengths 3..length+1, padded on the left
            a = torch.randint(1, n_items + 1, (size,), generator=g)
            b = (a + torch.randint(1, n_items, (size,), generator=g) - 1) % n_items + 1  # b != a
            pattern = torch.where(torch.arange(length + 1) % 2 == 0, a[:, None], b[:, None])  # (size, length + 1)
            real = torch.randint(3, length + 2, (size,), generator=g)
            return pattern.masked_fill(torch.arange(length + 1) < (length + 1 - real)[:, None], 0)

        class Tiny(nn.Module):
            def __init__(self):
                super().__init__()
                self.item, self.position = nn.Embedding(n_items + 1, dim, padding_idx=0), nn.Embedding(length, dim)
                self.layer, self.ln = layer, nn.LayerNorm(dim)

            def forward(self, seq):  # (B, T) -> (B, T, n_items) scores of items 1..n_items
                padding = seq == 0
                x = self.item(seq) + self.position(torch.arange(seq.shape[1] - 1, -1, -1))
                h = self.ln(x + self.layer(x, padding))
                return h @ self.item.weight[1:].T

        model = Tiny()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(5)
            model.item.reset_parameters(), model.position.reset_parameters()
        fixed, held = sequences(batch), sequences(batch)

        def loss_of(seq):
            inputs, targets = seq[:, :-1], seq[:, 1:]
            real = (inputs > 0) & (targets > 0)
            return nn.functional.cross_entropy(model(inputs)[real], targets[real] - 1)

        def top1():  # the share of held-out sequences whose next item (after the last input) is ranked first
            model.train(False)
            with torch.no_grad():
                share = (model(held[:, :-1])[:, -1].argmax(-1) + 1 == held[:, -1]).float().mean().item()
            model.train(True)
            return share

        before = top1()
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        first_loss = None
        for _ in range(steps):
            opt.zero_grad()
            loss = loss_of(fixed)
            first_loss = loss.item() if first_loss is None else first_loss
            loss.backward()
            opt.step()
        model.train(False)
        with torch.no_grad():
            last_loss = loss_of(fixed).item()
        after = top1()
        if not math.isfinite(last_loss) or not last_loss < 0.9 * first_loss:
            return False, (f"inside a tiny next-item model your layer does not learn: after {steps} Adam steps on a "
                           f"fixed batch the loss went from {first_loss:.3f} to {last_loss:.3f}.")
        if not after > before + margin:
            return False, (f"inside a tiny next-item model your layer fits its batch (loss {first_loss:.3f} -> "
                           f"{last_loss:.3f}) but does not predict the next item of new sequences better (ranked first "
                           f"{after:.0%} of the time, untrained {before:.0%}).")
        return True, (f"Inside a tiny next-item model, trained {steps} steps on sequences whose next item is the one "
                      f"before the current one, the loss falls from {first_loss:.3f} to {last_loss:.3f} and the next "
                      f"item of new sequences is ranked first {after:.0%} of the time (untrained {before:.0%}).")

    return train
