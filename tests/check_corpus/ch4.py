"""Chapter 4, SASRec (course_utils/checks/ch4.py)."""
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


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


def _training_pair_right_padded(history, max_len):  # zeros after the items: the last column is no longer the latest
    window = history[-(max_len + 1):]
    pad = [0] * (max_len - len(window) + 1)
    return window[:-1] + pad, window[1:] + pad


def _training_pair_short_window(history, max_len):  # the last max_len items: one input too few
    window = history[-max_len:]
    pad = [0] * (max_len - len(window) + 1)
    return pad + window[:-1], pad + window[1:]


def _training_pair_unshifted(history, max_len):  # targets equal to the inputs: predicts the current item
    inputs, _ = _training_pair(history, max_len)
    return inputs, list(inputs)


# ---------------------------------------------------------------- the mask of a batch
def _mask(seq):
    t = seq.shape[1]
    return (np.tril(np.ones((t, t), dtype=bool)) & (seq != 0)[:, None, :]) | np.eye(t, dtype=bool)


def _mask_causal_only(seq):  # padding ignored
    t = seq.shape[1]
    return np.broadcast_to(np.tril(np.ones((t, t), dtype=bool)), (len(seq), t, t))


def _mask_transposed(seq):  # the future instead of the past
    t = seq.shape[1]
    return (np.triu(np.ones((t, t), dtype=bool)) & (seq != 0)[:, None, :]) | np.eye(t, dtype=bool)


def _mask_padding_queries(seq):  # hides padding rows (queries) instead of padding columns (keys)
    t = seq.shape[1]
    return (np.tril(np.ones((t, t), dtype=bool)) & (seq != 0)[:, :, None]) | np.eye(t, dtype=bool)


def _mask_no_diagonal(seq):  # a padding query keeps no key at all
    t = seq.shape[1]
    return np.tril(np.ones((t, t), dtype=bool)) & (seq != 0)[:, None, :]


def _mask_one_for_all(seq):  # one (T, T) mask from the first sequence, for the whole batch
    return _mask(seq)[0]


# ---------------------------------------------------------------- multi-head causal self-attention in torch
class Attention(nn.Module):
    """The right answer: the notebook's __init__ and a correct forward."""

    def __init__(self, dim, n_heads, dropout):
        super().__init__()
        self.n_heads, self.dropout = n_heads, dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def split(self, z):  # (B, T, dim) -> (B, heads, T, d_head)
        b, t, d = z.shape
        return z.view(b, t, self.n_heads, d // self.n_heads).transpose(1, 2)

    def merge(self, y):  # (B, heads, T, d_head) -> (B, T, dim)
        b, h, t, dh = y.shape
        return y.transpose(1, 2).reshape(b, t, h * dh)

    def scale(self, q):
        return math.sqrt(q.shape[-1])

    def allowed(self, padding):  # (B, 1, T, T)
        t = padding.shape[1]
        causal = torch.ones(t, t, dtype=torch.bool).tril()
        return (causal & ~padding[:, None, None, :]) | torch.eye(t, dtype=torch.bool)

    def weights(self, scores, allowed):
        return scores.masked_fill(~allowed, float("-inf")).softmax(dim=-1)

    def forward(self, x, padding):
        q, k, v = (self.split(z) for z in self.qkv(x).split(x.shape[-1], dim=-1))
        scores = q @ k.transpose(-2, -1) / self.scale(q)
        weights = F.dropout(self.weights(scores, self.allowed(padding)), self.dropout, self.training)
        return self.out(self.merge(weights @ v))


class AttentionLargeNegative(Attention):  # -1e9 instead of -inf: the same weights, also right
    def weights(self, scores, allowed):
        return scores.masked_fill(~allowed, -1e9).softmax(dim=-1)


class AttentionNoScale(Attention):
    def scale(self, q):
        return 1.0


class AttentionModelScale(Attention):  # sqrt(dim) instead of sqrt(d_head)
    def scale(self, q):
        return math.sqrt(q.shape[-1] * self.n_heads)


class AttentionFutureVisible(Attention):  # the causal mask transposed
    def allowed(self, padding):
        t = padding.shape[1]
        return (torch.ones(t, t, dtype=torch.bool).triu() & ~padding[:, None, None, :]) | torch.eye(t, dtype=torch.bool)


class AttentionPaddingVisible(Attention):  # padding keys not masked
    def allowed(self, padding):
        return torch.ones(padding.shape[1], padding.shape[1], dtype=torch.bool).tril()


class AttentionHeadsFirst(Attention):  # view(B, H, T, d) instead of view(B, T, H, d).transpose
    def split(self, z):
        b, t, d = z.shape
        return z.reshape(b, self.n_heads, t, d // self.n_heads)


class AttentionMergeNoTranspose(Attention):  # (B, H, T, dh) flattened as it is
    def merge(self, y):
        b, h, t, dh = y.shape
        return y.reshape(b, t, h * dh)


class AttentionSoftmaxOverQueries(Attention):
    def weights(self, scores, allowed):
        return scores.masked_fill(~allowed, float("-inf")).softmax(dim=-2)


class AttentionMaskWithZero(Attention):  # masked scores set to 0: hidden keys keep weight
    def weights(self, scores, allowed):
        return scores.masked_fill(~allowed, 0.0).softmax(dim=-1)


class AttentionNoDiagonal(Attention):  # padding queries get a row of -inf: NaN
    def allowed(self, padding):
        t = padding.shape[1]
        return torch.ones(t, t, dtype=torch.bool).tril() & ~padding[:, None, None, :]


class AttentionDetached(Attention):  # the values cut off from autograd
    def forward(self, x, padding):
        q, k, v = (self.split(z) for z in self.qkv(x).split(x.shape[-1], dim=-1))
        scores = q @ k.transpose(-2, -1) / self.scale(q)
        weights = self.weights(scores, self.allowed(padding))
        return self.out(self.merge(weights @ v.detach()))


class AttentionNoDropout(Attention):  # right in evaluation, but no dropout on the weights while training
    def forward(self, x, padding):
        q, k, v = (self.split(z) for z in self.qkv(x).split(x.shape[-1], dim=-1))
        weights = self.weights(q @ k.transpose(-2, -1) / self.scale(q), self.allowed(padding))
        return self.out(self.merge(weights @ v))


class AttentionNoOutputProjection(Attention):  # self.out forgotten
    def forward(self, x, padding):
        return super().forward(x, padding) * 0 + self.merge(
            self.weights(*self._scores(x, padding)) @ self.split(self.qkv(x).split(x.shape[-1], dim=-1)[2]))

    def _scores(self, x, padding):
        q, k, _ = (self.split(z) for z in self.qkv(x).split(x.shape[-1], dim=-1))
        return q @ k.transpose(-2, -1) / self.scale(q), self.allowed(padding)


# ---------------------------------------------------------------- the next-item cross-entropy
def _loss(h, item_table, targets):
    real = targets > 0
    return F.cross_entropy(h[real] @ item_table[1:].T, targets[real] - 1)


def _loss_padding_row_competes(h, item_table, targets):  # all n_items + 1 rows, codes used as columns
    real = targets > 0
    return F.cross_entropy(h[real] @ item_table.T, targets[real])


def _loss_padding_positions_count(h, item_table, targets):  # padding positions predict row 0
    scores = h @ item_table.T
    return F.cross_entropy(scores.reshape(-1, scores.shape[-1]), targets.reshape(-1))


def _loss_mean_over_all_positions(h, item_table, targets):
    real = targets > 0
    per = F.cross_entropy((h @ item_table[1:].T).transpose(1, 2), (targets - 1).clamp(min=0), reduction="none")
    return (per * real).sum() / real.numel()


def _loss_sum(h, item_table, targets):
    real = targets > 0
    return F.cross_entropy(h[real] @ item_table[1:].T, targets[real] - 1, reduction="sum")


def _loss_no_shift(h, item_table, targets):  # codes used as columns of items 1..n: off by one
    real = targets > 0
    return F.cross_entropy(h[real] @ item_table[1:].T, targets[real])


def _loss_detached(h, item_table, targets):
    real = targets > 0
    return F.cross_entropy(h[real].detach() @ item_table[1:].T, targets[real] - 1)


def _loss_item(h, item_table, targets):  # a Python float: nothing to differentiate
    return _loss(h, item_table, targets).item()


def _loss_softmax_over_positions(h, item_table, targets):
    real = targets > 0
    logp = (h @ item_table[1:].T).log_softmax(1).gather(2, (targets - 1).clamp(min=0)[..., None]).squeeze(-1)
    return -(logp * real).sum() / real.sum()


REFERENCE = {
    "ch4.attention-mask": _mask,
    "ch4.attention": _attention,
    "ch4.attention-forward": Attention,
    "ch4.next-item-loss": _loss,
    "ch4.training-sequence": _training_pair,
    "ch4.hit-rate": lambda recommended, next_items, k: float(np.mean([n in r[:k] for r, n in zip(recommended, next_items, strict=True)])),
}
ALSO_RIGHT = {"ch4.attention-forward": [AttentionLargeNegative]}
WRONG = {
    "ch4.attention-mask": [_mask_causal_only, _mask_transposed, _mask_padding_queries, _mask_no_diagonal,
                           _mask_one_for_all],
    "ch4.attention": [lambda Q, K, V, mask: _attention(Q * np.sqrt(Q.shape[-1]), K, V, mask),  # no scaling
                      lambda Q, K, V, mask: _attention(Q, K, V, None),  # ignores the mask
                      _attention_own_causal_mask, _attention_naive_exp, _attention_mask_after_softmax,
                      _attention_wrong_axis],
    "ch4.attention-forward": [AttentionNoScale, AttentionModelScale, AttentionFutureVisible, AttentionPaddingVisible,
                              AttentionHeadsFirst, AttentionMergeNoTranspose, AttentionSoftmaxOverQueries,
                              AttentionMaskWithZero, AttentionNoDiagonal, AttentionDetached, AttentionNoDropout,
                              AttentionNoOutputProjection],
    "ch4.next-item-loss": [_loss_padding_row_competes, _loss_padding_positions_count, _loss_mean_over_all_positions,
                           _loss_sum, _loss_no_shift, _loss_detached, _loss_item, _loss_softmax_over_positions],
    "ch4.training-sequence": [lambda history, max_len: (history[:max_len], history[1:max_len + 1]),
                              lambda history, max_len: _training_pair(history, max_len)[::-1],
                              _training_pair_right_padded, _training_pair_short_window, _training_pair_unshifted],
    "ch4.hit-rate": [lambda recommended, next_items, k: float(np.mean([n in r for r, n in zip(recommended, next_items, strict=True)])),
                     lambda recommended, next_items, k: sum(n in r[:k] for r, n in zip(recommended, next_items, strict=True)),
                     lambda recommended, next_items, k: float(np.mean([n in r[:k + 1] for r, n in zip(recommended, next_items, strict=True)])),
                     lambda recommended, next_items, k: float(np.mean([n in r[:k] for r, n in zip(recommended, next_items, strict=True)])) / k,
                     lambda recommended, next_items, k: float(np.mean([bool(r) and r[0] == n for r, n in zip(recommended, next_items, strict=True)]))],
}
