"""Sequences for next-item models (chapters 4 and 5): each user's items in time order, and padded training windows.

Items are coded 1..n_items (position in an item index + 1); 0 is padding, so that an embedding table of n_items + 1
rows can keep row 0 for "nothing here". Windows are left-padded: the most recent item is always the last column.

    users, seqs = user_sequences(train.data, item_index)           # seqs[u]: np.array of item codes, oldest first
    inputs, targets = next_item_windows(seqs, max_len=50)          # (n_windows, 50) each; targets = inputs shifted
    history = pad_left(seqs, 50)                                   # (n_users, 50): what the model reads to predict
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .._validation import check_dataframe, check_int

PAD = 0


def user_sequences(df: pd.DataFrame, item_index: pd.Index, user_index: pd.Index | None = None):
    """Each user's items in time order, coded 1..len(item_index); returns (users, sequences).

    df needs user_id, item_id and timestamp; interactions with the same timestamp keep their order in df.
    users: the user ids (``user_index`` when given, in its order, else the sorted ids of df); sequences: a list of
    int64 arrays, one per user (empty for a user of ``user_index`` without interactions in df).
    Items missing from ``item_index`` raise a KeyError naming one.
    """
    df = check_dataframe(df, "df", ["user_id", "item_id", "timestamp"], "user_sequences")
    codes = item_index.get_indexer(df["item_id"])
    if (codes < 0).any():
        bad = df["item_id"].to_numpy()[np.flatnonzero(codes < 0)[0]].item()
        raise KeyError(f"The 'df' parameter of user_sequences holds item {bad!r}, which is not in item_index "
                       f"({len(item_index):,} items).")
    users = pd.Index(np.sort(df["user_id"].unique()), name="user_id") if user_index is None else user_index
    rows = users.get_indexer(df["user_id"])
    if (rows < 0).any():
        bad = df["user_id"].to_numpy()[np.flatnonzero(rows < 0)[0]].item()
        raise KeyError(f"The 'df' parameter of user_sequences holds user {bad!r}, which is not in user_index.")
    order = np.lexsort((np.arange(len(df)), df["timestamp"].to_numpy(), rows))  # by user, then time, then row
    rows, codes = rows[order], codes[order].astype(np.int64) + 1
    bounds = np.searchsorted(rows, np.arange(len(users) + 1))
    return users, [codes[bounds[r]:bounds[r + 1]] for r in range(len(users))]


def pad_left(sequences, length: int) -> np.ndarray:
    """(len(sequences), length) int64: the last ``length`` items of each sequence, left-padded with 0."""
    check_int(length, "length", "pad_left", min_value=1)
    out = np.zeros((len(sequences), length), dtype=np.int64)
    for row, seq in enumerate(sequences):
        tail = np.asarray(seq, dtype=np.int64)[-length:]
        if len(tail):
            out[row, length - len(tail):] = tail
    return out


def next_item_windows(sequences, max_len: int, stride: int | None = None):
    """Training pairs for next-item prediction: (inputs, targets), each (n_windows, max_len), left-padded.

    For a sequence s, position t of a window reads s[..t] and must predict the next item: targets are the inputs
    shifted by one (target 0 = padding, no loss). Every sequence gives its most recent window (the paper's single
    window per user); with ``stride`` it also gives earlier windows ending every ``stride`` items before, so that
    histories longer than max_len are used whole. Sequences with fewer than 2 items give no window.
    """
    check_int(max_len, "max_len", "next_item_windows", min_value=1)
    if stride is not None:
        check_int(stride, "stride", "next_item_windows", min_value=1)
    inputs, targets = [], []
    for seq in sequences:
        seq = np.asarray(seq, dtype=np.int64)
        if len(seq) < 2:
            continue
        ends = [len(seq)]
        if stride is not None:
            ends = list(range(len(seq), max_len + 1, -stride)) + ([max_len + 1] if len(seq) > max_len + 1 else [])
            ends = sorted(set(ends), reverse=True)
        for end in ends:
            window = seq[max(0, end - max_len - 1):end]
            inputs.append(window[:-1])
            targets.append(window[1:])
    return pad_left(inputs, max_len), pad_left(targets, max_len)


def read_sasrec_file(path) -> pd.DataFrame:
    """A dataset in the SASRec repository's format: one "user item" pair per line, each user's lines in time order,
    ids from 1. Returns user_id, item_id and a timestamp column that is the line number (the order of events)."""
    from pathlib import Path

    path = Path(path)
    try:
        raw = np.loadtxt(path, dtype=np.int64, ndmin=2)
    except ValueError as err:
        raise ValueError(f"{path} is not in the SASRec format (two integers per line: user item): {err}") from err
    if raw.shape[1] != 2 or len(raw) == 0:
        raise ValueError(f"{path} is not in the SASRec format: expected two integers per line (user item), got "
                         f"{raw.shape[1]} columns and {len(raw)} lines.")
    if raw.min() < 1:
        raise ValueError(f"{path}: SASRec ids start at 1; found {int(raw.min())}.")
    return pd.DataFrame({"user_id": raw[:, 0], "item_id": raw[:, 1], "timestamp": np.arange(len(raw), dtype=np.int64)})


def write_sasrec_file(df: pd.DataFrame, path) -> None:
    """Write df (user_id, item_id, timestamp) in the SASRec format: users and items renumbered from 1 in order of
    their ids, each user's lines in time order."""
    df = check_dataframe(df, "df", ["user_id", "item_id", "timestamp"], "write_sasrec_file")
    users = pd.Index(np.sort(df["user_id"].unique()))
    items = pd.Index(np.sort(df["item_id"].unique()))
    _, sequences = user_sequences(df, items, users)
    with open(path, "w") as f:
        for row, seq in enumerate(sequences):
            f.writelines(f"{row + 1} {code}\n" for code in seq.tolist())
