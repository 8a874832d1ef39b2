"""Chapter 0's checkers: their references agree with the library, and their verdicts are reproducible and harmless."""
import numpy as np
import pytest
import torch

from course_utils import InteractionDataset, PopularityRecommender, make_synthetic
from course_utils.checks import REGISTRY, evaluate
from course_utils.checks import ch0
from course_utils.metrics import recall_at_k

from check_corpus.ch0 import REFERENCE, WRONG


@pytest.fixture(autouse=True)
def _no_progress(monkeypatch):
    monkeypatch.setenv("COURSE_UTILS_PROGRESS", "off")


@pytest.fixture(scope="module")
def split():
    log = make_synthetic(n_users=40, n_items=30, mean_interactions=8, seed=3)
    return InteractionDataset(log, implicit=True).split(test_size=0.25, strategy="user_random", seed=0)


def test_popularity_reference_is_the_popularity_recommenders_score(split):
    train, _ = split
    users, items = torch.as_tensor(train.user_indices()), torch.as_tensor(train.item_indices())
    model = PopularityRecommender().fit(train.data)
    mine = ch0.reference_popularity_scores(users, items, train.n_items).numpy()
    library = model.score_all(model.user_index_[:1].tolist())[0]  # the same list for everyone
    positions = train.item_index.get_indexer(model.item_index_)
    np.testing.assert_allclose(mine[positions], library)
    assert mine[np.setdiff1d(np.arange(train.n_items), positions)].sum() == 0  # items nobody touched score 0


def test_top_k_reference_is_what_a_recommender_recommends(split):
    train, _ = split
    model = PopularityRecommender().fit(train.data)
    scores = torch.as_tensor(model.score_all(model.user_index_.tolist()) + np.random.default_rng(0).random(
        (len(model.user_index_), len(model.item_index_))) * 1e-3)  # break ties the same way for both
    seen = torch.as_tensor(model.seen_.toarray() > 0)
    top = ch0.reference_top_k_unseen(scores, seen, 5)
    assert not seen.gather(1, top).any()
    for row in range(scores.shape[0]):
        order = [j for j in np.argsort(-scores[row].numpy(), kind="stable") if not seen[row, j]][:5]
        assert top[row].tolist() == order


def test_recall_reference_agrees_with_the_library():
    g = torch.Generator().manual_seed(1)
    for _ in range(30):
        n_users, n_items, k = 6, 20, 4
        top = torch.stack([torch.randperm(n_items, generator=g)[:k] for _ in range(n_users)])
        relevant = torch.rand(n_users, n_items, generator=g) < 0.25
        library = recall_at_k(top.tolist(), [set(torch.nonzero(r).flatten().tolist()) for r in relevant], k, per_user=True)
        np.testing.assert_allclose(ch0.reference_recall_at_k(top, relevant).numpy(), library)


@pytest.mark.parametrize("exercise", ["ch0.popularity", "ch0.top-k-unseen", "ch0.recall"])
def test_torch_verdicts_are_reproducible_and_leave_the_global_generator_alone(exercise):
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = [evaluate(exercise, w).message for w in WRONG[exercise]]
    assert torch.equal(torch.get_rng_state(), before)
    assert first == [evaluate(exercise, w).message for w in WRONG[exercise]]
    assert evaluate(exercise, REFERENCE[exercise]).passed


def test_the_mistakes_are_named():
    messages = {exercise: [evaluate(exercise, w).message for w in WRONG[exercise]]
                for exercise in ("ch0.popularity", "ch0.top-k-unseen", "ch0.recall")}
    assert "count rows, not users" in messages["ch0.popularity"][0]
    assert "every item of the catalogue" in messages["ch0.popularity"][1]
    assert "mask the seen items" in messages["ch0.top-k-unseen"][0]
    assert "negative scores" in messages["ch0.top-k-unseen"][1]
    assert "in place" in messages["ch0.top-k-unseen"][-1]
    assert "precision" in messages["ch0.recall"][0] or "length of the list" in messages["ch0.recall"][0]
    assert "NaN" in messages["ch0.recall"][1] and "one value per user" in messages["ch0.recall"][3]


def test_chapter_0_has_five_exercises_two_of_them_torch():
    ids = [e for e in REGISTRY if e.startswith("ch0.")]
    assert len(ids) >= 5 and {"ch0.popularity", "ch0.top-k-unseen", "ch0.recall"} <= set(ids)
