"""The teacher's side: release validated both ways, then one grading run over a perfect, an empty, a wrong and a dozen
hostile submissions of the example notebook. Every student is reported, and each hostile case is graded honestly."""
import copy
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from conftest import ROOT
from course_utils.grading import Limits, check_cells, grade, release
from course_utils.grading.__main__ import main as cli
from course_utils.grading.notebook import read

SOURCE = ROOT / "tests" / "example_exercises.ipynb"
LIMITS = Limits(cell_timeout=10, notebook_timeout=30, memory_mb=3072)
EXERCISES = ["ex.n-interactions", "ex.mean-rating", "ex.top-items", "ex.precision", "ex.scorer"]


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    src = tmp_path_factory.mktemp("source")
    shutil.copy(SOURCE, src / SOURCE.name)
    out = tmp_path_factory.mktemp("release")
    report = release(src, out, validate=True, limits=LIMITS)
    return src, out, report


@pytest.mark.slow
def test_release_builds_locked_student_versions_and_validates_both_ways(released):
    src, out, report = released
    row = report.set_index("notebook").loc[SOURCE.name]
    assert row["valid"] and row["instructor passes"] == "5/5" and row["student version passes"] == "0/5"
    student = read(out / SOURCE.name)
    text = "\n".join(c.source for c in student.cells)
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text and "len(df)" not in text
    assert 'raise NotImplementedError("Exercise ex.n-interactions' in text and "n_interactions = ...  # YOUR CODE HERE" in text
    assert all(not c.get("outputs") for c in student.cells if c.cell_type == "code")
    for c in check_cells(student):
        meta = student.cells[c.index].metadata
        assert meta["nbgrader"]["locked"] and meta["editable"] is False and meta["deletable"] is False
    assert student.metadata["course_utils"]["source"] == SOURCE.name


def _solutions():
    nb = read(SOURCE)
    return {c.metadata["course_utils"]["exercise"]: c.source for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution")}


def _cell(nb, exercise, role):
    return next(i for i, c in enumerate(nb.cells) if c.metadata.get("course_utils", {}) == {**c.metadata.get("course_utils", {}), "exercise": exercise, "role": role})


def _submission(student_nb, answers):
    nb = copy.deepcopy(student_nb)
    for exercise, source in answers.items():
        nb.cells[_cell(nb, exercise, "solution")].source = source
    return nb


def _insert_after(nb, exercise, role, source):
    nb.cells.insert(_cell(nb, exercise, role) + 1, nbformat.v4.new_code_cell(source))
    return nb


@pytest.fixture(scope="module")
def graded(released, tmp_path_factory):
    src, out, _ = released
    student = read(out / SOURCE.name)
    right = _solutions()
    perfect = _submission(student, right)
    wrong = _submission(student, {
        "ex.n-interactions": "n_interactions = 5", "ex.mean-rating": "mean_rating = 4.0", "ex.top-items": "top_items = [1, 2, 3]",
        "ex.precision": "def precision_at_k(ranked, relevant, k):\n    return 1.0",
        "ex.scorer": right["ex.scorer"].replace("return (self.user(users) * self.item(items)).sum(-1)", "return users.float() * 0"),
    })
    subs = tmp_path_factory.mktemp("submissions")
    outside = Path(f"/tmp/course-utils-pwned-{uuid.uuid4().hex}")
    grades_dir = tmp_path_factory.mktemp("grades")
    cases = {"perfect": perfect, "empty": student, "wrong": wrong}

    cases["looper"] = _insert_after(_submission(student, {**right, "ex.mean-rating": "while True:\n    pass\n" + right["ex.mean-rating"]}),
                                    "ex.n-interactions", "check", "while True:\n    pass")
    cases["stubborn"] = _insert_after(copy.deepcopy(perfect), "ex.n-interactions", "check",
                                      "import time\nwhile True:\n    try:\n        time.sleep(0.2)\n    except KeyboardInterrupt:\n        pass")
    cases["exiter"] = _insert_after(copy.deepcopy(perfect), "ex.n-interactions", "check", "import sys\nsys.exit(3)")
    cases["killer"] = _insert_after(copy.deepcopy(perfect), "ex.mean-rating", "check", "import os\nos._exit(1)")
    broken_import = copy.deepcopy(perfect)
    broken_import.cells[1].source = "import course_utils_is_not_here\n" + broken_import.cells[1].source
    cases["import-error"] = broken_import
    deleted = copy.deepcopy(perfect)
    del deleted.cells[_cell(deleted, "ex.top-items", "check")]
    cases["deleter"] = deleted
    reordered = copy.deepcopy(perfect)
    a, b = _cell(reordered, "ex.n-interactions", "check"), _cell(reordered, "ex.mean-rating", "check")
    reordered.cells[a], reordered.cells[b] = reordered.cells[b], reordered.cells[a]
    cases["reorderer"] = reordered
    cases["cheater"] = _insert_after(_submission(student, {**right, "ex.n-interactions": "n_interactions = 1"}), "ex.n-interactions",
                                     "solution", "import course_utils.checks as _c\n_c.check = lambda *a, **k: print('✅ correct')\n"
                                                 "def check(*args, **kwargs):\n    print('✅ correct')")
    edited = _submission(student, {**right, "ex.mean-rating": "mean_rating = 1.0"})
    edited.cells[_cell(edited, "ex.mean-rating", "check")].source = 'print("✅ ex.mean-rating: correct, well done!")'
    cases["editor"] = edited
    cases["chatty"] = _insert_after(copy.deepcopy(perfect), "ex.n-interactions", "check", "print('x' * 5_000_000)")
    cases["snoop"] = _insert_after(
        _submission(student, {**right, "ex.n-interactions": f"n_interactions = len(open({str(SOURCE)!r}).read())"}),
        "ex.n-interactions", "check", f"open({str(outside)!r}, 'w').write('pwned')\nopen({str(grades_dir / 'grades.csv')!r}, 'w').write('hacked')")
    cases["hog"] = _submission(student, {**right, "ex.mean-rating": "_big = bytearray(8 * 1024 ** 3)\n" + right["ex.mean-rating"]})
    paths = []
    for name, nb in cases.items():
        (subs / name).mkdir()
        nbformat.write(nb, str(subs / name / SOURCE.name))
        paths.append(subs / name / SOURCE.name)
    (subs / "garbage").mkdir()
    (subs / "garbage" / SOURCE.name).write_text("this is not a notebook {")
    paths.append(subs / "garbage" / SOURCE.name)
    table = grade(paths, grades_dir, src, jobs=2, limits=LIMITS, progress=False)
    return table, grades_dir, outside


def _feedback(grades_dir, student):
    return (grades_dir / "feedback" / f"{student}.md").read_text()


@pytest.mark.slow
def test_grades_of_honest_submissions(graded):
    table, grades_dir, _ = graded
    csv = pd.read_csv(grades_dir / "grades.csv", index_col="student")
    assert list(csv.columns) == EXERCISES + ["total"]
    assert csv.loc["perfect", "total"] == 7 and csv.loc["empty", "total"] == 0 and csv.loc["wrong", "total"] == 0
    assert "not attempted" in _feedback(grades_dir, "empty")
    assert "Hint:" in _feedback(grades_dir, "wrong") and "**0 of 7 points.**" in _feedback(grades_dir, "wrong")
    assert len(csv) == 16  # every student is reported


@pytest.mark.parametrize("student, total, zeroed, reason", [
    ("looper", 6, ["ex.mean-rating"], "NameError"),
    ("stubborn", 1, ["ex.mean-rating", "ex.top-items", "ex.precision", "ex.scorer"], "ran longer than 30 s"),
    ("exiter", 7, [], None),
    ("killer", 2, ["ex.top-items", "ex.precision", "ex.scorer"], "the kernel died"),
    ("import-error", 2, ["ex.n-interactions", "ex.mean-rating", "ex.top-items", "ex.scorer"], "NameError"),  # the pure function still counts
    ("deleter", 6, ["ex.top-items"], "the check cell was deleted"),
    ("reorderer", 5, ["ex.n-interactions", "ex.mean-rating"], "moved out of their places"),
    ("cheater", 6, ["ex.n-interactions"], "a hidden test failed"),
    ("editor", 6, ["ex.mean-rating"], "the locked check cell was edited"),
    ("chatty", 7, [], None),
    ("snoop", 6, ["ex.n-interactions"], "NameError"),
    ("hog", 6, ["ex.mean-rating"], "NameError"),
    ("garbage", 0, EXERCISES, "not a valid notebook"),
])
def test_hostile_submissions_are_graded_honestly(graded, student, total, zeroed, reason):
    table, grades_dir, _ = graded
    row = table.loc[student]
    assert row["total"] == total, _feedback(grades_dir, student)
    assert [e for e in EXERCISES if row[e] == 0] == zeroed
    if reason:
        assert reason in _feedback(grades_dir, student)


def test_the_sandbox_kept_files_outside_the_work_folder_safe(graded):
    table, grades_dir, outside = graded
    assert not outside.exists()
    assert "hacked" not in (grades_dir / "grades.csv").read_text()
    assert (grades_dir / "feedback" / "chatty.md").stat().st_size < 10_000


@pytest.mark.slow
def test_command_line(released, tmp_path, capsys):
    src, out, _ = released
    (tmp_path / "bob").mkdir()
    shutil.copy(out / SOURCE.name, tmp_path / "bob" / SOURCE.name)
    assert cli(["grade", str(tmp_path / "bob" / SOURCE.name), "--out", str(tmp_path / "g"), "--source", str(src),
                "--cell-timeout", "30", "--notebook-timeout", "60"]) == 0
    assert pd.read_csv(tmp_path / "g" / "grades.csv", index_col="student").loc["bob", "total"] == 0
    assert cli(["release", "--out", str(tmp_path / "r"), "--source", str(src), "--no-validate"]) == 0
    assert (tmp_path / "r" / SOURCE.name).is_file()


@pytest.mark.slow
def test_nbgrader_accepts_the_notebooks(tmp_path):
    """A teacher who runs nbgrader can use the course notebooks as an nbgrader source."""
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "nbgrader").exists():
        pytest.skip("nbgrader is not installed in this environment")
    (tmp_path / "source" / "ps1").mkdir(parents=True)
    shutil.copy(SOURCE, tmp_path / "source" / "ps1" / SOURCE.name)
    (tmp_path / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(tmp_path)!r}\n"
        "c.CourseDirectory.db_assignments = [dict(name='ps1')]\n"
        "c.CourseDirectory.db_students = [dict(id='alice')]\n")
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "COURSE_UTILS_PROGRESS": "off"}
    run = lambda *args: subprocess.run([str(bin_dir / "nbgrader"), *args], cwd=tmp_path, env=env,  # noqa: E731
                                       capture_output=True, text=True, timeout=300)
    done = run("generate_assignment", "ps1", "--force")
    assert done.returncode == 0, done.stderr[-2000:]
    released_nb = read(tmp_path / "release" / "ps1" / SOURCE.name)
    text = "\n".join(c.source for c in released_nb.cells)
    assert "raise NotImplementedError" in text and "HIDDEN TESTS" not in text and "len(df)" not in text
    (tmp_path / "submitted" / "alice" / "ps1").mkdir(parents=True)
    solved = _submission(released_nb, _solutions())
    nbformat.write(solved, str(tmp_path / "submitted" / "alice" / "ps1" / SOURCE.name))
    done = run("autograde", "ps1", "--force")
    assert done.returncode == 0, done.stderr[-2000:]
    assert run("export", "--to", "grades.csv").returncode == 0
    grades = pd.read_csv(tmp_path / "grades.csv")
    assert grades.loc[0, "student_id"] == "alice" and grades.loc[0, "score"] == grades.loc[0, "max_score"] == 7


@pytest.mark.slow
@pytest.mark.real_data
def test_quickstart_exercises_end_to_end(real_data_dir, tmp_path, monkeypatch):
    """00_quickstart: release validated both ways, then a perfect, an empty, a wrong and a hostile submission."""
    monkeypatch.setenv("COURSE_UTILS_DATA", str(real_data_dir))
    src = tmp_path / "source"
    src.mkdir()
    shutil.copy(ROOT / "notebooks" / "00_quickstart.ipynb", src)
    report = release(src, tmp_path / "release", validate=True, limits=Limits(cell_timeout=120, notebook_timeout=300))
    row = report.set_index("notebook").loc["00_quickstart.ipynb"]
    assert row["valid"] and row["instructor passes"] == "5/5" and row["student version passes"] == "0/5"
    student = read(tmp_path / "release" / "00_quickstart.ipynb")
    right = {c.metadata["course_utils"]["exercise"]: c.source
             for c in read(src / "00_quickstart.ipynb").cells if c.metadata.get("nbgrader", {}).get("solution")}
    cases = {
        "perfect": _submission(student, right),
        "empty": student,
        "wrong": _submission(student, {"ch0.most-active": "n_most_active = 20",
                                       "ch0.ndcg": "def ndcg_at_k(ranked, relevant, k):\n    return float(bool(set(ranked[:k]) & relevant))"}),
        "cheater": _insert_after(_submission(student, {**right, "ch0.most-active": "n_most_active = 1"}), "ch0.most-active",
                                 "solution", "import course_utils.checks as _c\n_c.check = lambda *a, **k: print('✅ correct')"),
    }
    paths = []
    for name, nb in cases.items():
        (tmp_path / "subs" / name).mkdir(parents=True)
        nbformat.write(nb, str(tmp_path / "subs" / name / "00_quickstart.ipynb"))
        paths.append(tmp_path / "subs" / name / "00_quickstart.ipynb")
    grade(paths, tmp_path / "grades", src, jobs=2, limits=Limits(cell_timeout=120, notebook_timeout=300), progress=False)
    csv = pd.read_csv(tmp_path / "grades" / "grades.csv", index_col="student")
    assert csv["total"].to_dict() == {"cheater": 7.0, "empty": 0.0, "perfect": 8.0, "wrong": 0.0}
    assert list(csv.columns) == ["ch0.most-active", "ch0.popularity", "ch0.ndcg", "ch0.top-k-unseen", "ch0.recall", "total"]


def test_solution_regions_become_placeholders_at_any_indent():
    from course_utils.grading.notebook import replace_solution, strip_hidden_tests

    top = "x = 1\n# BEGIN SOLUTION\nanswer = 42\n# END SOLUTION\nprint(answer)"
    assert replace_solution(top, "ch9.a", "answer") == (
        'x = 1\nanswer = ...  # YOUR CODE HERE\nraise NotImplementedError("Exercise ch9.a: write your solution here, '
        'then delete this line.")\nprint(answer)')
    body = "def f(x):\n    # BEGIN SOLUTION\n    return x\n    # END SOLUTION"
    assert replace_solution(body, "ch9.f", None).splitlines()[1:] == [
        "    # YOUR CODE HERE", '    raise NotImplementedError("Exercise ch9.f: write your solution here, then delete this line.")']
    assert strip_hidden_tests("check(1)\n# BEGIN HIDDEN TESTS\nassert secret\n# END HIDDEN TESTS") == "check(1)"


def test_student_ids_from_folders_or_file_names(tmp_path):
    from course_utils.grading.grade import student_ids

    nested = [tmp_path / "alice" / "00_quickstart.ipynb", tmp_path / "bob" / "00_quickstart.ipynb"]
    assert student_ids(nested, {"00_quickstart.ipynb"}) == ["alice", "bob"]
    flat = [tmp_path / "alice.ipynb", tmp_path / "bob.ipynb"]
    assert student_ids(flat, {"00_quickstart.ipynb"}) == ["alice", "bob"]
    assert student_ids([tmp_path / "carol" / "00_quickstart.ipynb"], {"00_quickstart.ipynb"}) == ["carol"]
