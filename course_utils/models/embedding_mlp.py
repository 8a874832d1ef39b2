"""The embedding MLP for ratings (chapter 1), in PyTorch: the seed chapter's Keras model, layer for layer.

users, items: (B,) int64 in 1..n (0 is reserved, as in Keras' Embedding(n + 1, dim))  ->  ratings: (B,)

    user id -> Embedding(n_users + 1, dim) --\\
                                               concat -> Dense(128, relu) -> Dense(32, relu) -> Dense(1)
    item id -> Embedding(n_items + 1, dim) --/
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .._validation import check_choice, check_int, check_layers, check_positive
from ..recommender import TorchRecommender


class EmbeddingMLP(nn.Module):
    def __init__(self, n_users: int, n_items: int, dim: int = 5, hidden: tuple = (128, 32), init: str = "pytorch"):
        super().__init__()
        self.user, self.item = nn.Embedding(n_users + 1, dim), nn.Embedding(n_items + 1, dim)
        layers, width = [], 2 * dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.mlp = nn.Sequential(*layers, nn.Linear(width, 1))
        if init == "keras":
            self.keras_init_()

    def keras_init_(self):
        """Keras' defaults: Embedding ~ U(-0.05, 0.05); Dense kernels Glorot-uniform, biases 0.
        (PyTorch's defaults: Embedding ~ N(0, 1), 20x larger; Linear ~ U(+-1/sqrt(fan_in)) for weights and biases.)"""
        for emb in (self.user, self.item):
            nn.init.uniform_(emb.weight, -0.05, 0.05)
        for layer in self.mlp:
            if isinstance(layer, nn.Linear):
                nn.init.xavier_uniform_(layer.weight)
                nn.init.zeros_(layer.bias)
        return self

    def forward(self, users, items):
        x = torch.cat([self.user(users), self.item(items)], dim=-1)  # (B, 2 * dim)
        return self.mlp(x).squeeze(-1)  # (B,)


class EmbeddingMLPRecommender(TorchRecommender):
    """Rating prediction with the embedding MLP (task="rating": ``predict(users, items)``; ``recommend`` ranks by
    predicted rating).

    embedding_dim, hidden_layers: the architecture (the seed: 5 and (128, 32)). Trained with MSE and Adam.
    init: "pytorch" (PyTorch's default initialization) or "keras" (Keras' defaults, see EmbeddingMLP.keras_init_).
    adam_eps: Adam's epsilon (PyTorch's default 1e-8; Keras uses 1e-7).
    """

    task = "rating"

    def __init__(self, embedding_dim: int = 5, hidden_layers=(128, 32), learning_rate: float = 1e-3, batch_size: int = 256,
                 epochs: int = 5, init: str = "pytorch", adam_eps: float = 1e-8, device: str = "auto",
                 random_state: int | None = 42, verbose: bool = True):
        self.embedding_dim = embedding_dim
        self.hidden_layers = hidden_layers
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.init = init
        self.adam_eps = adam_eps
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _validate_params(self):
        f = type(self).__name__
        check_int(self.embedding_dim, "embedding_dim", f, min_value=1)
        check_layers(self.hidden_layers, "hidden_layers", f)
        check_int(self.batch_size, "batch_size", f, min_value=1)
        check_int(self.epochs, "epochs", f, min_value=1)
        check_positive(self.learning_rate, "learning_rate", f)
        check_positive(self.adam_eps, "adam_eps", f)
        check_choice(self.init, "init", ["pytorch", "keras"], f)
        self._torch_device()

    def _build_module(self):
        return EmbeddingMLP(len(self.user_index_), len(self.item_index_), self.embedding_dim, tuple(self.hidden_layers), self.init)

    def _ids(self, df):
        """Raw ids -> 1-based indices (0 stays free, as in the seed's Embedding(n + 1, dim))."""
        return self.user_index_.get_indexer(df["user_id"]) + 1, self.item_index_.get_indexer(df["item_id"]) + 1

    def _fit(self, df, val_df, callbacks):
        from ..training import fit_loop

        device = self._torch_device()
        seed = 0 if self.random_state is None else self.random_state
        u, i = self._ids(df)
        y = df["rating"].to_numpy(np.float32)
        tensors = [torch.as_tensor(a, device=device) for a in (u.astype(np.int64), i.astype(np.int64), y)]
        validate = None
        if val_df is not None:
            known = (self.user_index_.get_indexer(val_df["user_id"]) >= 0) & (self.item_index_.get_indexer(val_df["item_id"]) >= 0)
            vu, vi = self._ids(val_df[known])
            vt = [torch.as_tensor(a, device=device) for a in (vu.astype(np.int64), vi.astype(np.int64),
                                                               val_df["rating"].to_numpy(np.float32)[known])]

            def validate():
                mse = ((self.module_(vt[0], vt[1]) - vt[2]) ** 2).mean().item()
                return {"mse": mse, "rmse": math.sqrt(mse)}

        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            self.module_ = self._build_module().to(device)
            gen = torch.Generator(device="cpu").manual_seed(seed)

            def batches(epoch):
                order = torch.randperm(len(y), generator=gen).to(device)
                for s in range(0, len(y), self.batch_size):
                    b = order[s:s + self.batch_size]
                    yield tuple(t[b] for t in tensors)

            def step(batch):
                users, items, ratings = batch
                return ((self.module_(users, items) - ratings) ** 2).mean()

            optimizer = torch.optim.Adam(self.module_.parameters(), lr=self.learning_rate, eps=self.adam_eps)
            self.history_ = fit_loop(self.module_, batches, step, optimizer, self.epochs, validate, callbacks,
                                     progress=self.verbose, desc=f"{type(self).__name__} ({self.init} init)")

    def _score_pairs(self, users, items):
        dev = next(self.module_.parameters()).device
        with torch.no_grad():
            return self.module_(torch.as_tensor(users + 1, device=dev), torch.as_tensor(items + 1, device=dev)).cpu().numpy()

    def _score_users(self, users):
        return self._score_users_by_pairs(users)
