"""Chapter 4, SASRec's parts: the causal mask, scaled dot-product attention, a padded training sequence with its
shifted targets, and the hit rate of next-item lists; each a function checked against a reference written here.
"""
import numpy as np

from .harness import as_array, compare_arrays, function_exercise, number_cases_verdict


@function_exercise(
    "ch4.causal-mask", "The causal mask", 1, takes=["n"],
    hint="row t is the query position, column s the key position; position t may look at s when s <= t: "
         "np.tril of a matrix of ones.")
def causal_mask_run(fn):
    """``causal_mask(n) -> (n, n)``: True (or 1) where query position t may attend to key position s, i.e. s <= t."""
    for n in (1, 2, 5, 9):
        got = as_array(fn(n))
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


@function_exercise(
    "ch4.attention", "Scaled dot-product attention", 2, takes=["Q", "K", "V", "mask"],
    hint="scores = Q @ K.T / sqrt(d) with d = Q.shape[-1]; where mask is False set the score to -inf; softmax over "
         "the last axis (subtract the row maximum first); output = weights @ V.")
def attention_run(fn):
    """``attention(Q, K, V, mask) -> (output, weights)``: scaled dot-product attention with an optional bool mask of
    any pattern (causal, padding, arbitrary), and scores large enough to overflow a naive exp."""
    rng = np.random.default_rng(9)
    for t, d, dv, kind in [(3, 2, 2, None), (4, 8, 3, "causal"), (6, 16, 5, "causal"), (5, 4, 4, None),
                           (5, 4, 3, "arbitrary"), (6, 8, 4, "padding"), (4, 8, 2, "large scores")]:
        q, k, v = rng.normal(size=(t, d)), rng.normal(size=(t, d)), rng.normal(size=(t, dv))
        if kind == "large scores":  # scores in the thousands: exp overflows unless each row's maximum comes off first
            q, k = 40 * q, 40 * k
        mask = _mask(kind, t, rng)
        weights = _reference_weights(q, k, mask)
        out = fn(q.copy(), k.copy(), v.copy(), None if mask is None else mask.copy())
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            return False, "return a pair (output, weights)."
        case = f"T={t}, d={d} {_CASES[kind]}"
        for what, got, exp in (("weights", out[1], weights), ("output", out[0], weights @ v)):
            problem = compare_arrays(got, exp, what, case, nonfinite="subtract each row's maximum score before the "
                                     "exponential (large scores overflow), and keep at least one allowed key per row")
            if problem:
                mine = as_array(got)
                if what == "weights" and mine is not None and mine.shape == exp.shape and np.isfinite(mine).all():
                    problem += _attention_diagnosis(mine, q, k, mask)
                return False, problem
    return True, "correct: softmax(Q K^T / sqrt(d)) with masked scores at -inf, then times V."


_CASES = {None: "without a mask", "causal": "with a causal mask", "arbitrary": "with an arbitrary mask",
          "padding": "with a padding mask", "large scores": "with large scores"}


def _mask(kind, t: int, rng):
    """None, or a bool (T, T) mask (True = may attend) of the given kind; every row keeps at least its diagonal."""
    if kind in (None, "large scores"):
        return None
    if kind == "causal":
        return np.tril(np.ones((t, t), dtype=bool))
    if kind == "padding":  # the first two positions are padding: no query looks at them (but each looks at itself)
        mask = np.tril(np.ones((t, t), dtype=bool))
        mask[:, :2] = False
        return mask | np.eye(t, dtype=bool)
    return (rng.random((t, t)) < 0.5) | np.eye(t, dtype=bool)  # arbitrary, and not lower-triangular


def _reference_weights(q, k, mask):
    scores = q @ k.T / np.sqrt(q.shape[-1])
    return _softmax(scores if mask is None else np.where(mask, scores, -np.inf))


def _attention_diagnosis(weights, q, k, mask) -> str:
    """A sentence naming the mistake when the learner's weights match a known wrong variant, else ''."""
    scores = q @ k.T
    if np.allclose(weights, _softmax(np.where(mask, scores, -np.inf) if mask is not None else scores), atol=1e-6):
        return " Divide the scores by sqrt(d) before the softmax."
    t = len(q)
    if np.allclose(weights, _reference_weights(q, k, np.tril(np.ones((t, t), dtype=bool))), atol=1e-6):
        return (" You apply a causal mask of your own: use the mask you are given (None: no mask; otherwise any "
                "pattern, padding for instance).")
    if mask is not None and np.allclose(weights, _reference_weights(q, k, None), atol=1e-6):
        return " The mask is not applied: masked scores must become -inf before the softmax."
    if np.allclose(weights.sum(0), 1, atol=1e-6) and not np.allclose(weights.sum(-1), 1, atol=1e-6):
        return " The softmax runs over the wrong axis: each query's row of weights over the keys must sum to 1."
    if not np.allclose(weights.sum(-1), 1, atol=1e-6):
        return " Each row of weights must sum to 1: mask the scores before the softmax, not the weights after it."
    return ""


def reference_training_pair(history, max_len: int):
    """The most recent window of a history (at least 2 items): inputs = its first max_len items, targets the same
    shifted by one, both left-padded with 0 to max_len entries."""
    window = np.asarray(history[-(max_len + 1):])
    pad = np.zeros(max_len + 1 - len(window), dtype=window.dtype)
    return np.concatenate([pad, window[:-1]]), np.concatenate([pad, window[1:]])  # (max_len,), (max_len,)


@function_exercise(
    "ch4.training-sequence", "A padded training sequence and its targets", 2, takes=["history", "max_len"],
    hint="take the last max_len + 1 items of the history; inputs are all of them but the last, targets all but the "
         "first; put zeros on the left until both have max_len entries.")
def training_pair_run(fn):
    """``make_training_pair(history, max_len) -> (inputs, targets)``: the last window, left-padded with 0."""
    rng = np.random.default_rng(4)
    cases = [("a history shorter than max_len", [5, 9, 2], 5), ("a history longer than max_len", list(range(1, 13)), 4),
             ("a history of exactly max_len + 1 items", [3, 1, 4, 1, 5], 4)]
    cases += [("a random history", rng.integers(1, 50, int(rng.integers(2, 30))).tolist(), int(rng.integers(2, 12)))
              for _ in range(5)]
    for description, history, max_len in cases:
        out = fn(list(history), max_len)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            return False, "return a pair (inputs, targets)."
        for what, answer, exp in zip(("inputs", "targets"), out, reference_training_pair(history, max_len), strict=True):
            got = as_array(answer)
            if got is None or got.shape != exp.shape:
                return False, f"for {description} {what} should be a list of max_len={max_len} item ids."
            if not np.array_equal(got, exp):
                return False, f"for {description} (history of {len(history)} items, max_len={max_len}) {what} are wrong."
    return True, "correct: the most recent window, targets shifted by one, zeros on the left."


def _hit_rate(recommended, next_items, k):
    return float(np.mean([nxt in rec[:k] for rec, nxt in zip(recommended, next_items, strict=True)]))


@function_exercise(
    "ch4.hit-rate", "Hit rate of next-item lists", 1, takes=["recommended", "next_items", "k"],
    hint="for each user, 1 if their next item is in recommended[u][:k], else 0; return the mean over users.")
def next_item_hit_rate_run(fn):
    """``hit_rate(recommended, next_items, k) -> float``: share of users whose next item is in their top k."""
    properties = [("every next item first: 1", ([[1, 2], [3, 4]], [1, 3], 1), 1.0),
                  ("no next item in any list: 0", ([[1, 2], [3, 4]], [9, 9], 2), 0.0),
                  ("only the first k count", ([[1, 2, 3]], [3], 2), 0.0),
                  ("a mean over users, not a count", ([[1, 2], [3, 4], [5, 6], [7, 8]], [2, 9, 9, 9], 2), 0.25)]
    rng = np.random.default_rng(12)
    hidden = []
    for _ in range(20):
        n_users, n = int(rng.integers(1, 8)), int(rng.integers(1, 12))
        recommended = [rng.permutation(20)[:n].tolist() for _ in range(n_users)]
        next_items = rng.integers(0, 20, n_users).tolist()
        k = int(rng.integers(1, 15))
        hidden.append((f"{n_users} users, lists of {n}, k={k}", (recommended, next_items, k)))
    return number_cases_verdict(fn, properties, hidden, _hit_rate, "hit_rate",
                                "correct: HR@k is the share of users whose next item is among their first k recommendations.")
