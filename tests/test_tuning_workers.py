"""course_utils.tuning.workers: worker processes sharing one Optuna study through SQLite and PostgreSQL.

The workers are real processes started with the command a learner types (python -m course_utils.tuning worker);
the checks read the storage afterwards: no trial lost or run twice, every worker did its share, the best trial is the
best row, pruning uses the other workers' reports, a killed worker's trial is retried.
"""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time

import optuna
import pytest

from course_utils.tuning.workers import (SPACES, best_row, open_study, report, run_worker, storage_from_url,
                                         trial_table)

WORKER = [sys.executable, "-m", "course_utils.tuning", "worker", "--model", "gmf", "--dataset", "synthetic"]


def start_worker(url, study, *args):
    return subprocess.Popen([*WORKER, "--storage", url, "--study", study, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def finish(procs, timeout=240):
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=timeout)
        assert p.returncode == 0, f"worker failed ({p.returncode}):\n{out}\n{err[-3000:]}"
        outs.append(out)
    return outs


def check_shared_study(url, study, n_workers, trials_each):
    s = optuna.load_study(study_name=study, storage=url)
    table = trial_table(s)
    n = n_workers * trials_each
    assert sorted(table.index) == list(range(n)), "every trial number once: none lost, none run twice"
    assert set(table["state"]) <= {"COMPLETE", "PRUNED"}, table["state"].value_counts()
    assert table["worker"].nunique() == n_workers and (table["worker"].value_counts() == trials_each).all()
    params = [tuple(sorted(t.params.items())) for t in s.trials]
    assert len(set(params)) == n, "no parameter set drawn twice"
    assert s.best_trial.number == best_row(table, "maximize")
    assert s.best_value == table.loc[table["state"] == "COMPLETE", "value"].max()
    return s, table


def two_workers_one_study(url):
    procs = [start_worker(url, "shared", "--trials", 3, "--epochs", 2, "--sampler-seed", i, "--heartbeat", 0)
             for i in range(2)]
    outs = finish(procs)
    assert all("3 trials" in out for out in outs), outs
    s, table = check_shared_study(url, "shared", 2, 3)
    # the report command prints the same best trial
    text = subprocess.run([sys.executable, "-m", "course_utils.tuning", "report", "--storage", url, "--study", "shared"],
                          capture_output=True, text=True, check=True).stdout
    assert f"best trial: #{s.best_trial.number} value {s.best_value:.4f}" in text
    assert "by worker:" in text and len(text.splitlines()) > 6


def test_two_workers_share_a_sqlite_study(tmp_path):
    two_workers_one_study(f"sqlite:///{tmp_path / 'study.db'}")


def test_two_workers_share_a_postgresql_study(postgres_url):
    two_workers_one_study(postgres_url)


def test_pruning_reads_the_other_workers_reports(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    s = open_study(storage_from_url(url, None), "prune", "gmf", "synthetic", "ndcg@10", 42, 4)
    good = {"embedding_dim": 16, "learning_rate": 0.01, "n_negatives": 4}
    s.enqueue_trial(good)
    s.enqueue_trial({**good, "embedding_dim": 32})
    finish([start_worker(url, "prune", "--trials", 2, "--epochs", 4, "--heartbeat", 0)])
    s.enqueue_trial({"embedding_dim": 8, "learning_rate": 1e-4, "n_negatives": 1})  # learns nothing in 4 epochs
    finish([start_worker(url, "prune", "--trials", 1, "--epochs", 4, "--heartbeat", 0)])
    table = trial_table(optuna.load_study(study_name="prune", storage=url))
    assert list(table["state"]) == ["COMPLETE", "COMPLETE", "PRUNED"], table
    assert table.loc[2, "worker"] != table.loc[0, "worker"], "pruned in another process than the one that reported"
    assert table.loc[2, "epochs"] < 4


def test_a_killed_workers_trial_is_retried(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    victim = start_worker(url, "retry", "--trials", 1, "--epochs", 200, "--heartbeat", 1)
    storage = storage_from_url(url, None)
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until its trial runs, then kill the worker without letting it clean up
        try:
            trials = optuna.load_study(study_name="retry", storage=storage).trials
        except KeyError:
            trials = []
        if trials and trials[0].state.name == "RUNNING":
            break
        time.sleep(0.5)
    else:
        pytest.fail("the worker never started its trial")
    time.sleep(1.5)  # at least one heartbeat recorded
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    time.sleep(4.5)  # past the grace period (4 heartbeats)
    finish([start_worker(url, "retry", "--trials", 1, "--epochs", 200, "--heartbeat", 1, "--study-trials", 2)])
    s = optuna.load_study(study_name="retry", storage=url)
    first, retry = s.trials[0], s.trials[1]
    assert first.state.name == "FAIL"
    assert retry.system_attrs.get("failed_trial") == 0 and retry.params == first.params
    assert retry.state.name == "COMPLETE"


def test_run_worker_in_process_and_the_report(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    s = run_worker(url, "inproc", model="gmf", trials=2, dataset="synthetic", epochs=1, heartbeat_interval=None,
                   sampler_seed=0)
    assert len(s.trials) == 2 and all(t.user_attrs["worker"].endswith(f":{os.getpid()}") for t in s.trials)
    out = io.StringIO()
    table = report(url, "inproc", plots=tmp_path / "plots", out=out)
    assert len(table) == 2 and (tmp_path / "plots" / "inproc.png").stat().st_size > 10_000
    assert "best trial: #" in out.getvalue()


def test_a_worker_with_other_settings_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    open_study(storage_from_url(url, None), "s", "gmf", "synthetic", "ndcg@10", 42, 2)
    result = subprocess.run([*WORKER, "--storage", url, "--study", "s", "--epochs", "3", "--trials", "1"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "epochs: 2 vs 3" in result.stderr


@pytest.mark.parametrize("bad, message", [
    (dict(model="bpr"), "'model' parameter"), (dict(dataset="netflix"), "'dataset' parameter"),
    (dict(trials=0), "trials"), (dict(storage="study.db"), "'storage' parameter must be a database URL"),
])
def test_bad_worker_arguments(bad, message):
    kwargs = {"storage": "sqlite://", "study": "s", **bad}
    with pytest.raises(ValueError, match=message):
        run_worker(**kwargs)


def test_report_names_the_studies_there_are(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    optuna.create_study(storage=url, study_name="exists")
    with pytest.raises(ValueError, match=r"no study named 'typo'.*\['exists'\]"):
        report(url, "typo")


def test_every_space_draws_parameters_its_model_takes():
    from course_utils.tuning.workers import make_template

    for name, space in SPACES.items():
        template = make_template(name, epochs=1, seed=0)
        params = space(optuna.create_study().ask())
        type(template)(**template.get_params()).set_params(**params)  # raises on an unknown parameter


def test_workers_started_together_on_a_new_database_all_join(tmp_path):
    """Optuna's tables are created by whichever worker comes first; the others' collisions are retried."""
    url = f"sqlite:///{tmp_path / 'new.db'}"
    code = ("from course_utils.tuning.workers import open_study, storage_from_url; "
            f"open_study(storage_from_url({url!r}), 's', 'gmf', 'synthetic', 'ndcg@10', 42, 2); print('joined')")
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0 and "joined" in out, err[-2000:]
