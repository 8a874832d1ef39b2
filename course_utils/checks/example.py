"""Chapter "ex": the check mechanism's own example (tests/example_exercises.ipynb, on a synthetic log).

It shows every kind of exercise once: a count, a mean, a set of ids (digests), a function (``precision_at_k``,
property tests and hidden lists) and a torch model (a user-item scorer that must learn on a fixed batch).
"""
from .core import Exercise, register
from .harness import module_run, mse, ranking_metric_run


def reference_precision_at_k(ranked, relevant, k):
    """The reference: the share of the first k positions that hold a relevant item (k positions, however long the list)."""
    return sum(item in relevant for item in ranked[:k]) / k


precision_run = ranking_metric_run("precision_at_k", reference_precision_at_k, [
    ("a perfect ranking should score 1", ([3, 1, 2], {1, 2, 3}, 3), 1.0),
    ("a list with no relevant item should score 0", ([4, 5, 6], {1, 2}, 3), 0.0),
    ("only the first k positions count", ([4, 5, 1], {1}, 2), 0.0),
    ("precision divides by k, not by the number of relevant items", ([1, 5, 6, 7], {1}, 4), 0.25),
])


def _scorer_batch():
    import torch

    g = torch.Generator().manual_seed(0)
    users, items = torch.arange(8), torch.arange(8) * 2
    return (users, items), torch.randint(1, 6, (8,), generator=g).float()


register(
    Exercise("ex.n-interactions", "Count the interactions of the synthetic log", 1, "exact",
             "every row of the log is one interaction: count the rows (not the users, and not the items).",
             digest="fa5b31523f739afad75ab883ac8c03f0",
             nudge="len(df) gives the number of rows of a DataFrame."),
    Exercise("ex.mean-rating", "The mean rating of the synthetic log", 1, "number",
             "the average of all the ratings in the log, every interaction counted once (not the median, and it "
             "lies between 1 and 5).",
             digest="cdbb8231def1a8042d2e9ba9eda517ff", tolerance=0.005,
             nudge="df[\"rating\"].mean()."),
    Exercise("ex.top-items", "The three most popular items", 1, "set",
             "an item's popularity is how many interactions it has; the answer is the ids of the three items with the "
             "largest counts (item ids, not the counts, and the most popular, not the least).",
             digest="fb0f664eea91c064693fcf52a566d7df",
             nudge="df[\"item_id\"].value_counts() sorts the items by count; keep the index of its first three rows."),
    Exercise("ex.precision", "Write precision_at_k", 2, "function",
             "precision is the share of the first k positions that hold a relevant item: only the cut-off counts, "
             "and the share is of the k positions (not of the relevant items).", run=precision_run,
             nudge="sum(item in relevant for item in ranked[:k]) / k."),
    Exercise("ex.scorer", "A learnable user-item scorer", 2, "model",
             "a learnable scorer gives every user and every item its own trainable vector and scores a pair by how "
             "well the two vectors agree: one score per (user, item) pair, and something that training can change.",
             run=module_run(_scorer_batch, (8,), mse, steps=40, lr=0.05),
             nudge="an nn.Embedding for users and one for items (64 rows each are enough); forward returns "
                   "(user vectors * item vectors).sum(-1)."),
)
