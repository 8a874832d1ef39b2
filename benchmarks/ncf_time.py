"""The seed chapter's time table re-run: NCF on MovieLens 100K for 20 epochs, our seconds beside the seed's.

The seed says (NCF, ML-100K, 20 epochs): CPU, embedding 64, batch 256: ~8 min; CPU, 128 / 512: ~12 min; RTX 3080,
64 / 256: ~30 s; RTX 3080, 128 / 1024: ~20 s. Here, the seed's own setup: InteractionDataset(implicit=True,
min_user_interactions=5), split(test_size=0.2, strategy="random", seed=42) (80,000 training positives, 400,000
training pairs per epoch with 4 negatives each), NeuMF with MLP [128, 64, 32] (embedding 64) or [256, 128, 64]
(embedding 128), dropout 0.2, lr 0.001, no pre-training; then nDCG@10 by full ranking on the 20% test part. A last row
runs the course's own defaults (embedding 32, MLP [64, 32, 16], batch 1024, lr 0.002) for the same 20 epochs.
"""
from __future__ import annotations

import time

import pandas as pd

SEED_TABLE = [  # (embedding, MLP layers, batch, learning rate, the seed's CPU time, the seed's RTX 3080 time)
    (64, (128, 64, 32), 256, 0.001, "~8 min", "~30 s"),
    (128, (256, 128, 64), 512, 0.001, "~12 min", ""),
    (128, (256, 128, 64), 1024, 0.001, "", "~20 s"),
]


def add_arguments(parser) -> None:
    parser.add_argument("--epochs", type=int, default=20)


def run(args) -> list[dict]:
    import torch

    from course_utils import Evaluator, InteractionDataset, NCFRecommender, load_movielens

    dataset = InteractionDataset(load_movielens("100k"), implicit=True, min_user_interactions=5)
    train, test = dataset.split(test_size=0.2, strategy="random", seed=42)
    evaluator = Evaluator(metrics=["ndcg", "precision"], k_values=[10])
    on_gpu = torch.device(args.device).type == "cuda"
    course = NCFRecommender().get_params()  # the course's defaults (chapter 2), for comparison
    configs = SEED_TABLE + [(course["embedding_dim"], tuple(course["hidden_layers"]), course["batch_size"],
                             course["learning_rate"], "", "")]
    rows, table = [], []
    for n, (dim, hidden, batch, lr, seed_cpu, seed_gpu) in enumerate(configs):
        start = time.perf_counter()
        model = NCFRecommender(embedding_dim=dim, hidden_layers=hidden, batch_size=batch, epochs=args.epochs,
                               learning_rate=lr, dropout=0.2, n_negatives=4, pretrain=False, device=args.device, random_state=42,
                               verbose=False).fit(train.data)
        seconds = time.perf_counter() - start
        epochs = model.history_.to_frame()["seconds"]
        pairs = len(train.data) * (1 + model.n_negatives)
        metrics = {k: round(v, 4) for k, v in evaluator.evaluate(model, test, train_data=train).metrics().items()}
        seed_time = seed_gpu if on_gpu else seed_cpu
        rows.append({"settings": f"NeuMF emb {dim}, MLP {list(hidden)}, batch {batch}, {args.epochs} epochs, 4 negatives, "
                                 f"dropout 0.2, lr {lr}, no pre-training; 80/20 random split, full ranking; seed chapter: {seed_time or 'not in its table'}"
                                 + ("; the course's defaults" if n == len(SEED_TABLE) else ""),
                     "metrics": {**metrics, "pairs/s": round(pairs / epochs.mean())}, "s/epoch": epochs.mean(),
                     "total s": seconds})
        table.append({"embedding": dim, "batch": batch, f"seed chapter ({'RTX 3080' if on_gpu else 'CPU'})": seed_time,
                      "ours (s)": round(seconds, 1), "s/epoch": round(epochs.mean(), 3),
                      "training pairs/s": round(pairs / epochs.mean()), **metrics})
        print(table[-1], flush=True)
    print(pd.DataFrame(table).to_string(index=False))
    return rows
