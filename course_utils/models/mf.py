"""Matrix factorization trained with BPR (Rendle et al., UAI 2009): the smallest model of the course's torch loop.

users, items: (B,) int64  ->  scores: (B,) = <p_u, q_i> + b_i

The module contract (``BPRMFRecommender(module=...)``): ``module(n_users=, n_items=, dim=)`` builds an nn.Module
with ``forward(users, items) -> (B,)`` scores and the embeddings ``user`` (n_users, dim) and ``item``
(n_items, dim), whose rows of a batch carry the L2 term; ``score_users(users) -> (B, n_items)`` is optional (without
it the catalogue is scored pair by pair).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..losses import bpr_loss, l2_penalty
from ..torch_recommender import TorchRecommender


class MF(nn.Module):
    def __init__(self, n_users: int, n_items: int, dim: int = 64):
        super().__init__()
        self.user, self.item = nn.Embedding(n_users, dim), nn.Embedding(n_items, dim)
        self.item_bias = nn.Embedding(n_items, 1)  # popular items get a head start that p_u . q_i need not learn
        nn.init.normal_(self.user.weight, std=0.1)
        nn.init.normal_(self.item.weight, std=0.1)
        nn.init.zeros_(self.item_bias.weight)

    def forward(self, users, items):
        return (self.user(users) * self.item(items)).sum(-1) + self.item_bias(items).squeeze(-1)  # (B,)

    def score_users(self, users):
        return self.user(users) @ self.item.weight.T + self.item_bias.weight.T  # (B, n_items)


class BPRMFRecommender(TorchRecommender):
    """Matrix factorization with the BPR loss: one uniformly sampled negative per observed pair.

    embedding_dim: size of p_u and q_i; reg_lambda: the paper's L2 term on the embeddings a batch uses; epochs,
    batch_size, learning_rate: Adam's schedule. module: the nn.Module class to train (None: MF, above). device:
    "auto", "cpu" or "cuda". random_state: seeds init, shuffling and sampling (None: not seeded).

    Defaults chosen on validation (``python -m benchmarks run defaults``: MovieLens 100K, per-user 65/10/25 splits of
    seeds 1-3): reg_lambda 0.01 of 0.001, 0.01, 0.1, and 108 epochs, the epoch with the best mean validation nDCG@10
    over the three seeds' curves (up to 150; the earlier default of 30 epochs stopped while the curve still rose).
    """

    _default_module = MF

    def __init__(self, embedding_dim: int = 64, learning_rate: float = 0.005, batch_size: int = 1024, epochs: int = 108,
                 reg_lambda: float = 0.01, module=None, device: str = "auto", random_state: int | None = 42,
                 verbose: bool = True):
        self.embedding_dim = embedding_dim
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.reg_lambda = reg_lambda
        self.module = module
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _module_kwargs(self):
        return {"n_users": len(self.user_index_), "n_items": len(self.item_index_), "dim": self.embedding_dim}

    def _prepare(self, df):
        from ..data.sampling import UniformSampler

        pairs = self.seen_.tocoo()
        self._pairs = pairs.row.astype(np.int64), pairs.col.astype(np.int64)
        self._sampler = UniformSampler(len(self.item_index_), random_state=self._rng)

    def _epoch_data(self, epoch):
        users, items = self._pairs
        negatives = self._sampler.sample(users, self.seen_, 1)[:, 0]  # fresh every epoch, never a training item
        return tuple(torch.from_numpy(a).to(self._device) for a in (users, items, negatives))

    def _loss(self, batch):
        u, i, j = batch
        m = self.module_
        return bpr_loss(m(u, i), m(u, j)) + self.reg_lambda * l2_penalty(m.user(u), m.item(i), m.item(j), batch_size=len(u))

    def _score_users(self, users):
        if not hasattr(self.module_, "score_users"):
            return self._score_users_by_pairs(users)
        with torch.no_grad():
            return self.module_.score_users(self._tensor(users, torch.long)).float().cpu().numpy()

    def _score_pairs(self, users, items):
        with torch.no_grad():
            return self.module_(self._tensor(users, torch.long), self._tensor(items, torch.long)).float().cpu().numpy()
