"""Chapter 4, SASRec (course_utils/checks/ch4.py)."""
import numpy as np


def _attention(Q, K, V, mask):
    scores = Q @ K.T / np.sqrt(Q.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    return weights @ V, weights


def _attention_own_causal_mask(Q, K, V, mask):  # ignores the mask it is given and applies np.tril
    return _attention(Q, K, V, np.tril(np.ones((len(Q), len(K)), dtype=bool)))


def _attention_naive_exp(Q, K, V, mask):  # no row maximum subtracted: large scores overflow
    scores = Q @ K.T / np.sqrt(Q.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    with np.errstate(over="ignore", invalid="ignore"):  # inf / inf: the NaN the checker must catch
        weights = np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)
    return weights @ V, weights


def _attention_mask_after_softmax(Q, K, V, mask):  # zeroes weights after the softmax: rows no longer sum to 1
    _, weights = _attention(Q, K, V, None)
    weights = weights if mask is None else weights * mask
    return weights @ V, weights


def _attention_wrong_axis(Q, K, V, mask):  # softmax over the queries instead of the keys
    scores = Q @ K.T / np.sqrt(Q.shape[-1])
    scores = scores if mask is None else np.where(mask, scores, -np.inf)
    weights = np.exp(scores - scores.max(0, keepdims=True))
    weights = weights / weights.sum(0, keepdims=True)
    return weights @ V, weights


def _training_pair(history, max_len):
    window = history[-(max_len + 1):]
    pad = [0] * (max_len - len(window) + 1)
    return pad + window[:-1], pad + window[1:]


REFERENCE = {
    "ch4.causal-mask": lambda n: np.tril(np.ones((n, n), dtype=bool)),
    "ch4.attention": _attention,
    "ch4.training-sequence": _training_pair,
    "ch4.hit-rate": lambda recommended, next_items, k: float(np.mean([n in r[:k] for r, n in zip(recommended, next_items, strict=True)])),
}
WRONG = {
    "ch4.causal-mask": [lambda n: np.triu(np.ones((n, n))), lambda n: np.tril(np.ones((n, n)), -1)],
    "ch4.attention": [lambda Q, K, V, mask: _attention(Q * np.sqrt(Q.shape[-1]), K, V, mask),  # no scaling
                      lambda Q, K, V, mask: _attention(Q, K, V, None),  # ignores the mask
                      _attention_own_causal_mask, _attention_naive_exp, _attention_mask_after_softmax,
                      _attention_wrong_axis],
    "ch4.training-sequence": [lambda history, max_len: (history[:max_len], history[1:max_len + 1]),
                              lambda history, max_len: _training_pair(history, max_len)[::-1]],
    "ch4.hit-rate": [lambda recommended, next_items, k: float(np.mean([n in r for r, n in zip(recommended, next_items, strict=True)])),
                     lambda recommended, next_items, k: sum(n in r[:k] for r, n in zip(recommended, next_items, strict=True))],
}
