"""The course's plot style and the seaborn figures the notebooks show.

Every notebook calls ``use_course_style()`` in its import cell: seaborn's colour-blind palette, lines told apart by
marker and line style as well as by colour, an opaque white background (readable in JupyterLab's dark theme) and a
layout that keeps labels from overlapping. ``caption(text)`` writes a one-line description under a figure.

Every ``plot_*`` function returns the matplotlib Axes it drew on and captions its figure: ``caption=`` replaces the
default description, ``caption=None`` leaves the figure without one.
"""
from __future__ import annotations

import itertools
import textwrap

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from cycler import cycler
from matplotlib import ticker, transforms

PALETTE = "colorblind"
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]
LINESTYLES = ["-", "--", ":", "-.", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (1, 3)), (0, (6, 2, 1, 2)),
              (0, (8, 3)), (0, (2, 1))]
HATCHES = ["", "//", "..", "xx", "\\\\", "oo", "--", "++", "**", "||"]
CAPTION_GID = "course-caption"


def use_course_style() -> None:
    """Set the course's plot style for every figure drawn after it (calling it again changes nothing).

    Seaborn's "whitegrid" theme with its "colorblind" palette; a property cycle in which every colour comes with its
    own marker and line style (matplotlib lines stay apart in grey scale); opaque white figure, axes and saved
    images; readable font sizes; and ``figure.autolayout`` (tight layout at every draw), so labels do not overlap.
    A line drawn without a marker or line style takes the cycle's, seaborn's error bars too (``err_kws={"marker":
    ""}`` keeps them plain); seaborn's legends show markers and dashes only for its ``style=`` variable.
    """
    colours = sns.color_palette(PALETTE, len(MARKERS))
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE, rc={
        "axes.prop_cycle": cycler(color=colours) + cycler(marker=MARKERS) + cycler(linestyle=LINESTYLES),
        "figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white",
        "figure.edgecolor": "white", "savefig.edgecolor": "white", "savefig.transparent": False,
        "figure.autolayout": True, "figure.constrained_layout.use": False,
        "axes.titlesize": 13, "axes.labelsize": 12, "xtick.labelsize": 11, "ytick.labelsize": 11,
        "legend.fontsize": 10, "legend.title_fontsize": 11, "figure.titlesize": 14,
        "lines.markersize": 6, "hatch.linewidth": 1.0,
    })


def _figure_of(fig):
    if fig is None:
        return plt.gcf()
    if isinstance(fig, mpl.figure.FigureBase):
        return fig
    if isinstance(fig, mpl.axes.Axes) or isinstance(getattr(fig, "figure", None), mpl.figure.FigureBase):
        return fig.figure  # an Axes, or a seaborn FacetGrid / JointGrid
    raise TypeError(f"The 'fig' parameter of caption must be a matplotlib Figure, an Axes, a seaborn grid or None. "
                    f"Got {fig!r} of type {type(fig).__name__} instead.")


def _below_everything(fig):
    """Coordinates for the caption: x in figure fractions, y = 0 at the bottom of the lowest Axes or legend."""
    def transform(renderer):
        boxes = [a.get_tightbbox(renderer) for a in fig.axes if a.get_visible()]
        boxes += [leg.get_window_extent(renderer) for leg in fig.legends if leg.get_visible()]
        bottom = min((b.y0 for b in boxes if b is not None), default=fig.bbox.y0)
        return transforms.blended_transform_factory(fig.transFigure, transforms.Affine2D().translate(0, bottom))
    return transform


def caption(text: str, fig=None):
    """Write ``text``, a one-line description of what the figure shows, centred under all its Axes.

    ``fig``: the Figure (an Axes or a seaborn grid stand for their figure; None: the current figure). A figure has one
    caption: a new one replaces the old. Long lines wrap to the figure's width. Returns the caption's Text artist.
    """
    if not isinstance(text, str):
        raise TypeError(f"The 'text' parameter of caption must be a str (one line saying what the figure shows). "
                        f"Got {text!r} of type {type(text).__name__} instead.")
    if not text.strip():
        raise ValueError(f"The 'text' parameter of caption must say what the figure shows. Got {text!r} instead.")
    if "\n" in text.strip():
        raise ValueError(f"The 'text' parameter of caption must be one line (it wraps to the figure's width by "
                         f"itself). Got {text!r} instead.")
    fig = _figure_of(fig)
    for old in [a for a in fig.artists if a.get_gid() == CAPTION_GID]:
        old.remove()
    size = mpl.font_manager.FontProperties(size="medium").get_size_in_points()
    width = max(40, int(fig.get_figwidth() * 72 / (0.55 * size)))  # characters that fit in the figure's width
    note = mpl.text.Annotation(textwrap.fill(text.strip(), width), xy=(0.5, 0), xycoords=_below_everything(fig),
                               xytext=(0, -8), textcoords="offset points", ha="center", va="top", fontsize=size,
                               color="0.15", annotation_clip=False)
    note.set_gid(CAPTION_GID)
    fig.add_artist(note)
    return note


def add_hatches(ax):
    """Give each group of bars (each hue level of a seaborn bar plot) its own hatch, in the legend too, so that bars
    are told apart without colour. Returns ``ax``."""
    for container, hatch in zip(ax.containers, itertools.cycle(HATCHES)):
        for bar in container:
            bar.set_hatch(hatch)
            bar.set_edgecolor("0.2")
    legend = ax.get_legend()
    if legend is not None:
        for handle, hatch in zip(legend.legend_handles, itertools.cycle(HATCHES)):
            if isinstance(handle, mpl.patches.Patch):
                handle.set_hatch(hatch)
                handle.set_edgecolor("0.2")
    return ax


def fit_tick_labels(ax, width: int = 40):
    """Keep the category labels of the x axis from overlapping: wrap them at the widest line (``width`` characters at
    most) at which they fit side by side, or turn them upright when even one word per line does not fit. Returns
    ``ax``."""
    ticks, labels = ax.get_xticks(), [t.get_text() for t in ax.get_xticklabels()]
    if len(ticks) < 2 or not any(labels):
        return ax
    engine = ax.figure.get_layout_engine()
    if engine is not None:
        engine.execute(ax.figure)  # the Axes' final width, with the legend and labels in place
    space = 0.9 * ax.get_window_extent().width / len(ticks)
    longest = max(map(len, labels))
    for chars in [longest, *range(min(width, longest - 1), 5, -2)]:
        ax.set_xticks(ticks, [textwrap.fill(t, chars, break_long_words=False, break_on_hyphens=False) for t in labels])
        if max(t.get_window_extent().width for t in ax.get_xticklabels()) <= space:
            return ax
    ax.tick_params(axis="x", labelrotation=90)  # upright: as few lines side by side as fit in the space
    for chars in (20, 30, 45, longest):
        ax.set_xticks(ticks, [textwrap.fill(t, chars, break_long_words=False, break_on_hyphens=False) for t in labels])
        if max(t.get_window_extent().width for t in ax.get_xticklabels()) <= space:
            break
    return ax


def plain_log_ticks(axis):
    """Label a log-scaled axis (``ax.xaxis``, ``ax.yaxis``) with plain numbers at 1, 2 and 5 times the powers of ten
    (1 only over more than 3 decades) instead of crowded labels like 3x10^1 4x10^1. Returns ``axis``."""
    low, high = sorted(axis.get_view_interval())
    decades = np.log10(high) - np.log10(low) if low > 0 else np.inf
    axis.set_major_locator(ticker.LogLocator(base=10, subs=(1, 2, 5) if decades <= 3 else (1,)))
    axis.set_major_formatter(ticker.FuncFormatter(lambda x, _: f"{x:,.0f}" if x >= 1 else f"{x:g}"))
    axis.set_minor_formatter(ticker.NullFormatter())
    return axis


def _finish(ax, text):
    if text is not None:
        caption(text, ax.figure)
    return ax


def _axes(ax, width: float = 7):
    if ax is None:
        _, ax = plt.subplots(figsize=(width, 4))
    return ax


def plot_rating_distribution(df: pd.DataFrame, ax=None, title: str = "How users rate",
                             caption: str | None = "How many ratings give each rating value."):
    """Bar chart of how many ratings have each value."""
    ax = _axes(ax)
    counts = df["rating"].value_counts().sort_index()
    sns.barplot(x=counts.index.astype(str), y=counts.to_numpy(), color=sns.color_palette()[0], ax=ax)
    ax.set(title=title, xlabel="rating", ylabel="number of ratings")
    fit_tick_labels(ax)
    return _finish(ax, caption)


def plot_long_tail(df: pd.DataFrame, ax=None, title: str = "The long tail: interactions per item",
                   caption: str | None = "Interactions per item, items sorted from most to least popular (log scale); "
                                         "the hatched band is the head of items that holds half of all interactions."):
    """Items sorted by popularity; the shaded head holds the items that make up half of all interactions."""
    ax = _axes(ax)
    counts = np.sort(df["item_id"].value_counts().to_numpy())[::-1]
    head = int(np.searchsorted(np.cumsum(counts), counts.sum() / 2)) + 1
    ax.axvspan(1, head, alpha=0.25, facecolor=sns.color_palette()[1], edgecolor="0.3", hatch="//", linewidth=0,
               label=f"top {head} items ({head / len(counts):.0%}) = half of all interactions")
    sns.lineplot(x=np.arange(1, len(counts) + 1), y=counts, color=sns.color_palette()[0], marker="", linestyle="-",
                 ax=ax, label="interactions of the item at this rank")
    ax.set(title=title, xlabel="item rank by popularity", ylabel="interactions (log scale)", yscale="log")
    ax.legend()
    return _finish(ax, caption)


def plot_user_activity(df: pd.DataFrame, ax=None, title: str = "How active users are",
                       caption: str | None = "Histogram of interactions per user (log-scaled x axis): how many users "
                                             "fall in each activity range."):
    """Histogram of interactions per user (log-scaled x axis labelled with plain numbers)."""
    ax = _axes(ax)
    per_user = df.groupby("user_id").size()
    sns.histplot(per_user, log_scale=True, ax=ax)
    plain_log_ticks(ax.xaxis)
    ax.set(title=title, xlabel="interactions per user (log scale)", ylabel="number of users")
    return _finish(ax, caption)


def plot_metric_comparison(table: pd.DataFrame, metrics: list[str] | None = None, ax=None,
                           title: str = "Models compared",
                           caption: str | None = "Each group of bars is one metric; each bar, with its own colour "
                                                 "and hatch, is one model."):
    """Grouped bars: one group per metric, one bar per model (colour and hatch), the legend beside the axes.
    ``table`` is what evaluation.compare returns. Long metric names wrap, and rotate when they still do not fit."""
    metrics = metrics or [c for c in table.columns if "@" in c]
    own_figure = ax is None
    ax = _axes(ax, width=max(7, 1.6 * len(metrics)))
    model = table.index.name or "index"
    long = table[metrics].astype(float).reset_index().melt(id_vars=model, var_name="metric", value_name="value")
    sns.barplot(data=long, x="metric", y="value", hue=model, ax=ax)
    protocols = table["protocol"].unique() if "protocol" in table else []
    subtitle = f"\n{protocols[0]}" if len(protocols) == 1 else ""
    ax.set(title=title + subtitle, xlabel="metric", ylabel="value (higher is better)")
    if ax.get_legend() is not None:
        sns.move_legend(ax, "upper left", bbox_to_anchor=(1.01, 1), title=model)
        if own_figure:  # widen the figure by the legend's width rather than squeeze the bars
            fig = ax.figure
            fig.set_figwidth(fig.get_figwidth() + ax.get_legend().get_window_extent().width / fig.dpi)
    add_hatches(ax)
    fit_tick_labels(ax)
    return _finish(ax, caption)


def plot_history(history, metrics: list[str] | None = None, ax=None, title: str = "Training",
                 caption: str | None = "Training loss per epoch (left axis, solid line) and validation metrics per "
                                       "epoch (right axis, dashed lines)."):
    """Training loss (left axis, solid) and validation metrics (right axis, dashed, each its own colour and marker)
    per epoch, from a training History; one legend for both axes."""
    ax = _axes(ax)
    frame = history.to_frame().reset_index()
    colours, size = sns.color_palette(), 6 if len(frame) <= 25 else 4  # smaller markers when the epochs are many
    ax.plot(frame["epoch"], frame["train_loss"], color=colours[0], marker="o", ms=size, linestyle="-",
            label="train loss")
    ax.set(title=title, xlabel="epoch", ylabel="train loss")
    metrics = metrics if metrics is not None else [c for c in frame.columns if "@" in c]
    handles, labels = ax.get_legend_handles_labels()
    if metrics:
        right = ax.twinx()
        right.grid(False)
        for m, colour, marker in zip(metrics, itertools.cycle(colours[1:]), itertools.cycle(MARKERS[1:])):
            right.plot(frame["epoch"], frame[m], color=colour, marker=marker, ms=size, linestyle="--", label=f"val {m}")
        right.set_ylabel("validation metric")
        more = right.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
        (a0, a1), (r0, r1) = ax.get_ylim(), right.get_ylim()  # the loss, invisible on the right Axes, so that the
        right.plot(frame["epoch"], r0 + (frame["train_loss"] - a0) / (a1 - a0) * (r1 - r0), alpha=0,  # legend's
                   scalex=False, scaley=False, label="_loss")  # "best" place covers neither the loss nor the metrics
    (right if metrics else ax).legend(handles, labels, loc="best")  # on the Axes drawn last, so nothing hides it
    return _finish(ax, caption)
