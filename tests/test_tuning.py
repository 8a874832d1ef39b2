"""course_utils.tuning: the Optuna objective for any course recommender, per-epoch pruning, the sealed test split."""
import optuna
import pytest

from course_utils import (ALSRecommender, BPRMFRecommender, Evaluator, InteractionDataset, PopularityRecommender,
                          SurpriseRecommender)
from course_utils.tuning import OptunaPruning, SealedTest, optuna_objective

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def parts(synthetic_df):
    return InteractionDataset(synthetic_df, implicit=True).split(test_size=0.2, strategy="user_random", seed=0, val_size=0.1)


def _als_space(trial):
    return {"factors": trial.suggest_int("factors", 2, 16, log=True),
            "regularization": trial.suggest_float("regularization", 1e-3, 1.0, log=True)}


def test_objective_scores_each_trial_on_validation_as_the_evaluator_does(parts):
    train, val, _ = parts
    objective = optuna_objective(ALSRecommender(iterations=5), _als_space, train, val, metric="ndcg@10")
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=3)
    assert len(study.trials) == 3 and all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    best = study.best_trial
    again = ALSRecommender(iterations=5, **best.params).fit(train)
    expected = Evaluator(metrics=["ndcg"], k_values=[10]).evaluate(again, val, train_data=train)["ndcg@10"]
    assert best.value == pytest.approx(expected)
    assert best.user_attrs["seconds"] > 0
    assert len({t.value for t in study.trials}) > 1  # the parameters reached the model


def test_the_template_is_never_fitted_or_changed(parts):
    train, val, _ = parts
    template = ALSRecommender(iterations=3, factors=4)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(optuna_objective(template, _als_space, train, val), n_trials=2)
    assert template.factors == 4 and not hasattr(template, "user_index_")


def test_epoch_models_report_every_epoch_and_a_pruner_stops_them(parts):
    train, val, _ = parts
    template = BPRMFRecommender(embedding_dim=8, epochs=4, batch_size=256, learning_rate=0.01, device="cpu", verbose=False)
    space = lambda trial: {"learning_rate": trial.suggest_float("learning_rate", 0.005, 0.05, log=True)}  # noqa: E731
    objective = optuna_objective(template, space, train, val, metric="ndcg@10")

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert sorted(trial.intermediate_values) == [1, 2, 3, 4] and trial.user_attrs["epochs"] == 4
    assert trial.value == pytest.approx(trial.intermediate_values[4])  # the last epoch's validation score

    never_good_enough = optuna.pruners.ThresholdPruner(lower=2.0)  # nDCG <= 1: pruned at the first report
    pruned = optuna.create_study(direction="maximize", pruner=never_good_enough)
    pruned.optimize(objective, n_trials=1)
    trial = pruned.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert list(trial.intermediate_values) == [1] and trial.user_attrs["epochs"] == 1


def test_rating_metrics_without_epochs_are_evaluated_on_validation(tiny_df):
    objective = optuna_objective(SurpriseRecommender("svd"),
                                 lambda t: {"params": {"n_factors": t.suggest_int("n_factors", 1, 8), "n_epochs": 5}},
                                 tiny_df, tiny_df, metric="rmse", direction="minimize")
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=2)
    assert all(0 < t.value < 4 for t in study.trials)


def test_pruning_callback_needs_the_metric_and_a_trial():
    study = optuna.create_study()
    trial = study.ask()
    with pytest.raises(ValueError, match="needs the validation metric 'ndcg@10'.*pass val_data"):
        OptunaPruning(trial, "ndcg@10")(1, 0.5, None)
    with pytest.raises(ValueError, match=r"Got validation metrics \['recall@10'\]"):
        OptunaPruning(trial, "ndcg@10")(1, 0.5, {"recall@10": 0.1})
    with pytest.raises(TypeError, match="'trial' parameter of OptunaPruning must be an optuna Trial"):
        OptunaPruning("trial", "ndcg@10")


def test_bad_input(parts):
    train, val, _ = parts
    with pytest.raises(TypeError, match="'model' parameter of optuna_objective must be a course recommender"):
        optuna_objective("als", _als_space, train, val)
    with pytest.raises(TypeError, match="'space' parameter of optuna_objective must be a function"):
        optuna_objective(ALSRecommender(), {"factors": 8}, train, val)
    with pytest.raises(ValueError, match="'direction' parameter"):
        optuna_objective(ALSRecommender(), _als_space, train, val, direction="up")
    study = optuna.create_study(direction="maximize")
    with pytest.raises(ValueError, match="Invalid parameter 'rank' for ALSRecommender"):
        study.optimize(optuna_objective(ALSRecommender(), lambda t: {"rank": 3}, train, val), n_trials=1, catch=())
    with pytest.raises(TypeError, match="space\\(trial\\) must return a dict"):
        study.optimize(optuna_objective(ALSRecommender(), lambda t: 3, train, val), n_trials=1, catch=())
    with pytest.raises(ValueError, match="'metric' parameter of optuna_objective"):
        study.optimize(optuna_objective(PopularityRecommender(), lambda t: {}, train, val, metric="ndcg"), n_trials=1,
                       catch=())


def test_sealed_test_opens_once(parts):
    _, _, test = parts
    sealed = SealedTest(test)
    assert repr(sealed) == f"SealedTest({len(test.data)} rows, sealed)" and len(sealed) == len(test.data)
    rows = sealed.evaluate_once(lambda part: len(part.data))
    assert rows == len(test.data) and sealed.opened and "opened" in repr(sealed)
    with pytest.raises(RuntimeError, match="already used once"):
        sealed.evaluate_once(lambda part: 0)
    with pytest.raises(TypeError, match="'fn' parameter of SealedTest.evaluate_once"):
        SealedTest(test).evaluate_once("ndcg")
    with pytest.raises(TypeError, match="'part' parameter of SealedTest"):
        SealedTest(None)
    assert not hasattr(sealed, "data") and not hasattr(sealed, "part")
    assert len(SealedTest(test.data)) == len(test.data)


def test_a_diverging_trial_fails_alone_and_the_study_goes_on(parts):
    train, val, _ = parts
    template = BPRMFRecommender(embedding_dim=8, epochs=2, batch_size=256, device="cpu", verbose=False)
    space = lambda trial: {"learning_rate": trial.suggest_categorical("learning_rate", [1e30, 0.01])}  # noqa: E731
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.GridSampler({"learning_rate": [1e30, 0.01]}))
    study.optimize(optuna_objective(template, space, train, val), n_trials=2)
    states = {t.params["learning_rate"]: t for t in study.trials}
    assert states[1e30].state == optuna.trial.TrialState.FAIL and "training loss became" in states[1e30].user_attrs["error"]
    assert states[0.01].state == optuna.trial.TrialState.COMPLETE and study.best_trial.params["learning_rate"] == 0.01


def test_the_last_epoch_is_reported_but_never_pruned():
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=2.0))
    trial = study.ask()
    callback = OptunaPruning(trial, "ndcg@10", last_epoch=3)
    callback(3, 0.5, {"ndcg@10": 0.1})  # the budget's end: a complete result, kept
    assert trial.should_prune() and callback.last_epoch == 3
    with pytest.raises(optuna.TrialPruned):
        OptunaPruning(trial, "ndcg@10", last_epoch=3)(2, 0.5, {"ndcg@10": 0.1})
