"""The course's recommenders, all on the shape of course_utils.recommender.BaseRecommender.

Names load on first use, so that ``from course_utils.models import EASERecommender`` does not import PyTorch.
"""
import importlib

_HOME = {"PopularityRecommender": "baselines", "RecentPopularityRecommender": "baselines", "MarkovRecommender": "baselines", "EASERecommender": "baselines", "BPRMFRecommender": "mf",
         "EmbeddingMLPRecommender": "embedding_mlp", "KerasMLPRecommender": "keras_mlp", "SurpriseRecommender": "classic",
         "NCFRecommender": "ncf", "LightFMRecommender": "factorization", "ALSRecommender": "factorization",
         "LightGCNRecommender": "lightgcn", "SASRecRecommender": "sasrec",
         "LSTMRecommender": "sequence", "LSTMAttentionRecommender": "sequence", "BERT4RecRecommender": "sequence"}
__all__ = list(_HOME)


def __getattr__(name):
    if name in _HOME:
        return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
