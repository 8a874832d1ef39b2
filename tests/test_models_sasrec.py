"""SASRec: causality, padding, shapes, both losses, attention weights, next-item scoring and safe checkpoints."""
import numpy as np
import pandas as pd
import pytest
import torch

from course_utils import Evaluator, InteractionDataset, PopularityRecommender, SASRecRecommender
from course_utils.models.sasrec import SASRec, causal_mask


def _encoder(**kw):
    torch.manual_seed(0)
    return SASRec(**{"n_items": 30, "dim": 16, "n_layers": 2, "n_heads": 2, "max_len": 8, "dropout": 0.0, **kw}).eval()


def test_causal_mask():
    assert causal_mask(3).tolist() == [[True, False, False], [True, True, False], [True, True, True]]


def test_shapes_and_heads():
    model = _encoder()
    seq = torch.tensor([[0, 0, 3, 4, 5, 6, 7, 8], [1, 2, 3, 4, 5, 6, 7, 8]])
    h = model(seq)
    assert h.shape == (2, 8, 16)
    assert model.item_scores(h).shape == (2, 8, 30)
    assert model.pair_scores(h, seq).shape == (2, 8)
    torch.testing.assert_close(model.pair_scores(h, seq)[1], model.item_scores(h)[1, torch.arange(8), seq[1] - 1])
    with pytest.raises(ValueError, match="at most max_len=8"):
        model(torch.ones(1, 9, dtype=torch.long))


def test_changing_a_later_item_leaves_earlier_outputs_unchanged():
    model = _encoder()
    a = torch.tensor([[0, 5, 6, 7, 8, 9, 10, 11]])
    for t in range(1, 7):
        b = a.clone()
        b[0, t + 1] = 29  # change step t+1
        ha, hb = model(a), model(b)
        torch.testing.assert_close(ha[0, :t + 1], hb[0, :t + 1])
        assert not torch.allclose(ha[0, t + 1], hb[0, t + 1])


def test_left_padding_does_not_change_outputs_at_real_positions():
    model = _encoder()
    short = torch.tensor([[5, 6, 7]])
    padded = torch.tensor([[0, 0, 0, 0, 0, 5, 6, 7]])
    torch.testing.assert_close(model(short)[0], model(padded)[0, -3:])
    assert torch.count_nonzero(model(padded)[0, :5] - model.ln(torch.zeros(16))) == 0  # padding rows: LN of zeros


def test_the_fused_and_the_explicit_attention_agree_and_rows_sum_to_one():
    model = _encoder(n_heads=4)
    seq = torch.tensor([[0, 0, 3, 4, 5, 6, 7, 8]])
    h, weights = model(seq, need_weights=True)
    torch.testing.assert_close(h, model(seq))
    assert len(weights) == 2 and weights[0].shape == (1, 4, 8, 8)
    for w in weights:
        torch.testing.assert_close(w.sum(-1), torch.ones(1, 4, 8))
        assert torch.all(w.triu(diagonal=1) == 0)  # nothing from the future
        assert torch.all(w[0, :, 2:, :2] == 0)  # real positions ignore padding


@pytest.fixture(scope="module")
def loo(synthetic_df):
    return InteractionDataset(synthetic_df, implicit=True).split(strategy="leave_one_out")


def _model(**kw):
    return SASRecRecommender(**{"embedding_dim": 16, "n_layers": 1, "max_seq_length": 20, "epochs": 10, "batch_size": 64,
                                "learning_rate": 0.005, "device": "cpu", "verbose": False, **kw})


@pytest.mark.parametrize("loss", ["ce", "bce"])
def test_both_losses_decrease(loo, loss):
    train, _ = loo
    model = _model(loss=loss, epochs=15).fit(train.data)
    assert model.history_.train_loss[-1] < 0.9 * model.history_.train_loss[0]


def test_it_learns_the_next_item(loo):
    train, test = loo
    model = _model(epochs=30, window_stride=10).fit(train.data)
    ev = Evaluator(metrics=["hit_rate"], k_values=[10])
    kw = dict(train_data=train, protocol="sampled", n_negatives=50)
    assert ev.evaluate(model, test, **kw)["hit_rate@10"] > ev.evaluate(PopularityRecommender().fit(train.data), test, **kw)["hit_rate@10"]


def test_recommend_scores_from_the_last_items_and_excludes_seen(loo):
    train, _ = loo
    model = _model(epochs=2).fit(train.data)
    users = train.data["user_id"].unique()[:5].tolist()
    recs = model.recommend(users, k=5)
    seen = train.data.groupby("user_id")["item_id"].apply(set)
    assert all(len(recs[u]) == 5 and not ({i for i, _ in recs[u]} & seen[u]) for u in users)
    scores = model.score_all(users[:2])
    np.testing.assert_allclose(model.score(users[:2] * 3, model.item_index_[[0, 1, 2, 3, 4, 5]].tolist()),
                               scores[[0, 1, 0, 1, 0, 1], [0, 1, 2, 3, 4, 5]], rtol=1e-5, atol=1e-6)


def test_attention_weights_for_a_user_and_for_items(loo):
    train, _ = loo
    model = _model(epochs=2, n_heads=2).fit(train.data)
    user = train.data["user_id"].iloc[0]
    items, weights = model.get_attention_weights(user=user)
    history = train.data[train.data.user_id == user].sort_values("timestamp", kind="stable")["item_id"].tolist()
    assert items == history[-20:]
    assert len(weights) == 1 and weights[0].shape == (2, len(items), len(items))
    np.testing.assert_allclose(weights[0].sum(-1), 1.0, rtol=1e-5)
    items2, weights2 = model.get_attention_weights(items=items[:4])
    assert items2 == items[:4] and weights2[0].shape == (2, 4, 4)


def test_deterministic_and_save_load(loo, tmp_path):
    train, _ = loo
    a = _model(epochs=3).fit(train.data)
    b = _model(epochs=3).fit(train.data)
    users = train.data["user_id"].unique()[:6].tolist()
    np.testing.assert_array_equal(a.score_all(users), b.score_all(users))
    path = a.save(tmp_path / "sasrec.pt")
    torch.load(path, weights_only=True)
    loaded = SASRecRecommender(device="cpu").load(path)
    np.testing.assert_allclose(loaded.score_all(users), a.score_all(users), rtol=1e-6)
    assert loaded.recommend(users, k=5) == a.recommend(users, k=5)


def test_bad_input(loo):
    train, _ = loo
    with pytest.raises(ValueError, match="'embedding_dim' parameter of SASRecRecommender must be divisible by n_heads=3"):
        _model(n_heads=3).fit(train.data)
    with pytest.raises(ValueError, match="'loss' parameter of SASRecRecommender"):
        _model(loss="mse").fit(train.data)
    with pytest.raises(ValueError, match="timestamp"):
        _model().fit(train.data.drop(columns="timestamp"))
    with pytest.raises(KeyError, match="'items' parameter of get_attention_weights must hold item ids seen in training"):
        _model(epochs=1).fit(train.data).get_attention_weights(items=[10 ** 9])


def test_set_histories_changes_what_the_next_item_is_conditioned_on(loo):
    train, test = loo
    model = _model(epochs=2).fit(train.data)
    users = test.data["user_id"].unique()[:4].tolist()
    before = model.score_all(users)
    trained_seen = model.seen_.copy()
    extended = pd.concat([train.data, test.data])
    assert model.set_histories(extended) == 0
    after = model.score_all(users)
    assert not np.allclose(before, after)  # the test item is now the most recent one
    last = extended.sort_values("timestamp", kind="stable").groupby("user_id")["item_id"].last()
    items, _ = model.get_attention_weights(user=users[0])
    assert items[-1] == last[users[0]]
    n_items = len(model.item_index_)
    recs = model.recommend(users, k=n_items)  # the new events are had: never recommended again, at any depth
    for user in users:
        had = set(extended.loc[extended["user_id"] == user, "item_id"])
        test_item = set(test.data.loc[test.data["user_id"] == user, "item_id"])
        assert test_item and not had & {item for item, _ in recs[user]}
    assert (model.seen_ != trained_seen).nnz > 0
    model.set_histories(train.data)  # back to the training state: histories and what is left out
    np.testing.assert_allclose(model.score_all(users), before, rtol=1e-6)
    assert (model.seen_ != trained_seen).nnz == 0
    with pytest.raises(KeyError, match="'users' parameter of set_histories"):
        model.set_histories(pd.DataFrame({"user_id": [10 ** 9], "item_id": [1], "timestamp": [0]}))


class PlainAttention(torch.nn.Module):
    """The attention contract's plain form: forward(x, padding) -> (B, T, dim), the course's weights."""

    def __init__(self, dim, n_heads, dropout):
        super().__init__()
        self.n_heads, self.dropout = n_heads, dropout
        self.qkv = torch.nn.Linear(dim, 3 * dim)
        self.out = torch.nn.Linear(dim, dim)

    def forward(self, x, padding):
        b, t, d = x.shape
        q, k, v = (z.view(b, t, self.n_heads, -1).transpose(1, 2) for z in self.qkv(x).split(d, dim=-1))
        allowed = (causal_mask(t) & ~padding[:, None, None, :]) | torch.eye(t, dtype=torch.bool)
        scores = (q @ k.transpose(-2, -1) / (d // self.n_heads) ** 0.5).masked_fill(~allowed, float("-inf"))
        weights = torch.nn.functional.dropout(scores.softmax(-1), self.dropout, self.training)
        return self.out((weights @ v).transpose(1, 2).reshape(b, t, d))


def test_a_plain_attention_plugs_into_sasrec_and_gives_the_courses_outputs():
    course = _encoder(n_heads=4)
    mine = SASRec(n_items=30, dim=16, n_layers=2, n_heads=4, max_len=8, dropout=0.0, attention=PlainAttention).eval()
    assert all(isinstance(block.attention, PlainAttention) for block in mine.blocks)
    mine.load_state_dict(course.state_dict())  # the contract's weights: the same names as CausalSelfAttention's
    seq = torch.tensor([[0, 0, 3, 4, 5, 6, 7, 8], [1, 2, 3, 4, 5, 6, 7, 8], [0, 0, 0, 0, 0, 0, 0, 9]])
    torch.testing.assert_close(mine(seq), course(seq))
    torch.testing.assert_close(mine(seq, last_only=True), course(seq, last_only=True))
    with pytest.raises(TypeError, match="PlainAttention.forward takes \\(x, padding\\) only"):
        mine(seq, need_weights=True)
    with pytest.raises(TypeError, match="'attention' parameter of SASRec must be a class"):
        SASRec(n_items=30, attention="mine")


def test_the_recommender_trains_sasrec_with_ones_own_attention(loo):
    import functools

    train, _ = loo
    plain = _model(module=functools.partial(SASRec, attention=PlainAttention), epochs=8, n_heads=2).fit(train.data)
    course = _model(epochs=8, n_heads=2).fit(train.data)
    assert isinstance(plain.module_.blocks[0].attention, PlainAttention)
    assert plain.history_.train_loss[-1] < 0.9 * plain.history_.train_loss[0]
    users = train.data["user_id"].unique()[:6].tolist()
    assert plain.recommend(users, k=5).keys() == course.recommend(users, k=5).keys()
    np.testing.assert_allclose(plain.history_.train_loss, course.history_.train_loss, rtol=0.05)  # same model, same data


def test_the_reference_initialization_xavier_normal_everywhere_padding_zero():
    torch.manual_seed(0)
    m = SASRec(n_items=5000, dim=50, n_layers=2, n_heads=1, max_len=50, dropout=0.5)
    assert torch.all(m.item.weight[0] == 0)  # padding
    xavier = lambda rows, cols: (2 / (rows + cols)) ** 0.5  # noqa: E731
    assert abs(m.item.weight[1:].std().item() - xavier(5001, 50)) < 0.05 * xavier(5001, 50)  # 0.020: small
    assert abs(m.position.weight.std().item() - xavier(50, 50)) < 0.1 * xavier(50, 50)
    qkv = m.blocks[0].attention.qkv.weight  # (3d, d)
    assert abs(qkv.std().item() - xavier(150, 50)) < 0.1 * xavier(150, 50)
    assert all(ln.eps == 1e-8 for ln in m.modules() if isinstance(ln, torch.nn.LayerNorm))


def test_no_dropout_on_the_attention_output():
    """The references drop attention weights and FFN activations only: with those off, the block is deterministic."""
    torch.manual_seed(0)
    m = SASRec(n_items=30, dim=16, n_layers=2, n_heads=2, max_len=8, dropout=0.5).train()
    for block in m.blocks:
        block.attention.dropout = 0.0
        block.ffn[2].p = block.ffn[4].p = 0.0
    m.drop.p = 0.0
    seq = torch.tensor([[0, 0, 3, 4, 5, 6, 7, 8]])
    torch.testing.assert_close(m.encode(seq), m.encode(seq))


def test_bce_negatives_are_never_the_users_own_items(loo):
    train, _ = loo
    drawn = []

    class Recording(SASRecRecommender):  # records what training drew (the sampler lives only during fit)
        def _negatives(self, users, length):
            negatives = super()._negatives(users, length)
            drawn.append((users.clone(), negatives.clone()))
            return negatives

    model = Recording(**{**_model(loss="bce", epochs=2).get_params(), "module": None}).fit(train.data)
    assert drawn
    seen = model.seen_.tocsr()
    n_items = len(model.item_index_)
    for users, negatives in drawn:
        assert negatives.shape == (len(users), 20) and negatives.min() >= 1 and negatives.max() <= n_items
        for u, row in zip(users.tolist(), negatives.tolist(), strict=True):
            own = set((seen.indices[seen.indptr[u]:seen.indptr[u + 1]] + 1).tolist())  # item codes = index + 1
            assert not own & set(row), u
