"""Chapter 1's models: the PyTorch embedding MLP and its Keras twin on the shared shape."""
import numpy as np
import pytest
import torch

from course_utils import Evaluator, InteractionDataset
from course_utils.models.embedding_mlp import EmbeddingMLP, EmbeddingMLPRecommender
from course_utils.models.keras_mlp import KerasMLPRecommender, build_keras_mlp, copy_keras_weights


@pytest.fixture(scope="module")
def parts(synthetic_df):
    return InteractionDataset(synthetic_df).split(test_size=0.2, strategy="random", seed=0)


def test_module_shapes_and_initializations():
    torch.manual_seed(0)
    default, keras_like = EmbeddingMLP(10, 20, dim=5), EmbeddingMLP(10, 20, dim=5, init="keras")
    out = default(torch.tensor([1, 10]), torch.tensor([3, 20]))
    assert out.shape == (2,) and default.user.weight.shape == (11, 5) and default.item.weight.shape == (21, 5)
    assert default.user.weight.abs().max() > 1.0  # PyTorch: N(0, 1)
    assert keras_like.user.weight.abs().max() <= 0.05 and all(
        (m.bias == 0).all() for m in keras_like.mlp if isinstance(m, torch.nn.Linear))


def test_keras_and_pytorch_twins_agree_on_the_same_weights():
    keras_model = build_keras_mlp(12, 30, embedding_dim=5, hidden_layers=(16, 8))
    module = EmbeddingMLP(12, 30, dim=5, hidden=(16, 8))
    copy_keras_weights(keras_model, module)
    users, items = np.array([1, 5, 12, 3]), np.array([30, 2, 7, 1])
    from_keras = keras_model.predict([users.reshape(-1, 1), items.reshape(-1, 1)], verbose=0).ravel()
    with torch.no_grad():
        from_torch = module(torch.as_tensor(users), torch.as_tensor(items)).numpy()
    assert np.allclose(from_keras, from_torch, atol=1e-5)
    assert keras_model.count_params() == sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("make, beats_mean", [
    (lambda: EmbeddingMLPRecommender(epochs=3, batch_size=128, device="cpu", verbose=False), False),  # the lesson: N(0, 1) init
    (lambda: EmbeddingMLPRecommender(epochs=3, batch_size=128, init="keras", adam_eps=1e-7, device="cpu", verbose=False), True),
    (lambda: KerasMLPRecommender(epochs=3, batch_size=128, verbose=False), True),
])
def test_rating_recommenders_learn_predict_recommend_and_round_trip(make, beats_mean, parts, tmp_path):
    train, test = parts
    model = make().fit(train.data, val_data=test.data)
    history = model.history_.to_frame()
    assert len(history) == 3 and history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    assert {"mse", "rmse"} <= set(history.columns)
    rmse = Evaluator(metrics=["rmse"]).evaluate(model, test, task="rating")["rmse"]
    global_mean = float(np.sqrt(((test.data["rating"] - train.data["rating"].mean()) ** 2).mean()))
    assert (rmse < global_mean) == beats_mean  # predicting the train mean for everyone is the bar
    users = train.data["user_id"].unique()[:5].tolist()
    recs = model.recommend(users, k=5)
    seen = train.data.groupby("user_id")["item_id"].apply(set)
    assert all(len(recs[u]) == 5 and not ({i for i, _ in recs[u]} & seen[u]) for u in users)
    pred = model.predict(users, [train.data["item_id"].iloc[0]] * len(users))
    loaded = type(model)().load(model.save(tmp_path / "model.bin"))
    assert np.allclose(loaded.predict(users, [train.data["item_id"].iloc[0]] * len(users)), pred, atol=1e-6)


def test_rating_models_need_ratings(parts):
    with pytest.raises(ValueError, match=r"missing \['rating'\]"):
        EmbeddingMLPRecommender(epochs=1, verbose=False).fit(parts[0].data.drop(columns="rating"))
    with pytest.raises(ValueError, match="'init' parameter of EmbeddingMLPRecommender must be one of"):
        EmbeddingMLPRecommender(init="he", verbose=False).fit(parts[0].data)
    with pytest.raises(ValueError, match="'hidden_layers' parameter of KerasMLPRecommender must be a non-empty list"):
        KerasMLPRecommender(hidden_layers=[0], verbose=False).fit(parts[0].data)


def test_torch_training_is_deterministic(parts):
    train = parts[0]
    a = EmbeddingMLPRecommender(epochs=2, device="cpu", verbose=False, random_state=3).fit(train.data)
    b = EmbeddingMLPRecommender(epochs=2, device="cpu", verbose=False, random_state=3).fit(train.data)
    users = train.data["user_id"].unique()[:4].tolist()
    assert np.array_equal(a.score_all(users), b.score_all(users))


def test_keras_rating_inputs_and_dropout(tiny_df):
    import pandas as pd

    from course_utils.models.keras_mlp import keras_rating_inputs

    users, items = pd.Index([1, 2, 3, 4]), pd.Index([10, 11, 12, 13, 14, 15])
    (u, i), y = keras_rating_inputs(tiny_df, users, items)
    assert u.shape == i.shape == (len(tiny_df), 1) and y.dtype == np.float32
    assert u[0, 0] == 1 and i[0, 0] == 1 and i[-1, 0] == 5  # positions + 1: row 0 of the embeddings stays unused
    with pytest.raises(ValueError, match="'val' parameter of keras_rating_inputs has 3 rows whose item_id is not in the "
                                         "training index \\(first: 10\\)"):
        keras_rating_inputs(tiny_df, users, items[1:], name="val")
    with pytest.raises(ValueError, match="rating"):
        keras_rating_inputs(tiny_df.drop(columns="rating"), users, items)
    model = KerasMLPRecommender(hidden_layers=(8,), epochs=1, verbose=False).fit(tiny_df[tiny_df["item_id"] != 15],
                                                                               val_data=tiny_df)
    assert model.n_val_skipped_ == 1 and np.isfinite(model.history_.to_frame()["rmse"]).all()  # item 15: unknown, counted
    plain, dropped = build_keras_mlp(4, 6, 5, (16, 8)), build_keras_mlp(4, 6, 5, (16, 8), dropout=0.3)
    assert [layer.name for layer in dropped.layers if layer.name.startswith("dropout")] == ["dropout_0", "dropout_1"]
    assert plain.count_params() == dropped.count_params()
    with pytest.raises(ValueError, match="'dropout' parameter of build_keras_mlp must be a float in \\(0, 1\\)"):
        build_keras_mlp(4, 6, dropout=1.0)
