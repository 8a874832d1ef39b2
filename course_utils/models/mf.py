"""Matrix factorization trained with BPR (Rendle et al., UAI 2009): the smallest model of the course's torch loop.

users, items: (B,) int64  ->  scores: (B,) = <p_u, q_i> + b_i
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .._validation import check_int, check_positive
from ..recommender import TorchRecommender


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

    embedding_dim: size of p_u and q_i; reg_lambda: L2 on the embeddings a batch uses; epochs, batch_size,
    learning_rate: Adam's schedule. device: "auto", "cpu" or "cuda". random_state: seeds init, shuffling and sampling
    (training never touches the global random state).
    """

    def __init__(self, embedding_dim: int = 64, learning_rate: float = 0.005, batch_size: int = 1024, epochs: int = 30,
                 reg_lambda: float = 0.01, device: str = "auto", random_state: int | None = 42, verbose: bool = True):
        self.embedding_dim = embedding_dim
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.reg_lambda = reg_lambda
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _validate_params(self):
        f = "BPRMFRecommender"
        check_int(self.embedding_dim, "embedding_dim", f, min_value=1)
        check_int(self.batch_size, "batch_size", f, min_value=1)
        check_int(self.epochs, "epochs", f, min_value=1)
        check_positive(self.learning_rate, "learning_rate", f)
        check_positive(self.reg_lambda, "reg_lambda", f, strict=False)
        self._torch_device()

    def _build_module(self):
        return MF(len(self.user_index_), len(self.item_index_), self.embedding_dim)

    def _fit(self, df, val_df, callbacks):
        from ..data.sampling import UniformSampler
        from ..evaluation import Evaluator
        from ..losses import bpr_loss, l2_penalty
        from ..training import fit_loop

        device = self._torch_device()
        seed = 0 if self.random_state is None else self.random_state
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            self.module_ = self._build_module().to(device)
            pairs = self.seen_.tocoo()
            users_np, items_np = pairs.row.astype(np.int64), pairs.col.astype(np.int64)
            sampler = UniformSampler(len(self.item_index_), random_state=seed)
            rng = np.random.default_rng(seed)

            def batches(epoch):
                order = rng.permutation(len(users_np))
                neg = sampler.sample(users_np, self.seen_, 1)[:, 0]
                for s in range(0, len(order), self.batch_size):
                    b = order[s:s + self.batch_size]
                    yield tuple(torch.from_numpy(a[b]).to(device) for a in (users_np, items_np, neg))

            def step(batch):
                u, i, j = batch
                m = self.module_
                loss = bpr_loss(m(u, i), m(u, j))
                return loss + self.reg_lambda * l2_penalty(m.user(u), m.item(i), m.item(j), batch_size=len(u))

            validate = None
            if val_df is not None:
                evaluator = Evaluator(metrics=["ndcg", "recall", "hit_rate"], k_values=[10])
                validate = lambda: evaluator.evaluate(self, val_df, train_data=df).metrics()  # noqa: E731
            optimizer = torch.optim.Adam(self.module_.parameters(), lr=self.learning_rate)
            self.history_ = fit_loop(self.module_, batches, step, optimizer, self.epochs, validate, callbacks,
                                     progress=self.verbose, desc=type(self).__name__)

    def _score_users(self, users):
        with torch.no_grad():
            u = torch.as_tensor(users, dtype=torch.long, device=next(self.module_.parameters()).device)
            return self.module_.score_users(u).float().cpu().numpy()

    def _score_pairs(self, users, items):
        dev = next(self.module_.parameters()).device
        with torch.no_grad():
            return self.module_(torch.as_tensor(users, device=dev), torch.as_tensor(items, device=dev)).float().cpu().numpy()
