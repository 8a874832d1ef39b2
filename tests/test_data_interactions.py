"""InteractionDataset and its splits: index maps, filters, the four strategies, bad input."""
import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from course_utils import InteractionDataset


def test_index_maps_are_contiguous_both_ways(tiny_df):
    ds = InteractionDataset(tiny_df)
    assert ds.n_users == 4 and ds.n_items == 6 and len(ds) == 14
    assert ds.user_index.tolist() == [1, 2, 3, 4] and ds.item_index.tolist() == [10, 11, 12, 13, 14, 15]
    assert ds.item_index.get_indexer([15, 10]).tolist() == [5, 0]  # raw -> index
    assert ds.item_index[[5, 0]].tolist() == [15, 10]  # index -> raw
    assert repr(ds) == "InteractionDataset(14 interactions, 4 users, 6 items, explicit)"


def test_caller_frame_is_not_modified(tiny_df):
    before = tiny_df.copy()
    InteractionDataset(tiny_df, implicit=True, rating_threshold=4, min_user_interactions=2)
    pd.testing.assert_frame_equal(tiny_df, before)


def test_implicit_and_threshold(tiny_df):
    ds = InteractionDataset(tiny_df, implicit=True, rating_threshold=4)
    assert len(ds) == 8 and (ds.data["rating"] == 1.0).all() and ds.n_removed == 6
    no_rating = InteractionDataset(tiny_df.drop(columns="rating"), implicit=True)
    assert (no_rating.data["rating"] == 1.0).all()


def test_k_core_filter_repeats_until_stable():
    # item 99 has one interaction; dropping it leaves user 3 with one interaction, so user 3 goes too
    df = pd.DataFrame({"user_id": [1, 1, 2, 2, 3, 3], "item_id": [10, 11, 10, 11, 10, 99], "rating": [1] * 6})
    ds = InteractionDataset(df, min_user_interactions=2, min_item_interactions=2)
    assert sorted(ds.user_index) == [1, 2] and sorted(ds.item_index) == [10, 11] and ds.n_removed == 2


def test_random_split_is_sklearns(synthetic_df):
    ds = InteractionDataset(synthetic_df)
    train, test = ds.split(test_size=0.2, strategy="random", seed=42)
    sk_train, sk_test = train_test_split(synthetic_df, test_size=0.2, random_state=42)
    assert len(train) == len(sk_train) and len(test) == len(sk_test)
    assert train.data[["user_id", "item_id"]].values.tolist() == sk_train[["user_id", "item_id"]].values.tolist()
    train, val, test = ds.split(test_size=0.2, strategy="random", seed=42, val_size=0.1)
    assert len(train) + len(val) + len(test) == len(ds)
    assert abs(len(val) - 0.1 * len(ds)) <= 1 and len(test) == len(sk_test)


def test_user_random_split_is_stratified_per_user(synthetic_df):
    ds = InteractionDataset(synthetic_df, implicit=True)
    train, test = ds.split(test_size=0.25, strategy="user_random", seed=42)
    n = ds.data.groupby("user_id").size()
    n_train = train.data.groupby("user_id").size()
    assert (n_train == np.floor(0.75 * n + 0.5)).all()
    assert set(test.data["user_id"]) == set(ds.data["user_id"])
    assert len(pd.concat([train.data, test.data]).drop_duplicates()) == len(ds)
    again, _ = ds.split(test_size=0.25, strategy="user_random", seed=42)
    other, _ = ds.split(test_size=0.25, strategy="user_random", seed=7)
    assert again.data.equals(train.data) and not other.data.equals(train.data)


def test_temporal_split_puts_each_users_latest_in_test(synthetic_df):
    ds = InteractionDataset(synthetic_df)
    train, test = ds.split(test_size=0.2, strategy="temporal")
    last_train = train.data.groupby("user_id")["timestamp"].max()
    first_test = test.data.groupby("user_id")["timestamp"].min()
    assert (first_test > last_train.loc[first_test.index]).all()


def test_leave_one_out_with_validation(tiny_df):
    ds = InteractionDataset(tiny_df)
    train, val, test = ds.split(strategy="leave_one_out", val_size=1)
    assert test.data.set_index("user_id")["item_id"].to_dict() == {1: 12, 2: 15, 3: 12, 4: 14}
    assert val.data.set_index("user_id")["item_id"].to_dict() == {1: 11, 2: 14, 4: 13}  # user 3 has 2 rows: none for val
    assert len(train) == 14 - 4 - 3
    train2, test2 = ds.split(strategy="leave_one_out")
    assert len(test2) == 4 and len(train2) == 10


def test_timestamp_ties_keep_log_order():
    df = pd.DataFrame({"user_id": [1, 1, 1], "item_id": [5, 6, 7], "rating": [1, 1, 1], "timestamp": [10, 20, 20]})
    _, test = InteractionDataset(df).split(strategy="leave_one_out")
    assert test.data["item_id"].tolist() == [7]


def test_split_parts_share_maps_and_build_matrices(tiny_df):
    ds = InteractionDataset(tiny_df, implicit=True)
    train, test = ds.split(strategy="leave_one_out")
    assert train.user_index is ds.user_index and test.n_items == 6
    m = train.to_csr()
    assert m.shape == (4, 6) and m.nnz == len(train) and set(m.data) == {1.0}
    assert train.item_popularity().tolist() == np.bincount(train.item_indices(), minlength=6).tolist()


def test_cold_users_and_items_are_reported():
    df = pd.DataFrame({"user_id": [1, 1, 2, 3], "item_id": [10, 11, 10, 12], "rating": [1, 1, 1, 1]})
    ds = InteractionDataset(df)
    train, test = ds.split(test_size=0.5, strategy="random", seed=0)
    cold_u, cold_i = test.cold_users(train), test.cold_items(train)
    assert set(cold_u) == set(test.data["user_id"]) - set(train.data["user_id"])
    assert set(cold_i) == set(test.data["item_id"]) - set(train.data["item_id"])


@pytest.mark.real_data
def test_real_movielens_splits(ml100k):
    ds = InteractionDataset(ml100k)
    train, test = ds.split(test_size=0.2, strategy="random", seed=42)
    assert len(train) == 80_000 and len(test) == 20_000
    train, test = ds.split(strategy="leave_one_out")
    assert len(test) == 943 and test.data["user_id"].is_unique
    latest = ml100k.groupby("user_id")["timestamp"].max()
    assert (test.data.set_index("user_id")["timestamp"] == latest.loc[test.data["user_id"]].to_numpy()).all()


@pytest.mark.parametrize("df, kwargs, error, match", [
    ("list", {}, TypeError, "'df' parameter of InteractionDataset must be a pandas DataFrame. Got list"),
    (pd.DataFrame({"user_id": [1], "rating": [3]}), {}, ValueError, r"missing \['item_id'\]"),
    (pd.DataFrame({"user_id": [1, None], "item_id": [1, 2], "rating": [3, 4]}), {}, ValueError, "no missing values in column 'user_id'"),
    (pd.DataFrame({"user_id": [1, 2], "item_id": [1, 2], "rating": [3, np.nan]}), {}, ValueError, "column 'rating'"),
    (pd.DataFrame({"user_id": [1], "item_id": [1]}), {}, ValueError, "'rating' column unless implicit=True"),
    (pd.DataFrame(columns=["user_id", "item_id", "rating"]), {}, ValueError, "at least one row"),
    (pd.DataFrame({"user_id": [1], "item_id": [1], "rating": [3]}), {"min_user_interactions": -1}, ValueError, "int >= 0"),
    (pd.DataFrame({"user_id": [1], "item_id": [1], "rating": [3]}), {"rating_threshold": 9}, ValueError, "no interactions are left"),
    (pd.DataFrame({"user_id": [1], "item_id": [1], "rating": ["good"]}), {}, TypeError, "'rating' column .* must be numeric"),
])
def test_bad_dataset_input(df, kwargs, error, match):
    with pytest.raises(error, match=match):
        InteractionDataset([1, 2] if isinstance(df, str) else df, **kwargs)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"test_size": 0}, ValueError, r"'test_size' parameter of split must be a float in \(0, 1\). Got 0"),
    ({"test_size": 1.5}, ValueError, "Got 1.5"),
    ({"test_size": "0.2"}, TypeError, "'test_size'"),
    ({"strategy": "stratified"}, ValueError, "'strategy' parameter of split must be one of"),
    ({"seed": -1}, ValueError, "'seed' parameter of split must be an int >= 0"),
    ({"test_size": 0.5, "val_size": 0.5}, ValueError, "add up to less than 1"),
    ({"strategy": "leave_one_out", "val_size": 0.1}, ValueError, "must be None or 1"),
])
def test_bad_split_arguments(tiny_df, kwargs, error, match):
    with pytest.raises(error, match=match):
        InteractionDataset(tiny_df).split(**kwargs)


def test_split_needs_timestamps_and_non_empty_parts(tiny_df):
    with pytest.raises(ValueError, match="needs a 'timestamp' column"):
        InteractionDataset(tiny_df.drop(columns="timestamp")).split(strategy="temporal")
    one_each = pd.DataFrame({"user_id": [1, 2], "item_id": [1, 2], "rating": [1, 1], "timestamp": [1, 2]})
    with pytest.raises(ValueError, match="empty test part"):
        InteractionDataset(one_each).split(strategy="leave_one_out")
    with pytest.raises(ValueError, match="leaves a part empty"):
        InteractionDataset(one_each.iloc[:1]).split(strategy="random")
