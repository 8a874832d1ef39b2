"""Data: the dataset registry and loaders, the synthetic log, InteractionDataset with its splits, samplers, sequences."""
from .datasets import ENV_VAR, REGISTRY, DatasetError, DatasetSpec, Source, fetch, project_data_dir
from .goodbooks import load_goodbooks, load_goodbooks_books
from .gowalla import load_gowalla
from .interactions import InteractionDataset, InteractionSplit
from .movielens import load_movielens, load_movielens_items
from .sampling import PopularitySampler, UniformSampler, sample_eval_candidates
from .sequences import (chunk_windows, cloze_mask, next_item_targets, next_item_windows, pad_left, read_sasrec_file, user_sequences,
                        write_sasrec_file)
from .synthetic import make_synthetic

__all__ = [
    "ENV_VAR", "REGISTRY", "DatasetError", "DatasetSpec", "Source", "fetch", "project_data_dir",
    "load_movielens", "load_movielens_items", "load_goodbooks", "load_goodbooks_books", "load_gowalla",
    "make_synthetic", "InteractionDataset", "InteractionSplit",
    "UniformSampler", "PopularitySampler", "sample_eval_candidates",
    "user_sequences", "pad_left", "next_item_windows", "read_sasrec_file", "write_sasrec_file", "cloze_mask",
    "next_item_targets", "chunk_windows",
]
