"""The course's defaults, chosen on validation over three split seeds; the test parts opened once, at the end.

    python -m benchmarks run defaults --device cpu                 # every model (~40 min on the 2-core CPU)
    python -m benchmarks run defaults --models EASE ALS            # a subset (its rows replace theirs in the CSVs)
    python -m benchmarks run defaults --render                     # only rewrite the README tables from the CSVs

Protocol (MovieLens 100K, implicit): for each split seed s in 1, 2, 3, each user's interactions are split at random
65 / 10 / 25 (train / validation / test; ``InteractionDataset.split(strategy="user_random", test_size=0.25,
val_size=0.1, seed=s)``). Every configuration of a model's grid is fitted on train (model seed = s) and scored on
validation (full ranking, nDCG@10, training items removed); for the models with a constant learning rate (BPR-MF,
SASRec) one run per configuration gives the validation curve, and the epoch count is a point of the grid. The
configuration with the best mean validation nDCG@10 over the three seeds becomes the default. Then, once per seed,
the chosen configuration is refitted on train + validation (75 %, the same training part as the course's 75/25
protocol) and evaluated on that seed's test part: the test numbers of the README. Seed 42, the split of the
notebooks, plays no part in any choice.

SASRec is a next-item model: its protocol is leave-one-out in time (validation = each user's second-to-last item,
test = the last), the three seeds are model seeds, the validation metric is full-ranking nDCG@10 of the next item; the
final model is trained on the training sequences and predicts the test item from its history plus the validation
item (``set_histories``), the paper's protocol, reported as full-ranking HR@10 and the paper's sampled HR@10/NDCG@10.

Writes benchmarks/logs/defaults/search.csv (every configuration, seed and validation score), test.csv (the chosen
configuration on each seed's test part) and rewrites the tables between the "defaults" markers of README.md and
benchmarks/README.md from them.
"""
from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import pandas as pd

LOGS = Path(__file__).with_name("logs") / "defaults"
SEEDS = (1, 2, 3)
ROOT = Path(__file__).resolve().parent.parent
READMES = (ROOT / "README.md", Path(__file__).with_name("README.md"))
BEGIN, END = "<!-- defaults table: begin (python -m benchmarks run defaults --render) -->", "<!-- defaults table: end -->"


def _grid(**axes) -> list[dict]:
    names = list(axes)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*axes.values())]


def specs() -> dict:
    """name -> (class name, grid, curve): the grid of each model (its old default included), and whether its epoch
    count comes from one validation curve per configuration (constant learning rate) instead of the grid. LightGCN's
    grid holds 0 to 4 layers (at 60 epochs): chapter 3's layer study reads its validation scores from search.csv; a
    grid that is not a full product (LightGCN's) is a search around the old defaults, one or two knobs at a time."""
    return {
        "EASE": ("EASERecommender", _grid(reg_lambda=[100.0, 250.0, 500.0, 1000.0, 2000.0]), False),
        "ALS": ("ALSRecommender", _grid(factors=[16, 32, 64], regularization=[0.05, 1.0, 10.0], alpha=[1.0, 10.0]), False),
        "LightFM (WARP)": ("LightFMRecommender", _grid(no_components=[16, 32, 64], epochs=[10, 20, 40]), False),
        "BPR-MF": ("BPRMFRecommender", _grid(reg_lambda=[0.001, 0.01, 0.1], epochs=[150]), True),
        "NCF (NeuMF, pre-trained)": ("NCFRecommender", _grid(embedding_dim=[16, 32, 64], epochs=[4, 6, 10]), False),
        "LightGCN": ("LightGCNRecommender",  # the layers at 60 epochs; then, at 3 layers, epochs, learning rate and L2
                     _grid(n_layers=[0, 1, 2, 3, 4], epochs=[60]) + _grid(n_layers=[3], epochs=[40, 100])
                     + _grid(n_layers=[3], epochs=[60], learning_rate=[0.005, 0.05], reg_lambda=[1e-3])
                     + _grid(n_layers=[3], epochs=[60], learning_rate=[0.02], reg_lambda=[1e-4, 1e-2]), False),
        "SASRec": ("SASRecRecommender", _grid(dropout=[0.2], epochs=[40]), True),
    }


def add_arguments(parser) -> None:
    parser.add_argument("--models", nargs="*", default=None, metavar="MODEL", help=f"a subset of {list(specs())}")
    parser.add_argument("--render", action="store_true", help="only rewrite the README tables from the committed CSVs")
    parser.add_argument("--logs", type=Path, default=LOGS, help=f"where the CSVs go (default {LOGS})")


def _make(cls_name: str, params: dict, seed: int, device: str):
    import course_utils

    cls = getattr(course_utils, cls_name)
    extra = {}
    names = cls().get_params()
    if "random_state" in names:
        extra["random_state"] = seed
    if "device" in names:
        extra.update(device=device, verbose=False)
    return cls(**params, **extra)


def _splits(seed: int, sequential: bool):
    from course_utils import InteractionDataset, load_movielens

    dataset = InteractionDataset(load_movielens("100k"), implicit=True)
    if sequential:
        return tuple(p.data for p in dataset.split(strategy="leave_one_out", val_size=1))
    return tuple(p.data for p in dataset.split(test_size=0.25, strategy="user_random", val_size=0.1, seed=seed))


def search(name: str, device: str) -> pd.DataFrame:
    """Every configuration of the grid on every seed's validation part: one row per (configuration, seed)."""
    from tqdm.auto import tqdm

    from course_utils import Evaluator

    cls_name, grid, curve = specs()[name]
    sequential = name == "SASRec"
    evaluator = Evaluator(metrics=["ndcg", "recall"], k_values=[10])
    rows = []
    for seed in SEEDS:
        train, val, _ = _splits(seed, sequential)
        for params in tqdm(grid, desc=f"{name}, seed {seed}", leave=False):
            model = _make(cls_name, params, seed, device)
            start = time.perf_counter()
            if curve:  # one run: the validation score after every epoch
                model.fit(train, val_data=val)
                history = model.history_.to_frame()
                for epoch, record in history.iterrows():
                    rows.append({"model": name, "params": json.dumps({**params, "epochs": int(epoch)}), "seed": seed,
                                 "val ndcg@10": record["ndcg@10"],
                                 "val recall@10": record.get("recall@10", record.get("hit_rate@10")),
                                 "seconds": float(history["seconds"].loc[:epoch].sum())})
                continue
            model.fit(train)
            seconds = time.perf_counter() - start
            result = evaluator.evaluate(model, val, train_data=train)
            rows.append({"model": name, "params": json.dumps(params), "seed": seed, "val ndcg@10": result["ndcg@10"],
                         "val recall@10": result["recall@10"], "seconds": seconds})
    return pd.DataFrame(rows)


def choose(search_rows: pd.DataFrame) -> pd.DataFrame:
    """The configuration with the best mean validation nDCG@10 over the seeds, per model (ties: the first)."""
    mean = (search_rows.groupby(["model", "params"], sort=False)
            .agg(val=("val ndcg@10", "mean"), val_std=("val ndcg@10", "std"), n=("seed", "nunique")).reset_index())
    mean = mean[mean["n"] == len(SEEDS)]
    return mean.loc[mean.groupby("model", sort=False)["val"].idxmax()].set_index("model")


def test_once(name: str, params: dict, device: str) -> pd.DataFrame:
    """The chosen configuration on each seed's test part, fitted on train + validation: one row per seed."""
    from course_utils import Evaluator

    cls_name, _, _ = specs()[name]
    rows = []
    for seed in SEEDS:
        train, val, test = _splits(seed, name == "SASRec")
        model = _make(cls_name, params, seed, device)
        start = time.perf_counter()
        if name == "SASRec":
            model.fit(train)
            seconds = time.perf_counter() - start
            model.set_histories(pd.concat([train, val]))
            seen = pd.concat([train, val])
            full = Evaluator(metrics=["hit_rate", "ndcg"], k_values=[10]).evaluate(model, test, train_data=seen)
            sampled = Evaluator(metrics=["hit_rate", "ndcg"], k_values=[10]).evaluate(
                model, test, train_data=seen, protocol="sampled", n_negatives=100, random_state=seed)
            metrics = {"hit_rate@10": full["hit_rate@10"], "ndcg@10": full["ndcg@10"],
                       "sampled hit_rate@10": sampled["hit_rate@10"], "sampled ndcg@10": sampled["ndcg@10"]}
        else:
            both = pd.concat([train, val], ignore_index=True)
            model.fit(both)
            seconds = time.perf_counter() - start
            metrics = Evaluator(metrics=["map", "ndcg", "precision", "recall"], k_values=[10]).evaluate(
                model, test, train_data=both).metrics()
        rows.append({"model": name, "params": json.dumps(params), "seed": seed, **metrics, "train s": seconds})
    return pd.DataFrame(rows)


def _old_defaults(name: str) -> dict:
    """The model's current default of every parameter its grid varies (what the search may change)."""
    import course_utils

    cls_name, grid, _ = specs()[name]
    defaults = getattr(course_utils, cls_name)().get_params()
    return {k: defaults[k] for k in dict.fromkeys(k for params in grid for k in params)}


def _merge(path: Path, new: pd.DataFrame, models) -> pd.DataFrame:
    if path.exists():
        old = pd.read_csv(path)
        new = pd.concat([old[~old["model"].isin(models)], new], ignore_index=True)
    order = {m: i for i, m in enumerate(specs())}
    new = new.sort_values("model", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    new.to_csv(path, index=False, float_format="%.6g")
    return new


def _fmt(params: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def render(logs: Path = LOGS) -> str:
    """The README table: chosen defaults, their validation score against the old defaults', and the test numbers."""
    search_rows, test_rows = pd.read_csv(logs / "search.csv"), pd.read_csv(logs / "test.csv")
    chosen = choose(search_rows)
    lines = ["| model | default chosen on validation | val nDCG@10 (3 seeds) | test MAP@10 | test nDCG@10 | "
             "test precision@10 | test recall@10 | training s (2-core CPU) |", "|---|---|---|---|---|---|---|---|"]
    sequential = []
    for name in [m for m in specs() if m in chosen.index]:
        rows = test_rows[test_rows["model"] == name]
        params = json.loads(chosen.loc[name, "params"])
        val = f"{chosen.loc[name, 'val']:.4f} ± {chosen.loc[name, 'val_std']:.4f}"

        def cell(col, rows=rows):
            return f"{rows[col].mean():.4f} ± {rows[col].std(ddof=1):.4f}"

        if name == "SASRec":
            sequential.append(f"SASRec ({_fmt(params)}; leave-one-out in time, 3 model seeds): validation nDCG@10 "
                              f"{val}; test full-ranking HR@10 {cell('hit_rate@10')}, nDCG@10 {cell('ndcg@10')}; the "
                              f"paper's sampled protocol (100 negatives) HR@10 {cell('sampled hit_rate@10')}, NDCG@10 "
                              f"{cell('sampled ndcg@10')}; {rows['train s'].mean():.0f} s of training.")
            continue
        lines.append(f"| {name} | {_fmt(params)} | {val} | {cell('map@10')} | {cell('ndcg@10')} | "
                     f"{cell('precision@10')} | {cell('recall@10')} | {rows['train s'].mean():.1f} |")
    text = "\n".join(lines)
    if sequential:
        text += "\n\n" + "\n".join(sequential)
    return text


def write_readmes(logs: Path = LOGS, paths=READMES) -> None:
    table = render(logs)
    for path in paths:
        text = path.read_text()
        if BEGIN not in text or END not in text:
            raise SystemExit(f"{path} has no defaults markers ({BEGIN!r} ... {END!r})")
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        path.write_text(f"{head}{BEGIN}\n{table}\n{END}{tail}")
        print(f"rewrote the defaults table of {path}")


def run(args) -> list[dict]:
    names = args.models or list(specs())
    unknown = sorted(set(names) - set(specs()))
    if unknown:
        raise SystemExit(f"--models: unknown {unknown}; choose from {list(specs())}")
    if args.render:
        write_readmes(args.logs)
        return []
    rows = []
    for name in names:
        start = time.perf_counter()
        found = search(name, args.device)
        search_rows = _merge(args.logs / "search.csv", found, [name])
        chosen = choose(search_rows[search_rows["model"] == name]).loc[name]
        params = json.loads(chosen["params"])
        old = _old_defaults(name)
        old_key = [p for p in search_rows.loc[search_rows["model"] == name, "params"].unique()
                   if {k: json.loads(p).get(k, v) for k, v in old.items()} == old]
        old_val = (search_rows[(search_rows["model"] == name) & (search_rows["params"].isin(old_key))]
                   .groupby("params")["val ndcg@10"].mean())
        print(f"\n{name}: chosen {params} (val nDCG@10 {chosen['val']:.4f} ± {chosen['val_std']:.4f}); old defaults "
              f"{old}: {', '.join(f'{v:.4f}' for v in old_val) or 'not in the grid'}", flush=True)
        tested = test_once(name, params, args.device)
        _merge(args.logs / "test.csv", tested, [name])
        metrics = tested.drop(columns=["model", "params", "seed", "train s"])
        print(tested.to_string(index=False, float_format=lambda x: f"{x:.4f}"), flush=True)
        rows.append({"settings": f"{name} defaults chosen on validation (ML-100K, seeds {list(SEEDS)}): {_fmt(params)}; "
                                 f"old {_fmt(old)}",
                     "metrics": {"val ndcg@10": round(float(chosen["val"]), 4),
                                 **{f"test {k}": f"{metrics[k].mean():.4f} ± {metrics[k].std(ddof=1):.4f}"
                                    for k in metrics}},
                     "total s": time.perf_counter() - start})
    write_readmes(args.logs)
    print(render(args.logs))
    return rows
