"""The embedding MLP for ratings (chapter 1), in PyTorch: the seed chapter's Keras model, layer for layer.

users, items: (B,) int64 in 1..n (0 is reserved, as in Keras' Embedding(n + 1, dim))  ->  ratings: (B,)

    user id -> Embedding(n_users + 1, dim) --\\
                                               concat -> Dense(128, relu) -> Dense(32, relu) -> Dense(1)
    item id -> Embedding(n_items + 1, dim) --/

The module contract (``EmbeddingMLPRecommender(module=...)``): ``module(n_users=, n_items=, dim=, hidden=, init=)``
builds an nn.Module whose ``forward(users, items) -> (B,)`` predicts ratings for 1-based ids (index 0 is never used).
A class that takes fewer of these keywords gets only those (chapter 1's RatingMLP(n_users, n_items, dim) fixes its
own layers and initialization; hidden_layers and init then change nothing).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .._validation import check_choice, check_layers, check_positive
from ..torch_recommender import TorchRecommender


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
    adam_eps: Adam's epsilon (PyTorch's default 1e-8; Keras uses 1e-7). module: the nn.Module class to train (None:
    EmbeddingMLP). Validation (val_data): mse and rmse of the ratings whose user and item the model knows.
    """

    task = "rating"
    _default_module = EmbeddingMLP

    def __init__(self, embedding_dim: int = 5, hidden_layers=(128, 32), learning_rate: float = 1e-3, batch_size: int = 256,
                 epochs: int = 5, init: str = "pytorch", adam_eps: float = 1e-8, module=None, device: str = "auto",
                 random_state: int | None = 42, verbose: bool = True):
        self.embedding_dim = embedding_dim
        self.hidden_layers = hidden_layers
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.init = init
        self.adam_eps = adam_eps
        self.module = module
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _validate_params(self):
        super()._validate_params()  # the shared checks first: types before arithmetic
        f = type(self).__name__
        check_layers(self.hidden_layers, "hidden_layers", f)
        check_positive(self.adam_eps, "adam_eps", f)
        check_choice(self.init, "init", ["pytorch", "keras"], f)

    def _module_kwargs(self):
        return {"n_users": len(self.user_index_), "n_items": len(self.item_index_), "dim": self.embedding_dim,
                "hidden": tuple(self.hidden_layers), "init": self.init}

    def _prepare(self, df):
        # raw ids -> 1-based indices (0 stays free, as in the seed's Embedding(n + 1, dim))
        users = self.user_index_.get_indexer(df["user_id"]) + 1
        items = self.item_index_.get_indexer(df["item_id"]) + 1
        self._examples = (torch.from_numpy(users.astype(np.int64)).to(self._device),
                          torch.from_numpy(items.astype(np.int64)).to(self._device),
                          torch.from_numpy(df["rating"].to_numpy(np.float32)).to(self._device))

    def _epoch_data(self, epoch):
        return self._examples

    def _loss(self, batch):
        users, items, ratings = batch
        return ((self.module_(users, items) - ratings) ** 2).mean()

    def _optimizer(self, module):
        return torch.optim.Adam(module.parameters(), lr=self.learning_rate, eps=self.adam_eps, fused=True)

    def _train(self, module, validate, callbacks, desc=None):
        return super()._train(module, validate, callbacks, desc=desc or f"{type(self).__name__} ({self.init} init)")

    def _score_pairs(self, users, items):
        with torch.no_grad():
            return self.module_(self._tensor(users + 1, torch.long), self._tensor(items + 1, torch.long)).cpu().numpy()

    def _score_users(self, users):
        return self._score_users_by_pairs(users)
