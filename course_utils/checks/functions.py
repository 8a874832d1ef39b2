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


def _build(answer, kwargs: dict):
    """Call a class or factory with the keyword arguments its signature accepts (an instance is used as is)."""
    if not (inspect.isfunction(answer) or isinstance(answer, type)):
        return answer
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


def keras_builder_run(reference_builder, sizes=((10, 20), (7, 3))):
    """A checker for a learner's ``build_model(n_users, n_items)`` returning a Keras model: it must take two id
    inputs, return one rating per pair, and have exactly the reference architecture's parameter count."""

    def run(fn):
        problem = _signature_problem(fn, ["n_users", "n_items"])
        if problem:
            return False, problem
        import numpy as np

        for n_users, n_items in sizes:
            model = fn(n_users, n_items)
            if not hasattr(model, "count_params") or not hasattr(model, "predict"):
                return False, f"build_model must return a Keras Model; it returned {type(model).__name__}."
            out = np.asarray(model.predict([np.array([[1], [n_users]]), np.array([[n_items], [1]])], verbose=0))
            if out.shape != (2, 1):
                return False, f"for 2 (user, item) pairs the model should output shape (2, 1); yours gives {out.shape}."
            if model.count_params() != reference_builder(n_users, n_items).count_params():
                return False, (f"with n_users={n_users}, n_items={n_items} your model has {model.count_params():,} "
                               f"parameters, which is not the architecture asked for (check the Embedding sizes and Dense widths).")
        return True, "correct: the inputs, the output and every layer's size match."

    return run


def sampler_run(fn):
    """A checker for ``sample_negatives(positives, n, n_items, seed)``: n items in [0, n_items), never a positive,
    every free item reachable, roughly uniform, and the seed makes it repeatable."""
    problem = _signature_problem(fn, ["positives", "n", "n_items", "seed"])
    if problem:
        return False, problem
    cases = [({0, 2, 5}, 50, 8), (set(range(9)), 7, 10), (set(), 20, 3)]
    for positives, n, n_items in cases:
        got = [int(x) for x in fn(set(positives), n, n_items, 0)]
        if len(got) != n:
            return False, f"asked for {n} negatives you returned {len(got)}."
        if any(not 0 <= x < n_items for x in got):
            return False, f"a sampled item lies outside 0..{n_items - 1}."
        if any(x in positives for x in got):
            return False, "a sampled negative is one of the user's positives."
    if [int(x) for x in fn({1}, 30, 50, 7)] != [int(x) for x in fn({1}, 30, 50, 7)]:
        return False, "the same seed should give the same negatives."
    draws = np.array([int(x) for x in fn({0, 1}, 6000, 6, 3)])
    counts = np.bincount(draws, minlength=6)[2:]
    if counts.min() < 0.8 * counts.mean():  # 4 free items, 1,500 draws each on average
        return False, f"the free items are not drawn uniformly (counts {counts.tolist()} for items 2..5)."
    return True, "correct: right count and range, never a positive, uniform over the free items, repeatable."


# ---------------------------------------------------------------- chapter 3: LightGCN on a tiny graph
def _graphs():
    """(description, R) interaction matrices: the notebook's graph, a user without items, random graphs."""
    rng = np.random.default_rng(11)
    yield "the 3-user, 4-item graph of the notebook", np.array([[1, 1, 0, 0], [0, 1, 1, 1], [0, 0, 0, 1]], dtype=float)
    yield "a graph where one user and one item have no edge (degree 0)", np.array([[1, 0, 0], [0, 0, 0], [1, 1, 0]], dtype=float)
    for _ in range(6):
        n_users, n_items = int(rng.integers(2, 9)), int(rng.integers(2, 9))
        yield (f"a random {n_users}-user, {n_items}-item graph",
               (rng.random((n_users, n_items)) < 0.4).astype(float))


def _a_hat(r):
    from ..models.lightgcn import normalized_adjacency
    import scipy.sparse as sp

    return normalized_adjacency(sp.csr_matrix(r)).toarray().astype(np.float64)


def _array(x):
    try:
        return np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def _compare(got, expected, what: str, case: str):
    got = _array(got)
    if got is None:
        return f"{what} must be a numpy array (or a tensor) of numbers."
    if got.shape != expected.shape:
        return f"for {case} {what} should have shape {expected.shape}; yours has {got.shape}."
    if not np.isfinite(got).all():
        return f"for {case} {what} holds NaN or inf: a node of degree 0 must give 0, not a division by zero."
    if not np.allclose(got, expected, rtol=1e-5, atol=1e-7):
        return f"for {case} {what} has the right shape but wrong values."
    return None


def adjacency_run(fn):
    """``normalized_adjacency(R) -> A_hat``: R (n_users, n_items) 0/1 array -> D^-1/2 A D^-1/2, users first."""
    problem = _signature_problem(fn, ["R"])
    if problem:
        return False, problem
    for case, r in _graphs():
        problem = _compare(fn(r.copy()), _a_hat(r), "A_hat", case)
        if problem:
            return False, problem
    return True, "correct: A_hat is symmetric, users come first, and nodes of degree 0 are handled."


def propagation_run(fn):
    """``propagate(R, user_emb, item_emb) -> (next_user_emb, next_item_emb)``: one LightGCN layer from the formula."""
    problem = _signature_problem(fn, ["R", "user_emb", "item_emb"])
    if problem:
        return False, problem
    rng = np.random.default_rng(5)
    for case, r in _graphs():
        n_users, n_items = r.shape
        e = rng.normal(size=(n_users + n_items, 3))
        out = fn(r.copy(), e[:n_users].copy(), e[n_users:].copy())
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            return False, "return a pair (next_user_emb, next_item_emb)."
        expected = _a_hat(r) @ e
        for what, got, exp in (("next_user_emb", out[0], expected[:n_users]), ("next_item_emb", out[1], expected[n_users:])):
            problem = _compare(got, exp, what, case)
            if problem:
                return False, problem
    return True, "correct: every node gets the normalized sum of its neighbours' embeddings."


def layer_mean_run(fn):
    """``lightgcn_embeddings(A_hat, E0, n_layers) -> E``: the mean of E^(0) .. E^(K)."""
    problem = _signature_problem(fn, ["A_hat", "E0", "n_layers"])
    if problem:
        return False, problem
    rng = np.random.default_rng(6)
    for (case, r), n_layers in zip(_graphs(), [3, 1, 0, 2, 4, 3, 1, 2]):
        a = _a_hat(r)
        e0 = rng.normal(size=(len(a), 4))
        layers = [e0]
        for _ in range(n_layers):
            layers.append(a @ layers[-1])
        problem = _compare(fn(a.copy(), e0.copy(), n_layers), np.mean(layers, axis=0), "E", f"{case} and n_layers={n_layers}")
        if problem:
            if n_layers == 0:
                problem += " With n_layers=0 the final embeddings are E^(0) itself."
            return False, problem
    return True, "correct: E = (E^(0) + ... + E^(K)) / (K + 1), including K = 0."


def bpr_run(fn):
    """``bpr_loss(pos_scores, neg_scores) -> float``: mean of -log(sigmoid(pos - neg))."""
    problem = _signature_problem(fn, ["pos_scores", "neg_scores"])
    if problem:
        return False, problem
    cases = [("equal scores cost log(2) each", np.zeros(3), np.zeros(3), np.log(2.0)),
             ("a positive far above its negative costs almost nothing", np.array([20.0]), np.array([-20.0]), None),
             ("the loss is a mean over the pairs, not a sum", np.array([1.0, 2.0, 0.5, -1.0]), np.array([0.0, 2.5, 0.5, 1.0]), None)]
    rng = np.random.default_rng(8)
    cases += [("a random batch", rng.normal(0, 3, n), rng.normal(0, 3, n), None) for n in (5, 64, 1)]
    for description, pos, neg, expected in cases:
        if expected is None:
            expected = float(np.mean(np.logaddexp(0.0, -(pos - neg))))  # -log sigmoid(x) = log(1 + exp(-x))
        got = _number(fn(pos.copy(), neg.copy()))
        if got is None:
            return False, "bpr_loss must return one number (a float, or a 0-d array or tensor)."
        if abs(got - expected) > 1e-6 * max(1.0, abs(expected)):
            return False, f"{description}: your bpr_loss gives {got:.6g}."
    return True, "correct: the mean over pairs of -log sigmoid(s_pos - s_neg)."


# ---------------------------------------------------------------- chapter 4: attention and next-item sequences
def causal_mask_run(fn):
    """``causal_mask(n) -> (n, n)``: True (or 1) where query position t may attend to key position s, i.e. s <= t."""
    problem = _signature_problem(fn, ["n"])
    if problem:
        return False, problem
    for n in (1, 2, 5, 9):
        got = _array(fn(n))
        if got is None or got.shape != (n, n):
            return False, f"causal_mask({n}) should be an array of shape ({n}, {n}); yours is {None if got is None else got.shape}."
        expected = np.tril(np.ones((n, n)))
        if not np.array_equal(got != 0, expected != 0):
            if np.array_equal(got != 0, expected.T != 0):
                return False, f"causal_mask({n}) is transposed: row t is the query, column s the key, and t sees s <= t."
            if np.array_equal(got != 0, np.tril(np.ones((n, n)), -1) != 0):
                return False, f"causal_mask({n}) hides the diagonal: a position must attend to itself."
            return False, f"causal_mask({n}) has the right shape but wrong entries."
    return True, "correct: each position sees itself and the past, never the future."


def _softmax(x):
    x = x - np.max(x, axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def attention_run(fn):
    """``attention(Q, K, V, mask) -> (output, weights)``: scaled dot-product attention with an optional bool mask."""
    problem = _signature_problem(fn, ["Q", "K", "V", "mask"])
    if problem:
        return False, problem
    rng = np.random.default_rng(9)
    for t, d, dv, masked in [(3, 2, 2, False), (4, 8, 3, True), (6, 16, 5, True), (5, 4, 4, False)]:
        q, k, v = rng.normal(size=(t, d)), rng.normal(size=(t, d)), rng.normal(size=(t, dv))
        mask = np.tril(np.ones((t, t), dtype=bool)) if masked else None
        scores = q @ k.T / np.sqrt(d)
        if masked:
            scores = np.where(mask, scores, -np.inf)
        weights = _softmax(scores)
        out = fn(q.copy(), k.copy(), v.copy(), None if mask is None else mask.copy())
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            return False, "return a pair (output, weights)."
        case = f"T={t}, d={d}" + (" with a causal mask" if masked else " without a mask")
        for what, got, exp in (("weights", out[1], weights), ("output", out[0], weights @ v)):
            problem = _compare(got, exp, what, case)
            if problem:
                if what == "weights" and _array(got) is not None and _array(got).shape == exp.shape:
                    unscaled = _softmax(np.where(mask, q @ k.T, -np.inf) if masked else q @ k.T)
                    if np.allclose(_array(got), unscaled, atol=1e-6):
                        problem += " Divide the scores by sqrt(d) before the softmax."
                return False, problem
    return True, "correct: softmax(Q K^T / sqrt(d)) with masked scores at -inf, then times V."


def training_pair_run(fn):
    """``make_training_pair(history, max_len) -> (inputs, targets)``: the last window, left-padded with 0."""
    from ..data.sequences import next_item_windows

    problem = _signature_problem(fn, ["history", "max_len"])
    if problem:
        return False, problem
    rng = np.random.default_rng(4)
    cases = [("a history shorter than max_len", [5, 9, 2], 5), ("a history longer than max_len", list(range(1, 13)), 4),
             ("a history of exactly max_len + 1 items", [3, 1, 4, 1, 5], 4)]
    cases += [("a random history", rng.integers(1, 50, int(rng.integers(2, 30))).tolist(), int(rng.integers(2, 12)))
              for _ in range(5)]
    for description, history, max_len in cases:
        out = fn(list(history), max_len)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            return False, "return a pair (inputs, targets)."
        inputs, targets = next_item_windows([np.array(history)], max_len)
        for what, got, exp in (("inputs", out[0], inputs[0]), ("targets", out[1], targets[0])):
            got = _array(got)
            if got is None or got.shape != exp.shape:
                return False, f"for {description} {what} should be a list of max_len={max_len} item ids."
            if not np.array_equal(got, exp):
                return False, f"for {description} (history of {len(history)} items, max_len={max_len}) {what} are wrong."
    return True, "correct: the most recent window, targets shifted by one, zeros on the left."


def next_item_hit_rate_run(fn):
    """``hit_rate(recommended, next_items, k) -> float``: share of users whose next item is in their top k."""
    problem = _signature_problem(fn, ["recommended", "next_items", "k"])
    if problem:
        return False, problem
    properties = [("every next item first: 1", ([[1, 2], [3, 4]], [1, 3], 1), 1.0),
                  ("no next item in any list: 0", ([[1, 2], [3, 4]], [9, 9], 2), 0.0),
                  ("only the first k count", ([[1, 2, 3]], [3], 2), 0.0),
                  ("a mean over users, not a count", ([[1, 2], [3, 4], [5, 6], [7, 8]], [2, 9, 9, 9], 2), 0.25)]
    for description, args, expected in properties:
        got = _number(fn(*[list(a) if isinstance(a, list) else a for a in args]))
        if got is None or abs(got - expected) > 1e-9:
            return False, f"{description}: your hit_rate gives {got!r}."
    rng = np.random.default_rng(12)
    for _ in range(20):
        n_users, n = int(rng.integers(1, 8)), int(rng.integers(1, 12))
        recommended = [rng.permutation(20)[:n].tolist() for _ in range(n_users)]
        next_items = rng.integers(0, 20, n_users).tolist()
        k = int(rng.integers(1, 15))
        expected = float(np.mean([nxt in rec[:k] for rec, nxt in zip(recommended, next_items)]))
        got = _number(fn(recommended, next_items, k))
        if got is None or abs(got - expected) > 1e-9:
            return False, f"it passes the simple cases but not a random one ({n_users} users, lists of {n}, k={k})."
    return True, "correct: HR@k is the share of users whose next item is among their first k recommendations."


def cloze_run(fn):
    """``mask_items(window, draws, mask_prob, mask_token) -> (inputs, labels)``: BERT4Rec's masking, made
    deterministic by giving the random draws (one uniform number per position)."""
    problem = _signature_problem(fn, ["window", "draws", "mask_prob", "mask_token"])
    if problem:
        return False, problem

    def reference(window, draws, p, token):
        window, draws = np.asarray(window), np.asarray(draws)
        masked = (draws < p) & (window != 0)
        if not masked.any() and window[-1] != 0:
            masked[-1] = True
        return np.where(masked, token, window), np.where(masked, window, 0)

    rng = np.random.default_rng(21)
    cases = [("a window without padding", [4, 8, 15, 16], [0.1, 0.9, 0.05, 0.5], 0.2, 99),
             ("padding whose draws are small", [0, 0, 7, 3], [0.01, 0.02, 0.9, 0.1], 0.2, 99),
             ("a draw that masks nothing", [0, 5, 6, 7], [0.5, 0.6, 0.7, 0.8], 0.2, 42)]
    for _ in range(20):
        n = int(rng.integers(1, 12))
        window = np.where(np.arange(n) < int(rng.integers(0, n)), 0, rng.integers(1, 50, n)).tolist()
        cases.append(("a random window", window, rng.random(n).round(3).tolist(), float(rng.choice([0.15, 0.2, 0.5])), 50))
    for description, window, draws, p, token in cases:
        out = fn(list(window), list(draws), p, token)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            return False, "return a pair (inputs, labels)."
        inputs, labels = (_array(x) for x in out)
        exp_inputs, exp_labels = reference(window, draws, p, token)
        if inputs is None or labels is None or inputs.shape != exp_inputs.shape or labels.shape != exp_labels.shape:
            return False, f"for {description} inputs and labels should have {len(window)} entries each."
        if (inputs[np.asarray(window) == 0] != 0).any():
            return False, f"for {description} you masked padding: a 0 stays 0, whatever its draw."
        if not np.array_equal(inputs, exp_inputs):
            if np.array_equal(inputs, np.asarray(window)):
                return False, f"for {description} nothing was masked: when no draw is below mask_prob, mask the last item."
            return False, f"for {description} the masked positions are wrong: mask a real item when its draw < mask_prob."
        if not np.array_equal(labels, exp_labels):
            return False, f"for {description} the labels are wrong: the hidden item where masked, 0 elsewhere."
    return True, "correct: real items hidden by their draws, never padding, at least one per window, labels to match."


def lstm_mha_shapes_run(fn):
    """``lstm_mha_shapes(batch, seq_len, emb_dim, hidden_dim, n_heads, n_items) -> dict`` of tensor shapes."""
    problem = _signature_problem(fn, ["batch", "seq_len", "emb_dim", "hidden_dim", "n_heads", "n_items"])
    if problem:
        return False, problem
    keys = ["embedding", "lstm", "query_per_head", "attention_weights", "output", "scores"]
    rng = np.random.default_rng(5)
    cases = [(256, 50, 32, 64, 2, 1682), (4, 7, 8, 16, 8, 30)]
    cases += [(int(rng.integers(1, 64)), int(rng.integers(1, 60)), int(rng.integers(1, 65)), h, n, int(rng.integers(2, 5000)))
              for h, n in [(48, 3), (40, 5), (64, 4)]]
    for b, t, e, h, n, items in cases:
        expected = {"embedding": (b, t, e), "lstm": (b, t, h), "query_per_head": (b, n, t, h // n),
                    "attention_weights": (b, n, t, t), "output": (b, t, h), "scores": (b, t, items)}
        got = fn(b, t, e, h, n, items)
        if not isinstance(got, dict) or set(got) != set(keys):
            return False, f"return a dict with the keys {keys}."
        for key in keys:
            try:
                shape = tuple(int(x) for x in got[key])
            except (TypeError, ValueError):
                return False, f"{key!r} should be a tuple of ints such as (batch, seq_len, emb_dim)."
            if shape != expected[key]:
                return False, (f"{key!r} is wrong for batch={b}, seq_len={t}, emb_dim={e}, hidden_dim={h}, n_heads={n}, "
                               f"n_items={items}: yours is {shape}.")
    return True, "correct: the shapes through embedding, LSTM, the heads' attention and the output layer."


def accuracy_at_k_run(fn):
    """``accuracy_at_k(logits, targets, k) -> float``: share of rows whose target is among the k largest logits."""
    problem = _signature_problem(fn, ["logits", "targets", "k"])
    if problem:
        return False, problem

    def reference(logits, targets, k):
        target = logits[np.arange(len(targets)), targets]
        return float(np.mean((logits > target[:, None]).sum(1) < k))

    properties = [("the target has the largest logit: 1", ([[0.1, 3.0, 0.2]], [1], 1), 1.0),
                  ("the target is second, k=1: 0", ([[0.1, 3.0, 2.0]], [2], 1), 0.0),
                  ("the target is second, k=2: 1", ([[0.1, 3.0, 2.0]], [2], 2), 1.0),
                  ("a mean over rows", ([[1.0, 0.0], [1.0, 0.0]], [0, 1], 1), 0.5)]
    for description, (logits, targets, k), expected in properties:
        got = _number(fn(np.array(logits), np.array(targets), k))
        if got is None or abs(got - expected) > 1e-9:
            return False, f"{description}: yours gives {got!r}."
    rng = np.random.default_rng(17)
    for _ in range(20):
        n, m, k = int(rng.integers(1, 40)), int(rng.integers(2, 300)), int(rng.integers(1, 20))
        logits, targets = rng.normal(size=(n, m)), rng.integers(0, m, n)
        got = _number(fn(logits.copy(), targets.copy(), k))
        if got is None or abs(got - reference(logits, targets, k)) > 1e-9:
            return False, f"it passes the simple cases but not a random one ({n} rows, {m} items, k={k})."
    return True, "correct: accuracy@k (HR@k of the next item) from raw logits, without sorting the whole catalogue."


def lstm_parameters_run(fn):
    """``lstm_parameter_count(input_dim, hidden_dim) -> int``, checked against torch.nn.LSTM."""
    import torch

    problem = _signature_problem(fn, ["input_dim", "hidden_dim"])
    if problem:
        return False, problem
    for i, h in [(32, 64), (1, 1), (10, 3), (64, 32), (7, 100)]:
        expected = sum(p.numel() for p in torch.nn.LSTM(i, h).parameters())
        got = _number(fn(i, h))
        if got != expected:
            if got == 4 * h * (i + h) + 4 * h:
                return False, f"for input_dim={i}, hidden_dim={h}: PyTorch's LSTM has two bias vectors per gate (b_ih and b_hh)."
            if got is not None and got * 4 == expected - 4 * h or got == h * (i + h) + 2 * h:
                return False, f"for input_dim={i}, hidden_dim={h}: an LSTM has 4 gates (input, forget, cell, output), each with its own weights."
            return False, f"for input_dim={i}, hidden_dim={h} yours gives {got!r}: count W_ih, W_hh and both biases of the 4 gates."
    return True, "correct: 4 gates x (W_ih: hidden x input, W_hh: hidden x hidden, two biases of size hidden)."


# ---------------------------------------------------------------------------------------------------- chapter 6
KT_SPACE = {  # the ranges exercise 6.1 asks for: name -> (kind, config)
    "embedding_dim": ("Int", {"min_value": 2, "max_value": 16, "step": 2}),
    "units": ("Choice", {"values": [32, 64, 128, 256]}),
    "dropout": ("Float", {"min_value": 0.0, "max_value": 0.3, "step": 0.1}),
    "learning_rate": ("Float", {"min_value": 1e-3, "max_value": 1e-2, "sampling": "log"}),
}


def keras_tuner_build_run(fn):
    """``build_model(hp)`` for Keras Tuner: the ranges of KT_SPACE, a compiled model that uses the drawn values."""
    problem = _signature_problem(fn, ["hp"])
    if problem:
        return False, problem
    from .. import frameworks

    frameworks.keras()  # TensorFlow through the course's one import point, before keras_tuner imports it
    import keras_tuner as kt

    hp = kt.HyperParameters()
    model = fn(hp)
    if not hasattr(model, "count_params"):
        return False, f"build_model must return a Keras model; it returned {type(model).__name__}."
    if getattr(model, "optimizer", None) is None:
        return False, "the model is not compiled: call model.compile(optimizer=..., loss='mse') before returning it."
    space = {h.name: h for h in hp.space}
    missing = sorted(set(KT_SPACE) - set(space))
    if missing:
        return False, f"the search space has no hyperparameter named {missing[0]!r} (yours has {sorted(space)})."
    for name, (kind, config) in KT_SPACE.items():
        h = space[name]
        if type(h).__name__ != kind:
            return False, f"{name!r} should be hp.{kind}(...); yours is hp.{type(h).__name__}."
        got = h.get_config()
        for key, want in config.items():
            value = got.get(key)
            if key == "sampling" and value != want:
                return False, f"{name!r} should be drawn with sampling={want!r} (a range spanning a factor of 10); yours: {value!r}."
            if key != "sampling" and (list(value) != want if key == "values" else not np.isclose(value, want)):
                return False, f"{name!r}: {key} should be {want!r}; yours is {value!r}."
    if getattr(model, "loss", None) not in ("mse", "mean_squared_error"):
        return False, f"compile the model with loss='mse' (the metric is RMSE); yours has loss={getattr(model, 'loss', None)!r}."
    chosen = {"embedding_dim": 12, "units": 256, "dropout": 0.3, "learning_rate": 0.005}
    fixed = kt.HyperParameters()
    for name, value in chosen.items():
        fixed.Fixed(name, value)
    model = fn(fixed)
    layers = model.layers
    embeddings = [l for l in layers if type(l).__name__ == "Embedding"]
    dense = [l for l in layers if type(l).__name__ == "Dense"]
    dropouts = [l for l in layers if type(l).__name__ == "Dropout"]
    if not embeddings or any(l.output_dim != 12 for l in embeddings):
        return False, "with embedding_dim = 12 the Embedding layers should have output_dim 12: pass the drawn value to the model."
    if not dense or dense[0].units != 256:
        return False, "with units = 256 the first Dense layer should have 256 units: pass the drawn value as hidden_layers[0]."
    if len(dense) < 2 or dense[1].units != 32:
        return False, "the second hidden layer should stay at 32 units: hidden_layers=(units, 32)."
    if not dropouts or any(not np.isclose(l.rate, 0.3) for l in dropouts):
        return False, "with dropout = 0.3 the model should have Dropout layers of rate 0.3 (build_keras_mlp(..., dropout=...))."
    lr = float(np.asarray(model.optimizer.learning_rate))
    if not np.isclose(lr, 0.005):
        return False, f"with learning_rate = 0.005 the optimizer's learning rate should be 0.005; yours is {lr:g}."
    return True, "correct: four hyperparameters with the asked ranges, and the model is built and compiled with the drawn values."


def _grid_count(space):
    total = 1
    for values in space.values():
        if isinstance(values, tuple):
            low, high, step = values
            total *= int(np.floor((high - low) / step + 1e-9)) + 1
        else:
            total *= len(values)
    return total


def grid_size_run(fn):
    """``grid_size(space) -> int``: the trials of a full grid; a list is a set of choices, (low, high, step) a range."""
    problem = _signature_problem(fn, ["space"])
    if problem:
        return False, problem
    properties = [("one list of 3 choices", {"units": [32, 64, 128]}, 3),
                  ("an integer range: 32, 64, ..., 256", {"units": (32, 256, 32)}, 8),
                  ("a float range: 0.0, 0.1, ..., 0.5", {"dropout": (0.0, 0.5, 0.1)}, 6),
                  ("the dimensions multiply", {"units": [32, 64], "dropout": (0.0, 0.5, 0.1), "lr": [1e-3, 1e-2, 1e-1]}, 36),
                  ("a range whose high end is not on the grid: 4, 8, 12", {"dim": (4, 14, 4)}, 3),
                  ("no hyperparameter: one trial (the defaults)", {}, 1)]
    for description, space, expected in properties:
        got = _number(fn(dict(space)))
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
        got = _number(fn(dict(space)))
        if got != _grid_count(space):
            return False, f"it passes the simple cases but not {space}: expected {_grid_count(space)}, yours gives {got!r}."
    return True, "correct: a grid multiplies the number of values of every hyperparameter."


OPTUNA_SPACE = {  # exercise 6.3: name -> (distribution class, low, high, log)
    "embedding_dim": ("IntDistribution", 8, 64, True),
    "learning_rate": ("FloatDistribution", 1e-4, 3e-2, True),
    "n_negatives": ("IntDistribution", 1, 8, False),
}


def optuna_space_run(fn):
    """``gmf_space(trial) -> dict``: the OPTUNA_SPACE distributions, and the drawn values returned as parameters."""
    problem = _signature_problem(fn, ["trial"])
    if problem:
        return False, problem
    import optuna

    sampler = optuna.samplers.RandomSampler(seed=0)
    study = optuna.create_study(sampler=sampler)
    seen = []
    for _ in range(10):
        trial = study.ask()
        params = fn(trial)
        if not isinstance(params, dict):
            return False, f"gmf_space must return a dict of parameters; it returned {type(params).__name__}."
        for name, (kind, low, high, log) in OPTUNA_SPACE.items():
            d = trial.distributions.get(name)
            if d is None:
                return False, f"nothing was suggested under the name {name!r} (yours: {sorted(trial.distributions)})."
            if type(d).__name__ != kind:
                which = "trial.suggest_int" if kind == "IntDistribution" else "trial.suggest_float"
                return False, f"{name!r} should come from {which}; yours gives a {type(d).__name__}."
            if not (np.isclose(d.low, low) and np.isclose(d.high, high)):
                return False, f"{name!r} should range over [{low}, {high}]; yours: [{d.low}, {d.high}]."
            if bool(d.log) != log:
                return False, (f"{name!r} should be drawn {'on a log scale (log=True)' if log else 'uniformly (log=False)'}: "
                               f"{'its range spans orders of magnitude' if log else 'a few small counts'}.")
        if set(params) != set(OPTUNA_SPACE) or any(params[k] != trial.params[k] for k in OPTUNA_SPACE):
            return False, f"return the suggested values under the model's parameter names {sorted(OPTUNA_SPACE)}; yours returns {params}."
        seen.append(params["learning_rate"])
        study.tell(trial, 0.0)
    if len(set(seen)) < 5:
        return False, "the returned values do not change from trial to trial: return what trial.suggest_* gives."
    return True, "correct: three distributions with the right ranges and scales, and the drawn values go to the model."


def best_trial_run(fn):
    """``best_trial(table, direction) -> int``: the number of the best COMPLETE trial (ties: the earliest)."""
    problem = _signature_problem(fn, ["table", "direction"])
    if problem:
        return False, problem
    import pandas as pd

    def table(values, states):
        return pd.DataFrame({"number": range(len(values)), "value": values, "state": states})

    c, p, f = "COMPLETE", "PRUNED", "FAIL"
    properties = [("the largest value when maximizing", table([0.1, 0.3, 0.2], [c, c, c]), "maximize", 1),
                  ("the smallest value when minimizing", table([0.9, 0.95, 0.88], [c, c, c]), "minimize", 2),
                  ("a pruned trial never wins (its value is from an unfinished run)", table([0.1, 0.5, 0.2], [c, p, c]), "maximize", 2),
                  ("a failed trial has no value", table([0.1, np.nan, 0.2], [c, f, c]), "maximize", 2),
                  ("ties go to the earlier trial", table([0.3, 0.1, 0.3], [c, c, c]), "maximize", 0)]
    for description, t, direction, expected in properties:
        got = _number(fn(t.copy(), direction))
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
        got = _number(fn(t.copy(), direction))
        if got != expected:
            return False, f"it passes the simple cases but not a random table of {n} trials ({direction}): expected {expected}, yours gives {got!r}."
    return True, "correct: only completed trials count, and the direction decides what best means."
