"""Chapter 0, the quick start: the most active user's rating count (a digest), ``ndcg_at_k`` (a function), and the
three torch pieces of a full-ranking evaluation: ``popularity_scores`` (the baseline), ``top_k_unseen`` (the top k
with seen items masked out) and ``recall_at_k`` (per user, batched).

Each function is compared with the small references below (never the library's) on property cases, then on seeded
random cases built to separate the usual mistakes; when a known mistake is recognised the message names it.
"""
import math

from .core import Exercise, register
from .harness import as_array, function_exercise, ranking_metric_run


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
             "a user's activity is the number of ratings that user gave; the answer is the largest activity of any one "
             "user (not the number of users, and not the ratings of the most rated movie).",
             digest="5294f8918e8610b6fe63983fcbeece36",
             nudge="group the ratings by user_id, count the rows of each group (size), and take the maximum."),
    Exercise("ch0.ndcg", "Write ndcg_at_k", 2, "function",
             "DCG rewards a hit less the lower it is ranked (a logarithmic discount of its position, positions counted "
             "from 1, the first one undiscounted), and only the first k positions count; the ideal DCG is the best "
             "score possible within the cut-off, where no more than k hits fit.",
             run=ndcg_run,
             nudge="a hit at position i (from 1) adds 1 / log2(i + 1); the ideal list adds the same for i = 1 .. "
                   "min(k, len(relevant)); divide the two and return 0.0 when the ideal is 0."),
)


# ---------------------------------------------------------------- torch: the baseline, the top k, recall
def _torch():
    import torch

    return torch


def _same_values(got, expected, atol=1e-6) -> bool:
    arr = as_array(got)
    return arr is not None and arr.shape == expected.shape and bool(abs(arr - expected).max(initial=0.0) <= atol)


def reference_popularity_scores(users, items, n_items):
    """The reference: for every item 0..n_items-1, how many distinct users interacted with it (a repeated (user,
    item) row counts once; an item nobody touched scores 0)."""
    torch = _torch()
    counts = torch.zeros(n_items, dtype=torch.float64)
    for item in {(int(u), int(i)) for u, i in zip(users.tolist(), items.tolist(), strict=True)}:
        counts[item[1]] += 1
    return counts


def _popularity_cases():
    torch = _torch()
    yield ("a repeated (user, item) row", (torch.tensor([0, 0, 1]), torch.tensor([2, 2, 2]), 4))
    yield ("5 items of which the last two were never seen", (torch.tensor([0, 1, 2, 1]), torch.tensor([0, 0, 1, 2]), 5))
    yield ("one interaction", (torch.tensor([3]), torch.tensor([0]), 2))
    g = torch.Generator().manual_seed(5)
    for case in range(12):
        n_users, n_items, rows = 3 + case, 6 + 2 * case, 10 + 5 * case
        users = torch.randint(0, n_users, (rows,), generator=g)
        items = torch.randint(0, n_items - 2, (rows,), generator=g)  # the last two items are never rated
        repeat = torch.randint(0, rows, (rows // 4,), generator=g)  # some rows repeated
        yield (f"a random log of {rows} rows over {n_items} items",
               (torch.cat([users, users[repeat]]), torch.cat([items, items[repeat]]), n_items))


@function_exercise(
    "ch0.popularity", "Popularity scores in torch", 1, takes=["users", "items", "n_items"],
    hint="an item's popularity is how many different users interacted with it: a user who rated the same item twice "
         "counts once, and every item of the catalogue gets a score, also the items nobody touched.",
    nudge="make the (user, item) pairs unique first (torch.unique can work on whole pairs, not single numbers), then "
          "count the items with torch.bincount, making sure the result has one entry per item.")
def popularity_run(fn):
    torch = _torch()
    for description, (users, items, n_items) in _popularity_cases():
        u, i = users.clone(), items.clone()
        got = fn(u, i, n_items)
        expected = reference_popularity_scores(users, items, n_items).numpy()
        if not (torch.equal(u, users) and torch.equal(i, items)):
            return False, f"for {description} your function changed its input tensors in place; leave them as given."
        arr = as_array(got)
        if arr is None or arr.ndim != 1:
            return False, f"popularity_scores must return a 1-d tensor with one score per item; yours gives {type(got).__name__}."
        if arr.shape != expected.shape:
            return False, (f"for {description} your scores have {arr.shape[0]} entries for {n_items} items: every item "
                           f"of the catalogue needs its score, also the ones nobody interacted with (they score 0).")
        if not _same_values(got, expected):
            rows = torch.bincount(items, minlength=n_items).double().numpy()
            if _same_values(got, rows):
                return False, (f"for {description} you count rows, not users: a user who interacted twice with the same "
                               f"item must count once.")
            by_user = torch.bincount(users, minlength=n_items).double().numpy()[:n_items]
            if _same_values(got, by_user):
                return False, f"for {description} you counted the interactions of each user, not of each item."
            return False, f"for {description} your scores are not the number of distinct users of each item."
    return True, ("correct: one score per item (0 for items nobody touched), each user counted once, on the property "
                  "cases and 12 random logs.")


def reference_top_k_unseen(scores, seen, k):
    """The reference: per user (row), the k unseen items with the highest scores, best first (indices)."""
    torch = _torch()
    rows = []
    for user_scores, user_seen in zip(scores.tolist(), seen.tolist(), strict=True):
        order = sorted((j for j in range(len(user_scores)) if not user_seen[j]), key=lambda j: -user_scores[j])
        rows.append(order[:k])
    return torch.tensor(rows, dtype=torch.long)


def _top_k_cases():
    torch = _torch()
    yield ("one user, item 1 seen, k=2", (torch.tensor([[0.1, 0.9, 0.5, 0.3]]), torch.tensor([[False, True, False, False]]), 2))
    yield ("two users whose scores are all negative, k=2",
           (torch.tensor([[-0.5, -0.1, -0.9, -0.3], [-2.0, -0.2, -0.4, -1.0]]),
            torch.tensor([[False, True, False, False], [False, False, True, True]]), 2))
    yield ("4 users and 4 items (a square matrix), k=3",
           (torch.tensor([[0.3, 0.1, 0.8, 0.2, ], [0.9, 0.4, 0.0, 0.6], [0.2, 0.7, 0.5, 0.1], [0.6, 0.3, 0.9, 0.8]]),
            torch.tensor([[False, False, True, False], [True, False, False, False], [False, False, False, False],
                          [False, True, False, False]]), 3))
    g = torch.Generator().manual_seed(7)
    for case in range(10):
        n_users, n_items, k = 2 + case, 8 + 3 * case, 1 + case % 5
        scores = torch.randn(n_users, n_items, generator=g) - (1.5 if case % 2 else 0.0)  # half the cases mostly negative
        seen = torch.rand(n_users, n_items, generator=g) < 0.4
        seen[:, :k] = False  # at least k unseen items per user
        yield (f"{n_users} users and {n_items} items with random scores, k={k}", (scores, seen, k))


@function_exercise(
    "ch0.top-k-unseen", "Top k of the unseen items in torch", 2, takes=["scores", "seen", "k"],
    hint="a user's recommendations are the highest-scoring items among those the user has NOT seen, best first: a seen "
         "item must end up below every unseen item whatever the scores are (they can be negative), the ranking runs "
         "over the items of each user, one row per user, and the scores handed in must come back unchanged.",
    nudge="copy the scores with masked_fill, putting a value no real score can beat from below where seen is True, "
          "then take torch.topk over the items and return its indices (not its values).")
def top_k_run(fn):
    torch = _torch()
    for description, (scores, seen, k) in _top_k_cases():
        s, m = scores.clone(), seen.clone()
        got = fn(s, m, k)
        expected = reference_top_k_unseen(scores, seen, k)
        if not (torch.equal(s, scores) and torch.equal(m, seen)):
            return False, (f"for {description} your function changed the scores (or the mask) it was given, in place: "
                           f"work on a copy, the caller still needs them.")
        if isinstance(got, (tuple, list)) and len(got) == 2 and hasattr(got[1], "shape"):
            return False, "return only the item indices (a (n_users, k) tensor), not the (values, indices) pair."
        arr = as_array(got)
        if arr is None:
            return False, "top_k_unseen must return a tensor of item indices."
        if arr.shape != tuple(expected.shape):
            return False, (f"for {description} your result has shape {arr.shape}; it needs one row of k item indices "
                           f"per user, {tuple(expected.shape)}: rank along the items of each user.")
        if hasattr(got, "is_floating_point") and got.is_floating_point() or not (arr == arr.round()).all():
            return False, f"for {description} your function returns scores; it must return the item indices."
        picked = arr.astype(int)
        if (arr < 0).any() or (arr >= scores.shape[1]).any():
            return False, f"for {description} your result holds indices outside 0..{scores.shape[1] - 1}."
        if seen.gather(1, torch.as_tensor(picked)).any():
            if (scores < 0).any():
                return False, (f"for {description} a seen item is recommended: with negative scores, a seen item whose "
                               f"score was set to 0 still beats the unseen ones; it must fall below every possible score.")
            return False, f"for {description} a seen item is recommended: mask the seen items out before ranking."
        if not (picked == expected.numpy()).all():
            if all(set(a) == set(b) for a, b in zip(picked.tolist(), expected.tolist(), strict=True)):
                return False, f"for {description} you have the right items but not best first."
            return False, f"for {description} your items are not the k best unseen ones of each user."
    return True, ("correct: the k best unseen items of every user, best first, also when every score is negative and "
                  "on a square matrix, and the scores are left untouched.")


def reference_recall_at_k(top, relevant):
    """The reference: for each user, the share of the user's relevant items that appear in ``top``; 0 for a user
    with no relevant item."""
    torch = _torch()
    out = []
    for items, rel in zip(top.tolist(), relevant.tolist(), strict=True):
        wanted = {j for j, r in enumerate(rel) if r}
        out.append(len(wanted & set(items)) / len(wanted) if wanted else 0.0)
    return torch.tensor(out, dtype=torch.float64)


def _recall_cases():
    torch = _torch()
    yield ("a user with 3 relevant items, 2 of them in a top 2", (torch.tensor([[4, 1]]),
                                                                   torch.tensor([[False, True, False, True, True]])))
    yield ("a user with no relevant item (next to one with two)", (torch.tensor([[0, 1], [2, 0]]),
                                                                  torch.tensor([[False, False, False], [True, False, True]])))
    yield ("a user with 6 relevant items and a top 2 of hits", (torch.tensor([[0, 3]]), torch.ones(1, 6, dtype=torch.bool)))
    g = torch.Generator().manual_seed(9)
    for case in range(10):
        n_users, n_items, k = 3 + case, 10 + 2 * case, 2 + case % 4
        top = torch.stack([torch.randperm(n_items, generator=g)[:k] for _ in range(n_users)])
        relevant = torch.rand(n_users, n_items, generator=g) < 0.3
        relevant[0] = False  # one user without relevant items
        yield f"{n_users} users, {n_items} items, top {k}", (top, relevant)


@function_exercise(
    "ch0.recall", "recall@k for many users at once, in torch", 2, takes=["top", "relevant"],
    hint="recall is the share of a user's relevant items that the list found: hits divided by how many relevant items "
         "the user has (not by the length of the list, and not capped at it); a user with nothing relevant scores 0, "
         "never 0/0; one value per user.",
    nudge="gather the relevant mask at the recommended indices (torch.gather, over the items) to count the hits per "
          "row, and divide by the row count of relevant items, taking care of users with none.")
def recall_run(fn):
    torch = _torch()
    for description, (top, relevant) in _recall_cases():
        t, r = top.clone(), relevant.clone()
        got = fn(t, r)
        expected = reference_recall_at_k(top, relevant).numpy()
        if not (torch.equal(t, top) and torch.equal(r, relevant)):
            return False, f"for {description} your function changed its inputs in place; leave them as given."
        arr = as_array(got)
        if arr is None or arr.shape != expected.shape:
            shape = None if arr is None else arr.shape
            return False, (f"for {description} recall_at_k must return one value per user, shape {expected.shape}; "
                           f"yours gives {shape}.")
        if not (arr == arr).all() or not abs(arr).max() < float("inf"):
            return False, f"for {description} your recall holds NaN or inf: a user with no relevant item must score 0."
        if not _same_values(arr, expected):
            hits = relevant.gather(1, top).sum(1).double()
            n_rel = relevant.sum(1).double()
            by_k = _same_values(arr, (hits / top.shape[1]).numpy())
            capped = _same_values(arr, (hits / n_rel.clamp(max=top.shape[1]).clamp(min=1)).numpy())
            if by_k and capped:
                return False, (f"for {description} you divide by the length of the list: recall divides by all the "
                               f"user's relevant items, also when there are more of them than k.")
            if by_k:
                return False, f"for {description} you divide by k: that is precision; recall divides by the relevant items."
            if capped:
                return False, (f"for {description} you divide by min(k, relevant items): recall divides by all the "
                               f"user's relevant items, also when there are more of them than k.")
            return False, f"for {description} your values are not each user's recall."
    return True, ("correct: one recall per user (0 for a user with nothing relevant), on the property cases and 10 "
                  "random batches.")
