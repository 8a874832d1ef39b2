"""Chapter 5's checkers: their own references agree with the library (the LSTM + MHA encoder, the cloze loss, the cloze
masking), the learner's module trains through the course's recommender, and a student's placeholder is "not attempted"."""
import numpy as np
import pandas as pd
import pytest
import torch

from course_utils import LSTMAttentionRecommender
from course_utils.checks import CORRECT, INCORRECT, NOT_ATTEMPTED, evaluate
from course_utils.checks import ch5
from course_utils.data.sequences import cloze_mask
from course_utils.losses import cloze_loss
from course_utils.models.sequence import LSTMAttentionEncoder

from check_corpus.ch5 import LSTMAttentionByHand


def _library_weights_in_the_reference(n_heads=4, dim=16, hidden_dim=24):
    torch.manual_seed(0)
    library = LSTMAttentionEncoder(30, dim=dim, hidden_dim=hidden_dim, n_heads=n_heads, dropout=0.1)
    ref = ch5.reference_lstm_attention(30, dim=dim, hidden_dim=hidden_dim, n_heads=n_heads, dropout=0.1)
    ref.load_state_dict({k.replace("attention.", ""): v for k, v in library.state_dict().items()})
    return library, ref


@pytest.mark.parametrize("n_heads", [1, 2, 4])
def test_the_encoder_reference_agrees_with_the_library_module(n_heads):
    library, ref = _library_weights_in_the_reference(n_heads)
    for _, (seq,) in ch5._encoder_cases():
        library.eval(), ref.eval()
        torch.testing.assert_close(ref(seq), library.encode(seq), rtol=1e-5, atol=1e-5)
        library.train(), ref.train()  # dropout on: the same draws in the same order
        torch.manual_seed(1)
        expected = library.encode(seq)
        torch.manual_seed(1)
        torch.testing.assert_close(ref(seq), expected, rtol=1e-5, atol=1e-5)


def test_the_cloze_loss_reference_agrees_with_the_library():
    for _, hidden, labels, table in ch5._cloze_loss_cases():
        expected = cloze_loss(hidden, labels, lambda h, table=table: h @ table[1:-1].T)
        torch.testing.assert_close(ch5.reference_cloze_loss(hidden, labels, table), expected, rtol=1e-5, atol=1e-6)


def test_the_cloze_masking_reference_agrees_with_the_library():
    """cloze_mask draws one uniform number per position; given the same draws, the exercise's masking is the same."""
    g = torch.Generator().manual_seed(4)
    windows = torch.randint(1, 40, (300, 9), generator=g)
    windows[torch.arange(9)[None] < torch.randint(0, 9, (300, 1), generator=g)] = 0  # left padding, some rows empty
    inputs, labels = cloze_mask(windows, 0.2, 41, torch.Generator().manual_seed(7))
    draws = torch.rand(windows.shape, generator=torch.Generator().manual_seed(7))
    for row in range(len(windows)):
        got_inputs, got_labels = ch5._cloze(windows[row].numpy(), draws[row].numpy(), 0.2, 41)
        np.testing.assert_array_equal(got_inputs, inputs[row].numpy())
        np.testing.assert_array_equal(got_labels, labels[row].numpy())


def test_an_encoder_that_raises_not_implemented_is_not_attempted():
    class Placeholder(LSTMAttentionByHand):
        def encode(self, seq):
            raise NotImplementedError("Exercise ch5.lstm-mha-encoder: write your solution here")

    assert evaluate("ch5.lstm-mha-encoder", Placeholder).status == NOT_ATTEMPTED

    def cloze_placeholder(hidden, labels, item_embeddings):
        raise NotImplementedError

    assert evaluate("ch5.cloze-loss", cloze_placeholder).status == NOT_ATTEMPTED


def test_an_encoder_instance_is_checked_through_its_class_and_the_wrong_weights_are_named():
    assert evaluate("ch5.lstm-mha-encoder", LSTMAttentionByHand(1682)).status == CORRECT
    v = evaluate("ch5.lstm-mha-encoder", LSTMAttentionEncoder)  # the library's own names: attention.qkv, not qkv
    assert v.status == INCORRECT and "weights are not the exercise's" in v.message


def test_the_learners_encoder_trains_through_the_recommender_like_the_course_module():
    """Same weights at the start (the same construction order) and the same forward: the same model, up to float
    rounding (the course's module uses the fused attention kernel)."""
    rng = np.random.default_rng(0)
    rows = [(u, int(i), t) for u in range(40) for t, i in enumerate(rng.choice(60, 25, replace=False))]
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).assign(rating=1.0)
    train = df
    kwargs = dict(n_heads=2, embedding_dim=8, hidden_dim=16, max_seq_length=10, epochs=2, device="cpu", verbose=False)
    course = LSTMAttentionRecommender(**kwargs).fit(train)
    mine = LSTMAttentionRecommender(module=LSTMAttentionByHand, **kwargs).fit(train)
    windows = course.history_items_[:5]
    np.testing.assert_allclose(mine.score_next(windows), course.score_next(windows), rtol=1e-3, atol=1e-4)

    class Placeholder(LSTMAttentionByHand):
        def encode(self, seq):
            raise NotImplementedError

    with pytest.raises(NotImplementedError):  # the notebook's comparison cell catches it in a student's version
        LSTMAttentionRecommender(module=Placeholder, **kwargs).fit(train)
