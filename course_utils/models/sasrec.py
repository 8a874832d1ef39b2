"""SASRec (Kang & McAuley, ICDM 2018): next-item prediction with causal self-attention (chapter 4).

sequences: (B, T) item codes, 0 = padding, most recent item last  ->  hidden states: (B, T, d)

    x = item_emb[seq] * sqrt(d) + pos_emb[distance to the last position]      then dropout; padding rows are 0
    n_layers x:  x = x + CausalSelfAttention(LayerNorm(x))                   position t sees positions <= t only;
                                                                             dropout on the attention weights
                 x = x + FFN(LayerNorm(x))                                   FFN = Linear-ReLU-Dropout-Linear-Dropout
    h = LayerNorm(x)

The score of item i as the next item after position t is h_t . item_emb[i]: the item table is shared between input
and output. The encoder returns hidden states only; the two training objectives live in the recommender:
"bce" (the paper: one sampled negative per position, binary cross-entropy) and "ce" (softmax cross-entropy over all
items, which Klenitskiy & Vasilev 2023 and Petrov & Macdonald 2023 found much better).
Positions count back from the most recent item, so that left padding never changes the outputs at real positions.

The module contract (``SASRecRecommender(module=...)``): ``module(n_items=, dim=, n_layers=, n_heads=, max_len=,
dropout=)`` builds an nn.Module with ``encode(seqs) -> (B, T, dim)`` (keywords ``last_only`` and ``need_weights`` as
course_utils.torch_recommender.SequenceRecommender describes), ``item_scores(h) -> (..., n_items)`` and, for the BCE
loss, ``pair_scores(h, items) -> (...)``.

The attention contract (``SASRec(attention=...)``, chapter 4's exercise): ``attention(dim, n_heads, dropout)`` builds
an nn.Module with the weights of CausalSelfAttention below (``qkv``: Linear(dim, 3 * dim), ``out``: Linear(dim, dim))
whose ``forward(x, padding)`` maps x (B, T, dim) and padding (B, T) bool (True = padding) to (B, T, dim): causal,
padding keys masked, each position always allowed to attend to itself. A forward that also takes ``need_weights`` and
``last_only`` returns ``(output, weights)`` as CausalSelfAttention does; a plain one returns the output, and the block
then takes the last row itself when ``last_only`` (attention weights are then unavailable). So
``SASRecRecommender(module=functools.partial(SASRec, attention=MyAttention))`` trains SASRec with one's own attention.
"""
from __future__ import annotations

import inspect
import math

import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_choice, check_int
from ..losses import bce_loss, softmax_cross_entropy
from ..torch_recommender import SequenceRecommender


def causal_mask(length: int, device=None) -> torch.Tensor:
    """(length, length) bool: True where query position t may attend to key position s, i.e. s <= t."""
    return torch.ones(length, length, dtype=torch.bool, device=device).tril()


class CausalSelfAttention(nn.Module):
    """Multi-head scaled dot-product attention restricted to the past and to real (non-padding) positions.

    ``causal=False`` lifts the first restriction (BERT4Rec, chapter 5: every position reads the whole window).
    ``dropout`` drops attention weights; at 0 the fused kernel runs on the CPU too (it has no dropout).
    """

    def __init__(self, dim: int, n_heads: int, dropout: float, causal: bool = True):
        super().__init__()
        self.n_heads, self.dropout, self.causal = n_heads, dropout, causal
        self.qkv = nn.Linear(dim, 3 * dim)  # W^Q, W^K, W^V of all heads in one matrix
        self.out = nn.Linear(dim, dim)  # W^O

    def forward(self, x, padding, need_weights: bool = False, last_only: bool = False):
        b, t, d = x.shape
        q, k, v = (z.view(b, t, self.n_heads, d // self.n_heads).transpose(1, 2) for z in self.qkv(x).split(d, dim=-1))
        # (B, heads, T, d_head) each. A query may see real keys (earlier ones only, if causal), and always itself
        # (so that a padding query has one key to look at instead of a row of -inf).
        allowed = ~padding[:, None, None, :]
        if self.causal:
            allowed = allowed & causal_mask(t, x.device)
        allowed = allowed | torch.eye(t, dtype=torch.bool, device=x.device)
        if last_only:  # scoring needs the most recent position's output only: one query row instead of T
            q, allowed = q[:, :, -1:], allowed[..., -1:, :]
        if need_weights:
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, heads, T, T)
            weights = scores.masked_fill(~allowed, float("-inf")).softmax(dim=-1)
            y = F.dropout(weights, self.dropout, self.training) @ v
        else:  # the same computation, fused (FlashAttention-style kernels where available)
            weights = None
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(b, q.shape[2], d)), weights


class Block(nn.Module):
    def __init__(self, dim: int, n_heads: int, dropout: float, attention=CausalSelfAttention):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(dim, eps=1e-8), nn.LayerNorm(dim, eps=1e-8)  # the reference's epsilon
        self.attention = attention(dim, n_heads, dropout)
        # a plain attention (the attention contract above) takes (x, padding) and returns the output only
        self.plain_attention = "last_only" not in inspect.signature(self.attention.forward).parameters
        # dropout on the attention weights (inside the attention) and in the FFN, none on the attention's output: the
        # reference implementations' places (one more dropout there slowed learning at dropout 0.5, chapter 4)
        self.ffn = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(dim, dim), nn.Dropout(dropout))

    def forward(self, x, padding, need_weights: bool = False, last_only: bool = False):
        if not self.plain_attention:
            a, weights = self.attention(self.ln1(x), padding, need_weights, last_only)
        elif need_weights:
            raise TypeError(f"{type(self.attention).__name__}.forward takes (x, padding) only, so it returns no attention "
                            f"weights: need_weights=True needs a forward with the keywords need_weights and last_only.")
        else:
            a, weights = self.attention(self.ln1(x), padding), None
            a = a[:, -1:] if last_only else a  # (B, T, dim) -> (B, 1, dim)
        if last_only:  # the last position only: (B, 1, dim)
            x, padding = x[:, -1:], padding[:, -1:]
        x = x + a
        x = x + self.ffn(self.ln2(x))
        return x.masked_fill(padding[..., None], 0.0), weights


class SASRec(nn.Module):
    """The encoder: (B, T) item codes -> (B, T, dim) hidden states; ``item_scores`` and ``pair_scores`` are the heads.

    attention: the class (or function) that builds each block's attention from (dim, n_heads, dropout); by default
    CausalSelfAttention, otherwise anything that keeps the attention contract of the module docstring."""

    def __init__(self, n_items: int, dim: int = 64, n_layers: int = 2, n_heads: int = 1, max_len: int = 50,
                 dropout: float = 0.2, attention=CausalSelfAttention):
        super().__init__()
        if not callable(attention):
            raise TypeError(f"The 'attention' parameter of SASRec must be a class (or a function) that builds the "
                            f"attention module from (dim, n_heads, dropout). Got {attention!r} instead.")
        self.max_len = max_len
        self.item = nn.Embedding(n_items + 1, dim, padding_idx=0)  # row 0: padding
        self.position = nn.Embedding(max_len, dim)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(dim, n_heads, dropout, attention) for _ in range(n_layers))
        self.ln = nn.LayerNorm(dim, eps=1e-8)
        self.reset_parameters()

    def reset_parameters(self):
        """The reference implementation's initialization: Xavier-normal for every matrix, the embedding tables
        included (std sqrt(2 / (fan_in + fan_out))), the padding row 0; biases and LayerNorms keep PyTorch's defaults.

        With many items the item table starts tiny (23,715 items, dim 50: std 0.009; times sqrt(d): 0.065, below the
        positions' 0.14), so the first scores h . e_i are near 0. Chapter 4 measures what this choice is worth (an
        ablation on the paper's settings); chapter 1 shows the same lesson on ratings: the initialization decides how
        fast a model learns."""
        for p in self.parameters():
            if p.dim() > 1:  # weight matrices and embedding tables (a learner's attention module's too)
                nn.init.xavier_normal_(p)
        with torch.no_grad():
            self.item.weight[0].zero_()

    def encode(self, seq, need_weights: bool = False, last_only: bool = False):
        """(B, T) -> (B, T, dim), or (B, 1, dim) with last_only; with need_weights also each block's attention."""
        t = seq.shape[1]
        if t > self.max_len:
            raise ValueError(f"SASRec reads at most max_len={self.max_len} items; got sequences of length {t}.")
        padding = seq == 0  # (B, T)
        positions = torch.arange(t - 1, -1, -1, device=seq.device)  # distance to the most recent position
        x = self.item(seq) * self.item.embedding_dim ** 0.5 + self.position(positions)
        x = self.drop(x).masked_fill(padding[..., None], 0.0)
        weights = []
        for i, block in enumerate(self.blocks):  # scoring reads the last position: the last block computes only it
            x, w = block(x, padding, need_weights, last_only=last_only and i == len(self.blocks) - 1)
            weights.append(w)
        h = self.ln(x)  # (B, T, dim)
        return (h, weights) if need_weights else h

    forward = encode

    def item_scores(self, h):
        """Scores of every item (codes 1..n_items) as the next one: (..., dim) -> (..., n_items)."""
        return h @ self.item.weight[1:].T

    def pair_scores(self, h, items):
        """Scores of given item codes: h (..., dim), items (...) -> (...)."""
        return (h * self.item(items)).sum(-1)


class SASRecRecommender(SequenceRecommender):
    """SASRec trained on each user's time-ordered training interactions; ``recommend`` gives the next items.

    embedding_dim (d), n_layers (blocks), n_heads (d must be divisible by it), max_seq_length (T), dropout,
    learning_rate, batch_size, epochs: the seed chapter's hyperparameters under the course's names. loss: "ce"
    (softmax over all items) or "bce" (the paper's one sampled negative per position). window_stride: besides each
    user's most recent window of T items, train on earlier windows ending every ``window_stride`` items (None: the
    most recent window only, as the paper). module: the nn.Module class to train (None: SASRec, above;
    ``functools.partial(SASRec, attention=MyAttention)``: SASRec with one's own attention). device,
    random_state, verbose: as every torch model of the course. Validation (val_data): full-ranking ndcg@10 and
    hit_rate@10, training items removed.

    Defaults: 24 epochs, the epoch with the best mean validation nDCG@10 of three seeds on MovieLens 100K under
    leave-one-out (``python -m benchmarks run defaults``; 0.1176 against 0.1158 at the earlier 30; its test numbers are
    in the README's defaults table). One seed under the paper's protocol (``python -m benchmarks run sasrec --movielens
    --losses ce --embedding-dim 64 --learning-rate 0.002 --window-stride 25 --epochs 30``): test HR@10 0.744 against
    100 sampled negatives at the best validation epoch (20 of 30), 2.3 minutes. The paper's
    settings (hidden 50, lr 0.001, the last window only, 200 epochs) reach 0.687 with BCE and 0.701 with CE. With
    the paper's settings for sparse data, SASRec learns epoch for epoch as the reference implementation
    (pmixer/SASRec.pytorch) on a synthetic log of 31,013 users (benchmarks/PARITY.md).

    ``get_attention_weights(user=...)`` or ``(items=...)`` returns every block's and head's attention weights.
    """

    _default_module = SASRec
    validation_metrics = ("ndcg", "hit_rate")

    def __init__(self, embedding_dim: int = 64, n_layers: int = 2, n_heads: int = 1, max_seq_length: int = 50,
                 dropout: float = 0.2, learning_rate: float = 0.002, batch_size: int = 128, epochs: int = 24,
                 loss: str = "ce", window_stride: int | None = 25, module=None, device: str = "auto",
                 random_state: int | None = 42, verbose: bool = True):
        self.embedding_dim = embedding_dim
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.max_seq_length = max_seq_length
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.loss = loss
        self.window_stride = window_stride
        self.module = module
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _validate_params(self):
        super()._validate_params()  # the shared checks first: types before arithmetic
        f = type(self).__name__
        check_int(self.n_layers, "n_layers", f, min_value=1)
        check_int(self.n_heads, "n_heads", f, min_value=1)
        if self.embedding_dim % self.n_heads:
            raise ValueError(f"The 'embedding_dim' parameter of {f} must be divisible by n_heads={self.n_heads} (each "
                             f"head gets embedding_dim / n_heads dimensions). Got {self.embedding_dim}.")
        check_choice(self.loss, "loss", ["ce", "bce"], f)
        if self.window_stride is not None:
            check_int(self.window_stride, "window_stride", f, min_value=1)

    def _module_kwargs(self):
        return {"n_items": len(self.item_index_), "dim": self.embedding_dim, "n_layers": self.n_layers,
                "n_heads": self.n_heads, "max_len": self.max_seq_length, "dropout": self.dropout}

    def _prepare(self, df):
        from ..data.sampling import TorchUniformSampler
        from ..data.sequences import next_item_windows

        inputs, targets, owners = next_item_windows(self._sequences(df), self.max_seq_length, self.window_stride,
                                                    return_owners=True)
        self._training_windows(inputs, targets)
        if self.loss == "bce":  # each window's user, for negatives the user never had
            self._owners = self._tensor_on_device(owners)
            self._negative_sampler = TorchUniformSampler(self.seen_, self._device, self._generator)

    def _epoch_data(self, epoch):
        return (self._inputs, self._targets, self._owners) if self.loss == "bce" else (self._inputs, self._targets)

    def _negatives(self, users, length):
        """(B, length) item codes, one per position, none of them an item the user had in training (the reference
        implementations' sampler; a uniform draw over all items would now and then call the user's own item a
        negative)."""
        return self._negative_sampler.sample(users, length) + 1  # sampler indices 0..n_items-1 -> codes 1..n_items

    def _loss(self, batch):
        seq, target, *users = batch  # users: each window's user, with the BCE loss
        real = target > 0  # positions with a next item
        h = self.module_.encode(seq)  # (B, T, d)
        if self.loss == "ce":
            return softmax_cross_entropy(self.module_.item_scores(h[real]), target[real])
        negative = self._negatives(users[0], target.shape[1])  # (B, T)
        scores = torch.stack([self.module_.pair_scores(h, target), self.module_.pair_scores(h, negative)], -1)  # (B, T, 2)
        labels = torch.tensor([1.0, 0.0], device=seq.device).expand_as(scores)  # the next item, a sampled one
        return bce_loss(scores, labels, mask=real[..., None])

    def _optimizer(self, module):
        """Adam with beta2 = 0.98, the paper's."""
        return torch.optim.Adam(module.parameters(), lr=self.learning_rate, betas=(0.9, 0.98), fused=True)
