"""Chapter 2, NCF: GMF's forward (a model that must learn on implicit feedback), a negative sampler (a function),
and HR@10, NDCG@10 and the protocol question read from the notebook's tables (digests).
"""
import numpy as np

from .core import Exercise, register
from .harness import function_exercise, module_run


def _implicit_batch():
    import torch

    g = torch.Generator().manual_seed(2)
    users, items = torch.randint(0, 64, (16,), generator=g), torch.randint(0, 64, (16,), generator=g)
    return (users, items), (torch.rand(16, generator=g) < 0.5).float()


def _bce(pred, target):
    import torch

    return torch.nn.functional.binary_cross_entropy_with_logits(pred, target)


register(Exercise("ch2.gmf-forward", "GMF's forward pass", 2, "model",
                  "multiply the user and the item embedding element-wise (p_u * q_i, shape (B, dim)), pass the product through "
                  "self.head and squeeze the last dimension: one logit per pair.",
                  run=module_run(_implicit_batch, (16,), _bce, steps=60, lr=0.05, ctor_kwargs={"n_users": 64, "n_items": 64})))


@function_exercise(
    "ch2.sampler", "A negative sampler that never returns a positive", 2, takes=["positives", "n", "n_items", "seed"],
    hint="draw uniformly from range(n_items) with numpy's default_rng(seed) and redraw whatever lands in positives "
         "(or draw directly from the list of items that are not positives).")
def sampler_run(fn):
    """``sample_negatives(positives, n, n_items, seed)``: n items in [0, n_items), never a positive, every free item
    reachable, roughly uniform, and the seed makes it repeatable."""
    cases = [({0, 2, 5}, 50, 8), (set(range(9)), 7, 10), (set(), 20, 3)]
    for positives, n, n_items in cases:
        got = [int(x) for x in fn(set(positives), n, n_items, 0)]
        if len(got) != n:
            return False, f"asked for {n} negatives you returned {len(got)}."
        if any(not 0 <= x < n_items for x in got):
            return False, f"a sampled item lies outside 0..{n_items - 1}."
        if any(x in positives for x in got):
            return False, "a sampled negative is one of the user's positives."
    if [int(x) for x in fn({1}, 30, 50, 7)] != [int(x) for x in fn({1}, 30, 50, 7)]:
        return False, "the same seed should give the same negatives."
    draws = np.array([int(x) for x in fn({0, 1}, 6000, 6, 3)])
    counts = np.bincount(draws, minlength=6)[2:]
    if counts.min() < 0.8 * counts.mean():  # 4 free items, 1,500 draws each on average
        return False, f"the free items are not drawn uniformly (counts {counts.tolist()} for items 2..5)."
    return True, "correct: right count and range, never a positive, uniform over the free items, repeatable."


register(
    Exercise("ch2.hr", "HR@10 by hand", 1, "number",
             "a user scores 1 when the held-out item's rank is at most 10, else 0; average over the three users.",
             digest="944ce2acbb5146f2f6e2b271a009ea3d", tolerance=0.001),
    Exercise("ch2.ndcg-by-hand", "NDCG@10 by hand", 1, "number",
             "with one relevant item NDCG@10 = 1 / log2(rank + 1) when rank <= 10, else 0 (the ideal DCG is 1); "
             "average over the three users.", digest="e4fdc48ef22d5ecc40c86a51c111eb16", tolerance=0.001),
    Exercise("ch2.protocol", "Which protocol gives the larger number", 1, "exact",
             "compare the two evaluation tables above for the same model.", digest="7abed885f08e3a4d20f3c210df2b7631",
             extra={"type": "str"}),
)
