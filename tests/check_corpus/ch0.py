"""Chapter 0, the quick start (course_utils/checks/ch0.py)."""
from course_utils.metrics import ndcg_at_k

REFERENCE = {
    "ch0.ndcg": lambda ranked, relevant, k: ndcg_at_k([ranked], [relevant], k),
}
WRONG = {
    "ch0.ndcg": [lambda ranked, relevant, k: float(any(i in relevant for i in ranked[:k])),  # a hit rate
                 lambda ranked, relevant, k: ndcg_at_k([ranked], [relevant], len(ranked))],  # ignores k
}


def _most_active(ratings):
    counts = ratings.groupby("user_id").size()
    return int(counts.max()), [int(counts.max()) - 1, int(counts.min()),  # off by one; the least active user
                               int(ratings.groupby("item_id").size().max())]  # the most rated movie, not user


DATA_ANSWERS = {"ch0.most-active": _most_active}
DATA_WRONG_COUNTS = {"ch0.most-active": 3}
