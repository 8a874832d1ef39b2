"""Chapter 3's checkers: their references agree with the library's LightGCN and its training loss, the library's own
module passes the module exercise through the recommender's module slot, and each wrong answer gets its diagnosis."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from course_utils import LightGCNRecommender
from course_utils.checks import CORRECT, INCORRECT, NOT_ATTEMPTED, evaluate
from course_utils.checks import ch3
from course_utils.grading.notebook import replace_solution
from course_utils.models.lightgcn import LightGCN, normalized_adjacency, to_torch_csr

from check_corpus.ch3 import REFERENCE, WRONG, MyLightGCN, _bpr_step_variant


@pytest.fixture(autouse=True)
def _no_progress(monkeypatch):
    monkeypatch.setenv("COURSE_UTILS_PROGRESS", "off")
    monkeypatch.delenv("COURSE_UTILS_GRADING", raising=False)


def _graph(seed, n_users=6, n_items=8):
    r = (np.random.default_rng(seed).random((n_users, n_items)) < 0.4).astype(float)
    r[1] = 0.0  # an isolated user
    return r


@pytest.mark.parametrize("n_layers", [0, 1, 3])
def test_reference_module_agrees_with_the_library_module(n_layers):
    r = _graph(n_layers)
    ref = ch3.reference_lightgcn(6, 8, dim=5, n_layers=n_layers).set_graph(ch3.torch_adjacency(r))
    lib = LightGCN(6, 8, dim=5, n_layers=n_layers)
    lib.load_state_dict(ref.state_dict())
    lib.set_graph(to_torch_csr(normalized_adjacency(sp.csr_matrix(r))))
    for got, expected in zip(lib.propagate(), ref.propagate(), strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ch3.torch_adjacency(r).to_dense(),
                               torch.from_numpy(normalized_adjacency(sp.csr_matrix(r)).toarray()))


def test_the_library_module_passes_the_module_exercise():
    assert evaluate("ch3.lightgcn-module", LightGCN).status == CORRECT


def test_reference_step_loss_is_the_recommenders_training_loss(tiny_df):
    """The checker's BPR + L2 step computes the loss LightGCNRecommender._loss minimizes (one negative per pair)."""
    rec = LightGCNRecommender(embedding_dim=4, n_layers=2, epochs=1, batch_size=8, reg_lambda=0.3, device="cpu",
                              verbose=False).fit(tiny_df)
    module = rec.module_
    users, pos, neg = torch.tensor([0, 1, 3, 3]), torch.tensor([0, 3, 1, 4]), torch.tensor([5, 1, 5, 5])
    expected = rec._loss((users, pos, neg.unsqueeze(1))).item()
    opt = torch.optim.SGD(module.parameters(), lr=0.0)
    assert ch3._step(module, users, pos, neg, opt, 0.3).item() == pytest.approx(expected, rel=1e-6)


def test_a_learner_module_trains_through_the_recommenders_module_slot(tiny_df):
    rec = LightGCNRecommender(embedding_dim=4, n_layers=2, epochs=3, batch_size=8, device="cpu", verbose=False,
                              module=MyLightGCN).fit(tiny_df)
    assert isinstance(rec.module_, MyLightGCN) and np.isfinite(rec.history_.train_loss).all()
    same = LightGCNRecommender(embedding_dim=4, n_layers=2, epochs=3, batch_size=8, device="cpu",
                               verbose=False).fit(tiny_df)  # the same seed: the same weights, up to float rounding
    np.testing.assert_allclose(rec.get_item_embeddings(), same.get_item_embeddings(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("wrong, words", [
    ("LGSum", "add the layers up"), ("LGLast", "last layer alone"), ("LGRaw", "raw 0/1 adjacency"),
    ("LGItemsFirst", "the pair is (users, items)"), ("LGSplitAtItems", "first n_users rows"),
    ("LGDenseDetached", "cut off from autograd"), ("LGE0Twice", "E^(0) enters your mean twice"),
    ("LGNoE0", "E^(0) is missing"), ("LGThreeLayers", "use the n_layers")])
def test_module_mistakes_are_named(wrong, words):
    answer = next(w for w in WRONG["ch3.lightgcn-module"] if w.__name__ == wrong)
    verdict = evaluate("ch3.lightgcn-module", answer)
    assert verdict.status == INCORRECT and words in verdict.message, verdict.message


@pytest.mark.parametrize("mistake, words", [
    ("swapped", "sampled item above the observed"), ("l2-propagated", "on the final (propagated) embeddings"),
    ("item-offset", "items come after"), ("l2-sum", "not divided by the batch size"), ("no-half", "factor 1/2"),
    ("no-zero-grad", "left over from an earlier backward"), ("loss-before-l2", "lacks the L2 term")])
def test_step_mistakes_are_named(mistake, words):
    verdict = evaluate("ch3.bpr-step", _bpr_step_variant(mistake))
    assert verdict.status == INCORRECT and words in verdict.message, verdict.message


def test_a_module_that_does_not_learn_is_rejected():
    class Frozen(MyLightGCN):  # the right propagation, but E^(0) cannot move
        def __init__(self, n_users, n_items, dim=64, n_layers=3):
            super().__init__(n_users, n_items, dim, n_layers)
            self.embedding.weight.requires_grad_(False)

    ok, sentence = ch3._lightgcn_learns(Frozen)
    assert not ok and "does not learn" in sentence


def test_student_placeholders_are_not_attempted():
    source = ("class Stub(MyLightGCN):\n    def propagate(self):\n        # BEGIN SOLUTION\n        pass\n"
              "        # END SOLUTION\n\n"
              "def step(model, users, pos, neg, optimizer, reg_lambda):\n    # BEGIN SOLUTION\n    pass\n"
              "    # END SOLUTION\n")
    namespace = {"MyLightGCN": MyLightGCN}
    exec(replace_solution(source, "ch3.x", None), namespace)  # noqa: S102  the student version of the cells
    assert evaluate("ch3.lightgcn-module", namespace["Stub"]).status == NOT_ATTEMPTED
    assert evaluate("ch3.bpr-step", namespace["step"]).status == NOT_ATTEMPTED


def test_the_corpus_reference_answers_pass():
    for exercise in ("ch3.lightgcn-module", "ch3.bpr-step"):
        assert evaluate(exercise, REFERENCE[exercise]).status == CORRECT
