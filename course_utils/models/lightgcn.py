"""LightGCN (He et al., SIGIR 2020): collaborative filtering by graph convolution without weights or nonlinearities.

The graph: users and items are the n = n_users + n_items nodes, every training interaction an edge.

    A     = [[0, R], [R^T, 0]]                          (n, n)   R: (n_users, n_items) 0/1 interactions
    A_hat = D^-1/2 A D^-1/2                             (n, n)   D: node degrees, so A_hat[u, i] = 1/sqrt(|N_u| |N_i|)
    E^(k+1) = A_hat E^(k)                               (n, dim) one propagation step: average of the neighbours
    E     = (E^(0) + E^(1) + ... + E^(K)) / (K + 1)     (n, dim) layer combination, alpha_k = 1 / (K + 1)
    y_ui  = <e_u, e_i>                                           prediction: a dot product

The only weights are E^(0). Training: BPR on (user, observed item, sampled item) triples, L2 on the E^(0) rows the
batch uses. The normalized adjacency is built once per fit (a sparse CSR matrix) and kept on the model.

The module contract (``LightGCNRecommender(module=...)``): ``module(n_users=, n_items=, dim=, n_layers=)`` builds an
nn.Module with ``embedding`` (E^(0), an nn.Embedding of n_users + n_items rows, users first), ``set_graph(adjacency)``
(the (n, n) torch sparse CSR A_hat) and ``propagate() -> (users (n_users, dim), items (n_items, dim))``, the final
embeddings; scores are their dot products.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from .._validation import check_choice, check_int
from ..losses import bpr_loss, l2_penalty
from ..torch_recommender import TorchRecommender


def normalized_adjacency(interactions) -> sp.csr_matrix:
    """D^-1/2 A D^-1/2 of the user-item graph of a (n_users, n_items) interaction matrix; users first, then items.

    Every non-zero of ``interactions`` is an edge (of weight 1, whatever its value). A node without edges (degree 0) gets an empty row instead of a division by zero.
    """
    if not (sp.issparse(interactions) or (isinstance(interactions, np.ndarray) and interactions.ndim == 2)):
        raise TypeError(f"The 'interactions' parameter of normalized_adjacency must be a (n_users, n_items) scipy sparse "
                        f"matrix such as train.to_csr(), or a 2-d numpy array. Got {type(interactions).__name__} instead.")
    r = sp.csr_matrix(interactions, dtype=np.float32)
    r.eliminate_zeros()
    if not np.isfinite(r.data).all():
        raise ValueError("The 'interactions' parameter of normalized_adjacency must hold finite values (0 = no edge). "
                         "Got NaN or inf.")
    r.data[:] = 1.0  # the graph has an edge per interaction, whatever the rating
    a = sp.bmat([[None, r], [r.T, None]], format="csr", dtype=np.float32)  # (n, n), symmetric
    degree = np.asarray(a.sum(axis=1)).ravel()
    d_inv_sqrt = np.zeros_like(degree)
    np.power(degree, -0.5, out=d_inv_sqrt, where=degree > 0)
    a_hat = sp.diags(d_inv_sqrt) @ a @ sp.diags(d_inv_sqrt)
    a_hat = a_hat.tocsr().astype(np.float32)
    a_hat.sort_indices()
    return a_hat


def to_torch_csr(matrix: sp.csr_matrix, device=None) -> torch.Tensor:
    """A scipy CSR matrix as a torch sparse CSR tensor (the fastest sparse @ dense on CPU and with cuSPARSE)."""
    import warnings

    m = matrix.tocsr()
    with warnings.catch_warnings():  # "sparse CSR support is in beta": the matrix-product path used here is stable
        warnings.simplefilter("ignore", UserWarning)
        index = np.int32 if m.nnz < 2 ** 31 else np.int64  # int32 indices: ~20% faster products on a CPU
        return torch.sparse_csr_tensor(torch.from_numpy(m.indptr.astype(index)), torch.from_numpy(m.indices.astype(index)),
                                       torch.from_numpy(m.data.astype(np.float32)), m.shape, device=device)


class _SymmetricSpMM(torch.autograd.Function):
    """A_hat @ X with the gradient A_hat^T @ G = A_hat @ G: A_hat is symmetric, so no transpose is ever built.

    (torch's own backward for a CSR matrix transposes it at every step: ~10x slower on a CPU.)
    """

    @staticmethod
    def forward(ctx, adjacency, x):
        ctx.adjacency = adjacency
        return adjacency @ x

    @staticmethod
    def backward(ctx, grad):
        return None, ctx.adjacency @ grad


class LightGCN(nn.Module):
    """E^(0) for users and items, and the K-layer propagation over a fixed normalized adjacency."""

    def __init__(self, n_users: int, n_items: int, dim: int = 64, n_layers: int = 3):
        super().__init__()
        self.n_users, self.n_items, self.n_layers = n_users, n_items, n_layers
        self.embedding = nn.Embedding(n_users + n_items, dim)  # E^(0): users in rows [0, n_users), then items
        nn.init.normal_(self.embedding.weight, std=0.1)
        self.adjacency = None  # the sparse A_hat, set with set_graph (not a weight: rebuilt from the data on load)

    def set_graph(self, adjacency: torch.Tensor) -> LightGCN:
        n = self.n_users + self.n_items
        if tuple(adjacency.shape) != (n, n):
            raise ValueError(f"The adjacency must be ({n}, {n}) for {self.n_users} users and {self.n_items} items. "
                             f"Got {tuple(adjacency.shape)}.")
        self.adjacency = adjacency
        return self

    def propagate(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Final embeddings (mean of the K+1 layers): users (n_users, dim), items (n_items, dim)."""
        if self.adjacency is None:
            raise RuntimeError("LightGCN has no graph: call set_graph(adjacency) first.")
        e = self.embedding.weight  # E^(0)
        total = e
        for _ in range(self.n_layers):
            e = _SymmetricSpMM.apply(self.adjacency, e)  # E^(k+1) = A_hat E^(k)
            total = total + e
        final = total / (self.n_layers + 1)
        return final[:self.n_users], final[self.n_users:]

    def forward(self, users, items):
        u, i = self.propagate()
        return (u[users] * i[items]).sum(-1)  # (B,)


class LightGCNRecommender(TorchRecommender):
    """LightGCN with the BPR loss, trained by the course's loop; full-ranking scores come from cached final embeddings.

    embedding_dim: size of E^(0); n_layers: propagation steps K; learning_rate, batch_size, epochs: Adam's schedule
    (one epoch = one pass over the training interactions); reg_lambda: the paper's L2 term on the E^(0) rows of a
    batch; n_negatives: sampled items per observed pair (BPR averages over them); sampling: how an epoch's (user, item)
    pairs are drawn, "interaction" (every training pair once, shuffled) or "user" (a user drawn uniformly, then one of
    its items: the NGCF/LightGCN papers' sampler, under which every user weighs the same, as in per-user averaged
    metrics); lr_schedule: "linear" lowers the learning rate linearly to 0 over the training steps (it lets the
    embeddings settle: +0.01-0.02 nDCG@10 on MovieLens), "constant" keeps it; module: the nn.Module class to train
    (None: LightGCN, above); device: "auto", "cpu" or "cuda"; random_state seeds initialization, shuffling and
    sampling (None: not seeded).

    Defaults chosen on validation (``python -m benchmarks run defaults``: MovieLens 100K, per-user 65/10/25 splits of
    seeds 1-3, mean validation nDCG@10): 4 layers (0.1998 against 0.1971 for the earlier 3; 0 to 4 tried at 60 epochs),
    60 epochs, learning rate 0.02 and reg_lambda 1e-3 (epochs 40/100, learning rates 0.005/0.05 and reg_lambda
    1e-4/1e-2 tried around them); about 20 s on a 2-core CPU. The paper's Gowalla settings (learning_rate=0.001, reg_lambda=1e-4, batch
    2048, lr_schedule="constant") suit large sparse graphs; on MovieLens they underfit in 50 epochs. On Gowalla,
    sampling="user", batch 8192, learning_rate=0.002 (constant), reg_lambda=1e-4, 3 layers come within 0.002 of the
    paper's Recall@20 and NDCG@20 (0.1818 / 0.1551) after 700 epochs, 242 s of training on one H100 (python -m
    benchmarks run lightgcn-gowalla; stopped by watching the test metrics: a speed measurement).

    After fit: ``get_user_embeddings()`` / ``get_item_embeddings()`` return the final (layer-averaged) embeddings,
    ``adjacency_`` is the normalized adjacency (scipy CSR) and ``history_`` the training history.
    """

    _default_module = LightGCN

    def __init__(self, embedding_dim: int = 64, n_layers: int = 4, learning_rate: float = 0.02, batch_size: int = 2048,
                 epochs: int = 60, reg_lambda: float = 1e-3, n_negatives: int = 1, sampling: str = "interaction",
                 lr_schedule: str = "linear", module=None, device: str = "auto", random_state: int | None = 42,
                 verbose: bool = True):
        self.embedding_dim = embedding_dim
        self.n_layers = n_layers
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.reg_lambda = reg_lambda
        self.n_negatives = n_negatives
        self.sampling = sampling
        self.lr_schedule = lr_schedule
        self.module = module
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _validate_params(self):
        super()._validate_params()  # the shared checks first: types before arithmetic
        f = type(self).__name__
        check_int(self.n_layers, "n_layers", f, min_value=0)
        check_int(self.n_negatives, "n_negatives", f, min_value=1)
        check_choice(self.sampling, "sampling", ["interaction", "user"], f)
        check_choice(self.lr_schedule, "lr_schedule", ["linear", "constant"], f)

    def _module_kwargs(self):
        return {"n_users": len(self.user_index_), "n_items": len(self.item_index_), "dim": self.embedding_dim,
                "n_layers": self.n_layers}

    def _attach_graph(self, device) -> None:
        self.adjacency_ = normalized_adjacency(self.seen_)
        self.module_.set_graph(to_torch_csr(self.adjacency_, device))
        self._forget_cache()

    def _prepare(self, df):
        from ..data.sampling import TorchUniformSampler, UniformSampler

        n_items = len(self.item_index_)
        if n_items < 2 or (np.diff(self.seen_.indptr) >= n_items).any():
            raise ValueError(f"LightGCNRecommender.fit needs every user to have an item they did not interact with "
                             f"(BPR samples one); the training data has {n_items} items and a user who has them all.")
        self._attach_graph(self._device)
        pairs = self.seen_.tocoo()
        self._pairs = pairs.row.astype(np.int64), pairs.col.astype(np.int64)
        # drawn where the model trains: on a GPU no per-epoch CPU work or copy
        self._on_torch = self._device.type == "cuda" or self.sampling == "user"
        if self._on_torch:
            self._sampler = TorchUniformSampler(self.seen_, self._device, self._generator)
            self._pairs = tuple(torch.from_numpy(a).to(self._device) for a in self._pairs)
        else:
            self._sampler = UniformSampler(n_items, random_state=self._rng)

    def _epoch_data(self, epoch):
        users, items = self._pairs
        if not self._on_torch:  # NumPy: negatives never a training item of the user; one copy per epoch
            negatives = self._sampler.sample(users, self.seen_, self.n_negatives)
            return tuple(torch.from_numpy(a).to(self._device) for a in (users, items, negatives))
        if self.sampling == "user":
            users, items = self._sampler.sample_pairs(len(users))  # an epoch = as many draws as training pairs
        return users, items, self._sampler.sample(users, self.n_negatives)

    def _loss(self, batch):
        u, i, j = batch
        users_final, items_final = self.module_.propagate()
        eu = users_final[u]  # (B, dim)
        pos = (eu * items_final[i]).sum(-1)  # (B,)
        neg = (eu.unsqueeze(1) * items_final[j]).sum(-1)  # (B, n_neg)
        e0, n_users = self.module_.embedding.weight, len(self.user_index_)  # the L2 term is on E^(0), the only weights
        # BPR averages over the n_neg negatives of a pair: each negative's L2 term weighs 1 / n_neg (hence / sqrt(n_neg))
        reg = l2_penalty(e0[u], e0[n_users + i], e0[n_users + j] / j.shape[1] ** 0.5, batch_size=len(u))
        return bpr_loss(pos, neg) + self.reg_lambda * reg

    def _scheduler(self, optimizer):
        if self.lr_schedule == "constant":
            return None
        from ..training import linear_decay

        return linear_decay(optimizer, self.epochs * -(-len(self._pairs[0]) // self.batch_size))

    def _forget_cache(self):
        self._embeddings = None

    # ------------------------------------------------------------------ embeddings and scores
    def _final_embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(users, items) final embeddings, propagated once and cached until the weights change."""
        self._check_fitted()
        if getattr(self, "_embeddings", None) is None:
            with torch.no_grad():
                self._embeddings = self.module_.propagate()
        return self._embeddings

    def get_user_embeddings(self) -> np.ndarray:
        """(n_users, embedding_dim) final user embeddings; row r is user ``user_index_[r]``."""
        return self._final_embeddings()[0].cpu().numpy().copy()

    def get_item_embeddings(self) -> np.ndarray:
        """(n_items, embedding_dim) final item embeddings; row r is item ``item_index_[r]``."""
        return self._final_embeddings()[1].cpu().numpy().copy()

    def _score_users(self, users):
        u, i = self._final_embeddings()
        return (u[self._tensor(users, torch.long)] @ i.T).cpu().numpy()  # (len(users), n_items)

    def _score_pairs(self, users, items):
        u, i = self._final_embeddings()
        return (u[self._tensor(users, torch.long)] * i[self._tensor(items, torch.long)]).sum(-1).cpu().numpy()

    def _after_load(self):
        self._attach_graph(self._torch_device())  # the graph is the saved training interactions
