"""Chapter 5, LSTMs, attention and BERT4Rec (course_utils/checks/ch5.py)."""
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


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


# ---------------------------------------------------------------- ch5.cloze-loss
def cloze_loss(hidden, labels, item_embeddings):
    """As the notebook's solution: the masked positions, scored against the item rows 1..n_items, cross-entropy."""
    masked = labels > 0
    scores = hidden[masked] @ item_embeddings[1:-1].T
    return F.cross_entropy(scores, labels[masked] - 1)


def _cloze_loss_over_all_positions(hidden, labels, item_embeddings):  # sum over masked / every position
    masked = labels > 0
    losses = F.cross_entropy(hidden[masked] @ item_embeddings[1:-1].T, labels[masked] - 1, reduction="none")
    return losses.sum() / labels.numel()


def _cloze_loss_rows_off_by_one(hidden, labels, item_embeddings):  # rows 0..n_items - 1: code c read from row c - 1
    masked = labels > 0
    return F.cross_entropy(hidden[masked] @ item_embeddings[:-2].T, labels[masked] - 1)


def _cloze_loss_padding_not_ignored(hidden, labels, item_embeddings):  # label 0 becomes "predict padding" everywhere
    scores = hidden @ item_embeddings[:-1].T  # (B, T, n_items + 1): the padding row is a class
    return F.cross_entropy(scores.reshape(-1, scores.shape[-1]), labels.reshape(-1))


def _cloze_loss_wrong_axis(hidden, labels, item_embeddings):  # the softmax over the masked positions
    masked = labels > 0
    log_p = torch.log_softmax(hidden[masked] @ item_embeddings[1:-1].T, dim=0)
    return -log_p.gather(1, (labels[masked] - 1)[:, None]).mean()


def _cloze_loss_detached(hidden, labels, item_embeddings):  # the table is cut off from autograd
    return cloze_loss(hidden, labels, item_embeddings.detach())


# ---------------------------------------------------------------- ch5.lstm-mha-encoder
class LSTMAttentionByHand(nn.Module):
    """The notebook's exercise: __init__ as given, encode as its solution."""

    def __init__(self, n_items, dim=32, hidden_dim=64, n_layers=1, n_heads=2, dropout=0.1, attention_dropout=0.0):
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
        h, _ = self.lstm(self.drop(self.item(seq)))
        h = self.drop(h)
        a = self.attend(h, seq)
        return self.norm(h + self.drop(a))

    def allowed(self, seq):
        t = seq.shape[1]
        causal = torch.ones(t, t, dtype=torch.bool).tril()
        return (causal & (seq != 0)[:, None, None, :]) | torch.eye(t, dtype=torch.bool)  # (B, 1, T, T)

    def attend(self, x, seq):
        b, t, d = x.shape
        q, k, v = (z.reshape(b, t, self.n_heads, d // self.n_heads).transpose(1, 2) for z in self.qkv(x).split(d, -1))
        scores = q @ k.transpose(-2, -1) / math.sqrt(d // self.n_heads)
        weights = scores.masked_fill(~self.allowed(seq), float("-inf")).softmax(dim=-1)
        return self.out((weights @ v).transpose(1, 2).reshape(b, t, d))


class NoCausalMask(LSTMAttentionByHand):  # attends to the future
    def allowed(self, seq):
        return (seq != 0)[:, None, None, :] | torch.eye(seq.shape[1], dtype=torch.bool)


class PaddingNotMasked(LSTMAttentionByHand):  # the causal mask only
    def allowed(self, seq):
        return torch.ones(seq.shape[1], seq.shape[1], dtype=torch.bool).tril()


class NoSelfForPadding(LSTMAttentionByHand):  # a padding query has every key masked: a row of -inf, NaN
    def allowed(self, seq):
        t = seq.shape[1]
        return torch.ones(t, t, dtype=torch.bool).tril() & (seq != 0)[:, None, None, :]


class AttentionOnEmbeddings(LSTMAttentionByHand):  # the attention reads the embeddings, not the LSTM's states
    def encode(self, seq):
        e = self.drop(self.item(seq))
        h, _ = self.lstm(e)
        return self.norm(self.drop(h) + self.drop(self.attend(e, seq)))


class NoResidual(LSTMAttentionByHand):
    def encode(self, seq):
        h, _ = self.lstm(self.drop(self.item(seq)))
        return self.norm(self.drop(self.attend(self.drop(h), seq)))


class TimeMajorInput(LSTMAttentionByHand):  # (T, B, dim) into a batch-first LSTM: it runs along the batch axis
    def encode(self, seq):
        h, _ = self.lstm(self.drop(self.item(seq)).transpose(0, 1))
        h = self.drop(h.transpose(0, 1))
        return self.norm(h + self.drop(self.attend(h, seq)))


class BatchFirstForgotten(LSTMAttentionByHand):  # its own __init__, without batch_first=True
    def __init__(self, n_items, dim=32, hidden_dim=64, n_layers=1, n_heads=2, dropout=0.1, attention_dropout=0.0):
        super().__init__(n_items, dim, hidden_dim, n_layers, n_heads, dropout, attention_dropout)
        self.lstm = nn.LSTM(dim, hidden_dim, n_layers)


class Unscaled(LSTMAttentionByHand):  # no 1 / sqrt(d_head)
    def attend(self, x, seq):
        b, t, d = x.shape
        q, k, v = (z.reshape(b, t, self.n_heads, d // self.n_heads).transpose(1, 2) for z in self.qkv(x).split(d, -1))
        weights = (q @ k.transpose(-2, -1)).masked_fill(~self.allowed(seq), float("-inf")).softmax(dim=-1)
        return self.out((weights @ v).transpose(1, 2).reshape(b, t, d))


class HeadsNotMerged(LSTMAttentionByHand):  # reshapes (B, heads, T, d_head) straight to (B, T, dim): heads and positions mixed
    def attend(self, x, seq):
        b, t, d = x.shape
        q, k, v = (z.reshape(b, t, self.n_heads, d // self.n_heads).transpose(1, 2) for z in self.qkv(x).split(d, -1))
        scores = q @ k.transpose(-2, -1) / math.sqrt(d // self.n_heads)
        weights = scores.masked_fill(~self.allowed(seq), float("-inf")).softmax(dim=-1)
        return self.out((weights @ v).reshape(b, t, d))


class DropoutForgotten(LSTMAttentionByHand):  # right in evaluation mode, but no dropout on the attention's output
    def encode(self, seq):
        h, _ = self.lstm(self.drop(self.item(seq)))
        h = self.drop(h)
        return self.norm(h + self.attend(h, seq))


REFERENCE = {
    "ch5.cloze": _cloze,
    "ch5.cloze-loss": cloze_loss,
    "ch5.lstm-mha-encoder": LSTMAttentionByHand,
    "ch5.shapes": _shapes,
    "ch5.accuracy": lambda logits, targets, k: float(np.mean(
        (logits >= logits[np.arange(len(targets)), targets][:, None]).sum(1) - 1 < k)),
    "ch5.lstm-params": lambda input_dim, hidden_dim: 4 * hidden_dim * (input_dim + hidden_dim) + 8 * hidden_dim,
}
WRONG = {
    "ch5.cloze": [lambda window, draws, mask_prob, mask_token: _cloze(window, draws, mask_prob, mask_token, pad=True),
                  lambda window, draws, mask_prob, mask_token: _cloze(window, draws, mask_prob, mask_token, force=False),
                  lambda window, draws, mask_prob, mask_token: _cloze(window, draws, mask_prob, mask_token)[::-1]],
    "ch5.cloze-loss": [_cloze_loss_over_all_positions, _cloze_loss_rows_off_by_one, _cloze_loss_padding_not_ignored,
                       _cloze_loss_wrong_axis, _cloze_loss_detached],
    "ch5.lstm-mha-encoder": [NoCausalMask, PaddingNotMasked, NoSelfForPadding, AttentionOnEmbeddings, NoResidual,
                             TimeMajorInput, BatchFirstForgotten, Unscaled, HeadsNotMerged, DropoutForgotten],
    "ch5.shapes": [lambda *a: {**_shapes(*a), "attention_weights": (a[0], a[1], a[1])},  # forgets the heads
                   lambda *a: {**_shapes(*a), "query_per_head": (a[0], a[4], a[1], a[3])},  # full width per head
                   lambda *a: {**_shapes(*a), "query_per_head": (a[0], a[1], a[4], a[3] // a[4])}],  # not transposed
    "ch5.accuracy": [lambda logits, targets, k: float(np.mean(  # ties in the target's favour
                         (logits > logits[np.arange(len(targets)), targets][:, None]).sum(1) < k)),
                     lambda logits, targets, k: float(np.mean(
                         (logits >= logits[np.arange(len(targets)), targets][:, None]).sum(1) < k)),  # counts itself
                     lambda logits, targets, k: float(np.mean(np.argmax(logits, 1) == targets)),  # ignores k
                     lambda logits, targets, k: float(np.mean(  # off by one: k + 1 places
                         (logits >= logits[np.arange(len(targets)), targets][:, None]).sum(1) - 1 <= k))],
    "ch5.lstm-params": [lambda input_dim, hidden_dim: 4 * hidden_dim * (input_dim + hidden_dim) + 4 * hidden_dim,
                        lambda input_dim, hidden_dim: hidden_dim * (input_dim + hidden_dim) + 2 * hidden_dim,
                        lambda input_dim, hidden_dim: 4 * hidden_dim * input_dim + 8 * hidden_dim,  # forgets W_hh
                        lambda input_dim, hidden_dim: 3 * hidden_dim * (input_dim + hidden_dim) + 6 * hidden_dim],  # a GRU
}
