"""Scaling up: tuning trials per minute with 1 and 2 workers (SQLite, PostgreSQL), torchrun sequences per second
with 1 and 2 processes, and data generation, loading and evaluation time and peak memory at 100K, 1M, 10M rows.

    python -m benchmarks run scale                          # everything (about 15 minutes on the 2-core CPU)
    python -m benchmarks run scale --parts tuning torchrun  # a subset
    python -m benchmarks run scale --device cuda            # torchrun on the GPUs (one process per GPU), NCCL

tuning: the same study budget (--trials in all, GMF on ML-100K, --tuning-epochs epochs per trial, MedianPruner)
run by 1 worker, then split between 2 worker processes (each with cores / workers torch threads), on SQLite and on
a throwaway PostgreSQL server (course_utils.tuning.postgres; skipped with a note where PostgreSQL is not installed).
Wall time from the workers' start (interpreter and data loading included) to the last one's end.
torchrun: SASRec on ML-100K, --torchrun-epochs epochs, 1 and 2 processes (gloo, 1 thread each under torchrun; the
single process gets all cores); training sequences per second (validation excluded, after the first epoch), and the
final validation nDCG@10.
--seeds N repeats the single process over N seeds for the spread the 2-process quality is compared with.
data: each size in a fresh process (its peak resident memory is that size's): make_synthetic(like=...), writing and
reading the log back as CSV with the course's loader's reader, a split, a popularity model and an ALS fit, and
full-ranking evaluation of ALS (nDCG/recall/hit rate at 10 over every test user).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("tuning", "torchrun", "data")


def add_arguments(parser) -> None:
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    parser.add_argument("--trials", type=int, default=8, help="trials per study (all workers together)")
    parser.add_argument("--tuning-epochs", type=int, default=3)
    parser.add_argument("--torchrun-epochs", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=1, help="single-process SASRec runs over this many seeds")
    parser.add_argument("--sizes", nargs="+", default=["100k", "1m", "10m"])


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _env(threads: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONPATH=str(ROOT))
    env.pop("COURSE_UTILS_PROGRESS", None)
    return env


def study_wall_time(url: str, study: str, workers: int, trials: int, epochs: int) -> tuple[float, object]:
    import optuna

    per = [trials // workers + (1 if i < trials % workers else 0) for i in range(workers)]
    threads = max(1, _cores() // workers)
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "course_utils.tuning", "worker", "--storage", url, "--study", study,
                               "--model", "gmf", "--dataset", "100k", "--epochs", str(epochs), "--trials", str(n),
                               "--sampler-seed", str(i), "--heartbeat", "0"],
                              env=_env(threads), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i, n in enumerate(per)]
    for p in procs:
        out, err = p.communicate()
        if p.returncode:
            raise RuntimeError(f"a tuning worker failed:\n{out}\n{err[-3000:]}")
    seconds = time.perf_counter() - start
    return seconds, optuna.load_study(study_name=study, storage=url)


def tuning_rows(args) -> list[dict]:
    import contextlib

    from course_utils.tuning.postgres import PostgresUnavailable, throwaway_postgres
    from course_utils.tuning.workers import trial_table

    rows = []
    work = Path(tempfile.mkdtemp(prefix="scale-tuning-"))
    storages = [("SQLite", contextlib.nullcontext(f"sqlite:///{work / 'studies.db'}")), ("PostgreSQL", None)]
    for name, given in storages:
        try:
            with given or throwaway_postgres() as url:
                for workers in (1, 2):
                    seconds, study = study_wall_time(url, f"gmf-{workers}", workers, args.trials, args.tuning_epochs)
                    table = trial_table(study)
                    states = table["state"].value_counts().to_dict()
                    per_min = len(table) * 60 / seconds
                    print(f"{name}, {workers} worker(s): {len(table)} trials {states} in {seconds:.1f} s = "
                          f"{per_min:.2f} trials/min; best {study.best_value:.4f}", flush=True)
                    rows.append({"settings": f"Optuna study on {name}, {workers} worker process(es), GMF on ML-100K, "
                                             f"{args.trials} trials x up to {args.tuning_epochs} epochs, MedianPruner",
                                 "metrics": {"trials/min": per_min, "complete": states.get("COMPLETE", 0),
                                             "pruned": states.get("PRUNED", 0), "best ndcg@10": study.best_value},
                                 "total s": seconds})
        except PostgresUnavailable as err:
            print(f"PostgreSQL skipped: {err}", flush=True)
    return rows


def torchrun_once(nproc: int, epochs: int, seed: int, device: str, work: Path) -> dict:
    out = work / f"run-{nproc}-{seed}.json"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           "-m", "course_utils.distributed", "train", "--model", "sasrec", "--dataset", "100k", "--epochs", str(epochs),
           "--seed", str(seed), "--device", device, "--no-test", "--json", str(out)]
    threads = max(1, _cores() // nproc)
    result = subprocess.run(cmd, env=_env(threads), capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"torchrun failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    run = json.loads(out.read_text())
    train = run["train_seconds"][1:] or run["train_seconds"]  # training only, after the first (warm-up) epoch
    run["sequences/s"] = run["windows"] / (sum(train) / len(train))
    run["ndcg@10"] = run["history"][-1]["ndcg@10"]
    return run


def torchrun_rows(args) -> list[dict]:
    import statistics

    import torch

    work = Path(tempfile.mkdtemp(prefix="scale-torchrun-"))
    device = "cuda" if str(args.device).startswith("cuda") else "cpu"
    counts = [1, 2] if device == "cpu" else sorted({1, torch.cuda.device_count()})
    rows = []
    for nproc in counts:
        seeds = range(42, 42 + (args.seeds if nproc == 1 else 1))
        runs = [torchrun_once(nproc, args.torchrun_epochs, s, device, work) for s in seeds]
        speed = statistics.median(r["sequences/s"] for r in runs)
        quality = [r["ndcg@10"] for r in runs]
        spread = {"val ndcg@10": quality[0]} if len(quality) == 1 else {
            "val ndcg@10 mean": statistics.mean(quality), "sd": statistics.stdev(quality), "seeds": len(quality)}
        print(f"torchrun {nproc} process(es) on {device}: {speed:,.0f} sequences/s, {spread}", flush=True)
        rows.append({"settings": f"torchrun --nproc-per-node={nproc}, SASRec on ML-100K (course defaults), "
                                 f"{args.torchrun_epochs} epochs, {'gloo' if device == 'cpu' else 'nccl'}, "
                                 f"{runs[0]['threads']} thread(s) per process",
                     "metrics": {"sequences/s": speed, **spread},
                     "s/epoch": runs[0]["windows"] / speed, "total s": sum(r["seconds"] for r in runs)})
        if nproc == 1 and len(quality) > 1:
            single_sd = spread["sd"]
            print(f"single-process seed spread of validation nDCG@10: sd {single_sd:.4f}", flush=True)
    return rows


def data_probe(like: str) -> dict:
    """One size, in this (fresh) process: seconds of each step and this process's peak resident memory."""
    import resource

    import numpy as np

    from course_utils import ALSRecommender, Evaluator, InteractionDataset, PopularityRecommender, make_synthetic
    from course_utils.data.movielens import read_ratings_csv

    out, t = {"like": like}, time.perf_counter()
    log = make_synthetic(like=like, seed=0)
    out["rows"], out["users"], out["items"] = len(log), int(log["user_id"].nunique()), int(log["item_id"].nunique())
    out["generate s"] = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ratings.csv"
        log.rename(columns={"user_id": "userId", "item_id": "movieId"}).to_csv(path, index=False)
        t = time.perf_counter()
        back = read_ratings_csv(path)
        out["load s"] = time.perf_counter() - t
        assert len(back) == len(log)
        del back
    t = time.perf_counter()
    train, test = InteractionDataset(log, implicit=True).split(test_size=0.2, strategy="random", seed=0)
    out["split s"] = time.perf_counter() - t
    t = time.perf_counter()
    PopularityRecommender().fit(train)
    out["popularity fit s"] = time.perf_counter() - t
    t = time.perf_counter()
    als = ALSRecommender(factors=32, iterations=5, random_state=0).fit(train)
    out["als fit s"] = time.perf_counter() - t
    t = time.perf_counter()
    result = Evaluator(metrics=["ndcg", "recall", "hit_rate"], k_values=[10]).evaluate(als, test, train_data=train)
    out["evaluate s"] = time.perf_counter() - t
    out["eval users"] = int(test.data["user_id"].nunique())
    out["ndcg@10"] = float(result["ndcg@10"])
    out["peak MB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes
    out["rows/s generated"] = float(np.round(out["rows"] / out["generate s"]))
    return out


def data_rows(args) -> list[dict]:
    rows = []
    for like in args.sizes:
        result = subprocess.run([sys.executable, "-m", "benchmarks.scale", "probe", like], env=_env(_cores()),
                                capture_output=True, text=True, cwd=ROOT)
        if result.returncode:
            raise RuntimeError(f"the data probe for {like} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
        probe = json.loads(result.stdout.strip().splitlines()[-1])
        print(probe, flush=True)
        steps = ["generate s", "load s", "split s", "als fit s", "evaluate s"]
        rows.append({"settings": f"synthetic log like ML-{like.upper()}: {probe['rows']:,} rows, {probe['users']:,} users, "
                                 f"{probe['items']:,} items; ALS 32 factors 5 iterations; full-ranking evaluation of "
                                 f"{probe['eval users']:,} users at k=10; peak = the process's max RSS",
                     "metrics": {**{k: probe[k] for k in steps}, "peak MB": probe["peak MB"], "ndcg@10": probe["ndcg@10"]},
                     "total s": sum(probe[k] for k in steps)})
    return rows


def run(args) -> list[dict]:
    rows = []
    if "tuning" in args.parts:
        rows += tuning_rows(args)
    if "torchrun" in args.parts:
        rows += torchrun_rows(args)
    if "data" in args.parts:
        rows += data_rows(args)
    return rows


if __name__ == "__main__" and sys.argv[1:2] == ["probe"]:
    print(json.dumps(data_probe(sys.argv[2])))
