"""Chapter 3, LightGCN. Four NumPy exercises on a tiny graph (the normalized adjacency, one propagation step, the mean
of the layers, the BPR loss), each checked on the notebook's graph, a graph with an isolated node and random graphs;
and two torch exercises: LightGCN's propagation as a module (checked by equivalence with a reference: the same
E^(0), the same final embeddings and gradients on several graphs and layer counts, then a training check) and one
BPR + L2 training step (the same loss and the same weights after the step as the reference's).

The expected values come from the dense formulas below, written out with NumPy and torch, not from the library's
sparse LightGCN (tests/test_checks_ch3.py checks that the two agree).
"""
import inspect

import numpy as np

from .core import Exercise, register
from .harness import as_number, auc, compare_arrays, function_exercise


def reference_a_hat(r: np.ndarray) -> np.ndarray:
    """D^-1/2 A D^-1/2 of A = [[0, R], [R^T, 0]] (users first), dense; a node of degree 0 gets a row of zeros."""
    n_users, n_items = r.shape
    a = np.block([[np.zeros((n_users, n_users)), r], [r.T, np.zeros((n_items, n_items))]])  # (n, n), n = users + items
    degree = a.sum(axis=1)
    d_inv_sqrt = np.divide(1.0, np.sqrt(degree), out=np.zeros_like(degree), where=degree > 0)
    return a * np.outer(d_inv_sqrt, d_inv_sqrt)  # entry (a, b) divided by sqrt(d_a d_b)


def _graphs():
    """(description, R) interaction matrices: the notebook's graph, a user without items, random graphs."""
    rng = np.random.default_rng(11)
    yield "the 3-user, 4-item graph of the notebook", np.array([[1, 1, 0, 0], [0, 1, 1, 1], [0, 0, 0, 1]], dtype=float)
    yield "a graph where one user and one item have no edge (degree 0)", np.array([[1, 0, 0], [0, 0, 0], [1, 1, 0]], dtype=float)
    for _ in range(6):
        n_users, n_items = int(rng.integers(2, 9)), int(rng.integers(2, 9))
        yield (f"a random {n_users}-user, {n_items}-item graph",
               (rng.random((n_users, n_items)) < 0.4).astype(float))


@function_exercise(
    "ch3.adjacency", "The normalized adjacency of a tiny graph", 2, takes=["R"],
    hint="the adjacency of the bipartite graph has users first and items after them, with R and its transpose off the "
         "diagonal; every edge (a, b) is then divided by the square root of the product of the two nodes' degrees. A "
         "node with no edge has degree 0 and must get zeros, not a division by zero.",
    nudge="build A with np.block from two zero blocks, R and R.T; the degrees are A's row sums; np.outer of the "
          "inverse square roots gives the factor of every entry, and np.divide(..., where=degree > 0) avoids the 0.")
def adjacency_run(fn):
    """``normalized_adjacency(R) -> A_hat``: R (n_users, n_items) 0/1 array -> D^-1/2 A D^-1/2, users first."""
    for case, r in _graphs():
        got = fn(r.copy())
        expected = reference_a_hat(r)
        problem = compare_arrays(got, expected, "A_hat", case)
        if problem:
            got = np.asarray(got, dtype=float) if np.shape(got) == expected.shape else None
            if got is not None and np.isfinite(got).all():
                a = (expected != 0).astype(float)
                degree = a.sum(axis=1)
                if np.allclose(got, a):
                    problem += " It holds the raw adjacency: the entries must be divided by the degrees."
                elif np.allclose(got, a / np.where(degree > 0, degree, 1)[:, None]):
                    problem += (" Each row is divided by its own degree (D^-1 A, not symmetric): LightGCN divides by "
                                "the square roots of both nodes' degrees.")
                elif np.allclose(got, reference_a_hat(r.T)):
                    problem += " Users come first in A, then items."
            return False, problem
    return True, "correct: A_hat is symmetric, users come first, and nodes of degree 0 are handled."


@function_exercise(
    "ch3.propagate", "One propagation step from the formula", 2, takes=["R", "user_emb", "item_emb"],
    hint="a user's next embedding is the weighted sum of the embeddings of the items it interacted with, each weighted "
         "by one over the square root of (the user's degree times the item's degree); an item's is the same sum over "
         "its users. A node with no edge gets a zero vector.",
    nudge="the user degrees are R's row sums, the item degrees its column sums; divide R entry by entry by the square "
          "root of their np.outer (np.divide with where=), then one matrix product for the users, one with the "
          "transposed weights for the items.")
def propagation_run(fn):
    """``propagate(R, user_emb, item_emb) -> (next_user_emb, next_item_emb)``: one LightGCN layer from the formula."""
    rng = np.random.default_rng(5)
    for case, r in _graphs():
        n_users = len(r)
        e = rng.normal(size=(n_users + r.shape[1], 3))
        out = fn(r.copy(), e[:n_users].copy(), e[n_users:].copy())
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            return False, "return a pair (next_user_emb, next_item_emb)."
        expected = reference_a_hat(r) @ e  # one layer over all nodes: users' rows first, then items'
        problem = (compare_arrays(out[0], expected[:n_users], "next_user_emb", case)
                   or compare_arrays(out[1], expected[n_users:], "next_item_emb", case))
        if problem:
            users, items = (np.asarray(x, dtype=float) for x in out)
            if users.shape == expected[:n_users].shape and np.allclose(users, r @ e[n_users:]):
                problem += " The users' sums are not normalized by the degrees."
            elif users.shape == expected[n_users:].shape and items.shape == expected[:n_users].shape:
                problem += " The pair is (users, items), in that order."
            return False, problem
    return True, "correct: every node gets the normalized sum of its neighbours' embeddings."


@function_exercise(
    "ch3.layer-mean", "The final embedding: the mean of the layers", 2, takes=["A_hat", "E0", "n_layers"],
    hint="the final embedding averages K + 1 layers: layer 0 itself and each of the K propagated layers, every layer "
         "computed from the one before it. With zero layers nothing is propagated.",
    nudge="keep a Python list that starts with E0; n_layers times append A_hat @ (the last element); then np.mean "
          "over the list's first axis.")
def layer_mean_run(fn):
    """``lightgcn_embeddings(A_hat, E0, n_layers) -> E``: the mean of E^(0) .. E^(K)."""
    rng = np.random.default_rng(6)
    for (case, r), n_layers in zip(_graphs(), [3, 1, 0, 2, 4, 3, 1, 2], strict=True):
        a = reference_a_hat(r)
        e0 = rng.normal(size=(len(a), 4))
        layers = [e0]
        for _ in range(n_layers):
            layers.append(a @ layers[-1])
        got = fn(a.copy(), e0.copy(), n_layers)
        problem = compare_arrays(got, np.mean(layers, axis=0), "E", f"{case} and n_layers={n_layers}")
        if problem:
            got = np.asarray(got, dtype=float)
            if n_layers == 0:
                problem += " With n_layers=0 the final embeddings are E^(0) itself."
            elif got.shape == e0.shape and np.allclose(got, np.sum(layers, axis=0)):
                problem += " That is the sum of the layers: LightGCN averages them."
            elif got.shape == e0.shape and np.allclose(got, layers[-1]):
                problem += " That is the last layer alone: every layer, E^(0) included, enters the mean."
            return False, problem
    return True, "correct: E = (E^(0) + ... + E^(K)) / (K + 1), including K = 0."


def _bpr_loss(pos, neg) -> float:
    return float(np.mean(np.logaddexp(0.0, -(pos - neg))))  # -log sigmoid(x) = log(1 + exp(-x)), without overflow


@function_exercise(
    "ch3.bpr", "The BPR loss for given scores", 1, takes=["pos_scores", "neg_scores"],
    hint="each pair costs minus the log of the sigmoid of (observed score minus sampled score), averaged over the "
         "pairs; a pair ranked right costs little, a pair ranked wrong costs about its gap. Computed naively, the "
         "sigmoid of a large negative gap rounds to 0 and its log overflows.",
    nudge="-log sigmoid(x) = log(e^0 + e^(-x)); np.logaddexp computes log(e^a + e^b) without overflow.")
def bpr_run(fn):
    """``bpr_loss(pos_scores, neg_scores) -> float``: mean of -log(sigmoid(pos - neg))."""
    cases = [("equal scores cost log(2) each", np.zeros(3), np.zeros(3)),
             ("a positive far above its negative costs almost nothing", np.array([20.0]), np.array([-20.0])),
             ("the loss is a mean over the pairs, not a sum", np.array([1.0, 2.0, 0.5, -1.0]), np.array([0.0, 2.5, 0.5, 1.0])),
             ("a positive 800 below its negative costs about 800 (no overflow)", np.array([-400.0]), np.array([400.0]))]
    rng = np.random.default_rng(8)
    cases += [("a random batch", rng.normal(0, 3, n), rng.normal(0, 3, n)) for n in (5, 64, 1)]
    for description, pos, neg in cases:
        expected = _bpr_loss(pos, neg)
        with np.errstate(all="ignore"):
            got = as_number(fn(pos.copy(), neg.copy()))
        if got is None:
            return False, "bpr_loss must return one number (a float, or a 0-d array or tensor)."
        if not np.isfinite(got) or abs(got - expected) > 1e-6 * max(1.0, abs(expected)):
            return False, f"{description}: your bpr_loss gives {got:.6g}."
    return True, "correct: the mean over pairs of -log sigmoid(s_pos - s_neg), stable for any gap."


# ---------------------------------------------------------------- torch: the LightGCN module
def reference_lightgcn(n_users: int, n_items: int, dim: int = 64, n_layers: int = 3):
    """LightGCN as the exercise's __init__ defines it, propagated with the dense A_hat: the mean of the K + 1 layers."""
    import torch
    from torch import nn

    class ReferenceLightGCN(nn.Module):
        def __init__(self):
            super().__init__()
            self.n_users, self.n_items, self.n_layers = n_users, n_items, n_layers
            self.embedding = nn.Embedding(n_users + n_items, dim)
            nn.init.normal_(self.embedding.weight, std=0.1)
            self.adjacency = None

        def set_graph(self, adjacency):
            self.adjacency = adjacency
            return self

        def propagate(self):
            a = self.adjacency.to_dense()
            layers = [self.embedding.weight]
            for _ in range(self.n_layers):
                layers.append(a @ layers[-1])
            final = torch.stack(layers).mean(dim=0)
            return final[:n_users], final[n_users:]

        def forward(self, users, items):
            u, i = self.propagate()
            return (u[users] * i[items]).sum(-1)

    return ReferenceLightGCN()


def torch_adjacency(r: np.ndarray):
    """The (n, n) A_hat of ``r`` as a float32 torch sparse CSR tensor, as ``set_graph`` receives it in the course."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
        return torch.from_numpy(reference_a_hat(r).astype(np.float32)).to_sparse_csr()


def _module_graphs():
    """(description, R, n_layers, dim): graphs with more users than items and the reverse, an isolated user and item,
    and K = 0, 1, 2 and 3 layers."""
    rng = np.random.default_rng(21)
    yield "the notebook's 3-user, 4-item graph with 3 layers", np.array(
        [[1, 1, 0, 0], [0, 1, 1, 1], [0, 0, 0, 1]], dtype=float), 3, 4
    yield "a graph with an isolated user and an isolated item, 1 layer", np.array(
        [[1, 0, 1, 0], [0, 0, 0, 0], [1, 1, 0, 0]], dtype=float), 1, 3
    for n_users, n_items, n_layers in [(6, 9, 0), (9, 5, 3), (7, 8, 2)]:
        r = (rng.random((n_users, n_items)) < 0.35).astype(float)
        r[np.arange(n_users), rng.integers(0, n_items, n_users)] = 1.0  # every user has an item
        yield f"a random {n_users}-user, {n_items}-item graph with {n_layers} layer{'s' * (n_layers != 1)}", r, n_layers, 5


def _mean_of(layers):
    import torch

    return torch.stack(layers).mean(dim=0)


def _module_diagnoses(ref, got, a_dense, n_users: int, n_items: int, n_layers: int):
    """The message naming a known mistake when the learner's (users, items) ``got`` is one of the usual wrong answers."""
    import torch

    e0 = ref.embedding.weight
    layers, raw = [e0], [e0]
    binary = (a_dense != 0).to(e0.dtype)
    for _ in range(n_layers):
        layers.append(a_dense @ layers[-1])
        raw.append(binary @ raw[-1])
    sum_of = torch.stack(layers).sum(dim=0)
    candidates = [
        (sum_of, "you add the layers up: LightGCN averages them, alpha_k = 1 / (K + 1)."),
        (layers[-1], "you return the last layer alone: the final embedding is the mean of every layer, E^(0) included."),
        (_mean_of(raw), "you propagate with the raw 0/1 adjacency: each step must use the normalized A_hat that "
                        "set_graph received, so that popular nodes do not blow up."),
        (_mean_of(layers[1:]) if n_layers else None,
         "E^(0) is missing from your mean: the layer-0 embeddings, the only weights, are one of the K + 1 layers."),
        ((sum_of - e0) / (n_layers + 1) if n_layers else None,
         "E^(0) is missing from your mean: the layer-0 embeddings, the only weights, are one of the K + 1 layers."),
        (_mean_of([e0] + layers[:-1]) if n_layers else None,
         "E^(0) enters your mean twice and the last layer not at all: check where the loop appends a layer."),
        ((sum_of + e0) / (n_layers + 1), "E^(0) enters your sum twice: start from E^(0) once, then add the K propagated "
                                         "layers."),
        (_mean_of([e0] + layers), "E^(0) enters your mean twice: start from E^(0) once, then add the K propagated layers."),
    ]
    if n_layers != 3:  # a loop over a fixed number of layers
        fixed = [e0]
        for _ in range(3):
            fixed.append(a_dense @ fixed[-1])
        candidates.append((_mean_of(fixed), "your module always propagates 3 layers: use the n_layers it was built with."))
    users, items = got
    for expected, message in candidates:
        if expected is None or users.shape != (n_users, e0.shape[1]) or items.shape != (n_items, e0.shape[1]):
            continue
        if torch.allclose(users, expected[:n_users], atol=1e-5) and torch.allclose(items, expected[n_users:], atol=1e-5):
            return message
    return None


def _split_problem(out, n_users: int, n_items: int, dim: int, case: str):
    """A message when ``propagate()`` does not return (users (n_users, dim), items (n_items, dim)), else None."""
    import torch

    if not isinstance(out, (tuple, list)) or len(out) != 2 or not all(isinstance(t, torch.Tensor) for t in out):
        return "propagate() must return a pair of tensors (users, items)."
    shapes = tuple(tuple(t.shape) for t in out)
    if shapes == ((n_users, dim), (n_items, dim)):
        return None
    if shapes == ((n_items, dim), (n_users, dim)):
        return (f"for {case} propagate() returns ({n_items}, {dim}) then ({n_users}, {dim}): the pair is (users, "
                f"items), and the users are the first n_users rows of E.")
    return (f"for {case} propagate() returns tensors of shapes {shapes[0]} and {shapes[1]}; the users' final "
            f"embeddings are ({n_users}, {dim}) (the first n_users rows), the items' ({n_items}, {dim}).")


def _lightgcn_module_run(answer):
    import torch

    with torch.random.fork_rng(devices=[]):  # the same verdict on every run, and the learner's RNG untouched
        torch.manual_seed(0)
        return _lightgcn_module_verdict(answer)


def _build_module(cls, kwargs):
    params = inspect.signature(cls).parameters
    return cls(**{k: v for k, v in kwargs.items() if k in params})


def _lightgcn_module_verdict(answer):
    import torch
    from torch import nn

    cls = type(answer) if isinstance(answer, nn.Module) else answer  # an instance stands for its class
    if not (inspect.isfunction(cls) or isinstance(cls, type)) or not isinstance(
            _build_module(cls, {"n_users": 2, "n_items": 3, "dim": 2, "n_layers": 1}), nn.Module):
        return False, f"expected your LightGCN class (an nn.Module subclass), got {type(answer).__name__}."
    seed = 100
    for case, r, n_layers, dim in _module_graphs():
        n_users, n_items = r.shape
        kwargs = {"n_users": n_users, "n_items": n_items, "dim": dim, "n_layers": n_layers}
        ref = reference_lightgcn(**kwargs)
        module = _build_module(cls, kwargs)
        try:
            module.load_state_dict(ref.state_dict())
        except RuntimeError as err:
            return False, ("your module's weights are not the exercise's (keep __init__ as given: one embedding table "
                           f"E^(0) and no other weights): {str(err).splitlines()[-1].strip()}")
        adjacency = torch_adjacency(r)
        module.set_graph(adjacency)
        ref.set_graph(adjacency)
        try:
            out = module.propagate()
        except NotImplementedError:
            raise  # the student version's placeholder: "not attempted"
        except Exception as err:  # the learner's code: report, don't crash the notebook
            return False, f"propagate() on {case} raised {type(err).__name__}: {err}."
        problem = _split_problem(out, n_users, n_items, dim, case)
        if problem:
            return False, problem
        expected = ref.propagate()
        if not all(torch.allclose(o, e, rtol=1e-5, atol=1e-6) for o, e in zip(out, expected, strict=True)):
            with torch.no_grad():
                message = _module_diagnoses(ref, tuple(t.detach() for t in out), adjacency.to_dense(), n_users, n_items,
                                            n_layers)
            return False, message or f"for {case} your final embeddings differ from the reference's with the same E^(0)."
        seed += 1
        g = torch.Generator().manual_seed(seed)
        weights = [torch.randn(t.shape, generator=g) for t in expected]
        module.zero_grad()
        ref.zero_grad()
        sum((o * w).sum() for o, w in zip(out, weights, strict=True)).backward()
        sum((e * w).sum() for e, w in zip(expected, weights, strict=True)).backward()
        got = module.embedding.weight.grad
        if got is None or not torch.allclose(got, ref.embedding.weight.grad, atol=1e-6):
            return False, (f"for {case} the final embeddings are right but the gradient of E^(0) is not: a step of "
                           f"your propagation is cut off from autograd (a .detach(), .numpy() or a tensor rebuilt "
                           f"from values), so training would only move E^(0)'s own share.")
    ok, sentence = _lightgcn_learns(cls)
    if not ok:
        return False, sentence
    return True, ("correct: with the reference's E^(0) your module gives the same final embeddings and gradients on 5 "
                  "graphs (an isolated user and item, more users than items and the reverse) with 0 to 3 layers. "
                  + sentence)


def _lightgcn_learns(cls, steps: int = 40, lr: float = 0.05):
    """(ok, sentence): trained with BPR on a graph of planted preferences, the module's loss falls on its fixed batch
    and it ranks held-out liked pairs above the others better than it did untrained."""
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(4)
    n_users, n_items = 40, 30
    affinity = rng.normal(size=(n_users, 3)) @ rng.normal(size=(n_items, 3)).T
    liked = affinity > np.quantile(affinity, 0.7)
    train = liked & (rng.random(liked.shape) < 0.6)  # the graph: 60 % of the liked pairs
    train[np.arange(n_users), affinity.argmax(axis=1)] = True  # every user has an edge
    held = ~train  # the pairs the model never saw: liked ones must rank above the others
    users, items = np.nonzero(train)
    negatives = np.array([rng.choice(np.flatnonzero(~train[u])) for u in users])
    module = _build_module(cls, {"n_users": n_users, "n_items": n_items, "dim": 8, "n_layers": 2})
    module.set_graph(torch_adjacency(train.astype(float)))
    u, i, j = (torch.from_numpy(a.astype(np.int64)) for a in (users, items, negatives))

    def loss_fn():
        user_emb, item_emb = module.propagate()
        return -F.logsigmoid((user_emb[u] * item_emb[i]).sum(-1) - (user_emb[u] * item_emb[j]).sum(-1)).mean()

    def held_auc():
        with torch.no_grad():
            user_emb, item_emb = module.propagate()
            scores = (user_emb @ item_emb.T).numpy()
        return auc(scores[held], liked[held])

    weights = [p for p in module.parameters() if p.requires_grad]
    if not weights:
        return False, "your module does not learn: it has no trainable weights (E^(0) must stay an nn.Embedding's weight)."
    before = held_auc()
    opt = torch.optim.Adam(weights, lr=lr)
    first = None
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn()
        first = loss.item() if first is None else first
        loss.backward()
        opt.step()
    with torch.no_grad():
        last = loss_fn().item()
    after = held_auc()
    if not last < 0.9 * first:
        return False, (f"your module does not learn: after {steps} Adam steps of BPR on a fixed batch its loss went "
                       f"from {first:.3f} to {last:.3f}.")
    if not after > before + 0.05:
        return False, (f"your module fits its training triples (loss {first:.3f} -> {last:.3f}) but does not rank "
                       f"held-out pairs better than untrained (AUC {before:.2f} -> {after:.2f}).")
    return True, (f"Trained with BPR for {steps} steps on a graph of planted preferences, its loss falls from "
                  f"{first:.3f} to {last:.3f} and it ranks held-out pairs with AUC {after:.2f} (untrained {before:.2f}).")


register(Exercise(
    "ch3.lightgcn-module", "LightGCN's propagation in torch, with a sparse adjacency", 3, "model",
    "the final embeddings are the mean of K + 1 layers: layer 0 is the embedding table itself, and each next layer is "
    "the normalized adjacency times the layer before it, a sparse matrix product that autograd can follow. The first "
    "n_users rows are the users, the rest the items.",
    run=_lightgcn_module_run,
    nudge="torch.sparse.mm multiplies a sparse by a dense matrix and autograd follows it; keep every layer, "
          "layer 0 included, in a list and stack it before averaging; the first n_users rows are the users."))


# ---------------------------------------------------------------- torch: one BPR + L2 training step
def _step(model, users, pos, neg, optimizer, reg_lambda, mistake=None):
    """The reference step: BPR on the final embeddings, plus reg_lambda * (the squared norms of the batch's E^(0) rows)
    / (2 * batch size), backward, one optimizer step; returns the loss before the step. ``mistake`` names a known
    wrong variant, used to say which one a learner made."""
    import torch.nn.functional as F

    if mistake != "no-zero-grad":
        optimizer.zero_grad()
    user_emb, item_emb = model.propagate()
    eu = user_emb[users]
    diff = (eu * item_emb[pos]).sum(-1) - (eu * item_emb[neg]).sum(-1)
    bpr = -F.logsigmoid(-diff if mistake == "swapped" else diff).mean()
    e0, n_users = model.embedding.weight, model.n_users
    if mistake == "l2-propagated":
        rows = (eu, item_emb[pos], item_emb[neg])
    elif mistake == "item-offset":
        rows = (e0[users], e0[pos], e0[neg])
    elif mistake == "l2-whole-table":
        rows = (e0,)
    else:
        rows = (e0[users], e0[n_users + pos], e0[n_users + neg])
    squares = sum(t.pow(2).sum() for t in rows)
    reg = {"l2-sum": squares / 2, "no-half": squares / len(users)}.get(mistake, squares / (2 * len(users)))
    loss = bpr + reg_lambda * reg
    loss.backward()
    if mistake != "no-step":
        optimizer.step()
    return bpr.detach() if mistake == "loss-before-l2" else loss.detach()


_STEP_MISTAKES = {
    "swapped": "your step pushes the sampled item above the observed one: BPR rewards score(u, observed) > "
               "score(u, sampled).",
    "l2-propagated": "your L2 term is on the final (propagated) embeddings: it belongs on the layer-0 embeddings "
                     "E^(0) of the batch's users and items, the only weights.",
    "item-offset": "your L2 term reads the items' layer-0 rows at the users' positions: in E^(0) the items come after "
                   "the n_users user rows.",
    "l2-whole-table": "your L2 term covers the whole table E^(0): it acts only on the rows the batch uses.",
    "l2-sum": "your L2 term is not divided by the batch size: like the BPR term, it is a mean over the batch.",
    "no-half": "your L2 term lacks the factor 1/2 of the course's (and the paper's) convention: lambda/2 times the "
               "mean over the batch of the squared norms.",
    "no-zero-grad": "your step adds this batch's gradient to the one left over from an earlier backward: clear the "
                    "gradients before computing the loss.",
    "no-step": "your step computes the gradient but never updates the weights.",
    "loss-before-l2": "the weights are right but the returned loss lacks the L2 term: return the whole loss that "
                      "was minimized.",
}


def _step_cases():
    """(description, users, pos, neg, optimizer name, reg_lambda) batches that separate the usual mistakes."""
    import torch

    g = torch.Generator().manual_seed(13)
    n_users, n_items = 7, 9

    def ids(n, size):
        return torch.randint(0, n, (size,), generator=g)

    yield "a random batch of 8 triples with SGD and reg_lambda=0.1", ids(n_users, 8), ids(n_items, 8), ids(n_items, 8), "sgd", 0.1
    yield "a batch of one triple with SGD and reg_lambda=0.5", ids(n_users, 1), ids(n_items, 1), ids(n_items, 1), "sgd", 0.5
    yield ("one user in 6 triples with SGD and reg_lambda=0.05", torch.full((6,), 3), ids(n_items, 6), ids(n_items, 6),
           "sgd", 0.05)
    yield "a random batch of 16 triples with SGD and reg_lambda=0", ids(n_users, 16), ids(n_items, 16), ids(n_items, 16), "sgd", 0.0
    yield "a random batch of 12 triples with Adam and reg_lambda=0.01", ids(n_users, 12), ids(n_items, 12), ids(n_items, 12), "adam", 0.01


def _run_step(step, base, case, mistake=None):
    """(returned loss as a float or None, weights after the step): ``step`` on a fresh copy of the model ``base``
    ((state, adjacency, sizes)) whose gradient holds a stale value from an earlier backward."""
    import torch

    _, users, pos, neg, optimizer, reg_lambda = case
    state, adjacency, sizes = base
    model = reference_lightgcn(**sizes)
    model.load_state_dict(state)
    model.set_graph(adjacency)
    g = torch.Generator().manual_seed(17)
    for p in model.parameters():
        p.grad = torch.randn(p.shape, generator=g)  # left over from an earlier backward
    opt = (torch.optim.SGD(model.parameters(), lr=0.5) if optimizer == "sgd"
           else torch.optim.Adam(model.parameters(), lr=0.05))
    args = (model, users.clone(), pos.clone(), neg.clone(), opt, reg_lambda)
    loss = step(*args) if mistake is None else _step(*args, mistake=mistake)
    if hasattr(loss, "detach"):
        loss = loss.detach()
    return as_number(loss), model.embedding.weight.detach().clone()


@function_exercise(
    "ch3.bpr-step", "One BPR training step with L2 on E^(0)", 3,
    takes=["model", "users", "pos", "neg", "optimizer", "reg_lambda"],
    hint="a training step clears the gradients left by the previous one, computes the loss of the batch, "
         "back-propagates it and updates the weights. The loss is BPR on the final embeddings (the observed item "
         "should outscore the sampled one) plus reg_lambda times half the mean over the batch of the squared norms of "
         "the layer-0 embeddings of the user, the observed and the sampled item (the items' rows come after the "
         "users'). Return the loss that was minimized.",
    nudge="four stages: clear, loss, backward, step. The L2 term indexes the embedding table's weight directly, "
          "not the propagated output; item i sits at row n_users + i; its factor is reg_lambda / (2 B).")
def bpr_step_run(fn):
    """``bpr_step(model, users, pos, neg, optimizer, reg_lambda) -> loss``: one step, the course's BPR + L2 loss."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        r = np.random.default_rng(3).random((7, 9)) < 0.4
        r[np.arange(7), np.arange(7)] = True
        sizes = {"n_users": 7, "n_items": 9, "dim": 4, "n_layers": 2}
        base = (reference_lightgcn(**sizes).state_dict(), torch_adjacency(r.astype(float)), sizes)
    for case in _step_cases():
        loss, weights = _run_step(fn, base, case)
        expected_loss, expected_weights = _run_step(None, base, case, mistake="none")
        if loss is None:
            return False, "bpr_step must return the loss: one number (a 0-d tensor or a float)."
        if abs(loss - expected_loss) <= 1e-5 * max(1.0, abs(expected_loss)) and torch.allclose(
                weights, expected_weights, atol=1e-6):
            continue
        for mistake, message in _STEP_MISTAKES.items():
            wrong_loss, wrong_weights = _run_step(None, base, case, mistake=mistake)
            if abs(loss - wrong_loss) <= 1e-5 * max(1.0, abs(wrong_loss)) and torch.allclose(weights, wrong_weights,
                                                                                                 atol=1e-6):
                return False, f"for {case[0]}: {message}"
        what = "the returned loss" if torch.allclose(weights, expected_weights, atol=1e-6) else "the weights after the step"
        return False, f"for {case[0]} {what} differ from the reference step's."
    return True, ("correct: from the same weights your step returns the same loss and leaves the same weights as the "
                  "reference's, with SGD and Adam, a batch of one, a repeated user and reg_lambda=0.")
