"""Chapter 2, NCF (course_utils/checks/ch2.py): the right answers are the library's modules and small functions,
the wrong ones the plausible mistakes each checker must reject."""
import math

import numpy as np
import torch
from torch import nn

from course_utils.models.ncf import GMF, MLP, NeuMF


# ---------------------------------------------------------------- ch2.gmf-forward
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


class GMFWrongFeatures(GMF):  # forward right, features (which NeuMF reads) the sum
    def features(self, users, items):
        return self.user(users) + self.item(items)

    def forward(self, users, items):
        return self.head(self.user(users) * self.item(items)).squeeze(-1)


# ---------------------------------------------------------------- ch2.mlp-forward
class _MLPVariant(MLP):
    first, relu, out = "user", "all", None

    def features(self, users, items):
        parts = [self.user(users), self.item(items)]
        x = torch.cat(parts if self.first == "user" else parts[::-1], dim=-1)
        for i, layer in enumerate(self.tower):
            x = layer(x)
            if self.relu == "all" or (self.relu == "between" and i < len(self.tower) - 1):
                x = torch.relu(x)
            x = self.dropout(x)
        return x

    def forward(self, users, items):
        logit = self.head(self.features(users, items)).squeeze(-1)
        return {"relu": torch.relu, "sigmoid": torch.sigmoid}.get(self.out, lambda t: t)(logit)


class MLPItemFirst(_MLPVariant):  # [q_i ; p_u]: the first layer's weights read the wrong halves
    first = "item"


class MLPNoReLU(_MLPVariant):  # linear layers stacked: one linear map
    relu = "none"


class MLPNoLastReLU(_MLPVariant):  # a ReLU between layers, none after the last hidden one
    relu = "between"


class MLPReLULogit(_MLPVariant):  # a ReLU on the output: the logit can never be negative
    out = "relu"


class MLPSigmoidLogit(_MLPVariant):  # a probability where the loss expects a logit
    out = "sigmoid"


class MLPIgnoresItem(MLP):  # the user's embedding twice
    def features(self, users, items):
        x = torch.cat([self.user(users), self.user(users)], dim=-1)
        for layer in self.tower:
            x = self.dropout(torch.relu(layer(x)))
        return x


class MLPDetached(MLP):  # right logits, but the embeddings never learn
    def features(self, users, items):
        x = torch.cat([self.user(users), self.item(items)], dim=-1).detach()
        for layer in self.tower:
            x = self.dropout(torch.relu(layer(x)))
        return x


# ---------------------------------------------------------------- ch2.neumf-forward
class NeuMFSharedEmbeddings(NeuMF):  # the MLP tower reads the GMF tower's embeddings
    def forward(self, users, items):
        x = torch.cat([self.gmf.user(users), self.gmf.item(items)], dim=-1)
        for layer in self.mlp.tower:
            x = self.mlp.dropout(torch.relu(layer(x)))
        return self.head(torch.cat([self.gmf.features(users, items), x], dim=-1)).squeeze(-1)


class NeuMFWrongOrder(NeuMF):  # [phi_MLP ; phi_GMF]: the head's weights read the wrong halves
    def forward(self, users, items):
        return self.head(torch.cat([self.mlp.features(users, items), self.gmf.features(users, items)], dim=-1)).squeeze(-1)


class NeuMFSumOfLogits(NeuMF):  # each tower's own head, logits added: no head over the concatenation
    def forward(self, users, items):
        return self.gmf(users, items) + self.mlp(users, items)


class NeuMFMeanOfLogits(NeuMF):  # the towers' logits averaged
    def forward(self, users, items):
        return (self.gmf(users, items) + self.mlp(users, items)) / 2


class NeuMFSigmoid(NeuMF):
    def forward(self, users, items):
        return super().forward(users, items).sigmoid()


class NeuMFGMFOnly(NeuMF):  # the MLP tower dropped: zeros in its place
    def forward(self, users, items):
        g = self.gmf.features(users, items)
        return self.head(torch.cat([g, torch.zeros(len(users), self.head.in_features - g.shape[-1])], dim=-1)).squeeze(-1)


# ---------------------------------------------------------------- ch2.load-pretrained
class _Pretrained(NeuMF):
    """load_pretrained with the head built by ``_head`` and the towers copied unless ``copy`` is False."""

    copy = True

    @torch.no_grad()
    def load_pretrained(self, gmf, mlp, alpha=0.5):
        if self.copy:
            self.gmf.load_state_dict(gmf.state_dict())
            self.mlp.load_state_dict(mlp.state_dict())
        weight, bias = self._head(gmf.head, mlp.head, alpha)
        self.head.weight.copy_(weight)
        if bias is not None:
            self.head.bias.copy_(bias)
        return self

    def _head(self, g, m, alpha):
        return torch.cat([alpha * g.weight, (1 - alpha) * m.weight], dim=1), alpha * g.bias + (1 - alpha) * m.bias


class PretrainedNoAlpha(_Pretrained):
    def _head(self, g, m, alpha):
        return torch.cat([g.weight, m.weight], dim=1), g.bias + m.bias


class PretrainedAlphaBoth(_Pretrained):
    def _head(self, g, m, alpha):
        return torch.cat([alpha * g.weight, alpha * m.weight], dim=1), alpha * (g.bias + m.bias)


class PretrainedSwapped(_Pretrained):
    def _head(self, g, m, alpha):
        return torch.cat([(1 - alpha) * g.weight, alpha * m.weight], dim=1), (1 - alpha) * g.bias + alpha * m.bias


class PretrainedNoCopy(_Pretrained):  # only the output layer: NeuMF's embeddings stay random
    copy = False


class PretrainedBiasUntouched(_Pretrained):
    def _head(self, g, m, alpha):
        return super()._head(g, m, alpha)[0], None


class PretrainedBiasSummed(_Pretrained):
    def _head(self, g, m, alpha):
        return super()._head(g, m, alpha)[0], g.bias + m.bias


class PretrainedBiasGMFOnly(_Pretrained):
    def _head(self, g, m, alpha):
        return super()._head(g, m, alpha)[0], g.bias


class PretrainedInPlace(NeuMF):  # scales the trained towers' own output weights in place
    @torch.no_grad()
    def load_pretrained(self, gmf, mlp, alpha=0.5):
        self.gmf.load_state_dict(gmf.state_dict())
        self.mlp.load_state_dict(mlp.state_dict())
        self.head.weight.copy_(torch.cat([gmf.head.weight.mul_(alpha), mlp.head.weight.mul_(1 - alpha)], dim=1))
        self.head.bias.copy_(gmf.head.bias.mul_(alpha) + mlp.head.bias.mul_(1 - alpha))
        return self


class PretrainedNoReturn(_Pretrained):  # forgets "return self"
    @torch.no_grad()
    def load_pretrained(self, gmf, mlp, alpha=0.5):
        super().load_pretrained(gmf, mlp, alpha)


class PretrainedDefaultAlphaOne(_Pretrained):  # the default alpha keeps only GMF
    @torch.no_grad()
    def load_pretrained(self, gmf, mlp, alpha=1.0):
        return super().load_pretrained(gmf, mlp, alpha)


# ---------------------------------------------------------------- ch2.sampler
def _sampler(positives, n, n_items, seed):
    free = [i for i in range(n_items) if i not in positives]
    return np.random.default_rng(seed).choice(free, n).tolist()


def _careless_sampler(positives, n, n_items, seed):  # forgets to exclude positives
    return np.random.default_rng(seed).integers(0, n_items, n).tolist()


def _unseeded_sampler(positives, n, n_items, seed):  # ignores the seed
    free = [i for i in range(n_items) if i not in positives]
    return np.random.default_rng().choice(free, n).tolist()


def _off_by_one_sampler(positives, n, n_items, seed):  # range(n_items - 1): the last item is never drawn
    free = [i for i in range(n_items - 1) if i not in positives]
    return np.random.default_rng(seed).choice(free, n).tolist()


# ---------------------------------------------------------------- ch2.hr, ch2.ndcg
def _hr(ranks, k):
    return float(np.mean(np.asarray(ranks) <= k))


def _ndcg(ranks, k):
    ranks = np.asarray(ranks, dtype=float)
    return float(np.mean(np.where(ranks <= k, 1 / np.log2(ranks + 1), 0.0)))


# ---------------------------------------------------------------- ch2.sampled-hr
def _sampled_hr(ranks, n_candidates, n_negatives, k):
    from scipy.stats import hypergeom

    ranks, n_candidates = np.asarray(ranks), np.asarray(n_candidates)
    return float(np.mean(hypergeom.cdf(k - 1, n_candidates - 1, ranks - 1, n_negatives)))


def _sampled_with_replacement(ranks, n_candidates, n_negatives, k):  # binomial: draws with replacement
    from scipy.stats import binom

    p = (np.asarray(ranks) - 1) / (np.asarray(n_candidates) - 1)
    return float(np.mean(binom.cdf(k - 1, n_negatives, p)))


def _sampled_counts_itself(ranks, n_candidates, n_negatives, k):  # rank items beat it, not rank - 1
    from scipy.stats import hypergeom

    ranks, n_candidates = np.asarray(ranks), np.asarray(n_candidates)
    return float(np.mean(hypergeom.cdf(k - 1, n_candidates - 1, np.minimum(ranks, n_candidates - 1), n_negatives)))


def _sampled_off_by_one(ranks, n_candidates, n_negatives, k):  # up to k drawn items may beat it
    from scipy.stats import hypergeom

    ranks, n_candidates = np.asarray(ranks), np.asarray(n_candidates)
    return float(np.mean(hypergeom.cdf(k, n_candidates - 1, ranks - 1, n_negatives)))


def _sampled_scaled_rank(ranks, n_candidates, n_negatives, k):  # the expected sampled rank compared with k
    expected_rank = 1 + (np.asarray(ranks) - 1) * n_negatives / (np.asarray(n_candidates) - 1)
    return float(np.mean(expected_rank <= k))


def _sampled_population_with_target(ranks, n_candidates, n_negatives, k):  # draws among n_candidates, not the others
    total = [math.comb(int(c), n_negatives) for c in n_candidates]
    hits = [sum(math.comb(int(r) - 1, x) * math.comb(int(c) - int(r) + 1, n_negatives - x) for x in range(min(k, n_negatives + 1)))
            for r, c in zip(ranks, n_candidates, strict=True)]
    return float(np.mean([h / t for h, t in zip(hits, total, strict=True)]))


REFERENCE = {
    "ch2.sampler": _sampler,
    "ch2.gmf-forward": GMF,
    "ch2.mlp-forward": MLP,
    "ch2.neumf-forward": NeuMF,
    "ch2.load-pretrained": NeuMF,
    "ch2.hr": _hr,
    "ch2.ndcg": _ndcg,
    "ch2.sampled-hr": _sampled_hr,
}
WRONG = {
    "ch2.sampler": [_careless_sampler, lambda positives, n, n_items, seed: [0] * n, _unseeded_sampler,
                    _off_by_one_sampler],
    "ch2.gmf-forward": [GMFNoHead, GMFAdd, GMFIgnoresItem, GMFSigmoid, GMFSum, GMFWrongFeatures],
    "ch2.mlp-forward": [MLPItemFirst, MLPNoReLU, MLPNoLastReLU, MLPReLULogit, MLPSigmoidLogit, MLPIgnoresItem,
                        MLPDetached],
    "ch2.neumf-forward": [NeuMFSharedEmbeddings, NeuMFWrongOrder, NeuMFSumOfLogits, NeuMFMeanOfLogits, NeuMFSigmoid,
                          NeuMFGMFOnly],
    "ch2.load-pretrained": [PretrainedNoAlpha, PretrainedAlphaBoth, PretrainedSwapped, PretrainedNoCopy,
                            PretrainedBiasUntouched, PretrainedBiasSummed, PretrainedBiasGMFOnly, PretrainedInPlace,
                            PretrainedNoReturn, PretrainedDefaultAlphaOne],
    "ch2.hr": [lambda ranks, k: float(np.mean(np.asarray(ranks) < k)),  # rank k itself counted as a miss
               lambda ranks, k: float(np.sum(np.asarray(ranks) <= k)),  # a count, not a share
               lambda ranks, k: float(np.mean(np.asarray(ranks) <= 10)),  # k ignored
               lambda ranks, k: float(np.mean(np.asarray(ranks) - 1 <= k))],  # ranks read as 0-based
    "ch2.ndcg": [lambda ranks, k: float(np.mean(np.where(np.asarray(ranks) <= k, 1 / np.log(np.asarray(ranks) + 1), 0))),
                 lambda ranks, k: float(np.mean(np.where(np.asarray(ranks) <= k, 1 / np.log2(np.asarray(ranks) + 2), 0))),
                 lambda ranks, k: float(np.mean(1 / np.log2(np.asarray(ranks) + 1))),  # no cut-off at k
                 lambda ranks, k: float(np.mean(np.where(np.asarray(ranks) < k, 1 / np.log2(np.asarray(ranks) + 1), 0))),
                 lambda ranks, k: float(np.mean(np.where(np.asarray(ranks) <= k, 1 / np.asarray(ranks), 0))),  # MRR
                 lambda ranks, k: float(np.sum(np.where(np.asarray(ranks) <= k, 1 / np.log2(np.asarray(ranks) + 1), 0)))],
    "ch2.sampled-hr": [_sampled_with_replacement, _sampled_counts_itself, _sampled_off_by_one, _sampled_scaled_rank,
                       _sampled_population_with_target, lambda ranks, n_candidates, n_negatives, k: _hr(ranks, k)],
}
