"""One study, many workers: Optuna's relational storage shared by processes on one machine or many.

    python -m course_utils.tuning worker --storage sqlite:///study.db --study gmf --model gmf --trials 8
    python -m course_utils.tuning worker --storage postgresql+psycopg://user:pw@db-host/optuna --study gmf ...
    python -m course_utils.tuning report --storage sqlite:///study.db --study gmf --plots plots/

Start the worker command as many times as you like, on as many machines as can reach the storage: each one opens the
same study, asks Optuna for a trial, trains, reports, and asks again. Optuna does the coordination in the database
(a trial is handed to one worker only); nothing here schedules anything. What a worker adds to ``optuna_objective``:

- the data: a validation split carved out of the training split (the test split is held out and never read);
- a search space per course model (``SPACES``; GMF's is chapter 6's exercise 6.3);
- a pruner that reads every worker's intermediate values from the storage, so a trial on one machine is pruned by
  the trials other machines reported (MedianPruner);
- heartbeats: a worker killed in the middle of a trial (a lost machine, an OOM kill) leaves the trial RUNNING; with
  ``heartbeat_interval`` set, another worker marks it FAIL after ``grace_period`` and re-queues its parameters once
  (``RetryHeartbeatStaleTrialCallback``), so no trial is lost;
- the study's setup (model, dataset, metric, seed) recorded in the study, so that a worker started with other
  settings on the same study stops with an error instead of mixing incomparable trials.

SQLite works for several processes on ONE machine (it locks the whole file for each write; Optuna's documentation
advises against it for heavy parallel use and over network file systems). For many machines use PostgreSQL (or
MySQL): ``postgresql+psycopg://USER:PASSWORD@HOST:5432/DATABASE``.
"""
from __future__ import annotations

import argparse
import os
import random
import socket
import sys
import time

import pandas as pd

from .._validation import check_int

# ---------------------------------------------------------------------------- search spaces


def gmf_space(trial) -> dict:
    """Chapter 6's exercise 6.3: GMF's embedding size, learning rate and negatives per positive."""
    return {"embedding_dim": trial.suggest_int("embedding_dim", 8, 64, log=True),
            "learning_rate": trial.suggest_float("learning_rate", 1e-4, 3e-2, log=True),
            "n_negatives": trial.suggest_int("n_negatives", 1, 8)}


def mlp_space(trial) -> dict:
    """NCF's MLP tower: the width of its first layer (halved per layer), dropout, learning rate, negatives."""
    width = trial.suggest_categorical("width", [32, 64, 128])
    return {"hidden_layers": (width, width // 2, width // 4),
            "dropout": trial.suggest_float("dropout", 0.0, 0.5),
            "learning_rate": trial.suggest_float("learning_rate", 1e-4, 3e-2, log=True),
            "n_negatives": trial.suggest_int("n_negatives", 1, 8)}


def neumf_space(trial) -> dict:
    """NeuMF: GMF's and the MLP's sizes together, dropout and learning rate."""
    return {**mlp_space(trial), "embedding_dim": trial.suggest_int("embedding_dim", 8, 64, log=True)}


def als_space(trial) -> dict:
    """Chapter 6's ALS space: factors and regularization."""
    return {"factors": trial.suggest_int("factors", 8, 128, log=True),
            "regularization": trial.suggest_float("regularization", 1e-3, 1.0, log=True)}


def sasrec_space(trial) -> dict:
    """SASRec (chapter 4): blocks, width, dropout, learning rate."""
    return {"n_layers": trial.suggest_int("n_layers", 1, 3),
            "embedding_dim": trial.suggest_categorical("embedding_dim", [32, 64, 128]),
            "dropout": trial.suggest_float("dropout", 0.0, 0.5),
            "learning_rate": trial.suggest_float("learning_rate", 3e-4, 1e-2, log=True)}


SPACES = {"gmf": gmf_space, "mlp": mlp_space, "neumf": neumf_space, "als": als_space, "sasrec": sasrec_space}
DATASETS = ("100k", "1m", "10m", "20m", "32m", "synthetic")


def make_template(model: str, epochs: int, seed: int):
    """The unfitted recommender every trial of a study clones (seeded alike: trials differ only in their parameters)."""
    from .. import ALSRecommender, NCFRecommender, SASRecRecommender

    if model in ("gmf", "mlp", "neumf"):
        return NCFRecommender(model=model, epochs=epochs, pretrain=False, device="cpu", random_state=seed, verbose=False)
    if model == "sasrec":
        return SASRecRecommender(epochs=epochs, device="cpu", random_state=seed, verbose=False)
    return ALSRecommender(random_state=seed)


def tuning_data(model: str, dataset: str = "100k", seed: int = 42, data_dir=None):
    """(fit part, validation part) as DataFrames, carved out of the training split; the test split is not returned.

    Ranking models: chapter 6's random split (20% test, then 12.5% of the rest for validation). SASRec: chapter 4's
    leave-one-out (each user's last item is test, the one before it validation). ``dataset="synthetic"``: a small
    generated log (300 users), for trying the commands in seconds.
    """
    from ..data import InteractionDataset, load_movielens, make_synthetic

    ratings = make_synthetic(seed=seed) if dataset == "synthetic" else load_movielens(dataset, data_dir=data_dir)
    if model == "sasrec":
        train, _test = InteractionDataset(ratings).split(strategy="leave_one_out")
        fit_part, val = InteractionDataset(train.data, implicit=True).split(strategy="leave_one_out")
    else:
        train, _test = InteractionDataset(ratings).split(test_size=0.2, strategy="random", seed=seed)
        fit_part, val = InteractionDataset(train.data).split(test_size=0.125, strategy="random", seed=seed)
    return fit_part.data, val.data


# ---------------------------------------------------------------------------- the study


def worker_name() -> str:
    """host:pid, recorded in every trial the worker runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


def storage_from_url(url: str, heartbeat_interval: int | None = 30, grace_period: int | None = None):
    """An Optuna RDBStorage for ``url`` (SQLite waits up to 60 s for the file lock instead of failing at once)."""
    import warnings

    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    if not isinstance(url, str) or "://" not in url:
        raise ValueError(f"The 'storage' parameter must be a database URL such as 'sqlite:///study.db' or "
                         f"'postgresql+psycopg://user:password@host/db'. Got {url!r}.")
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from sqlalchemy.exc import SQLAlchemyError

    for attempt in range(6):
        try:
            with warnings.catch_warnings():  # heartbeats are marked experimental in Optuna 5 (stable since 2.8)
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                kwargs = {} if heartbeat_interval is None else {
                    "heartbeat_interval": heartbeat_interval, "grace_period": grace_period or 4 * heartbeat_interval,
                    "heartbeat_stale_trial_callback": RetryHeartbeatStaleTrialCallback(max_retry=1)}
                return RDBStorage(url, engine_kwargs=engine_kwargs, **kwargs)
        except SQLAlchemyError as err:  # workers started together on a new database race to create its tables
            if attempt == 5 or not any(s in str(err) for s in ("already exists", "UNIQUE constraint", "duplicate key")):
                raise
            time.sleep(0.5 + random.random())


def open_study(storage, study: str, model: str, dataset: str, metric: str, seed: int, epochs: int,
               sampler_seed: int | None = None, warmup_epochs: int = 1):
    """Create the study, or join it when it exists and was created with the same setup."""
    import optuna

    setup = {"model": model, "dataset": dataset, "metric": metric, "seed": seed, "epochs": epochs}
    sampler = optuna.samplers.TPESampler(seed=sampler_seed, n_startup_trials=5)
    # MedianPruner compares with the intermediate values of every finished trial in the storage, whichever worker
    # ran it: pruning works across workers with nothing else to set up; from the first epoch on (the objective
    # never prunes at the last one: that trial is complete)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=warmup_epochs)
    s = optuna.create_study(storage=storage, study_name=study, direction="minimize" if metric in ("rmse", "mse", "mae")
                            else "maximize", sampler=sampler, pruner=pruner, load_if_exists=True)
    recorded = {k: s.user_attrs.get(k) for k in setup}
    if all(v is None for v in recorded.values()):
        for k, v in setup.items():
            s.set_user_attr(k, v)
    elif recorded != setup:
        differs = {k: (recorded[k], setup[k]) for k in setup if recorded[k] != setup[k]}
        raise ValueError(f"The study {study!r} in this storage was created with {recorded}; this worker was started "
                         f"with {setup}. Different settings ({', '.join(f'{k}: {a!r} vs {b!r}' for k, (a, b) in differs.items())}) "
                         f"make its trials incomparable: start the worker with the study's settings or name a new study.")
    return s


def run_worker(storage: str, study: str, model: str = "gmf", trials: int = 8, dataset: str = "100k",
               metric: str = "ndcg@10", epochs: int = 8, seed: int = 42, study_trials: int | None = None,
               timeout: float | None = None, sampler_seed: int | None = None, heartbeat_interval: int | None = 30,
               data_dir=None, progress: bool = False):
    """Run up to ``trials`` trials of ``study`` in this process; other workers may run the same study at once.

    study_trials: stop as soon as the study holds this many finished trials (all workers together; workers that are
    mid-trial at that moment still finish theirs, so it may end with up to workers - 1 more).
    Returns the study.
    """
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    from . import optuna_objective

    if model not in SPACES:
        raise ValueError(f"The 'model' parameter of the tuning worker must be one of {sorted(SPACES)}. Got {model!r}.")
    if dataset not in DATASETS:
        raise ValueError(f"The 'dataset' parameter of the tuning worker must be one of {list(DATASETS)}. Got {dataset!r}.")
    check_int(trials, "trials", "the tuning worker", min_value=1)
    check_int(epochs, "epochs", "the tuning worker", min_value=1)
    if study_trials is not None:
        check_int(study_trials, "study_trials", "the tuning worker", min_value=1)
    s = open_study(storage_from_url(storage, heartbeat_interval) if isinstance(storage, str) else storage, study, model,
                   dataset, metric, seed, epochs, sampler_seed)
    fit_part, val = tuning_data(model, dataset, seed, data_dir)
    objective = optuna_objective(make_template(model, epochs, seed), SPACES[model], fit_part, val, metric=metric,
                                 prune_last_epoch=False)
    me = worker_name()

    def tagged(trial):
        trial.set_user_attr("worker", me)
        return objective(trial)

    finished = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    callbacks = [MaxTrialsCallback(study_trials, states=finished)] if study_trials else []
    s.optimize(tagged, n_trials=trials, timeout=timeout, callbacks=callbacks, show_progress_bar=progress)
    return s


# ---------------------------------------------------------------------------- the report


def trial_table(study) -> pd.DataFrame:
    """One row per trial: number, state, value, the worker, seconds, epochs trained and the parameters."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        rows.append({"trial": t.number, "state": t.state.name, "value": t.value,
                     "worker": t.user_attrs.get("worker"), "seconds": t.user_attrs.get("seconds"),
                     "epochs": t.user_attrs.get("epochs"), **t.params})
    return pd.DataFrame(rows).set_index("trial") if rows else pd.DataFrame()


def best_row(table: pd.DataFrame, direction: str):
    """The complete trial with the best value in a trial table (the check that Optuna's best_trial agrees)."""
    done = table[table["state"] == "COMPLETE"]
    if done.empty:
        return None
    return done["value"].idxmax() if direction == "maximize" else done["value"].idxmin()


def plot_study(study, metric: str | None = None):
    """Two panels: every trial's value by trial number (colour: the worker, marker: complete or pruned; the best so
    far as a line), and the seconds each trial took (the same colours)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    from ..plotting import add_hatches

    table = trial_table(study).reset_index()
    metric = metric or study.user_attrs.get("metric", "value")
    maximize = study.direction.name == "MAXIMIZE"
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    done = table[table["state"] == "COMPLETE"]
    workers = sorted(table["worker"].dropna().unique())
    palette = dict(zip(workers, sns.color_palette("colorblind", len(workers)), strict=True))  # one colour per worker
    states = [s for s in ["COMPLETE", "PRUNED", "FAIL"] if s in set(table["state"])]
    sns.scatterplot(data=table[table["value"].notna()], x="trial", y="value", hue="worker", style="state",
                    style_order=states, palette=palette, s=70, ax=axes[0])
    if len(done):
        best = done.set_index("trial")["value"].cummax() if maximize else done.set_index("trial")["value"].cummin()
        axes[0].step(best.index, best.values, where="post", color="black", marker="", label="best so far")
    axes[0].set(title=f"Study {study.study_name!r}: {len(table)} trials", xlabel="trial number",
                ylabel=f"validation {metric} ({'higher' if maximize else 'lower'} is better)")
    axes[0].legend()
    axes[0].xaxis.get_major_locator().set_params(integer=True)
    sns.barplot(data=table, x="trial", y="seconds", hue="worker", palette=palette, dodge=False, ax=axes[1])
    add_hatches(axes[1])  # each worker its own hatch as well as its own colour
    axes[1].set(title="Seconds per trial, by worker (pruned trials stop early)", xlabel="trial number", ylabel="seconds")
    if len(table) > 20:  # many trials: every fifth label
        for k, label in enumerate(axes[1].get_xticklabels()):
            label.set_visible(k % 5 == 0)
    axes[1].legend()
    fig.tight_layout()
    return fig


def report(storage: str, study: str, plots=None, out=sys.stdout) -> pd.DataFrame:
    """Print the best trial, the counts by state and by worker, and the trial table; save the plots to ``plots``."""
    import optuna

    st = storage_from_url(storage, heartbeat_interval=None) if isinstance(storage, str) else storage
    try:
        s = optuna.load_study(study_name=study, storage=st)
    except KeyError as err:
        names = [x.study_name for x in optuna.get_all_study_summaries(st)]
        raise ValueError(f"The 'study' parameter: no study named {study!r} in this storage; it holds {names}.") from err
    table = trial_table(s)
    print(f"study {study!r}: {len(table)} trials, direction {s.direction.name.lower()}, setup {dict(s.user_attrs)}",
          file=out)
    if table.empty:
        return table
    print("by state: " + ", ".join(f"{k} {v}" for k, v in table["state"].value_counts().items()), file=out)
    print("by worker: " + ", ".join(f"{k} {v}" for k, v in table["worker"].value_counts().items()), file=out)
    best = best_row(table, s.direction.name.lower())
    if best is None:
        print("no complete trial yet", file=out)
    else:
        b = s.best_trial
        print(f"best trial: #{b.number} value {b.value:.4f} by {b.user_attrs.get('worker')} with {b.params}", file=out)
    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.max_rows", 200):
        print(table.round(4).to_string(), file=out)
    if plots is not None:
        import matplotlib.pyplot as plt

        os.makedirs(plots, exist_ok=True)
        fig = plot_study(s)
        path = os.path.join(plots, f"{study}.png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        print(f"plot: {path}", file=out)
    return table


# ---------------------------------------------------------------------------- command line


def add_commands(sub) -> None:
    w = sub.add_parser("worker", help="run trials of a shared study (start as many as you like)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    w.add_argument("--storage", required=True, help="database URL: sqlite:///study.db or postgresql+psycopg://...")
    w.add_argument("--study", required=True, help="the study's name (created by the first worker)")
    w.add_argument("--model", default="gmf", choices=sorted(SPACES))
    w.add_argument("--trials", type=int, default=8, help="trials this worker runs (default 8)")
    w.add_argument("--study-trials", type=int, default=None,
                   help="stop when the study holds this many finished trials, all workers together")
    w.add_argument("--dataset", default="100k", choices=DATASETS)
    w.add_argument("--metric", default="ndcg@10")
    w.add_argument("--epochs", type=int, default=8, help="epochs per trial before pruning (default 8)")
    w.add_argument("--seed", type=int, default=42, help="the split's and the models' seed (the same in every worker)")
    w.add_argument("--sampler-seed", type=int, default=None,
                   help="TPE's seed (default: random; give each worker its own, never the same one)")
    w.add_argument("--timeout", type=float, default=None, help="stop starting trials after this many seconds")
    w.add_argument("--heartbeat", type=int, default=30,
                   help="seconds between heartbeats; a trial whose worker died is retried (0: off)")
    r = sub.add_parser("report", help="the best trial, the trial table and the plots of a study")
    r.add_argument("--storage", required=True)
    r.add_argument("--study", required=True)
    r.add_argument("--plots", default=None, help="a folder to save the study's plot into (PNG)")


def run_command(args) -> int:
    if args.command == "worker":
        start = time.perf_counter()
        s = run_worker(args.storage, args.study, model=args.model, trials=args.trials, dataset=args.dataset,
                       metric=args.metric, epochs=args.epochs, seed=args.seed, study_trials=args.study_trials,
                       timeout=args.timeout, sampler_seed=args.sampler_seed,
                       heartbeat_interval=args.heartbeat or None, progress=sys.stderr.isatty())
        mine = [t for t in s.get_trials(deepcopy=False) if t.user_attrs.get("worker") == worker_name()]
        states = pd.Series([t.state.name for t in mine]).value_counts().to_dict()
        print(f"worker {worker_name()}: {len(mine)} trials ({states}) in {time.perf_counter() - start:.1f} s; "
              f"the study holds {len(s.trials)}")
        return 0
    report(args.storage, args.study, plots=args.plots)
    return 0
