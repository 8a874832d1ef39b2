"""NCF: GMF, MLP, NeuMF modules, pre-training, and NCFRecommender on the shared shape."""
import numpy as np
import pytest
import torch

from course_utils import EarlyStopping, Evaluator, InteractionDataset, NCFRecommender, PopularityRecommender
from course_utils.models.ncf import GMF, MLP, NeuMF


@pytest.fixture(scope="module")
def parts(synthetic_df):
    return InteractionDataset(synthetic_df, implicit=True).split(test_size=0.2, strategy="user_random", seed=0, val_size=0.1)


@pytest.mark.parametrize("make", [lambda: GMF(7, 9, 4), lambda: MLP(7, 9, (8, 4)), lambda: NeuMF(7, 9, 4, (8, 4))])
def test_modules_give_one_logit_per_pair_and_learn_a_fixed_batch(make):
    torch.manual_seed(0)
    module = make()
    users, items = torch.tensor([0, 6, 3, 3]), torch.tensor([8, 0, 2, 5])
    labels = torch.tensor([1.0, 0.0, 1.0, 0.0])
    assert module(users, items).shape == (4,)
    opt = torch.optim.Adam(module.parameters(), lr=0.05)
    first = None
    for _ in range(100):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(module(users, items), labels)
        first = loss.item() if first is None else first
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def test_pretraining_loads_both_towers_into_neumf():
    torch.manual_seed(0)
    gmf, mlp = GMF(5, 6, 4), MLP(5, 6, (8, 4))
    neumf = NeuMF(5, 6, 4, (8, 4)).load_pretrained(gmf, mlp, alpha=0.5)
    assert torch.equal(neumf.gmf.user.weight, gmf.user.weight) and torch.equal(neumf.mlp.tower[0].weight, mlp.tower[0].weight)
    users, items = torch.tensor([0, 4]), torch.tensor([5, 1])
    with torch.no_grad():  # with alpha = 0.5 the fused head averages the towers' logits
        expected = 0.5 * gmf(users, items) + 0.5 * mlp(users, items)
        assert torch.allclose(neumf(users, items), expected, atol=1e-6)


@pytest.mark.parametrize("kind", ["gmf", "mlp", "neumf"])
def test_recommender_learns_and_never_recommends_seen_items(kind, parts):
    train, _, test = parts
    model = NCFRecommender(model=kind, embedding_dim=8, hidden_layers=(16, 8), epochs=8, pretrain=False,
                           device="cpu", verbose=False).fit(train.data)
    assert model.history_.train_loss[-1] < model.history_.train_loss[0]
    seen = train.data.groupby("user_id")["item_id"].apply(set)
    recs = model.recommend(seen.index[:20].tolist(), k=10, exclude_seen=True)
    assert all(not ({i for i, _ in recs[u]} & seen[u]) for u in recs)


@pytest.mark.slow
def test_neumf_beats_popularity_with_pretraining_and_validation(parts):
    train, val, test = parts
    seen_epochs = []
    model = NCFRecommender(embedding_dim=8, hidden_layers=(16, 8), epochs=10, learning_rate=0.005, batch_size=256,
                           device="cpu", verbose=False)
    model.fit(train.data, val_data=val.data, callbacks=[EarlyStopping("ndcg@10", patience=3)],
              callback=lambda e, loss, m: seen_epochs.append(e))
    assert set(model.pretrain_history_) == {"gmf", "mlp"} and "ndcg@10" in model.history_.to_frame()
    assert seen_epochs == list(range(1, len(model.history_) + 1))
    ev = Evaluator(metrics=["ndcg"], k_values=[10])
    assert ev.evaluate(model, test, train_data=train)["ndcg@10"] > ev.evaluate(PopularityRecommender().fit(train), test, train_data=train)["ndcg@10"]


def test_save_load_round_trip_and_popularity_sampling(parts, tmp_path):
    train = parts[0]
    model = NCFRecommender(embedding_dim=8, hidden_layers=(16, 8), epochs=2, negative_sampling="popularity",
                           pretrain=False, device="cpu", verbose=False).fit(train.data)
    loaded = NCFRecommender(device="cpu").load(model.save(tmp_path / "ncf.pt"))
    users = train.data["user_id"].unique()[:5].tolist()
    assert loaded.get_params()["hidden_layers"] == [16, 8] and loaded.negative_sampling == "popularity"
    assert np.array_equal(loaded.score_all(users), model.score_all(users))


@pytest.mark.parametrize("kwargs, match", [
    ({"hidden_layers": [33, 8]}, "whose first value is even"),
    ({"model": "deepfm"}, "'model' parameter of NCFRecommender must be one of"),
    ({"n_negatives": 0}, "'n_negatives' parameter of NCFRecommender must be an int >= 1"),
    ({"dropout": 1.5}, "'dropout' parameter"),
    ({"negative_sampling": "hard"}, "'negative_sampling'"),
])
def test_bad_hyperparameters(parts, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        NCFRecommender(device="cpu", verbose=False, **kwargs).fit(parts[0].data)


@pytest.mark.slow
@pytest.mark.real_data
def test_default_ncf_on_ml100k(ml100k):
    """The issue's bar: defaults, per-user 75/25 split, full ranking: nDCG@10 >= 0.42 (EASE: 0.485)."""
    train, test = InteractionDataset(ml100k, implicit=True).split(test_size=0.25, strategy="user_random", seed=42)
    model = NCFRecommender(device="cpu", random_state=42, verbose=False).fit(train.data)
    assert Evaluator(metrics=["ndcg"], k_values=[10]).evaluate(model, test, train_data=train)["ndcg@10"] >= 0.42
