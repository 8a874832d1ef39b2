"""Chapter 1, the seed's embedding MLP: data counts and the global-mean RMSE (digests), the Keras model (a function
whose architecture is compared with a reference built here) and the PyTorch twin's forward (a model that must learn).
"""
import numpy as np

from .. import frameworks
from .core import Exercise, register
from .harness import equivalent_module_run, function_exercise, id_pair_cases, ignores_input, pair_learning, tensors_close

register(  # the data exercises, answered with numbers read from MovieLens 100K
    Exercise("ch1.split-size", "Training rows after a 4:1 split", 1, "exact",
             "split with test_size=0.2 and seed 42 (dataset.split or sklearn's train_test_split), then count the training rows.",
             digest="e80e6ea72bfa48c7081e479402d9fe6f"),
    Exercise("ch1.n-items", "Unique movies", 1, "exact", "count the distinct values of the item_id column (nunique).",
             digest="f8fd3ade7bde34714892dbe17cfeb1a7"),
    Exercise("ch1.n-users", "Unique users", 1, "exact", "count the distinct values of the user_id column (nunique).",
             digest="6aad873baf7e83a51a84ddf968a932fb"),
    Exercise("ch1.baseline-rmse", "RMSE of the global-mean baseline", 1, "number",
             "predict the mean rating of the TRAINING part for every test row, then take the root of the mean squared error "
             "on the test part.", digest="ef96aeb22c47da2264639624c6b97f4d", tolerance=0.001),
)


def reference_keras_model(n_users: int, n_items: int):
    """The architecture the exercise asks for, built with Keras layers: ids 1..n (row 0 reserved, hence n + 1)."""
    keras = frameworks.keras()
    layers = keras.layers
    user_input, item_input = keras.Input(shape=(1,)), keras.Input(shape=(1,))
    user_vec = layers.Flatten()(layers.Embedding(n_users + 1, 5)(user_input))
    item_vec = layers.Flatten()(layers.Embedding(n_items + 1, 5)(item_input))
    x = layers.Concatenate()([user_vec, item_vec])
    x = layers.Dense(32, activation="relu")(layers.Dense(128, activation="relu")(x))
    return keras.Model([user_input, item_input], layers.Dense(1)(x))


@function_exercise(
    "ch1.keras-model", "The seed's Keras model", 2, takes=["n_users", "n_items"],
    hint="two Input(shape=(1,)) layers; Embedding(n + 1, 5) and Flatten for each; Concatenate; Dense(128, relu), "
         "Dense(32, relu), Dense(1); Model([user_input, item_input], output).")
def keras_model_run(fn):
    """``build_model(n_users, n_items)`` returning a Keras model: two id inputs, one rating per pair, and exactly the
    reference architecture's parameter count."""
    for n_users, n_items in ((10, 20), (7, 3)):
        model = fn(n_users, n_items)
        if not hasattr(model, "count_params") or not hasattr(model, "predict"):
            return False, f"build_model must return a Keras Model; it returned {type(model).__name__}."
        out = np.asarray(model.predict([np.array([[1], [n_users]]), np.array([[n_items], [1]])], verbose=0))
        if out.shape != (2, 1):
            return False, f"for 2 (user, item) pairs the model should output shape (2, 1); yours gives {out.shape}."
        if model.count_params() != reference_keras_model(n_users, n_items).count_params():
            return False, (f"with n_users={n_users}, n_items={n_items} your model has {model.count_params():,} "
                           f"parameters, which is not the architecture asked for (check the Embedding sizes and Dense widths).")
    return True, "correct: the inputs, the output and every layer's size match."


def reference_rating_mlp(n_users: int, n_items: int, dim: int = 5):
    """The PyTorch twin of the seed's Keras model, as the exercise's __init__ defines it (ids 1..n, row 0 unused)."""
    import torch
    from torch import nn

    class RatingMLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.user, self.item = nn.Embedding(n_users + 1, dim), nn.Embedding(n_items + 1, dim)
            self.mlp = nn.Sequential(nn.Linear(2 * dim, 128), nn.ReLU(), nn.Linear(128, 32), nn.ReLU(), nn.Linear(32, 1))

        def forward(self, users, items):
            return self.mlp(torch.cat([self.user(users), self.item(items)], dim=-1)).squeeze(-1)  # (B,)

    return RatingMLP()


def _item_first(module, ref, inputs) -> bool:
    """Whether the module concatenates the movie's embedding before the user's."""
    import torch

    users, items = inputs
    return tensors_close(module(*inputs), ref.mlp(torch.cat([ref.item(items), ref.user(users)], dim=-1)).squeeze(-1))


RATING_DIAGNOSES = (
    (ignores_input(1),
     "your rating does not change when only the movie changes: both embeddings must reach the MLP."),
    (ignores_input(0),
     "your rating does not change when only the user changes: both embeddings must reach the MLP."),
    (_item_first, "the first layer reads the user's embedding first and the movie's second (as Keras' "
                  "Concatenate([user, item])): the order of the two vectors must match the weights it learned."),
)

register(Exercise("ch1.torch-forward", "The PyTorch twin's forward", 2, "model",
                  "embed users and items, concatenate the two vectors along the last dimension (torch.cat(..., dim=-1)), pass "
                  "them through self.mlp and squeeze the last dimension so that one rating per pair comes out.",
                  run=equivalent_module_run(
                      reference_rating_mlp, {"n_users": 64, "n_items": 64, "dim": 5},
                      lambda: id_pair_cases(64, 64, first=1), RATING_DIAGNOSES,
                      "correct: with the reference's weights your forward gives the same ratings and gradients on a random "
                      "batch, a batch of one, one user with several movies and several users with one movie.",
                      training=pair_learning(64, 64, first=1, task="rating"))))
