"""Chapter 2, NCF (course_utils/checks/ch2.py)."""
import numpy as np
from torch import nn

from course_utils.models.ncf import GMF


class GMFAdd(GMF):  # adds the embeddings instead of multiplying them
    def forward(self, users, items):
        return self.head(self.user(users) + self.item(items)).squeeze(-1)


class GMFIgnoresItem(GMF):  # the user's embedding with itself
    def forward(self, users, items):
        return self.head(self.user(users) * self.user(users)).squeeze(-1)


class GMFSigmoid(GMF):  # returns a probability where the loss expects a logit
    def forward(self, users, items):
        return self.head(self.user(users) * self.item(items)).squeeze(-1).sigmoid()


class GMFSum(GMF):  # a plain dot product: the head is skipped
    def forward(self, users, items):
        return (self.user(users) * self.item(items)).sum(-1)


class GMFNoHead(nn.Module):  # other weights than the exercise's, and (B, 1): not squeezed
    def __init__(self, n_users, n_items):
        super().__init__()
        self.user, self.item = nn.Embedding(n_users, 4), nn.Embedding(n_items, 4)
        self.head = nn.Linear(4, 1)

    def forward(self, users, items):
        return self.head(self.user(users) * self.item(items))


def _sampler(positives, n, n_items, seed):
    free = [i for i in range(n_items) if i not in positives]
    return np.random.default_rng(seed).choice(free, n).tolist()


def _careless_sampler(positives, n, n_items, seed):  # forgets to exclude positives
    return np.random.default_rng(seed).integers(0, n_items, n).tolist()


REFERENCE = {
    "ch2.sampler": _sampler,
    "ch2.gmf-forward": GMF,
    "ch2.hr": 2 / 3,
    "ch2.ndcg-by-hand": 0.5,
    "ch2.protocol": "Sampled",
}
WRONG = {
    "ch2.sampler": [_careless_sampler, lambda positives, n, n_items, seed: [0] * n],
    "ch2.gmf-forward": [GMFNoHead, GMFAdd, GMFIgnoresItem, GMFSigmoid, GMFSum],
    "ch2.hr": [1.0, 0.5],
    "ch2.ndcg-by-hand": [0.6, 0.5 + 1 / np.log2(13) / 3],
    "ch2.protocol": ["full"],
}
