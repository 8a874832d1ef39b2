"""Training speed: seconds per epoch and training interactions per second of NCF, LightGCN and SASRec on a device.

MovieLens 100K (the per-user 75/25 split's training part: 75,000 interactions), each model at the course's
defaults, plus the settings that matter for speed: NCF at the seed chapter's batch 256, LightGCN at batch 8192 and
the paper's 2048 on the Gowalla split (810,128 interactions; --no-gowalla skips it). Interactions per second counts
the positive training pairs an epoch covers (NCF also trains 4 sampled negatives per pair; SASRec's unit is the
training window, reported as sequences/s). The first epoch (warm-up) is left out of the median.
"""
from __future__ import annotations

import time

import pandas as pd

from ._common import median_epoch_seconds


def add_arguments(parser) -> None:
    parser.add_argument("--epochs", type=int, default=3, help="epochs per configuration (the first is a warm-up)")
    parser.add_argument("--no-gowalla", action="store_true", help="skip LightGCN on Gowalla (18-40 s per epoch on a 2-core CPU)")


def run(args) -> list[dict]:
    from course_utils import (InteractionDataset, LightGCNRecommender, NCFRecommender, SASRecRecommender, load_gowalla,
                              load_movielens)

    train, _ = InteractionDataset(load_movielens("100k"), implicit=True).split(test_size=0.25, strategy="user_random", seed=42)
    e, dev = args.epochs, args.device
    configs = [
        ("NCF (NeuMF), course defaults", "ML-100K", lambda: NCFRecommender(epochs=e, pretrain=False, device=dev, verbose=False), train.data),
        ("NCF (NeuMF 64, [128, 64, 32]), batch 256", "ML-100K",
         lambda: NCFRecommender(embedding_dim=64, hidden_layers=(128, 64, 32), batch_size=256, epochs=e, pretrain=False,
                                device=dev, verbose=False), train.data),
        ("LightGCN, course defaults (batch 2048)", "ML-100K", lambda: LightGCNRecommender(epochs=e, device=dev, verbose=False), train.data),
        ("SASRec, course defaults", "ML-100K", lambda: SASRecRecommender(epochs=e, device=dev, verbose=False), train.data),
        ("SASRec, paper settings (hidden 50, batch 128, last window)", "ML-100K",
         lambda: SASRecRecommender(embedding_dim=50, learning_rate=0.001, window_stride=None, epochs=e, device=dev,
                                   verbose=False), train.data),
    ]
    if not args.no_gowalla:
        gowalla = load_gowalla()
        gowalla = gowalla[gowalla["split"] == "train"]
        for batch in (8192, 2048):
            configs.append((f"LightGCN, Gowalla, batch {batch}, user sampling", "Gowalla",
                            lambda batch=batch: LightGCNRecommender(batch_size=batch, learning_rate=0.001, reg_lambda=1e-4,
                                                                    sampling="user", lr_schedule="constant", epochs=e,
                                                                    device=dev, verbose=False), gowalla))
    rows, table = [], []
    for name, data_name, build, data in configs:
        start = time.perf_counter()
        model = build().fit(data)
        seconds = time.perf_counter() - start
        per_epoch = median_epoch_seconds(model)
        if isinstance(model, SASRecRecommender):
            unit, count = "sequences/s", model.n_windows_
        else:
            unit, count = "interactions/s", len(data)
        table.append({"model": name, "data": data_name, "epochs": e, "s/epoch": round(per_epoch, 3), unit: round(count / per_epoch),
                      "total s": round(seconds, 1)})
        rows.append({"settings": f"{name}; {data_name}, {count:,} {'windows' if unit == 'sequences/s' else 'interactions'}, "
                                 f"{e} epochs (median of the last {max(e - 1, 1)})",
                     "metrics": {unit: round(count / per_epoch)}, "s/epoch": per_epoch, "total s": seconds})
        print(table[-1], flush=True)
    print(pd.DataFrame(table).fillna("").to_string(index=False))
    return rows
