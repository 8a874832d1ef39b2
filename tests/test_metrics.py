"""Metrics: boundary cases, hand-worked examples, agreement with independent implementations."""
import math

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import average_precision_score, mean_absolute_error, mean_squared_error, ndcg_score

from course_utils.metrics import (catalog_coverage, hit_rate_at_k, hits_matrix, mae, map_at_k, mrr_at_k, ndcg_at_k,
                                  precision_at_k, recall_at_k, rmse, top_k_indices)

ALL = [precision_at_k, recall_at_k, ndcg_at_k, hit_rate_at_k, mrr_at_k, map_at_k]

# the hand-worked example: user A ranks [1, 2, 3, 4, 5] with relevant {2, 5, 9}; user B ranks [7, 8, 6] with relevant {6}
RANKED = [[1, 2, 3, 4, 5], [7, 8, 6]]
RELEVANT = [{2, 5, 9}, {6}]


def test_hand_worked_example_at_5():
    assert precision_at_k(RANKED, RELEVANT, 5, per_user=True) == pytest.approx([2 / 5, 1 / 5])
    assert recall_at_k(RANKED, RELEVANT, 5, per_user=True) == pytest.approx([2 / 3, 1.0])
    assert hit_rate_at_k(RANKED, RELEVANT, 5, per_user=True) == pytest.approx([1.0, 1.0])
    assert mrr_at_k(RANKED, RELEVANT, 5, per_user=True) == pytest.approx([1 / 2, 1 / 3])
    dcg_a = 1 / math.log2(3) + 1 / math.log2(6)
    idcg_a = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(RANKED, RELEVANT, 5, per_user=True) == pytest.approx([dcg_a / idcg_a, (1 / math.log2(4)) / 1])
    ap_a = (1 / 2 + 2 / 5) / 3
    assert map_at_k(RANKED, RELEVANT, 5, per_user=True) == pytest.approx([ap_a, 1 / 3])
    assert ndcg_at_k(RANKED, RELEVANT, 5) == pytest.approx(np.mean([dcg_a / idcg_a, 0.5]))


def test_only_the_top_k_count():
    assert hit_rate_at_k(RANKED, RELEVANT, 1, per_user=True).tolist() == [0.0, 0.0]
    assert recall_at_k(RANKED, RELEVANT, 2, per_user=True).tolist() == pytest.approx([1 / 3, 0.0])
    assert precision_at_k([[1, 2, 3]], [{3}], 2) == 0.0


@pytest.mark.parametrize("metric", ALL)
def test_perfect_ranking_scores_one_and_no_hit_scores_zero(metric):
    assert metric([[3, 1, 2]], [{1, 2, 3}], 3) == pytest.approx(1.0)
    assert metric([[4, 5, 6]], [{1, 2, 3}], 3) == 0.0
    assert metric([[4, 5, 6]], [set()], 3) == 0.0  # no relevant item at all: 0 by definition


@pytest.mark.parametrize("metric", ALL)
def test_list_and_sparse_inputs_agree(metric):
    rng = np.random.default_rng(0)
    ranked = np.array([rng.permutation(30)[:10] for _ in range(50)])
    rel = sp.random(50, 30, density=0.15, random_state=1, format="csr")
    rel.data[:] = 1
    as_sets = [set(rel[u].indices.tolist()) for u in range(50)]
    assert metric(ranked, rel, 10, per_user=True) == pytest.approx(metric(ranked.tolist(), as_sets, 10, per_user=True))


def test_ndcg_matches_sklearn():
    rng = np.random.default_rng(3)
    n_users, n_items, k = 40, 25, 10
    scores = rng.random((n_users, n_items))
    truth = (rng.random((n_users, n_items)) < 0.2).astype(int)
    truth[truth.sum(axis=1) == 0, 0] = 1
    ranked = np.argsort(-scores, axis=1)
    relevant = [set(np.flatnonzero(t)) for t in truth]
    assert ndcg_at_k(ranked, relevant, k) == pytest.approx(ndcg_score(truth, scores, k=k))


def test_map_over_full_ranking_matches_sklearn_average_precision():
    rng = np.random.default_rng(4)
    scores, truth = rng.random(30), (rng.random(30) < 0.3).astype(int)
    ranked = [np.argsort(-scores).tolist()]
    assert map_at_k(ranked, [set(np.flatnonzero(truth))], 30) == pytest.approx(average_precision_score(truth, scores))


def test_precision_recall_against_a_loop():
    rng = np.random.default_rng(5)
    ranked = [rng.permutation(40)[:15].tolist() for _ in range(30)]
    relevant = [set(rng.choice(40, rng.integers(1, 8), replace=False).tolist()) for _ in range(30)]
    for k in (1, 5, 15):
        hits = [len(set(r[:k]) & rel) for r, rel in zip(ranked, relevant, strict=True)]
        assert precision_at_k(ranked, relevant, k) == pytest.approx(np.mean([h / k for h in hits]))
        assert recall_at_k(ranked, relevant, k) == pytest.approx(np.mean([h / len(rel) for h, rel in zip(hits, relevant, strict=True)]))


def test_short_lists_padding_and_string_ids():
    assert precision_at_k(np.array([[5, -1, -1]]), [{5}], 3) == pytest.approx(1 / 3)
    assert precision_at_k([["a"]], [["a", "b"]], 2) == pytest.approx(1 / 2)
    hits, n_rel = hits_matrix([["x", "y"]], [["y"]], 4)
    assert hits.tolist() == [[False, True, False, False]] and n_rel.tolist() == [1]


def test_coverage():
    assert catalog_coverage([[1, 2], [2, 3]], n_items=6) == pytest.approx(3 / 6)
    assert catalog_coverage(np.array([[1, 2], [2, -1]]), n_items=4, k=1) == pytest.approx(2 / 4)


def test_rating_metrics_match_sklearn():
    y, p = [4, 3, 5, 1], [3.5, 3, 4, 2.5]
    assert rmse(y, p) == pytest.approx(math.sqrt(mean_squared_error(y, p)))
    assert mae(y, p) == pytest.approx(mean_absolute_error(y, p))


@pytest.mark.parametrize("call, error, match", [
    (lambda: ndcg_at_k(RANKED, RELEVANT, 0), ValueError, "The 'k' parameter of ndcg_at_k must be an int >= 1. Got 0 instead."),
    (lambda: ndcg_at_k(RANKED, RELEVANT, 2.5), TypeError, "'k' parameter of ndcg_at_k must be an int"),
    (lambda: recall_at_k(RANKED, RELEVANT[:1], 3), ValueError, "one collection of items per ranked list"),
    (lambda: precision_at_k([[1, 1, 2]], [{1}], 3), ValueError, "must not repeat an item"),
    (lambda: precision_at_k("abc", [{1}], 3), TypeError, "'ranked' parameter of precision_at_k"),
    (lambda: rmse([1, 2], [1]), ValueError, "same length"),
    (lambda: mae([1, np.nan], [1, 2]), ValueError, "'y_true' parameter of mae must not contain NaN"),
    (lambda: rmse([], []), ValueError, "must not be empty"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("k", [1, 10, 50, 300])
def test_top_k_indices_breaks_ties_by_index_as_a_stable_sort_does(k):
    # popularity counts and -inf masks tie often; which tied item argpartition keeps depends on the CPU's sort kernels
    rng = np.random.default_rng(k)
    scores = rng.integers(0, 6, size=(64, 300)).astype(np.float64)
    scores[rng.random(scores.shape) < 0.3] = -np.inf  # seen items, masked
    expected = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    np.testing.assert_array_equal(top_k_indices(scores, k), expected)
    before = scores.copy()
    top_k_indices(scores, k)
    np.testing.assert_array_equal(scores, before)  # the scores are left alone unless overwrite=True
    np.testing.assert_array_equal(top_k_indices(scores.copy(), k, overwrite=True), expected)


def test_top_k_indices_without_ties_is_argsort():
    scores = np.random.default_rng(0).normal(size=(40, 500))
    np.testing.assert_array_equal(top_k_indices(scores, 20), np.argsort(-scores, axis=1)[:, :20])
