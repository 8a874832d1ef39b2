"""Chapter 5, LSTMs, attention and BERT4Rec (course_utils/checks/ch5.py)."""
import numpy as np


def _cloze(window, draws, mask_prob, mask_token, pad=False, force=True):
    window, draws = np.asarray(window), np.asarray(draws)
    masked = (draws < mask_prob) & ((window != 0) | pad)
    if force and not masked.any() and window[-1] != 0:
        masked[-1] = True
    return np.where(masked, mask_token, window), np.where(masked, window, 0)


def _shapes(batch, seq_len, emb_dim, hidden_dim, n_heads, n_items):
    return {"embedding": (batch, seq_len, emb_dim), "lstm": (batch, seq_len, hidden_dim),
            "query_per_head": (batch, n_heads, seq_len, hidden_dim // n_heads),
            "attention_weights": (batch, n_heads, seq_len, seq_len), "output": (batch, seq_len, hidden_dim),
            "scores": (batch, seq_len, n_items)}


REFERENCE = {
    "ch5.cloze": _cloze,
    "ch5.shapes": _shapes,
    "ch5.accuracy": lambda logits, targets, k: float(np.mean(
        (logits > logits[np.arange(len(targets)), targets][:, None]).sum(1) < k)),
    "ch5.lstm-params": lambda input_dim, hidden_dim: 4 * hidden_dim * (input_dim + hidden_dim) + 8 * hidden_dim,
}
WRONG = {
    "ch5.cloze": [lambda window, draws, mask_prob, mask_token: _cloze(window, draws, mask_prob, mask_token, pad=True),
                  lambda window, draws, mask_prob, mask_token: _cloze(window, draws, mask_prob, mask_token, force=False),
                  lambda window, draws, mask_prob, mask_token: _cloze(window, draws, mask_prob, mask_token)[::-1]],
    "ch5.shapes": [lambda *a: {**_shapes(*a), "attention_weights": (a[0], a[1], a[1])},  # forgets the heads
                   lambda *a: {**_shapes(*a), "query_per_head": (a[0], a[4], a[1], a[3])}],  # full width per head
    "ch5.accuracy": [lambda logits, targets, k: float(np.mean(
                         (logits >= logits[np.arange(len(targets)), targets][:, None]).sum(1) < k)),  # counts itself
                     lambda logits, targets, k: float(np.mean(np.argmax(logits, 1) == targets))],  # ignores k
    "ch5.lstm-params": [lambda input_dim, hidden_dim: 4 * hidden_dim * (input_dim + hidden_dim) + 4 * hidden_dim,
                        lambda input_dim, hidden_dim: hidden_dim * (input_dim + hidden_dim) + 2 * hidden_dim],
}
