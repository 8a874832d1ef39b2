"""Chapter 4's checkers: their own references agree with the library's SASRec parts, and the right answer plugs in."""
import functools

import numpy as np
import torch

from course_utils.checks import ch4
from course_utils.losses import softmax_cross_entropy
from course_utils.models.sasrec import CausalSelfAttention, SASRec


def _padded_batch(rng, b, t):
    seq = torch.as_tensor(rng.integers(1, 30, (b, t)))
    for row, pad in zip(seq, rng.integers(0, t, b), strict=True):
        row[:pad] = 0
    return seq


def test_the_reference_attention_is_the_courses_on_real_positions():
    rng = np.random.default_rng(0)
    for dim, heads in [(16, 4), (8, 1), (12, 3)]:
        course = CausalSelfAttention(dim, heads, 0.0).eval()
        ref = ch4.reference_attention(dim, heads).eval()
        ref.load_state_dict(course.state_dict())  # the same parameter names: qkv, out
        for _ in range(5):
            seq = _padded_batch(rng, int(rng.integers(1, 5)), int(rng.integers(1, 10)))
            x, padding = torch.randn(*seq.shape, dim), seq == 0
            expected, _ = course(x, padding)
            got = ref(x, padding)
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)  # padding rows too: both let them see themselves


def test_the_reference_mask_is_the_one_behind_the_courses_weights():
    rng = np.random.default_rng(1)
    model = SASRec(n_items=30, dim=8, n_layers=1, n_heads=2, max_len=12, dropout=0.0).eval()
    for _ in range(10):
        seq = _padded_batch(rng, 3, int(rng.integers(1, 12)))
        _, weights = model(seq, need_weights=True)
        allowed = ch4.reference_attention_mask(seq.numpy())  # (B, T, T)
        assert not (weights[0].detach().numpy() > 0)[~np.broadcast_to(allowed[:, None], weights[0].shape)].any()


def test_the_reference_loss_is_the_recommenders():
    g = torch.Generator().manual_seed(2)
    for b, t, d, n in [(3, 6, 8, 12), (1, 1, 4, 3), (4, 9, 16, 50)]:
        h, table = torch.randn(b, t, d, generator=g), torch.randn(n + 1, d, generator=g)
        targets = torch.randint(1, n + 1, (b, t), generator=g)
        targets[:, : t // 2] = 0
        targets[0, -1] = n
        real = targets > 0
        expected = softmax_cross_entropy(h[real] @ table[1:].T, targets[real])
        torch.testing.assert_close(ch4.reference_next_item_loss(h, table, targets), expected)


def test_the_training_pair_reference_is_unchanged_for_its_library_test():
    assert [list(x) for x in ch4.reference_training_pair([5, 9, 2], 4)] == [[0, 0, 5, 9], [0, 0, 9, 2]]


def test_the_exercises_right_answer_trains_inside_sasrec():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from check_corpus.ch4 import Attention

    torch.manual_seed(0)
    course = SASRec(n_items=20, dim=16, n_layers=2, n_heads=4, max_len=8, dropout=0.0).eval()
    mine = functools.partial(SASRec, attention=Attention)(n_items=20, dim=16, n_layers=2, n_heads=4, max_len=8,
                                                           dropout=0.0).eval()
    mine.load_state_dict(course.state_dict())
    seq = torch.tensor([[0, 0, 3, 4, 5, 6, 7, 8], [1, 2, 3, 4, 5, 6, 7, 8], [0] * 7 + [9]])
    torch.testing.assert_close(mine(seq), course(seq), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(mine(seq, last_only=True), course(seq, last_only=True), rtol=1e-5, atol=1e-6)
