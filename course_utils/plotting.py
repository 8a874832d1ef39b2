"""The seaborn figures the notebooks show. Every function returns the matplotlib Axes it drew on."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns


def _axes(ax):
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    return ax


def plot_rating_distribution(df: pd.DataFrame, ax=None, title: str = "How users rate"):
    """Bar chart of how many ratings have each value."""
    ax = _axes(ax)
    counts = df["rating"].value_counts().sort_index()
    sns.barplot(x=counts.index.astype(str), y=counts.to_numpy(), color=sns.color_palette()[0], ax=ax)
    ax.set(title=title, xlabel="rating", ylabel="number of ratings")
    return ax


def plot_long_tail(df: pd.DataFrame, ax=None, title: str = "The long tail: interactions per item"):
    """Items sorted by popularity; the shaded head holds the items that make up half of all interactions."""
    ax = _axes(ax)
    counts = np.sort(df["item_id"].value_counts().to_numpy())[::-1]
    head = int(np.searchsorted(np.cumsum(counts), counts.sum() / 2)) + 1
    sns.lineplot(x=np.arange(1, len(counts) + 1), y=counts, ax=ax)
    ax.axvspan(1, head, alpha=0.2, color="tab:orange", label=f"top {head} items ({head / len(counts):.0%}) = half of all interactions")
    ax.set(title=title, xlabel="item rank by popularity", ylabel="interactions (log scale)", yscale="log")
    ax.legend()
    return ax


def plot_user_activity(df: pd.DataFrame, ax=None, title: str = "How active users are"):
    """Histogram of interactions per user (log-scaled x axis)."""
    ax = _axes(ax)
    per_user = df.groupby("user_id").size()
    sns.histplot(per_user, log_scale=True, ax=ax)
    ax.set(title=title, xlabel="interactions per user (log scale)", ylabel="number of users")
    return ax


def plot_metric_comparison(table: pd.DataFrame, metrics: list[str] | None = None, ax=None,
                           title: str = "Models compared"):
    """Grouped bars: one group per metric, one bar per model. ``table`` is what evaluation.compare returns."""
    ax = _axes(ax)
    metrics = metrics or [c for c in table.columns if "@" in c]
    long = table[metrics].astype(float).reset_index().melt(id_vars=table.index.name or "index", var_name="metric", value_name="value")
    sns.barplot(data=long, x="metric", y="value", hue=table.index.name or "index", ax=ax)
    protocols = table["protocol"].unique() if "protocol" in table else []
    subtitle = f"\n{protocols[0]}" if len(protocols) == 1 else ""
    ax.set(title=title + subtitle, xlabel="metric", ylabel="value (higher is better)")
    return ax


def plot_history(history, metrics: list[str] | None = None, ax=None, title: str = "Training"):
    """Training loss (left axis) and validation metrics (right axis) per epoch, from a training History."""
    ax = _axes(ax)
    frame = history.to_frame().reset_index()
    sns.lineplot(data=frame, x="epoch", y="train_loss", marker="o", ax=ax, label="train loss")
    ax.set(title=title, xlabel="epoch", ylabel="train loss")
    metrics = metrics if metrics is not None else [c for c in frame.columns if "@" in c]
    if metrics:
        right = ax.twinx()
        for m in metrics:
            sns.lineplot(data=frame, x="epoch", y=m, marker="s", ax=right, label=f"val {m}", color=None)
        right.set_ylabel("validation metric")
    return ax
