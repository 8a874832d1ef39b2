"""Plots: each returns an Axes with a title and labelled axes."""
import matplotlib.pyplot as plt
import pytest

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
