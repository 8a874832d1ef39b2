"""Chapter 3, LightGCN (course_utils/checks/ch3.py)."""
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


# ---------------------------------------------------------------- ch3.adjacency
def _block(R):
    n_users, n_items = R.shape
    return np.block([[np.zeros((n_users, n_users)), R], [R.T, np.zeros((n_items, n_items))]])


def _a_hat(R):
    A = _block(R)
    d = A.sum(1)
    d_inv_sqrt = np.divide(1.0, np.sqrt(d), out=np.zeros_like(d), where=d > 0)
    return A * np.outer(d_inv_sqrt, d_inv_sqrt)


def _a_hat_nan(R):  # divides by zero on isolated nodes
    A = _block(R)
    with np.errstate(divide="ignore", invalid="ignore"):
        return A / np.sqrt(np.outer(A.sum(1), A.sum(1)))


def _a_hat_row_normalized(R):  # D^-1 A: the random-walk normalization, not symmetric
    A = _block(R)
    d = A.sum(1, keepdims=True)
    return np.divide(A, d, out=np.zeros_like(A), where=d > 0)


def _a_hat_one_sided(R):  # divides by sqrt of the row's degree only
    A = _block(R)
    d = A.sum(1, keepdims=True)
    return np.divide(A, np.sqrt(d), out=np.zeros_like(A), where=d > 0)


# ---------------------------------------------------------------- ch3.propagate
def _propagate(R, user_emb, item_emb):
    w = np.divide(R, np.sqrt(np.outer(R.sum(1), R.sum(0))), out=np.zeros_like(R), where=R > 0)
    return w @ item_emb, w.T @ user_emb


def _propagate_by_user_degree(R, user_emb, item_emb):  # 1 / |N_u| only: a mean over the neighbours
    du, di = R.sum(1, keepdims=True), R.sum(0, keepdims=True)
    return (np.divide(R, du, out=np.zeros_like(R), where=du > 0) @ item_emb,
            np.divide(R, di, out=np.zeros_like(R), where=di > 0).T @ user_emb)


def _propagate_with_self(R, user_emb, item_emb):  # keeps the node's own embedding (a GCN self-loop)
    u, i = _propagate(R, user_emb, item_emb)
    return u + user_emb, i + item_emb


# ---------------------------------------------------------------- ch3.layer-mean
def _layer_mean(A_hat, E0, n_layers):
    layers = [E0]
    for _ in range(n_layers):
        layers.append(A_hat @ layers[-1])
    return np.mean(layers, axis=0)


def _layer_sum(A_hat, E0, n_layers):  # forgets to divide by K + 1
    return _layer_mean(A_hat, E0, n_layers) * (n_layers + 1)


def _layer_mean_without_e0(A_hat, E0, n_layers):  # averages the propagated layers only
    layers, e = [], E0
    for _ in range(n_layers):
        e = A_hat @ e
        layers.append(e)
    return np.mean(layers, axis=0) if layers else E0


def _layer_mean_off_by_one(A_hat, E0, n_layers):  # appends before propagating: E0 twice, the last layer never
    layers, e = [E0], E0
    for _ in range(n_layers):
        layers.append(e)
        e = A_hat @ e
    return np.mean(layers, axis=0)


# ---------------------------------------------------------------- ch3.bpr
def _bpr(pos_scores, neg_scores):
    return float(np.mean(np.logaddexp(0, neg_scores - pos_scores)))


def _bpr_naive(pos_scores, neg_scores):  # -log(sigmoid) written out: overflows for a large wrong-way gap
    return float(np.mean(-np.log(1 / (1 + np.exp(-(pos_scores - neg_scores))))))


# ---------------------------------------------------------------- ch3.lightgcn-module
class MyLightGCN(nn.Module):
    """The notebook's skeleton with the right propagate (torch.sparse.mm, the layer mean, users first)."""

    def __init__(self, n_users, n_items, dim=64, n_layers=3):
        super().__init__()
        self.n_users, self.n_items, self.n_layers = n_users, n_items, n_layers
        self.embedding = nn.Embedding(n_users + n_items, dim)
        nn.init.normal_(self.embedding.weight, std=0.1)
        self.adjacency = None

    def set_graph(self, adjacency):
        self.adjacency = adjacency
        return self

    def layers(self):
        e = self.embedding.weight
        out = [e]
        for _ in range(self.n_layers):
            e = torch.sparse.mm(self.adjacency, e)
            out.append(e)
        return out

    def propagate(self):
        final = torch.stack(self.layers()).mean(dim=0)
        return final[:self.n_users], final[self.n_users:]

    def forward(self, users, items):
        u, i = self.propagate()
        return (u[users] * i[items]).sum(-1)


class LGSum(MyLightGCN):  # the sum of the layers
    def propagate(self):
        final = torch.stack(self.layers()).sum(dim=0)
        return final[:self.n_users], final[self.n_users:]


class LGLast(MyLightGCN):  # the last layer only
    def propagate(self):
        final = self.layers()[-1]
        return final[:self.n_users], final[self.n_users:]


class LGRaw(MyLightGCN):  # rebuilds A from the graph's pattern: the un-normalized 0/1 adjacency
    def propagate(self):
        a = self.adjacency
        raw = torch.sparse_csr_tensor(a.crow_indices(), a.col_indices(), torch.ones_like(a.values()), a.shape,
                                      check_invariants=True)
        e, out = self.embedding.weight, [self.embedding.weight]
        for _ in range(self.n_layers):
            e = torch.sparse.mm(raw, e)
            out.append(e)
        final = torch.stack(out).mean(dim=0)
        return final[:self.n_users], final[self.n_users:]


class LGItemsFirst(MyLightGCN):  # returns (items, users)
    def propagate(self):
        users, items = super().propagate()
        return items, users


class LGSplitAtItems(MyLightGCN):  # splits E at n_items
    def propagate(self):
        final = torch.stack(self.layers()).mean(dim=0)
        return final[:self.n_items], final[self.n_items:]


class LGDenseDetached(MyLightGCN):  # a dense product of a detached copy: no gradient through the layers
    def propagate(self):
        a = self.adjacency.to_dense()
        e, out = self.embedding.weight, [self.embedding.weight]
        for _ in range(self.n_layers):
            e = torch.mm(a, e.detach())
            out.append(e)
        final = torch.stack(out).mean(dim=0)
        return final[:self.n_users], final[self.n_users:]


class LGE0Twice(MyLightGCN):  # starts the list with E0 and adds every layer, E0 included, again
    def propagate(self):
        final = torch.stack([self.embedding.weight] + self.layers()).mean(dim=0)
        return final[:self.n_users], final[self.n_users:]


class LGNoE0(MyLightGCN):  # the mean of the propagated layers only
    def propagate(self):
        layers = self.layers()
        final = torch.stack(layers[1:]).sum(dim=0) / (self.n_layers + 1)
        return final[:self.n_users], final[self.n_users:]


class LGThreeLayers(MyLightGCN):  # always 3 layers, whatever n_layers
    def propagate(self):
        e, out = self.embedding.weight, [self.embedding.weight]
        for _ in range(3):
            e = torch.sparse.mm(self.adjacency, e)
            out.append(e)
        final = torch.stack(out).mean(dim=0)
        return final[:self.n_users], final[self.n_users:]


# ---------------------------------------------------------------- ch3.bpr-step
def _bpr_step(model, users, pos, neg, optimizer, reg_lambda, mistake=None):
    """A learner's step; ``mistake`` writes one of the plausible wrong versions."""
    if mistake != "no-zero-grad":
        optimizer.zero_grad()
    user_emb, item_emb = model.propagate()
    pos_scores = (user_emb[users] * item_emb[pos]).sum(-1)
    neg_scores = (user_emb[users] * item_emb[neg]).sum(-1)
    if mistake == "swapped":
        pos_scores, neg_scores = neg_scores, pos_scores
    bpr = -F.logsigmoid(pos_scores - neg_scores).mean()
    e0 = model.embedding.weight
    if mistake == "l2-propagated":
        eu, ei, ej = user_emb[users], item_emb[pos], item_emb[neg]
    elif mistake == "item-offset":
        eu, ei, ej = e0[users], e0[pos], e0[neg]
    else:
        eu, ei, ej = e0[users], e0[model.n_users + pos], e0[model.n_users + neg]
    squares = eu.pow(2).sum() + ei.pow(2).sum() + ej.pow(2).sum()
    if mistake == "l2-sum":
        reg = squares / 2
    elif mistake == "no-half":
        reg = squares / len(users)
    else:
        reg = squares / (2 * len(users))
    loss = bpr + reg_lambda * reg
    loss.backward()
    optimizer.step()
    if mistake == "loss-before-l2":
        return bpr.item()
    return loss.item()


def _bpr_step_variant(mistake):
    def step(model, users, pos, neg, optimizer, reg_lambda):
        return _bpr_step(model, users, pos, neg, optimizer, reg_lambda, mistake=mistake)

    return step


def _bpr_step_whole_table(model, users, pos, neg, optimizer, reg_lambda):  # L2 on every row of E^(0)
    optimizer.zero_grad()
    user_emb, item_emb = model.propagate()
    bpr = -F.logsigmoid((user_emb[users] * (item_emb[pos] - item_emb[neg])).sum(-1)).mean()
    loss = bpr + reg_lambda * model.embedding.weight.pow(2).sum() / (2 * len(users))
    loss.backward()
    optimizer.step()
    return loss


def _bpr_step_no_update(model, users, pos, neg, optimizer, reg_lambda):  # clears the gradient instead of stepping
    optimizer.zero_grad()
    user_emb, item_emb = model.propagate()
    e0, n = model.embedding.weight, model.n_users
    bpr = -F.logsigmoid((user_emb[users] * (item_emb[pos] - item_emb[neg])).sum(-1)).mean()
    reg = (e0[users].pow(2).sum() + e0[n + pos].pow(2).sum() + e0[n + neg].pow(2).sum()) / (2 * len(users))
    loss = bpr + reg_lambda * reg
    loss.backward()
    optimizer.zero_grad()
    return loss


REFERENCE = {
    "ch3.adjacency": _a_hat,
    "ch3.propagate": _propagate,
    "ch3.layer-mean": _layer_mean,
    "ch3.bpr": _bpr,
    "ch3.lightgcn-module": MyLightGCN,
    "ch3.bpr-step": _bpr_step,
}
WRONG = {
    "ch3.adjacency": [_a_hat_nan, lambda R: _a_hat(R.T), _block, _a_hat_row_normalized, _a_hat_one_sided],
    "ch3.propagate": [lambda R, user_emb, item_emb: (R @ item_emb, R.T @ user_emb),  # no normalization
                      lambda R, user_emb, item_emb: _propagate(R, user_emb, item_emb)[::-1],  # swapped
                      _propagate_by_user_degree, _propagate_with_self],
    "ch3.layer-mean": [_layer_sum, lambda A_hat, E0, n_layers: np.linalg.matrix_power(A_hat, n_layers) @ E0,
                       _layer_mean_without_e0, _layer_mean_off_by_one],
    "ch3.bpr": [lambda pos_scores, neg_scores: float(np.sum(np.logaddexp(0, neg_scores - pos_scores))),  # a sum
                lambda pos_scores, neg_scores: float(np.mean(np.logaddexp(0, pos_scores - neg_scores))),  # swapped
                lambda pos_scores, neg_scores: -_bpr(pos_scores, neg_scores),  # the log-likelihood, not its negative
                _bpr_naive],
    "ch3.lightgcn-module": [LGSum, LGLast, LGRaw, LGItemsFirst, LGSplitAtItems, LGDenseDetached, LGE0Twice, LGNoE0,
                            LGThreeLayers],
    "ch3.bpr-step": [_bpr_step_variant(m) for m in ("swapped", "l2-propagated", "item-offset", "l2-sum", "no-half",
                                                    "no-zero-grad", "loss-before-l2")]
                    + [_bpr_step_whole_table, _bpr_step_no_update],
}
