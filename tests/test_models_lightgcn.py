"""LightGCN: the normalized adjacency, propagation against dense algebra, training, scoring and safe checkpoints."""
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from course_utils import EarlyStopping, Evaluator, InteractionDataset, LightGCNRecommender, PopularityRecommender
from course_utils.models.lightgcn import LightGCN, normalized_adjacency, to_torch_csr

# 3 users x 4 items: u0-{i0, i1}, u1-{i1, i2, i3}, u2-{i3}
R = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 1, 1, 1], [0, 0, 0, 1]], dtype=np.float32))


def _dense_a_hat(r: np.ndarray) -> np.ndarray:
    n_users, n_items = r.shape
    a = np.zeros((n_users + n_items, n_users + n_items))
    a[:n_users, n_users:], a[n_users:, :n_users] = r, r.T
    d = a.sum(1)
    return a / np.sqrt(np.outer(d, d))


def test_normalized_adjacency_matches_the_formula():
    a_hat = normalized_adjacency(R)
    assert a_hat.shape == (7, 7) and a_hat.nnz == 2 * R.nnz
    np.testing.assert_allclose(a_hat.toarray(), _dense_a_hat(R.toarray()), rtol=1e-6)
    # one entry by hand: user 1 has 3 items, item 1 has 2 users -> 1 / sqrt(3 * 2)
    assert a_hat[1, 3 + 1] == pytest.approx(1 / np.sqrt(6))
    np.testing.assert_allclose(a_hat.toarray(), a_hat.toarray().T)


def test_normalized_adjacency_isolated_node_and_bad_input():
    r = sp.csr_matrix(np.array([[1, 0, 0], [0, 1, 0]], dtype=np.float32))  # item 2 has no user
    a_hat = normalized_adjacency(r)
    assert np.isfinite(a_hat.data).all() and a_hat[2 + 2].nnz == 0
    np.testing.assert_array_equal(normalized_adjacency(r.toarray() * 4).toarray(), a_hat.toarray())  # dense, any value
    with pytest.raises(TypeError, match="'interactions' parameter of normalized_adjacency must be a .* scipy sparse"):
        normalized_adjacency([[1, 0], [0, 1]])
    with pytest.raises(ValueError, match="must hold finite values"):
        normalized_adjacency(np.array([[1.0, np.nan]]))


def test_propagation_equals_dense_matrix_computation():
    torch.manual_seed(0)
    model = LightGCN(3, 4, dim=5, n_layers=3).set_graph(to_torch_csr(normalized_adjacency(R)))
    e0 = model.embedding.weight.detach().double().numpy()
    a = _dense_a_hat(R.toarray())
    layers = [e0]
    for _ in range(3):
        layers.append(a @ layers[-1])
    expected = np.mean(layers, axis=0)
    users, items = model.propagate()
    assert users.shape == (3, 5) and items.shape == (4, 5)
    np.testing.assert_allclose(users.detach().numpy(), expected[:3], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(items.detach().numpy(), expected[3:], rtol=1e-5, atol=1e-6)
    scores = model(torch.tensor([0, 2]), torch.tensor([3, 0]))
    np.testing.assert_allclose(scores.detach().numpy(), [expected[0] @ expected[3 + 3], expected[2] @ expected[3]], rtol=1e-5)


def test_the_symmetric_backward_equals_autograd_on_the_dense_matrix():
    torch.manual_seed(1)
    model = LightGCN(3, 4, dim=4, n_layers=2).set_graph(to_torch_csr(normalized_adjacency(R)))
    users, items = model.propagate()
    (users.pow(2).sum() + 3 * items.sum()).backward()
    sparse_grad = model.embedding.weight.grad.clone()
    a = torch.tensor(_dense_a_hat(R.toarray()), dtype=torch.float32)
    e0 = model.embedding.weight.detach().clone().requires_grad_(True)
    final = (e0 + a @ e0 + a @ (a @ e0)) / 3
    (final[:3].pow(2).sum() + 3 * final[3:].sum()).backward()
    torch.testing.assert_close(sparse_grad, e0.grad, rtol=1e-5, atol=1e-6)


def test_zero_layers_is_matrix_factorization():
    model = LightGCN(3, 4, dim=3, n_layers=0).set_graph(to_torch_csr(normalized_adjacency(R)))
    users, items = model.propagate()
    torch.testing.assert_close(torch.cat([users, items]), model.embedding.weight)
    with pytest.raises(ValueError, match=r"adjacency must be \(7, 7\)"):
        model.set_graph(to_torch_csr(sp.eye(5, format="csr")))
    with pytest.raises(RuntimeError, match="call set_graph"):
        LightGCN(3, 4).propagate()


@pytest.fixture(scope="module")
def parts(synthetic_df):
    return InteractionDataset(synthetic_df, implicit=True).split(test_size=0.2, strategy="user_random", seed=0, val_size=0.1)


def _model(**kw):
    return LightGCNRecommender(**{"embedding_dim": 16, "n_layers": 2, "epochs": 5, "batch_size": 512,
                                  "learning_rate": 0.01, "device": "cpu", "verbose": False, **kw})


def test_embeddings_shapes_loss_decreases_and_it_learns(parts):
    train, _, test = parts
    model = _model(epochs=25).fit(train.data)
    n_users, n_items = train.data["user_id"].nunique(), train.data["item_id"].nunique()
    assert model.get_user_embeddings().shape == (n_users, 16)
    assert model.get_item_embeddings().shape == (n_items, 16)
    assert model.adjacency_.shape == (n_users + n_items,) * 2
    assert model.history_.train_loss[-1] < 0.7 * model.history_.train_loss[0]
    ev = Evaluator(metrics=["ndcg"], k_values=[10])
    assert ev.evaluate(model, test, train_data=train)["ndcg@10"] > \
        ev.evaluate(PopularityRecommender().fit(train.data), test, train_data=train)["ndcg@10"]


def test_scores_are_dot_products_of_the_final_embeddings(parts):
    train = parts[0]
    model = _model().fit(train.data)
    u, i = model.get_user_embeddings(), model.get_item_embeddings()
    users = model.user_index_[:4].tolist()
    np.testing.assert_allclose(model.score_all(users), u[:4] @ i.T, rtol=1e-5, atol=1e-6)
    items = model.item_index_[[3, 1, 4, 1]].tolist()
    np.testing.assert_allclose(model.score(users, items), (u[:4] * i[[3, 1, 4, 1]]).sum(1), rtol=1e-5, atol=1e-6)


def test_several_negatives_train(parts):
    train = parts[0]
    model = _model(n_negatives=4).fit(train.data)
    assert np.isfinite(model.history_.train_loss).all() and model.history_.train_loss[-1] < model.history_.train_loss[0]


def test_user_uniform_sampling_learns(parts):
    train, _, test = parts
    model = _model(sampling="user", epochs=25).fit(train.data)
    assert model.history_.train_loss[-1] < 0.7 * model.history_.train_loss[0]
    ev = Evaluator(metrics=["ndcg"], k_values=[10])
    assert ev.evaluate(model, test, train_data=train)["ndcg@10"] > \
        ev.evaluate(PopularityRecommender().fit(train.data), test, train_data=train)["ndcg@10"]
    with pytest.raises(ValueError, match="'sampling' parameter of LightGCNRecommender must be one of"):
        _model(sampling="items").fit(train.data)


def test_deterministic_and_no_global_rng_side_effect(parts):
    train = parts[0]
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = _model(random_state=3).fit(train.data)
    assert torch.equal(torch.get_rng_state(), before)
    b = _model(random_state=3).fit(train.data)
    c = _model(random_state=4).fit(train.data)
    assert np.array_equal(a.get_item_embeddings(), b.get_item_embeddings())
    assert not np.array_equal(a.get_item_embeddings(), c.get_item_embeddings())


def test_recommend_masks_seen_items_and_batches_users(parts):
    train = parts[0]
    model = _model().fit(train.data)
    seen = train.data.groupby("user_id")["item_id"].apply(set)
    recs = model.recommend(seen.index.tolist(), k=15)
    assert len(recs) == len(seen)
    assert all(len(recs[u]) == 15 and not ({i for i, _ in recs[u]} & seen[u]) for u in recs)


def test_validation_and_early_stopping_restore_the_best_embeddings(parts):
    train, val, _ = parts
    stopper = EarlyStopping(monitor="ndcg@10", patience=2)
    model = _model(epochs=60, learning_rate=0.05).fit(train.data, val_data=val.data, callbacks=[stopper])
    frame = model.history_.to_frame()
    assert stopper.stop_training and len(frame) < 60
    best = Evaluator(metrics=["ndcg"], k_values=[10]).evaluate(model, val, train_data=train)["ndcg@10"]
    assert best == pytest.approx(frame["ndcg@10"].max())  # the cache was rebuilt from the restored weights


def test_save_load_round_trip_with_weights_only(parts, tmp_path):
    train = parts[0]
    model = _model().fit(train.data)
    path = model.save(tmp_path / "lightgcn.pt")
    torch.load(path, weights_only=True)
    loaded = LightGCNRecommender(device="cpu").load(path)
    assert loaded.get_params() == {**model.get_params(), "device": "cpu"}
    assert (loaded.adjacency_ != model.adjacency_).nnz == 0
    users = train.data["user_id"].unique()[:10].tolist()
    np.testing.assert_array_equal(loaded.score_all(users), model.score_all(users))
    assert loaded.recommend(users, k=5) == model.recommend(users, k=5)


def test_bad_input(parts, tiny_df):
    train = parts[0]
    with pytest.raises(ValueError, match="'n_layers' parameter of LightGCNRecommender must be an int >= 0. Got -1"):
        _model(n_layers=-1).fit(train.data)
    with pytest.raises(ValueError, match="'n_negatives' parameter of LightGCNRecommender must be an int >= 1"):
        _model(n_negatives=0).fit(train.data)
    with pytest.raises(ValueError, match="'reg_lambda' parameter of LightGCNRecommender"):
        _model(reg_lambda=-1.0).fit(train.data)
    everything = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [5, 6, 5]})  # user 1 has every item
    with pytest.raises(ValueError, match="a user who has them all"):
        _model().fit(everything)
    with pytest.raises(KeyError, match="'users' parameter of recommend must hold user ids seen in training"):
        _model(epochs=1).fit(tiny_df).recommend([99])
    with pytest.raises(ValueError, match="not fitted"):
        LightGCNRecommender().get_item_embeddings()
