"""BPR-MF on MovieLens 100K on a chosen device: seconds per epoch and full-ranking metrics, and a save/load check.

    python -m benchmarks run bprmf-device --device cuda
It also checks that a model trained on the device saves and loads on the CPU with identical scores.
"""
from __future__ import annotations

import tempfile
import time

import numpy as np
import pandas as pd

from course_utils import BPRMFRecommender, EASERecommender, Evaluator, InteractionDataset, load_movielens


def add_arguments(parser) -> None:
    parser.add_argument("--epochs", type=int, default=30)


def run(args) -> list[dict]:
    df = load_movielens("100k")
    train, test = InteractionDataset(df, implicit=True).split(test_size=0.25, strategy="user_random", seed=42)
    ev = Evaluator(metrics=["precision", "ndcg"], k_values=[10])
    start = time.perf_counter()
    model = BPRMFRecommender(epochs=args.epochs, device=args.device, verbose=False).fit(train.data)
    seconds = time.perf_counter() - start
    device = str(next(model.module_.parameters()).device)
    per_epoch = float(np.mean(model.history_.to_frame()["seconds"]))
    metrics = {k: round(v, 4) for k, v in ev.evaluate(model, test, train_data=train).metrics().items()}
    table = [{"model": "BPR-MF", "device": device, "epochs": args.epochs, "s/epoch": per_epoch, "total s": seconds, **metrics}]
    start = time.perf_counter()
    ease = EASERecommender().fit(train.data)
    table.append({"model": "EASE", "device": "cpu (numpy)", "epochs": 0, "s/epoch": 0.0, "total s": time.perf_counter() - start,
                  **ev.evaluate(ease, test, train_data=train).metrics()})
    print(pd.DataFrame(table).to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    with tempfile.TemporaryDirectory() as tmp:
        path = model.save(f"{tmp}/bprmf.pt")
        on_cpu = BPRMFRecommender(device="cpu").load(path)
        users = train.data["user_id"].unique()[:50].tolist()
        diff = float(np.abs(on_cpu.score_all(users) - model.score_all(users)).max())
        print(f"saved on {device}, loaded on cpu: max score difference {diff:.2e}")
    return [{"settings": f"BPR-MF defaults, {args.epochs} epochs; 75/25 per user, full ranking; saved on {device}, loaded on cpu",
             "metrics": {**metrics, "max score diff after load": f"{diff:.1e}"}, "s/epoch": per_epoch, "total s": seconds}]
