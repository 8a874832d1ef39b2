"""The student's check: run a notebook the way the grader does, with the public checks only, and say what passes.

    python -m course_utils.grading validate notebooks/00_quickstart.ipynb

Each notebook runs in a fresh kernel in the grader's sandbox (the same executor, limits and verdict tokens as
``grade``), with every check cell restored from the notebook's source with its hidden tests removed: hidden tests
never leave the teacher. One line per exercise: passed, not yet (with the hint) or not attempted. The exit status is
what GitHub Classroom's autograding reads: 0 when every public check passes, 1 when some do not pass yet, 2 when a
notebook cannot be run (not a notebook, not one of the course's, or it stopped before any check ran).
"""
from __future__ import annotations

import copy
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .grade import Limits, _prepare_sandbox, _threads, grade_notebook, with_hint
from .notebook import SOURCE_KEY, check_cells, read, strip_hidden_tests

PASSED, NOT_YET, NOT_ATTEMPTED = "passed", "not yet", "not attempted"
MARKS = {PASSED: "✅", NOT_YET: "❌", NOT_ATTEMPTED: "⏳"}
_CANNOT_RUN = ("not a valid notebook", "is not one of the course's notebooks", "this check did not run")


@dataclass
class NotebookCheck:
    path: Path
    rows: list[dict]  # exercise, points, max_points, status, message
    problem: str = ""  # why the notebook could not be run ("" when it ran)

    @property
    def exit_code(self) -> int:
        if self.problem:
            return 2
        return 0 if all(r["status"] == PASSED for r in self.rows) else 1


def public_version(nb):
    """The notebook with its hidden tests removed: what a student may run."""
    nb = copy.deepcopy(nb)
    for c in check_cells(nb):
        nb.cells[c.index].source = strip_hidden_tests(c.source)
    return nb


def _status(passed: bool, message: str) -> str:
    if passed:
        return PASSED
    if "not attempted" in message or "NotImplementedError" in message:
        return NOT_ATTEMPTED
    return NOT_YET


def validate_notebook(path: Path, source_dir: Path | None = None, limits: Limits | None = None, sandbox: bool = True,
                      threads: int | None = None) -> NotebookCheck:
    """Run one notebook with its public checks. ``source_dir``: where the released (or instructor) notebooks are,
    whose check cells are restored; by default the notebook's own check cells (hidden tests removed either way)."""
    path = Path(path)
    try:
        nb = read(path)
    except Exception as err:
        return NotebookCheck(path, [], f"not a valid notebook ({type(err).__name__}: {str(err)[:200]})")
    name = nb.metadata.get(SOURCE_KEY, {}).get("source", path.name)
    if source_dir is not None:
        source_path = Path(source_dir) / name
        if not source_path.is_file():
            return NotebookCheck(path, [], f"{name} is not one of the course's notebooks in {source_dir}")
        nb = read(source_path)
    if not check_cells(nb):
        return NotebookCheck(path, [], f"{name} has no exercises to check")
    workroot = Path(tempfile.mkdtemp(prefix="course-validate-"))
    try:
        results = grade_notebook(path, "you", {name: public_version(nb)}, workroot, limits or Limits(), sandbox,
                                 threads)
    finally:
        shutil.rmtree(workroot, ignore_errors=True)
    rows = []
    for r in results:
        status = _status(r.passed, r.message)
        message = r.message if r.passed else with_hint(r.exercise, r.message)
        message = re.sub(rf"^\W*{re.escape(r.exercise)}:\s*", "", message)  # the line names the exercise already
        rows.append({"exercise": r.exercise, "points": r.points, "max_points": r.max_points, "status": status,
                     "message": message})
    if results and all(r.message.startswith(_CANNOT_RUN) for r in results):
        return NotebookCheck(path, rows, results[0].message)
    return NotebookCheck(path, rows)


def validate(paths: list[Path], source_dir: Path | None = None, limits: Limits | None = None, sandbox: bool = True,
             jobs: int = 1) -> list[NotebookCheck]:
    """validate_notebook for each path (``jobs`` at once); the sandbox is checked before anything runs."""
    from concurrent.futures import ThreadPoolExecutor

    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
    _prepare_sandbox(sandbox)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(lambda p: validate_notebook(p, source_dir, limits, sandbox, _threads(jobs)), paths))


def report(checks: list[NotebookCheck]) -> tuple[str, int]:
    """The lines the command prints, and its exit status (the worst notebook's)."""
    lines = []
    for c in checks:
        lines.append(f"{c.path}")
        for r in c.rows:
            points = f"{r['points']:g}/{r['max_points']:g}"
            text = r["message"] if r["status"] != PASSED else PASSED
            lines.append(f"  {MARKS[r['status']]} {r['exercise']:<22} {points:>6}  {text}")
        if c.problem:
            lines.append(f"  cannot be run: {c.problem}")
        else:
            passed = sum(r["status"] == PASSED for r in c.rows)
            earned, possible = sum(r["points"] for r in c.rows), sum(r["max_points"] for r in c.rows)
            lines.append(f"  {passed} of {len(c.rows)} public checks pass ({earned:g} of {possible:g} points)")
    code = max((c.exit_code for c in checks), default=2)
    verdict = {0: "every public check passes", 1: "some checks do not pass yet",
               2: "a notebook could not be run"}[code]
    lines.append(f"Exit status {code}: {verdict}. Hidden tests run only when your teacher grades.")
    return "\n".join(lines), code
