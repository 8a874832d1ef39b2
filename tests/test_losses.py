"""Every loss of course_utils.losses against a hand computation (plain Python math on a few numbers)."""
import math

import pytest
import torch

from course_utils.losses import bce_loss, bpr_loss, cloze_loss, l2_penalty, softmax_cross_entropy


def _sigmoid(x):
    return 1 / (1 + math.exp(-x))


def test_bpr_one_negative_and_several():
    pos, neg = torch.tensor([2.0, 0.5]), torch.tensor([1.0, 1.5])
    expected = -(math.log(_sigmoid(1.0)) + math.log(_sigmoid(-1.0))) / 2
    assert bpr_loss(pos, neg).item() == pytest.approx(expected, rel=1e-6)
    negs = torch.tensor([[1.0, 3.0], [0.5, -0.5]])  # (B, N): every negative against its row's positive
    diffs = [2 - 1, 2 - 3, 0.5 - 0.5, 0.5 + 0.5]
    assert bpr_loss(pos, negs).item() == pytest.approx(-sum(math.log(_sigmoid(d)) for d in diffs) / 4, rel=1e-6)


def test_bce_mean_and_mask():
    scores, labels = torch.tensor([2.0, -1.0, 0.0]), torch.tensor([1.0, 0.0, 0.0])
    terms = [-math.log(_sigmoid(2.0)), -math.log(1 - _sigmoid(-1.0)), -math.log(1 - _sigmoid(0.0))]
    assert bce_loss(scores, labels).item() == pytest.approx(sum(terms) / 3, rel=1e-6)
    # SASRec's shape: (B, T, 2) scores of the next item and a sampled one, a (B, T, 1) mask of real positions
    scores = torch.tensor([[[2.0, -1.0], [5.0, 5.0]]])
    labels = torch.tensor([1.0, 0.0]).expand_as(scores)
    mask = torch.tensor([[[True], [False]]])  # the second position is padding: it must not count
    assert bce_loss(scores, labels, mask=mask).item() == pytest.approx(sum(terms[:2]) / 2, rel=1e-6)


def test_softmax_cross_entropy_reads_item_codes_from_1():
    logits = torch.tensor([[1.0, 2.0, 0.0], [0.0, 0.0, 3.0]])
    targets = torch.tensor([2, 3])  # codes: item 2 is column 1, item 3 is column 2

    def nll(row, col):
        return -(row[col] - math.log(sum(math.exp(v) for v in row)))

    expected = (nll([1, 2, 0], 1) + nll([0, 0, 3], 2)) / 2
    assert softmax_cross_entropy(logits, targets).item() == pytest.approx(expected, rel=1e-6)


def test_cloze_loss_counts_only_masked_positions():
    hidden = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])  # (1, 3, 2)
    labels = torch.tensor([[0, 2, 0]])  # only position 1 was hidden; its item is code 2
    table = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])  # 3 items

    def head(h):
        return h @ table.T

    row = [0.0, 2.0, 1.0]  # scores at position 1: h = (0, 1)
    expected = -(row[1] - math.log(sum(math.exp(v) for v in row)))
    assert cloze_loss(hidden, labels, head).item() == pytest.approx(expected, rel=1e-6)


def test_l2_penalty_is_half_the_squares_per_example():
    a, b = torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0], [0.5]])
    assert l2_penalty(a, b, batch_size=2).item() == pytest.approx((1 + 4 + 9 + 0.25) / (2 * 2))
