"""Chapter 5, LSTMs, attention and BERT4Rec: the cloze masking, the shapes through an LSTM + attention block,
accuracy@k from logits, and an LSTM's parameter count (checked against torch.nn.LSTM itself).
"""
import numpy as np

from .harness import as_array, as_number, function_exercise, number_cases_verdict


def _cloze(window, draws, p, token):
    window, draws = np.asarray(window), np.asarray(draws)
    masked = (draws < p) & (window != 0)
    if not masked.any() and window[-1] != 0:
        masked[-1] = True
    return np.where(masked, token, window), np.where(masked, window, 0)


@function_exercise(
    "ch5.cloze", "Masking a window for the cloze task", 2, takes=["window", "draws", "mask_prob", "mask_token"],
    hint="masked = (draws < mask_prob) & (window != 0); if nothing is masked and the last item is real, mask the "
         "last one; inputs = mask_token where masked, else the window; labels = the window where masked, else 0.")
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


@function_exercise(
    "ch5.shapes", "The shapes through an LSTM + MHA block", 1,
    takes=["batch", "seq_len", "emb_dim", "hidden_dim", "n_heads", "n_items"],
    hint="the embedding adds emb_dim, the LSTM turns it into hidden_dim, each head gets hidden_dim // n_heads "
         "dimensions and a (seq_len, seq_len) matrix of weights, the output layer maps hidden_dim to n_items.")
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


def _accuracy_at_k(logits, targets, k):
    target = logits[np.arange(len(targets)), targets]
    return float(np.mean((logits > target[:, None]).sum(1) < k))  # fewer than k logits strictly above the target's


@function_exercise(
    "ch5.accuracy", "Accuracy@k from logits", 1, takes=["logits", "targets", "k"],
    hint="the target's logit is logits[row, target]; the target is in the top k when fewer than k logits of its row "
         "are strictly larger; average over rows.")
def accuracy_at_k_run(fn):
    """``accuracy_at_k(logits, targets, k) -> float``: share of rows whose target is among the k largest logits."""
    properties = [("the target has the largest logit: 1", (np.array([[0.1, 3.0, 0.2]]), np.array([1]), 1), 1.0),
                  ("the target is second, k=1: 0", (np.array([[0.1, 3.0, 2.0]]), np.array([2]), 1), 0.0),
                  ("the target is second, k=2: 1", (np.array([[0.1, 3.0, 2.0]]), np.array([2]), 2), 1.0),
                  ("a mean over rows", (np.array([[1.0, 0.0], [1.0, 0.0]]), np.array([0, 1]), 1), 0.5)]
    rng = np.random.default_rng(17)
    hidden = []
    for _ in range(20):
        n, m, k = int(rng.integers(1, 40)), int(rng.integers(2, 300)), int(rng.integers(1, 20))
        hidden.append((f"{n} rows, {m} items, k={k}", (rng.normal(size=(n, m)), rng.integers(0, m, n), k)))
    return number_cases_verdict(fn, properties, hidden, _accuracy_at_k, "accuracy_at_k",
                                "correct: accuracy@k (HR@k of the next item) from raw logits, without sorting the whole catalogue.")


@function_exercise(
    "ch5.lstm-params", "Counting an LSTM's parameters", 2, takes=["input_dim", "hidden_dim"],
    hint="each of the 4 gates has W_ih (hidden x input), W_hh (hidden x hidden) and, in PyTorch, two bias vectors "
         "b_ih and b_hh of size hidden.")
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
            return False, f"for input_dim={i}, hidden_dim={h} yours gives {got!r}: count W_ih, W_hh and both biases of the 4 gates."
    return True, "correct: 4 gates x (W_ih: hidden x input, W_hh: hidden x hidden, two biases of size hidden)."
