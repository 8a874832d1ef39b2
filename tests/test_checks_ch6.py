"""Chapter 6's checkers: their references agree with torch's and Optuna's own machinery, and the fakes the
pruned-objective checker uses follow the protocol of the real recommenders and studies."""
import math

import numpy as np
import optuna
import pytest
import torch

from course_utils import InteractionDataset, NCFRecommender
from course_utils.checks import evaluate
from course_utils.checks.ch6 import FakeModel, FakeTrial, reference_warmup_cosine_factor

from check_corpus.ch6 import _decay, _objective, _warmup_cosine

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.mark.parametrize("base, warmup, total, floor", [(0.1, 4, 15, 0.1), (0.5, 2, 14, 0.0), (1.0, 3, 5, 0.5),
                                                        (0.01, 10, 100, 0.2)])
def test_schedule_reference_is_torchs_linear_warmup_then_cosine_annealing(base, warmup, total, floor):
    """Warm-up: LinearLR from base / warmup to base over warmup - 1 steps; decay: CosineAnnealingLR from base (at the
    last warm-up step) to floor x base over the remaining total - warmup steps."""
    def lrs(make, n):
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base)
        scheduler, out = make(optimizer), []
        for _ in range(n):
            out.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
        return out

    warm = lrs(lambda o: torch.optim.lr_scheduler.LinearLR(o, 1 / warmup, 1.0, total_iters=max(warmup - 1, 1)), warmup)
    decay = lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=total - warmup, eta_min=floor * base),
                total - warmup + 1)
    expected = (warm if warmup > 1 else [base]) + decay[1:]
    got = [base * reference_warmup_cosine_factor(s, warmup, total, floor) for s in range(total)]
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert got[warmup - 1] == pytest.approx(base) and got[-1] == pytest.approx(floor * base)


def test_the_corpus_schedule_drives_a_real_training_loop():
    """fit_loop steps the scheduler after every optimizer step: a module trained for 2 epochs of 3 batches sees the
    6 learning rates of the reference."""
    from course_utils.training import fit_loop

    module = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(module.parameters(), lr=0.2)
    scheduler = _warmup_cosine(optimizer, 2, 2, 3, 0.1)
    seen = []

    def step(batch):
        seen.append(optimizer.param_groups[0]["lr"])
        return module(batch).pow(2).mean()

    fit_loop(module, lambda epoch: [torch.ones(4, 2)] * 3, step, optimizer, epochs=2, progress=False, scheduler=scheduler)
    np.testing.assert_allclose(seen, [0.2 * reference_warmup_cosine_factor(s, 2, 6, 0.1) for s in range(6)])


def test_the_decay_plus_adam_is_adamw_on_a_real_module():
    torch.manual_seed(0)
    mine, ref = torch.nn.Embedding(7, 3), torch.nn.Embedding(7, 3)
    ref.load_state_dict(mine.state_dict())
    adam, adamw = torch.optim.Adam(mine.parameters(), lr=0.05), torch.optim.AdamW(ref.parameters(), lr=0.05, weight_decay=0.3)
    ids = torch.tensor([0, 2, 2, 5])
    for _ in range(4):
        for module, optimizer in ((mine, adam), (ref, adamw)):
            optimizer.zero_grad()
            module(ids).pow(2).sum().backward()
        _decay(adam.param_groups[0]["params"], 0.05, 0.3)
        adam.step()
        adamw.step()
    torch.testing.assert_close(mine.weight, ref.weight)


@pytest.fixture(scope="module")
def parts(synthetic_df):
    return InteractionDataset(synthetic_df, implicit=True).split(test_size=0.2, strategy="user_random", seed=0, val_size=0.1)


def test_the_reference_objective_runs_a_real_study_with_a_real_recommender(parts):
    """The protocol the fakes encode is the real one: fit calls the callback after every epoch with the validation
    nDCG@10, a TrialPruned raised inside it leaves fit and is recorded as a pruned trial."""
    train, val, _ = parts
    make = lambda: NCFRecommender(model="gmf", embedding_dim=8, epochs=3, batch_size=256, device="cpu",  # noqa: E731
                                  verbose=False)
    study = optuna.create_study(direction="maximize")
    study.optimize(lambda trial: _objective(trial, make(), train.data, val.data), n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.COMPLETE and sorted(trial.intermediate_values) == [1, 2, 3]
    assert trial.value == pytest.approx(max(trial.intermediate_values.values()))

    pruned = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=2.0))
    pruned.optimize(lambda trial: _objective(trial, make(), train.data, val.data), n_trials=1)
    assert pruned.trials[0].state == optuna.trial.TrialState.PRUNED
    assert list(pruned.trials[0].intermediate_values) == [1]


def test_the_fakes_follow_the_protocol():
    train, val = object(), object()
    trial, model = FakeTrial(prune_at=2), FakeModel([0.1, 0.2, 0.3], train, val)
    with pytest.raises(optuna.TrialPruned):
        _objective(trial, model, train, val)
    assert trial.reports == [(1, 0.1), (2, 0.2)] and model.epochs_trained == 2 and model.fits == [(train, val)]
    assert math.isclose(_objective(FakeTrial(), FakeModel([0.3, 0.2], train, val), train, val), 0.3)


def test_using_the_librarys_pruning_callback_is_not_an_answer():
    from course_utils.tuning import OptunaPruning

    def borrowed(trial, model, train, val):
        model.fit(train, val_data=val, callbacks=[OptunaPruning(trial, "ndcg@10")])
        return max(r["ndcg@10"] for r in model.history_.records)

    verdict = evaluate("ch6.pruned-objective", borrowed)
    assert not verdict.passed and "write the callback yourself" in verdict.message
