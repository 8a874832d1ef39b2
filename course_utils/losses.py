"""Losses as plain functions (never inside a model's forward): each is a lesson and must be swappable.

    bpr_loss                BPR-MF, LightGCN        an observed item should outscore a sampled one
    bce_loss                NCF, SASRec (paper)     observed pairs are 1, sampled negatives 0
    softmax_cross_entropy   SASRec, LSTM, LSTM+MHA  the next item against the whole catalogue
    cloze_loss              BERT4Rec                the hidden items against the whole catalogue, at [MASK] only
    l2_penalty              BPR-MF, LightGCN        the papers' explicit L2 term on the embeddings a batch uses
"""
from __future__ import annotations


def bpr_loss(pos_scores, neg_scores):
    """Bayesian Personalized Ranking (Rendle et al., UAI 2009): -mean(log sigmoid(s_pos - s_neg)).

    pos_scores: (B,) scores of observed items; neg_scores: (B,) or (B, N) scores of sampled negatives.
    """
    import torch.nn.functional as F

    if neg_scores.dim() == pos_scores.dim() + 1:
        pos_scores = pos_scores.unsqueeze(-1)
    return -F.logsigmoid(pos_scores - neg_scores).mean()


def bce_loss(scores, labels, mask=None):
    """Binary cross-entropy on logits, averaged over the entries that count: -[y log sigmoid(s) + (1-y) log(1-sigmoid(s))].

    scores, labels: the same shape; labels 1 for observed pairs, 0 for sampled negatives. mask: bool, broadcastable
    to scores, True where an entry counts (SASRec: positions with a next item); None counts every entry.
    """
    import torch.nn.functional as F

    losses = F.binary_cross_entropy_with_logits(scores, labels, reduction="none")
    if mask is None:
        return losses.mean()
    weight = mask.to(losses.dtype).expand_as(losses)
    # weighted, not indexed: losses[mask] has a data-dependent size, which makes a GPU wait for the CPU
    return (losses * weight).sum() / weight.sum()


def softmax_cross_entropy(logits, targets):
    """Full-softmax cross-entropy: logits (N, n_items) over the whole catalogue, targets (N,) item codes 1..n_items.

    -mean(log softmax(logits)[target]): the target must outscore every other item at once (Klenitskiy & Vasilev 2023
    found it trains sequence models much better than one sampled negative with BCE).
    """
    import torch.nn.functional as F

    return F.cross_entropy(logits, targets - 1)  # codes start at 1 (0 is padding), columns at 0


def cloze_loss(hidden, labels, item_scores):
    """BERT4Rec's cloze objective: the softmax cross-entropy of each hidden item, read at its [MASK] position only.

    hidden: (B, T, D) encoder outputs; labels: (B, T) the hidden item's code at masked positions, 0 elsewhere;
    item_scores: the model's head, (N, D) -> (N, n_items). Unmasked positions cost nothing (their item is visible).
    """
    masked = labels > 0
    return softmax_cross_entropy(item_scores(hidden[masked]), labels[masked])


def l2_penalty(*tensors, batch_size: int):
    """sum of squared entries / (2 * batch size): the L2 term of BPR-MF and LightGCN on the embeddings a batch uses."""
    return sum(t.pow(2).sum() for t in tensors) / (2 * batch_size)
