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


def next_item_windows(sequences, max_len: int, stride: int | None = None, return_owners: bool = False):
    """Training pairs for next-item prediction: (inputs, targets), each (n_windows, max_len), left-padded.

    For a sequence s, position t of a window reads s[..t] and must predict the next item: targets are the inputs
    shifted by one (target 0 = padding, no loss). Every sequence gives its most recent window (the paper's single
    window per user); with ``stride`` it also gives earlier windows ending every ``stride`` items before, so that
    histories longer than max_len are used whole. Sequences with fewer than 2 items give no window.
    return_owners: also return, for each window, the index of the sequence it comes from (n_windows,) int64.
    """
    check_int(max_len, "max_len", "next_item_windows", min_value=1)
    if stride is not None:
        check_int(stride, "stride", "next_item_windows", min_value=1)
    inputs, targets, owners = [], [], []
    for owner, history in enumerate(sequences):
        seq = np.asarray(history, dtype=np.int64)
        if len(seq) < 2:
            continue
        ends = [len(seq)]  # the most recent window, always
        if stride is not None and len(seq) > max_len + 1:  # earlier windows, back to the one that starts the sequence
            ends += list(range(len(seq) - stride, max_len + 1, -stride)) + [max_len + 1]
            ends = sorted(set(ends), reverse=True)
        for end in ends:
            window = seq[max(0, end - max_len - 1):end]
            inputs.append(window[:-1])
            targets.append(window[1:])
            owners.append(owner)
    windows = pad_left(inputs, max_len), pad_left(targets, max_len)
    return (*windows, np.asarray(owners, dtype=np.int64)) if return_owners else windows


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


def chunk_windows(sequences, max_len: int):
    """Training pairs that cover every next-item target of every sequence exactly once: (inputs, targets).

    The most recent window holds the last max_len + 1 items, the one before ends where it starts, and so on back to
    the start of the sequence (the earliest window is left-padded). Unlike ``next_item_windows(..., stride=max_len)``,
    whose earliest window is always full and overlaps the next one, no target is trained twice in an epoch.
    """
    check_int(max_len, "max_len", "chunk_windows", min_value=1)
    inputs, targets = [], []
    for history in sequences:
        seq = np.asarray(history, dtype=np.int64)
        for end in range(len(seq), 1, -max_len):
            window = seq[max(0, end - max_len - 1):end]
            inputs.append(window[:-1])
            targets.append(window[1:])
    return pad_left(inputs, max_len), pad_left(targets, max_len)


def cloze_mask(windows, mask_prob: float, mask_token: int, generator=None):
    """BERT4Rec's training task: hide random items of each window; returns (inputs, labels), both like ``windows``.

    windows: (B, T) int64 torch tensor of item codes, 0 = padding. Every real item is replaced by ``mask_token``
    with probability ``mask_prob``, and every row gets at least one masked item (its most recent one when the draw
    masked none), so that no row is wasted. Padding is never masked. labels hold the hidden item where masked and 0
    elsewhere (0 = no loss). generator: a torch.Generator on the windows' device, for reproducible masks.
    """
    import torch

    from .._validation import check_fraction

    if not isinstance(windows, torch.Tensor) or windows.dim() != 2:
        raise TypeError(f"The 'windows' parameter of cloze_mask must be a 2-d torch tensor of item codes. "
                        f"Got {type(windows).__name__}{' of shape ' + str(tuple(windows.shape)) if hasattr(windows, 'shape') else ''}.")
    check_fraction(mask_prob, "mask_prob", "cloze_mask")
    check_int(mask_token, "mask_token", "cloze_mask", min_value=1)
    real = windows != PAD
    masked = (torch.rand(windows.shape, generator=generator, device=windows.device) < mask_prob) & real
    last = windows.shape[1] - 1  # left padding: the most recent item is the last column
    masked[:, last] |= ~masked.any(dim=1) & real[:, last]
    inputs = windows.masked_fill(masked, mask_token)
    labels = torch.where(masked, windows, torch.zeros_like(windows))
    return inputs, labels


def next_item_targets(history: pd.DataFrame, targets: pd.DataFrame, item_index: pd.Index, max_len: int):
    """Windows to predict each event of ``targets`` from the same user's earlier events (next-item evaluation).

    history and targets: user_id, item_id, timestamp (targets come after history in time, or interleave: the
    order is the timestamps'). Each target event is predicted from the user's events before it, history and earlier
    targets alike, never from itself or later ones. Items outside item_index (the model's) cannot be read and are
    left out of the windows; a target item outside it stays a target (a miss for any model).
    Returns (windows (n, max_len) codes left-padded, target codes (n,) with 0 for an unknown item, seen: a list of
    arrays with each row's earlier item codes, kept: the row of ``targets`` of each window). Targets without any
    readable earlier event are left out (not in ``kept``).
    """
    check_int(max_len, "max_len", "next_item_targets", min_value=1)
    cols = ["user_id", "item_id", "timestamp"]
    history = check_dataframe(history, "history", cols, "next_item_targets")
    targets = check_dataframe(targets, "targets", cols, "next_item_targets")
    events = pd.concat([history[cols].assign(_target=-1), targets[cols].assign(_target=np.arange(len(targets)))],
                       ignore_index=True)
    events = events.iloc[np.lexsort((np.arange(len(events)), events["timestamp"].to_numpy(), events["user_id"].to_numpy()))]
    codes = item_index.get_indexer(events["item_id"]) + 1  # 0: not in the model's catalogue
    rows = events["_target"].to_numpy()
    users = events["user_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    windows, target_codes, seen, kept = [], [], [], []
    for start, end in zip(starts, np.r_[starts[1:], len(users)], strict=True):
        user_codes, user_rows = codes[start:end], rows[start:end]
        for p in np.flatnonzero(user_rows >= 0):
            before = user_codes[:p]
            before = before[before > 0]
            if len(before) == 0:
                continue
            windows.append(before[-max_len:])
            seen.append(before)
            target_codes.append(user_codes[p])
            kept.append(user_rows[p])
    return pad_left(windows, max_len), np.asarray(target_codes, dtype=np.int64), seen, np.asarray(kept, dtype=np.int64)
