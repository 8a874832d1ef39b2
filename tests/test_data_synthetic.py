"""make_synthetic: the offline log has the structure the course teaches with."""
import hashlib
import time

import numpy as np
import pandas as pd
import pytest

from course_utils import InteractionDataset, make_synthetic


def test_columns_ids_and_determinism():
    a = make_synthetic(n_users=50, n_items=40, mean_interactions=10, seed=3)
    b = make_synthetic(n_users=50, n_items=40, mean_interactions=10, seed=3)
    c = make_synthetic(n_users=50, n_items=40, mean_interactions=10, seed=4)
    assert list(a.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert a.equals(b) and not a.equals(c)
    assert a["user_id"].between(1, 50).all() and a["item_id"].between(1, 40).all()
    assert a["user_id"].nunique() == 50
    assert set(a["rating"].unique()) <= {1, 2, 3, 4, 5}
    InteractionDataset(a)  # every loader consumer accepts it


def test_each_user_has_distinct_items_in_time_order(synthetic_df):
    assert not synthetic_df.duplicated(["user_id", "item_id"]).any()
    assert synthetic_df.groupby("user_id").size().min() >= 5
    assert synthetic_df.groupby("user_id")["timestamp"].apply(lambda t: t.is_monotonic_increasing and t.is_unique).all()


def test_popularity_is_skewed(synthetic_df):
    counts = np.sort(synthetic_df["item_id"].value_counts().to_numpy())[::-1]
    top_decile = counts[: len(counts) // 10].sum() / counts.sum()
    assert top_decile > 0.25  # uniform would give 0.10


def test_ratings_follow_taste(synthetic_df):
    # the same items rated by different users get systematically different ratings: taste groups exist
    per_item = synthetic_df.groupby("item_id")["rating"]
    assert per_item.std().mean() > 0.5 and synthetic_df["rating"].std() > 0.8


def test_sequences_have_structure():
    df = make_synthetic(n_users=300, n_items=100, mean_interactions=20, sequential_strength=0.8, seed=1)
    shuffled = make_synthetic(n_users=300, n_items=100, mean_interactions=20, sequential_strength=0.0, seed=1)

    def top_transition_share(log):  # how often the most frequent successor of an item follows it
        pairs = log.sort_values(["user_id", "timestamp"]).groupby("user_id")["item_id"].apply(lambda s: list(zip(s[:-1], s[1:], strict=True)))
        flat = [p for seq in pairs for p in seq]
        counts = {}
        for a, b in flat:
            counts.setdefault(a, {}).setdefault(b, 0)
            counts[a][b] += 1
        return sum(max(v.values()) for v in counts.values()) / len(flat)

    assert top_transition_share(df) > 2 * top_transition_share(shuffled)


@pytest.mark.parametrize("kwargs, match", [
    ({"n_users": 0}, "'n_users' parameter of make_synthetic must be an int >= 1. Got 0"),
    ({"n_items": 1.5}, "'n_items' parameter of make_synthetic must be an int"),
    ({"min_interactions": 500, "n_items": 100}, "'min_interactions'"),
    ({"sequential_strength": 1.5}, "'sequential_strength'"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make_synthetic(**kwargs)


def _digest(df):
    h = hashlib.sha256()
    for column in df.columns:
        h.update(column.encode())
        h.update(str(df[column].dtype).encode())
        h.update(df[column].to_numpy().tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("kwargs, rows, digest", [
    ({}, 9112, "e95cd3842290ede9a7db6c6cdd048f049db7dad9f950f6c3b75e2aa20ea73d88"),
    ({"n_users": 200, "n_items": 120, "mean_interactions": 25, "seed": 0}, 5091,
     "59e157171d09620c7bbae01b6ebf78232942fa21bf9aec5de57ab7dfab46ff7a"),
    ({"n_users": 50, "n_items": 40, "mean_interactions": 10, "seed": 3, "sequential_strength": 0.0}, 489,
     "8f1858812d9bd1220423ee91dc83a1256ed3d5788a6da588f138082582d712d8"),
])
def test_small_log_is_unchanged(kwargs, rows, digest):
    # the notebooks were written with these logs: values, dtypes and order are pinned (hashes taken before the large-log
    # generator was added)
    df = make_synthetic(**kwargs)
    assert len(df) == rows and _digest(df) == digest


# The large-log generator: small sizes here, the 1M-row run is marked slow.

def _check_log(df, n_rows, n_users, n_items, min_interactions):
    assert list(df.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert len(df) == n_rows
    assert df["user_id"].nunique() == n_users and df["user_id"].between(1, n_users).all()
    assert df["item_id"].between(1, n_items).all()
    assert not df.duplicated(["user_id", "item_id"]).any()  # distinct items per user
    users, times = df["user_id"].to_numpy(), df["timestamp"].to_numpy()
    assert (np.diff(users) >= 0).all()  # sorted by user, then time
    assert (np.diff(times)[np.diff(users) == 0] > 0).all()  # strictly increasing timestamps within a user
    assert df.groupby("user_id").size().min() >= min_interactions


def _top_decile_share(df):
    counts = np.sort(df["item_id"].value_counts().to_numpy())[::-1]
    return counts[: len(counts) // 10].sum() / counts.sum()


def test_like_100k_has_the_shape_and_dtypes_of_movielens_100k():
    df = make_synthetic(like="100k", seed=1)
    _check_log(df, 100_000, 943, 1_682, 20)
    assert (df.dtypes == "int64").all()  # what load_movielens("100k") gives
    assert set(df["rating"].unique()) <= {1, 2, 3, 4, 5} and 3.2 < df["rating"].mean() < 3.8
    assert df["item_id"].nunique() > 1_500
    lengths = df.groupby("user_id").size()
    assert lengths.max() > 4 * lengths.median()  # heavy-tailed history lengths
    assert lengths.max() <= 0.6 * 1_682
    assert _top_decile_share(df) > 0.25  # popularity skew: uniform would give 0.10


def test_explicit_size_is_exact_distinct_and_ordered():
    df = make_synthetic(n_users=400, n_items=300, n_interactions=25_000, min_interactions=10, seed=2)
    _check_log(df, 25_000, 400, 300, 10)
    assert (df.dtypes == "int64").all()
    assert _top_decile_share(df) > 0.2  # a dense log (a fifth of all pairs) flattens the skew; uniform gives 0.10


def test_large_log_is_deterministic():
    a = make_synthetic(n_users=100, n_items=80, n_interactions=3_000, seed=7)
    b = make_synthetic(n_users=100, n_items=80, n_interactions=3_000, seed=7)
    c = make_synthetic(n_users=100, n_items=80, n_interactions=3_000, seed=8)
    assert a.equals(b) and not a.equals(c)


def test_large_log_has_taste_and_series():
    strong = make_synthetic(n_users=1_000, n_items=400, n_interactions=40_000, sequential_strength=0.8, seed=1)
    none = make_synthetic(n_users=1_000, n_items=400, n_interactions=40_000, sequential_strength=0.0, seed=1)

    def top_transition_share(log):  # how often the most frequent successor of an item follows it
        users, items = log["user_id"].to_numpy(), log["item_id"].to_numpy()
        same = users[1:] == users[:-1]
        pairs = pd.DataFrame({"a": items[:-1][same], "b": items[1:][same]})
        return pairs.value_counts().groupby(level=0).max().sum() / len(pairs)

    assert top_transition_share(strong) > 5 * top_transition_share(none)
    per_item = strong.groupby("item_id")["rating"]
    assert per_item.std().mean() > 0.5 and strong["rating"].std() > 0.8


def test_dense_log_takes_every_item():
    df = make_synthetic(n_users=30, n_items=25, n_interactions=750, seed=0)  # every user has every item
    _check_log(df, 750, 30, 25, 25)


def test_half_stars_and_compact_dtypes_from_one_million_rows(monkeypatch):
    from course_utils.data import synthetic

    small = make_synthetic(like="10m", n_users=300, n_items=500, n_interactions=20_000)
    assert set(small["rating"].unique()) <= set(np.arange(1, 11) / 2) and small["rating"].dtype == "float32"
    assert (small["rating"] % 1 == 0.5).mean() > 0.1  # half stars are there, whole stars more common
    assert small["user_id"].dtype == "int64"  # below 1,000,000 rows: int64 ids, like MovieLens 100K
    monkeypatch.setattr(synthetic, "_LARGE", 10_000)  # the loaders' dtypes of the 1M and larger sets
    big = make_synthetic(like="10m", n_users=300, n_items=500, n_interactions=20_000)
    assert list(map(str, big.dtypes)) == ["int32", "int32", "float32", "int64"]
    assert big.astype("float64").equals(small.astype("float64"))  # only the dtypes differ
    whole = make_synthetic(n_users=300, n_items=500, n_interactions=20_000)
    assert list(map(str, whole.dtypes)) == ["int32", "int32", "int16", "int64"]  # like load_movielens("1m")


@pytest.mark.parametrize("kwargs, error, match", [
    ({"like": "5m"}, ValueError, r"'like' parameter of make_synthetic must be one of \['100k', '1m', '10m', '20m'\]. Got '5m'"),
    ({"n_interactions": 10}, ValueError, r"'n_interactions' parameter of make_synthetic must be an int in \[300, 60,000\].*Got 10"),
    ({"n_users": 10, "n_items": 5, "n_interactions": 51}, ValueError, r"'n_interactions'.*\[50, 50\].*Got 51"),
    ({"n_interactions": 1.5e6}, TypeError, "'n_interactions' parameter of make_synthetic must be an int"),
    ({"like": "1m", "mean_interactions": 50}, ValueError, "'mean_interactions' parameter of make_synthetic"),
    ({"like": "100k", "n_groups": 0}, ValueError, "'n_groups' parameter of make_synthetic must be an int in"),
    ({"like": "100k", "min_interactions": 200}, ValueError, r"'n_interactions'.*\[188,600, "),
    ({"like": "100k", "sequential_strength": 1.0}, ValueError, "'sequential_strength'"),
    ({"n_users": 0, "n_interactions": 100}, ValueError, "'n_users' parameter of make_synthetic must be an int >= 1. Got 0"),
])
def test_bad_large_log_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_synthetic(**kwargs)


@pytest.mark.slow
def test_like_1m_at_full_size():
    start = time.perf_counter()
    df = make_synthetic(like="1m")
    elapsed = time.perf_counter() - start
    _check_log(df, 1_000_209, 6_040, 3_706, 20)
    assert list(map(str, df.dtypes)) == ["int32", "int32", "int16", "int64"]  # what load_movielens("1m") gives
    assert df["item_id"].nunique() > 3_500 and _top_decile_share(df) > 0.3
    assert elapsed < 60, f"{elapsed:.1f}s for 1M rows"
