"""BPR-MF: the torch path of the shared shape (seeded training, validation, early stopping, safe checkpoints)."""
import numpy as np
import pytest
import torch

from course_utils import BPRMFRecommender, EarlyStopping, Evaluator, InteractionDataset, PopularityRecommender


@pytest.fixture(scope="module")
def parts(synthetic_df):
    return InteractionDataset(synthetic_df, implicit=True).split(test_size=0.2, strategy="user_random", seed=0, val_size=0.1)


def _model(**kw):
    return BPRMFRecommender(**{"embedding_dim": 16, "epochs": 6, "batch_size": 256, "learning_rate": 0.01,
                               "device": "cpu", "verbose": False, **kw})


def test_loss_decreases_and_it_learns(parts):
    train, _, test = parts
    model = _model(embedding_dim=8, epochs=30, learning_rate=0.02).fit(train.data)
    assert model.history_.train_loss[-1] < 0.8 * model.history_.train_loss[0]
    ev = Evaluator(metrics=["ndcg"], k_values=[10])
    mf = ev.evaluate(model, test, train_data=train)["ndcg@10"]
    pop = ev.evaluate(PopularityRecommender().fit(train.data), test, train_data=train)["ndcg@10"]
    assert mf > pop


def test_deterministic_on_cpu_and_no_global_rng_side_effect(parts):
    train = parts[0]
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = _model(random_state=7).fit(train.data)
    assert torch.equal(torch.get_rng_state(), before)
    b = _model(random_state=7).fit(train.data)
    c = _model(random_state=8).fit(train.data)
    users = train.data["user_id"].unique()[:10].tolist()
    assert np.array_equal(a.score_all(users), b.score_all(users))
    assert not np.array_equal(a.score_all(users), c.score_all(users))


def test_recommend_never_returns_seen_items(parts):
    train = parts[0]
    model = _model().fit(train.data)
    seen = train.data.groupby("user_id")["item_id"].apply(set)
    recs = model.recommend(seen.index.tolist(), k=20)
    assert all(not ({i for i, _ in recs[u]} & seen[u]) for u in recs)


def test_validation_callbacks_and_early_stopping(parts):
    train, val, _ = parts
    seen = []
    stopper = EarlyStopping(monitor="ndcg@10", patience=2)
    model = _model(epochs=40, learning_rate=0.05).fit(train.data, val_data=val.data, callbacks=[stopper],
                                                      callback=lambda e, loss, m: seen.append((e, loss, m)))
    frame = model.history_.to_frame()
    assert {"ndcg@10", "recall@10", "hit_rate@10"} <= set(frame.columns)
    assert len(seen) == len(frame) and set(seen[0][2]) == {"ndcg@10", "recall@10", "hit_rate@10"}
    assert stopper.stop_training and len(frame) < 40
    best = Evaluator(metrics=["ndcg"], k_values=[10]).evaluate(model, val, train_data=train)["ndcg@10"]
    assert best == pytest.approx(frame["ndcg@10"].max())  # the best epoch's weights were restored


def test_save_load_round_trip_with_weights_only(parts, tmp_path):
    train = parts[0]
    model = _model().fit(train.data)
    path = model.save(tmp_path / "mf.pt")
    torch.load(path, weights_only=True)  # the file loads under torch's safe unpickler
    loaded = BPRMFRecommender(device="cpu").load(path)
    assert loaded.get_params() == {**model.get_params(), "device": "cpu"}
    users = train.data["user_id"].unique()[:15].tolist()
    assert np.array_equal(loaded.score_all(users), model.score_all(users))
    assert loaded.recommend(users, k=5) == model.recommend(users, k=5)


def test_bad_hyperparameters_and_devices(parts):
    train = parts[0]
    with pytest.raises(ValueError, match="'embedding_dim' parameter of BPRMFRecommender must be an int >= 1. Got 0"):
        _model(embedding_dim=0).fit(train.data)
    with pytest.raises(ValueError, match="'learning_rate' parameter of BPRMFRecommender must be a float > 0"):
        _model(learning_rate=0).fit(train.data)
    with pytest.raises(ValueError, match="'device' parameter must be 'auto', 'cpu' or 'cuda'"):
        _model(device="tpu").fit(train.data)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="sees no CUDA GPU"):
            _model(device="cuda").fit(train.data)
