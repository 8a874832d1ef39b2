"""Chapter 1, the seed's embedding MLP: the split size, the test ratings no model can score and the global-mean RMSE
(digests); the Keras model (a function: its weights are copied into a reference built here and both must predict the
same ratings); the PyTorch twin's forward (a model checked by equivalence, then it must learn); and one training epoch
(a function: from the same weights and batches it must leave the reference epoch's weights and return the mean loss).
"""
import numpy as np

from .. import frameworks
from .core import Exercise, register
from .harness import as_number, equivalent_module_run, function_exercise, id_pair_cases, ignores_input, pair_learning, tensors_close

register(  # the data exercises, answered with numbers read from MovieLens 100K
    Exercise("ch1.split-size", "Movies in the training part of a 4:1 split", 1, "exact",
             "a 4:1 split keeps four fifths of the ratings for training, drawn at random over all rows (not per user) "
             "but reproducibly, with the seed the task names; then count distinct movies of the training part, not "
             "its rows, and not the movies of the test part or of the whole log.",
             digest="a28b7c1af0706c40ff72dd4f39f28027",
             nudge="the course's split has a strategy that draws rows at random over the whole log (the one that gives "
                   "scikit-learn's rows for the same seed); a pandas Series can count its distinct values."),
    Exercise("ch1.cold-test", "Test ratings the model cannot score", 1, "exact",
             "a rating model has a learned vector only for the users and movies it met in training: count the test "
             "ratings (rows, not distinct movies) whose user or movie never occurs in the whole training part.",
             digest="ff1cabb08ee19b60d76650cff8820955",
             nudge="pandas can test, row by row, whether a column's values occur in another column (Series.isin). "
                   "Build one condition for the user and one for the movie, combine them so that either unknown one "
                   "counts, and count those rows."),
    Exercise("ch1.baseline-rmse", "RMSE of the global-mean baseline", 1, "number",
             "the baseline predicts one number for every test row, estimated on the training part only; the error is "
             "the root of the mean squared difference (not the squared error itself, and not the absolute one).",
             digest="ef96aeb22c47da2264639624c6b97f4d", tolerance=0.001,
             nudge="The constant comes from the training part only. RMSE squares each test row's error, averages the "
                   "squares, then takes the root, in that order."),
)


def reference_keras_model(n_users: int, n_items: int, activations=("relu", "relu"), item_first: bool = False):
    """The architecture the exercise asks for, built with Keras layers: ids 1..n (row 0 reserved, hence n + 1).
    activations / item_first build the usual mistakes (a hidden layer without relu, the item's vector first), so that
    the checker can name the one a learner made."""
    keras = frameworks.keras()
    layers = keras.layers
    user_input, item_input = keras.Input(shape=(1,)), keras.Input(shape=(1,))
    user_vec = layers.Flatten()(layers.Embedding(n_users + 1, 5)(user_input))
    item_vec = layers.Flatten()(layers.Embedding(n_items + 1, 5)(item_input))
    x = layers.Concatenate()([item_vec, user_vec] if item_first else [user_vec, item_vec])
    x = layers.Dense(32, activation=activations[1])(layers.Dense(128, activation=activations[0])(x))
    return keras.Model([user_input, item_input], layers.Dense(1)(x))


def _weights_by_shape(learner_weights, reference_shapes):
    """The learner's weight arrays in the reference's order, matched by shape; (arrays, None) or (None, message)."""
    pool = list(learner_weights)
    ordered = []
    for shape in reference_shapes:
        found = next((j for j, w in enumerate(pool) if tuple(w.shape) == tuple(shape)), None)
        if found is None:
            return None, f"no layer of your model has weights of shape {tuple(shape)}"
        ordered.append(pool.pop(found))
    if pool:
        return None, f"your model has weights the architecture does not have (shapes {[tuple(w.shape) for w in pool]})"
    return ordered, None


def _keras_predict(model, users, items):
    """The model called directly (model.predict would retrace a tf.function for every new model and warn)."""
    return np.asarray(model([users.reshape(-1, 1), items.reshape(-1, 1)], training=False))


@function_exercise(
    "ch1.keras-model", "The seed's Keras model", 2, takes=["n_users", "n_items"],
    hint="two separate id inputs, each through its own embedding table with a row for every id from 0 to n (ids start "
         "at 1), the two vectors joined user first, two hidden layers of 128 and 32 units with a rectifier, and a "
         "linear output of one rating per pair.",
    nudge="The functional API: two Input layers, one Embedding per input sized for the largest id plus one, a Flatten "
          "after each, Concatenate in the order user then item, then the Dense stack. The last Dense has one unit and "
          "no activation.")
def keras_model_run(fn):
    """``build_model(n_users, n_items)`` returning a Keras model. Its weights are copied (matched by shape) into the
    reference architecture built here, and both must predict the same ratings for the same ids: equal parameter counts
    are not enough (a missing relu or the item's vector first keep every shape)."""
    rng = np.random.default_rng(0)
    for n_users, n_items in ((10, 20), (7, 3)):
        model = fn(n_users, n_items)
        if not hasattr(model, "get_weights") or not hasattr(model, "predict"):
            return False, f"build_model must return a Keras Model; it returned {type(model).__name__}."
        reference = reference_keras_model(n_users, n_items)
        weights, problem = _weights_by_shape(model.get_weights(), [w.shape for w in reference.get_weights()])
        if problem:
            return False, (f"with n_users={n_users}, n_items={n_items} {problem}: check the two embedding tables' sizes "
                           f"(one row per id, plus row 0), the embedding width and the Dense widths and their order.")
        reference.set_weights(weights)
        users = np.concatenate([[1, n_users], rng.integers(1, n_users + 1, 30)]).astype(np.int64)
        items = np.concatenate([[n_items, 1], rng.integers(1, n_items + 1, 30)]).astype(np.int64)
        try:
            out = _keras_predict(model, users, items)
        except Exception as err:  # an id out of an embedding's range, a wrong input shape...
            return False, (f"with n_users={n_users}, n_items={n_items} your model fails on user ids 1..{n_users} and movie "
                           f"ids 1..{n_items} ({type(err).__name__}): an id falls outside its embedding table; does each "
                           f"input go to the table of its own size?")
        expected = _keras_predict(reference, users, items)
        if out.shape != expected.shape:
            return False, (f"for {len(users)} (user, item) pairs the model should output shape {expected.shape}; yours "
                           f"gives {out.shape}.")
        if not np.allclose(out, expected, rtol=1e-4, atol=1e-5):
            mistakes = [(dict(activations=(None, "relu")), "the first hidden layer (128 units) has no relu"),
                        (dict(activations=("relu", None)), "the second hidden layer (32 units) has no relu"),
                        (dict(activations=(None, None)), "the hidden layers have no relu"),
                        (dict(item_first=True), "you concatenate the movie's vector before the user's (the user comes first)")]
            for kwargs, message in mistakes:
                variant = reference_keras_model(n_users, n_items, **kwargs)
                variant.set_weights(_weights_by_shape(weights, [w.shape for w in variant.get_weights()])[0])
                if np.allclose(out, _keras_predict(variant, users, items), rtol=1e-4, atol=1e-5):
                    return False, f"every layer has the right size, but {message}: with the same weights it predicts differently."
            if (out >= 0).all() and (expected < 0).any():
                return False, ("every layer has the right size, but your output never goes below 0: the output layer "
                               "must be linear (no activation).")
            return False, ("every layer has the right size, but with the same weights your model predicts other ratings "
                           "than the architecture asked for: check each layer's activation and the order of the inputs.")
    return True, ("correct: with your weights copied into the architecture asked for, both predict the same ratings "
                  "for the same ids.")


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
                  "each id is looked up in its own table, the two vectors are joined side by side (user first, along the "
                  "features, not along the batch), the MLP turns them into one number, and exactly one rating per pair "
                  "comes out (no trailing dimension of size 1); nothing may leave autograd on the way.",
                  run=equivalent_module_run(
                      reference_rating_mlp, {"n_users": 64, "n_items": 64, "dim": 5},
                      lambda: id_pair_cases(64, 64, first=1), RATING_DIAGNOSES,
                      "correct: with the reference's weights your forward gives the same ratings and gradients on a random "
                      "batch, a batch of one, one user with several movies and several users with one movie.",
                      training=pair_learning(64, 64, first=1, task="rating")),
                  nudge="An nn.Embedding turns a (B,) tensor of ids into (B, dim). torch.cat joins along the dimension "
                        "you name. A Linear with one output unit leaves a trailing dimension of size 1 that the "
                        "contract does not want."))


# ---------------------------------------------------------------- the training epoch
def reference_train_epoch(model, batches, optimizer, loss_fn):
    """The reference epoch: training mode, then per batch zero the gradients, forward, loss, backward, step; returns
    the mean of the batch losses."""
    model.train()
    losses = []
    for users, items, ratings in batches:
        optimizer.zero_grad()
        loss = loss_fn(model(users, items), ratings)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)


def _epoch_no_zero_grad(model, batches, optimizer, loss_fn):
    model.train()
    for users, items, ratings in batches:
        loss_fn(model(users, items), ratings).backward()
        optimizer.step()


def _epoch_step_first(model, batches, optimizer, loss_fn):
    model.train()
    for users, items, ratings in batches:
        optimizer.zero_grad()
        loss = loss_fn(model(users, items), ratings)
        optimizer.step()
        loss.backward()


def _epoch_no_train_mode(model, batches, optimizer, loss_fn):
    for users, items, ratings in batches:
        optimizer.zero_grad()
        loss_fn(model(users, items), ratings).backward()
        optimizer.step()


def _epoch_net(n_users: int = 12, n_items: int = 15):
    """The checker's model: embeddings and an MLP with dropout, so that training mode changes what an epoch does."""
    from torch import nn

    class EpochNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.user, self.item = nn.Embedding(n_users + 1, 4), nn.Embedding(n_items + 1, 4)
            self.mlp = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 1))

        def forward(self, users, items):
            import torch

            return self.mlp(torch.cat([self.user(users), self.item(items)], dim=-1)).squeeze(-1)

    return EpochNet()


def _epoch_cases():
    """(description, optimizer factory, loss function, batch sizes, how the batches are handed over)."""
    import torch

    mse = lambda pred, target: ((pred - target) ** 2).mean()  # noqa: E731
    l1 = lambda pred, target: (pred - target).abs().mean()  # noqa: E731
    yield ("4 batches (16, 16, 16 and 5 rows) with Adam and the squared error",
           lambda params: torch.optim.Adam(params, lr=0.01), mse, (16, 16, 16, 5), "list")
    yield ("3 batches handed over as a generator (one pass only), SGD with momentum and the absolute error",
           lambda params: torch.optim.SGD(params, lr=0.05, momentum=0.9), l1, (8, 8, 3), "generator")
    yield ("a DataLoader of 30 rows in batches of 7 (the last one of 2), with Adam",
           lambda params: torch.optim.Adam(params, lr=0.02), mse, (30,), "loader")


def _epoch_batches(sizes, seed):
    import torch

    g = torch.Generator().manual_seed(seed)
    return [(torch.randint(1, 13, (n,), generator=g), torch.randint(1, 16, (n,), generator=g),
             torch.randint(1, 6, (n,), generator=g).float()) for n in sizes]


def _hand_over(batches, how):
    import torch

    if how == "generator":
        return (b for b in batches)
    if how == "loader":
        data = torch.utils.data.TensorDataset(*batches[0])
        return torch.utils.data.DataLoader(data, batch_size=7, shuffle=False)
    return list(batches)


def _loader_batches(batches, how):
    """The batches as the epoch sees them (a DataLoader cuts its rows into batches of 7)."""
    if how != "loader":
        return batches
    users, items, ratings = batches[0]
    return [(users[j:j + 7], items[j:j + 7], ratings[j:j + 7]) for j in range(0, len(users), 7)]


def _run_epoch(epoch, start_state, make_optimizer, loss_fn, batches, how, seed: int = 5):
    """Run ``epoch`` on a model loaded with ``start_state`` (in eval mode, as after a validation pass)."""
    import torch

    model = _epoch_net()
    model.load_state_dict(start_state)
    model.eval()
    optimizer = make_optimizer(model.parameters())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # the same dropout masks for the learner's epoch and the reference's
        result = epoch(model, _hand_over(batches, how), optimizer, loss_fn)
    return model, result


def _same_weights(a, b) -> bool:
    import torch

    sa, sb = a.state_dict(), b.state_dict()
    return all(torch.allclose(sa[k], sb[k], rtol=1e-5, atol=1e-6) for k in sb)


@function_exercise(
    "ch1.train-epoch", "One training epoch in PyTorch", 2, takes=["model", "batches", "optimizer", "loss_fn"],
    hint="one optimisation step per batch, in order: clear the gradients the previous batch left, predict, measure the "
         "loss with the loss function given, backpropagate it through the graph, and only then update the weights; "
         "the model must be switched to training mode first, and the epoch's loss is the plain average of the batch "
         "losses.",
    nudge="Per batch the order is: clear, forward, loss, backward, step. The optimizer has a method that clears the "
          "gradients. The loss tensor has one that backpropagates and one that returns a Python number.")
def train_epoch_run(fn):
    """The learner's ``train_epoch(model, batches, optimizer, loss_fn)`` and the reference epoch start from the same
    weights and see the same batches: the weights after the epoch and the returned mean loss must be equal."""
    import torch

    with torch.random.fork_rng(devices=[]):  # the same verdict on every run, and the learner's RNG untouched
        torch.manual_seed(0)
        return _train_epoch_verdict(fn)


def _train_epoch_verdict(fn):
    import torch

    start = {k: v.clone() for k, v in _epoch_net().state_dict().items()}
    for case, (description, make_optimizer, loss_fn, sizes, how) in enumerate(_epoch_cases()):
        batches = _epoch_batches(sizes, seed=case)
        mine, got = _run_epoch(fn, start, make_optimizer, loss_fn, batches, how)
        ref, expected = _run_epoch(reference_train_epoch, start, make_optimizer, loss_fn, batches, how)
        if not _same_weights(mine, ref):
            untouched = _epoch_net()
            untouched.load_state_dict(start)
            if _same_weights(mine, untouched):
                return False, (f"for {description} the weights did not change: the optimizer steps on the gradients of the "
                               f"batch, so backpropagate the loss first, while it is still in autograd's graph (no .item() "
                               f"or detach before the backward pass).")
            for epoch, message in ((_epoch_no_zero_grad, "the gradients of one batch are added to those of the next: "
                                                         "they must be cleared before every backward pass"),
                                   (_epoch_step_first, "the weights are updated before the gradients of the batch exist: "
                                                       "backpropagate first, then step"),
                                   (_epoch_no_train_mode, "the model is not in training mode (its dropout stays off)")):
                if _same_weights(mine, _run_epoch(epoch, start, make_optimizer, loss_fn, batches, how)[0]):
                    return False, f"for {description} {message}."
            squared = lambda pred, target: ((pred - target) ** 2).mean()  # noqa: E731
            if loss_fn is not squared and _same_weights(
                    mine, _run_epoch(reference_train_epoch, start, make_optimizer, squared, batches, how)[0]):
                return False, f"for {description} your epoch minimises the squared error, not the loss_fn it was given."
            return False, f"for {description} your weights after the epoch differ from the reference epoch's."
        value = as_number(got)
        if value is None:
            return False, f"train_epoch must return the epoch's mean loss as a number; it returned {type(got).__name__}."
        if abs(value - expected) > 1e-5 * max(1.0, abs(expected)):
            with torch.no_grad():
                _, _, losses = _replay_losses(start, make_optimizer, loss_fn, batches, how)
            sizes_seen = [len(b[0]) for b in _loader_batches(batches, how)]
            named = {"the sum of the batch losses": sum(losses), "the last batch's loss": losses[-1],
                     "the first batch's loss": losses[0],
                     "a mean weighted by the batch sizes": sum(loss * n for loss, n in zip(losses, sizes_seen, strict=True)) / sum(sizes_seen)}
            for name, candidate in named.items():
                if abs(value - candidate) <= 1e-5 * max(1.0, abs(candidate)):
                    return False, (f"for {description} the weights are right, but you return {name}: the epoch's loss is "
                                   f"the plain mean of the batch losses.")
            return False, f"for {description} the weights are right, but the returned loss is not the mean batch loss."
    return True, ("correct: from the same weights and batches your epoch leaves the same weights as the reference and "
                  "returns the mean batch loss (Adam and SGD, a list, a generator and a DataLoader).")


def _replay_losses(start, make_optimizer, loss_fn, batches, how):
    """The reference epoch again, keeping every batch's loss."""
    import torch

    losses = []

    def recording(model, batches_, optimizer, loss_fn_):
        model.train()
        for users, items, ratings in batches_:
            optimizer.zero_grad()
            loss = loss_fn_(model(users, items), ratings)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return 0.0

    with torch.enable_grad():
        model, _ = _run_epoch(recording, start, make_optimizer, loss_fn, batches, how)
    return model, None, losses
