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


ALL_RANKING = ["precision", "recall", "ndcg", "hit_rate", "mrr", "map", "coverage"]


def _same(a, b):
    return dict(a) == dict(b) and a.per_user.equals(b.per_user) and (a.skipped_users, a.protocol) == (b.skipped_users, b.protocol)


@pytest.mark.parametrize("model", [EASERecommender(reg_lambda=20.0), PopularityRecommender()])  # popularity: many ties
def test_blocked_full_ranking_equals_one_block(synthetic_df, model):
    ds = InteractionDataset(synthetic_df, implicit=True)
    train, test = ds.split(test_size=0.25, strategy="user_random", seed=2)
    model.fit(train.data)
    ev = Evaluator(metrics=ALL_RANKING, k_values=[1, 5, 20])
    whole = ev.evaluate(model, test, train_data=train, per_user=True, batch_size=100_000)
    assert whole.per_user.shape[0] == whole.n_users > 100
    for batch_size in (1, 7):
        assert _same(ev.evaluate(model, test, train_data=train, per_user=True, batch_size=batch_size), whole)
    tiny = Evaluator(metrics=ALL_RANKING, k_values=[1, 5, 20])
    tiny.max_block_bytes = 8 * len(model.item_index_) * 3  # the byte budget of three users' scores per block
    assert _same(tiny.evaluate(model, test, train_data=train, per_user=True), whole)
    assert _same(tiny.evaluate(model, test, per_user=True), ev.evaluate(model, test, per_user=True))


def test_blocked_sampled_protocol_equals_one_block(synthetic_df):
    ds = InteractionDataset(synthetic_df, implicit=True)
    train, test = ds.split(test_size=0.25, strategy="user_random", seed=2)
    model = EASERecommender(reg_lambda=20.0).fit(train.data)
    one, tiny = Evaluator(metrics=ALL_RANKING, k_values=[1, 10]), Evaluator(metrics=ALL_RANKING, k_values=[1, 10])
    one.max_block_bytes, tiny.max_block_bytes = 1 << 40, 1  # every test interaction in one block / one per block
    a = one.evaluate(model, test, train_data=train, protocol="sampled", n_negatives=30, random_state=5, per_user=True)
    b = tiny.evaluate(model, test, train_data=train, protocol="sampled", n_negatives=30, random_state=5, per_user=True)
    assert _same(a, b) and a["n_users"] == b["n_users"] > 100


def test_full_ranking_does_not_go_through_raw_ids_unless_score_all_is_overridden():
    class Custom(FixedScores):
        calls = 0

        def score_all(self, users):  # a learner's own score_all: the Evaluator must use it
            Custom.calls += 1
            return super().score_all(users)

    table = {(u, i): s for u in (1, 2, 3) for i, s in ORDER.items()}
    test = pd.DataFrame({"user_id": [1, 2, 2], "item_id": [13, 14, 11]})
    ev = Evaluator(metrics=["precision", "ndcg"], k_values=[1, 2])
    custom = ev.evaluate(Custom(table).fit(TRAIN), test, train_data=TRAIN, batch_size=1)
    assert Custom.calls == 2 and custom == ev.evaluate(fitted(), test, train_data=TRAIN)


def _wide_log(n_users=100_000, n_items=2_000, seed=0):
    """n_users users with 3 Zipf-distributed items each (2 in train, 1 in test) over a catalogue of n_items."""
    rng = np.random.default_rng(seed)
    items = rng.zipf(1.3, size=(n_users, 3)) % n_items
    items[:n_items, 0] = np.arange(n_items)  # every item occurs: the model knows the whole catalogue
    df = pd.DataFrame({"user_id": np.repeat(np.arange(n_users), 3), "item_id": items.ravel()}).drop_duplicates()
    last = (df.duplicated("user_id", keep="first") & ~df.duplicated("user_id", keep="last")).to_numpy()
    return df[~last], df[last]


def _traced_peak(call):
    import tracemalloc

    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_full_ranking_memory_stays_bounded_at_100k_users():
    # 100,000 users x 2,000 items: a dense score matrix would take 1.6 GB. The Evaluator scores 1,024 users at a time
    # (batch_size; their float64 scores take 16 MB, under max_block_bytes); documented peak (Evaluator docstring): about
    # 3 blocks' worth (the block's scores, the int64 indices of np.argpartition, the per-user values and sparse inputs).
    # Before blocks were bounded by bytes and scored in place, this run peaked at 70 MB (4.3 blocks).
    train, test = _wide_log()
    model = PopularityRecommender().fit(train)
    n_users, n_items = test["user_id"].nunique(), len(model.item_index_)
    assert n_users > 95_000 and n_items == 2_000
    block_bytes = 1024 * n_items * 8
    result, peak = _traced_peak(lambda: Evaluator(metrics=["ndcg", "recall", "hit_rate"], k_values=[10]).evaluate(
        model, test, train_data=train))
    assert result.n_users == n_users and 0 < result["ndcg@10"] < 1
    assert peak < 3 * block_bytes, f"peak {peak / 2**20:.1f} MB"
    assert peak < n_users * n_items * 8 / 20


@pytest.mark.slow
def test_sampled_protocol_memory_stays_bounded_at_100k_users():
    train, test = _wide_log()
    model = PopularityRecommender().fit(train)
    ev = Evaluator(metrics=["ndcg", "hit_rate"], k_values=[10])
    result, peak = _traced_peak(lambda: ev.evaluate(model, test, train_data=train, protocol="sampled", n_negatives=100))
    assert result.n_users > 95_000
    # candidates and their scores: blocks of max_block_bytes // 128 pairs; noise batches of NOISE_BLOCK draws (~48 MB)
    assert peak < 4 * ev.max_block_bytes, f"peak {peak / 2**20:.1f} MB"
