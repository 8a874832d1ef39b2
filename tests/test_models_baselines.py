"""Popularity and EASE: correctness against independent computations, and the course's ML-100K numbers."""
import numpy as np
import pytest

from course_utils import EASERecommender, Evaluator, InteractionDataset, PopularityRecommender


def test_popularity_counts_users_per_item(tiny_df):
    model = PopularityRecommender().fit(tiny_df)
    assert model.item_counts_.tolist() == [3, 3, 3, 2, 2, 1]
    assert model.score_all([1, 2]).tolist() == [[3, 3, 3, 2, 2, 1]] * 2


def test_ease_equals_column_wise_ridge_regressions(synthetic_df):
    """EASE's closed form = for each item j, ridge-regress column j on all other columns (Steck 2019, eq. 8)."""
    lam = 20.0
    model = EASERecommender(reg_lambda=lam).fit(synthetic_df)
    X = model.seen_.toarray().astype(np.float64)
    for j in [0, 7, 42]:
        others = np.delete(np.arange(X.shape[1]), j)
        A = X[:, others]
        b = np.linalg.solve(A.T @ A + lam * np.eye(len(others)), A.T @ X[:, j])
        assert np.allclose(model.B_[others, j], b, atol=1e-5)
        assert model.B_[j, j] == 0.0
    assert np.allclose(model.score_all([1]), X[0] @ model.B_, atol=1e-5)


def test_ease_beats_popularity_on_synthetic(synthetic_df):
    train, test = InteractionDataset(synthetic_df, implicit=True).split(test_size=0.25, strategy="user_random")
    ev = Evaluator(metrics=["ndcg"], k_values=[10])
    ease = ev.evaluate(EASERecommender(reg_lambda=50.0).fit(train.data), test, train_data=train)
    pop = ev.evaluate(PopularityRecommender().fit(train.data), test, train_data=train)
    assert ease["ndcg@10"] > pop["ndcg@10"] + 0.05


@pytest.mark.real_data
def test_ml100k_full_ranking_numbers(ml100k):
    """The issue's acceptance numbers: data, split, model and metrics agree with the literature."""
    train, test = InteractionDataset(ml100k, implicit=True).split(test_size=0.25, strategy="user_random", seed=42)
    ev = Evaluator(metrics=["precision", "ndcg"], k_values=[10])
    ease = ev.evaluate(EASERecommender(reg_lambda=500.0).fit(train.data), test, train_data=train)
    pop = ev.evaluate(PopularityRecommender().fit(train.data), test, train_data=train)
    assert ease["ndcg@10"] >= 0.47 and ease["precision@10"] >= 0.40
    assert 0.22 <= pop["ndcg@10"] <= 0.26
    assert ease["n_users"] == pop["n_users"] == 943


def _events():
    import pandas as pd

    # user 1: a b c (times 1 2 3); user 2: a b d; user 3: b c, then a late burst of d for user 4
    rows = [(1, "a", 1), (1, "b", 2), (1, "c", 3), (2, "a", 1), (2, "b", 2), (2, "d", 3), (3, "b", 5), (3, "c", 6),
            (4, "d", 100 * 86400), (4, "a", 100 * 86400 + 1)]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])


def test_markov_counts_consecutive_transitions_per_user_and_backs_off_to_popularity():
    from course_utils import MarkovRecommender

    df = _events()
    model = MarkovRecommender(smoothing=1.0).fit(df)
    code = {item: model.item_index_.get_loc(item) + 1 for item in "abcd"}
    t = model.transitions_.toarray()
    idx = {item: code[item] - 1 for item in "abcd"}
    assert t[idx["a"], idx["b"]] == 2 and t[idx["b"], idx["c"]] == 2 and t[idx["b"], idx["d"]] == 1
    assert t[idx["d"], idx["a"]] == 1 and t[idx["c"]].sum() == 0  # no transition across users: c is always last
    pop = np.array([3, 3, 2, 2]) / 10  # a b c d
    after_b = np.exp(model.score_next([[0, code["b"]]]))[0]
    expected = (np.array([0, 0, 2, 1]) + pop) / (3 + 1)
    assert np.allclose(after_b, expected) and after_b.sum() == pytest.approx(1.0)
    assert np.allclose(np.exp(model.score_next([[0, 0]]))[0], pop)  # nothing readable: popularity
    assert np.allclose(np.exp(model.score_next([[code["c"]]]))[0], pop)  # never followed by anything
    # recommend reads each user's last training item: user 2 ends with d (followed once by a), user 3 with c
    assert np.allclose(model.score_all([2])[0], (np.array([1, 0, 0, 0]) + pop) / 2)
    assert model.recommend([3], k=1, exclude_seen=True)[3][0][0] == "a"
    with pytest.raises(ValueError, match="'smoothing'"):
        MarkovRecommender(smoothing=0).fit(df)
    with pytest.raises(ValueError, match="timestamp"):
        MarkovRecommender().fit(df.drop(columns="timestamp"))


def test_markov_is_evaluated_by_the_next_item_protocol_and_saved_safely(tmp_path):
    from course_utils import MarkovRecommender, evaluate_next_item

    import pandas as pd

    df = _events()
    # user 5 once watched a right after d; user 4's a after d is the target: the chain predicts a, popularity b
    history = pd.concat([df.iloc[:-1], pd.DataFrame({"user_id": [5, 5], "item_id": ["d", "a"], "timestamp": [7, 8]})])
    targets = df.iloc[-1:]
    model = MarkovRecommender().fit(history)
    assert evaluate_next_item(model, history, targets, k=1)["hit_rate@1"] == 1.0
    assert evaluate_next_item(PopularityRecommender().fit(history), history, targets, k=1)["hit_rate@1"] == 0.0
    loaded = MarkovRecommender().load(model.save(tmp_path / "markov.npz"))
    assert np.allclose(loaded.score_next([[1, 2]]), model.score_next([[1, 2]]))


def test_recent_popularity_counts_the_last_days_and_breaks_ties_by_all_time_counts():
    from course_utils import RecentPopularityRecommender

    df = _events()
    model = RecentPopularityRecommender(days=1).fit(df)
    scores = dict(zip(model.item_index_, model.item_counts_, strict=True))
    assert int(scores["d"]) == 1 and int(scores["a"]) == 1 and int(scores["b"]) == 0  # only user 4's late events
    assert scores["a"] > scores["d"] and scores["b"] > scores["c"]  # ties broken by all-time popularity (a 3 > d 2)
    assert np.floor(RecentPopularityRecommender(days=1000).fit(df).item_counts_).tolist() == [3, 3, 2, 2]
    with pytest.raises(ValueError, match="'days'"):
        RecentPopularityRecommender(days=-1).fit(df)
