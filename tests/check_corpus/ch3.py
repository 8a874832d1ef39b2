"""Chapter 3, LightGCN (course_utils/checks/ch3.py)."""
import numpy as np


def _a_hat(R):
    n_users, n_items = R.shape
    A = np.block([[np.zeros((n_users, n_users)), R], [R.T, np.zeros((n_items, n_items))]])
    d = A.sum(1)
    d_inv_sqrt = np.divide(1.0, np.sqrt(d), out=np.zeros_like(d), where=d > 0)
    return A * np.outer(d_inv_sqrt, d_inv_sqrt)


def _a_hat_nan(R):  # divides by zero on isolated nodes
    n_users, n_items = R.shape
    A = np.block([[np.zeros((n_users, n_users)), R], [R.T, np.zeros((n_items, n_items))]])
    with np.errstate(divide="ignore", invalid="ignore"):
        return A / np.sqrt(np.outer(A.sum(1), A.sum(1)))


def _propagate(R, user_emb, item_emb):
    w = np.divide(R, np.sqrt(np.outer(R.sum(1), R.sum(0))), out=np.zeros_like(R), where=R > 0)
    return w @ item_emb, w.T @ user_emb


def _layer_mean(A_hat, E0, n_layers):
    layers = [E0]
    for _ in range(n_layers):
        layers.append(A_hat @ layers[-1])
    return np.mean(layers, axis=0)


def _layer_sum(A_hat, E0, n_layers):  # forgets to divide by K + 1
    return _layer_mean(A_hat, E0, n_layers) * (n_layers + 1)


REFERENCE = {
    "ch3.adjacency": _a_hat,
    "ch3.propagate": _propagate,
    "ch3.layer-mean": _layer_mean,
    "ch3.bpr": lambda pos_scores, neg_scores: float(np.mean(np.logaddexp(0, neg_scores - pos_scores))),
}
WRONG = {
    "ch3.adjacency": [_a_hat_nan, lambda R: _a_hat(R.T)],  # items first
    "ch3.propagate": [lambda R, user_emb, item_emb: (R @ item_emb, R.T @ user_emb),  # no normalization
                      lambda R, user_emb, item_emb: _propagate(R, user_emb, item_emb)[::-1]],  # swapped
    "ch3.layer-mean": [_layer_sum, lambda A_hat, E0, n_layers: np.linalg.matrix_power(A_hat, n_layers) @ E0],
    "ch3.bpr": [lambda pos_scores, neg_scores: float(np.sum(np.logaddexp(0, neg_scores - pos_scores))),
                lambda pos_scores, neg_scores: float(np.mean(np.logaddexp(0, pos_scores - neg_scores)))],
}
