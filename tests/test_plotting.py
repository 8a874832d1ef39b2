"""Plots: each returns an Axes with a title and labelled axes, and a caption under its figure; the course style is
colour-blind safe, tells lines and bars apart without colour, is opaque, and keeps tick labels from overlapping."""
import io
import itertools

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import seaborn as sns
from matplotlib.colors import to_rgba
from PIL import Image

from course_utils import EASERecommender, Evaluator, InteractionDataset, PopularityRecommender, compare
from course_utils import plotting
from course_utils.training import History


def _labelled(ax):
    return bool(ax.get_title()) and bool(ax.get_xlabel()) and bool(ax.get_ylabel())


@pytest.mark.parametrize("plot", [plotting.plot_rating_distribution, plotting.plot_long_tail, plotting.plot_user_activity])
def test_exploration_plots(plot, synthetic_df):
    ax = plot(synthetic_df)
    assert _labelled(ax) and (ax.patches or ax.lines)
    plt.close("all")


def test_long_tail_marks_the_head(synthetic_df):
    ax = plotting.plot_long_tail(synthetic_df)
    assert "half of all interactions" in ax.get_legend().get_texts()[0].get_text()
    plt.close("all")


def test_metric_comparison(synthetic_df):
    train, test = InteractionDataset(synthetic_df, implicit=True).split(test_size=0.25, strategy="user_random")
    ev = Evaluator(metrics=["ndcg", "precision"], k_values=[10])
    table = compare({"EASE": ev.evaluate(EASERecommender(reg_lambda=50.0).fit(train), test, train_data=train),
                     "Popularity": ev.evaluate(PopularityRecommender().fit(train), test, train_data=train)})
    ax = plotting.plot_metric_comparison(table)
    assert _labelled(ax) and "full ranking" in ax.get_title() and len(ax.patches) >= 4
    plt.close("all")


def test_history_plot():
    history = History()
    for epoch, (loss, ndcg) in enumerate([(0.7, 0.1), (0.5, 0.2), (0.4, 0.25)], start=1):
        history.append({"epoch": epoch, "train_loss": loss, "seconds": 1.0, "ndcg@10": ndcg})
    ax = plotting.plot_history(history)
    assert _labelled(ax) and len(ax.lines) >= 1
    plt.close("all")


# ---------------------------------------------------------------------------- the course style and captions
@pytest.fixture
def course_style():
    """The course style for one test; the rcParams of the other tests stay as they were."""
    with mpl.rc_context():
        plotting.use_course_style()
        yield
    plt.close("all")


def _history():
    history = History()
    for epoch, (loss, ndcg) in enumerate([(0.7, 0.1), (0.5, 0.2), (0.4, 0.25)], start=1):
        history.append({"epoch": epoch, "train_loss": loss, "seconds": 1.0, "ndcg@10": ndcg, "hit_rate@10": 2 * ndcg})
    return history


def _table(models=("EASE", "Popularity"), metrics=("ndcg@10", "precision@10", "recall@10")):
    rng = np.random.default_rng(0)
    table = pd.DataFrame(rng.uniform(0.05, 0.5, (len(models), len(metrics))), columns=list(metrics),
                         index=pd.Index(list(models), name="model"))
    return table.assign(protocol="full ranking")


def _overlaps(boxes):
    return [(a, b) for a, b in itertools.combinations(boxes, 2) if a.overlaps(b)]


def _caption_of(fig):
    return [a for a in fig.artists if a.get_gid() == plotting.CAPTION_GID]


def test_course_style_is_colour_blind_safe_opaque_and_idempotent(course_style):
    cycle = mpl.rcParams["axes.prop_cycle"].by_key()
    assert {"color", "marker", "linestyle"} <= set(cycle)
    n = len(cycle["color"])
    assert [to_rgba(c) for c in cycle["color"]] == [to_rgba(c) for c in sns.color_palette("colorblind", n)]
    assert len(set(cycle["marker"])) == n and len({str(s) for s in cycle["linestyle"]}) == n  # no colour needed
    for key in ["figure.facecolor", "axes.facecolor", "savefig.facecolor"]:
        assert to_rgba(mpl.rcParams[key]) == (1.0, 1.0, 1.0, 1.0), key  # opaque white, also on a dark theme
    assert not mpl.rcParams["savefig.transparent"] and mpl.rcParams["figure.autolayout"]
    before = {k: v for k, v in mpl.rcParams.items() if k != "backend"}
    plotting.use_course_style()
    assert {k: v for k, v in mpl.rcParams.items() if k != "backend"} == before


def test_lines_differ_by_marker_and_line_style_and_the_image_is_opaque(course_style):
    fig, ax = plt.subplots()
    lines = [ax.plot(range(5), np.arange(5) * k)[0] for k in range(1, 5)]
    assert len({line.get_marker() for line in lines}) == 4 and len({str(line.get_linestyle()) for line in lines}) == 4
    png = io.BytesIO()
    fig.savefig(png, format="png", bbox_inches="tight")
    alpha = np.asarray(Image.open(io.BytesIO(png.getvalue())).convert("RGBA"))[..., 3]
    assert alpha.min() == 255  # no transparent pixel: JupyterLab's dark theme cannot show through


def test_caption_is_a_figure_text_under_every_axes(course_style):
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3))
    left.plot([1, 2, 3])
    right.bar(["a", "b"], [1, 2])
    right.set_xlabel("a label that sits low")
    text = plotting.caption("Two panels: a line on the left, two bars on the right.", fig)
    assert text in fig.artists and text.get_text() == "Two panels: a line on the left, two bars on the right."
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = text.get_window_extent(renderer)
    assert box.y1 < min(ax.get_tightbbox(renderer).y0 for ax in fig.axes)  # below the tick labels and x labels
    assert abs((box.x0 + box.x1) / 2 - fig.bbox.width / 2) < 2  # centred
    tight = fig.get_tightbbox(renderer)  # what the inline backend's bbox_inches="tight" keeps, in inches
    assert tight.y0 * fig.dpi <= box.y0 + 1


def test_a_new_caption_replaces_the_old_and_long_ones_wrap(course_style):
    fig, ax = plt.subplots(figsize=(5, 3))
    plotting.caption("First.", ax)  # an Axes stands for its figure
    long = "A long description of the figure " * 6
    plotting.caption(long.strip(), fig)
    assert len(_caption_of(fig)) == 1
    text = _caption_of(fig)[0]
    assert "\n" in text.get_text() and " ".join(text.get_text().split()) == " ".join(long.split())
    fig.canvas.draw()
    assert text.get_window_extent().width <= fig.bbox.width
    plt.figure()
    assert plotting.caption("On the current figure.") in plt.gcf().artists


@pytest.mark.parametrize("text, fig, error, words", [
    (None, None, TypeError, "'text' parameter"),
    (3, None, TypeError, "'text' parameter"),
    ("", None, ValueError, "'text' parameter"),
    ("   ", None, ValueError, "'text' parameter"),
    ("two\nlines", None, ValueError, "one line"),
    ("fine", "not a figure", TypeError, "'fig' parameter"),
])
def test_caption_rejects_bad_arguments_by_name(text, fig, error, words, course_style):
    with pytest.raises(error, match=words):
        plotting.caption(text, fig)


def _plots(synthetic_df):
    return {
        "plot_rating_distribution": lambda **kw: plotting.plot_rating_distribution(synthetic_df, **kw),
        "plot_long_tail": lambda **kw: plotting.plot_long_tail(synthetic_df, **kw),
        "plot_user_activity": lambda **kw: plotting.plot_user_activity(synthetic_df, **kw),
        "plot_metric_comparison": lambda **kw: plotting.plot_metric_comparison(_table(), **kw),
        "plot_history": lambda **kw: plotting.plot_history(_history(), **kw),
    }


def test_every_plot_function_is_covered(synthetic_df):
    assert set(_plots(synthetic_df)) == {name for name in dir(plotting) if name.startswith("plot_")}


@pytest.mark.parametrize("name", ["plot_rating_distribution", "plot_long_tail", "plot_user_activity",
                                  "plot_metric_comparison", "plot_history"])
def test_every_plot_function_captions_its_figure(name, synthetic_df, course_style):
    plot = _plots(synthetic_df)[name]
    ax = plot()
    (default,) = _caption_of(ax.figure)
    assert len(default.get_text()) > 20
    ax = plot(caption="What this figure shows.")
    assert [t.get_text() for t in _caption_of(ax.figure)] == ["What this figure shows."]
    assert not _caption_of(plot(caption=None).figure)
    with pytest.raises(ValueError, match="'text' parameter"):
        plot(caption="")


def test_metric_comparison_with_long_names_has_no_overlapping_tick_labels(course_style):
    metrics = ["full ranking 75/25: NDCG@10", "leave-one-out, full ranking: HR@10",
               "leave-one-out, 100 negatives: HR@10", "leave-one-out, 100 negatives: NDCG@10",
               "full ranking 75/25: catalogue coverage@10"]
    models = ["NCF (NeuMF, pre-trained on GMF and MLP)", "LightFM (WARP loss, 64 components)", "ALS (implicit)",
              "Popularity"]
    for figsize in [None, (8, 3.5), (10, 4)]:
        ax = None if figsize is None else plt.subplots(figsize=figsize)[1]
        ax = plotting.plot_metric_comparison(_table(models, metrics), ax=ax)
        fig = ax.figure
        fig.canvas.draw()
        labels = [t for t in ax.get_xticklabels() if t.get_text()]
        assert len(labels) == len(metrics)
        assert not _overlaps([t.get_window_extent() for t in labels]), [t.get_text() for t in labels]
        legend = ax.get_legend().get_window_extent()
        assert legend.x0 >= ax.get_window_extent().x1  # the long model names sit beside the bars, not on them
        plt.close("all")


def test_metric_comparison_tells_models_apart_without_colour(course_style):
    ax = plotting.plot_metric_comparison(_table(("A", "B", "C")))
    hatches = [{bar.get_hatch() for bar in container} for container in ax.containers]
    assert all(len(h) == 1 for h in hatches) and len({h.pop() for h in hatches}) == 3
    assert len({h.get_hatch() for h in ax.get_legend().legend_handles}) == 3


def test_history_has_one_legend_and_lines_apart_without_colour(course_style):
    ax = plotting.plot_history(_history())
    legends = [a.get_legend() for a in ax.figure.axes if a.get_legend() is not None]
    assert len(legends) == 1
    assert [t.get_text() for t in legends[0].get_texts()] == ["train loss", "val ndcg@10", "val hit_rate@10"]
    shown = [line for a in ax.figure.axes for line in a.lines if line.get_alpha() != 0]
    assert len({(line.get_marker(), str(line.get_linestyle())) for line in shown}) == len(shown) == 3


def test_user_activity_ticks_are_plain_numbers_that_do_not_overlap(course_style):
    rng = np.random.default_rng(0)
    sizes = np.clip(rng.lognormal(4, 1, 900).astype(int), 20, 740)
    df = pd.DataFrame({"user_id": np.repeat(np.arange(len(sizes)), sizes), "item_id": 1, "rating": 4})
    ax = plotting.plot_user_activity(df)
    ax.figure.canvas.draw()
    labels = [t for t in ax.get_xticklabels() if t.get_text() and t.get_visible()
              and ax.get_xlim()[0] <= t.get_position()[0] <= ax.get_xlim()[1]]
    assert len(labels) >= 3 and not any("times" in t.get_text() for t in labels)
    assert not _overlaps([t.get_window_extent() for t in labels])
