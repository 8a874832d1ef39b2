"""Chapter 2, NCF: a negative sampler, HR@k and NDCG@k from the test item's ranks, the HR@k a sampled protocol
expects from a full ranking (functions checked against references written here), and the torch code of the chapter:
GMF's, MLP's and NeuMF's forwards and NeuMF's load_pretrained (models checked by equivalence with the references
below, whose state-dict names are those of course_utils.models.ncf, so a learner's module plugs into
NCFRecommender's module slot).
"""
from __future__ import annotations

import functools
import math

import numpy as np

from .core import Exercise, register
from .harness import (equivalent_module_run, function_exercise, id_pair_cases, ignores_input, number_cases_verdict,
                      pair_learning, tensors_close)


# ---------------------------------------------------------------- the reference modules (the exercises' __init__)
@functools.cache
def _reference_classes():
    """GMF, MLP and NeuMF as the exercises define them (torch is imported only when a model is checked)."""
    import torch
    from torch import nn

    class GMF(nn.Module):
        def __init__(self, n_users, n_items, dim=16):
            super().__init__()
            self.user, self.item = nn.Embedding(n_users, dim), nn.Embedding(n_items, dim)
            self.head = nn.Linear(dim, 1)

        def features(self, users, items):
            return self.user(users) * self.item(items)  # (B, dim)

        def forward(self, users, items):
            return self.head(self.features(users, items)).squeeze(-1)  # (B,) logits

    class MLP(nn.Module):
        def __init__(self, n_users, n_items, hidden=(16, 12, 8), dropout=0.0):
            super().__init__()
            self.user, self.item = nn.Embedding(n_users, hidden[0] // 2), nn.Embedding(n_items, hidden[0] // 2)
            self.tower = nn.ModuleList(nn.Linear(a, b) for a, b in zip(hidden[:-1], hidden[1:], strict=True))
            self.dropout = nn.Dropout(dropout)
            self.head = nn.Linear(hidden[-1], 1)

        def features(self, users, items):
            x = torch.cat([self.user(users), self.item(items)], dim=-1)
            for layer in self.tower:  # every layer, the last one included, is followed by a ReLU
                x = self.dropout(torch.relu(layer(x)))
            return x  # (B, hidden[-1])

        def forward(self, users, items):
            return self.head(self.features(users, items)).squeeze(-1)

    class NeuMF(nn.Module):
        def __init__(self, n_users, n_items, dim=8, hidden=(16, 12, 8), dropout=0.0):
            super().__init__()
            self.gmf, self.mlp = GMF(n_users, n_items, dim), MLP(n_users, n_items, hidden, dropout)
            self.head = nn.Linear(dim + hidden[-1], 1)

        def forward(self, users, items):
            both = torch.cat([self.gmf.features(users, items), self.mlp.features(users, items)], dim=-1)
            return self.head(both).squeeze(-1)

        @torch.no_grad()
        def load_pretrained(self, gmf, mlp, alpha=0.5):
            """Both towers copied; the output layer [alpha h_GMF ; (1 - alpha) h_MLP], its bias mixed the same way, so
            that right after loading NeuMF's logit is alpha * GMF's logit + (1 - alpha) * MLP's logit."""
            self.gmf.load_state_dict(gmf.state_dict())
            self.mlp.load_state_dict(mlp.state_dict())
            self.head.weight.copy_(torch.cat([alpha * gmf.head.weight, (1 - alpha) * mlp.head.weight], dim=1))
            self.head.bias.copy_(alpha * gmf.head.bias + (1 - alpha) * mlp.head.bias)
            return self

    return GMF, MLP, NeuMF


def reference_gmf(n_users: int, n_items: int, dim: int = 16):
    return _reference_classes()[0](n_users, n_items, dim)


def reference_mlp(n_users: int, n_items: int, hidden: tuple = (16, 12, 8), dropout: float = 0.0):
    return _reference_classes()[1](n_users, n_items, hidden, dropout)


def reference_neumf(n_users: int, n_items: int, dim: int = 8, hidden: tuple = (16, 12, 8), dropout: float = 0.0):
    return _reference_classes()[2](n_users, n_items, dim, hidden, dropout)


def _with_features(run, reference, ctor_kwargs: dict, cases):
    """``run`` (an equivalence checker of forward), then, when the learner's class has ``features`` (NeuMF calls it),
    the same comparison for it: a tower whose forward is right but whose features are not would break NeuMF."""

    def checked(answer):
        import torch

        from .harness import _build

        ok, message = run(answer)
        if not ok:
            return ok, message
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            module = _build(type(answer) if isinstance(answer, torch.nn.Module) else answer, ctor_kwargs)
            if not callable(getattr(module, "features", None)):
                return ok, message
            ref = reference(**ctor_kwargs)
            module.load_state_dict(ref.state_dict())
            module.train(False)
            ref.train(False)
            with torch.no_grad():
                for description, inputs in cases():
                    got, expected = module.features(*inputs), ref.features(*inputs)
                    if not (isinstance(got, torch.Tensor) and tensors_close(got, expected)):
                        return False, (f"forward is right, but features(users, items) is not for {description}: NeuMF "
                                       f"reads each tower's features (the vector before the tower's own output layer).")
        return ok, message

    return checked


# ---------------------------------------------------------------- 2.2 GMF's forward
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


SIGMOID_MESSAGE = "return the logit, before the sigmoid: the loss (BCE with logits) applies the sigmoid itself."
GMF_DIAGNOSES = (
    (_logits_from(lambda p, q: p + q), "you add the two embeddings: GMF combines them element by element with a "
                                       "product, the generalization of the dot product of matrix factorization."),
    (ignores_input(1),
     "your logit does not change when only the item changes: the score must combine the user's and the item's embedding."),
    (ignores_input(0),
     "your logit does not change when only the user changes: the score must combine the user's and the item's embedding."),
    (_sigmoid_of_logits, SIGMOID_MESSAGE),
    (_no_head, "you sum the product's dimensions with equal weights: GMF's output layer learns one weight per dimension."),
)
GMF_KWARGS = {"n_users": 64, "n_items": 64, "dim": 16}

register(Exercise(
    "ch2.gmf-forward", "GMF's forward pass", 2, "model",
    "GMF's interaction vector is the element-wise product of the user's and the item's embedding (the generalization of "
    "matrix factorization's dot product); the output layer weighs its dimensions and one logit per pair comes out, "
    "before any sigmoid.",
    nudge="features: combine the two embedding lookups so that the result keeps shape (B, dim), as the formula above "
          "does. forward: the head is a Linear layer that returns (B, 1); the contract wants (B,).",
    run=_with_features(equivalent_module_run(
        reference_gmf, GMF_KWARGS, lambda: id_pair_cases(64, 64, first=0), GMF_DIAGNOSES,
        "correct: with the reference's weights your forward gives the same logits and gradients on a random batch, a "
        "batch of one, one user with several items and several users with one item.",
        training=pair_learning(64, 64, first=0)), reference_gmf, GMF_KWARGS, lambda: id_pair_cases(64, 64, first=0))))


# ---------------------------------------------------------------- 2.3 the MLP tower's forward
def _mlp_variant(first="user", relu="all", out=None):
    """A diagnosis: the module's logits equal those of an MLP forward with one choice changed: the order of the two
    embeddings, where the ReLUs go ("all" layers, "none", or "between" layers only: not after the last), and an
    activation on the logit ("relu" or "sigmoid")."""

    def test(module, ref, inputs):
        import torch

        users, items = inputs
        parts = [ref.user(users), ref.item(items)]
        x = torch.cat(parts if first == "user" else parts[::-1], dim=-1)
        for i, layer in enumerate(ref.tower):
            x = layer(x)
            if relu == "all" or (relu == "between" and i < len(ref.tower) - 1):
                x = torch.relu(x)
        logit = ref.head(x).squeeze(-1)
        logit = {"relu": torch.relu, "sigmoid": torch.sigmoid}.get(out, lambda t: t)(logit)
        return tensors_close(module(*inputs), logit)

    return test


MLP_DIAGNOSES = (
    (_mlp_variant(first="item"), "the first layer reads the user's embedding first and the item's second: the order of "
                                 "the concatenation must match the weights of the first layer."),
    (_mlp_variant(relu="none"), "your tower has no activation between its layers: a stack of linear layers is one linear "
                                "layer, the tower can only learn a non-linear interaction with a ReLU after each layer."),
    (_mlp_variant(relu="between"), "the last hidden layer needs its ReLU too: every layer of the tower, the last one "
                                   "included, is followed by the activation; only the output layer is left linear."),
    (_mlp_variant(out="relu"), "the ReLU belongs to the hidden layers, not to the output: a logit must be free to be "
                               "negative (a probability below one half)."),
    (_mlp_variant(out="sigmoid"), SIGMOID_MESSAGE),
    (ignores_input(1), "your logit does not change when only the item changes: both embeddings must enter the tower."),
    (ignores_input(0), "your logit does not change when only the user changes: both embeddings must enter the tower."),
)
MLP_KWARGS = {"n_users": 64, "n_items": 64, "hidden": (16, 12, 8), "dropout": 0.1}


def _mlp_cases():
    return id_pair_cases(64, 64, first=0)


register(Exercise(
    "ch2.mlp-forward", "The MLP tower's forward pass", 2, "model",
    "the MLP tower reads the user's vector followed by the item's, as one input; each hidden layer is followed by its "
    "non-linearity (and dropout while training), the last hidden layer included; the output layer is linear and gives "
    "one logit per pair, before any sigmoid.",
    nudge="features: torch.cat joins the two embedding lookups (user first) along the dimension you name; then each "
          "entry of the ModuleList is followed by its activation and dropout. forward: the head returns (B, 1); the "
          "contract wants (B,).",
    run=_with_features(equivalent_module_run(
        reference_mlp, MLP_KWARGS, _mlp_cases, MLP_DIAGNOSES,
        "correct: with the reference's weights your tower gives the same logits and gradients on a random batch, a batch "
        "of one, one user with several items and several users with one item.",
        training=pair_learning(64, 64, first=0)), reference_mlp, MLP_KWARGS, _mlp_cases)))


# ---------------------------------------------------------------- 2.4 NeuMF's forward
def _neumf_variant(share=None, order="gmf"):
    """A diagnosis: NeuMF's logits with one tower fed the other tower's embeddings, or the two feature vectors
    concatenated in the wrong order."""

    def test(module, ref, inputs):
        import torch

        users, items = inputs
        gmf, mlp = ref.gmf, ref.mlp
        if share == "gmf":  # the MLP tower reads the GMF embeddings
            x = torch.cat([gmf.user(users), gmf.item(items)], dim=-1)
            for layer in mlp.tower:
                x = torch.relu(layer(x))
            g, m = gmf.features(users, items), x
        elif share == "mlp":  # the product of the MLP embeddings
            g, m = mlp.user(users) * mlp.item(items), mlp.features(users, items)
        else:
            g, m = gmf.features(users, items), mlp.features(users, items)
        if g.shape[-1] != gmf.head.in_features or m.shape[-1] != mlp.head.in_features:
            return False
        return tensors_close(module(*inputs), ref.head(torch.cat([g, m] if order == "gmf" else [m, g], dim=-1)).squeeze(-1))

    return test


def _sum_of_towers(weights):
    def test(module, ref, inputs):
        return tensors_close(module(*inputs), weights[0] * ref.gmf(*inputs) + weights[1] * ref.mlp(*inputs))

    return test


NEUMF_DIAGNOSES = (
    (ignores_input(1), "your logit does not change when only the item changes: both towers read the user and the item."),
    (ignores_input(0), "your logit does not change when only the user changes: both towers read the user and the item."),
    (_neumf_variant(share="gmf"), "the MLP tower reads the GMF tower's embeddings: NeuMF gives each tower its own "
                                  "embeddings, so that each can learn the vectors that suit its own interaction function."),
    (_neumf_variant(share="mlp"), "the GMF tower reads the MLP tower's embeddings: NeuMF gives each tower its own "
                                  "embeddings, so that each can learn the vectors that suit its own interaction function."),
    (_neumf_variant(order="mlp"), "the output layer's first weights belong to GMF's features and the following ones to "
                                  "MLP's: concatenate the two feature vectors in that order."),
    (_sum_of_towers((1.0, 1.0)), "you add the two towers' logits: NeuMF has ONE output layer over both towers' features "
                                 "(the towers' own output layers are only used to pre-train them)."),
    (_sum_of_towers((0.5, 0.5)), "you average the two towers' logits: NeuMF has ONE output layer over both towers' "
                                 "features (the towers' own output layers are only used to pre-train them)."),
    (_sigmoid_of_logits, SIGMOID_MESSAGE),
)
NEUMF_KWARGS = {"n_users": 64, "n_items": 64, "dim": 8, "hidden": (16, 12, 8), "dropout": 0.0}

register(Exercise(
    "ch2.neumf-forward", "NeuMF's forward pass", 2, "model",
    "NeuMF runs the two towers side by side, each on its own embeddings, and joins the vectors they produce before "
    "their own output layers (GMF's first, MLP's second) in a single output layer of its own: one logit per pair, before "
    "any sigmoid.",
    nudge="each tower has a method that returns its last hidden vector rather than its score; join the two (GMF's "
          "first) with torch.cat and give the result to NeuMF's own head, which returns (B, 1).",
    run=equivalent_module_run(
        reference_neumf, NEUMF_KWARGS, lambda: id_pair_cases(64, 64, first=0), NEUMF_DIAGNOSES,
        "correct: with the reference's weights your NeuMF gives the same logits and gradients on a random batch, a batch "
        "of one, one user with several items and several users with one item.",
        training=pair_learning(64, 64, first=0))))


# ---------------------------------------------------------------- 2.5 NeuMF's load_pretrained
def _trained_towers(seed: int):
    """A GMF and an MLP with known weights (every weight and bias drawn at random, as after training)."""
    import torch

    kw = {k: v for k, v in NEUMF_KWARGS.items() if k != "dim"}
    gmf = reference_gmf(NEUMF_KWARGS["n_users"], NEUMF_KWARGS["n_items"], NEUMF_KWARGS["dim"])
    mlp = reference_mlp(**kw)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in [*gmf.parameters(), *mlp.parameters()]:
            p.copy_(torch.randn(p.shape, generator=g))
    return gmf, mlp


def _head_diagnosis(got_w, got_b, gmf, mlp, alpha, initial_b) -> str | None:
    """Which mistake in the output layer's weights or bias the loaded NeuMF shows, or None."""
    import torch

    gw, mw, gb, mb = gmf.head.weight, mlp.head.weight, gmf.head.bias, mlp.head.bias
    right_w = torch.cat([alpha * gw, (1 - alpha) * mw], dim=1)

    def same(a, b):
        return a.shape == b.shape and torch.allclose(a, b, atol=1e-6)

    if not same(got_w, right_w):
        for w, message in (
                (torch.cat([gw, mw], dim=1), "the output layer holds the two towers' weights unscaled: the paper weighs "
                                             "GMF's by alpha and MLP's by 1 - alpha, so that the two towers' votes add "
                                             "up to one logit of the usual size."),
                (torch.cat([alpha * gw, alpha * mw], dim=1), "both halves of the output layer are scaled by alpha: MLP's "
                                                             "half gets 1 - alpha."),
                (torch.cat([(1 - alpha) * gw, alpha * mw], dim=1), "alpha and 1 - alpha are swapped: alpha weighs GMF's "
                                                                   "half of the output layer, 1 - alpha MLP's."),
                (torch.cat([alpha * mw, (1 - alpha) * gw], dim=1) if gw.shape == mw.shape else None,
                 "the halves are in the wrong order: the output layer reads GMF's features first, then MLP's."),
        ):
            if w is not None and same(got_w, w):
                return message
        return "the output layer's weights are not [alpha × GMF's output weights ; (1 - alpha) × MLP's output weights]."
    if not same(got_b, alpha * gb + (1 - alpha) * mb):
        if same(got_b, initial_b):
            return ("the output layer's bias was left as initialized: right after loading, NeuMF's logit must be "
                    "alpha × GMF's logit + (1 - alpha) × MLP's logit, and each tower's logit includes its bias.")
        return ("the output layer's bias is not mixed like its weights: right after loading, NeuMF's logit must be "
                "alpha × GMF's logit + (1 - alpha) × MLP's logit, and each tower's logit includes its bias.")
    return None


def _load_pretrained_run(answer):
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return _load_pretrained_check(answer)


def _load_pretrained_check(answer):
    import torch

    from .harness import _build

    cls = type(answer) if isinstance(answer, torch.nn.Module) else answer
    for seed, (case, alpha) in enumerate((("alpha=0.3", 0.3), ("alpha=0.8", 0.8), ("no alpha (the default)", None))):
        module = _build(cls, NEUMF_KWARGS)
        if not isinstance(module, torch.nn.Module):
            return False, f"expected a torch.nn.Module (or a class that builds one), got {type(module).__name__}."
        if not callable(getattr(module, "load_pretrained", None)):
            return False, "your module has no load_pretrained(gmf, mlp, alpha) method."
        ref = reference_neumf(**NEUMF_KWARGS)
        try:
            ref.load_state_dict(module.state_dict())
        except RuntimeError as err:
            return False, ("your module's weights are not the exercise's (keep __init__ as given and write "
                           f"load_pretrained): {str(err).splitlines()[-1].strip()}")
        initial_b = module.head.bias.detach().clone()
        gmf, mlp = _trained_towers(seed=7 + seed)
        before = {f"gmf.{k}": v.clone() for k, v in gmf.state_dict().items()}
        before |= {f"mlp.{k}": v.clone() for k, v in mlp.state_dict().items()}
        returned = module.load_pretrained(gmf, mlp) if alpha is None else module.load_pretrained(gmf, mlp, alpha)
        after = {f"gmf.{k}": v for k, v in gmf.state_dict().items()} | {f"mlp.{k}": v for k, v in mlp.state_dict().items()}
        if any(not torch.equal(before[k], after[k]) for k in before):
            return False, (f"with {case} your load_pretrained changes the trained towers it was given (an in-place "
                           f"operation on their weights): scale copies, never the towers' own tensors.")
        if returned is not module:
            return False, ("load_pretrained must return the module itself (return self): NCFRecommender uses what it "
                           "returns.")
        ref.load_pretrained(gmf, mlp, 0.5 if alpha is None else alpha)
        got = module.state_dict()
        for name, expected in ref.state_dict().items():
            if name.startswith(("gmf.head.", "mlp.head.", "head.")):
                continue  # the towers' own heads are unused by NeuMF's forward; NeuMF's head is diagnosed below
            if not torch.allclose(got[name], expected, atol=1e-6):
                return False, (f"with {case} the weight '{name}' is not the trained tower's: NeuMF starts from both "
                               f"towers' embeddings and layers, copied.")
        message = _head_diagnosis(got["head.weight"], got["head.bias"], gmf, mlp, 0.5 if alpha is None else alpha,
                                  initial_b)
        if message:
            return False, (f"with {case}, {message}" + (" The paper's (and NCFRecommender's) default alpha is 0.5."
                                                        if alpha is None else ""))
    return True, ("correct: for alpha 0.3, 0.8 and the default 0.5 your NeuMF starts from both towers' embeddings and "
                  "layers, its output layer is [alpha h_GMF ; (1 - alpha) h_MLP] with the biases mixed alike (so its "
                  "first logit is the alpha-weighted mix of the towers' logits), the towers are left untouched and it "
                  "returns itself.")


register(Exercise(
    "ch2.load-pretrained", "NeuMF's load_pretrained", 2, "model",
    "pre-training starts NeuMF from the two trained towers: each tower's embeddings and layers are copied unchanged, "
    "and NeuMF's output layer joins the towers' output layers weighted by alpha (GMF) and 1 - alpha (MLP), so that right "
    "after loading NeuMF's logit is the alpha-weighted mix of the two towers' logits; the trained towers themselves stay "
    "as they were.",
    nudge="load_state_dict copies a tower; the head's weight is torch.cat of the two scaled output weights along dim=1, "
          "its bias the same mix of the two biases; write into the head with copy_ (the method runs under no_grad) "
          "and return self.",
    run=_load_pretrained_run))


# ---------------------------------------------------------------- 2.1 the negative sampler
@function_exercise(
    "ch2.sampler", "A negative sampler that never returns a positive", 2, takes=["positives", "n", "n_items", "seed"],
    hint="a negative is drawn uniformly among the items that are NOT the user's positives (every such item equally "
         "likely, any of them possible, each draw independent of the others), and the same seed must give the same "
         "draws.",
    nudge="build the list of free items (those not in positives) and draw n of them with a generator made from "
          "default_rng(seed); or draw from range(n_items) and redraw whatever lands in positives.")
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


# ---------------------------------------------------------------- 2.6, 2.7 HR@k and NDCG@k from the test item's ranks
def reference_hit_rate(ranks, k) -> float:
    """The mean over users of 1 when the test item's rank (1 = top) is at most k, else 0."""
    return float(np.mean([1.0 if int(r) <= k else 0.0 for r in ranks]))


def reference_ndcg(ranks, k) -> float:
    """The mean over users of 1 / log2(rank + 1) when rank <= k, else 0 (one relevant item: the ideal DCG is 1)."""
    return float(np.mean([1.0 / math.log2(int(r) + 1) if int(r) <= k else 0.0 for r in ranks]))


def _rank_cases(seed: int, n: int = 25):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        size, k = int(rng.integers(1, 40)), int(rng.integers(1, 21))
        ranks = rng.integers(1, int(rng.choice([15, 60, 500])), size)
        yield f"{size} users, ranks up to {int(ranks.max())}, k={k}", (ranks, k)


def _rank_properties(reference):
    return [
        ("the test item on top for everyone (ranks [1, 1, 1], k=10)", (np.array([1, 1, 1]), 10), 1.0),
        ("the test item just outside the list (ranks [11], k=10)", (np.array([11]), 10), 0.0),
        ("the test item exactly at k (ranks [5], k=5)", (np.array([5]), 5), reference(np.array([5]), 5)),
        ("a smaller k (ranks [2, 3, 40, 1], k=2)", (np.array([2, 3, 40, 1]), 2), reference(np.array([2, 3, 40, 1]), 2)),
    ]


@function_exercise(
    "ch2.hr", "HR@k from the test item's ranks", 1, takes=["ranks", "k"],
    hint="with one test item per user, a user's hit is 1 when that item appears among the first k positions of the "
         "list (rank 1 is the top, and rank k still counts), else 0; HR@k is the share of users with a hit.",
    nudge="compare the whole array with k at once: one boolean per user, and the mean of booleans is a share. Check "
          "which comparison keeps rank k itself.")
def hr_run(fn):
    """``hit_rate(ranks, k)``: ranks is a numpy array of the test item's 1-based rank, one per user."""
    return number_cases_verdict(fn, [(f"{d}, expected {e:.4f}", a, e) for d, a, e in _rank_properties(reference_hit_rate)],
                                _rank_cases(seed=21), reference_hit_rate, "HR@k",
                                "correct: HR@k passes the property tests and the hidden random rankings.", tolerance=1e-9)


@function_exercise(
    "ch2.ndcg", "NDCG@k from the test item's ranks", 1, takes=["ranks", "k"],
    hint="with one relevant item the ideal DCG is 1, so a user's NDCG@k is the discount of the position where the test "
         "item sits, 1 / log2(position + 1) (1 at the top), and 0 once it falls below position k; average over users.",
    nudge="work on the whole array at once: a base-2 logarithm of rank + 1 for the users whose rank is at most k, 0 "
          "for the others (numpy's where does both), then the mean over users.")
def ndcg_run(fn):
    """``ndcg(ranks, k)``: the mean NDCG@k of users whose single test item sits at these 1-based ranks."""
    return number_cases_verdict(fn, [(f"{d}, expected {e:.4f}", a, e) for d, a, e in _rank_properties(reference_ndcg)],
                                _rank_cases(seed=22), reference_ndcg, "NDCG@k",
                                "correct: NDCG@k passes the property tests and the hidden random rankings.", tolerance=1e-9)


# ---------------------------------------------------------------- 2.8 what a sampled protocol makes of a full ranking
def reference_sampled_hr(ranks, n_candidates, n_negatives, k) -> float:
    """The expected HR@k when each user's test item, at ``rank`` among its ``n_candidates`` candidates under full
    ranking, is ranked instead against ``n_negatives`` of the other n_candidates - 1 drawn uniformly without
    replacement: a hit when at most k - 1 of the drawn items are among the rank - 1 that beat it (hypergeometric)."""
    out = []
    for r, c in zip(np.asarray(ranks).tolist(), np.asarray(n_candidates).tolist(), strict=True):
        above, others = int(r) - 1, int(c) - 1
        total = math.comb(others, n_negatives)
        hits = sum(math.comb(above, x) * math.comb(others - above, n_negatives - x) for x in range(min(k, above + 1, n_negatives + 1)))
        out.append(hits / total)
    return float(np.mean(out))


def _sampled_cases(seed: int, n: int = 25):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        size, n_negatives, k = int(rng.integers(1, 12)), int(rng.integers(3, 30)), int(rng.integers(1, 11))
        n_candidates = rng.integers(n_negatives + 1, n_negatives + 200, size)
        ranks = np.array([int(rng.integers(1, c + 1)) for c in n_candidates])
        yield (f"{size} users, {n_negatives} negatives, k={k}, up to {int(n_candidates.max())} candidates",
               (ranks, n_candidates, n_negatives, k))


def _sampled_properties():
    r, c = np.array([3, 7, 60, 200]), np.array([200, 200, 200, 200])
    return [
        ("the test item on top (rank 1 of 50, 10 negatives, k=1)", (np.array([1]), np.array([50]), 10, 1), 1.0),
        ("the test item within the top k already (rank 4 of 500, 100 negatives, k=10)",
         (np.array([4]), np.array([500]), 100, 10), 1.0),
        ("the test item last (rank 500 of 500, 100 negatives, k=10)", (np.array([500]), np.array([500]), 100, 10), 0.0),
        ("every other candidate drawn (ranks [3, 7, 60, 200] of 200, 199 negatives, k=5): the full ranking's HR@5",
         (r, c, 199, 5), 0.25),
        ("rank 2 of 11, 5 negatives, k=1: a hit when the one better item is not drawn", (np.array([2]), np.array([11]), 5, 1),
         0.5),
    ]


@function_exercise(
    "ch2.sampled-hr", "The HR@k that sampled negatives predict from a full ranking", 2,
    takes=["ranks", "n_candidates", "n_negatives", "k"],
    hint="in the sampled list the test item's position is one plus the number of drawn negatives that beat it; those "
         "negatives are drawn without replacement from the other candidates, of which rank - 1 beat it; a user is a "
         "hit when fewer than k of the draws beat the test item; average that probability over users.",
    nudge="the number of drawn items that beat the test item is hypergeometric: population n_candidates - 1, "
          "'successes' rank - 1, draws n_negatives. Sum its probabilities for 0 .. k - 1 (math.comb) or use "
          "scipy.stats.hypergeom.cdf, per user, then take the mean.")
def sampled_hr_run(fn):
    """``expected_sampled_hr(ranks, n_candidates, n_negatives, k)``: arrays of the test item's 1-based full rank and of
    each user's number of candidates (the test item included); the mean probability of a hit at k."""
    return number_cases_verdict(fn, _sampled_properties(), _sampled_cases(seed=23), reference_sampled_hr,
                                "expected sampled HR@k",
                                "correct: your expectation passes the properties (rank 1, rank within k, last, every "
                                "candidate drawn) and matches the exact hypergeometric probability on hidden cases.",
                                tolerance=1e-6)
