"""Chapter 1's checkers: their references agree with the library (the Keras model, the module, the training epoch),
the learner's module trains through the recommender's module slot, and the mistakes are named."""
import numpy as np
import pytest
import torch

from course_utils import InteractionDataset, make_synthetic
from course_utils.checks import REGISTRY, evaluate
from course_utils.checks import ch1
from course_utils.models.embedding_mlp import EmbeddingMLP, EmbeddingMLPRecommender
from course_utils.training import fit_loop

from check_corpus.ch1 import REFERENCE, WRONG


@pytest.fixture(autouse=True)
def _no_progress(monkeypatch):
    monkeypatch.setenv("COURSE_UTILS_PROGRESS", "off")


def test_keras_reference_predicts_like_the_library_model_with_the_same_weights():
    from course_utils.models.keras_mlp import build_keras_mlp

    library, mine = build_keras_mlp(10, 20), ch1.reference_keras_model(10, 20)
    weights, problem = ch1._weights_by_shape(library.get_weights(), [w.shape for w in mine.get_weights()])
    assert problem is None
    mine.set_weights(weights)
    users, items = np.arange(1, 11).reshape(-1, 1), np.arange(11, 21).reshape(-1, 1)
    np.testing.assert_allclose(mine.predict([users, items], verbose=0), library.predict([users, items], verbose=0), atol=1e-6)


def test_rating_mlp_reference_is_the_library_module():
    torch.manual_seed(0)
    ref = ch1.reference_rating_mlp(9, 7)
    module = EmbeddingMLP(9, 7)
    module.load_state_dict(ref.state_dict())
    users, items = torch.tensor([1, 9, 4]), torch.tensor([7, 1, 3])
    assert torch.allclose(module(users, items), ref(users, items))


def test_reference_epoch_is_the_library_training_loop():
    """One epoch of course_utils.training.fit_loop and the checker's reference epoch leave the same weights."""
    batches = ch1._epoch_batches((16, 16, 5), seed=0)
    torch.manual_seed(0)
    start = ch1._epoch_net().state_dict()

    def run_library():
        model = ch1._epoch_net()
        model.load_state_dict(start)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(5)
            history = fit_loop(model, lambda epoch: iter(batches),
                               lambda b: ((model(b[0], b[1]) - b[2]) ** 2).mean(), optimizer, 1, progress=False)
        return model, history.to_frame()["train_loss"].iloc[0]

    library, library_loss = run_library()
    mine, loss = ch1._run_epoch(ch1.reference_train_epoch, start, lambda p: torch.optim.Adam(p, lr=0.01),
                                lambda pred, target: ((pred - target) ** 2).mean(), batches, "list")
    assert ch1._same_weights(mine, library) and loss == pytest.approx(library_loss, rel=1e-6)


def test_a_learners_module_trains_through_the_module_slot_like_the_course_module():
    """RatingMLP(n_users, n_items, dim) (the notebook's class) builds its layers in EmbeddingMLP's order: trained with
    the same seed through EmbeddingMLPRecommender(module=...), it gives the course module's predictions."""
    train = InteractionDataset(make_synthetic(n_users=30, n_items=20, mean_interactions=6, seed=2)).split(
        test_size=0.2, strategy="random", seed=0)[0]
    RatingMLP = type(ch1.reference_rating_mlp(1, 1))  # noqa: N806  the notebook's class, from the checker
    learner_cls = lambda n_users, n_items, dim: ch1.reference_rating_mlp(n_users, n_items, dim)  # noqa: E731
    assert RatingMLP.__name__ == "RatingMLP"
    fits = [EmbeddingMLPRecommender(epochs=2, batch_size=32, device="cpu", verbose=False, module=module).fit(train.data)
            for module in (learner_cls, None)]
    users = train.data["user_id"].unique()[:4].tolist()
    np.testing.assert_allclose(fits[0].score_all(users), fits[1].score_all(users), atol=1e-6)


def test_the_mistakes_are_named():
    epoch = [evaluate("ch1.train-epoch", w).message for w in WRONG["ch1.train-epoch"]]
    assert "cleared" in epoch[0] and "did not change" in epoch[1] and "last batch" in epoch[2] and "sum" in epoch[3]
    assert "training mode" in epoch[5] and "loss_fn" in epoch[6] and "weighted" in epoch[7]
    keras = [evaluate("ch1.keras-model", w).message for w in WRONG["ch1.keras-model"]]
    assert "first hidden layer (128 units) has no relu" in keras[2] and "movie's vector before" in keras[5]
    assert "outside its embedding table" in keras[1]


def test_train_epoch_verdicts_are_reproducible_and_leave_the_global_generator_alone():
    torch.manual_seed(7)
    before = torch.get_rng_state()
    assert evaluate("ch1.train-epoch", REFERENCE["ch1.train-epoch"]).passed
    assert torch.equal(torch.get_rng_state(), before)


def test_chapter_1_has_five_exercises_two_of_them_torch():
    ids = [e for e in REGISTRY if e.startswith("ch1.")]
    assert len(ids) >= 5 and {"ch1.torch-forward", "ch1.train-epoch"} <= set(ids)
    assert "ch1.n-items" not in ids and "ch1.n-users" not in ids  # the give-aways were replaced
