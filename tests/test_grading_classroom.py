"""The student template repository and GitHub Classroom's files (course_utils.grading.classroom)."""
from __future__ import annotations

import json
import re

import pytest
import yaml

from conftest import ROOT
from course_utils.grading.__main__ import main as cli
from course_utils.grading.classroom import autograding_json, main, notebook_points, workflow_yaml
from course_utils.grading.notebook import read


def test_docs_classroom_is_in_step_with_the_notebooks(capsys):
    assert main(["--check"]) == 0, capsys.readouterr().err


def test_every_notebook_is_a_test_worth_its_points():
    points = notebook_points(ROOT / "notebooks")
    assert len(points) == len(list((ROOT / "notebooks").glob("*.ipynb"))) and sum(points.values()) == 83
    tests = json.loads(autograding_json(points))["tests"]
    assert {t["run"].split("notebooks/")[-1]: t["points"] for t in tests} == points
    assert all(t["run"].startswith("python -m course_utils.grading validate notebooks/") for t in tests)
    assert "(sudo sysctl" in tests[0]["setup"]  # `|| true` grouped: a failed install still fails the setup
    workflow = yaml.safe_load(workflow_yaml(points))
    assert workflow["name"] == "Autograding Tests" and list(workflow["jobs"]) == ["run-autograding-tests"]
    steps = workflow["jobs"]["run-autograding-tests"]["steps"]
    graders = [s for s in steps if "autograding-command-grader" in s.get("uses", "")]
    assert [s["with"]["command"].split("notebooks/")[-1] for s in graders] == list(points)
    assert [s["with"]["max-score"] for s in graders] == list(points.values())
    reporter = steps[-1]
    assert reporter["with"]["runners"].split(",") == [s["id"] for s in graders]
    assert set(reporter["env"]) == {f"{s['id'].upper()}_RESULTS" for s in graders}
    assert len({s["id"] for s in graders}) == len(graders)


def test_release_template_is_a_repository_students_can_run(tmp_path, capsys):
    out = tmp_path / "template"
    assert cli(["release", "--source", str(ROOT / "notebooks"), "--out", str(out), "--no-validate", "--template"]) == 0
    assert "git init" in capsys.readouterr().out
    names = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert sorted(p.name for p in (out / "notebooks").glob("*.ipynb")) == names
    for rel in ["course_utils/__init__.py", "course_utils/grading/__main__.py", "pyproject.toml", "requirements.txt",
                "Makefile", "data/README.md", ".github/workflows/classroom.yml", ".github/classroom/autograding.json"]:
        assert (out / rel).is_file(), rel
    assert not list(out.rglob("__pycache__")) and not (out / "tests").exists() and not (out / "docs").exists()
    # every study a chapter loads from ../benchmarks/logs is there, at the same place relative to notebooks/ (files
    # named in full, and folders a chapter names alone, such as chapter 5's STUDY = "../benchmarks/logs/sequence_study")
    for name in names:
        text = (ROOT / "notebooks" / name).read_text()
        for rel in re.findall(r"\.\./(benchmarks/logs/[A-Za-z0-9_./-]+\.(?:csv|jsonl|json))\b", text):
            assert (out / rel).is_file(), (name, rel)
        for rel in re.findall(r"\.\./(benchmarks/logs/[A-Za-z0-9_-]+)", text):
            assert (out / rel).is_dir() and any((out / rel).iterdir()), (name, rel)
    assert (out / "benchmarks/logs/sequence_study").is_dir()
    # the students' README, not the instructor's
    readme = (out / "README.md").read_text()
    assert "validate notebooks/00_quickstart.ipynb" in readme and "instructor" not in readme and "| `notebooks/02_ncf.ipynb` | 14 |" in readme
    # the student versions, not the instructor notebooks: no solution and no hidden test in the template
    for name in names:
        text = (out / "notebooks" / name).read_text()
        assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text, name
    assert (out / ".github/classroom/autograding.json").read_text() == autograding_json(notebook_points(ROOT / "notebooks"))


def test_a_template_goes_to_a_new_folder(tmp_path, capsys):
    (tmp_path / "old.txt").write_text("x")
    with pytest.raises(SystemExit):
        cli(["release", "--source", str(ROOT / "notebooks"), "--out", str(tmp_path), "--no-validate", "--template"])
    assert "not empty" in capsys.readouterr().err


def test_one_chapter_is_one_test_and_a_notebook_without_exercises_none(tmp_path):
    """A source folder with one chapter and a notebook with no exercise: one test, worth the chapter's points."""
    import nbformat

    (tmp_path / "02_ncf.ipynb").write_bytes((ROOT / "notebooks" / "02_ncf.ipynb").read_bytes())
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")]), str(tmp_path / "99_notes.ipynb"))
    assert notebook_points(tmp_path) == {"02_ncf.ipynb": 14}
    workflow = yaml.safe_load(workflow_yaml(notebook_points(tmp_path)))
    assert workflow[True] == ["push", "workflow_dispatch", "repository_dispatch"]  # YAML 1.1 reads the key `on` as True
    steps = workflow["jobs"]["run-autograding-tests"]["steps"]
    assert [s["id"] for s in steps if "id" in s] == ["ch2"] and steps[-1]["with"]["runners"] == "ch2"
    assert read(tmp_path / "02_ncf.ipynb").cells  # the source is left as it was


def test_release_refuses_to_run_notebooks_without_movielens(tmp_path, monkeypatch, capsys):
    """The sandbox has no network: without MovieLens 100K on the machine every notebook would fail, so the commands
    stop before running anything and say how to fetch it."""
    from course_utils.data import datasets

    monkeypatch.setattr(datasets, "is_local", lambda name, *a, **k: False)
    assert cli(["release", "--source", str(ROOT / "notebooks"), "--out", str(tmp_path / "r")]) == 2
    assert "fetch('ml-100k')" in capsys.readouterr().err and not (tmp_path / "r").exists()
    assert cli(["validate", str(ROOT / "notebooks" / "00_quickstart.ipynb")]) == 2
    assert "MovieLens 100K is not on this machine" in capsys.readouterr().err
