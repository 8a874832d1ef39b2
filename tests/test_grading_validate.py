"""The student's check (python -m course_utils.grading validate): the example notebook passing, failing, not attempted
and broken, run in the grader's sandbox with the public checks only; exit status 0, 1 and 2 as GitHub Classroom reads it."""
from __future__ import annotations

import copy
import json
import shutil

import nbformat
import pytest

from conftest import ROOT
from course_utils.grading import Limits
from course_utils.grading.__main__ import main as cli
from course_utils.grading.notebook import read, student_version
from course_utils.grading.validate import public_version, report, validate_notebook

SOURCE = ROOT / "tests" / "example_exercises.ipynb"
LIMITS = ["--cell-timeout", "10", "--notebook-timeout", "40", "--memory-mb", "3072", "--disk-mb", "256"]


def _solutions():
    return {c.metadata["course_utils"]["exercise"]: c.source for c in read(SOURCE).cells
            if c.metadata.get("nbgrader", {}).get("solution")}


def _write(nb, folder, name=SOURCE.name):
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(folder / name))
    return folder / name


def _answered(answers):
    nb = student_version(read(SOURCE), SOURCE.name)
    for cell in nb.cells:
        meta = cell.metadata
        if meta.get("nbgrader", {}).get("solution") and meta["course_utils"]["exercise"] in answers:
            cell.source = answers[meta["course_utils"]["exercise"]]
    return nb


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("student")
    right = _solutions()
    partial = {**right, "ex.mean-rating": "mean_rating = 4.0"}  # wrong
    del partial["ex.top-items"]  # not attempted
    return {"passing": _write(_answered(right), folder / "passing"),
            "failing": _write(_answered(partial), folder / "failing"),
            "broken": _write(_answered(right), folder / "broken", "garbage.ipynb")}


@pytest.mark.slow
def test_a_passing_notebook_exits_0(notebooks, sandbox, capsys):
    assert cli(["validate", str(notebooks["passing"]), *LIMITS]) == 0
    out = capsys.readouterr().out
    assert "5 of 5 public checks pass (7 of 7 points)" in out
    assert "Exit status 0: every public check passes" in out


@pytest.mark.slow
def test_a_failing_notebook_exits_1_with_one_line_per_exercise_and_the_hints(notebooks, sandbox, capsys):
    assert cli(["validate", str(notebooks["failing"]), *LIMITS]) == 1
    lines = capsys.readouterr().out.splitlines()
    by_exercise = {line.split()[1]: line for line in lines if line.startswith("  ") and line.split()[0] in "✅❌⏳"}
    assert set(by_exercise) == {"ex.n-interactions", "ex.mean-rating", "ex.top-items", "ex.precision", "ex.scorer"}
    assert by_exercise["ex.n-interactions"].startswith("  ✅") and "passed" in by_exercise["ex.n-interactions"]
    assert by_exercise["ex.mean-rating"].startswith("  ❌") and "Hint:" in by_exercise["ex.mean-rating"]
    assert by_exercise["ex.top-items"].startswith("  ⏳") and "Hint:" in by_exercise["ex.top-items"]
    assert "3 of 5 public checks pass" in "\n".join(lines)


def test_a_notebook_that_cannot_be_run_exits_2(notebooks, tmp_path, capsys):
    garbage = tmp_path / "garbage.ipynb"
    garbage.write_text("this is not a notebook {")
    assert cli(["validate", str(garbage), *LIMITS, "--unsafe-no-sandbox"]) == 2
    assert "cannot be run: not a valid notebook" in capsys.readouterr().out
    other = _write(nbformat.v4.new_notebook(), tmp_path / "other")
    check = validate_notebook(other, ROOT / "notebooks", sandbox=False)
    assert check.exit_code == 2 and "is not one of the course's notebooks" in check.problem


@pytest.mark.slow
def test_a_notebook_whose_kernel_dies_before_any_check_exits_2(tmp_path, sandbox):
    nb = _answered(_solutions())
    nb.cells.insert(1, nbformat.v4.new_code_cell("import os\nos._exit(1)"))
    check = validate_notebook(_write(nb, tmp_path), limits=Limits(cell_timeout=10, notebook_timeout=40,
                                                                  memory_mb=3072, disk_mb=256))
    assert check.exit_code == 2 and "the kernel died" in check.problem
    assert "cannot be run" in report([check])[0]


def test_hidden_tests_never_run_and_never_reach_the_student():
    public = public_version(read(SOURCE))
    text = json.dumps(public)
    assert "BEGIN HIDDEN TESTS" not in text and "a hidden case fails" not in text
    assert "check(" in text


@pytest.mark.slow
def test_edited_check_cells_are_restored_from_the_release(notebooks, tmp_path, sandbox):
    release = tmp_path / "release"
    release.mkdir()
    shutil.copy(SOURCE, release / SOURCE.name)  # the instructor's: validate strips its hidden tests too
    nb = read(notebooks["failing"])
    cheat = copy.deepcopy(nb)
    for cell in cheat.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "ex-mean-rating":
            cell.source = 'print("✅ ex.mean-rating: correct, well done!")'
    path = _write(cheat, tmp_path / "cheat")
    check = validate_notebook(path, release, limits=Limits(cell_timeout=10, notebook_timeout=40, memory_mb=3072,
                                                           disk_mb=256))
    row = next(r for r in check.rows if r["exercise"] == "ex.mean-rating")
    assert row["status"] != "passed" and "edited" in row["message"]
