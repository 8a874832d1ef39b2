"""The mechanism's own example exercises (course_utils/checks/example.py)."""
import torch
from torch import nn

from course_utils import make_synthetic
from course_utils.metrics import precision_at_k

LOG = make_synthetic(n_users=100, n_items=50, mean_interactions=10, seed=1)


class Scorer(nn.Module):
    def __init__(self, n_users=64, n_items=64, dim=8):
        super().__init__()
        self.user, self.item = nn.Embedding(n_users, dim), nn.Embedding(n_items, dim)

    def forward(self, users, items):
        return (self.user(users) * self.item(items)).sum(-1)


class Frozen(nn.Module):  # right shape, but nothing to learn from
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, users, items):
        return torch.zeros(len(users)) * self.w


REFERENCE = {
    "ex.n-interactions": len(LOG),
    "ex.mean-rating": LOG["rating"].mean(),
    "ex.top-items": LOG["item_id"].value_counts().nlargest(3).index.tolist(),
    "ex.precision": lambda ranked, relevant, k: precision_at_k([ranked], [relevant], k),
    "ex.scorer": Scorer,
}
WRONG = {
    "ex.n-interactions": [len(LOG) - 1, 0, LOG["user_id"].nunique()],
    "ex.mean-rating": [LOG["rating"].mean() + 0.05, 3.5, LOG["rating"].median()],
    "ex.top-items": [LOG["item_id"].value_counts().nlargest(4).index.tolist()[1:], [1, 2, 3],
                     LOG["item_id"].value_counts().nsmallest(3).index.tolist()],
    "ex.precision": [lambda ranked, relevant, k: sum(i in relevant for i in ranked[:k]) / max(len(relevant), 1),  # recall
                     lambda ranked, relevant, k: sum(i in relevant for i in ranked) / k,  # ignores the cut-off
                     lambda ranked, relevant, k: sum(i in relevant for i in ranked[:k]) / max(len(ranked[:k]), 1)],
    "ex.scorer": [Frozen, lambda: nn.Linear(2, 1), lambda: nn.Embedding(64, 1)],
}
