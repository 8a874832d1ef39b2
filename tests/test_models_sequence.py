"""Chapter 5 models: LSTM, LSTM + MHA, BERT4Rec; shapes, causality, masking, learning, next-item protocol, save/load."""
import numpy as np
import pandas as pd
import pytest
import torch

from course_utils import (BERT4RecRecommender, InteractionDataset, LSTMAttentionRecommender, LSTMRecommender,
                          PopularityRecommender, evaluate_next_item)
from course_utils.models import SASRecRecommender
from course_utils.models.sequence import BERT4RecEncoder, LSTMAttentionEncoder, LSTMEncoder

ENCODERS = {
    "lstm": lambda: LSTMEncoder(30, dim=8, hidden_dim=16, dropout=0.0),
    "lstm_mha": lambda: LSTMAttentionEncoder(30, dim=8, hidden_dim=16, n_heads=4, dropout=0.0),
    "bert4rec": lambda: BERT4RecEncoder(30, dim=8, n_heads=2, dim_ff=16, max_len=8, dropout=0.0),
}


def _encoder(name):
    torch.manual_seed(0)
    return ENCODERS[name]().eval()


@pytest.mark.parametrize("name,width", [("lstm", 16), ("lstm_mha", 16), ("bert4rec", 8)])
def test_shapes(name, width):
    model = _encoder(name)
    seq = torch.tensor([[0, 0, 3, 4, 5, 6, 7, 8], [1, 2, 3, 4, 5, 6, 7, 8]])
    h = model(seq)
    assert h.shape == (2, 8, width)
    assert model.item_scores(h).shape == (2, 8, 30)


@pytest.mark.parametrize("name", ["lstm", "lstm_mha"])
def test_the_lstm_encoders_are_causal(name):
    model = _encoder(name)
    a = torch.tensor([[0, 5, 6, 7, 8, 9, 10, 11]])
    for t in range(1, 7):
        b = a.clone()
        b[0, t + 1] = 29  # change step t+1
        ha, hb = model(a), model(b)
        torch.testing.assert_close(ha[0, :t + 1], hb[0, :t + 1])
        assert not torch.allclose(ha[0, t + 1], hb[0, t + 1])


def test_bert4rec_reads_both_sides_and_ignores_padding():
    model = _encoder("bert4rec")
    a = torch.tensor([[0, 0, 6, 7, 8, 9, 10, 11]])
    b = a.clone()
    b[0, 7] = 29  # a later item changes the earlier positions: bidirectional
    assert not torch.allclose(model(a)[0, 2], model(b)[0, 2])
    short = torch.tensor([[0, 0, 0, 0, 0, 0, 10, 11]])
    other_padding = torch.tensor([[0, 0, 0, 0, 0, 0, 0, 0]])
    torch.testing.assert_close(model(short)[0, 6:], model(torch.cat([other_padding[:, :2], short[:, 2:]], 1))[0, 6:])
    torch.testing.assert_close(model(short)[0, 6:], model(short[:, 4:])[0, 2:], rtol=1e-5, atol=1e-5)


def test_cloze_mask_never_masks_padding_and_masks_every_row():
    from course_utils.data import cloze_mask

    windows = torch.tensor([[0, 0, 0, 5], [0, 1, 2, 3], [4, 5, 6, 7]] * 200)
    inputs, labels = cloze_mask(windows, 0.3, mask_token=99, generator=torch.Generator().manual_seed(0))
    masked = inputs == 99
    assert not masked[windows == 0].any()  # padding stays padding
    assert masked.any(dim=1).all()  # every row has something to predict
    assert torch.equal(labels[masked], windows[masked]) and (labels[~masked] == 0).all()
    assert torch.equal(inputs[~masked], windows[~masked])
    rate = masked[2::3, :3].double().mean()  # full rows, columns that are never forced
    assert 0.25 < rate < 0.35  # about mask_prob
    with pytest.raises(ValueError, match="'mask_prob' parameter of cloze_mask"):
        cloze_mask(windows, 1.0, 99)
    with pytest.raises(TypeError, match="'windows' parameter of cloze_mask must be a 2-d torch tensor"):
        cloze_mask(windows.numpy(), 0.2, 99)


def test_next_item_targets_read_only_the_past():
    from course_utils.data import next_item_targets

    history = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [10, 11, 10], "timestamp": [1, 2, 1]})
    targets = pd.DataFrame({"user_id": [1, 1, 3, 2], "item_id": [12, 99, 10, 11], "timestamp": [3, 4, 1, 5]})
    index = pd.Index([10, 11, 12], name="item_id")
    windows, codes, seen, kept = next_item_targets(history, targets, index, max_len=3)
    assert kept.tolist() == [0, 1, 3]  # user 3 has nothing before its target: left out
    assert windows.tolist() == [[0, 1, 2], [1, 2, 3], [0, 0, 1]]  # the target itself and later events never show
    assert codes.tolist() == [3, 0, 2]  # item 99 is unknown to the model: code 0
    assert [s.tolist() for s in seen] == [[1, 2], [1, 2, 3], [1]]


class _Fixed:
    """A fake model: fixed scores, for a protocol computed by hand."""

    item_index_ = pd.Index([10, 11, 12, 13], name="item_id")
    max_seq_length = 2

    def score_next(self, windows):
        return np.tile([4.0, 3.0, 2.0, 1.0], (len(windows), 1))


def test_evaluate_next_item_by_hand():
    history = pd.DataFrame({"user_id": [1, 2], "item_id": [10, 13], "timestamp": [1, 1]})
    targets = pd.DataFrame({"user_id": [1, 2], "item_id": [12, 10], "timestamp": [2, 2]})
    r = evaluate_next_item(_Fixed(), history, targets, k=1)
    # user 1: item 10 seen -> ranking 11, 12, 13: target 12 at rank 2. user 2: ranking 10, 11, 12: target rank 1
    assert r["hit_rate@1"] == 0.5 and r["mrr"] == pytest.approx((1 / 2 + 1) / 2)
    assert r["ndcg@1"] == 0.5 and r["n_targets"] == 2 and r["n_skipped"] == 0
    logsumexp = np.log(np.exp([4.0, 3.0, 2.0, 1.0]).sum())
    assert r["loss"] == pytest.approx(((logsumexp - 2.0) + (logsumexp - 4.0)) / 2, rel=1e-6)
    tied = _Fixed()
    tied.score_next = lambda windows: np.ones((len(windows), 4))  # every item tied: ties count against the model
    r_tied = evaluate_next_item(tied, history, targets, k=2)
    assert r_tied["hit_rate@2"] == 0.0 and r_tied["mrr"] == pytest.approx((1 / 3 + 1 / 3) / 2)
    repeat = pd.DataFrame({"user_id": [1], "item_id": [10], "timestamp": [5]})  # user 1 had item 10 before
    r_repeat = evaluate_next_item(_Fixed(), history, repeat, k=1)
    assert r_repeat["n_repeats"] == 1 and r_repeat["hit_rate@1"] == 0.0
    with pytest.raises(TypeError, match="must have score_next"):
        evaluate_next_item(object(), history, targets)
    with pytest.raises(ValueError, match="'k' parameter of evaluate_next_item"):
        evaluate_next_item(_Fixed(), history, targets, k=5)
    with pytest.raises(ValueError, match="empty"):
        evaluate_next_item(_Fixed(), history, targets.iloc[:0], k=1)


def test_global_temporal_split_has_no_future_in_training(synthetic_df):
    train, val, test = InteractionDataset(synthetic_df, implicit=True).split(strategy="global_temporal", test_size=0.1,
                                                                           val_size=0.1)
    assert len(train.data) + len(val.data) + len(test.data) == len(synthetic_df)
    assert len(test.data) == round(0.1 * len(synthetic_df))
    assert train.data["timestamp"].max() <= val.data["timestamp"].min()
    assert val.data["timestamp"].max() <= test.data["timestamp"].min()


@pytest.fixture(scope="module")
def parts(synthetic_df):
    return InteractionDataset(synthetic_df, implicit=True).split(strategy="global_temporal", test_size=0.1, val_size=0.1)


MODELS = {"lstm": LSTMRecommender, "lstm_mha": LSTMAttentionRecommender, "bert4rec": BERT4RecRecommender}


def _model(name, **kw):
    return MODELS[name](**{"embedding_dim": 16, "max_seq_length": 20, "batch_size": 64, "epochs": 15, "device": "cpu",
                           "verbose": False, **kw})


@pytest.fixture(scope="module")
def cycle_parts():
    """A log with a rule to learn: each user walks through items k, k+1, k+2, ... (mod 40) from a random k."""
    rng = np.random.default_rng(0)
    rows = []
    for user in range(1, 301):
        start, length, t0 = rng.integers(40), rng.integers(10, 30), rng.integers(0, 1000)
        rows += [(user, 1 + (start + j) % 40, t0 + j) for j in range(length)]
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    return InteractionDataset(df, implicit=True).split(strategy="global_temporal", test_size=0.1, val_size=0.1)


@pytest.mark.parametrize("name,epochs", [("lstm", 10), ("lstm_mha", 10), ("bert4rec", 30)])  # BERT4Rec learns slower
def test_loss_decreases_and_it_beats_popularity(cycle_parts, name, epochs):
    train, val, test = cycle_parts
    model = _model(name, learning_rate=0.01, epochs=epochs, val_targets=200).fit(train, val_data=val)
    history = model.history_.to_frame()
    assert history["train_loss"].iloc[-1] < 0.85 * history["train_loss"].iloc[0]
    assert {"hit_rate@10", "ndcg@10", "mrr", "loss"} <= set(history.columns) and len(history) == epochs
    seen = pd.concat([train.data, val.data])
    ours = evaluate_next_item(model, seen, test)
    pop = evaluate_next_item(PopularityRecommender().fit(train), seen, test)
    assert ours["ndcg@10"] > 2 * pop["ndcg@10"] and ours["hit_rate@10"] > 0.5 and ours["n_targets"] == pop["n_targets"] > 0


@pytest.mark.parametrize("name", list(MODELS))
def test_save_load_round_trip_and_recommend(parts, name, tmp_path):
    train = parts[0]
    model = _model(name, epochs=1).fit(train)
    users = train.data["user_id"].unique()[:3].tolist()
    recs = model.recommend(users, k=5)
    seen = train.data.groupby("user_id")["item_id"].apply(set)
    assert all(len(recs[u]) == 5 and not ({i for i, _ in recs[u]} & seen[u]) for u in users)
    loaded = MODELS[name]().load(model.save(tmp_path / "m.pt"))
    np.testing.assert_allclose(loaded.score_all(users), model.score_all(users), rtol=1e-5, atol=1e-6)
    params = {k: v for k, v in model.get_params().items() if k != "device"}  # the loader's device is its own choice
    assert params.items() <= loaded.get_params().items() and loaded.n_parameters() == model.n_parameters()


def test_deterministic_and_attention_weights(parts):
    train = parts[0]
    a, b = (_model("lstm_mha", epochs=2, n_heads=4).fit(train) for _ in range(2))
    user = train.data["user_id"].iloc[0]
    np.testing.assert_array_equal(a.score_all([user]), b.score_all([user]))
    items, (weights,) = a.get_attention_weights(user=user)  # one attention block
    assert weights.shape == (4, len(items), len(items))
    np.testing.assert_allclose(weights.sum(-1), 1, rtol=1e-5)
    assert np.allclose(np.triu(weights, 1), 0)  # nothing from the future
    bert = _model("bert4rec", epochs=1, n_layers=2).fit(train)
    items, weights = bert.get_attention_weights(items=items[-5:])
    assert len(weights) == 2 and all(w.shape == (2, 5, 5) for w in weights)  # one (heads, T, T) array per block
    np.testing.assert_allclose(weights[1].sum(-1), 1, rtol=1e-5)
    assert not np.allclose(np.triu(weights[0], 1), 0)  # bidirectional: every position reads the later ones too
    with pytest.raises(TypeError, match="no attention weights"):
        _model("lstm", epochs=1).fit(train).get_attention_weights(user=user)


def test_bad_input(parts, tiny_df):
    train = parts[0]
    with pytest.raises(ValueError, match="'hidden_dim' parameter of LSTMAttentionRecommender must be divisible by n_heads=5"):
        _model("lstm_mha", n_heads=5).fit(train)
    with pytest.raises(ValueError, match="'embedding_dim' parameter of BERT4RecRecommender must be divisible by n_heads=3"):
        _model("bert4rec", n_heads=3).fit(train)
    with pytest.raises(ValueError, match="'mask_prob' parameter of BERT4RecRecommender"):
        _model("bert4rec", mask_prob=0.0).fit(train)
    with pytest.raises(ValueError, match="'val_targets' parameter of LSTMRecommender must be an int >= 1"):
        _model("lstm", val_targets=0).fit(train)
    with pytest.raises(ValueError, match="timestamp"):
        _model("lstm").fit(train.data.drop(columns="timestamp"))
    tiny = _model("lstm", epochs=1).fit(tiny_df)
    with pytest.raises(ValueError, match="'windows' parameter of score_next must be a 2-d array"):
        tiny.score_next(np.zeros(21, dtype=np.int64))
    n = len(tiny.item_index_)
    with pytest.raises(ValueError, match=f"'windows' parameter of score_next must hold item codes in 0..{n}"):
        tiny.score_next(np.full((1, 3), n + 1))


@pytest.mark.parametrize("name", ["lstm", "lstm_mha", "bert4rec", "sasrec"])
def test_a_history_longer_than_max_seq_length_is_truncated_to_its_most_recent_items(parts, name):
    model = (SASRecRecommender(embedding_dim=16, max_seq_length=20, epochs=1, device="cpu", verbose=False)
             if name == "sasrec" else _model(name, epochs=1)).fit(parts[0])
    long = np.random.default_rng(0).integers(1, len(model.item_index_) + 1, size=(3, 35))
    np.testing.assert_array_equal(model.score_next(long), model.score_next(long[:, -20:]))


@pytest.mark.parametrize("model", [
    lambda: LSTMAttentionEncoder(30, dim=8, hidden_dim=16, n_heads=4, dropout=0.0),
    lambda: BERT4RecEncoder(30, dim=8, n_layers=2, n_heads=2, dim_ff=16, max_len=8, dropout=0.0),
], ids=["lstm_mha", "bert4rec_2_layers"])
def test_scoring_from_the_last_query_only_equals_the_full_pass(model):
    torch.manual_seed(0)
    model = model().eval()
    seq = torch.tensor([[0, 0, 3, 4, 5, 6, 7, 8], [1, 2, 3, 4, 5, 6, 7, 8]])
    torch.testing.assert_close(model.encode(seq, last_only=True)[:, -1], model(seq)[:, -1])


@pytest.mark.parametrize("name", ["lstm_mha", "bert4rec"])
def test_attention_dropout_is_off_by_default_and_can_be_turned_on(parts, name):
    train = parts[0]
    default = _model(name, epochs=1).fit(train)
    assert all(m.dropout == 0.0 for m in default.module_.modules() if type(m).__name__ == "CausalSelfAttention")
    dropped = _model(name, epochs=1, attention_dropout=0.3).fit(train)
    attention = [m for m in dropped.module_.modules() if type(m).__name__ == "CausalSelfAttention"]
    assert attention and all(m.dropout == 0.3 for m in attention)
    user = train.data["user_id"].iloc[0]
    assert not np.allclose(default.score_all([user]), dropped.score_all([user]))  # it acted in training
    with pytest.raises(ValueError, match="'attention_dropout' parameter of .* must be a float in \\(0, 1\\). Got 1.5"):
        _model(name, attention_dropout=1.5).fit(train)


def test_bert4rec_last_item_samples_hide_only_the_last_item(monkeypatch):
    """last_item_share=1: every training row hides exactly its last item (the task recommend asks); 0: pure cloze."""
    import torch

    import course_utils.models.sequence as sequence

    seen = []

    def spy(hidden, labels, scores):
        seen.append(labels.clone())
        return hidden.sum() * 0.0 + hidden.mean()

    monkeypatch.setattr(sequence, "cloze_loss", spy)
    rng = np.random.default_rng(1)
    df = pd.DataFrame([(u, int(i), t) for u in range(1, 21) for t, i in enumerate(rng.choice(30, 12, replace=False) + 1)],
                      columns=["user_id", "item_id", "timestamp"])
    BERT4RecRecommender(embedding_dim=8, max_seq_length=10, epochs=1, last_item_share=1.0, mask_prob=0.5, device="cpu",
                        verbose=False).fit(df)
    labels = torch.cat(seen)
    assert (labels[:, :-1] == 0).all() and (labels[:, -1] > 0).all()
    seen.clear()
    BERT4RecRecommender(embedding_dim=8, max_seq_length=10, epochs=1, last_item_share=0.0, mask_prob=0.5, device="cpu",
                        verbose=False).fit(df)
    assert (torch.cat(seen)[:, :-1] > 0).any()  # random positions are hidden too
    with pytest.raises(ValueError, match="'last_item_share'"):
        BERT4RecRecommender(last_item_share=1.5, device="cpu", verbose=False).fit(df)
