"""Chapter 3, LightGCN on a tiny graph: the normalized adjacency, one propagation step, the mean of the layers and
the BPR loss, each a NumPy function checked on the notebook's graph, a graph with an isolated node and random graphs.

The expected values come from the dense formulas below, D^-1/2 A D^-1/2 written out with NumPy, not from the
library's sparse LightGCN.
"""
import numpy as np

from .harness import as_number, compare_arrays, function_exercise


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
    hint="stack A = [[0, R], [R^T, 0]] (users first), take the degrees d = A.sum(1), and divide every entry A[a, b] by "
         "sqrt(d[a] * d[b]); a node of degree 0 gets a row of zeros (np.divide with where=, or replace the 0 degree).")
def adjacency_run(fn):
    """``normalized_adjacency(R) -> A_hat``: R (n_users, n_items) 0/1 array -> D^-1/2 A D^-1/2, users first."""
    for case, r in _graphs():
        problem = compare_arrays(fn(r.copy()), reference_a_hat(r), "A_hat", case)
        if problem:
            return False, problem
    return True, "correct: A_hat is symmetric, users come first, and nodes of degree 0 are handled."


@function_exercise(
    "ch3.propagate", "One propagation step from the formula", 2, takes=["R", "user_emb", "item_emb"],
    hint="a user's next embedding is the sum over its items i of e_i / sqrt(|N_u| |N_i|), and symmetrically for "
         "items; with D_u = R.sum(1) and D_i = R.sum(0) this is (R / sqrt(D_u D_i^T)) @ item_emb. Guard the degree-0 "
         "nodes.")
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
            return False, problem
    return True, "correct: every node gets the normalized sum of its neighbours' embeddings."


@function_exercise(
    "ch3.layer-mean", "The final embedding: the mean of the layers", 2, takes=["A_hat", "E0", "n_layers"],
    hint="keep a list that starts with E0, append A_hat @ (the last one) n_layers times, and average the list.")
def layer_mean_run(fn):
    """``lightgcn_embeddings(A_hat, E0, n_layers) -> E``: the mean of E^(0) .. E^(K)."""
    rng = np.random.default_rng(6)
    for (case, r), n_layers in zip(_graphs(), [3, 1, 0, 2, 4, 3, 1, 2], strict=True):
        a = reference_a_hat(r)
        e0 = rng.normal(size=(len(a), 4))
        layers = [e0]
        for _ in range(n_layers):
            layers.append(a @ layers[-1])
        problem = compare_arrays(fn(a.copy(), e0.copy(), n_layers), np.mean(layers, axis=0), "E",
                                 f"{case} and n_layers={n_layers}")
        if problem:
            if n_layers == 0:
                problem += " With n_layers=0 the final embeddings are E^(0) itself."
            return False, problem
    return True, "correct: E = (E^(0) + ... + E^(K)) / (K + 1), including K = 0."


def _bpr_loss(pos, neg) -> float:
    return float(np.mean(np.logaddexp(0.0, -(pos - neg))))  # -log sigmoid(x) = log(1 + exp(-x)), without overflow


@function_exercise(
    "ch3.bpr", "The BPR loss for given scores", 1, takes=["pos_scores", "neg_scores"],
    hint="the mean over pairs of -log(sigmoid(pos - neg)); np.logaddexp(0, -(pos - neg)) computes -log sigmoid "
         "without overflow.")
def bpr_run(fn):
    """``bpr_loss(pos_scores, neg_scores) -> float``: mean of -log(sigmoid(pos - neg))."""
    cases = [("equal scores cost log(2) each", np.zeros(3), np.zeros(3)),
             ("a positive far above its negative costs almost nothing", np.array([20.0]), np.array([-20.0])),
             ("the loss is a mean over the pairs, not a sum", np.array([1.0, 2.0, 0.5, -1.0]), np.array([0.0, 2.5, 0.5, 1.0]))]
    rng = np.random.default_rng(8)
    cases += [("a random batch", rng.normal(0, 3, n), rng.normal(0, 3, n)) for n in (5, 64, 1)]
    for description, pos, neg in cases:
        expected = _bpr_loss(pos, neg)
        got = as_number(fn(pos.copy(), neg.copy()))
        if got is None:
            return False, "bpr_loss must return one number (a float, or a 0-d array or tensor)."
        if abs(got - expected) > 1e-6 * max(1.0, abs(expected)):
            return False, f"{description}: your bpr_loss gives {got:.6g}."
    return True, "correct: the mean over pairs of -log sigmoid(s_pos - s_neg)."
