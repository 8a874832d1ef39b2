"""Chapter 0, the quick start (course_utils/checks/ch0.py)."""
import math

import torch

from course_utils.metrics import ndcg_at_k, recall_at_k


def _ndcg_ideal_ignores_k(ranked, relevant, k):  # the ideal DCG fills one position per relevant item, beyond k
    dcg = sum(1 / math.log2(i + 2) for i, item in enumerate(ranked[:k]) if item in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(len(relevant)))
    return dcg / ideal if ideal else 0.0


def _ndcg_log_off_by_one(ranked, relevant, k):  # positions from 1 but log2(position + 2): every discount one too deep
    dcg = sum(1 / math.log2(i + 2) for i, item in enumerate(ranked[:k], start=1) if item in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(1, min(k, len(relevant)) + 1))
    return dcg / ideal if ideal else 0.0


def _popularity(users, items, n_items):
    pairs = torch.unique(torch.stack([users, items]), dim=1)
    return torch.bincount(pairs[1], minlength=n_items).float()


def _top_k(scores, seen, k):
    return torch.topk(scores.masked_fill(seen, float("-inf")), k, dim=1).indices


def _top_k_in_place(scores, seen, k):  # right list, but the caller's scores are overwritten
    scores[seen] = float("-inf")
    return torch.topk(scores, k, dim=1).indices


def _recall(top, relevant):
    hits = relevant.gather(1, top).sum(1).float()
    return hits / relevant.sum(1).clamp(min=1)


def _recall_library(top, relevant):  # the course's metric, one user at a time: the reference answer
    return torch.tensor([recall_at_k([t], [set(torch.nonzero(r).flatten().tolist())], len(t))
                         for t, r in zip(top.tolist(), relevant, strict=True)])


REFERENCE = {
    "ch0.ndcg": lambda ranked, relevant, k: ndcg_at_k([ranked], [relevant], k),
    "ch0.popularity": _popularity,
    "ch0.top-k-unseen": _top_k,
    "ch0.recall": _recall_library,
}
WRONG = {
    "ch0.ndcg": [lambda ranked, relevant, k: float(any(i in relevant for i in ranked[:k])),  # a hit rate
                 lambda ranked, relevant, k: ndcg_at_k([ranked], [relevant], len(ranked)),  # ignores k
                 _ndcg_ideal_ignores_k,
                 _ndcg_log_off_by_one],
    "ch0.popularity": [
        lambda users, items, n_items: torch.bincount(items, minlength=n_items).float(),  # counts repeated rows twice
        lambda users, items, n_items: torch.bincount(torch.unique(torch.stack([users, items]), dim=1)[1]).float(),  # no minlength
        lambda users, items, n_items: torch.unique(torch.unique(torch.stack([users, items]), dim=1)[1],
                                                   return_counts=True)[1].float(),  # only the items that occur
        lambda users, items, n_items: torch.bincount(torch.unique(torch.stack([users, items]), dim=1)[0],
                                                     minlength=n_items)[:n_items].float(),  # per user, not per item
    ],
    "ch0.top-k-unseen": [
        lambda scores, seen, k: torch.topk(scores, k, dim=1).indices,  # seen items not masked
        lambda scores, seen, k: torch.topk(scores.masked_fill(seen, 0.0), k, dim=1).indices,  # 0 is not below negatives
        lambda scores, seen, k: torch.topk(scores.masked_fill(seen, float("-inf")), k, dim=0).indices,  # the wrong axis
        lambda scores, seen, k: torch.topk(scores.masked_fill(seen, float("-inf")), k, dim=1).values,  # scores, not ids
        lambda scores, seen, k: torch.topk(scores.masked_fill(seen, float("-inf")), k, dim=1, largest=False).indices,
        _top_k_in_place,
    ],
    "ch0.recall": [
        lambda top, relevant: relevant.gather(1, top).sum(1).float() / top.shape[1],  # precision
        lambda top, relevant: relevant.gather(1, top).sum(1).float() / relevant.sum(1),  # 0 / 0 for a user with none
        lambda top, relevant: relevant.gather(1, top).sum(1).float() / relevant.sum(1).clamp(min=1, max=top.shape[1]),
        lambda top, relevant: _recall(top, relevant).mean(),  # one number, not one per user
    ],
}


def _most_active(ratings):
    counts = ratings.groupby("user_id").size()
    return int(counts.max()), [int(counts.max()) - 1, int(counts.min()),  # off by one; the least active user
                               int(ratings.groupby("item_id").size().max())]  # the most rated movie, not user


DATA_ANSWERS = {"ch0.most-active": _most_active}
DATA_WRONG_COUNTS = {"ch0.most-active": 3}
