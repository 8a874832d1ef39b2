"""Losses as plain functions (never inside a model's forward): each is a lesson and must be swappable."""
from __future__ import annotations


def bpr_loss(pos_scores, neg_scores):
    """Bayesian Personalized Ranking (Rendle et al., UAI 2009): -mean(log sigmoid(s_pos - s_neg)).

    pos_scores: (B,) scores of observed items; neg_scores: (B,) or (B, N) scores of sampled negatives.
    """
    import torch.nn.functional as F

    if neg_scores.dim() == pos_scores.dim() + 1:
        pos_scores = pos_scores.unsqueeze(-1)
    return -F.logsigmoid(pos_scores - neg_scores).mean()


def bce_loss(pos_scores, neg_scores):
    """Binary cross-entropy on logits: observed pairs are 1, sampled negatives 0 (NCF, SASRec's paper loss)."""
    import torch
    import torch.nn.functional as F

    logits = torch.cat([pos_scores.reshape(-1), neg_scores.reshape(-1)])
    labels = torch.cat([torch.ones_like(pos_scores.reshape(-1)), torch.zeros_like(neg_scores.reshape(-1))])
    return F.binary_cross_entropy_with_logits(logits, labels)


def l2_penalty(*tensors, batch_size: int):
    """sum of squared entries / batch size: the L2 term of BPR-MF and LightGCN on the embeddings a batch uses."""
    return sum(t.pow(2).sum() for t in tensors) / (2 * batch_size)
