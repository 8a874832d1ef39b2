"""Chapter 5, LSTMs, attention and BERT4Rec: the cloze masking (numpy) and the cloze loss (torch), the shapes through an
LSTM + attention block, the LSTM + multi-head attention encoder itself (a torch module checked against a reference
written here), accuracy@k from logits, and an LSTM's parameter count (checked against torch.nn.LSTM itself).
"""
import math

import numpy as np

from .harness import (as_array, as_number, equivalent_module_run, function_exercise, next_item_learning,
                      number_cases_verdict, tensors_close)
from .core import Exercise, register


def _cloze(window, draws, p, token):
    window, draws = np.asarray(window), np.asarray(draws)
    masked = (draws < p) & (window != 0)
    if not masked.any() and window[-1] != 0:
        masked[-1] = True
    return np.where(masked, token, window), np.where(masked, window, 0)


@function_exercise(
    "ch5.cloze", "Masking a window for the cloze task", 2, takes=["window", "draws", "mask_prob", "mask_token"],
    hint="a position is hidden only when two things hold at once: its draw falls below the masking probability and it "
         "holds a real item (padding is never hidden). Every window must end up with at least one hidden item, and "
         "the labels keep what was hidden, nothing else.",
    nudge="build one boolean array for 'hidden' (an element-wise AND of two comparisons), patch it when it is all "
          "False and the last item is real, then derive both outputs from it with numpy's where.")
def cloze_run(fn):
    """``mask_items(window, draws, mask_prob, mask_token) -> (inputs, labels)``: BERT4Rec's masking, made
    deterministic by giving the random draws (one uniform number per position)."""
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
        inputs, labels = (as_array(x) for x in out)
        exp_inputs, exp_labels = _cloze(window, draws, p, token)
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


# ---------------------------------------------------------------- the cloze loss (torch)
def reference_cloze_loss(hidden, labels, item_embeddings):
    """BERT4Rec's cloze loss, written out: at every masked position (label > 0) the hidden state scores the real items
    (rows 1..n_items of the shared embedding table, by dot product), and the loss is the mean over masked positions
    of -log softmax(scores)[label]."""
    masked = labels > 0
    scores = hidden[masked] @ item_embeddings[1:-1].T  # (N, n_items): column j scores item code j + 1
    log_p = scores - scores.logsumexp(dim=1, keepdim=True)
    return -log_p.gather(1, (labels[masked] - 1)[:, None]).mean()


def _cloze_loss_cases():
    """(description, hidden, labels, item_embeddings): a uniform case, then seeded random ones (every item code,
    the last included, appears as a label somewhere)."""
    import torch

    g = torch.Generator().manual_seed(55)
    n = 7
    labels = torch.tensor([[0, 0, 3, 0], [0, 5, 0, 0]])
    yield ("hidden states of zeros (every item scores 0)", torch.zeros(2, 4, 3), labels,
           torch.randn(n + 2, 3, generator=g))
    yield ("one masked position, the last item code", torch.randn(1, 5, 4, generator=g), torch.tensor([[0, 0, 0, 0, n]]),
           torch.randn(n + 2, 4, generator=g))
    for i in range(12):
        b, t, d, n = (int(torch.randint(lo, hi, (1,), generator=g)) for lo, hi in [(1, 5), (1, 9), (2, 9), (3, 40)])
        labels = torch.randint(1, n + 1, (b, t), generator=g)
        labels = labels.masked_fill(torch.rand(b, t, generator=g) < 0.6, 0)
        labels[0, -1] = n if i % 2 else 1  # at least one masked position; both ends of the code range appear
        yield (f"a random batch (B={b}, T={t}, {n} items)", torch.randn(b, t, d, generator=g) * 2, labels,
               torch.randn(n + 2, d, generator=g))


def _cloze_variant(hidden, labels, item_embeddings, rows=slice(1, -1), shift=1, over_all_positions=False, dim=1):
    """The plausible mistakes, to name them: another slice of the table, another label shift, the mean over every
    position, the softmax over the other axis."""
    masked = labels > 0
    scores = hidden[masked] @ item_embeddings[rows].T
    log_p = scores - scores.logsumexp(dim=dim, keepdim=True)
    nll = -log_p.gather(1, (labels[masked] - shift)[:, None])
    return nll.sum() / labels.numel() if over_all_positions else nll.mean()


_CLOZE_DIAGNOSES = (
    (dict(over_all_positions=True), "you average over every position of the batch: the loss is the mean over the masked "
                                    "positions only (an unmasked position is not a prediction at all)."),
    (dict(rows=slice(0, -2)), "off by one: item code c has row c of the embedding table (row 0 is padding), so the "
                              "scores of items 1..n_items come from rows 1..n_items."),
    (dict(rows=slice(None), shift=0), "your softmax runs over every row of the table, padding and [MASK] included: only "
                                      "the real items (rows 1..n_items) are candidates."),
    (dict(rows=slice(0, -1), shift=0), "your softmax includes the padding row (row 0): only the real items (rows "
                                       "1..n_items) are candidates."),
    (dict(dim=0), "your softmax runs over the masked positions instead of over the items: each position's "
                  "probabilities are a distribution over the catalogue."),
)


def _cloze_loss_diagnosis(fn, description, hidden, labels, table, got) -> str:
    """The message for a wrong value: the mistake it matches, if a known one."""
    import torch

    with torch.no_grad():
        varied = hidden.clone()
        varied[labels == 0] += 1.0
        try:
            moved = not torch.allclose(fn(varied, labels.clone(), table.clone()), got, atol=1e-6)
        except Exception:  # noqa: BLE001 - only a diagnosis
            moved = False
        if moved:
            return (f"for {description} your loss changes when only unmasked positions change: a position with label 0 "
                    f"was not hidden and must cost nothing.")
        for variant, message in _CLOZE_DIAGNOSES:
            try:
                if torch.allclose(got, _cloze_variant(hidden, labels, table, **variant), atol=1e-5):
                    return message
            except (IndexError, RuntimeError):
                continue
    return f"for {description} your loss differs from the cloze loss."


@function_exercise(
    "ch5.cloze-loss", "BERT4Rec's cloze loss in torch", 2, takes=["hidden", "labels", "item_embeddings"],
    hint="only the positions that were hidden are predictions: each one is a classification over the real items (not "
         "padding, not the [MASK] token), scored by the same embedding table that embeds the inputs, and the loss is "
         "the average of their cross-entropies. Mind which row of the table belongs to which item code.",
    nudge="gather the masked positions' hidden states, score them against the item rows only (which rows of the "
          "table are those?), and use torch's cross-entropy; mind that its classes count from 0.")
def cloze_loss_run(fn):
    """``cloze_loss(hidden, labels, item_embeddings) -> scalar tensor``: hidden (B, T, D), labels (B, T) the hidden
    item's code at masked positions and 0 elsewhere, item_embeddings (n_items + 2, D) the shared table (row 0 padding,
    rows 1..n_items the items, row n_items + 1 [MASK]). Values and gradients are compared with the reference."""
    import torch

    cases = list(_cloze_loss_cases())
    for description, hidden, labels, table in cases:  # the values first: a wrong value names its mistake
        got = fn(hidden.clone(), labels.clone(), table.clone())
        expected = reference_cloze_loss(hidden, labels, table)
        if not isinstance(got, torch.Tensor) or got.dim() != 0:
            return False, (f"return the loss as a 0-d torch tensor (the mean over masked positions), so that "
                           f"backward() can run; yours is {type(got).__name__}"
                           f"{' of shape ' + str(tuple(got.shape)) if isinstance(got, torch.Tensor) else ''}.")
        if not torch.isfinite(got):
            return False, f"for {description} your loss is not finite: take the softmax over items, in log space."
        if not torch.allclose(got.detach(), expected, rtol=1e-5, atol=1e-5):
            return False, _cloze_loss_diagnosis(fn, description, hidden, labels, table, got.detach())
    for description, hidden, labels, table in cases:  # then the gradients, and the inputs left as they were
        h, e = hidden.clone().requires_grad_(True), table.clone().requires_grad_(True)
        h_ref, e_ref = hidden.clone().requires_grad_(True), table.clone().requires_grad_(True)
        got = fn(h, labels.clone(), e)
        expected = reference_cloze_loss(h_ref, labels, e_ref)
        if not got.requires_grad:
            return False, ("your loss is cut off from autograd (a .detach(), .item() or numpy step): training could "
                           "not move the model.")
        got.backward()
        expected.backward()
        for name, mine, ref in [("the hidden states", h.grad, h_ref.grad), ("the embedding table", e.grad, e_ref.grad)]:
            if mine is None or not torch.allclose(mine, ref, atol=1e-6):
                return False, (f"for {description} the loss is right but its gradient with respect to {name} is not: "
                               f"something is detached or changed in place.")
        if not torch.equal(h.detach(), hidden) or not torch.equal(e.detach(), table):
            return False, "your function changed its inputs in place: compute new tensors instead."
    return True, ("correct: the cross-entropy of the hidden items over the real items, scored by the shared embedding "
                  "table, averaged over the masked positions only; values and gradients match on every case.")


# ---------------------------------------------------------------- the shapes through the block (numpy)
@function_exercise(
    "ch5.shapes", "The shapes through an LSTM + MHA block", 1,
    takes=["batch", "seq_len", "emb_dim", "hidden_dim", "n_heads", "n_items"],
    hint="follow one batch through the block: which layer changes the width of a position's vector, how the heads "
         "share the LSTM's width between them, what one attention weight connects (a query position and a key "
         "position, in one head), and what the output layer scores.",
    nudge="the heads split the last dimension, and the head axis comes right after the batch axis (so that each head "
          "is a batch of (positions x positions) matrix products); the output layer scores every movie at every "
          "position.")
def lstm_mha_shapes_run(fn):
    """``lstm_mha_shapes(batch, seq_len, emb_dim, hidden_dim, n_heads, n_items) -> dict`` of tensor shapes."""
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


# ---------------------------------------------------------------- the LSTM + multi-head attention encoder (torch)
ENCODER_SIZES = {"n_items": 30, "dim": 16, "hidden_dim": 16, "n_layers": 1, "n_heads": 4, "dropout": 0.1,
                 "attention_dropout": 0.0}


def reference_lstm_attention(n_items: int, dim: int = 32, hidden_dim: int = 64, n_layers: int = 1, n_heads: int = 2,
                             dropout: float = 0.1, attention_dropout: float = 0.0):
    """The LSTM + multi-head attention encoder as the exercise's __init__ defines it (the weights of the course's
    LSTMAttentionEncoder, its attention's ``qkv`` and ``out`` at the top level):

        e = Dropout(item(seq));  h = Dropout(LSTM(e))                               (B, T, hidden)
        a = out(multi-head attention of h over h: causal, padding keys masked, each position sees itself)
        return LayerNorm(h + Dropout(a))                                            (B, T, hidden)
    """
    from torch import nn

    class LSTMAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.n_heads = n_heads
            self.item = nn.Embedding(n_items + 2, dim, padding_idx=0)
            self.drop = nn.Dropout(dropout)
            self.head = nn.Linear(hidden_dim, n_items)
            self.lstm = nn.LSTM(dim, hidden_dim, n_layers, batch_first=True, dropout=dropout if n_layers > 1 else 0.0)
            self.qkv = nn.Linear(hidden_dim, 3 * hidden_dim)
            self.out = nn.Linear(hidden_dim, hidden_dim)
            self.norm = nn.LayerNorm(hidden_dim)

        def item_scores(self, h):
            return self.head(h)

        def forward(self, seq):
            return self.encode(seq)

        def encode(self, seq):
            return _encode(self, seq)

    return LSTMAttention()


def _encode(m, seq, causal=True, mask_padding=True, source="lstm", residual=True, batch_first=True, scale=True,
            heads=None, merge=True):
    """The reference forward with weights ``m``; the keywords switch on one plausible mistake each (to name it)."""
    import torch

    e = m.drop(m.item(seq))
    if batch_first:
        h, _ = m.lstm(e)
    else:  # the LSTM walks along the batch axis
        h, _ = m.lstm(e.transpose(0, 1))
        h = h.transpose(0, 1)
    h = m.drop(h)
    x = e if source == "embedding" else h
    b, t, d = x.shape
    n = heads or m.n_heads
    q, k, v = (z.reshape(b, t, n, d // n).transpose(1, 2) for z in m.qkv(x).split(d, dim=-1))
    scores = q @ k.transpose(-2, -1) / (math.sqrt(d // n) if scale else 1.0)  # (B, heads, T, T)
    allowed = torch.ones(b, 1, t, t, dtype=torch.bool)
    if causal:
        allowed = allowed & torch.ones(t, t, dtype=torch.bool).tril()
    if mask_padding:
        allowed = allowed & (seq != 0)[:, None, None, :]
    allowed = allowed | torch.eye(t, dtype=torch.bool)  # a padding query keeps one key: itself
    weights = scores.masked_fill(~allowed, float("-inf")).softmax(dim=-1)
    y = weights @ v  # (B, heads, T, d_head)
    a = m.out((y.transpose(1, 2) if merge else y).reshape(b, t, d))  # merge=False: heads and positions mixed up
    return m.norm(h + m.drop(a)) if residual else m.norm(m.drop(a))


def _encoder_cases():
    import torch

    g = torch.Generator().manual_seed(8)
    n = ENCODER_SIZES["n_items"]

    def items(*shape):
        return torch.randint(1, n + 1, shape, generator=g)

    mixed = items(5, 8)
    for row, pad in enumerate([0, 3, 6, 1, 5]):
        mixed[row, :pad] = 0
    yield "a batch of 5 left-padded sequences of 8 positions", (mixed,)
    one = items(1, 6)
    one[0, :2] = 0
    yield "a batch of one left-padded sequence", (one,)
    single = items(3, 7)
    single[0, :6] = 0
    single[2, :3] = 0
    yield "a batch holding a sequence of one real item", (single,)
    yield "a batch of 4 sequences of 12 items, no padding", (items(4, 12),)


def _reads_the_future(module, ref, inputs) -> bool:
    """Whether changing the last item moves an earlier position's output (causality broken)."""
    (seq,) = inputs
    changed = seq.clone()
    changed[:, -1] = changed[:, -1] % ENCODER_SIZES["n_items"] + 1
    return not tensors_close(module(seq)[:, :-1], module(changed)[:, :-1])


def _is(**mistake):
    return lambda module, ref, inputs: tensors_close(module(*inputs), _encode(ref, inputs[0], **mistake))


ENCODER_DIAGNOSES = (
    (lambda module, ref, inputs: not module(*inputs).isfinite().all(),
     "your output holds NaN: a padding position of a left-padded sequence has no real item at or before it, so all its "
     "keys are masked. The course lets every position attend to itself as well."),
    (_is(merge=False), "the heads are merged back in the wrong order: bring the head axis next to the per-head "
                       "dimensions (positions first) before joining them into hidden_dim, or positions get mixed up."),
    (_reads_the_future, "an earlier position's output changes when a later item changes: the attention reads the "
                        "future. A position may attend only to itself and to earlier positions (the causal mask)."),
    (_is(mask_padding=False), "your attention reads padding positions: a key that holds padding must get no weight "
                              "(mask the keys where the sequence is 0)."),
    (_is(source="embedding"), "your attention reads the item embeddings: in this model it runs over the LSTM's "
                              "states, so that each position looks back at what the LSTM made of the history."),
    (_is(residual=False), "the residual connection is missing: layer norm normalizes the LSTM's states plus the "
                          "attention's output, not the attention's output alone."),
    (_is(batch_first=False), "your LSTM runs along the batch axis (it reads the sequences of a batch as one long time "
                             "series): the course's tensors are batch first, (B, T, features)."),
    (_is(scale=False), "the attention scores are not scaled: divide the dot products by the square root of the "
                       "dimension of one head."),
    (_is(heads=1), "your attention uses one head of the full width: split queries, keys and values into n_heads heads "
                   "of hidden_dim // n_heads dimensions each, and merge them back before the output projection."),
)

_encoder_equivalence = equivalent_module_run(
    reference_lstm_attention, ENCODER_SIZES, _encoder_cases, ENCODER_DIAGNOSES,
    "correct: with the reference's weights your encoder gives the same hidden states and gradients on left-padded "
    "sequences, a batch of one, a sequence of one real item and full sequences (4 heads), dropout included.",
    training=next_item_learning(ENCODER_SIZES["n_items"]))


def _encoder_run(answer):
    """Not attempted while the forward still raises NotImplementedError; then dropout in training mode, then the
    harness's equivalence (outputs, gradients) and training checks."""
    import torch

    from .harness import _build

    module = _build(type(answer) if isinstance(answer, torch.nn.Module) else answer, ENCODER_SIZES)
    if isinstance(module, torch.nn.Module):
        ref = reference_lstm_attention(**ENCODER_SIZES)
        try:
            module.load_state_dict(ref.state_dict())
        except RuntimeError:
            return _encoder_equivalence(answer)  # the harness names the weights that differ
        seq = next(_encoder_cases())[1][0]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            try:
                out = module(seq)  # NotImplementedError: not attempted yet
            except NotImplementedError:
                raise
            except Exception:  # noqa: BLE001 - the harness reports it with the case that raised it
                return _encoder_equivalence(answer)
            torch.manual_seed(0)
            expected = ref(seq)
        ok, message = _encoder_equivalence(answer)
        if ok and not (isinstance(out, torch.Tensor) and tensors_close(out, expected)):
            return False, ("in evaluation mode your encoder is right, but in training mode its dropout differs from the "
                           "course's: drop out the item embeddings, the LSTM's states and the attention's output (before "
                           "the residual sum), in that order, with the module's dropout layer.")
        return ok, message
    return _encoder_equivalence(answer)


register(Exercise(
    "ch5.lstm-mha-encoder", "The LSTM + multi-head attention encoder", 3, "model",
    "the attention runs over the LSTM's states with several heads, each position may read only itself and earlier "
    "real items (never the future, never padding), and the attention's output is added back to the states it read "
    "before the layer norm. The tensors are batch first.",
    run=_encoder_run,
    nudge="split the qkv projection into three tensors of hidden_dim columns, reshape each to (B, heads, T, "
          "hidden_dim // heads), build one boolean mask from a lower-triangular matrix (torch.tril) and the non-padding "
          "keys, allow the diagonal too, and fill the forbidden scores with -inf before the softmax over the keys."))


# ---------------------------------------------------------------- parameter count, accuracy (numpy)
@function_exercise(
    "ch5.lstm-params", "Counting an LSTM's parameters", 2, takes=["input_dim", "hidden_dim"],
    hint="an LSTM has four gates, and each gate is a linear map of two things (the current input and the previous "
         "state) plus a bias; PyTorch keeps a separate bias for each of the two maps.",
    nudge="read the gate equations of torch.nn.LSTM's documentation: list the weight matrices and bias vectors of "
          "one gate with their shapes (which sizes do they map between?), then count the gates.")
def lstm_parameters_run(fn):
    """``lstm_parameter_count(input_dim, hidden_dim) -> int``, checked against torch.nn.LSTM."""
    import torch

    for i, h in [(32, 64), (1, 1), (10, 3), (64, 32), (7, 100)]:
        expected = sum(p.numel() for p in torch.nn.LSTM(i, h).parameters())
        got = as_number(fn(i, h))
        if got != expected:
            if got == 4 * h * (i + h) + 4 * h:
                return False, f"for input_dim={i}, hidden_dim={h}: PyTorch's LSTM has two bias vectors per gate (b_ih and b_hh)."
            if got is not None and got * 4 == expected - 4 * h or got == h * (i + h) + 2 * h:
                return False, f"for input_dim={i}, hidden_dim={h}: an LSTM has 4 gates (input, forget, cell, output), each with its own weights."
            if got == 4 * h * i + 8 * h:
                return False, (f"for input_dim={i}, hidden_dim={h}: each gate also reads the previous state, through its "
                               f"own hidden x hidden matrix.")
            return False, f"for input_dim={i}, hidden_dim={h} yours gives {got!r}: count W_ih, W_hh and both biases of the 4 gates."
    return True, "correct: 4 gates x (W_ih: hidden x input, W_hh: hidden x hidden, two biases of size hidden)."


def _accuracy_at_k(logits, targets, k):
    target = logits[np.arange(len(targets)), targets]
    return float(np.mean((logits >= target[:, None]).sum(1) - 1 < k))  # fewer than k OTHER logits at least as high


@function_exercise(
    "ch5.accuracy", "Accuracy@k from logits", 1, takes=["logits", "targets", "k"],
    hint="a row's target is in the top k exactly when fewer than k OTHER items of that row score at least as high as "
         "it (ties count against the model, as in the chapter's evaluation); the answer is the share of rows where "
         "that holds.",
    nudge="no sorting is needed: get each row's target score (numpy's fancy indexing takes one element per row), let "
          "broadcasting compare it with its whole row, and count; mind that the target is part of its own row.")
def accuracy_at_k_run(fn):
    """``accuracy_at_k(logits, targets, k) -> float``: share of rows whose target is among the k largest logits."""
    properties = [("the target has the largest logit: 1", (np.array([[0.1, 3.0, 0.2]]), np.array([1]), 1), 1.0),
                  ("the target is second, k=1: 0", (np.array([[0.1, 3.0, 2.0]]), np.array([2]), 1), 0.0),
                  ("the target is second, k=2: 1", (np.array([[0.1, 3.0, 2.0]]), np.array([2]), 2), 1.0),
                  ("a mean over rows", (np.array([[1.0, 0.0], [1.0, 0.0]]), np.array([0, 1]), 1), 0.5),
                  ("a tie counts against the target, k=1: 0", (np.array([[1.0, 2.0, 2.0]]), np.array([1]), 1), 0.0),
                  ("tied with one other, k=2: 1", (np.array([[1.0, 2.0, 2.0]]), np.array([1]), 2), 1.0)]
    rng = np.random.default_rng(17)
    hidden = []
    for _ in range(20):
        n, m, k = int(rng.integers(1, 40)), int(rng.integers(2, 300)), int(rng.integers(1, 20))
        hidden.append((f"{n} rows, {m} items, k={k}", (rng.normal(size=(n, m)), rng.integers(0, m, n), k)))
    for _ in range(5):  # integer scores: many ties
        n, m, k = int(rng.integers(1, 40)), int(rng.integers(2, 300)), int(rng.integers(1, 20))
        hidden.append((f"{n} rows, {m} items with tied scores, k={k}",
                       (rng.integers(0, 4, size=(n, m)).astype(float), rng.integers(0, m, n), k)))
    return number_cases_verdict(fn, properties, hidden, _accuracy_at_k, "accuracy_at_k",
                                "correct: accuracy@k (HR@k of the next item) from raw logits, without sorting the whole catalogue.")
