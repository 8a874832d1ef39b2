"""course_utils: the tested helper package of the Neural Recommender Systems course.

The top level re-exports the names the seed chapter imports from its ``recommender`` package::

    from course_utils import load_movielens, InteractionDataset, Evaluator, EASERecommender

Names load on first use: importing course_utils does no work and imports neither PyTorch nor TensorFlow.
"""
import importlib

__version__ = "0.1.0"

_HOME = {
    # data
    "load_movielens": "data", "load_movielens_items": "data", "load_goodbooks": "data", "load_goodbooks_books": "data",
    "load_gowalla": "data", "make_synthetic": "data", "InteractionDataset": "data", "InteractionSplit": "data",
    "UniformSampler": "data", "PopularitySampler": "data", "sample_eval_candidates": "data", "DatasetError": "data",
    # evaluation
    "Evaluator": "evaluation", "EvaluationResult": "evaluation", "compare": "evaluation",
    "over_seeds": "experiments", "paired_comparison": "experiments",
    # models and the shared shape
    "BaseRecommender": "recommender", "TorchRecommender": "torch_recommender", "SequenceRecommender": "torch_recommender", "NotFittedError": "recommender",
    "PopularityRecommender": "models", "RecentPopularityRecommender": "models", "MarkovRecommender": "models", "EASERecommender": "models", "BPRMFRecommender": "models",
    "EmbeddingMLPRecommender": "models", "KerasMLPRecommender": "models", "SurpriseRecommender": "models",
    "NCFRecommender": "models", "LightFMRecommender": "models", "ALSRecommender": "models",
    "LightGCNRecommender": "models", "SASRecRecommender": "models", "LSTMRecommender": "models",
    "LSTMAttentionRecommender": "models", "BERT4RecRecommender": "models", "evaluate_next_item": "evaluation",
    # training
    "EarlyStopping": "training", "History": "training", "fit_loop": "training", "resolve_device": "training",
}
__all__ = sorted(_HOME)


def __getattr__(name):
    if name in _HOME:
        return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
