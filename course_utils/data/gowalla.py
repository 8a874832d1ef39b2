"""Gowalla as split for the NGCF and LightGCN papers (train from the adjacency matrix, test from test.txt)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .datasets import DatasetError, fetch


def load_gowalla(data_dir=None) -> pd.DataFrame:
    """The papers' fixed split as one DataFrame: user_id, item_id (the papers' 0-based ids) and split ("train"/"test").

    The training pairs are the non-zeros of the user-item block R of ``s_adj_mat.npz`` = [[0, R], [R^T, 0]]
    (810,128 pairs); the test pairs are the lines ``user item item ...`` of test.txt (217,242 pairs).
    Select a part with ``df[df.split == "train"]``.
    """
    import scipy.sparse as sp

    folder = fetch("gowalla", None, data_dir) / "lightgcn-paper/gowalla"
    users, items = [], []
    for line in (folder / "test.txt").read_text().splitlines():
        parts = line.split()
        if len(parts) > 1:
            users.extend([int(parts[0])] * (len(parts) - 1))
            items.extend(int(p) for p in parts[1:])
    test = pd.DataFrame({"user_id": users, "item_id": items})
    adj = sp.load_npz(folder / "s_adj_mat.npz").tocsr()
    n_users = int(test["user_id"].max()) + 1
    n_items = adj.shape[0] - n_users
    if n_items <= int(test["item_id"].max()):
        raise DatasetError(f"{folder}: s_adj_mat.npz of shape {adj.shape} does not fit test.txt's {n_users} users and "
                           f"items up to {int(test['item_id'].max())}. The files are from different splits.")
    r = adj[:n_users, n_users:].tocoo()
    train = pd.DataFrame({"user_id": r.row.astype(np.int64), "item_id": r.col.astype(np.int64)})
    train = train.sort_values(["user_id", "item_id"], kind="stable")
    df = pd.concat([train.assign(split="train"), test.assign(split="test")], ignore_index=True)
    df["user_id"] = df["user_id"].astype("int64")
    df["item_id"] = df["item_id"].astype("int64")
    return df
