"""make_synthetic: the offline log has the structure the course teaches with."""
import numpy as np
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
