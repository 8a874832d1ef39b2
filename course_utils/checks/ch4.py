"""Chapter 4, SASRec's parts: a padded training sequence with its shifted targets, scaled dot-product attention and
the causal-and-padding mask in NumPy, multi-head causal self-attention in torch (a model exercise: equivalence with the
reference below, weights copied, then learning inside a tiny next-item model), the next-item cross-entropy in torch,
and the hit rate of next-item lists. Every reference is written here, never imported from the library.
"""
import math

import numpy as np

from .core import Exercise, register
from .harness import (_build, as_array, compare_arrays, equivalent_module_run, function_exercise, sequence_layer_learning,
                      number_cases_verdict)


def reference_training_pair(history, max_len: int):
    """The most recent window of a history (at least 2 items): inputs = its first max_len items, targets the same
    shifted by one, both left-padded with 0 to max_len entries."""
    window = np.asarray(history[-(max_len + 1):])
    pad = np.zeros(max_len + 1 - len(window), dtype=window.dtype)
    return np.concatenate([pad, window[:-1]]), np.concatenate([pad, window[1:]])  # (max_len,), (max_len,)


@function_exercise(
    "ch4.training-sequence", "A padded training sequence and its targets", 2, takes=["history", "max_len"],
    hint="the most recent window holds one item more than max_len, because every input needs the item after it as "
         "its target; targets are the inputs shifted by one step into the future; padding goes on the left, so that "
         "the most recent item stays in the last column.",
    nudge="a negative slice takes the last max_len + 1 items even when the history is shorter; after dropping "
          "one end, pad each list on the left up to max_len.")
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


def _softmax(x):
    x = x - np.max(x, axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


@function_exercise(
    "ch4.attention", "Scaled dot-product attention", 2, takes=["Q", "K", "V", "mask"],
    hint="each query scores every key by their dot product, scaled by the square root of the key dimension; a key "
         "the mask forbids must get zero weight, which means a score of minus infinity before the softmax, not a zero "
         "after it; the weights of one query are a distribution over the keys; large scores must not overflow.",
    nudge="np.where chooses between two arrays with a boolean mask; write the softmax yourself, and subtract "
          "each row's maximum first: it leaves the softmax unchanged and prevents overflow.")
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


# ---------------------------------------------------------------- the causal-and-padding mask of a batch (NumPy)
def reference_attention_mask(seq) -> np.ndarray:
    """(B, T) item codes, 0 = padding on the left -> (B, T, T) bool: query t may attend to key s when s <= t and s is
    a real item, and always to itself (so that a padding query has one key instead of a row of -inf)."""
    seq = np.asarray(seq)
    t = seq.shape[1]
    return (np.tril(np.ones((t, t), dtype=bool)) & (seq != 0)[:, None, :]) | np.eye(t, dtype=bool)


def _mask_variants(seq):
    """The masks of the usual mistakes, with the sentence that names each."""
    seq = np.asarray(seq)
    t = seq.shape[1]
    causal, eye, real = np.tril(np.ones((t, t), dtype=bool)), np.eye(t, dtype=bool), seq != 0
    return [
        ((np.triu(np.ones((t, t), dtype=bool)) & real[:, None, :]) | eye,
         "the causal part is transposed: row t (the query) may see columns s <= t, the past, never the future."),
        (np.broadcast_to(causal, (len(seq), t, t)),
         "padding keys are not masked: a real position must not attend to a padding position."),
        ((causal & real[:, :, None]) | eye,
         "you mask padding queries (rows) instead of padding keys (columns): what must be hidden is the padding a "
         "query would read."),
        (causal & real[:, None, :],
         "a padding position has no allowed key at all: its row of scores would be all -inf and the softmax NaN; "
         "every position may always attend to itself."),
        ((np.tril(np.ones((t, t), dtype=bool), -1) & real[:, None, :]),
         "a position must also attend to itself (the diagonal), not only to the strict past."),
        (np.broadcast_to(real[:, None, :] | eye, (len(seq), t, t)),
         "the mask ignores order: a query must not see keys after its own position (the causal part)."),
    ]


@function_exercise(
    "ch4.attention-mask", "The causal and padding mask of a batch", 2, takes=["seq"],
    hint="three rules make one mask: a query never sees later positions (the future), never sees padding keys, and "
         "always sees itself; the mask has one (T, T) matrix per sequence, because padding differs between sequences.",
    nudge="three boolean arrays: a (T, T) lower triangle (np.tril), a (B, 1, T) array of real keys and the (T, "
          "T) identity; & and | broadcast them to (B, T, T).")
def attention_mask_run(fn):
    """``attention_mask(seq) -> (B, T, T)`` bool, for left-padded batches of item codes."""
    rng = np.random.default_rng(21)
    cases = [("a batch of one sequence without padding", np.array([[4, 7, 1, 9]])),
             ("a batch with left padding", np.array([[0, 0, 3, 5, 2], [0, 8, 1, 1, 6], [9, 4, 2, 7, 3]])),
             ("a sequence with one real item", np.array([[0, 0, 0, 0, 5], [0, 0, 2, 3, 4]])),
             ("sequences of length 1", np.array([[3], [8]]))]
    for _ in range(4):
        b, t = int(rng.integers(1, 5)), int(rng.integers(2, 9))
        seq = rng.integers(1, 30, (b, t))
        for row, pad in zip(seq, rng.integers(0, t, b), strict=True):
            row[:pad] = 0
        cases.append((f"a random batch of {b} left-padded sequences of length {t}", seq))
    for description, seq in cases:
        expected = reference_attention_mask(seq)
        got = as_array(fn(seq.copy()))
        if got is None or got.shape != expected.shape:
            shape = None if got is None else got.shape
            return False, (f"for {description} (seq of shape {seq.shape}) the mask should have shape {expected.shape}, "
                           f"one (T, T) matrix per sequence; yours has {shape}.")
        got = got != 0
        if not np.array_equal(got, expected):
            for variant, message in _mask_variants(seq):
                if np.array_equal(got, variant):
                    return False, f"for {description}: {message}"
            return False, f"for {description} the mask has the right shape but wrong entries."
    return True, "correct: each position sees itself and the real items before it, never the future or padding."


# ---------------------------------------------------------------- multi-head causal self-attention (torch, a model)
ATTENTION_SIZES = {"dim": 16, "n_heads": 4, "dropout": 0.0}


def reference_attention(dim: int, n_heads: int, dropout: float = 0.0):
    """Multi-head causal self-attention with the weights of course_utils.models.sasrec.CausalSelfAttention (``qkv``,
    ``out``): forward(x (B, T, dim), padding (B, T) bool) -> (B, T, dim)."""
    from torch import nn

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.n_heads, self.dropout = n_heads, dropout
            self.qkv = nn.Linear(dim, 3 * dim)
            self.out = nn.Linear(dim, dim)

        def forward(self, x, padding):
            return _attend(self, x, padding)

    return Attention()


def _attend(m, x, padding, scale="head", causal="past", pad="keys", split="heads-last", axis=-1, fill="-inf",
            merge="transpose"):
    """The reference's computation with module ``m``'s weights; the keywords select the usual mistakes instead."""
    import torch

    b, t, d = x.shape
    h = m.n_heads
    dh = d // h

    def heads(z):  # (B, T, d) -> (B, h, T, dh)
        return z.view(b, t, h, dh).transpose(1, 2) if split == "heads-last" else z.reshape(b, h, t, dh)

    q, k, v = (heads(z) for z in m.qkv(x).split(d, dim=-1))
    scores = q @ k.transpose(-2, -1)  # (B, h, T, T)
    scores = scores / {"head": math.sqrt(dh), "model": math.sqrt(d), "none": 1.0}[scale]
    ones = torch.ones(t, t, dtype=torch.bool)
    allowed = {"past": ones.tril(), "future": ones.triu(), "none": ones}[causal]
    if pad == "keys":
        allowed = allowed & ~padding[:, None, None, :]
    elif pad == "queries":
        allowed = allowed & ~padding[:, None, :, None]
    allowed = allowed | torch.eye(t, dtype=torch.bool)
    weights = scores.masked_fill(~allowed, float("-inf") if fill == "-inf" else 0.0).softmax(dim=axis)
    weights = torch.nn.functional.dropout(weights, m.dropout, m.training)
    y = weights @ v  # (B, h, T, dh)
    y = y.transpose(1, 2).reshape(b, t, d) if merge == "transpose" else y.reshape(b, t, d)
    return m.out(y)


def _real_rows(inner):
    """The module as SASRec uses it: outputs at padding positions are zeroed after each block, so only real rows
    are compared (a learner may treat padding rows any finite way)."""
    from torch import nn

    class RealRows(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = inner

        def forward(self, x, padding):
            return self.inner(x, padding).masked_fill(padding[..., None], 0.0)

    return RealRows()


def _attention_cases(n_heads: int):
    import torch

    g = torch.Generator().manual_seed(8)
    d = ATTENTION_SIZES["dim"]

    def batch(padding_rows):
        pad = torch.tensor(padding_rows, dtype=torch.bool)
        return torch.randn(*pad.shape, d, generator=g), pad

    def cases():
        yield (f"a batch of 3 left-padded sequences of length 6 ({n_heads} heads)",
               batch([[1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 0]]))
        yield f"a batch of one sequence of length 7, no padding ({n_heads} heads)", batch([[0] * 7])
        yield f"sequences with one real item ({n_heads} heads)", batch([[1, 1, 1, 0], [1, 1, 1, 0]])
        yield f"sequences of length 1 (T=1, {n_heads} heads)", batch([[0], [0], [0]])
        yield (f"a batch of 4 sequences of length 9, padding of 0, 3, 5 and 8 ({n_heads} heads)",
               batch([[0] * 9, [1] * 3 + [0] * 6, [1] * 5 + [0] * 4, [1] * 8 + [0]]))

    return cases


def _like(**mistake):
    """A diagnosis: the learner's real rows equal the reference's computation with ``mistake``."""
    from .harness import tensors_close

    def test(module, ref, inputs):
        x, padding = inputs
        wrong = _attend(ref.inner, x, padding, **mistake).masked_fill(padding[..., None], 0.0)
        return tensors_close(module(x, padding), wrong)

    return test


ATTENTION_DIAGNOSES = (
    (_like(scale="none"), "the scores are not scaled: divide them by the square root of a head's dimension before "
                          "the softmax, or the softmax saturates as the dimension grows."),
    (_like(scale="model"), "the scores are scaled by the square root of the model's dimension: each head works in "
                           "dim / n_heads dimensions, and that is the dimension of its dot products."),
    (_like(causal="future"), "the causal mask is transposed: a query (row) may see keys at or before its position, "
                             "and yours sees the future instead of the past."),
    (_like(causal="none"), "there is no causal mask: position t reads the items after it, the very items it must "
                           "predict."),
    (_like(pad="none"), "padding keys are not masked: a real position attends to padding positions."),
    (_like(pad="queries"), "you mask padding queries instead of padding keys: what must be hidden is the padding a "
                           "query would read (the columns of the scores)."),
    (_like(split="heads-first"), "the heads are split in the wrong order: the last dimension holds each position's "
                                 "features, so it is the one to cut into heads; the head axis moves in front of the "
                                 "positions only after that cut."),
    (_like(merge="reshape"), "the heads are merged without moving the head axis back: the outputs of one position's "
                             "heads must end up side by side, so put the position axis before the head axis again "
                             "before flattening."),
    (_like(axis=-2), "the softmax runs over the queries: each query's weights over the keys (the last axis) must sum "
                     "to 1."),
    (_like(fill="0"), "masked scores are set to 0, which still gives those keys weight after the softmax: a hidden "
                      "key needs a score of minus infinity."),
)


def _raw_problem(answer, ctor_kwargs):
    """A message for mistakes an equivalence check would misname (NaN, tuples), else None; a NotImplementedError
    (the released placeholder) passes through, so that the verdict reads "not attempted"."""
    import torch

    module = _build(type(answer) if isinstance(answer, torch.nn.Module) else answer, ctor_kwargs)
    if not isinstance(module, torch.nn.Module):
        return None
    g = torch.Generator().manual_seed(2)
    x, padding = torch.randn(2, 5, ctor_kwargs["dim"], generator=g), torch.tensor([[1, 1, 1, 0, 0], [0] * 5]).bool()
    module.train(False)
    try:
        out = module(x, padding)
    except NotImplementedError:
        raise
    except Exception:  # the equivalence check reports it with its case
        return None
    if isinstance(out, (tuple, list)):
        return "forward must return the output tensor (B, T, dim) only, not a tuple."
    if isinstance(out, torch.Tensor) and not torch.isfinite(out).all():
        return ("your output holds NaN: a padding position whose keys are all masked has a row of -inf scores, and "
                "the softmax of that row is NaN (which would poison the gradients of the whole model); let every "
                "position attend to itself.")
    return None


def _attention_forward_run(answer):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is fastest, and a busy machine does not slow the check down
    try:
        return _attention_forward_verdict(answer)
    finally:
        torch.set_num_threads(threads)


def _attention_forward_verdict(answer):
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        problem = _raw_problem(answer, ATTENTION_SIZES)
    if problem:
        return False, problem
    if isinstance(answer, torch.nn.Module):
        answer = type(answer)

    def wrap(heads):
        def build(dim, n_heads, dropout):
            return _real_rows(_build(answer, {"dim": dim, "n_heads": n_heads, "dropout": dropout}))

        def ref(dim, n_heads, dropout):
            return _real_rows(reference_attention(dim, n_heads, dropout))

        return build, ref

    build4, ref4 = wrap(4)
    ok, message = equivalent_module_run(ref4, ATTENTION_SIZES, _attention_cases(4), ATTENTION_DIAGNOSES)(build4)
    if not ok:
        return ok, message
    one_head = {**ATTENTION_SIZES, "n_heads": 1}
    ok, message = equivalent_module_run(ref4, one_head, lambda: list(_attention_cases(1)())[:1], ATTENTION_DIAGNOSES)(build4)
    if not ok:
        return ok, message
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        dropped = _build(answer, {**ATTENTION_SIZES, "dropout": 0.5})
        x, padding = torch.randn(2, 6, ATTENTION_SIZES["dim"]), torch.zeros(2, 6, dtype=torch.bool)
        dropped.train(True)
        if torch.equal(dropped(x, padding), dropped(x, padding)):
            return False, ("with dropout=0.5, in training mode, two calls give the same output: apply dropout to the "
                           "attention weights while training (and only then).")
    with torch.random.fork_rng(devices=[]):  # the learning check draws the same weights on every run
        torch.manual_seed(0)
        ok, sentence = sequence_layer_learning(ATTENTION_SIZES["dim"])(_build(answer, {**ATTENTION_SIZES, "n_heads": 2}))
    if not ok:
        return ok, sentence
    return True, ("correct: with the reference's weights your attention gives the same outputs and gradients with 4 "
                  "heads and with 1, on left-padded batches, a batch of one, one real item and T=1. " + sentence)


register(Exercise(
    "ch4.attention-forward", "Multi-head causal self-attention in torch", 3, "model",
    "each head attends on its own slice of the features: cut the features into heads before the scores and put each "
    "position's heads side by side again after; scale by the square root of a head's dimension; a query sees real "
    "keys at or before its position and always itself, and a hidden key needs a score of minus infinity; the "
    "weights of one query form a distribution over the keys.",
    run=_attention_forward_run,
    nudge="four stages, printing the shapes after each. Split: view to (B, T, h, d_head), then swap the T and h "
          "axes. Score: matrix product with the keys' last two axes swapped, divided by the square root of "
          "d_head. Mask: a (T, T) lower triangle, combined with a key mask built from padding (new axes so that "
          "it broadcasts over heads and queries) and the diagonal, then masked_fill. Merge: swap the axes back "
          "before reshaping to (B, T, dim)."))


# ---------------------------------------------------------------- the next-item cross-entropy (torch, a function)
def reference_next_item_loss(h, item_table, targets):
    """The mean over real positions (target > 0) of the cross-entropy of the softmax over items 1..n_items:
    h (B, T, d), item_table (n_items + 1, d) with row 0 for padding, targets (B, T) item codes (0 = none)."""
    real = targets > 0
    scores = h[real] @ item_table[1:].T  # (N, n_items): item code c is column c - 1
    return -scores.log_softmax(-1).gather(1, (targets[real] - 1)[:, None]).mean()


def _loss_variants(h, item_table, targets):
    import torch.nn.functional as F

    real = targets > 0
    n = len(targets[real])
    all_rows = h @ item_table.T  # (B, T, n_items + 1)
    per_position = F.cross_entropy((h @ item_table[1:].T).transpose(1, 2), (targets - 1).clamp(min=0), reduction="none")
    yield (F.cross_entropy(all_rows[real], targets[real]),
           "the padding row of the item table competes as an item: score items 1..n_items only (code c is column c - 1).")
    yield (F.cross_entropy(all_rows.reshape(-1, all_rows.shape[-1]), targets.reshape(-1)),
           "padding positions are trained to predict the padding row: only positions with a next item count.")
    yield ((per_position * real).sum() / real.numel(),
           "the mean runs over every position, padding included: divide by the number of real positions.")
    yield ((per_position * real).sum(),
           "that is a sum over positions: the loss is the mean over the real positions.")
    over_positions = (h @ item_table[1:].T).log_softmax(1).gather(2, (targets - 1).clamp(min=0)[..., None])
    yield (-(over_positions.squeeze(-1) * real).sum() / n,
           "the softmax runs over the positions: it must run over the items (the last axis of the scores).")


@function_exercise(
    "ch4.next-item-loss", "The next-item cross-entropy, padding ignored", 2, takes=["h", "item_table", "targets"],
    hint="a position's scores are the dot products of its hidden state with every real item's embedding (the padding "
         "row is no item); the loss of a position is minus the log of the softmax probability of its true next item; "
         "average over the positions that have a next item only; stay differentiable end to end.",
    nudge="select the positions that have a next item with a boolean mask first (h becomes (N, d)); score them "
          "against the item rows without the padding row, which shifts every code by one; F.cross_entropy takes "
          "raw scores and class indices and already averages. Stay in torch: no numpy, no detaching.")
def next_item_loss_run(fn):
    """``next_item_loss(h, item_table, targets) -> a 0-d tensor``: value and gradients against the reference."""
    import torch

    g = torch.Generator().manual_seed(31)

    def case(b, t, d, n_items, padding):
        h, table = torch.randn(b, t, d, generator=g), torch.randn(n_items + 1, d, generator=g)
        targets = torch.randint(1, n_items + 1, (b, t), generator=g)
        targets[0, -1] = n_items  # the largest code: an off-by-one reads past the table
        for row, pad in enumerate(padding):
            targets[row, :pad] = 0
        return h, table, targets

    cases = [("a batch of 3 left-padded sequences", case(3, 6, 8, 12, [2, 0, 5])),
             ("a batch of one sequence without padding", case(1, 5, 4, 7, [0])),
             ("sequences with one real position", case(2, 4, 8, 9, [3, 3])),
             ("a batch of 5 sequences of length 10, 40 items", case(5, 10, 16, 40, [0, 9, 4, 7, 1]))]
    for description, (h, table, targets) in cases:
        mine_h, mine_t = h.clone().requires_grad_(), table.clone().requires_grad_()
        got = fn(mine_h, mine_t, targets.clone())
        if not isinstance(got, torch.Tensor):
            return False, (f"for {description} your loss is a {type(got).__name__}: return a tensor that autograd can "
                           f"differentiate (no .item() or numpy).")
        if got.numel() != 1:
            return False, f"for {description} your loss has shape {tuple(got.shape)}: one number (the mean) is needed."
        ref_h, ref_t = h.clone().requires_grad_(), table.clone().requires_grad_()
        expected = reference_next_item_loss(ref_h, ref_t, targets)
        if not torch.isfinite(got).all() or not torch.allclose(got.detach().reshape(()), expected.detach(), atol=1e-5):
            with torch.no_grad():
                for wrong, message in _loss_variants(h, table, targets):
                    if torch.isfinite(got).all() and torch.allclose(got.reshape(()), wrong, atol=1e-5):
                        return False, f"for {description}: {message}"
            return False, f"for {description} your loss differs from the cross-entropy of the next item."
        if not got.requires_grad:
            return False, f"for {description} your loss is cut off from autograd: no gradient reaches h or the items."
        got.reshape(()).backward()
        expected.backward()
        for what, mine, ref in (("h", mine_h, ref_h), ("item_table", mine_t, ref_t)):
            if mine.grad is None or not torch.allclose(mine.grad, ref.grad, atol=1e-6):
                return False, (f"for {description} the value is right but the gradient with respect to {what} is not: "
                               f"something is detached or computed outside autograd.")
    return True, ("correct: the right value and gradients on padded batches, a batch of one and sequences with one "
                  "real position.")


# ---------------------------------------------------------------- the hit rate of next-item lists (NumPy, a function)
def _hit_rate(recommended, next_items, k):
    return float(np.mean([nxt in rec[:k] for rec, nxt in zip(recommended, next_items, strict=True)]))


@function_exercise(
    "ch4.hit-rate", "Hit rate of next-item lists", 1, takes=["recommended", "next_items", "k"],
    hint="a user counts as a hit when the true next item is among the first k of their list (not anywhere in it, and "
         "not the first k + 1); the hit rate is the share of users with a hit, not a count and not divided by k.",
    nudge="zip the lists with the next items; a hit is a membership test on a slice; the mean of booleans is a "
          "share.")
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
