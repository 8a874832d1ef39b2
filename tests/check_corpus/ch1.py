"""Chapter 1, the embedding MLP (course_utils/checks/ch1.py). The data exercises (digests of MovieLens counts) are
tested in tests/test_checks.py with the real data."""
import torch

from course_utils.models.embedding_mlp import EmbeddingMLP
from course_utils.models.keras_mlp import build_keras_mlp


def _keras_model(n_users, n_items):
    return build_keras_mlp(n_users, n_items)


def _keras_too_wide(n_users, n_items):
    return build_keras_mlp(n_users, n_items, embedding_dim=8)


class NoSqueeze(EmbeddingMLP):  # forgets to squeeze: (B, 1) instead of (B,)
    def forward(self, users, items):
        return self.mlp(torch.cat([self.user(users), self.item(items)], dim=-1))


class ItemFirst(EmbeddingMLP):  # concatenates the item before the user
    def forward(self, users, items):
        return self.mlp(torch.cat([self.item(items), self.user(users)], dim=-1)).squeeze(-1)


class UserTwice(EmbeddingMLP):  # the user's embedding twice: the rating ignores the item
    def forward(self, users, items):
        return self.mlp(torch.cat([self.user(users), self.user(users)], dim=-1)).squeeze(-1)


class DetachedMLP(EmbeddingMLP):  # right ratings, but the embeddings are cut off from autograd: they never learn
    def forward(self, users, items):
        return self.mlp(torch.cat([self.user(users), self.item(items)], dim=-1).detach()).squeeze(-1)


REFERENCE = {
    "ch1.keras-model": _keras_model,
    "ch1.torch-forward": EmbeddingMLP,
}
WRONG = {
    "ch1.keras-model": [_keras_too_wide],
    "ch1.torch-forward": [NoSqueeze, ItemFirst, UserTwice, DetachedMLP],
}


def _split(ratings):
    from course_utils import InteractionDataset

    return InteractionDataset(ratings).split(test_size=0.2, strategy="random", seed=42)


def _split_size(ratings):
    train, test = _split(ratings)
    return len(train), [len(test), len(ratings), int(0.75 * len(ratings))]  # test part; no split; a 3:1 split


def _baseline_rmse(ratings):
    import numpy as np

    train, test = _split(ratings)
    error = test.data["rating"] - train.data["rating"].mean()
    return float(np.sqrt((error ** 2).mean())), [
        float((error ** 2).mean()),  # MSE, not its root
        float(np.abs(error).mean()),  # MAE
        float(np.sqrt(((test.data["rating"] - train.data["rating"].median()) ** 2).mean()))]  # the median rating


DATA_ANSWERS = {
    "ch1.split-size": _split_size,
    "ch1.n-items": lambda r: (r["item_id"].nunique(), [r["item_id"].max() + 1, len(r), r["user_id"].nunique()]),
    "ch1.n-users": lambda r: (r["user_id"].nunique(), [len(r), r["user_id"].max() + 1, r["item_id"].nunique()]),
    "ch1.baseline-rmse": _baseline_rmse,
}
DATA_WRONG_COUNTS = {k: 3 for k in DATA_ANSWERS}
