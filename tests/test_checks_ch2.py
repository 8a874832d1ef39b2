"""Chapter 2's checkers: their own references agree with the library (course_utils.models.ncf, metrics, the sampled
protocol's candidates), so a learner's module that passes plugs into NCFRecommender's module slot."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from course_utils import NCFRecommender
from course_utils.checks import ch2, evaluate
from course_utils.data.sampling import sample_eval_candidates
from course_utils.metrics import hit_rate_at_k, ndcg_at_k
from course_utils.models.ncf import GMF, MLP, NeuMF

from check_corpus.ch2 import REFERENCE

SIZES = {"n_users": 9, "n_items": 11}


@pytest.mark.parametrize("reference, library, kwargs", [
    (ch2.reference_gmf, GMF, {"dim": 6}),
    (ch2.reference_mlp, MLP, {"hidden": (16, 12, 8), "dropout": 0.2}),
    (ch2.reference_mlp, MLP, {"hidden": (8, 4), "dropout": 0.0}),
    (ch2.reference_neumf, NeuMF, {"dim": 8, "hidden": (16, 12, 8), "dropout": 0.1}),
])
def test_reference_modules_have_the_library_weights_and_outputs(reference, library, kwargs):
    torch.manual_seed(0)
    ref, lib = reference(**SIZES, **kwargs), library(**SIZES, **kwargs)
    assert {k: v.shape for k, v in ref.state_dict().items()} == {k: v.shape for k, v in lib.state_dict().items()}
    lib.load_state_dict(ref.state_dict())
    ref.eval(), lib.eval()
    users, items = torch.tensor([0, 8, 3, 3]), torch.tensor([10, 0, 2, 5])
    assert torch.allclose(ref(users, items), lib(users, items))
    assert torch.allclose(ref.features(users, items), lib.features(users, items)) if hasattr(lib, "features") else True


def test_reference_load_pretrained_is_the_library_one():
    torch.manual_seed(1)
    kw = {"dim": 8, "hidden": (16, 12, 8)}
    gmf, mlp = GMF(**SIZES, dim=8), MLP(**SIZES, hidden=(16, 12, 8))
    for alpha in (0.2, 0.5, 0.9):
        lib = NeuMF(**SIZES, **kw).load_pretrained(gmf, mlp, alpha)
        ref = ch2.reference_neumf(**SIZES, **kw).load_pretrained(gmf, mlp, alpha)
        for name, value in lib.state_dict().items():
            assert torch.allclose(ref.state_dict()[name], value), name
        users, items = torch.arange(9), torch.arange(9)
        with torch.no_grad():  # the fused logit is the alpha-weighted mix of the towers' logits
            assert torch.allclose(ref(users, items), alpha * gmf(users, items) + (1 - alpha) * mlp(users, items), atol=1e-6)


def test_rank_metric_references_agree_with_the_library():
    rng = np.random.default_rng(0)
    for _ in range(100):
        n_users, k = int(rng.integers(1, 20)), int(rng.integers(1, 15))
        ranks = rng.integers(1, 30, n_users)
        ranked = [list(range(1, 31)) for _ in ranks]  # item r sits at rank r; user u's relevant item is ranks[u]
        relevant = [{int(r)} for r in ranks]
        assert ch2.reference_hit_rate(ranks, k) == pytest.approx(hit_rate_at_k(ranked, relevant, k), abs=1e-12)
        assert ch2.reference_ndcg(ranks, k) == pytest.approx(ndcg_at_k(ranked, relevant, k), abs=1e-12)


def test_sampled_hr_reference_predicts_the_library_sampler():
    """The expectation against the course's sampled-protocol candidates: 20,000 draws of 5 negatives among 14 others."""
    n_items, target, rank, k = 15, 0, 6, 3  # items 1..5 beat the target (rank 6), the rest rank below it
    positives = sp.csr_matrix((1, n_items))
    cand = sample_eval_candidates(positives, np.zeros(20000, dtype=np.int64), np.full(20000, target), 5, random_state=0)
    beaten_by = (cand[:, 1:] <= rank - 1).sum(axis=1)  # drawn items among 1..5
    measured = float(np.mean(beaten_by <= k - 1))
    expected = ch2.reference_sampled_hr(np.array([rank]), np.array([n_items]), 5, k)
    assert measured == pytest.approx(expected, abs=0.01)


def test_a_module_that_passes_trains_through_the_recommenders_module_slot(synthetic_df):
    """The corpus's right answers (the library's classes) are accepted, and classes with the exercises' names plug
    into NCFRecommender(module={...}) with pre-training."""
    for exercise in ("ch2.gmf-forward", "ch2.mlp-forward", "ch2.neumf-forward", "ch2.load-pretrained"):
        assert evaluate(exercise, REFERENCE[exercise]).passed, exercise
    model = NCFRecommender(module={"gmf": GMF, "mlp": MLP, "neumf": NeuMF}, embedding_dim=8, hidden_layers=(16, 8),
                           epochs=1, device="cpu", verbose=False).fit(synthetic_df)
    assert isinstance(model.module_, NeuMF)
