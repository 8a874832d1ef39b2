"""course_utils.tuning.keras_distributed: Keras Tuner's chief/worker search for the chapter 1 model, on localhost."""
from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest

from course_utils.tuning import keras_distributed as kd

ENV = {kd.ENV_TUNER_ID: "tuner0", kd.ENV_ORACLE_IP: "127.0.0.1", kd.ENV_ORACLE_PORT: "8000"}


def _children_of_this_process() -> list[int]:
    """Live processes started by launch_local from this process (they carry COURSE_UTILS_KT_PARENT_PID=<our pid>)."""
    marker = f"{kd.ENV_PARENT_PID}={os.getpid()}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if marker in environ and state != "Z":
            found.append(int(entry.name))
    return found


needs_proc = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc to find children")


# ------------------------------------------------------------------------------------------- role and arguments (fast)
def test_read_role_accepts_a_chief_and_workers():
    assert kd.read_role({**ENV, kd.ENV_TUNER_ID: "chief"}) == kd.Role("chief", "127.0.0.1", 8000)
    role = kd.read_role({**ENV, kd.ENV_TUNER_ID: "tuner12"})
    assert (role.tuner_id, role.is_chief, role.environ()[kd.ENV_ORACLE_PORT]) == ("tuner12", False, "8000")


@pytest.mark.parametrize("env, names", [
    ({}, ["KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"]),
    ({kd.ENV_TUNER_ID: "tuner0"}, ["KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"]),
    ({kd.ENV_TUNER_ID: "chief", kd.ENV_ORACLE_IP: "127.0.0.1"}, ["KERASTUNER_ORACLE_PORT"]),
    ({kd.ENV_ORACLE_IP: "127.0.0.1", kd.ENV_ORACLE_PORT: "8000"}, ["KERASTUNER_TUNER_ID"]),
    ({**ENV, kd.ENV_ORACLE_IP: "  "}, ["KERASTUNER_ORACLE_IP"]),
])
def test_read_role_names_the_missing_variables(env, names):
    with pytest.raises(kd.RoleError) as err:
        kd.read_role(env)
    message = str(err.value)
    for name in names:
        assert name in message


@pytest.mark.parametrize("tuner_id", ["worker", "mychief", "chief0", "tuner", "Tuner0"])
def test_read_role_refuses_ids_keras_tuner_would_misread(tuner_id):
    with pytest.raises(kd.RoleError, match="KERASTUNER_TUNER_ID"):
        kd.read_role({**ENV, kd.ENV_TUNER_ID: tuner_id})


@pytest.mark.parametrize("port", ["http", "0", "70000", "-1"])
def test_read_role_refuses_bad_ports(port):
    with pytest.raises(kd.RoleError, match="KERASTUNER_ORACLE_PORT"):
        kd.read_role({**ENV, kd.ENV_ORACLE_PORT: port})


def test_read_role_reads_os_environ_by_default(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(kd.ENV_TUNER_ID, "tuner1")
    with pytest.raises(kd.RoleError, match="KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT are not"):
        kd.read_role()


@pytest.mark.parametrize("kwargs, error, match", [
    ({"max_trials": 0}, ValueError, "max_trials"),
    ({"epochs": 1.5}, TypeError, "epochs"),
    ({"dataset": "1m"}, ValueError, "dataset"),
    ({"project": "a/b"}, ValueError, "project"),
    ({"workers": 0}, ValueError, "workers"),
    ({"rpc_timeout": 0}, ValueError, "rpc_timeout"),
    ({"overwrite": True}, ValueError, "only the chief"),  # a worker would delete the chief's records
])
def test_run_participant_checks_its_arguments_before_importing_tensorflow(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        kd.run_participant(tmp_path, **{"env": ENV, **kwargs})


def test_run_participant_without_the_environment_is_an_error_not_a_lone_search(tmp_path):
    with pytest.raises(kd.RoleError, match="none of KERASTUNER_TUNER_ID"):
        kd.run_participant(tmp_path, env={})
    assert not (tmp_path / "ch1-mlp").exists()


def test_main_reports_bad_environment_and_arguments_with_status_2(monkeypatch, capsys, tmp_path):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(kd.ENV_TUNER_ID, "tuner0")
    assert kd.main(["keras-worker", "--directory", str(tmp_path)]) == 2
    assert "KERASTUNER_ORACLE_IP" in capsys.readouterr().err
    assert kd.main(["keras-local", "--workers", "0", "--directory", str(tmp_path)]) == 2
    assert "'workers'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        kd.main(["keras-local", "--dataset", "nope"])
    with pytest.raises(SystemExit):
        kd.main([])  # a command is required


def test_launch_local_checks_its_arguments(tmp_path):
    with pytest.raises(ValueError, match="n_workers"):
        kd.launch_local(0, tmp_path)
    with pytest.raises(ValueError, match="timeout"):
        kd.launch_local(1, tmp_path, timeout=0)


def test_free_port_is_bindable():
    import socket

    port = kd.free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


# ------------------------------------------------------------------------------ no orphans on failure (fast: fakes)
FAKE_PARTICIPANT = """#!/bin/sh
# stands in for the Python interpreter: tuner1 fails, everyone else (and a child of theirs) just waits
if [ "$KERASTUNER_TUNER_ID" = "tuner1" ]; then sleep 1; echo "boom: tuner1 failed"; exit 3; fi
sleep 120 &
wait
"""


def _fake_python(tmp_path: Path, text: str) -> str:
    path = tmp_path / "fake-python"
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


@needs_proc
def test_launch_local_stops_every_child_when_one_fails(tmp_path):
    python = _fake_python(tmp_path, FAKE_PARTICIPANT)
    with pytest.raises(RuntimeError, match=r"(?s)tuner1 exited with code 3.*boom: tuner1 failed"):
        kd.launch_local(2, tmp_path / "kt", max_trials=2, epochs=1, python=python, echo=False, timeout=60)
    assert _children_of_this_process() == []  # the chief, tuner0 and their background sleeps are gone
    assert "boom" in (tmp_path / "kt" / "ch1-mlp" / "logs" / "tuner1.log").read_text()


@needs_proc
def test_launch_local_stops_every_child_on_timeout(tmp_path):
    python = _fake_python(tmp_path, "#!/bin/sh\nsleep 120 &\nwait\n")
    start = time.monotonic()
    with pytest.raises(TimeoutError, match="did not finish within"):
        kd.launch_local(2, tmp_path / "kt", python=python, echo=False, timeout=1.0)
    assert time.monotonic() - start < 15
    assert _children_of_this_process() == []


# ------------------------------------------------------------------------- the real thing: chief + 2 workers (slow)
def _oracle_records(project_dir: Path) -> dict[str, dict]:
    return {t["trial_id"]: t for t in (json.loads(p.read_text()) for p in project_dir.glob("trial_*/trial.json"))}


@pytest.mark.slow  # three fresh TensorFlow processes: ~20 s alone on 2 cores
@needs_proc
def test_chief_and_two_workers_finish_a_search_on_localhost(tmp_path):
    max_trials = 4
    summary = kd.launch_local(2, tmp_path, project="search", max_trials=max_trials, epochs=1, dataset="synthetic",
                              seed=7, echo=False, timeout=240, join_timeout=120)
    project_dir = tmp_path / "search"
    assert summary["project_dir"] == str(project_dir)

    # the oracle's records: every trial completed, and scored
    records = _oracle_records(project_dir)
    assert len(records) == max_trials == summary["trials"] == summary["completed"]
    assert {t["status"] for t in records.values()} == {"COMPLETED"}
    assert all(t["score"] is not None for t in records.values())

    # every trial was run exactly once, and both workers ran some (their own records, and the chief's)
    runs = summary["participants"]
    assert sorted(r["trial_id"] for r in runs) == sorted(records)
    assert {r["status"] for r in runs} == {"COMPLETED"}
    by_worker = {r["tuner_id"] for r in runs}
    assert by_worker == {"tuner0", "tuner1"}
    assert summary["assignments"] == {r["trial_id"]: r["tuner_id"] for r in runs}
    assert summary["workers_not_told_to_stop"] == [] and summary["stragglers"] == []
    for r in runs:  # what a worker saw is what the oracle recorded
        assert r["best_val_loss"] == pytest.approx(records[r["trial_id"]]["score"], rel=1e-5)

    # the chief's best trial is the oracle's best (lowest val_loss)
    best_id = min(records, key=lambda trial_id: records[trial_id]["score"])
    assert summary["best_trial_id"] == best_id
    assert summary["best_val_loss"] == pytest.approx(records[best_id]["score"])
    assert summary["best_val_rmse"] == pytest.approx(records[best_id]["score"] ** 0.5)
    assert summary["best_hyperparameters"] == pytest.approx(records[best_id]["hyperparameters"]["values"])
    assert set(summary["best_hyperparameters"]) == {"embedding_dim", "units", "dropout", "learning_rate"}
    chief_log = Path(summary["logs"]["chief"]).read_text()
    assert f"best trial {best_id} " in chief_log

    # no child survives, and the chief did not linger (Keras Tuner's own loop polls every 20 s)
    assert _children_of_this_process() == []
    for pid in summary["pids"].values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert summary["seconds"] < 120
