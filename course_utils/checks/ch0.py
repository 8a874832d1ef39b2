"""Chapter 0, the quick start: the most active user's rating count (a digest) and ``ndcg_at_k`` (a function).

The ndcg check runs property tests (perfect = 1, no hit = 0, only the top k count, the ideal DCG's length), then
hidden random lists compared with the small reference below.
"""
import math

from .core import Exercise, register
from .harness import ranking_metric_run


def reference_ndcg_at_k(ranked, relevant, k):
    """The reference: DCG of the first k positions (1 / log2(position + 1) per hit, positions from 1), divided by the
    DCG of an ideal list with min(k, number of relevant items) hits first; 0 when nothing is relevant."""
    dcg = sum(1 / math.log2(position + 1) for position, item in enumerate(ranked[:k], start=1) if item in relevant)
    ideal = sum(1 / math.log2(position + 1) for position in range(1, min(k, len(relevant)) + 1))
    return dcg / ideal if ideal else 0.0


ndcg_run = ranking_metric_run("ndcg_at_k", reference_ndcg_at_k, [
    ("a perfect ranking should score 1", ([3, 1, 2, 9], {1, 2, 3}, 3), 1.0),
    ("a list with no relevant item should score 0", ([4, 5, 6], {1, 2}, 3), 0.0),
    ("only the first k positions count", ([4, 5, 1], {1}, 2), 0.0),
    ("a single hit at position 2 of 2 relevant items", ([7, 1, 8], {1, 2}, 3), (1 / math.log2(3)) / (1 + 1 / math.log2(3))),
    ("the ideal DCG uses min(k, number of relevant items) positions", ([1, 9], {1, 2, 3}, 2), 1 / (1 + 1 / math.log2(3))),
])

register(
    Exercise("ch0.most-active", "Ratings of the most active user", 1, "exact",
             "group the ratings by user_id, count the rows of each group, and take the largest count.",
             digest="5294f8918e8610b6fe63983fcbeece36"),
    Exercise("ch0.ndcg", "Write ndcg_at_k", 2, "function",
             "DCG adds 1 / log2(position + 1) for every relevant item among the first k (positions start at 1); "
             "divide by the DCG of an ideal list that puts min(k, number of relevant items) hits first.",
             run=ndcg_run),
)
