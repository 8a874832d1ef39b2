"""Chapter 1, the embedding MLP (course_utils/checks/ch1.py). The data exercises (digests of MovieLens counts) are
tested in tests/test_checks.py with the real data."""
import torch

from course_utils.models.embedding_mlp import EmbeddingMLP
from course_utils.models.keras_mlp import build_keras_mlp


def _keras_model(n_users, n_items):
    return build_keras_mlp(n_users, n_items)


def _keras_too_wide(n_users, n_items):
    return build_keras_mlp(n_users, n_items, embedding_dim=8)


def _keras_layers(n_users, n_items, user_rows=None, item_rows=None, widths=(128, 32), activations=("relu", "relu"),
                  item_first=False):
    """The seed's model with one mistake: table sizes, Dense widths, activations or the concatenation order."""
    from course_utils import frameworks

    keras = frameworks.keras()
    layers = keras.layers
    user_input, item_input = keras.Input(shape=(1,)), keras.Input(shape=(1,))
    user_vec = layers.Flatten()(layers.Embedding(user_rows or n_users + 1, 5)(user_input))
    item_vec = layers.Flatten()(layers.Embedding(item_rows or n_items + 1, 5)(item_input))
    x = layers.Concatenate()([item_vec, user_vec] if item_first else [user_vec, item_vec])
    for width, activation in zip(widths, activations, strict=True):
        x = layers.Dense(width, activation=activation)(x)
    return keras.Model([user_input, item_input], layers.Dense(1)(x))


KERAS_WRONG = [
    _keras_too_wide,
    lambda n_users, n_items: _keras_layers(n_users, n_items, user_rows=n_items + 1, item_rows=n_users + 1),  # sizes swapped
    lambda n_users, n_items: _keras_layers(n_users, n_items, activations=(None, "relu")),  # no relu (same parameter count)
    lambda n_users, n_items: _keras_layers(n_users, n_items, activations=("relu", None)),  # the 32 units linear
    lambda n_users, n_items: _keras_layers(n_users, n_items, widths=(32, 128)),  # the widths in the wrong order
    lambda n_users, n_items: _keras_layers(n_users, n_items, item_first=True),  # the movie's vector first
    lambda n_users, n_items: _keras_layers(n_users, n_items, user_rows=n_users, item_rows=n_items),  # no row for id n
]


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


def train_epoch(model, batches, optimizer, loss_fn):
    model.train()
    losses = []
    for users, items, ratings in batches:
        optimizer.zero_grad()
        loss = loss_fn(model(users, items), ratings)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)


def _no_zero_grad(model, batches, optimizer, loss_fn):  # gradients accumulate over the batches
    model.train()
    losses = []
    for users, items, ratings in batches:
        loss = loss_fn(model(users, items), ratings)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)


def _step_before_backward(model, batches, optimizer, loss_fn):  # each step uses no or stale gradients
    model.train()
    losses = []
    for users, items, ratings in batches:
        optimizer.zero_grad()
        loss = loss_fn(model(users, items), ratings)
        optimizer.step()
        loss.backward()
        losses.append(loss.item())
    return sum(losses) / len(losses)


def _last_loss(model, batches, optimizer, loss_fn):  # returns the last batch's loss
    model.train()
    for users, items, ratings in batches:
        optimizer.zero_grad()
        loss = loss_fn(model(users, items), ratings)
        loss.backward()
        optimizer.step()
    return loss.item()


def _summed(model, batches, optimizer, loss_fn):  # the sum of the batch losses
    model.train()
    total = 0.0
    for users, items, ratings in batches:
        optimizer.zero_grad()
        loss = loss_fn(model(users, items), ratings)
        loss.backward()
        optimizer.step()
        total += loss.item()
    return total


def _item_before_backward(model, batches, optimizer, loss_fn):  # the loss leaves autograd: nothing learns
    model.train()
    losses = []
    for users, items, ratings in batches:
        optimizer.zero_grad()
        value = loss_fn(model(users, items), ratings).item()
        torch.tensor(value, requires_grad=True).backward()
        optimizer.step()
        losses.append(value)
    return sum(losses) / len(losses)


def _no_train_mode(model, batches, optimizer, loss_fn):  # dropout stays off: the model is still in eval mode
    losses = []
    for users, items, ratings in batches:
        optimizer.zero_grad()
        loss = loss_fn(model(users, items), ratings)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)


def _own_mse(model, batches, optimizer, loss_fn):  # ignores loss_fn: always the squared error
    model.train()
    losses = []
    for users, items, ratings in batches:
        optimizer.zero_grad()
        loss = ((model(users, items) - ratings) ** 2).mean()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)


def _weighted(model, batches, optimizer, loss_fn):  # a mean weighted by batch size, not the mean batch loss
    model.train()
    total, rows = 0.0, 0
    for users, items, ratings in batches:
        optimizer.zero_grad()
        loss = loss_fn(model(users, items), ratings)
        loss.backward()
        optimizer.step()
        total, rows = total + loss.item() * len(users), rows + len(users)
    return total / rows


REFERENCE = {
    "ch1.keras-model": _keras_model,
    "ch1.torch-forward": EmbeddingMLP,
    "ch1.train-epoch": train_epoch,
}
WRONG = {
    "ch1.keras-model": KERAS_WRONG,
    "ch1.torch-forward": [NoSqueeze, ItemFirst, UserTwice, DetachedMLP],
    "ch1.train-epoch": [_no_zero_grad, _step_before_backward, _last_loss, _summed, _item_before_backward,
                        _no_train_mode, _own_mse, _weighted],
}


def _split(ratings):
    from course_utils import InteractionDataset

    return InteractionDataset(ratings).split(test_size=0.2, strategy="random", seed=42)


def _split_size(ratings):
    from course_utils import InteractionDataset

    train, test = _split(ratings)
    per_user, _ = InteractionDataset(ratings).split(test_size=0.2, strategy="user_random", seed=42)
    other_seed, _ = InteractionDataset(ratings).split(test_size=0.2, strategy="random", seed=0)
    return int(train.data["item_id"].nunique()), [
        int(ratings["item_id"].nunique()),  # the whole log's movies
        int(test.data["item_id"].nunique()),  # the test part's movies
        len(train),  # the training part's rows
        int(per_user.data["item_id"].nunique()),  # a per-user split
        int(other_seed.data["item_id"].nunique())]  # another seed


def _baseline_rmse(ratings):
    import numpy as np

    train, test = _split(ratings)
    error = test.data["rating"] - train.data["rating"].mean()
    return float(np.sqrt((error ** 2).mean())), [
        float((error ** 2).mean()),  # MSE, not its root
        float(np.abs(error).mean()),  # MAE
        float(np.sqrt(((test.data["rating"] - train.data["rating"].median()) ** 2).mean()))]  # the median rating


def _cold_test(ratings):
    train, test = _split(ratings)
    known_user = test.data["user_id"].isin(train.data["user_id"])
    known_item = test.data["item_id"].isin(train.data["item_id"])
    fit_part, _ = _split_fit(train)
    against_fit = ~(test.data["user_id"].isin(fit_part.data["user_id"]) & test.data["item_id"].isin(fit_part.data["item_id"]))
    return int((~(known_user & known_item)).sum()), [
        int(test.data.loc[~known_item, "item_id"].nunique()),  # distinct movies, not ratings
        int((~known_user).sum()),  # unknown users only
        int(against_fit.sum())]  # against the fitting part, not the whole training part


def _split_fit(train):
    from course_utils import InteractionDataset

    return InteractionDataset(train.data).split(test_size=0.125, strategy="random", seed=42)


DATA_ANSWERS = {
    "ch1.split-size": _split_size,
    "ch1.cold-test": _cold_test,
    "ch1.baseline-rmse": _baseline_rmse,
}
DATA_WRONG_COUNTS = {k: 3 for k in DATA_ANSWERS} | {"ch1.split-size": 5}
