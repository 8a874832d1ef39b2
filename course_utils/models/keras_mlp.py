"""The seed chapter's Keras functional model for ratings, and a recommender around it (chapter 1).

    user id -> Embedding(n_users + 1, 5) -> Flatten --\\
                                                       Concatenate -> Dense(128, relu) -> Dense(32, relu) -> Dense(1)
    item id -> Embedding(n_items + 1, 5) -> Flatten --/
TensorFlow/Keras come from course_utils.frameworks, the one place that imports them.
"""
from __future__ import annotations

import math

import numpy as np

from .. import frameworks
from .._validation import check_dataframe, check_fraction, check_int, check_layers, check_positive
from ..recommender import BaseRecommender
from ..training import History


def build_keras_mlp(n_users: int, n_items: int, embedding_dim: int = 5, hidden_layers=(128, 32), dropout: float = 0.0):
    """The Keras twin of EmbeddingMLP: ids in 1..n, index 0 reserved (hence n + 1 rows).

    dropout: a Dropout layer of this rate after every hidden Dense layer (0: none, the seed's model; chapter 6 tunes it).
    """
    if dropout != 0:
        check_fraction(dropout, "dropout", "build_keras_mlp")
    keras = frameworks.keras()
    layers = keras.layers
    user_input = keras.Input(shape=(1,), name="user")
    item_input = keras.Input(shape=(1,), name="item")
    user_vec = layers.Flatten(name="user_flat")(layers.Embedding(n_users + 1, embedding_dim, name="user_embedding")(user_input))
    item_vec = layers.Flatten(name="item_flat")(layers.Embedding(n_items + 1, embedding_dim, name="item_embedding")(item_input))
    x = layers.Concatenate(name="concat")([user_vec, item_vec])
    for j, width in enumerate(hidden_layers):
        x = layers.Dense(width, activation="relu", name=f"dense_{j}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout_{j}")(x)
    out = layers.Dense(1, name="rating")(x)
    return keras.Model([user_input, item_input], out, name="embedding_mlp")


def keras_rating_inputs(ratings, user_index, item_index, name: str = "ratings"):
    """([user ids, item ids], ratings) arrays for ``build_keras_mlp``'s model: ids are positions in the indexes + 1.

    ratings: a DataFrame (or split part) with user_id, item_id, rating. user_index / item_index: the training data's
    ids (e.g. ``pd.Index(sorted(train["user_id"].unique()))``). A user or item missing from them is an error, never a
    silent drop: filter such rows first (the model has no embedding for them).
    """
    import pandas as pd

    df = ratings.data if hasattr(ratings, "data") and hasattr(ratings, "dataset") else ratings
    check_dataframe(df, name, ["user_id", "item_id", "rating"], "keras_rating_inputs")
    u = pd.Index(user_index).get_indexer(df["user_id"])
    i = pd.Index(item_index).get_indexer(df["item_id"])
    for codes, column in ((u, "user_id"), (i, "item_id")):
        if (codes < 0).any():
            unknown = df[column].to_numpy()[codes < 0]
            raise ValueError(f"The '{name}' parameter of keras_rating_inputs has {len(unknown)} rows whose {column} is not "
                             f"in the training index (first: {unknown.tolist()[0]!r}); drop them first.")
    ids = [(u + 1).reshape(-1, 1).astype(np.int64), (i + 1).reshape(-1, 1).astype(np.int64)]
    return ids, df["rating"].to_numpy(np.float32)


class KerasMLPRecommender(BaseRecommender):
    """The seed's Keras model on the course's recommender shape (task="rating"). Trained with Adam and MSE.

    Keras has no per-model random generator: fit seeds Python, NumPy and TensorFlow globally with random_state
    (keras.utils.set_random_seed); the PyTorch recommenders keep their randomness to themselves.
    val_data ratings whose user or item is not in the training data have no embedding: they are left out of the
    validation RMSE, and ``n_val_skipped_`` says how many.
    """

    task = "rating"

    def __init__(self, embedding_dim: int = 5, hidden_layers=(128, 32), learning_rate: float = 1e-3, batch_size: int = 256,
                 epochs: int = 5, random_state: int | None = 42, verbose: bool = True):
        self.embedding_dim = embedding_dim
        self.hidden_layers = hidden_layers
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.random_state = random_state
        self.verbose = verbose

    def _validate_params(self):
        f = type(self).__name__
        check_int(self.embedding_dim, "embedding_dim", f, min_value=1)
        check_layers(self.hidden_layers, "hidden_layers", f)
        check_int(self.batch_size, "batch_size", f, min_value=1)
        check_int(self.epochs, "epochs", f, min_value=1)
        check_positive(self.learning_rate, "learning_rate", f)


    def _build(self):
        return build_keras_mlp(len(self.user_index_), len(self.item_index_), self.embedding_dim, tuple(self.hidden_layers))

    def _fit(self, df, val_df, callbacks):
        keras = frameworks.keras()
        from tqdm.auto import tqdm

        if self.random_state is not None:
            keras.utils.set_random_seed(self.random_state)
        self.model_ = self._build()
        self.model_.compile(optimizer=keras.optimizers.Adam(learning_rate=self.learning_rate), loss="mse")
        (u, i), y = keras_rating_inputs(df, self.user_index_, self.item_index_, name="train")
        validation = None
        if val_df is not None:
            # a validation rating of a user or movie absent from training has no embedding: left out, and counted
            known = (self.user_index_.get_indexer(val_df["user_id"]) >= 0) & (self.item_index_.get_indexer(val_df["item_id"]) >= 0)
            self.n_val_skipped_ = int((~known).sum())
            validation = keras_rating_inputs(val_df[known], self.user_index_, self.item_index_, name="val_data")
        history, bar = History(), tqdm(total=self.epochs, desc=type(self).__name__, unit="epoch", disable=not self.verbose)

        class Relay(keras.callbacks.Callback):  # Keras epochs -> the course's History, progress bar and callbacks
            def on_epoch_end(cb_self, epoch, logs=None):
                logs = logs or {}
                val = {"mse": logs["val_loss"], "rmse": math.sqrt(logs["val_loss"])} if "val_loss" in logs else None
                history.append({"epoch": epoch + 1, "train_loss": logs["loss"], "seconds": float("nan"), **(val or {})})
                bar.update(1)
                bar.set_postfix(loss=f"{logs['loss']:.4f}", **({"val_rmse": f"{val['rmse']:.4f}"} if val else {}))
                for cb in callbacks:
                    cb(epoch + 1, logs["loss"], val)
                if any(getattr(cb, "stop_training", False) for cb in callbacks):
                    cb_self.model.stop_training = True

        self.model_.fit([u, i], y, batch_size=self.batch_size, epochs=self.epochs, validation_data=validation,
                        callbacks=[Relay()], verbose=0, shuffle=True)
        bar.close()
        self.history_ = history

    def _score_pairs(self, users, items):
        u = (np.asarray(users) + 1).reshape(-1, 1)
        i = (np.asarray(items) + 1).reshape(-1, 1)
        # call the model directly: predict() retraces its tf.function for every new input size
        return np.concatenate([np.asarray(self.model_([u[s:s + 65536], i[s:s + 65536]], training=False)).ravel()
                               for s in range(0, len(u), 65536)]) if len(u) else np.zeros(0, dtype=np.float32)

    def _score_users(self, users):
        return self._score_users_by_pairs(users)

    def _get_state(self):
        return {f"weight_{j:02d}": w for j, w in enumerate(self.model_.get_weights())}

    def _set_state(self, state):
        self.model_ = self._build()
        self.model_.set_weights([state[k] for k in sorted(state)])


def copy_keras_weights(keras_model, module) -> None:
    """Copy the weights of ``build_keras_mlp``'s model into an ``EmbeddingMLP`` with the same sizes (in place).

    Keras keeps Dense kernels as (in, out); torch's Linear keeps (out, in): hence the transposes.
    """
    import torch

    with torch.no_grad():
        module.user.weight.copy_(torch.as_tensor(keras_model.get_layer("user_embedding").get_weights()[0]))
        module.item.weight.copy_(torch.as_tensor(keras_model.get_layer("item_embedding").get_weights()[0]))
        dense = [layer for layer in keras_model.layers if layer.name.startswith("dense_") or layer.name == "rating"]
        linear = [m for m in module.mlp if isinstance(m, torch.nn.Linear)]
        if len(dense) != len(linear):
            raise ValueError(f"The Keras model has {len(dense)} Dense layers and the module {len(linear)} Linear layers.")
        for d, lin in zip(dense, linear, strict=True):
            kernel, bias = d.get_weights()
            lin.weight.copy_(torch.as_tensor(kernel.T))
            lin.bias.copy_(torch.as_tensor(bias))
