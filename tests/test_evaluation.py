"""Evaluator: both protocols and the rating task on a model whose scores we choose, so results are known by hand."""
import numpy as np
import pandas as pd
import pytest

from course_utils import EASERecommender, Evaluator, InteractionDataset, PopularityRecommender, compare
from course_utils.evaluation import EvaluationResult
from course_utils.recommender import BaseRecommender


class FixedScores(BaseRecommender):
    """score(user, item) = table[(user, item)], default 0; predict() gives the same numbers as ratings."""

    def __init__(self, table=None):
        self.table = table

    def _fit(self, df, val_df, callbacks):
        self.S_ = np.zeros((len(self.user_index_), len(self.item_index_)))
        for (u, i), s in (self.table or {}).items():
            self.S_[self.user_index_.get_loc(u), self.item_index_.get_loc(i)] = s

    def _score_users(self, users):
        return self.S_[users]


TRAIN = pd.DataFrame({"user_id": [1, 1, 2, 2, 3], "item_id": [10, 11, 10, 12, 13], "rating": [5, 4, 3, 2, 1]})
# the model ranks items 11 > 12 > 13 > 14 > 10 for everyone (item 14 appears in train below so the model knows it)
TRAIN = pd.concat([TRAIN, pd.DataFrame({"user_id": [3], "item_id": [14], "rating": [3]})], ignore_index=True)
ORDER = {10: 1, 11: 5, 12: 4, 13: 3, 14: 2}


def fitted():
    table = {(u, i): s for u in (1, 2, 3) for i, s in ORDER.items()}
    return FixedScores(table).fit(TRAIN)


def test_full_ranking_by_hand():
    test = pd.DataFrame({"user_id": [1, 2, 2], "item_id": [13, 14, 11]})
    r = Evaluator(metrics=["precision", "recall", "hit_rate"], k_values=[1, 2]).evaluate(fitted(), test, train_data=TRAIN)
    # user 1 (train 10, 11): ranking 12, 13, 14 -> test 13 at position 2; user 2 (train 10, 12): 11, 13, 14 -> 11 first
    assert r["precision@1"] == pytest.approx((0 + 1) / 2)
    assert r["recall@2"] == pytest.approx((1 + 1 / 2) / 2)
    assert r["hit_rate@2"] == 1.0 and r["n_users"] == 2 and r.skipped_users == 0
    assert "full ranking over 5 items, training items removed" == r["protocol"] == r.protocol


def test_without_train_data_the_models_own_seen_items_are_removed():
    test = pd.DataFrame({"user_id": [1], "item_id": [12]})
    r = Evaluator(metrics=["hit_rate"], k_values=[1]).evaluate(fitted(), test)
    assert r["hit_rate@1"] == 1.0 and "the model's training items removed" in r.protocol


def test_unknown_users_are_skipped_and_counted_cold_items_are_misses():
    test = pd.DataFrame({"user_id": [1, 1, 99], "item_id": [12, 777, 10]})
    r = Evaluator(metrics=["recall"], k_values=[3]).evaluate(fitted(), test, train_data=TRAIN)
    assert r.skipped_users == 1 and r["n_users"] == 1
    assert r["recall@3"] == pytest.approx(1 / 2)  # 12 found, 777 never seen in training: a miss
    assert "1 test users unknown to the model were skipped" in str(r)


def test_sampled_protocol_perfect_and_tied_models():
    df = pd.DataFrame({"user_id": np.repeat(np.arange(5), 40), "item_id": np.tile(np.arange(200), 1)[:200]})
    ds = InteractionDataset(df, implicit=True)
    train, test = ds.split(test_size=0.25, strategy="user_random", seed=0)
    # a user who has every item makes the whole catalogue of 350 items known to the model
    train_df = pd.concat([train.data, pd.DataFrame({"user_id": [99] * 350, "item_id": np.arange(350)})])
    # every test item gets score 1, everything else 0: the target always ranks first
    table = {(u, i): 1.0 for u, i in zip(test.data["user_id"], test.data["item_id"], strict=True)}
    perfect = FixedScores(table).fit(train_df)
    ev = Evaluator(metrics=["hit_rate", "ndcg"], k_values=[1, 10])
    r = ev.evaluate(perfect, test, train_data=train_df, protocol="sampled", n_negatives=50)
    assert r["hit_rate@1"] == 1.0 and r["ndcg@10"] == 1.0 and r["n_users"] == 5
    assert "sampled" in r.protocol and "50 random items" in r.protocol
    tied = FixedScores({}).fit(train_df)  # every score equal: ties count against the model
    assert ev.evaluate(tied, test, train_data=train_df, protocol="sampled", n_negatives=50)["hit_rate@10"] == 0.0


def test_sampled_is_reproducible_and_inflates_numbers(synthetic_df):
    ds = InteractionDataset(synthetic_df, implicit=True)
    train, test = ds.split(test_size=0.25, strategy="user_random", seed=1)
    model = PopularityRecommender().fit(train.data)
    ev = Evaluator(metrics=["hit_rate"], k_values=[10])
    a = ev.evaluate(model, test, train_data=train, protocol="sampled", n_negatives=20, random_state=3)
    b = ev.evaluate(model, test, train_data=train, protocol="sampled", n_negatives=20, random_state=3)
    assert a == b
    full = ev.evaluate(model, test, train_data=train)
    per_item_full = Evaluator(metrics=["recall"], k_values=[10]).evaluate(model, test, train_data=train)["recall@10"]
    assert a["hit_rate@10"] > per_item_full and a["hit_rate@10"] != full["hit_rate@10"]


def test_rating_task():
    test = pd.DataFrame({"user_id": [1, 2, 99], "item_id": [12, 13, 10], "rating": [4, 1, 5]})
    r = Evaluator(metrics=["rmse", "mae"]).evaluate(fitted(), test, task="rating")
    assert r["rmse"] == pytest.approx(np.sqrt(((4 - 4) ** 2 + (1 - 3) ** 2) / 2))
    assert r["mae"] == pytest.approx(1.0)
    assert "1 with an unseen user or item skipped" in r.protocol


def test_print_results_and_compare(capsys, synthetic_df):
    ds = InteractionDataset(synthetic_df, implicit=True)
    train, test = ds.split(test_size=0.25, strategy="user_random")
    ev = Evaluator(metrics=["ndcg", "coverage"], k_values=[5, 10])
    results = {name: ev.evaluate(m.fit(train.data), test, train_data=train)
               for name, m in [("EASE", EASERecommender(reg_lambda=50.0)), ("Popularity", PopularityRecommender())]}
    ev.print_results(results["EASE"])
    out = capsys.readouterr().out
    assert "full ranking" in out and "ndcg" in out and "@10" in out
    table = compare(results)
    assert list(table.index) == ["EASE", "Popularity"] and "protocol" in table.columns
    assert table.loc["EASE", "ndcg@10"] > table.loc["Popularity", "ndcg@10"]
    assert results["EASE"]["coverage@10"] > results["Popularity"]["coverage@10"]


@pytest.mark.parametrize("call, error, match", [
    (lambda: Evaluator(metrics="ndcg"), TypeError, "'metrics' parameter of Evaluator must be a non-empty list"),
    (lambda: Evaluator(metrics=["accuracy"]), ValueError, "'metrics' parameter of Evaluator must be one of"),
    (lambda: Evaluator(k_values=[0]), ValueError, "'k_values' parameter of Evaluator must be an int >= 1. Got 0"),
    (lambda: Evaluator(k_values=[10]).evaluate(FixedScores(), TRAIN), ValueError, "is not fitted: call fit first"),
    (lambda: Evaluator(k_values=[6]).evaluate(fitted(), TRAIN), ValueError, "must not exceed the model's catalogue \\(5 items\\). Got 6"),
    (lambda: Evaluator().evaluate(fitted(), TRAIN, protocol="loo"), ValueError, "'protocol' parameter of evaluate must be one of"),
    (lambda: Evaluator().evaluate(fitted(), TRAIN, task="rating"), ValueError, "needs a rating metric \\(mse, rmse, mae\\)"),
    (lambda: Evaluator(k_values=[1]).evaluate(fitted(), TRAIN.drop(columns="item_id")), ValueError, "missing \\['item_id'\\]"),
    (lambda: Evaluator(k_values=[1]).evaluate(fitted(), [1, 2]), TypeError, "'test' parameter of evaluate must be"),
    (lambda: Evaluator(k_values=[1]).evaluate(fitted(), pd.DataFrame({"user_id": [42], "item_id": [10]})), ValueError, "no test user"),
    (lambda: Evaluator.print_results({"ndcg@10": 1}), TypeError, "must be what evaluate returned"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_result_is_a_plain_dict_with_protocol():
    r = EvaluationResult({"ndcg@10": 0.5}, "full ranking", "ranking", 3)
    assert dict(r) == {"ndcg@10": 0.5, "protocol": "full ranking", "n_users": 3}
    assert r.to_frame().loc["ndcg", "@10"] == 0.5


def test_per_user_values_average_to_the_reported_metrics():
    test = pd.DataFrame({"user_id": [1, 2, 2], "item_id": [13, 14, 11]})
    ev = Evaluator(metrics=["precision", "hit_rate", "coverage"], k_values=[1, 2])
    r = ev.evaluate(fitted(), test, train_data=TRAIN, per_user=True)
    assert list(r.per_user.index) == [1, 2] and r.per_user.index.name == "user_id"
    assert "coverage@1" not in r.per_user  # a catalogue metric has no per-user value
    # user 1's test item 13 is second in its list (12, 13, 14), user 2's 11 first
    assert r.per_user.loc[1, "hit_rate@1"] == 0.0 and r.per_user.loc[2, "hit_rate@1"] == 1.0
    for key in r.per_user:
        assert r[key] == pytest.approx(r.per_user[key].mean())
    assert ev.evaluate(fitted(), test, train_data=TRAIN).per_user is None  # only on request
    s = ev.evaluate(fitted(), test, train_data=TRAIN, protocol="sampled", n_negatives=1, per_user=True)
    assert sorted(s.per_user.index) == [1, 2]
    assert s["hit_rate@1"] == pytest.approx(s.per_user["hit_rate@1"].mean())
    with pytest.raises(TypeError, match="'per_user'.*True or False"):
        ev.evaluate(fitted(), test, per_user="yes")
