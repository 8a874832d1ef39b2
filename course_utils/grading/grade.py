"""Release student versions and grade submissions against the instructor's notebooks and hidden tests."""
from __future__ import annotations

import copy
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pandas as pd

from .execute import run_notebook
from .notebook import SOURCE_KEY, check_cells, normalize, read, strip_hidden_tests, student_version

RESTORE = "from course_utils.checks import *  # restored by the grader: the course's own checks\n"


@dataclass
class ExerciseResult:
    student: str
    notebook: str
    exercise: str
    points: float
    max_points: float
    passed: bool
    message: str


@dataclass
class Limits:
    cell_timeout: int = 120
    notebook_timeout: int = 900
    memory_mb: int = 8192
    max_output_bytes: int = 1024 * 1024


def load_sources(source_dir: Path) -> dict[str, nbformat.NotebookNode]:
    """The instructor notebooks that hold exercises, by file name."""
    sources = {}
    for path in sorted(Path(source_dir).glob("*.ipynb")):
        nb = read(path)
        if check_cells(nb):
            sources[path.name] = nb
    if not sources:
        raise ValueError(f"No notebook with exercises (check cells) in {source_dir}.")
    return sources


# ---------------------------------------------------------------- one submission
def grade_notebook(path: Path, student: str, sources: dict, workroot: Path, limits: Limits) -> list[ExerciseResult]:
    """Grade one submitted notebook; never raises for anything the submission does."""
    path = Path(path)
    try:
        sub = nbformat.read(str(path), as_version=4)
        nbformat.validate(sub)
        name = sub.metadata.get(SOURCE_KEY, {}).get("source", path.name)
    except Exception as err:  # not JSON, not a notebook, unreadable: zero for every exercise it could be
        name = path.name if path.name in sources else None
        reason = f"not a valid notebook ({type(err).__name__}: {str(err)[:200]})"
        return _zeros(student, name, sources, reason)
    if name not in sources:
        return _zeros(student, None, sources, f"{path.name} is not one of the course's notebooks ({', '.join(sources)})")
    source = sources[name]
    src_checks = check_cells(source)
    problems = _structure_problems(sub, src_checks)

    run_nb = copy.deepcopy(sub)
    by_id = {}
    for c in check_cells(run_nb):
        by_id.setdefault(c.grade_id, []).append(c.index)
    for sc in src_checks:  # run the instructor's check (with hidden tests) wherever the student's cell stands
        for idx in by_id.get(sc.grade_id, []):
            run_nb.cells[idx].source = RESTORE + sc.source
    for cell in run_nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in f"{student}-{Path(name).stem}")
    executed, info = run_notebook(run_nb, workroot / "work" / safe, workroot / "private" / safe, **vars(limits))

    results = []
    for sc in src_checks:
        if sc.grade_id in problems:
            results.append(ExerciseResult(student, name, sc.exercise, 0.0, sc.points, False, problems[sc.grade_id]))
            continue
        cell = executed.cells[by_id[sc.grade_id][0]]
        ok, message = _cell_verdict(cell, info)
        results.append(ExerciseResult(student, name, sc.exercise, sc.points if ok else 0.0, sc.points, ok, message))
    return results


def _zeros(student, name, sources, reason):
    names = [name] if name else list(sources)
    return [ExerciseResult(student, n, sc.exercise, 0.0, sc.points, False, reason)
            for n in names for sc in check_cells(sources[n])]


def _structure_problems(sub, src_checks) -> dict[str, str]:
    """Check cells that were deleted, duplicated, edited or moved: those exercises get 0, with the reason."""
    sub_checks = check_cells(sub)
    found: dict[str, list] = {}
    for c in sub_checks:
        found.setdefault(c.grade_id, []).append(c)
    problems = {}
    for sc in src_checks:
        cells = found.get(sc.grade_id, [])
        if not cells:
            problems[sc.grade_id] = "the check cell was deleted, so this exercise could not be graded"
        elif len(cells) > 1:
            problems[sc.grade_id] = f"the check cell appears {len(cells)} times"
        elif normalize(cells[0].source) not in (normalize(strip_hidden_tests(sc.source)), normalize(sc.source)):
            problems[sc.grade_id] = "the locked check cell was edited"
    present = [sc.grade_id for sc in src_checks if sc.grade_id not in problems]
    order = sorted(present, key=lambda g: found[g][0].index)
    for expected, actual in zip(present, order, strict=True):
        if expected != actual:
            problems.setdefault(expected, "the check cells were moved out of their places")
    return problems


def _cell_verdict(cell, info) -> tuple[bool, str]:
    if cell.get("execution_count") is None:
        return False, f"this check did not run: {info.get('status', 'the notebook stopped before it')}"
    text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream").strip()
    errors = [o for o in cell.outputs if o.get("output_type") == "error"]
    if not errors:
        return True, text.splitlines()[-1] if text else "passed"
    err = errors[0]
    ename, evalue = err.get("ename", "Error"), str(err.get("evalue", ""))[:300]
    if ename == "ExerciseFailed":
        return False, evalue
    if ename == "AssertionError":
        return False, f"a hidden test failed{': ' + evalue if evalue else ''}"
    if ename == "CellTimeoutError":
        return False, evalue
    return False, f"the check raised {ename}: {evalue}"


# ---------------------------------------------------------------- many submissions
def student_ids(paths: list[Path], notebook_names=()) -> list[str]:
    """Who submitted each file: submissions/alice/00_quickstart.ipynb -> "alice"; alice.ipynb -> "alice".

    Files in different folders are named after their folder under the common parent; files in one folder after the
    folder when they carry a course notebook's name, else after the file name.
    """
    paths = [Path(p).resolve() for p in paths]
    if len({p.parent for p in paths}) == 1:
        return [p.parent.name if p.name in notebook_names else p.stem for p in paths]
    base = Path(os.path.commonpath([str(p.parent) for p in paths]))
    return [p.relative_to(base).parts[0] if len(p.relative_to(base).parts) > 1 else p.stem for p in paths]


def grade(submissions: list[Path], out: Path, source_dir: Path, jobs: int = 1, limits: Limits | None = None,
          progress: bool = True) -> pd.DataFrame:
    """Grade every submission; write grades.csv and feedback/<student>.md under ``out``; return the grades table."""
    from tqdm.auto import tqdm

    limits = limits or Limits()
    sources = load_sources(source_dir)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    submissions = [Path(p) for p in submissions]
    students = student_ids(submissions, sources)
    workroot = Path(tempfile.mkdtemp(prefix=".grading-", dir=out))
    results: list[ExerciseResult] = []
    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = [pool.submit(grade_notebook, p, s, sources, workroot, limits) for p, s in zip(submissions, students, strict=True)]
            for f in tqdm(futures, desc="grading", unit="notebook", disable=not progress):
                results.extend(f.result())
    finally:
        shutil.rmtree(workroot, ignore_errors=True)
    table = _table(results, sources)
    table.to_csv(out / "grades.csv")
    _feedback(results, out / "feedback")
    return table


def _table(results, sources) -> pd.DataFrame:
    columns = [sc.exercise for nb in sources.values() for sc in check_cells(nb)]
    frame = pd.DataFrame([{"student": r.student, "exercise": r.exercise, "points": r.points} for r in results])
    table = frame.pivot_table(index="student", columns="exercise", values="points", aggfunc="max", fill_value=0.0)
    table = table.reindex(columns=[c for c in columns if c in table.columns])
    table["total"] = table.sum(axis=1)
    table.columns.name = None
    return table


def _feedback(results, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    by_student: dict[str, list[ExerciseResult]] = {}
    for r in results:
        by_student.setdefault(r.student, []).append(r)
    for student, rows in by_student.items():
        earned, possible = sum(r.points for r in rows), sum(r.max_points for r in rows)
        lines = [f"# Feedback for {student}", "", f"**{earned:g} of {possible:g} points.**", "",
                 "| notebook | exercise | points | result |", "|---|---|---|---|"]
        for r in rows:
            message = r.message.replace("|", "\\|").replace("\n", " ")
            mark = "" if message[:1] in "✅❌⏳⚠" else ("✅ " if r.passed else "❌ ")
            lines.append(f"| {r.notebook or '?'} | {r.exercise} | {r.points:g} / {r.max_points:g} | {mark}{message} |")
        (folder / f"{student}.md").write_text("\n".join(lines) + "\n")


# ---------------------------------------------------------------- release
def release(source_dir: Path, out: Path, validate: bool = True, limits: Limits | None = None) -> pd.DataFrame:
    """Write the student version of every notebook in ``source_dir`` to ``out``; with validate, prove both ways that
    the instructor notebooks pass every check and that no check passes in the student versions."""
    source_dir, out = Path(source_dir), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for path in sorted(source_dir.glob("*.ipynb")):
        nb = read(path)
        student = student_version(nb, path.name)
        nbformat.write(student, str(out / path.name))
        rows.append({"notebook": path.name, "exercises": len(check_cells(nb))})
    report = pd.DataFrame(rows)
    if not validate:
        return report
    limits = limits or Limits()
    sources = {r["notebook"]: read(source_dir / r["notebook"]) for r in rows if r["exercises"]}
    workroot = Path(tempfile.mkdtemp(prefix=".release-check-"))
    try:
        for name in sources:
            instructor = grade_notebook(source_dir / name, "instructor", sources, workroot, limits)
            blank = grade_notebook(out / name, "student-version", sources, workroot, limits)
            i = report["notebook"] == name
            report.loc[i, "instructor passes"] = f"{sum(r.passed for r in instructor)}/{len(instructor)}"
            report.loc[i, "student version passes"] = f"{sum(r.passed for r in blank)}/{len(blank)}"
            report.loc[i, "valid"] = all(r.passed for r in instructor) and not any(r.passed for r in blank)
            failures = [f"{r.exercise}: {r.message}" for r in instructor if not r.passed]
            failures += [f"{r.exercise} passes in the student version" for r in blank if r.passed]
            report.loc[i, "problems"] = "; ".join(failures)
    finally:
        shutil.rmtree(workroot, ignore_errors=True)
    return report
