"""Next-item models of chapter 5: LSTM, LSTM + multi-head attention, and BERT4Rec, on one shared frame.

sequences: (B, T) item codes, 0 = padding, most recent item last  ->  hidden states (B, T, out_dim)  ->  scores

    every model:   e = Dropout(item_emb[seq])                                  (B, T, emb_dim)   the shared embedding
    LSTM:          h = Dropout(LSTM(e))                                         (B, T, hidden)    step t reads items <= t
    LSTM + MHA:    h = LayerNorm(h + Dropout(MultiHeadAttention(h, causal)))    (B, T, hidden)    still items <= t only
    BERT4Rec:      x = Dropout(LayerNorm(e + pos_emb))                          (B, T, emb_dim)   every step reads all:
                   n_layers x:  x = LayerNorm(x + Dropout(MultiHeadAttention(x)))     a post-LN Transformer encoder
                                x = LayerNorm(x + Dropout(FFN(x)))                    FFN = Linear-GELU-Dropout-Linear
    scores = Linear(h)                                                          (B, T, n_items)   the shared head

Training, in one pass over each window of T items (not one window per target):
- the causal models (LSTM, LSTM + MHA) predict the next item at every position (targets = inputs shifted by one);
- BERT4Rec (Sun et al. 2019) sees the whole window at once, so "the next item" would be visible: it learns the
  cloze task instead, predicting randomly hidden items ([MASK], code n_items + 1) from both sides. To recommend it
  appends [MASK] after the history and reads the prediction there.
Dropout (0.1) acts on the embeddings and on each sublayer's output. Attention weights are not dropped by default
(``attention_dropout=0``): the fused attention kernel then runs on the CPU too, which makes 8 heads ~30% cheaper
per epoch (chapter 5 measures it).
Loss: softmax cross-entropy over all items. ``score_next(windows)`` gives every item's score after each window; the
next-item protocol is ``course_utils.evaluate_next_item``.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_dataframe, check_fraction, check_int, check_positive
from ..recommender import TorchRecommender
from .sasrec import CausalSelfAttention


class NextItemEncoder(nn.Module):
    """The shared frame: item embedding (row 0 padding, row n_items + 1 [MASK]) and the output head."""

    def __init__(self, n_items: int, emb_dim: int, out_dim: int, dropout: float):
        super().__init__()
        self.n_items = n_items
        self.item = nn.Embedding(n_items + 2, emb_dim, padding_idx=0)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(out_dim, n_items)  # column j: item code j + 1

    def encode(self, seq: torch.Tensor) -> torch.Tensor:  # (B, T) -> (B, T, out_dim); subclasses
        raise NotImplementedError

    def forward(self, seq):
        return self.encode(seq)

    def item_scores(self, h):
        """(..., out_dim) hidden states -> (..., n_items) scores of items 1..n_items."""
        return self.head(h)


class LSTMEncoder(NextItemEncoder):
    """Items read one after the other: the state at step t summarizes items 1..t."""

    def __init__(self, n_items, emb_dim=32, hidden_dim=64, n_layers=1, dropout=0.1):
        super().__init__(n_items, emb_dim, hidden_dim, dropout)
        self.lstm = nn.LSTM(emb_dim, hidden_dim, n_layers, batch_first=True, dropout=dropout if n_layers > 1 else 0.0)

    def encode(self, seq):
        h, _ = self.lstm(self.drop(self.item(seq)))  # (B, T, hidden)
        return self.drop(h)


class LSTMAttentionEncoder(LSTMEncoder):
    """The LSTM's states, then causal multi-head self-attention over them (each step looks back at all earlier
    states directly, not only through the LSTM's memory), with a residual connection and layer norm."""

    def __init__(self, n_items, emb_dim=32, hidden_dim=64, n_layers=1, n_heads=2, dropout=0.1, attention_dropout=0.0):
        super().__init__(n_items, emb_dim, hidden_dim, n_layers, dropout)
        self.attention = CausalSelfAttention(hidden_dim, n_heads, attention_dropout)
        self.norm = nn.LayerNorm(hidden_dim)

    def encode(self, seq, need_weights: bool = False, last_only: bool = False):
        h = super().encode(seq)
        a, weights = self.attention(h, seq == 0, need_weights, last_only)
        out = self.norm((h[:, -1:] if last_only else h) + self.drop(a))  # last_only: (B, 1, hidden), for scoring
        return (out, weights) if need_weights else out


class BidirectionalBlock(nn.Module):
    """One post-LN Transformer encoder layer (as BERT and nn.TransformerEncoderLayer): attention over the whole
    window, then a feed-forward network, each with a residual connection and layer norm."""

    def __init__(self, d: int, n_heads: int, dim_ff: int, dropout: float, attention_dropout: float = 0.0):
        super().__init__()
        self.attention = CausalSelfAttention(d, n_heads, attention_dropout, causal=False)
        self.ffn = nn.Sequential(nn.Linear(d, dim_ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim_ff, d))
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, padding, last_only: bool = False):
        a, _ = self.attention(x, padding, last_only=last_only)  # last_only: the last query only, (B, 1, d)
        x = self.ln1((x[:, -1:] if last_only else x) + self.drop(a))
        return self.ln2(x + self.drop(self.ffn(x)))


class BERT4RecEncoder(NextItemEncoder):
    """A bidirectional Transformer encoder: every position attends to every real position of the window."""

    def __init__(self, n_items, emb_dim=32, n_layers=1, n_heads=2, dim_ff=128, max_len=50, dropout=0.1,
                 attention_dropout=0.0):
        super().__init__(n_items, emb_dim, emb_dim, dropout)
        self.max_len = max_len
        self.position = nn.Embedding(max_len, emb_dim)
        self.norm = nn.LayerNorm(emb_dim)
        self.blocks = nn.ModuleList(BidirectionalBlock(emb_dim, n_heads, dim_ff, dropout, attention_dropout)
                                    for _ in range(n_layers))

    def encode(self, seq, last_only: bool = False):
        t = seq.shape[1]
        if t > self.max_len:
            raise ValueError(f"BERT4Rec reads at most max_len={self.max_len} items; got sequences of length {t}.")
        positions = torch.arange(t - 1, -1, -1, device=seq.device)  # distance to the last position: padding-proof
        x = self.drop(self.norm(self.item(seq) + self.position(positions)))
        padding = seq == 0
        for i, block in enumerate(self.blocks):  # scoring reads the last position: the last block computes only it
            x = block(x, padding, last_only=last_only and i == len(self.blocks) - 1)
        return x


class _SequenceRecommender(TorchRecommender):
    """fit / recommend / score_next / save / load shared by the chapter 5 models (see the subclasses)."""

    _cloze = False

    def _common_checks(self, f):
        check_int(self.emb_dim, "emb_dim", f, min_value=1)
        check_int(self.n_layers, "n_layers", f, min_value=1)
        check_int(self.max_seq_length, "max_seq_length", f, min_value=2)
        if self.dropout != 0:
            check_fraction(self.dropout, "dropout", f)
        check_positive(self.learning_rate, "learning_rate", f)
        check_positive(self.weight_decay, "weight_decay", f, strict=False)
        check_int(self.batch_size, "batch_size", f, min_value=1)
        check_int(self.epochs, "epochs", f, min_value=1)
        if self.val_targets is not None:
            check_int(self.val_targets, "val_targets", f, min_value=1)
        self._torch_device()

    def _check_frame(self, part, name, func):
        df = super()._check_frame(part, name, func)
        if func == "fit":
            check_dataframe(df, name, ["timestamp"], f"{type(self).__name__}.fit (a sequential model needs the order of events)")
        return df

    def _fit(self, df, val_df, callbacks):
        from ..data.sequences import chunk_windows, cloze_mask, next_item_targets, pad_left, user_sequences
        from ..evaluation import next_item_metrics
        from ..training import fit_loop

        _, sequences = user_sequences(df, self.item_index_, self.user_index_)
        self.history_items_ = pad_left(sequences, self.max_seq_length)  # (n_users, T): what recommend reads
        # consecutive windows of T items: each position of a history is trained once per epoch, in one pass
        inputs, targets = chunk_windows(sequences, self.max_seq_length)
        if self._cloze:  # BERT4Rec reads the items themselves: chunks of T items (of 2 or more), not shifted pairs
            t = self.max_seq_length
            chunks = [seq[max(0, end - t):end] for seq in sequences for end in range(len(seq), 1, -t)]
            inputs = targets = pad_left([c for c in chunks if len(c) >= 2], t)
        if len(inputs) == 0:
            raise ValueError(f"{type(self).__name__}.fit needs at least one user with 2 or more interactions.")
        self.n_windows_ = len(inputs)
        device = self._torch_device()
        seed = 0 if self.random_state is None else self.random_state
        mask_token = len(self.item_index_) + 1
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            self.module_ = self._build_module().to(device)
            inputs_t, targets_t = torch.from_numpy(inputs).to(device), torch.from_numpy(targets).to(device)
            generator = torch.Generator(device=device).manual_seed(seed)

            def batches(epoch):
                order = torch.randperm(len(inputs_t), generator=generator, device=device)
                for s in range(0, len(order), self.batch_size):
                    b = order[s:s + self.batch_size]
                    if self._cloze:  # a chunk of real items, some hidden
                        yield cloze_mask(inputs_t[b], self.mask_prob, mask_token, generator)
                    else:
                        yield inputs_t[b], targets_t[b]

            def step(batch):
                seq, labels = batch
                h = self.module_(seq)
                real = labels > 0  # positions with a next (or hidden) item
                return F.cross_entropy(self.module_.item_scores(h[real]), labels[real] - 1)

            validate = None
            if val_df is not None:  # each validation event predicted from the user's events before it
                task = next_item_targets(df, val_df, self.item_index_, self.max_seq_length)[:3]  # built once
                if len(task[0]) == 0:
                    raise ValueError("The 'val_data' parameter of fit has no event with an earlier event of a training "
                                     "item to predict it from.")
                if self.val_targets is not None and len(task[0]) > self.val_targets:  # a fixed sample, for speed
                    keep = np.sort(np.random.default_rng(seed).choice(len(task[0]), self.val_targets, replace=False))
                    task = (task[0][keep], task[1][keep], [task[2][i] for i in keep])
                validate = lambda: next_item_metrics(self, *task, k=10)  # noqa: E731
            optimizer = torch.optim.AdamW(self.module_.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)
            self.history_ = fit_loop(self.module_, batches, step, optimizer, self.epochs, validate, callbacks,
                                     progress=self.verbose, desc=type(self).__name__)

    def score_next(self, windows) -> np.ndarray:
        """(n, n_items) scores of every item as the next one after each window ((n, T) item codes, left-padded)."""
        self._check_fitted()
        windows = np.asarray(windows, dtype=np.int64)
        if windows.ndim != 2 or windows.shape[1] > self.max_seq_length:
            raise ValueError(f"The 'windows' parameter of score_next must be (n, T) item codes with T <= "
                             f"{self.max_seq_length}. Got shape {windows.shape}.")
        if self._cloze:  # the prediction is read at an appended [MASK]
            mask = np.full((len(windows), 1), len(self.item_index_) + 1, dtype=np.int64)
            windows = np.concatenate([windows, mask], axis=1)[:, -self.max_seq_length:]
        dev = next(self.module_.parameters()).device
        self.module_.eval()
        with torch.no_grad():
            seq = torch.as_tensor(windows, device=dev)
            if isinstance(self.module_, (LSTMAttentionEncoder, BERT4RecEncoder)):  # the last query only: T times less
                h = self.module_.encode(seq, last_only=True)[:, -1]
            else:
                h = self.module_(seq)[:, -1]
            return self.module_.item_scores(h).float().cpu().numpy()

    def _score_users(self, users):
        return self.score_next(self.history_items_[np.asarray(users)])

    def n_parameters(self) -> int:
        """Number of trained weights."""
        self._check_fitted()
        return sum(p.numel() for p in self.module_.parameters())

    def _extra_state(self):
        return {"history_items": torch.from_numpy(self.history_items_)}

    def _set_extra_state(self, extra):
        self.history_items_ = extra["history_items"].numpy()


_DOC_PARAMS = """
    emb_dim, n_layers, dropout, learning_rate (AdamW), weight_decay, max_seq_length (T): the seed chapter's values
    (32, 1, 0.1, 0.003, 0.01, 50). batch_size and epochs: the seed trains 20 epochs of batch 256 over one window per
    target; training every position of a window in one pass makes an epoch ~40x fewer steps, so the course uses batch
    64 and fewer epochs (measured on MovieLens 100K, chapter 5). device, random_state, verbose: as every torch model
    of the course. fit needs a timestamp column; val_data gives per-epoch validation metrics (evaluate_next_item:
    hit_rate@10, ndcg@10, mrr, loss) in history_, on a fixed random sample of ``val_targets`` events (None: all).
    attention_dropout (the attention models): dropout on the attention weights, 0 by default (dropout still acts on
    the embeddings and on every sublayer's output); at 0 the fused attention kernel runs on the CPU too.
"""


class LSTMRecommender(_SequenceRecommender):
    __doc__ = "Next-item prediction with an LSTM over the user's items (hidden_dim: the LSTM's state size)." + _DOC_PARAMS

    def __init__(self, emb_dim: int = 32, hidden_dim: int = 64, n_layers: int = 1, dropout: float = 0.1,
                 max_seq_length: int = 50, learning_rate: float = 0.003, weight_decay: float = 0.01,
                 batch_size: int = 64, epochs: int = 8, val_targets: int | None = 1000, device: str = "auto",
                 random_state: int | None = 42, verbose: bool = True):
        self.emb_dim = emb_dim
        self.hidden_dim = hidden_dim
        self.n_layers = n_layers
        self.dropout = dropout
        self.max_seq_length = max_seq_length
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.epochs = epochs
        self.val_targets = val_targets
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _validate_params(self):
        self._common_checks(type(self).__name__)
        check_int(self.hidden_dim, "hidden_dim", type(self).__name__, min_value=1)

    def _build_module(self):
        return LSTMEncoder(len(self.item_index_), self.emb_dim, self.hidden_dim, self.n_layers, self.dropout)


class LSTMAttentionRecommender(LSTMRecommender):
    __doc__ = ("Next-item prediction with an LSTM followed by causal multi-head self-attention over its states "
               "(n_heads must divide hidden_dim)." + _DOC_PARAMS)

    def __init__(self, emb_dim: int = 32, hidden_dim: int = 64, n_layers: int = 1, n_heads: int = 2,
                 dropout: float = 0.1, attention_dropout: float = 0.0, max_seq_length: int = 50,
                 learning_rate: float = 0.003, weight_decay: float = 0.01, batch_size: int = 64, epochs: int = 8,
                 val_targets: int | None = 1000, device: str = "auto", random_state: int | None = 42,
                 verbose: bool = True):
        super().__init__(emb_dim, hidden_dim, n_layers, dropout, max_seq_length, learning_rate, weight_decay,
                         batch_size, epochs, val_targets, device, random_state, verbose)
        self.n_heads = n_heads
        self.attention_dropout = attention_dropout

    def _validate_params(self):
        super()._validate_params()
        f = type(self).__name__
        check_int(self.n_heads, "n_heads", f, min_value=1)
        if self.attention_dropout != 0:
            check_fraction(self.attention_dropout, "attention_dropout", f)
        if self.hidden_dim % self.n_heads:
            raise ValueError(f"The 'hidden_dim' parameter of {f} must be divisible by n_heads={self.n_heads}. "
                             f"Got {self.hidden_dim}.")

    def _build_module(self):
        return LSTMAttentionEncoder(len(self.item_index_), self.emb_dim, self.hidden_dim, self.n_layers, self.n_heads,
                                    self.dropout, self.attention_dropout)

    def get_attention_weights(self, user):
        """(items, weights): the user's last items (ids, oldest first) and the (n_heads, T, T) attention weights."""
        self._check_fitted()
        row = self._user_indices([user], "get_attention_weights")[0]
        padded = self.history_items_[row]  # read as recommend reads it: left-padded (the LSTM runs over the padding)
        dev = next(self.module_.parameters()).device
        self.module_.eval()
        with torch.no_grad():
            _, weights = self.module_.encode(torch.as_tensor(padded[None, :], device=dev), need_weights=True)
        real = int((padded > 0).sum())
        codes = padded[len(padded) - real:]
        return self.item_index_[codes - 1].tolist(), weights[0, :, -real:, -real:].cpu().numpy()


class BERT4RecRecommender(_SequenceRecommender):
    __doc__ = ("BERT4Rec: a bidirectional Transformer encoder trained on the cloze task (mask_prob: share of items "
               "hidden per window; n_heads must divide emb_dim; dim_ff: the feed-forward size). A pass over the data "
               "gives it about mask_prob as many targets as a causal model gets, and on MovieLens 100K its validation "
               "loss stays flat for ~6 epochs before it learns: it trains 15 epochs by default, about twice the "
               "causal models' 8." + _DOC_PARAMS)
    _cloze = True

    def __init__(self, emb_dim: int = 32, n_layers: int = 1, n_heads: int = 2, dim_ff: int = 128,
                 dropout: float = 0.1, attention_dropout: float = 0.0, mask_prob: float = 0.2,
                 max_seq_length: int = 50, learning_rate: float = 0.003, weight_decay: float = 0.01,
                 batch_size: int = 64, epochs: int = 15, val_targets: int | None = 1000, device: str = "auto",
                 random_state: int | None = 42, verbose: bool = True):
        self.emb_dim = emb_dim
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.dim_ff = dim_ff
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.mask_prob = mask_prob
        self.max_seq_length = max_seq_length
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.epochs = epochs
        self.val_targets = val_targets
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _validate_params(self):
        f = type(self).__name__
        self._common_checks(f)
        check_int(self.n_heads, "n_heads", f, min_value=1)
        check_int(self.dim_ff, "dim_ff", f, min_value=1)
        check_fraction(self.mask_prob, "mask_prob", f)
        if self.attention_dropout != 0:
            check_fraction(self.attention_dropout, "attention_dropout", f)
        if self.emb_dim % self.n_heads:
            raise ValueError(f"The 'emb_dim' parameter of {f} must be divisible by n_heads={self.n_heads}. "
                             f"Got {self.emb_dim}.")

    def _build_module(self):
        return BERT4RecEncoder(len(self.item_index_), self.emb_dim, self.n_layers, self.n_heads, self.dim_ff,
                               self.max_seq_length, self.dropout, self.attention_dropout)
