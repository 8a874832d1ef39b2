"""Chapter 6's Keras Tuner comparison, repeated: each strategy searches 3 times with its own seeds; the spread.

    python -m benchmarks run tuner-repeats --device cpu          # ~4 min on the 2-core CPU

Chapter 6 runs RandomSearch, Hyperband and BayesianOptimization once each (one budget of about 30 epochs each), on
chapter 1's Keras rating model and split (80/20 random split of MovieLens 100K with seed 42, then 1/8 of the training
part as validation; the search space of exercise 6.1). One search per strategy cannot rank the strategies: this runs
every strategy REPEATS times, each repeat with its own seed (a different one for every tuner and repeat), and writes
the best validation RMSE of each search to benchmarks/logs/tuner_repeats/results.csv, which chapter 6 loads.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

LOGS = Path(__file__).with_name("logs") / "tuner_repeats"
REPEATS = 3
KT_EPOCHS, KT_TRIALS, BATCH_SIZE, SPLIT_SEED = 5, 6, 1024, 42  # chapter 6's budget and split


def add_arguments(parser) -> None:
    parser.add_argument("--logs", type=Path, default=LOGS, help=f"where the CSV goes (default {LOGS})")


def run(args) -> list[dict]:
    from course_utils import frameworks
    from course_utils.tuning.keras_distributed import build_hypermodel, load_tuning_data

    keras = frameworks.keras()
    import keras_tuner as kt

    data = load_tuning_data("100k", SPLIT_SEED)  # chapter 6's split: fit part and validation, the test part dropped
    x_fit, y_fit, x_val, y_val = data["x_fit"], data["y_fit"], data["x_val"], data["y_val"]
    build_model = build_hypermodel(data["n_users"], data["n_items"])  # exercise 6.1's space

    directory = tempfile.mkdtemp(prefix="tuner-repeats-")
    makers = {
        "RandomSearch": lambda seed, name: (kt.RandomSearch(build_model, objective="val_loss", max_trials=KT_TRIALS,
                                                            seed=seed, directory=directory, project_name=name),
                                            {"epochs": KT_EPOCHS}),
        "Hyperband": lambda seed, name: (kt.Hyperband(build_model, objective="val_loss", max_epochs=KT_EPOCHS, factor=3,
                                                      seed=seed, directory=directory, project_name=name), {}),
        "BayesianOptimization": lambda seed, name: (
            kt.BayesianOptimization(build_model, objective="val_loss", max_trials=KT_TRIALS, num_initial_points=3,
                                    seed=seed, directory=directory, project_name=name), {"epochs": KT_EPOCHS}),
    }
    rows = []
    for t, (tuner_name, make) in enumerate(makers.items()):
        for repeat in range(REPEATS):
            seed = 1000 + 10 * t + repeat  # its own seed for every tuner and repeat
            keras.utils.set_random_seed(seed)
            tuner, fit_args = make(seed, f"{tuner_name}-{repeat}")
            start = time.perf_counter()
            tuner.search(x_fit, y_fit, batch_size=BATCH_SIZE, validation_data=(x_val, y_val), verbose=0, **fit_args)
            scores = [t_.score for t_ in tuner.oracle.trials.values() if t_.score is not None]
            best = tuner.get_best_hyperparameters(1)[0].values
            rows.append({"tuner": tuner_name, "repeat": repeat, "seed": seed,
                         "best val RMSE": float(np.sqrt(min(scores))), "trials": len(scores),
                         **{k: v for k, v in best.items() if not k.startswith("tuner/")},
                         "seconds": time.perf_counter() - start})
            print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in rows[-1].items()}, flush=True)
    table = pd.DataFrame(rows)
    args.logs.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.logs / "results.csv", index=False, float_format="%.6g")
    summary = table.groupby("tuner", sort=False)["best val RMSE"].agg(["mean", "std", "min", "max"])
    print(summary.to_string(float_format=lambda x: f"{x:.4f}"))
    return [{"settings": f"chapter 6, {name}: {REPEATS} searches of about 30 epochs (5 per trial), own seed each; "
                         f"ML-100K 70/10 split of chapter 1's training part (seed 42)",
             "metrics": {"best val RMSE": f"{row['mean']:.4f} ± {row['std']:.4f} ({row['min']:.4f}-{row['max']:.4f})"},
             "total s": float(table.loc[table["tuner"] == name, "seconds"].sum())}
            for name, row in summary.iterrows()]
