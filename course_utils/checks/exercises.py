"""Every graded exercise of the course: id, points, kind, hint, and a digest of the answer (never the answer).

Chapter "ex" is the mechanism's own example (tests/example_exercises.ipynb, on a synthetic log); "ch0" is the quick
start. A teacher adds an exercise with a digest from ``make_digest(id, kind, value)``.
"""
from .core import Exercise, register
from .functions import module_run, ndcg_run, precision_run


def _scorer_batch():
    import torch

    g = torch.Generator().manual_seed(0)
    users, items = torch.arange(8), torch.arange(8) * 2
    return (users, items), torch.randint(1, 6, (8,), generator=g).float()


def _mse(pred, target):
    return ((pred - target) ** 2).mean()


register(
    Exercise("ex.n-interactions", "Count the interactions of the synthetic log", 1, "exact",
             "len(df) counts the rows of a DataFrame; each row is one interaction.",
             digest="fa5b31523f739afad75ab883ac8c03f0"),
    Exercise("ex.mean-rating", "The mean rating of the synthetic log", 1, "number",
             "take the mean of the rating column (it should lie between 1 and 5).",
             digest="cdbb8231def1a8042d2e9ba9eda517ff", tolerance=0.005),
    Exercise("ex.top-items", "The three most popular items", 1, "set",
             "count interactions per item_id (value_counts) and keep the ids of the three largest counts.",
             digest="fb0f664eea91c064693fcf52a566d7df"),
    Exercise("ex.precision", "Write precision_at_k", 2, "function",
             "count how many of the first k ranked items are relevant, and divide by k.", run=precision_run),
    Exercise("ex.scorer", "A learnable user-item scorer", 2, "model",
             "give users and items an nn.Embedding each (64 users, 64 items are enough) and return the row-wise dot "
             "product, one score per (user, item) pair.",
             run=module_run(_scorer_batch, (8,), _mse, steps=40, lr=0.05)),
    Exercise("ch0.most-active", "Ratings of the most active user", 1, "exact",
             "group the ratings by user_id, count the rows of each group, and take the largest count.",
             digest="5294f8918e8610b6fe63983fcbeece36"),
    Exercise("ch0.ndcg", "Write ndcg_at_k", 2, "function",
             "DCG adds 1 / log2(position + 1) for every relevant item among the first k (positions start at 1); "
             "divide by the DCG of an ideal list that puts min(k, number of relevant items) hits first.",
             run=ndcg_run),
)
