"""Keras Tuner's distributed mode (one chief, several workers) for the chapter 1 model, on one machine or several.

Keras Tuner runs a search distributed when three environment variables are set in every process:

    KERASTUNER_TUNER_ID     "chief" for the process that holds the oracle, "tuner0", "tuner1", ... for the workers
    KERASTUNER_ORACLE_IP    where the chief listens (127.0.0.1 on one machine)
    KERASTUNER_ORACLE_PORT  the port it listens on

The chief serves the oracle over gRPC and trains nothing; every worker builds the same tuner (same ``directory`` and
``project_name``: one folder, shared) and pulls trials from the chief until the chief answers STOPPED (``max_trials``
reached). The oracle's records (``oracle.json``, ``trial_*/trial.json``) are written by the chief; the workers write
their checkpoints into the same trial folders.

    python -m course_utils.tuning keras-local --workers 2 --max-trials 4 --epochs 2      # chief + 2 workers, localhost
    KERASTUNER_TUNER_ID=chief KERASTUNER_ORACLE_IP=10.0.0.1 KERASTUNER_ORACLE_PORT=8000 \\
        python -m course_utils.tuning keras-worker --directory /shared/kt --workers 2     # one participant per machine

The search is chapter 6's: exercise 6.1's space (``build_hypermodel``: embedding size, first hidden layer, dropout,
learning rate on a log scale) on chapter 1's Keras model, RandomSearch minimizing ``val_loss`` (the validation MSE;
we also report its root, the RMSE), batch 1024. The validation split is carved out of the training data exactly as
chapter 6 carves it (80/20 random split, then 1/8 of the training part); the test split is never loaded into the
search. ``dataset="synthetic"`` (the course's offline synthetic log, small) makes a search fast enough for tests.

How the chief stops. Keras Tuner's own chief loop (``keras_tuner.src.distribute.oracle_chief.start_server``) checks
once a second whether some worker was told STOPPED, then polls ``exit_chief`` (no trial running, every worker that
ever asked for a trial told to stop) with a hard-coded ``time.sleep(20)``, and never stops its gRPC server: a chief
outlives the last trial by up to 20 s, and there is no configuration constant for it (``keras_tuner.config`` holds
only DEBUG). So this module's chief does not call ``tuner.search()``: it does what ``search()`` does on a chief
(``tuner.save()``, then serve ``oracle_chief.OracleServicer``), with keras_tuner's own servicer and ``exit_chief``
test, polled every 0.25 s, and then stops the server. Three additions (``_chief_servicer``):
- a start barrier: given ``workers=N``, the first trial goes out once N workers have asked (or ``join_timeout``
  seconds after the chief started serving); until then an asking worker gets an IDLE trial and asks again (Keras Tuner's protocol
  for "wait"). Without it the first worker to start can run the whole search before a slower one has imported
  TensorFlow, and that one then waits for a chief that is gone (up to ``oracle_client.TIMEOUT``, 1 hour);
- the chief also waits until the N workers were told STOPPED (unless ``join_timeout`` has passed), for the same
  reason: a worker that asks after the chief is gone waits for it;
- it records which worker ran which trial (the trial records of Keras Tuner do not say) in ``chief_summary.json``.
Workers use Keras Tuner's ``search()`` unchanged; each appends a line per trial it ran to
``<project>/participants/<tuner_id>.jsonl``.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from .._validation import check_choice, check_int, check_positive

ENV_TUNER_ID = "KERASTUNER_TUNER_ID"
ENV_ORACLE_IP = "KERASTUNER_ORACLE_IP"
ENV_ORACLE_PORT = "KERASTUNER_ORACLE_PORT"
ENV_PARENT_PID = "COURSE_UTILS_KT_PARENT_PID"  # set by launch_local: a participant exits when its launcher is gone
DATASETS = ("synthetic", "100k")
BATCH_SIZE = 1024  # chapter 6's
OBJECTIVE = "val_loss"  # the validation MSE, minimized (chapter 6)
SUMMARY_FILE = "chief_summary.json"
PARTICIPANTS_DIR = "participants"
LOGS_DIR = "logs"
POLL_SECONDS = 0.25  # the chief's exit poll (Keras Tuner's: 20 s)
IDLE_SECONDS = 0.2  # how long the chief holds an IDLE answer before the worker asks again (no busy loop)
_WORKER_ID = re.compile(r"^tuner\d+$")
# TensorFlow's start-up chatter (it ignores TF_CPP_MIN_LOG_LEVEL for these): kept in the logs, not echoed
_TF_NOISE = re.compile(r"^(WARNING: All log messages before absl|I0000 |To enable the following instructions)")


class RoleError(RuntimeError):
    """The KERASTUNER_* variables do not describe a participant (one missing, a bad id or port)."""


# --------------------------------------------------------------------------------------------------- role and data
@dataclass(frozen=True)
class Role:
    """One participant's place in a distributed search, as the KERASTUNER_* variables say it."""

    tuner_id: str
    ip: str
    port: int

    @property
    def is_chief(self) -> bool:
        return self.tuner_id == "chief"

    def environ(self) -> dict[str, str]:
        return {ENV_TUNER_ID: self.tuner_id, ENV_ORACLE_IP: self.ip, ENV_ORACLE_PORT: str(self.port)}


def read_role(env: Mapping[str, str] | None = None) -> Role:
    """The participant's role from KERASTUNER_TUNER_ID / KERASTUNER_ORACLE_IP / KERASTUNER_ORACLE_PORT (default: os.environ).

    All three must be set: "chief" or "tuner<N>" as the id, a host, a port in 1..65535. Anything else is an error
    that names the variable: Keras Tuner itself would run a lone, non-distributed search when the IP is missing, and
    treat every id that merely contains "chief" as a chief.
    """
    env = os.environ if env is None else env
    names = (ENV_TUNER_ID, ENV_ORACLE_IP, ENV_ORACLE_PORT)
    missing = [name for name in names if not env.get(name, "").strip()]
    if len(missing) == len(names):
        raise RoleError(f"A distributed Keras Tuner participant reads its role from the environment, and none of "
                           f"{', '.join(names)} is set. Set all three ({ENV_TUNER_ID}=chief on the oracle's process, "
                           f"tuner0, tuner1, ... on the workers), or run `keras-local` to start them all on this machine.")
    if missing:
        present = [name for name in names if name not in missing]
        raise RoleError(f"{', '.join(present)} {'is' if len(present) == 1 else 'are'} set but {', '.join(missing)} "
                           f"{'is' if len(missing) == 1 else 'are'} not: a distributed Keras Tuner participant needs all "
                           f"of {', '.join(names)}.")
    tuner_id, ip, port_text = (env[name].strip() for name in names)
    if tuner_id != "chief" and not _WORKER_ID.match(tuner_id):
        raise RoleError(f"{ENV_TUNER_ID} must be 'chief' (the oracle) or 'tuner<N>' (a worker, e.g. 'tuner0'). "
                           f"Got {tuner_id!r}" + (" (Keras Tuner would treat it as a chief)." if "chief" in tuner_id else "."))
    try:
        port = int(port_text)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise RoleError(f"{ENV_ORACLE_PORT} must be a port number in 1..65535. Got {port_text!r}.")
    return Role(tuner_id, ip, port)


def load_tuning_data(dataset: str = "synthetic", seed: int = 42) -> dict:
    """Chapter 6's training and validation arrays for the chapter 1 Keras model; the test part is dropped here.

    Split as chapter 6 splits MovieLens 100K: ``split(test_size=0.2, strategy="random", seed)`` for train/test, then
    1/8 of the training part as validation. Validation ratings of a user or item unseen in the fit part have no
    embedding and are left out (counted in ``n_val_dropped``). dataset "synthetic": ``make_synthetic(seed=seed)``,
    300 users x 200 items, about 9,000 ratings (offline, fast).
    """
    import numpy as np
    import pandas as pd

    from ..data import InteractionDataset, load_movielens, make_synthetic
    from ..models.keras_mlp import keras_rating_inputs

    check_choice(dataset, "dataset", DATASETS, "load_tuning_data")
    check_int(seed, "seed", "load_tuning_data", min_value=0)
    ratings = load_movielens("100k") if dataset == "100k" else make_synthetic(seed=seed)
    train, _test = InteractionDataset(ratings).split(test_size=0.2, strategy="random", seed=seed)
    del _test  # tuning never sees it
    fit_part, val = InteractionDataset(train.data).split(test_size=0.125, strategy="random", seed=seed)
    users = pd.Index(np.sort(fit_part.data["user_id"].unique()))
    items = pd.Index(np.sort(fit_part.data["item_id"].unique()))
    known = val.data["user_id"].isin(users) & val.data["item_id"].isin(items)
    x_fit, y_fit = keras_rating_inputs(fit_part, users, items, name="fit_part")
    x_val, y_val = keras_rating_inputs(val.data[known], users, items, name="val")
    return {"x_fit": x_fit, "y_fit": y_fit, "x_val": x_val, "y_val": y_val, "n_users": len(users),
            "n_items": len(items), "n_val_dropped": int((~known).sum())}


def build_hypermodel(n_users: int, n_items: int):
    """``build_model(hp)`` for Keras Tuner: chapter 6's search space (exercise 6.1) on chapter 1's model.

    The notebook's function is the solution of an exercise, so it lives in the notebook; this is the same space
    (and the same as benchmarks/tuner_repeats.py): embedding_dim 2..16 step 2, units 32/64/128/256 for the first
    hidden layer (the second stays 32), dropout 0.0..0.3 step 0.1, learning_rate 1e-3..1e-2 on a log scale; Adam, MSE.
    """
    from .. import frameworks
    from ..models.keras_mlp import build_keras_mlp

    check_int(n_users, "n_users", "build_hypermodel", min_value=1)
    check_int(n_items, "n_items", "build_hypermodel", min_value=1)
    keras = frameworks.keras()

    def build_model(hp):
        model = build_keras_mlp(n_users, n_items, embedding_dim=hp.Int("embedding_dim", 2, 16, step=2),
                                hidden_layers=(hp.Choice("units", [32, 64, 128, 256]), 32),
                                dropout=hp.Float("dropout", 0.0, 0.3, step=0.1))
        learning_rate = hp.Float("learning_rate", 1e-3, 1e-2, sampling="log")
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="mse")
        return model

    return build_model


# ------------------------------------------------------------------------------------------------------ participant
def _say(role: Role | str, message: str) -> None:
    name = role.tuner_id if isinstance(role, Role) else role
    print(f"[{name} {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _rmse(mse) -> float | None:
    return None if mse is None or not math.isfinite(mse) or mse < 0 else math.sqrt(mse)


def _watch_parent() -> None:
    """Exit when the launcher that set COURSE_UTILS_KT_PARENT_PID is gone (no orphan even if it was SIGKILLed).

    Linux: the kernel sends SIGTERM when the parent dies (prctl PR_SET_PDEATHSIG), even while the main thread holds
    the GIL (importing TensorFlow does, for seconds). Elsewhere, and as a fallback, a thread polls the parent's pid.
    """
    parent = os.environ.get(ENV_PARENT_PID, "")
    if not parent.isdigit():
        return
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass

    def watch():
        while True:
            if os.getppid() != int(parent):  # also catches a parent that died before prctl
                try:  # our stdout is a pipe to the dead launcher: printing may raise BrokenPipeError
                    print(f"[{os.environ.get(ENV_TUNER_ID, '?')}] the launcher (pid {parent}) is gone: exiting",
                          flush=True)
                finally:
                    os._exit(3)
            time.sleep(1.0)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


def _check_common(func, directory, project, max_trials, epochs, dataset, seed, batch_size):
    if not isinstance(directory, (str, os.PathLike)) or not str(directory):
        raise TypeError(f"The 'directory' parameter of {func} must be a path (str or Path). Got {directory!r}.")
    if not isinstance(project, str) or not project or project in (".", "..") or re.search(r"[/\\]", project):
        raise ValueError(f"The 'project' parameter of {func} must be a folder name (no path separators). Got {project!r}.")
    check_int(max_trials, "max_trials", func, min_value=1)
    check_int(epochs, "epochs", func, min_value=1)
    check_choice(dataset, "dataset", DATASETS, func)
    check_int(seed, "seed", func, min_value=0)
    check_int(batch_size, "batch_size", func, min_value=1)


def _check_participant(directory, project, max_trials, epochs, dataset, seed, batch_size, env, workers, overwrite,
                       join_timeout, rpc_timeout) -> Role:
    """Every argument check of run_participant (before TensorFlow is imported); returns the role."""
    func = "run_participant"
    _check_common(func, directory, project, max_trials, epochs, dataset, seed, batch_size)
    role = read_role(env)
    if workers is not None:
        check_int(workers, "workers", func, min_value=1)
    check_positive(join_timeout, "join_timeout", func)
    if rpc_timeout is not None:
        check_positive(rpc_timeout, "rpc_timeout", func)
    if overwrite and not role.is_chief:
        raise ValueError(f"overwrite=True on worker {role.tuner_id!r}: only the chief may reset the project folder "
                         f"(a worker doing it would delete the chief's records).")
    return role


def run_participant(directory, project: str = "ch1-mlp", max_trials: int = 4, epochs: int = 2,
                    dataset: str = "synthetic", seed: int = 42, *, env: Mapping[str, str] | None = None,
                    workers: int | None = None, batch_size: int = BATCH_SIZE, overwrite: bool = False,
                    join_timeout: float = 300.0, rpc_timeout: float | None = None) -> dict:
    """Run ONE participant of a distributed Keras Tuner search for the chapter 1 model; its role comes from ``env``.

    env: the KERASTUNER_* variables (default os.environ; see ``read_role``). Keras Tuner reads os.environ itself, so
        the three are copied there.
    directory, project: the tuner's ``directory`` / ``project_name``: the same folder for every participant.
    max_trials, seed: the chief's RandomSearch oracle (workers take trials from it). epochs, batch_size, dataset: each
        trial's training (the same on every participant).
    workers (chief only): the number of workers; the first trial goes out when that many have asked, and the chief
        exits once all of them were told to stop (both waits end ``join_timeout`` seconds after the chief started
        serving). None: Keras Tuner's behaviour
        (the first worker to ask starts; the chief exits when no trial runs and every worker seen was told to stop).
    overwrite (chief only): delete the project folder first (a worker must never: it would delete the chief's records).
        Without it a chief resumes the search recorded in the folder.
    rpc_timeout (workers): seconds each call to the chief may wait, including for the chief to come up (None: Keras
        Tuner's ``oracle_client.TIMEOUT``, one hour).
    Returns the chief's summary (trials, best trial, its hyperparameters and validation loss/RMSE, who ran what) or a
    worker's list of the trials it ran.
    """
    role = _check_participant(directory, project, max_trials, epochs, dataset, seed, batch_size, env, workers,
                              overwrite, join_timeout, rpc_timeout)
    os.environ.update(role.environ())  # Keras Tuner reads its role from os.environ
    _watch_parent()
    directory = os.path.abspath(os.fspath(directory))
    start = time.perf_counter()

    from .. import frameworks

    keras = frameworks.keras()  # TensorFlow through the course's one import point, before keras_tuner
    import keras_tuner as kt

    data = load_tuning_data(dataset, seed)
    _say(role, f"{dataset}: {len(data['y_fit']):,} training and {len(data['y_val']):,} validation ratings "
               f"({data['n_users']} users, {data['n_items']} items); chief at {role.ip}:{role.port}")
    keras.utils.set_random_seed(seed)
    build_model = build_hypermodel(data["n_users"], data["n_items"])
    tuner_class = _logged_random_search(kt) if not role.is_chief else kt.RandomSearch
    tuner = tuner_class(build_model, objective=OBJECTIVE, max_trials=max_trials, seed=seed, directory=directory,
                        project_name=project, overwrite=overwrite)
    if role.is_chief:
        summary = _serve_chief(tuner, role, workers, join_timeout)
        summary["seconds"] = round(time.perf_counter() - start, 2)
        _write_json(Path(tuner.project_dir) / SUMMARY_FILE, summary)
        _report(role, summary)
        return summary

    if rpc_timeout is not None:
        from keras_tuner.src.distribute import oracle_client

        oracle_client.TIMEOUT = rpc_timeout  # read at every call
    tuner.participant_log = Path(tuner.project_dir) / PARTICIPANTS_DIR / f"{role.tuner_id}.jsonl"
    tuner.participant_records = []
    _say(role, "asking the chief for trials")
    tuner.search(data["x_fit"], data["y_fit"], batch_size=batch_size, epochs=epochs,
                 validation_data=(data["x_val"], data["y_val"]), verbose=0)
    ran = [record["trial_id"] for record in tuner.participant_records]
    _say(role, f"told to stop by the chief after {len(ran)} trial(s) {ran} in {time.perf_counter() - start:.1f} s")
    return {"tuner_id": role.tuner_id, "trials": tuner.participant_records,
            "seconds": round(time.perf_counter() - start, 2)}


def _logged_random_search(kt):
    """kt.RandomSearch that prints each trial and appends it to ``participant_log`` (a worker's own record)."""

    class LoggedRandomSearch(kt.RandomSearch):
        participant_log: Path | None = None  # set per instance by run_participant, with participant_records

        def on_trial_begin(self, trial):
            self._trial_started, self._trial_best = time.perf_counter(), None
            _say(os.environ[ENV_TUNER_ID], f"trial {trial.trial_id} started: {_values(trial, 6)}")
            super().on_trial_begin(trial)

        def run_trial(self, trial, *args, **kwargs):
            histories = super().run_trial(trial, *args, **kwargs)
            losses = [v for h in histories for v in getattr(h, "history", {}).get(OBJECTIVE, [])]
            self._trial_best = min(losses) if losses else None
            return histories

        def on_trial_end(self, trial):
            super().on_trial_end(trial)  # reports the trial to the chief
            record = {"trial_id": trial.trial_id, "tuner_id": os.environ[ENV_TUNER_ID], "pid": os.getpid(),
                      "status": trial.status, "best_val_loss": self._trial_best,
                      "seconds": round(time.perf_counter() - self._trial_started, 2),
                      "hyperparameters": _values(trial)}
            self.participant_records.append(record)
            if self.participant_log is not None:  # its folder made now: a chief's overwrite may have removed it
                self.participant_log.parent.mkdir(parents=True, exist_ok=True)
                with open(self.participant_log, "a", encoding="utf-8") as log:
                    log.write(json.dumps(record) + "\n")
            rmse = _rmse(self._trial_best)
            _say(record["tuner_id"], f"trial {trial.trial_id} {trial.status.lower()} in {record['seconds']:.1f} s"
                 + (f": best val_loss {self._trial_best:.4f} (val RMSE {rmse:.4f})" if rmse is not None else ""))

    return LoggedRandomSearch


def _values(trial, digits: int | None = None) -> dict:
    """The trial's hyperparameter values (floats rounded to ``digits`` for printing; exact when None)."""
    return _rounded(trial.hyperparameters.values, digits)


def _rounded(values: dict, digits: int | None = 6) -> dict:
    return {k: (round(v, digits) if digits is not None and isinstance(v, float) else v) for k, v in values.items()}


def _chief_servicer(oracle, workers: int | None, join_timeout: float):
    """keras_tuner's OracleServicer with a start barrier for ``workers`` workers and a record of who ran what."""
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief
    from keras_tuner.src.engine import trial as trial_module

    class ChiefServicer(oracle_chief.OracleServicer):
        def __init__(self):
            super().__init__(oracle)
            self.started = time.monotonic()
            self.released = workers is None
            self.asked: set[str] = set()  # workers that asked for a trial
            self.stopped: set[str] = set()  # workers told STOPPED
            self.assignments: dict[str, str] = {}  # trial_id -> tuner_id (the latest run of a retried trial)
            self.lock = threading.Lock()

        def joined_or_timed_out(self) -> bool:
            return time.monotonic() - self.started >= join_timeout

        def CreateTrial(self, request, context):
            tuner_id = request.tuner_id
            with self.lock:
                self.asked.add(tuner_id)
                if not self.released and (len(self.asked) >= workers or self.joined_or_timed_out()):
                    self.released = True
                    _say("chief", f"{len(self.asked)} worker(s) asked ({', '.join(sorted(self.asked))}): handing out trials")
                released = self.released
            if not released:  # Keras Tuner's "wait and ask again"
                time.sleep(IDLE_SECONDS)
                idle = trial_module.Trial(oracle.get_space(), status=trial_module.TrialStatus.IDLE)
                return protos.get_service().CreateTrialResponse(trial=idle.to_proto())
            trial = oracle.create_trial(tuner_id)
            if trial.status == trial_module.TrialStatus.STOPPED:
                self.stop_triggered = True
                with self.lock:
                    self.stopped.add(tuner_id)
                _say("chief", f"{tuner_id}: no trial left, told to stop")
            elif trial.status == trial_module.TrialStatus.RUNNING:
                with self.lock:
                    self.assignments[trial.trial_id] = tuner_id
                _say("chief", f"trial {trial.trial_id} -> {tuner_id}: {_values(trial, 6)}")
            return protos.get_service().CreateTrialResponse(trial=trial.to_proto())

        def EndTrial(self, request, context):
            response = super().EndTrial(request, context)
            trial = oracle.get_trial(request.trial.trial_id)
            with self.lock:
                by = self.assignments.get(trial.trial_id, "?")
            score = "" if trial.score is None else f", val_loss {trial.score:.4f} (val RMSE {_rmse(trial.score):.4f})"
            _say("chief", f"trial {trial.trial_id} ended by {by}: {trial.status}{score}; "
                          f"{len(oracle.end_order)}/{oracle.max_trials} done")
            return response

    return ChiefServicer()


def _serve_chief(tuner, role: Role, workers: int | None, join_timeout: float) -> dict:
    """What ``tuner.search()`` does on a chief, with a prompt exit (see the module docstring); returns the summary."""
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief
    from keras_tuner.src.engine import trial as trial_module

    oracle = tuner.oracle
    oracle.verbose = 0  # Keras Tuner's per-trial tables: the servicer prints one line per event instead
    tuner.save()
    servicer = _chief_servicer(oracle, workers, join_timeout)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))  # one call at a time, as keras_tuner serves
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    address = f"{role.ip}:{role.port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as err:  # newer grpc raises instead of returning 0
        raise RuntimeError(f"The chief cannot listen on {address} ({ENV_ORACLE_IP}/{ENV_ORACLE_PORT}): {err}") from err
    if not bound:
        raise RuntimeError(f"The chief cannot listen on {address} ({ENV_ORACLE_IP}/{ENV_ORACLE_PORT}): in use?")
    server.start()
    _say(role, f"oracle serving on {address}: {oracle.max_trials} trial(s)"
               + (f", waiting for {workers} worker(s)" if workers else ""))
    try:
        while True:
            time.sleep(POLL_SECONDS)
            if not servicer.stop_triggered or not oracle_chief.exit_chief(oracle):
                continue
            with servicer.lock:
                all_told = workers is None or len(servicer.stopped) >= workers
            if all_told or servicer.joined_or_timed_out():
                break
    finally:
        server.stop(grace=2).wait()
    trials = list(oracle.trials.values())
    completed = [t for t in trials if t.status == trial_module.TrialStatus.COMPLETED]
    best = oracle.get_best_trials(1)
    best = best[0] if best and best[0].status == trial_module.TrialStatus.COMPLETED else None
    never_stopped = sorted(servicer.asked - servicer.stopped)
    return {"project_dir": str(tuner.project_dir), "max_trials": oracle.max_trials, "trials": len(trials),
            "completed": len(completed), "statuses": {t.trial_id: t.status for t in trials},
            "assignments": dict(sorted(servicer.assignments.items())), "workers_seen": sorted(servicer.asked),
            "workers_not_told_to_stop": never_stopped,
            "best_trial_id": None if best is None else best.trial_id,
            "best_hyperparameters": None if best is None else _values(best),
            "best_val_loss": None if best is None else float(best.score),
            "best_val_rmse": None if best is None else _rmse(float(best.score))}


def _report(role, summary: dict) -> None:
    if summary["best_trial_id"] is None:
        _say(role, f"search over: {summary['trials']} trial(s), none completed")
        return
    _say(role, f"search over: {summary['completed']}/{summary['trials']} trial(s) completed in {summary['seconds']:.1f} s; "
               f"best trial {summary['best_trial_id']} (run by {summary['assignments'].get(summary['best_trial_id'], '?')}): "
               f"val_loss {summary['best_val_loss']:.4f}, val RMSE {summary['best_val_rmse']:.4f}, "
               f"hyperparameters {_rounded(summary['best_hyperparameters'])}")


def _write_json(path: Path, payload: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------------------------- localhost
def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def read_participant_records(project_dir) -> list[dict]:
    """Every trial run the workers recorded (``participants/<tuner_id>.jsonl``), in file order."""
    records = []
    for path in sorted((Path(project_dir) / PARTICIPANTS_DIR).glob("*.jsonl")):
        records += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return records


_CHILD_CODE = "import sys; from course_utils.tuning.keras_distributed import main; sys.exit(main(sys.argv[1:]))"


def _pump(stream, log_path: Path, prefix: str, echo: bool) -> None:
    with open(log_path, "w", encoding="utf-8") as log:
        for line in stream:
            log.write(line)
            log.flush()
            if echo and not _TF_NOISE.match(line):
                sys.stdout.write(line if line.startswith("[") else f"[{prefix}] {line}")
                sys.stdout.flush()
    stream.close()


def _stop(procs: dict[str, subprocess.Popen], grace: float = 5.0) -> None:
    """SIGTERM every child's process group still running, then SIGKILL what is left after ``grace`` seconds."""
    alive = {name: p for name, p in procs.items() if p.poll() is None}
    for p in alive.values():
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    for p in alive.values():
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()


def _tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def launch_local(n_workers: int = 2, directory="keras_tuner_distributed", project: str = "ch1-mlp", max_trials: int = 4,
                 epochs: int = 2, dataset: str = "synthetic", seed: int = 42, *, batch_size: int = BATCH_SIZE,
                 overwrite: bool = True, timeout: float | None = None, join_timeout: float = 300.0,
                 echo: bool = True, python: str | None = None) -> dict:
    """Start a chief and ``n_workers`` workers on 127.0.0.1 (a free port) as subprocesses, wait for all; the summary.

    Every child runs ``run_participant`` with its KERASTUNER_* role; its output goes to ``<project>/logs/<id>.log``
    (and to this process's stdout when ``echo``). overwrite: start from an empty project folder (else the chief
    resumes what the folder holds). timeout: seconds for the whole search (None: no limit). Any child failing, the
    timeout, or KeyboardInterrupt stops every child (SIGTERM, then SIGKILL) before the error propagates; children
    also exit by themselves if this process disappears.
    Returns the chief's summary plus: "seconds" (wall time here), "port", "logs", "pids", "participants" (the workers' own
    records of the trials they ran) and "stragglers" (workers killed because they had not exited after the chief).
    """
    func = "launch_local"
    check_int(n_workers, "n_workers", func, min_value=1)
    _check_common(func, directory, project, max_trials, epochs, dataset, seed, batch_size)
    if timeout is not None:
        check_positive(timeout, "timeout", func)
    check_positive(join_timeout, "join_timeout", func)
    start = time.perf_counter()
    directory = Path(os.path.abspath(os.fspath(directory)))
    project_dir = directory / project
    if overwrite and project_dir.exists():
        shutil.rmtree(project_dir)
    (project_dir / LOGS_DIR).mkdir(parents=True, exist_ok=True)
    port = free_port()
    args = ["keras-worker", "--directory", str(directory), "--project", project, "--max-trials", str(max_trials),
            "--epochs", str(epochs), "--dataset", dataset, "--seed", str(seed), "--batch-size", str(batch_size),
            "--join-timeout", str(join_timeout)]
    package_root = str(Path(__file__).resolve().parents[2])
    base_env = dict(os.environ, PYTHONUNBUFFERED="1", **{ENV_PARENT_PID: str(os.getpid())})
    base_env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, base_env.get("PYTHONPATH", "")) if p)
    roles = [Role("chief", "127.0.0.1", port)] + [Role(f"tuner{j}", "127.0.0.1", port) for j in range(n_workers)]
    procs: dict[str, subprocess.Popen] = {}
    pumps: list[threading.Thread] = []
    logs = {role.tuner_id: project_dir / LOGS_DIR / f"{role.tuner_id}.log" for role in roles}
    stragglers: list[str] = []
    try:
        for role in roles:
            extra = ["--workers", str(n_workers)] if role.is_chief else ["--rpc-timeout", str(max(60.0, join_timeout))]
            procs[role.tuner_id] = subprocess.Popen(
                [python or sys.executable, "-c", _CHILD_CODE, *args, *extra], env={**base_env, **role.environ()},
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                start_new_session=True)  # its own process group: stopped as a whole; Ctrl-C reaches only us
            pump = threading.Thread(target=_pump, args=(procs[role.tuner_id].stdout, logs[role.tuner_id], role.tuner_id,
                                                        echo), daemon=True)
            pump.start()
            pumps.append(pump)
        deadline = None if timeout is None else time.monotonic() + timeout
        chief = procs["chief"]
        while True:
            for name, p in procs.items():
                code = p.poll()
                if code not in (None, 0):
                    raise RuntimeError(f"{name} exited with code {code}; its log {logs[name]} ends with:\n{_tail(logs[name])}")
            if chief.poll() == 0:
                break
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"The distributed search did not finish within {timeout} s; every process was stopped "
                                   f"(logs in {project_dir / LOGS_DIR}).")
            time.sleep(0.2)
        # the chief exits once every worker was told to stop: the workers follow within seconds
        grace_end = time.monotonic() + 30.0
        for name, p in procs.items():
            try:
                p.wait(timeout=max(0.0, grace_end - time.monotonic()))
            except subprocess.TimeoutExpired:
                stragglers.append(name)
            if p.returncode not in (None, 0):
                raise RuntimeError(f"{name} exited with code {p.returncode}; its log {logs[name]} ends with:\n"
                                   f"{_tail(logs[name])}")
    finally:
        _stop(procs)
        for pump in pumps:
            pump.join(timeout=5)
    summary_path = project_dir / SUMMARY_FILE
    if not summary_path.is_file():
        raise RuntimeError(f"The chief exited without writing {summary_path}; its log ends with:\n{_tail(logs['chief'])}")
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    summary.update(seconds=round(time.perf_counter() - start, 2), port=port, logs={k: str(v) for k, v in logs.items()},
                   pids={name: p.pid for name, p in procs.items()},
                   participants=read_participant_records(project_dir), stragglers=stragglers)
    if stragglers:
        print(f"warning: {', '.join(stragglers)} had not exited 30 s after the chief and were stopped", file=sys.stderr)
    return summary


# --------------------------------------------------------------------------------------------------------------- CLI
def _add_search_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--directory", default="keras_tuner_distributed",
                   help="the tuner's directory, shared by every participant (default: %(default)s)")
    p.add_argument("--project", default="ch1-mlp", help="the tuner's project_name (default: %(default)s)")
    p.add_argument("--max-trials", type=int, default=4, help="trials in the search (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=2, help="epochs per trial (chapter 6: 5; default: %(default)s)")
    p.add_argument("--dataset", choices=DATASETS, default="synthetic",
                   help="synthetic: small and offline; 100k: MovieLens 100K as chapter 6 (default: %(default)s)")
    p.add_argument("--seed", type=int, default=42, help="split, oracle and Keras seed (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="batch size (default: %(default)s)")
    p.add_argument("--join-timeout", type=float, default=300.0,
                   help="seconds the chief waits for --workers workers to ask, and to be told to stop (default: %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_utils.tuning",
                                     description="Keras Tuner's distributed search for the chapter 1 model.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    worker = sub.add_parser("keras-worker", help="one participant; role from KERASTUNER_TUNER_ID/_ORACLE_IP/_ORACLE_PORT",
                            description="Run one participant of a distributed search. Its role comes from "
                                        f"{ENV_TUNER_ID} (chief, tuner0, tuner1, ...), {ENV_ORACLE_IP} and {ENV_ORACLE_PORT}.")
    _add_search_arguments(worker)
    worker.add_argument("--workers", type=int, default=None,
                        help="chief: hand out the first trial once this many workers asked (default: the first one)")
    worker.add_argument("--overwrite", action="store_true", help="chief: delete the project folder first")
    worker.add_argument("--rpc-timeout", type=float, default=None,
                        help="worker: seconds a call to the chief may wait (default: Keras Tuner's, 3600)")
    local = sub.add_parser("keras-local", help="a chief and --workers workers on 127.0.0.1, as subprocesses",
                           description="Start a chief and N workers on this machine and wait for the search.")
    _add_search_arguments(local)
    local.add_argument("--workers", type=int, default=2, help="worker processes (default: %(default)s)")
    local.add_argument("--resume", action="store_true", help="keep the project folder (default: start afresh)")
    local.add_argument("--timeout", type=float, default=None, help="seconds for the whole search (default: none)")
    local.add_argument("--quiet", action="store_true", help="do not echo the participants' output")
    local.add_argument("--json", action="store_true", help="print the summary as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    """``python -m course_utils.tuning keras-worker ...`` / ``keras-local ...``; returns the exit status.

    2: bad arguments or KERASTUNER_* variables (checked before TensorFlow is imported); 1: keras-local's search
    failed (a participant's exit code and the end of its log are printed); 130: interrupted (children stopped).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    common = {"directory": args.directory, "project": args.project, "max_trials": args.max_trials,
              "epochs": args.epochs, "dataset": args.dataset, "seed": args.seed, "batch_size": args.batch_size}
    try:
        if args.command == "keras-worker":
            _check_participant(**common, env=None, workers=args.workers, overwrite=args.overwrite,
                               join_timeout=args.join_timeout, rpc_timeout=args.rpc_timeout)
        else:
            check_int(args.workers, "workers", "keras-local", min_value=1)
            _check_common("keras-local", **common)
            for name in ("timeout", "join_timeout"):
                if getattr(args, name) is not None:
                    check_positive(getattr(args, name), name, "keras-local")
    except (RoleError, ValueError, TypeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        if args.command == "keras-worker":
            run_participant(**common, workers=args.workers, overwrite=args.overwrite, join_timeout=args.join_timeout,
                            rpc_timeout=args.rpc_timeout)
            return 0
        try:
            summary = launch_local(args.workers, **common, overwrite=not args.resume, timeout=args.timeout,
                                   join_timeout=args.join_timeout, echo=not args.quiet)
        except (RuntimeError, TimeoutError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
        return 0
    ran: dict[str, list[str]] = {}
    for record in summary["participants"]:
        ran.setdefault(record["tuner_id"], []).append(record["trial_id"])
    print(f"{summary['completed']}/{summary['trials']} trials completed in {summary['seconds']:.1f} s by "
          f"{', '.join(f'{k}: {v}' for k, v in sorted(ran.items()))}")
    if summary["best_trial_id"] is not None:
        print(f"best trial {summary['best_trial_id']}: val_loss {summary['best_val_loss']:.4f}, val RMSE "
              f"{summary['best_val_rmse']:.4f}, {_rounded(summary['best_hyperparameters'])}")
    print(f"records: {summary['project_dir']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
