"""course_utils.doctor: the environment report on a healthy environment and on broken ones (a missing package, a
wrong version, an unsupported Python, an unreadable data folder, no TensorFlow), and its exit status."""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from course_utils import doctor
from course_utils.doctor import NOTE, OK, PROBLEM, Finding

PINS = {"torch": "2.13.0", "seaborn": "0.13.2", "psycopg": "3.3.9"}


def test_the_pins_come_from_the_requirements_files():
    pins = doctor.pinned_requirements()
    assert pins["torch"] == "2.13.0" and pins["psycopg"] == "3.3.9" and "rectools-lightfm" in pins
    assert all(version for version in pins.values())


def test_a_healthy_environment_has_no_problem(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_UTILS_PROGRESS", str(tmp_path / "progress.json"))
    findings = doctor.diagnose()
    assert [f for f in findings if f.status == PROBLEM] == [], [f.line() for f in findings if f.status == PROBLEM]
    out = io.StringIO()
    assert doctor.report(findings, out=out) == 0 and "verdict: this environment can run the course." in out.getvalue()


def test_the_command_exits_0_and_prints_nothing_but_problems_when_asked():
    result = subprocess.run([sys.executable, "-m", "course_utils.doctor", "--problems-only"], capture_output=True,
                            text=True)
    assert result.returncode == 0 and result.stdout == ""


def test_a_missing_package_and_a_wrong_version_are_problems_with_the_fix():
    versions = {"torch": "2.13.0+cpu", "seaborn": "0.12.0"}
    findings = doctor.check_packages(PINS, installed=versions.get)
    by = {f.message.split()[0]: f for f in findings}
    assert by["1"].status == OK  # "1 pinned packages at their versions": torch's local +cpu suffix is fine
    assert by["seaborn"].status == PROBLEM and "seaborn 0.12.0 is installed; the course pins 0.13.2" in by["seaborn"].message
    assert "'seaborn==0.13.2'" in by["seaborn"].fix
    assert by["psycopg"].status == PROBLEM and "not installed" in by["psycopg"].message and "psycopg==3.3.9" in by["psycopg"].fix
    out = io.StringIO()
    assert doctor.report(findings, problems_only=True, out=out) == 1
    assert "2 problem(s)" in out.getvalue() and "pinned packages at their versions" not in out.getvalue()


def test_an_unsupported_python_is_a_problem():
    assert doctor.check_python((3, 12, 1)).status == OK
    bad = doctor.check_python((3, 10, 14))
    assert bad.status == PROBLEM and "3.11, 3.12, 3.13" in bad.message and "PYTHON=" in bad.fix


def test_a_data_folder_that_cannot_be_used_is_a_problem(tmp_path, monkeypatch):
    from course_utils.data import datasets

    monkeypatch.setattr(datasets, "project_data_dir", lambda: tmp_path / "project-data")
    not_a_folder = tmp_path / "data"
    not_a_folder.write_text("a file where the data folder should be")
    findings = doctor.check_data({"COURSE_UTILS_DATA": str(not_a_folder)})
    assert [f.status for f in findings] == [PROBLEM] and "is a file, not a folder" in findings[0].message
    locked = tmp_path / "locked"
    locked.mkdir()
    monkeypatch.setattr(doctor.os, "access", lambda path, mode: Path(path) != locked)  # root reads everything
    findings = doctor.check_data({"COURSE_UTILS_DATA": str(locked)})
    assert [f.status for f in findings] == [PROBLEM] and "cannot be read (no permission)" in findings[0].message
    missing = doctor.check_data({"COURSE_UTILS_DATA": str(tmp_path / "nowhere")})
    assert missing[0].status == PROBLEM and "does not exist" in missing[0].message


def test_each_dataset_says_where_it_is_read_from(tmp_path, monkeypatch):
    from course_utils.data import datasets

    monkeypatch.setattr(datasets, "project_data_dir", lambda: tmp_path / "project-data")
    (tmp_path / "ml-100k").mkdir()
    (tmp_path / "ml-100k" / "u.data").write_text("x")  # the ratings file is what makes a dataset usable here
    monkeypatch.setenv("HOME", str(tmp_path.parent))
    findings = {f.message.split(":")[0]: f for f in doctor.check_data({"COURSE_UTILS_DATA": f"~/{tmp_path.name}"})}
    assert findings["MovieLens 100K"].status == OK and str(tmp_path) in findings["MovieLens 100K"].message
    assert findings["MovieLens 10M"].status == NOTE and "downloaded into" in findings["MovieLens 10M"].message


def test_gpus_are_explained_for_torch_and_tensorflow_separately():
    cpu_build = SimpleNamespace(__version__="2.13.0+cpu", version=SimpleNamespace(cuda=None),
                                cuda=SimpleNamespace(is_available=lambda: False))
    f = doctor.check_torch(cpu_build)
    assert f.status == NOTE and "CPU build" in f.message and "download.pytorch.org/whl/cu126" in f.fix
    no_driver = SimpleNamespace(__version__="2.13.0", version=SimpleNamespace(cuda="12.6"),
                                cuda=SimpleNamespace(is_available=lambda: False))
    assert "no GPU or NVIDIA driver" in doctor.check_torch(no_driver).message
    gpu = SimpleNamespace(__version__="2.13.0", version=SimpleNamespace(cuda="12.6"),
                          cuda=SimpleNamespace(is_available=lambda: True, get_device_name=lambda i: "H200",
                                               device_count=lambda: 1))
    assert doctor.check_torch(gpu).status == OK
    assert doctor.check_tensorflow({"tensorflow-cpu": "2.21.0"}.get).status == NOTE
    assert doctor.check_tensorflow({}.get).status == PROBLEM


def test_a_finding_prints_its_fix_under_it():
    text = Finding("package", PROBLEM, "x is missing", "pip install x").line()
    assert text.startswith("PROBLEM  package") and text.endswith("fix: pip install x")


def test_the_command_on_a_broken_environment_prints_only_the_problems_and_exits_1(tmp_path):
    env = {**__import__("os").environ, "COURSE_UTILS_DATA": str(tmp_path / "nowhere"),
           "COURSE_UTILS_PROGRESS": str(tmp_path / "progress.json")}
    result = subprocess.run([sys.executable, "-m", "course_utils.doctor", "--problems-only"], capture_output=True,
                            text=True, env=env)
    assert result.returncode == 1
    lines = [line for line in result.stdout.splitlines() if line and not line.lstrip().startswith("fix:")]
    assert lines[0].startswith("PROBLEM  data") and "does not exist" in lines[0]
    assert not [line for line in lines[:-1] if not line.startswith("PROBLEM")] and "1 problem(s)" in lines[-1]


def test_progress_that_cannot_be_written_is_a_problem(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_UTILS_PROGRESS", str(tmp_path / "p.json"))
    assert doctor.check_progress().status == OK
    monkeypatch.setattr(doctor.os, "access", lambda path, mode: False)
    assert doctor.check_progress().status == PROBLEM
    monkeypatch.setenv("COURSE_UTILS_PROGRESS", "off")
    assert doctor.check_progress().status == NOTE
