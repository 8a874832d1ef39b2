"""over_seeds and paired_comparison: seeds, pairing, and the verdict on known differences."""
import numpy as np
import pandas as pd
import pytest

from course_utils import EASERecommender, Evaluator, InteractionDataset, PopularityRecommender
from course_utils.data import make_synthetic
from course_utils.experiments import SeedRuns, over_seeds, paired_comparison


@pytest.fixture(scope="module")
def dataset():
    return InteractionDataset(make_synthetic(n_users=150, n_items=80, n_groups=4, seed=3), implicit=True)


def _runs(name, values, per_user=None):
    table = pd.DataFrame({"seed": range(len(values)), "ndcg@10": values}).set_index("seed")
    return SeedRuns(name=name, table=table, per_user=per_user or {})


def test_over_seeds_draws_a_split_per_seed_and_records_per_user_values(dataset):
    splits = {}

    def split(seed):
        splits[seed] = dataset.split(test_size=0.25, strategy="user_random", seed=seed)
        return splits[seed]

    runs = over_seeds(lambda seed: EASERecommender(reg_lambda=50.0), split=split, seeds=[0, 1, 2], progress=False)
    assert runs.name == "EASE" and runs.seeds == [0, 1, 2]
    assert set(runs.table.columns) == {"ndcg@10", "recall@10", "hit_rate@10"}
    # each row is exactly the evaluation of that seed's split
    again = Evaluator(metrics=["ndcg", "recall", "hit_rate"], k_values=[10]).evaluate(
        EASERecommender(reg_lambda=50.0).fit(splits[1][0]), splits[1][1], train_data=splits[1][0])
    assert runs.table.loc[1, "ndcg@10"] == pytest.approx(again["ndcg@10"])
    assert runs.table["ndcg@10"].nunique() == 3  # three different splits
    assert runs.per_user[2]["ndcg@10"].mean() == pytest.approx(runs.table.loc[2, "ndcg@10"])
    summary = runs.summary()
    assert summary.loc["ndcg@10", "std"] == pytest.approx(runs.table["ndcg@10"].std(ddof=1))
    assert runs.mean_std("ndcg@10") == summary.loc["ndcg@10", "mean ± std"]


def test_over_seeds_with_a_custom_fit_records_what_it_returns(dataset):
    train, test = dataset.split(test_size=0.25, strategy="user_random", seed=0)
    runs = over_seeds(lambda seed: PopularityRecommender(), train, test, seeds=[4, 5, 6], progress=False,
                      fit=lambda model, tr: (model.fit(tr), {"epoch": 7})[1], name="pop")
    assert list(runs.table["epoch"]) == [7, 7, 7] and runs.name == "pop"
    assert runs.table["ndcg@10"].nunique() == 1  # popularity has nothing random
    same = paired_comparison(runs, runs)
    assert same.difference == 0 and same.wins == 0 and not same.significant


def test_over_seeds_rejects_bad_arguments(dataset):
    train, test = dataset.split(test_size=0.25, strategy="user_random", seed=0)
    make = lambda seed: PopularityRecommender()  # noqa: E731
    with pytest.raises(ValueError, match="either train and test, or split"):
        over_seeds(make, train, seeds=[0])
    with pytest.raises(TypeError, match="'seeds'.*non-empty list"):
        over_seeds(make, train, test, seeds=3)
    with pytest.raises(ValueError, match="must not repeat"):
        over_seeds(make, train, test, seeds=[1, 1])
    with pytest.raises(TypeError, match="'make_model'"):
        over_seeds(PopularityRecommender(), train, test)


def test_paired_comparison_finds_a_consistent_difference_and_calls_noise_noise():
    rng = np.random.default_rng(0)
    users = pd.Index(range(400), name="user_id")
    base = {s: pd.DataFrame({"ndcg@10": rng.uniform(0, 1, 400)}, index=users) for s in range(3)}
    better = {s: base[s] + 0.05 for s in range(3)}
    same = {s: pd.DataFrame({"ndcg@10": base[s]["ndcg@10"] + rng.normal(0, 0.01, 400)}, index=users) for s in range(3)}
    b = _runs("B", [base[s]["ndcg@10"].mean() for s in range(3)], base)
    a = _runs("A", [better[s]["ndcg@10"].mean() for s in range(3)], better)
    c = _runs("C", [same[s]["ndcg@10"].mean() for s in range(3)], same)
    ahead = paired_comparison(a, b)
    assert ahead.difference == pytest.approx(0.05) and ahead.wins == 3 and ahead.significant
    assert ahead.ci_low > 0 and ahead.verdict == "A is ahead of B" and "A ahead on 3" in str(ahead)
    assert paired_comparison(b, a).verdict == "A is ahead of B"
    noise = paired_comparison(c, b)
    assert not noise.significant and noise.verdict == "no measurable difference between C and B"
    assert noise.ci_low < 0 < noise.ci_high


def test_paired_comparison_needs_three_seeds_and_the_same_seeds():
    a, b = _runs("A", [0.5, 0.6]), _runs("B", [0.1, 0.2])
    two = paired_comparison(a, b)
    assert not two.significant and "no measurable difference" in two.verdict  # two seeds never decide
    assert np.isnan(two.ci_low)  # no per-user values: no bootstrap
    three = paired_comparison(_runs("A", [0.50, 0.61, 0.70]), _runs("B", [0.10, 0.20, 0.30]))
    assert three.significant and three.t_pvalue < 0.05  # the t-test over seeds alone decides without per-user values
    assert not paired_comparison(_runs("A", [0.5, 0.1, 0.3]), _runs("B", [0.1, 0.5, 0.31])).significant
    with pytest.raises(ValueError, match="same seeds"):
        paired_comparison(_runs("A", [0.5, 0.6, 0.7]), b)
    with pytest.raises(ValueError, match="'metric'.*ndcg@10"):
        paired_comparison(a, b, metric="recall@10")
    with pytest.raises(TypeError, match="'a'.*over_seeds"):
        paired_comparison({"ndcg@10": 0.5}, b)


def test_an_error_metric_is_better_when_lower():
    a, b = _runs("A", [0.90, 0.91, 0.92]), _runs("B", [1.00, 1.02, 1.01])
    for runs in (a, b):
        runs.table = runs.table.rename(columns={"ndcg@10": "rmse"})
    c = paired_comparison(a, b, "rmse")
    assert not c.higher_is_better and c.difference < 0 and c.wins == 3 and c.verdict == "A is ahead of B"
    assert paired_comparison(a, b, "rmse", higher_is_better=True).verdict == "B is ahead of A"


def test_losses_and_prefixed_errors_are_lower_is_better():
    from course_utils.experiments import lower_is_better

    for name in ("rmse", "val_rmse", "train_loss", "val loss", "MAE", "rmse@all"):
        assert lower_is_better(name), name
    for name in ("ndcg@10", "hit_rate@10", "recall@20", "val ndcg@10", "mrr"):
        assert not lower_is_better(name), name


def test_seeds_that_repeat_one_result_give_no_verdict():
    """Two deterministic models on one split, the result copied to every seed: one measurement, nothing to test."""
    a, b = _runs("Markov", [0.30, 0.30, 0.30]), _runs("popularity", [0.26, 0.26, 0.26])
    c = paired_comparison(a, b)
    assert np.isnan(c.t_pvalue) and not c.significant
    assert c.verdict == "no measurable difference between Markov and popularity (one result each, repeated: nothing to test)"
    varying = _runs("LSTM", [0.33, 0.34, 0.35])  # against a random model the seeds do measure something
    assert paired_comparison(varying, a).verdict == "LSTM is ahead of Markov"
