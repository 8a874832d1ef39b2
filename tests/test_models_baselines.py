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
