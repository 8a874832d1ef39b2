"""The shared recommender shape: scikit-learn conventions, recommend/score, safe save/load, bad input."""
import pickle

import numpy as np
import pandas as pd
import pytest

from course_utils import EASERecommender, NotFittedError, PopularityRecommender, models


def test_constructor_only_stores_and_params_round_trip():
    model = EASERecommender(reg_lambda=-3)  # validated at fit, like scikit-learn
    assert model.get_params() == {"reg_lambda": -3}
    assert model.set_params(reg_lambda=250.0) is model and model.reg_lambda == 250.0
    assert repr(model) == "EASERecommender(reg_lambda=250.0)"
    with pytest.raises(ValueError, match=r"Invalid parameter 'alpha' for EASERecommender. Valid parameters are: \['reg_lambda'\]"):
        model.set_params(alpha=1)


def test_fit_returns_self_and_learned_attributes_end_with_underscore(tiny_df):
    model = EASERecommender(reg_lambda=1.0)
    assert model.fit(tiny_df) is model
    assert model.B_.shape == (6, 6) and model.seen_.shape == (4, 6)
    assert not hasattr(EASERecommender(), "B_")


def test_fit_validates_hyperparameters(tiny_df):
    with pytest.raises(ValueError, match="'reg_lambda' parameter of EASERecommender must be a float > 0. Got -3"):
        EASERecommender(reg_lambda=-3).fit(tiny_df)


def test_recommend_shape_order_and_seen_items(tiny_df):
    model = PopularityRecommender().fit(tiny_df)
    recs = model.recommend([1, 4], k=3)
    assert list(recs) == [1, 4]
    assert all(isinstance(i, int) and isinstance(s, float) for i, s in recs[1])
    assert [i for i, _ in recs[1]] == [13, 14, 15]  # 10, 11, 12 seen; then by popularity
    assert recs[4] == [(15, 1.0)]  # user 4 has seen all but one item: fewer than k
    seen = {1: {10, 11, 12}, 4: {10, 11, 12, 13, 14}}
    assert all(not ({i for i, _ in recs[u]} & seen[u]) for u in recs)
    with_seen = model.recommend(2, k=2, exclude_seen=False)
    assert [i for i, _ in with_seen[2]] == [10, 11]
    scores = [s for _, s in model.recommend([1], k=3)[1]]
    assert scores == sorted(scores, reverse=True)


def test_recommend_scores_users_in_blocks(tiny_df, monkeypatch):
    import course_utils.recommender as rec

    model = EASERecommender(reg_lambda=1.0).fit(tiny_df)
    whole = model.recommend([4, 1, 3, 2], k=4)
    calls = []
    score_users = model._score_users
    monkeypatch.setattr(model, "_score_users", lambda u: calls.append(len(u)) or score_users(u))
    monkeypatch.setattr(rec, "SCORE_BLOCK", 2 * 6)  # two users of the 6-item catalogue per block
    assert model.recommend([4, 1, 3, 2], k=4) == whole
    assert calls == [2, 2]


def test_score_and_score_all(tiny_df):
    model = PopularityRecommender().fit(tiny_df)
    assert model.score([1, 2], [10, 15]).tolist() == [3.0, 1.0]
    assert model.score_all([3]).shape == (1, 6)
    assert (model.predict([1], [10]) == model.score([1], [10])).all()


def test_string_ids_work_end_to_end(tmp_path):
    df = pd.DataFrame({"user_id": ["ann", "ann", "bob", "cy"], "item_id": ["x", "y", "x", "z"]})
    model = EASERecommender(reg_lambda=1.0).fit(df)
    recs = model.recommend("bob", k=2)
    assert set(recs) == {"bob"} and {i for i, _ in recs["bob"]} <= {"y", "z"}
    loaded = EASERecommender().load(model.save(tmp_path / "m.npz"))
    assert loaded.recommend("bob", k=2) == recs


@pytest.mark.parametrize("model", [EASERecommender(reg_lambda=5.0), PopularityRecommender()])
def test_save_load_round_trip_without_pickle(model, synthetic_df, tmp_path):
    model.fit(synthetic_df)
    path = model.save(tmp_path / "model.bin")
    assert path == tmp_path / "model.bin" and path.exists()  # the name is kept as given
    with np.load(path, allow_pickle=False) as z:  # readable without pickle
        assert "meta" in z.files
    loaded = type(model)().load(path)
    assert loaded.get_params() == model.get_params()
    users = synthetic_df["user_id"].unique()[:20].tolist()
    assert np.array_equal(loaded.score_all(users), model.score_all(users))
    assert loaded.recommend(users, k=5) == model.recommend(users, k=5)


def test_load_refuses_other_classes_and_pickles(tiny_df, tmp_path):
    path = PopularityRecommender().fit(tiny_df).save(tmp_path / "pop.npz")
    with pytest.raises(ValueError, match="holds a 'PopularityRecommender'.*expects a 'EASERecommender'"):
        EASERecommender().load(path)

    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    evil = tmp_path / "evil.npz"
    evil.write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(ValueError, match="is not a model saved by EASERecommender.save"):
        EASERecommender().load(evil)
    assert not marker.exists()  # nothing was unpickled
    with pytest.raises(FileNotFoundError):
        EASERecommender().load(tmp_path / "missing.npz")


@pytest.mark.parametrize("call, error, match", [
    (lambda m: m.recommend([1], k=0), ValueError, "The 'k' parameter of recommend must be an int in \\[1, 6\\]. Got 0 instead."),
    (lambda m: m.recommend([1], k=7), ValueError, "Got 7 instead"),
    (lambda m: m.recommend([1], k="10"), TypeError, "'k' parameter of recommend must be an int"),
    (lambda m: m.recommend([1, 999]), KeyError, "Got 999, unknown to this PopularityRecommender"),
    (lambda m: m.recommend([]), ValueError, "must name at least one id"),
    (lambda m: m.recommend([np.nan]), ValueError, "must not contain missing ids"),
    (lambda m: m.recommend({1: 2}), TypeError, "'users' parameter of recommend must be an id or a list"),
    (lambda m: m.recommend([1], k=2, exclude_seen="yes"), TypeError, "'exclude_seen'"),
    (lambda m: m.score([1, 2], [10]), ValueError, "same length"),
    (lambda m: m.score([1], [77]), KeyError, "'items' parameter of score must hold item ids seen in training. Got 77"),
])
def test_bad_input_names_argument_rule_and_value(tiny_df, call, error, match):
    with pytest.raises(error, match=match):
        call(PopularityRecommender().fit(tiny_df))


@pytest.mark.parametrize("train, error, match", [
    ("ratings.csv", TypeError, "'train' parameter of fit must be a DataFrame"),
    (pd.DataFrame({"user_id": [1]}), ValueError, r"missing \['item_id'\]"),
    (pd.DataFrame({"user_id": [1, None], "item_id": [1, 2]}), ValueError, "no missing values in column 'user_id'"),
    (pd.DataFrame({"user_id": [], "item_id": []}), ValueError, "at least one row"),
])
def test_bad_training_data(train, error, match):
    with pytest.raises(error, match=match):
        EASERecommender().fit(train)


def test_methods_need_a_fitted_model():
    with pytest.raises(NotFittedError, match="This EASERecommender is not fitted yet: call fit"):
        EASERecommender().recommend([1])
    with pytest.raises(NotFittedError):
        EASERecommender().save("x.npz")


def test_fit_accepts_a_split_part(tiny_df):
    from course_utils import InteractionDataset

    train, _ = InteractionDataset(tiny_df).split(strategy="leave_one_out")
    assert PopularityRecommender().fit(train).seen_.nnz == len(train)


# ---------------------------------------------------------------- one vocabulary, and arrays the caller owns
VOCABULARY = {"embedding_dim", "n_layers", "n_heads", "dropout", "learning_rate", "batch_size", "epochs", "weight_decay",
              "reg_lambda", "random_state", "device", "module", "verbose"}
SYNONYMS = {"hidden_units", "n_blocks", "num_blocks", "dropout_rate", "emb_dim", "embed_dim", "dim", "l2_reg", "l2",
            "lr", "seed", "num_epochs", "n_epochs", "num_heads", "num_layers", "n_factors", "reg", "decay"}
# wrappers keep their library's names where the course teaches that library (and say so in their docstrings)
LIBRARY_NAMES = {"LightFMRecommender": {"no_components", "item_alpha", "user_alpha", "num_threads"},
                 "ALSRecommender": {"factors", "regularization", "iterations"}}
TORCH = ["BPRMFRecommender", "NCFRecommender", "EmbeddingMLPRecommender", "LightGCNRecommender", "SASRecRecommender",
         "LSTMRecommender", "LSTMAttentionRecommender", "BERT4RecRecommender"]


@pytest.mark.parametrize("name", sorted(models.__all__))
def test_constructor_signatures_use_the_course_vocabulary(name):
    import inspect

    cls = getattr(models, name)
    params = set(inspect.signature(cls.__init__).parameters) - {"self"}
    assert not params & SYNONYMS, f"{name} uses {sorted(params & SYNONYMS)}: the course's names are {sorted(VOCABULARY)}"
    for library_name in LIBRARY_NAMES.get(name, ()):
        assert library_name in params and library_name in cls.__doc__, f"{name} should say it keeps {library_name}"
    if name in TORCH:
        assert {"embedding_dim", "learning_rate", "batch_size", "epochs", "module", "device", "random_state",
                "verbose"} <= params
    if name not in ("PopularityRecommender", "RecentPopularityRecommender", "MarkovRecommender", "EASERecommender"):
        # deterministic closed forms and counts have nothing to seed
        assert "random_state" in params


@pytest.fixture(scope="module")
def every_fitted_model(synthetic_df):
    fitted = {}
    for name in sorted(models.__all__):
        if name == "KerasMLPRecommender":
            continue  # TensorFlow's import alone takes seconds: its own test file covers it
        cls, kwargs = getattr(models, name), {}
        if name in TORCH:
            kwargs = {"epochs": 1, "device": "cpu", "verbose": False}
        if name in ("LightFMRecommender", "SurpriseRecommender"):
            kwargs = {"epochs": 1} if name == "LightFMRecommender" else {}
        fitted[name] = cls(**kwargs).fit(synthetic_df)
    return fitted


def test_score_all_and_score_next_return_arrays_the_caller_owns(every_fitted_model, synthetic_df):
    users = synthetic_df["user_id"].unique()[:3].tolist()
    for name, model in every_fitted_model.items():
        scores = model.score_all(users)
        scores[:, :] = -np.inf  # a learner's scores[seen] = -np.inf must work, and change nothing in the model
        assert np.isfinite(model.score_all(users)).all(), name
        if hasattr(model, "score_next"):
            windows = np.tile(np.arange(1, 6), (3, 1))  # item codes 1..5, most recent last
            nxt = model.score_next(windows)
            nxt[:] = -np.inf
            assert np.isfinite(model.score_next(windows)).all(), name


def test_default_pair_scores_come_from_bounded_user_blocks(synthetic_df, monkeypatch):
    import course_utils.recommender as rec

    model = EASERecommender(reg_lambda=5.0).fit(synthetic_df)
    rng = np.random.default_rng(0)
    users = rng.integers(0, len(model.user_index_), 5_000)
    items = rng.integers(0, len(model.item_index_), 5_000)
    whole = model._score_users(np.unique(users))[np.unique(users, return_inverse=True)[1], items]
    calls = []
    score_users = model._score_users
    monkeypatch.setattr(model, "_score_users", lambda u: calls.append(len(u)) or score_users(u))
    monkeypatch.setattr(rec, "SCORE_BLOCK", 7 * len(model.item_index_))  # seven users' scores per block
    blocked = model._score_pairs(users, items)
    assert blocked.dtype == whole.dtype and (blocked == whole).all()
    assert max(calls) == 7 and sum(calls) == len(np.unique(users))
    raw = model.score(model.user_index_[users], model.item_index_[items])
    assert (raw == whole.astype(np.float64)).all()


def test_pair_models_score_the_catalogue_in_bounded_calls(tiny_df, monkeypatch):
    import course_utils.recommender as rec

    class Pairs(rec.BaseRecommender):  # a pair-scoring model (like the MLPs): score = user * 10 + item
        def __init__(self):
            pass

        def _fit(self, df, val_df, callbacks):
            self.sizes_ = []

        def _score_pairs(self, users, items):
            self.sizes_.append(len(users))
            return (np.asarray(users) * 10 + np.asarray(items)).astype(np.float32)

        def _score_users(self, users):
            return self._score_users_by_pairs(users)

    model = Pairs().fit(tiny_df)
    expected = np.arange(4)[:, None] * 10 + np.arange(6)[None, :]
    assert (model._score_users(np.arange(4)) == expected).all() and model.sizes_ == [24]
    monkeypatch.setattr(rec, "PAIR_BLOCK", 13)  # two users' 6 items per call
    model.sizes_ = []
    scores = model._score_users(np.arange(4))
    assert scores.dtype == np.float32 and (scores == expected).all() and model.sizes_ == [12, 12]
    assert model._score_users(np.arange(0)).shape == (0, 6)
    assert model.recommend([1, 2], k=2) == {1: [(15, 5.0), (14, 4.0)], 2: [(12, 12.0), (11, 11.0)]}
