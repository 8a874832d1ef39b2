"""Sequences for next-item models: time order, left padding, training windows."""
import numpy as np
import pandas as pd
import pytest

from course_utils.data.sequences import next_item_windows, pad_left, user_sequences


def test_user_sequences_are_in_time_order_with_ties_kept_in_row_order(tiny_df):
    items = pd.Index(sorted(tiny_df["item_id"].unique()))
    df = tiny_df.sample(frac=1.0, random_state=0)  # shuffled rows
    users, seqs = user_sequences(df, items)
    assert users.tolist() == [1, 2, 3, 4]
    assert [items[s - 1].tolist() for s in seqs] == [[10, 11, 12], [10, 13, 14, 15], [11, 12], [10, 11, 12, 13, 14]]
    tie = pd.DataFrame({"user_id": [7, 7, 7], "item_id": [12, 10, 11], "timestamp": [5, 5, 1]})
    assert (items[user_sequences(tie, items)[1][0] - 1]).tolist() == [11, 12, 10]


def test_user_sequences_with_a_user_index_and_bad_input(tiny_df):
    items = pd.Index(sorted(tiny_df["item_id"].unique()))
    users, seqs = user_sequences(tiny_df[tiny_df.user_id == 1], items, pd.Index([3, 1]))  # user 3: no interaction
    assert users.tolist() == [3, 1] and len(seqs[0]) == 0 and len(seqs[1]) == 3
    with pytest.raises(ValueError, match="timestamp"):
        user_sequences(tiny_df.drop(columns="timestamp"), items)
    with pytest.raises(KeyError, match="item 99"):
        user_sequences(pd.DataFrame({"user_id": [1], "item_id": [99], "timestamp": [0]}), items)
    with pytest.raises(KeyError, match="user 2"):
        user_sequences(tiny_df, items, pd.Index([1]))


def test_pad_left_keeps_the_most_recent_items():
    out = pad_left([np.array([1, 2, 3, 4, 5]), np.array([7]), np.array([], dtype=int)], 3)
    assert out.tolist() == [[3, 4, 5], [0, 0, 7], [0, 0, 0]] and out.dtype == np.int64
    with pytest.raises(ValueError, match="'length' parameter of pad_left"):
        pad_left([[1]], 0)


def test_windows_shift_targets_by_one():
    inputs, targets = next_item_windows([np.array([4, 5, 6]), np.array([9]), np.array([1, 2, 3, 4, 5, 6])], max_len=4)
    assert inputs.tolist() == [[0, 0, 4, 5], [2, 3, 4, 5]]  # the 1-item sequence gives no window
    assert targets.tolist() == [[0, 0, 5, 6], [3, 4, 5, 6]]


def test_windows_with_a_stride_cover_long_histories():
    seq = np.arange(1, 13)  # 12 items
    inputs, targets = next_item_windows([seq], max_len=4, stride=4)
    assert inputs.tolist() == [[8, 9, 10, 11], [4, 5, 6, 7], [1, 2, 3, 4]]
    assert targets.tolist() == [[9, 10, 11, 12], [5, 6, 7, 8], [2, 3, 4, 5]]
    covered = {int(t) for t in targets.ravel() if t}
    assert covered == set(range(2, 13))  # every item but the first is a target once at least
    # a history no longer than max_len + 1 gives its one window with a stride too (it was dropped once: a bug)
    short_inputs, short_targets = next_item_windows([np.arange(1, 4), np.arange(1, 6)], max_len=4, stride=2)
    assert short_inputs.tolist() == [[0, 0, 1, 2], [1, 2, 3, 4]]
    assert short_targets.tolist() == [[0, 0, 2, 3], [2, 3, 4, 5]]


def test_windows_know_the_sequence_they_come_from():
    seqs = [np.arange(1, 13), np.array([9]), np.array([4, 5, 6])]
    inputs, targets, owners = next_item_windows(seqs, max_len=4, stride=4, return_owners=True)
    assert owners.tolist() == [0, 0, 0, 2]  # three windows of the first sequence, none of the 1-item one
    assert (inputs, targets)[0].tolist() == next_item_windows(seqs, max_len=4, stride=4)[0].tolist()


def test_sasrec_file_round_trip(tiny_df, tmp_path):
    from course_utils.data.sequences import read_sasrec_file, write_sasrec_file

    path = tmp_path / "tiny.txt"
    write_sasrec_file(tiny_df, path)
    lines = path.read_text().splitlines()
    assert len(lines) == len(tiny_df) and lines[:3] == ["1 1", "1 2", "1 3"]
    back = read_sasrec_file(path)
    assert list(back.columns) == ["user_id", "item_id", "timestamp"] and back["timestamp"].is_monotonic_increasing
    items = pd.Index(sorted(tiny_df["item_id"].unique()))
    original = user_sequences(tiny_df, items)[1]
    assert [s.tolist() for s in user_sequences(back, pd.Index(range(1, len(items) + 1)))[1]] == [s.tolist() for s in original]
    (tmp_path / "bad.txt").write_text("1 2 3\n")
    with pytest.raises(ValueError, match="SASRec format"):
        read_sasrec_file(tmp_path / "bad.txt")
    (tmp_path / "zero.txt").write_text("0 2\n")
    with pytest.raises(ValueError, match="start at 1"):
        read_sasrec_file(tmp_path / "zero.txt")


def test_chunk_windows_train_every_target_exactly_once():
    from course_utils.data import chunk_windows

    seqs = [np.arange(1, 13), np.arange(20, 23), np.array([7])]
    inputs, targets = chunk_windows(seqs, max_len=4)
    assert targets.tolist() == [[9, 10, 11, 12], [5, 6, 7, 8], [0, 2, 3, 4], [0, 0, 21, 22]]
    assert inputs.tolist() == [[8, 9, 10, 11], [4, 5, 6, 7], [0, 1, 2, 3], [0, 0, 20, 21]]
    real = targets[targets > 0]
    assert len(real) == len(set(real.tolist())) == 11 + 2  # every item but each sequence's first, once
