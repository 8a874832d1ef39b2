"""Next-item models of chapter 5: LSTM, LSTM + multi-head attention, and BERT4Rec, on one shared frame.

sequences: (B, T) item codes, 0 = padding, most recent item last  ->  hidden states (B, T, out_dim)  ->  scores

    every model:   e = Dropout(item_emb[seq])                                  (B, T, dim)       the shared embedding
    LSTM:          h = Dropout(LSTM(e))                                         (B, T, hidden)    step t reads items <= t
    LSTM + MHA:    h = LayerNorm(h + Dropout(MultiHeadAttention(h, causal)))    (B, T, hidden)    still items <= t only
    BERT4Rec:      x = Dropout(LayerNorm(e + pos_emb))                          (B, T, dim)       every step reads all:
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
Loss: softmax cross-entropy over all items (BERT4Rec: at its [MASK] positions, the cloze loss). ``score_next(windows)``
gives every item's score after each window; the next-item protocol is ``course_utils.evaluate_next_item``.

The module contract (``LSTMRecommender(module=...)`` and the others): the module is built with the keywords of the
course's encoder below (LSTMEncoder ``(n_items=, dim=, hidden_dim=, n_layers=, dropout=)``, LSTMAttentionEncoder adds
``n_heads=, attention_dropout=``, BERT4RecEncoder ``(n_items=, dim=, n_layers=, n_heads=, dim_ff=, max_len=,
dropout=, attention_dropout=)``) and has ``encode(seqs) -> (B, T, D)`` and ``item_scores(h) -> (..., n_items)``, as
course_utils.torch_recommender.SequenceRecommender describes. Its item table has n_items + 2 rows (0 padding,
n_items + 1 [MASK]).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .._validation import check_fraction, check_int
from ..losses import cloze_loss
from ..torch_recommender import SequenceRecommender
from .sasrec import CausalSelfAttention


class NextItemEncoder(nn.Module):
    """The shared frame: item embedding (row 0 padding, row n_items + 1 [MASK]) and the output head."""

    def __init__(self, n_items: int, dim: int, out_dim: int, dropout: float):
        super().__init__()
        self.n_items = n_items
        self.item = nn.Embedding(n_items + 2, dim, padding_idx=0)
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

    def __init__(self, n_items, dim=32, hidden_dim=64, n_layers=1, dropout=0.1):
        super().__init__(n_items, dim, hidden_dim, dropout)
        self.lstm = nn.LSTM(dim, hidden_dim, n_layers, batch_first=True, dropout=dropout if n_layers > 1 else 0.0)

    def encode(self, seq):
        h, _ = self.lstm(self.drop(self.item(seq)))  # (B, T, hidden)
        return self.drop(h)


class LSTMAttentionEncoder(LSTMEncoder):
    """The LSTM's states, then causal multi-head self-attention over them (each step looks back at all earlier
    states directly, not only through the LSTM's memory), with a residual connection and layer norm."""

    def __init__(self, n_items, dim=32, hidden_dim=64, n_layers=1, n_heads=2, dropout=0.1, attention_dropout=0.0):
        super().__init__(n_items, dim, hidden_dim, n_layers, dropout)
        self.attention = CausalSelfAttention(hidden_dim, n_heads, attention_dropout)
        self.norm = nn.LayerNorm(hidden_dim)

    def encode(self, seq, need_weights: bool = False, last_only: bool = False):
        h = super().encode(seq)
        a, weights = self.attention(h, seq == 0, need_weights, last_only)
        out = self.norm((h[:, -1:] if last_only else h) + self.drop(a))  # last_only: (B, 1, hidden), for scoring
        return (out, [weights]) if need_weights else out


class BidirectionalBlock(nn.Module):
    """One post-LN Transformer encoder layer (as BERT and nn.TransformerEncoderLayer): attention over the whole
    window, then a feed-forward network, each with a residual connection and layer norm."""

    def __init__(self, dim: int, n_heads: int, dim_ff: int, dropout: float, attention_dropout: float = 0.0):
        super().__init__()
        self.attention = CausalSelfAttention(dim, n_heads, attention_dropout, causal=False)
        self.ffn = nn.Sequential(nn.Linear(dim, dim_ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim_ff, dim))
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, padding, need_weights: bool = False, last_only: bool = False):
        a, weights = self.attention(x, padding, need_weights, last_only)  # last_only: the last query only, (B, 1, dim)
        x = self.ln1((x[:, -1:] if last_only else x) + self.drop(a))
        return self.ln2(x + self.drop(self.ffn(x))), weights


class BERT4RecEncoder(NextItemEncoder):
    """A bidirectional Transformer encoder: every position attends to every real position of the window."""

    def __init__(self, n_items, dim=32, n_layers=1, n_heads=2, dim_ff=128, max_len=50, dropout=0.1,
                 attention_dropout=0.0):
        super().__init__(n_items, dim, dim, dropout)
        self.max_len = max_len
        self.position = nn.Embedding(max_len, dim)
        self.norm = nn.LayerNorm(dim)
        self.blocks = nn.ModuleList(BidirectionalBlock(dim, n_heads, dim_ff, dropout, attention_dropout)
                                    for _ in range(n_layers))

    def encode(self, seq, need_weights: bool = False, last_only: bool = False):
        t = seq.shape[1]
        if t > self.max_len:
            raise ValueError(f"BERT4Rec reads at most max_len={self.max_len} items; got sequences of length {t}.")
        positions = torch.arange(t - 1, -1, -1, device=seq.device)  # distance to the last position: padding-proof
        x = self.drop(self.norm(self.item(seq) + self.position(positions)))
        padding, weights = seq == 0, []
        for i, block in enumerate(self.blocks):  # scoring reads the last position: the last block computes only it
            x, w = block(x, padding, need_weights, last_only=last_only and i == len(self.blocks) - 1)
            weights.append(w)
        return (x, weights) if need_weights else x


_DOC_PARAMS = """
    embedding_dim, n_layers, dropout, learning_rate (AdamW), weight_decay, max_seq_length (T): the seed chapter's
    values (32, 1, 0.1, 0.003, 0.01, 50). batch_size and epochs: the seed trains 20 epochs of batch 256 over one
    window per target; training every position of a window in one pass makes an epoch ~40x fewer steps, so the course
    uses batch 64 and fewer epochs (measured on MovieLens 100K, chapter 5). module: the nn.Module class to train
    (None: the course's encoder). device, random_state, verbose: as every torch model of the course. fit needs a
    timestamp column in train and val_data; val_data gives per-epoch validation metrics (the next-item protocol of
    evaluate_next_item: hit_rate@10, ndcg@10, mrr, loss) in history_, on a fixed random sample of ``val_targets``
    events (None: all). attention_dropout (the attention models): dropout on the attention weights, 0 by default
    (dropout still acts on the embeddings and on every sublayer's output); at 0 the fused attention kernel runs on
    the CPU too.
"""


class LSTMRecommender(SequenceRecommender):
    __doc__ = "Next-item prediction with an LSTM over the user's items (hidden_dim: the LSTM's state size)." + _DOC_PARAMS

    _default_module = LSTMEncoder
    _val_protocol = "next_item"

    def __init__(self, embedding_dim: int = 32, hidden_dim: int = 64, n_layers: int = 1, dropout: float = 0.1,
                 max_seq_length: int = 50, learning_rate: float = 0.003, weight_decay: float = 0.01,
                 batch_size: int = 64, epochs: int = 8, val_targets: int | None = 1000, module=None,
                 device: str = "auto", random_state: int | None = 42, verbose: bool = True):
        self.embedding_dim = embedding_dim
        self.hidden_dim = hidden_dim
        self.n_layers = n_layers
        self.dropout = dropout
        self.max_seq_length = max_seq_length
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.epochs = epochs
        self.val_targets = val_targets
        self.module = module
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _validate_params(self):
        super()._validate_params()  # the shared checks first: types before arithmetic
        f = type(self).__name__
        check_int(self.hidden_dim, "hidden_dim", f, min_value=1)
        check_int(self.n_layers, "n_layers", f, min_value=1)
        if self.val_targets is not None:
            check_int(self.val_targets, "val_targets", f, min_value=1)

    def _module_kwargs(self):
        return {"n_items": len(self.item_index_), "dim": self.embedding_dim, "hidden_dim": self.hidden_dim,
                "n_layers": self.n_layers, "dropout": self.dropout}

    def _prepare(self, df):
        from ..data.sequences import chunk_windows

        # consecutive windows of T items: each position of a history is trained once per epoch, in one pass
        self._training_windows(*chunk_windows(self._sequences(df), self.max_seq_length))


class LSTMAttentionRecommender(LSTMRecommender):
    __doc__ = ("Next-item prediction with an LSTM followed by causal multi-head self-attention over its states "
               "(n_heads must divide hidden_dim)." + _DOC_PARAMS)

    _default_module = LSTMAttentionEncoder

    def __init__(self, embedding_dim: int = 32, hidden_dim: int = 64, n_layers: int = 1, n_heads: int = 2,
                 dropout: float = 0.1, attention_dropout: float = 0.0, max_seq_length: int = 50,
                 learning_rate: float = 0.003, weight_decay: float = 0.01, batch_size: int = 64, epochs: int = 8,
                 val_targets: int | None = 1000, module=None, device: str = "auto", random_state: int | None = 42,
                 verbose: bool = True):
        super().__init__(embedding_dim, hidden_dim, n_layers, dropout, max_seq_length, learning_rate, weight_decay,
                         batch_size, epochs, val_targets, module, device, random_state, verbose)
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

    def _module_kwargs(self):
        return {**super()._module_kwargs(), "n_heads": self.n_heads, "attention_dropout": self.attention_dropout}


class BERT4RecRecommender(SequenceRecommender):
    __doc__ = ("BERT4Rec: a bidirectional Transformer encoder trained on the cloze task (mask_prob: share of items "
               "hidden per window; n_heads must divide embedding_dim; dim_ff: the feed-forward size). A pass over the "
               "data gives it about mask_prob as many targets as a causal model gets, and on MovieLens 100K its "
               "validation loss stays flat for ~6 epochs before it learns: it trains 15 epochs by default, about "
               "twice the causal models' 8. To recommend it appends [MASK] after the history and reads the "
               "prediction there; get_attention_weights reads the history alone. last_item_share: the share of "
               "training windows whose only hidden item is the last one, the task recommend asks (the paper's "
               "extra samples: one per ten randomly masked copies, so 0.1 by default; 0 trains the cloze task "
               "alone)." + _DOC_PARAMS)

    _default_module = BERT4RecEncoder
    _val_protocol = "next_item"

    def __init__(self, embedding_dim: int = 32, n_layers: int = 1, n_heads: int = 2, dim_ff: int = 128,
                 dropout: float = 0.1, attention_dropout: float = 0.0, mask_prob: float = 0.2,
                 max_seq_length: int = 50, learning_rate: float = 0.003, weight_decay: float = 0.01,
                 batch_size: int = 64, epochs: int = 15, val_targets: int | None = 1000, last_item_share: float = 0.1,
                 module=None, device: str = "auto", random_state: int | None = 42, verbose: bool = True):
        self.embedding_dim = embedding_dim
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
        self.last_item_share = last_item_share
        self.module = module
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _validate_params(self):
        super()._validate_params()  # the shared checks first: types before arithmetic
        f = type(self).__name__
        check_int(self.n_layers, "n_layers", f, min_value=1)
        check_int(self.n_heads, "n_heads", f, min_value=1)
        check_int(self.dim_ff, "dim_ff", f, min_value=1)
        check_fraction(self.mask_prob, "mask_prob", f)
        share = self.last_item_share
        if isinstance(share, bool) or not isinstance(share, (int, float, np.floating)) or not 0 <= share <= 1:
            raise ValueError(f"The 'last_item_share' parameter of {f} must be a number in [0, 1] (the share of "
                             f"training windows that hide only their last item). Got {share!r}.")
        if self.attention_dropout != 0:
            check_fraction(self.attention_dropout, "attention_dropout", f)
        if self.embedding_dim % self.n_heads:
            raise ValueError(f"The 'embedding_dim' parameter of {f} must be divisible by n_heads={self.n_heads}. "
                             f"Got {self.embedding_dim}.")
        if self.val_targets is not None:
            check_int(self.val_targets, "val_targets", f, min_value=1)

    def _module_kwargs(self):
        return {"n_items": len(self.item_index_), "dim": self.embedding_dim, "n_layers": self.n_layers,
                "n_heads": self.n_heads, "dim_ff": self.dim_ff, "max_len": self.max_seq_length,
                "dropout": self.dropout, "attention_dropout": self.attention_dropout}

    def _prepare(self, df):
        from ..data.sequences import pad_left

        # the cloze task reads the items themselves: chunks of T items (of 2 or more), not shifted pairs
        t = self.max_seq_length
        chunks = [seq[max(0, end - t):end] for seq in self._sequences(df) for end in range(len(seq), 1, -t)]
        windows = pad_left([c for c in chunks if len(c) >= 2], t)
        self._training_windows(windows, windows)

    def _loss(self, batch):
        from ..data.sequences import cloze_mask

        windows = batch[0]
        mask_token = len(self.item_index_) + 1
        inputs, labels = cloze_mask(windows, self.mask_prob, mask_token, self._generator)
        if self.last_item_share:  # these rows hide their last item only: the task of recommend
            import torch

            rows = torch.rand(len(windows), generator=self._generator, device=windows.device) < self.last_item_share
            if rows.any():
                last = windows[rows, -1]
                inputs[rows] = windows[rows]
                inputs[rows, -1] = mask_token
                labels[rows] = 0
                labels[rows, -1] = last
        return cloze_loss(self.module_.encode(inputs), labels, self.module_.item_scores)

    def _scoring_windows(self, windows):
        """The prediction is read at an appended [MASK] (the window keeps its most recent max_seq_length codes)."""
        mask = np.full((len(windows), 1), len(self.item_index_) + 1, dtype=np.int64)
        return np.concatenate([windows, mask], axis=1)[:, -self.max_seq_length:]
