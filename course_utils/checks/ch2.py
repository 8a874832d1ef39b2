"""Chapter 2, NCF: GMF's forward (a model that must learn on implicit feedback), a negative sampler (a function),
and HR@10, NDCG@10 and the protocol question read from the notebook's tables (digests).
"""
import numpy as np

from .core import Exercise, register
from .harness import equivalent_module_run, function_exercise, id_pair_cases, ignores_input, pair_learning, tensors_close


def reference_gmf(n_users: int, n_items: int, dim: int = 16):
    """GMF as the exercise's __init__ defines it: the element-wise product of the embeddings, then a linear head."""
    from torch import nn

    class GMF(nn.Module):
        def __init__(self):
            super().__init__()
            self.user, self.item = nn.Embedding(n_users, dim), nn.Embedding(n_items, dim)
            self.head = nn.Linear(dim, 1)

        def forward(self, users, items):
            return self.head(self.user(users) * self.item(items)).squeeze(-1)  # (B,) logits

    return GMF()


def _logits_from(combine):
    """A diagnosis: whether the module computes head(combine(p_u, q_i)) instead of head(p_u * q_i)."""

    def test(module, ref, inputs):
        users, items = inputs
        return tensors_close(module(*inputs), ref.head(combine(ref.user(users), ref.item(items))).squeeze(-1))

    return test


def _sigmoid_of_logits(module, ref, inputs) -> bool:
    return tensors_close(module(*inputs), ref(*inputs).sigmoid())


def _no_head(module, ref, inputs) -> bool:
    users, items = inputs
    return tensors_close(module(*inputs), (ref.user(users) * ref.item(items)).sum(-1))


GMF_DIAGNOSES = (
    (_logits_from(lambda p, q: p + q), "you add the two embeddings: GMF combines them element by element with a "
                                       "product, the generalization of the dot product of matrix factorization."),
    (ignores_input(1),
     "your logit does not change when only the item changes: the score must combine the user's and the item's embedding."),
    (ignores_input(0),
     "your logit does not change when only the user changes: the score must combine the user's and the item's embedding."),
    (_sigmoid_of_logits, "return the logit, before the sigmoid: the loss (BCE with logits) applies the sigmoid itself."),
    (_no_head, "you sum the product's dimensions with equal weights: GMF's output layer learns one weight per dimension."),
)

register(Exercise("ch2.gmf-forward", "GMF's forward pass", 2, "model",
                  "multiply the user and the item embedding element-wise (p_u * q_i, shape (B, dim)), pass the product through "
                  "self.head and squeeze the last dimension: one logit per pair.",
                  run=equivalent_module_run(
                      reference_gmf, {"n_users": 64, "n_items": 64, "dim": 16}, lambda: id_pair_cases(64, 64, first=0),
                      GMF_DIAGNOSES, "correct: with the reference's weights your forward gives the same logits and "
                      "gradients on a random batch, a batch of one, one user with several items and several users with "
                      "one item.", training=pair_learning(64, 64, first=0))))


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
