"""LightFM and ALS wrappers: the shared shape, safe save/load that needs neither library, and the ML-100K numbers."""
import numpy as np
import pytest

from course_utils import ALSRecommender, Evaluator, InteractionDataset, LightFMRecommender, PopularityRecommender


@pytest.fixture(scope="module")
def parts(synthetic_df):
    return InteractionDataset(synthetic_df, implicit=True).split(test_size=0.25, strategy="user_random", seed=0)


@pytest.mark.parametrize("make", [lambda: LightFMRecommender(no_components=16), lambda: LightFMRecommender(loss="bpr", no_components=16),
                                  lambda: ALSRecommender(factors=8)])
def test_fit_recommend_and_round_trip(make, parts, tmp_path):
    train, test = parts
    model = make().fit(train.data)
    seen = train.data.groupby("user_id")["item_id"].apply(set)
    recs = model.recommend(seen.index[:20].tolist(), k=10)
    assert all(len(recs[u]) == 10 and not ({i for i, _ in recs[u]} & seen[u]) for u in recs)
    users = seen.index[:10].tolist()
    scores = model.score_all(users)
    assert np.allclose(model.score(users, [train.data["item_id"].iloc[0]] * 10),
                       scores[:, model.item_index_.get_loc(train.data["item_id"].iloc[0])], atol=1e-5)
    loaded = type(model)().load(model.save(tmp_path / "factors.npz"))
    assert np.array_equal(loaded.score_all(users), scores)


def test_same_seed_same_factors(parts):
    a = ALSRecommender(factors=8, random_state=3).fit(parts[0].data).score_all([1, 2])
    b = ALSRecommender(factors=8, random_state=3).fit(parts[0].data).score_all([1, 2])
    assert np.allclose(a, b)


@pytest.mark.parametrize("make, match", [
    (lambda: LightFMRecommender(loss="hinge"), "'loss' parameter of LightFMRecommender must be one of"),
    (lambda: LightFMRecommender(no_components=0), "'no_components'"),
    (lambda: ALSRecommender(alpha=0), "'alpha' parameter of ALSRecommender must be a float > 0"),
])
def test_bad_hyperparameters(make, match, parts):
    with pytest.raises(ValueError, match=match):
        make().fit(parts[0].data)


@pytest.mark.real_data
def test_ml100k_full_ranking(ml100k):
    train, test = InteractionDataset(ml100k, implicit=True).split(test_size=0.25, strategy="user_random", seed=42)
    ev = Evaluator(metrics=["ndcg"], k_values=[10])
    pop = ev.evaluate(PopularityRecommender().fit(train), test, train_data=train)["ndcg@10"]
    assert ev.evaluate(ALSRecommender().fit(train), test, train_data=train)["ndcg@10"] >= 0.45
    assert ev.evaluate(LightFMRecommender().fit(train), test, train_data=train)["ndcg@10"] >= 0.42 > pop
