"""Release student versions and grade submissions against the instructor's notebooks and hidden tests."""
from __future__ import annotations

import copy
import os
import re
import secrets
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pandas as pd

from .execute import cpu_cores, run_notebook, stop_workers
from .notebook import (BEGIN_HIDDEN, END_HIDDEN, SOURCE_KEY, check_cells, normalize, read, strip_hidden_tests,
                       student_version)
from .verdict import HIDDEN_FAILED, MIME

RESTORE = ("import course_utils.grading.verdict as _grading_verdict  # restored by the grader\n"
           "_grading = _grading_verdict.begin({grade_id!r}, {token!r}, expect_check={expect})\n"
           "from course_utils.checks import *\n")
FINISH = "\n_grading.finish()  # restored by the grader: publishes this run's token only after a genuine pass\n"
CALLS_CHECK = re.compile(r"\b(check|check_\w+|verify)\s*\(")
UNSAFE_WARNING = (
    "WARNING: grading WITHOUT a sandbox (--unsafe-no-sandbox). Each submission runs as you, with your files, your "
    "network and your processes within its reach; only a Python audit hook and resource limits stand in its way, and "
    "native code (ctypes, a compiled extension) walks around the hook. Grade only notebooks you trust this way.")
# what a submission's own code has no honest reason to touch while it is graded: flagged for the teacher to read
SUSPICIOUS = {
    "ctypes or cffi": r"\b(ctypes|cffi)\b",
    "process control": r"_posixsubprocess|\bsubprocess\b|\bos\.(system|popen|fork\w*|exec\w*|spawn\w*|posix_spawn\w*|kill\w*)\b|\bpty\b",
    "interpreter internals": r"sys\.(modules|meta_path|path_hooks|_getframe|settrace|setprofile|addaudithook)|__builtins__|\bbuiltins\b"
                             r"|\b(f_back|f_globals|f_locals|tb_frame|gi_frame|__code__|__globals__|__closure__)\b|\bgc\.|\binspect\.",
    "IPython's execution hooks": r"\b(input_transformers\w*|ast_transformers|events\.register|set_custom_exc)\b",
    "the grader or its mode": r"COURSE_UTILS_GRADING|course_utils\.grading|checks\.core|_SESSION|\b_grading\b|os\.environ",
    "the course's checks or references": r"course_utils\.(checks|metrics)\b|\b(check|check_\w+|verify|evaluate|ExerciseFailed)\s*=[^=]"
                                         r"|\bdef\s+(check|check_\w+|verify|evaluate)\s*\(|\breference_\w+",
    "dynamic code": r"(?<![\w.])(exec|eval|compile|__import__|getattr|setattr)\s*\(|\bimportlib\b",
    "the network": r"\bsocket\b|\burllib\b|\brequests\b|http\.client",
}


@dataclass
class ExerciseResult:
    student: str
    notebook: str
    exercise: str
    points: float
    max_points: float
    passed: bool
    message: str  # what the student reads: never the hidden tests' code, output or values
    review: str = ""  # what the teacher should read before accepting the grade ("" when nothing)
    detail: str = ""  # for the teacher only (details.csv): why a hidden test failed


@dataclass
class Limits:
    """Per submission: seconds per cell and per notebook, and the kernel's resource limits (set inside the sandbox
    before the kernel starts): address space, file size (MB), processes and threads, open files, output per cell."""
    cell_timeout: int = 600
    notebook_timeout: int = 1800
    memory_mb: int = 8192
    max_output_bytes: int = 1024 * 1024
    file_mb: int = 1024
    processes: int = 512
    open_files: int = 1024
    disk_mb: int = 2048  # the sandbox's HOME, the work folder included (a tmpfs: memory, not the grader's disk)

    def __post_init__(self):
        for name, value in vars(self).items():
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"Limits.{name} must be a positive integer, got {value!r}")


def guard_hidden(source: str) -> str:
    """The check cell as the grader runs it: its hidden tests inside ``with _grading.hidden():`` (silent, and failing
    with a message that shows nothing of them; see course_utils.grading.verdict)."""
    out, hidden, opened, indent = [], False, 0, ""
    for line in source.splitlines():
        if BEGIN_HIDDEN in line:
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}with _grading.hidden():  # restored by the grader")
            hidden, opened = True, len(out)
        elif END_HIDDEN in line:
            if len(out) == opened:
                out.append(f"{indent}    pass")
            hidden = False
        else:
            out.append(f"{indent}    {line[len(indent):]}" if hidden and line.strip() else line)
    if hidden and len(out) == opened:
        out.append(f"{indent}    pass")
    return "\n".join(out)


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
def grade_notebook(path: Path, student: str, sources: dict, workroot: Path, limits: Limits, sandbox: bool = True,
                   threads: int | None = None) -> list[ExerciseResult]:
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

    review = _review(sub, source, name)

    run_nb = copy.deepcopy(sub)
    by_id = {}
    for c in check_cells(run_nb):
        by_id.setdefault(c.grade_id, []).append(c.index)
    tokens = {sc.grade_id: secrets.token_hex(16) for sc in src_checks}  # never on disk where the kernel can read
    for sc in src_checks:  # run the instructor's check (with hidden tests) wherever the student's cell stands
        expect = bool(CALLS_CHECK.search(strip_hidden_tests(sc.source)))
        for idx in by_id.get(sc.grade_id, []):
            run_nb.cells[idx].source = (RESTORE.format(grade_id=sc.grade_id, token=tokens[sc.grade_id], expect=expect)
                                        + guard_hidden(sc.source) + FINISH)
    for cell in run_nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in f"{student}-{Path(name).stem}")[:60]
    job = Path(tempfile.mkdtemp(prefix=f"{safe}-", dir=workroot))  # one folder per job, whatever the names collide to
    quiet = tuple(i for ids in by_id.values() for i in ids)  # check cells stay out of IPython's input history
    executed, info = run_notebook(run_nb, job / "work", job / "private", sandbox=sandbox, threads=threads,
                                  quiet_cells=quiet, **vars(limits))

    results, previous = [], -1
    for sc in src_checks:
        if sc.grade_id in problems:
            results.append(ExerciseResult(student, name, sc.exercise, 0.0, sc.points, False, problems[sc.grade_id], review))
            continue
        index = by_id[sc.grade_id][0]
        ok, message, detail = _cell_verdict(executed.cells[index], info, sc.grade_id, tokens[sc.grade_id])
        if not ok:
            message += _earlier_error(executed, previous, index)
        previous = index
        results.append(ExerciseResult(student, name, sc.exercise, sc.points if ok else 0.0, sc.points, ok, message, review,
                                      detail))
    return results


def _review(sub, source, name: str) -> str:
    """What in the submission's own code (cells that are not the course's) a teacher should read before trusting the
    grade: code that reaches for native calls, processes, the interpreter's internals, the grader or the network."""
    course = {normalize(c.source) for c in student_version(source, name).cells if c.cell_type == "code"}
    course |= {normalize(c.source) for c in source.cells if c.cell_type == "code"}
    found = []
    for i, cell in enumerate(sub.cells):
        if cell.cell_type != "code" or normalize(cell.source) in course:
            continue
        for what, pattern in SUSPICIOUS.items():
            match = re.search(pattern, cell.source)
            if match and what not in [f[0] for f in found]:
                found.append((what, f"cell {i + 1}: {match.group(0)!r}"))
    return "; ".join(f"{what} ({where})" for what, where in found)


def _earlier_error(executed, start: int, end: int) -> str:
    """The first error raised between the previous check cell and this one: usually why this check failed."""
    for cell in executed.cells[start + 1:end]:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.get("output_type") == "error":
                return f" (an earlier cell raised {out.get('ename', 'an error')}: {str(out.get('evalue', ''))[:200]})"
    return ""


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


def _cell_verdict(cell, info, grade_id: str, token: str) -> tuple[bool, str, str]:
    """Passed only with this run's token in the cell's outputs (course_utils.grading.verdict) and no error.
    Returns (passed, the student's message, the teacher's detail)."""
    ok, message = _cell_outcome(cell, info, grade_id, token)
    if message.startswith(HIDDEN_FAILED):
        return ok, HIDDEN_FAILED, message[len(HIDDEN_FAILED):].strip(" []").removeprefix("teacher: ")
    return ok, message, ""


def _cell_outcome(cell, info, grade_id: str, token: str) -> tuple[bool, str]:
    if cell.get("execution_count") is None:
        return False, f"this check did not run: {info.get('status', 'the notebook stopped before it')}"
    text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream").strip()
    errors = [o for o in cell.outputs if o.get("output_type") == "error"]
    if not errors:
        proven = any(o.get("data", {}).get(MIME) == {"grade_id": grade_id, "token": token} for o in cell.outputs)
        if proven:
            lines = [line for line in text.splitlines() if line.strip()]
            return True, lines[-1] if lines else "passed"
        return False, ("the check ran without the grader's proof of a pass (the notebook replaced or silenced the "
                       "course's check, its output or the course package)")
    err = errors[0]
    ename, evalue = err.get("ename", "Error"), str(err.get("evalue", ""))[:300]
    if ename == "ExerciseFailed":
        return False, evalue
    if ename == "AssertionError":  # an assert in the check cell's public part (hidden ones raise ExerciseFailed)
        return False, f"a check failed{': ' + evalue if evalue else ''}"
    if ename == "CellTimeoutError":
        return False, evalue
    return False, f"the check raised {ename}: {evalue}"


# ---------------------------------------------------------------- many submissions
def student_ids(paths: list[Path], notebook_names=()) -> list[str]:
    """Who submitted each file: submissions/alice/00_quickstart.ipynb -> "alice"; alice.ipynb -> "alice".

    Files in different folders are named after their folder under the common parent (a GitHub Classroom clone,
    hw1-submissions/hw1-alice/notebooks/*.ipynb, gives "hw1-alice"); files in one folder after the folder when they
    carry a course notebook's name (after the folder above when that folder is a repository's notebooks/), else after
    the file name.
    """
    paths = [Path(p).resolve() for p in paths]
    if len({p.parent for p in paths}) == 1:
        folder = paths[0].parent
        owner = folder.parent.name if folder.name == "notebooks" and folder.parent.name else folder.name
        return [owner if p.name in notebook_names else p.stem for p in paths]
    base = Path(os.path.commonpath([str(p.parent) for p in paths]))
    return [p.relative_to(base).parts[0] if len(p.relative_to(base).parts) > 1 else p.stem for p in paths]


def _grade_one(path, student, sources, workroot, limits, sandbox, threads) -> list[ExerciseResult]:
    """grade_notebook, and if the grader itself fails on this submission, zeros with the reason: never the whole run."""
    try:
        return grade_notebook(path, student, sources, workroot, limits, sandbox, threads)
    except Exception as err:  # the grader failing on one submission must not stop the others
        name = Path(path).name if Path(path).name in sources else None
        return _zeros(student, name, sources, f"the grader could not grade this submission ({type(err).__name__}: {str(err)[:200]})")


def _threads(jobs: int) -> int:
    """Threads each kernel may use so that ``jobs`` kernels share the CPU cores without oversubscribing them."""
    return max(1, cpu_cores() // max(1, jobs))


def _prepare_sandbox(sandbox: bool) -> None:
    if sandbox:
        from .jail import check_available

        check_available()  # SandboxUnavailable, with what to do, before any submission runs
    else:
        print(UNSAFE_WARNING, file=sys.stderr)


STATE = ".grading-state.json"  # in the grades folder: what each submission got, by content hash (incremental runs)


def grader_fingerprint(sources: dict, limits: Limits, sandbox: bool) -> str:
    """What a grade depends on besides the submission: the instructor notebooks, the course's checks and grader code,
    the limits and the sandbox. A change to any of them regrades everything."""
    import hashlib

    import course_utils

    h = hashlib.sha256()
    for name in sorted(sources):
        h.update(name.encode() + nbformat.writes(sources[name]).encode())
    package = Path(course_utils.__file__).parent
    for path in sorted([*(package / "checks").glob("*.py"), *(package / "grading").glob("*.py")]):
        h.update(path.name.encode() + path.read_bytes())
    h.update(repr((sorted(vars(limits).items()), sandbox)).encode())
    return h.hexdigest()


def _file_hash(path: Path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest() if Path(path).is_file() else ""


def _load_state(out: Path, fingerprint: str) -> dict:
    import json

    try:
        state = json.loads((out / STATE).read_text())
    except (OSError, ValueError):
        return {}
    return state.get("submissions", {}) if state.get("grader") == fingerprint else {}


def parse_time(value, what: str):
    """An aware datetime from ISO 8601 text (no zone: UTC), a datetime or a Unix timestamp; a clear error otherwise."""
    from datetime import datetime, timezone

    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            when = datetime.fromtimestamp(value, tz=timezone.utc)
        elif isinstance(value, datetime):
            when = value
        else:
            when = datetime.fromisoformat(str(value).strip())
    except (ValueError, OverflowError, OSError) as err:
        raise ValueError(f"{what} must be a date and time in ISO 8601 form such as 2026-12-01T23:59:00+01:00. "
                         f"Got {value!r} ({err}).") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def submission_times(submissions: list[Path], students: list[str], timestamps: Path | None = None) -> dict:
    """When each student submitted: from a CSV (columns student, submitted: ISO 8601, e.g. the commit time GitHub
    Classroom records) or else each file's modification time."""
    times = {}
    if timestamps is not None:
        table = pd.read_csv(timestamps, dtype=str, keep_default_na=False)
        if not {"student", "submitted"} <= set(table.columns):
            raise ValueError(f"The timestamps file {timestamps} must have the columns 'student' and 'submitted'; it "
                             f"has {list(table.columns)}.")
        given = {row.student: parse_time(row.submitted, f"submitted of {row.student} in {timestamps}")
                 for row in table.itertuples(index=False)}
        missing = sorted(set(students) - set(given))
        if missing:
            raise ValueError(f"The timestamps file {timestamps} has no time for: {missing}.")
        return {s: given[s] for s in students}
    for path, student in zip(submissions, students, strict=True):
        if Path(path).is_file():
            when = parse_time(Path(path).stat().st_mtime, "the file time")
            times[student] = max(times.get(student, when), when)  # the latest of a student's files
    return times


def _late_by(when, deadline) -> str:
    if when is None or when <= deadline:
        return ""
    seconds = int((when - deadline).total_seconds())
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def grade(submissions: list[Path], out: Path, source_dir: Path, jobs: int = 1, limits: Limits | None = None,
          progress: bool = True, sandbox: bool = True, force: bool = False, deadline=None,
          timestamps: Path | None = None, fmt: str | None = None, roster: Path | None = None,
          assignment: str = "Course notebooks") -> pd.DataFrame:
    """Grade every submission; write grades.csv, details.csv, review.md and feedback/<student>.md under ``out``;
    return the grades table.

    Each submission runs in a fresh kernel inside bubblewrap (``sandbox=False`` grades without it, and says so loudly);
    ``jobs`` submissions run at once. Grading is incremental: a submission whose content, instructor notebook, course
    checks and limits are unchanged since the last run in ``out`` keeps its results without running (``force`` runs
    everything). ``deadline`` (ISO 8601) adds the columns submitted and late_by (H:M:S) from ``timestamps`` (a CSV:
    student, submitted) or the files' modification times. ``fmt`` ("csv", "canvas", "moodle", "gradescope") also
    writes export-<fmt>.csv for that system, with the students' identifiers from ``roster`` (course_utils.grading.export).
    Files are replaced whole (written beside, then renamed), so a run killed midway leaves the previous files or none,
    never half of one; grading the same submissions again gives the same grades.
    """
    import json

    from tqdm.auto import tqdm

    from .export import FORMATS, export, read_roster

    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"The export format must be one of {list(FORMATS)}. Got {fmt!r}.")
    roster_table = read_roster(roster) if roster is not None else None
    deadline = parse_time(deadline, "The deadline") if deadline is not None else None
    limits = limits or Limits()
    _prepare_sandbox(sandbox)
    sources = load_sources(source_dir)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    submissions = [Path(p) for p in submissions]
    students = student_ids(submissions, sources)
    times = submission_times(submissions, students, timestamps) if deadline is not None else {}
    fingerprint = grader_fingerprint(sources, limits, sandbox)
    state = {} if force else _load_state(out, fingerprint)
    keys = [f"{s}/{p.name}" for p, s in zip(submissions, students, strict=True)]
    hashes = [_file_hash(p) for p in submissions]
    todo = [i for i, (k, h) in enumerate(zip(keys, hashes, strict=True)) if state.get(k, {}).get("hash") != h or not h]
    kept = {i: [ExerciseResult(**r) for r in state[keys[i]]["results"]] for i in range(len(keys)) if i not in todo}
    workroot = Path(tempfile.mkdtemp(prefix="course-grading-"))  # private (0700), outside the grades folder
    graded: dict[int, list[ExerciseResult]] = {}
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {i: pool.submit(_grade_one, submissions[i], students[i], sources, workroot, limits, sandbox,
                                      _threads(jobs)) for i in todo}
            try:
                for i, f in tqdm(futures.items(), desc="grading", unit="notebook", disable=not progress):
                    graded[i] = f.result()
            except BaseException:  # interrupted: stop what runs, start nothing more
                pool.shutdown(wait=False, cancel_futures=True)
                stop_workers()
                raise
    finally:
        shutil.rmtree(workroot, ignore_errors=True)
    per_submission = {**kept, **graded}
    results = [r for i in range(len(submissions)) for r in per_submission[i]]
    table = _table(results, sources)
    if deadline is not None:
        table["submitted"] = [times[s].isoformat() if s in times else "" for s in table.index]
        table["late_by"] = [_late_by(times.get(s), deadline) for s in table.index]
    handed_in = {sc.exercise: (name, sc.points) for name, nb in sources.items() for sc in check_cells(nb)
                 if sc.exercise in table.columns}  # what anyone in this batch handed in: the same out-of for all
    _feedback(results, out / "feedback", handed_in)
    _write_atomic(out / "review.md", _review_report(results))
    _write_atomic(out / "details.csv", details_table(results).to_csv(index=False))
    if fmt is not None:
        max_points = {sc.exercise: sc.points for nb in sources.values() for sc in check_cells(nb)}
        submitted = {s: (times[s].strftime("%Y-%m-%d %H:%M:%S %z"), _late_by(times[s], deadline) or "00:00:00")
                     for s in times} if deadline is not None else None
        grades_only = table.drop(columns=["submitted", "late_by"], errors="ignore")
        _write_atomic(out / f"export-{fmt}.csv", export(grades_only, max_points, fmt, roster_table, assignment, submitted))
    _write_atomic(out / "grades.csv", table.to_csv())
    new_state = {keys[i]: {"hash": hashes[i], "results": [vars(r) for r in per_submission[i]]}
                 for i in range(len(submissions)) if hashes[i]}
    _write_atomic(out / STATE, json.dumps({"grader": fingerprint, "submissions": new_state}, ensure_ascii=False))
    table.attrs["graded"], table.attrs["kept"] = len(graded), len(kept)
    return table


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` beside ``path`` and rename it over ``path``: readers see the old file or the new one, whole."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _review_report(results) -> str:
    flagged = {}
    for r in results:
        if r.review:
            flagged.setdefault((r.student, r.notebook), r.review)
    lines = ["# Submissions to read before accepting their grades", "",
             "Their own code (cells that are not the course's) matches patterns of what a solution has no reason to use "
             "while graded: native calls, processes, the interpreter's internals, dynamic code, the grader, the course's "
             "checks and references, the network. The sandbox contained what it did outside the kernel; inside the "
             "kernel such code could still have gamed a check, so read the cells named. This is a pattern search, "
             "not a proof: code written to hide can slip past it.", ""]
    if not flagged:
        return "\n".join(lines[:2] + ["None: no submission's own code reached for any of those.", ""])
    lines += ["| student | notebook | what, where |", "|---|---|---|"]
    lines += [f"| {student} | {notebook} | {review.replace('|', '/')} |" for (student, notebook), review in flagged.items()]
    return "\n".join(lines) + "\n"


def details_table(results) -> pd.DataFrame:
    """One row per student and exercise, for the teacher: the student's message and why hidden tests failed."""
    return pd.DataFrame([{"student": r.student, "notebook": r.notebook, "exercise": r.exercise, "points": r.points,
                          "max_points": r.max_points, "passed": r.passed, "message": r.message,
                          "hidden_test_detail": r.detail, "review": r.review} for r in results],
                        columns=["student", "notebook", "exercise", "points", "max_points", "passed", "message",
                                 "hidden_test_detail", "review"])


def _table(results, sources) -> pd.DataFrame:
    columns = [sc.exercise for nb in sources.values() for sc in check_cells(nb)]
    frame = pd.DataFrame([{"student": r.student, "exercise": r.exercise, "points": r.points} for r in results])
    table = frame.pivot_table(index="student", columns="exercise", values="points", aggfunc="max", fill_value=0.0)
    table = table.reindex(columns=[c for c in columns if c in table.columns])
    table["total"] = table.sum(axis=1)
    table.columns.name = None
    return table


def exercise_info(exercise: str) -> tuple[str, str]:
    """(title, hint) of a course exercise: what its check tests and the concept to revisit; ("", "") if unknown."""
    from course_utils.checks import REGISTRY

    ex = REGISTRY.get(exercise)
    return (ex.title, ex.hint) if ex else ("", "")


def with_hint(exercise: str, message: str) -> str:
    """A failing verdict with the exercise's public hint, unless it carries one already."""
    _, hint = exercise_info(exercise)
    return message if not hint or "Hint:" in message else f"{message.rstrip('.')}. Hint: {hint}"


def _feedback(results, folder: Path, exercises: dict[str, tuple[str, float]] | None = None) -> None:
    """feedback/<student>.md. ``exercises`` (exercise -> (notebook, points)): every exercise of the batch's grades
    table, so that a notebook a student did not hand in shows as 0 points, as in grades.csv and the exports."""
    folder.mkdir(parents=True, exist_ok=True)
    by_student: dict[str, list[ExerciseResult]] = {}
    for r in results:
        by_student.setdefault(r.student, []).append(r)
    for student, rows in by_student.items():
        have = {r.exercise for r in rows}
        missing: dict[str, list[tuple[str, float]]] = {}
        for exercise, (notebook, points) in (exercises or {}).items():
            if exercise not in have:
                missing.setdefault(notebook, []).append((exercise, points))
        earned = sum(r.points for r in rows)
        possible = sum(r.max_points for r in rows) + sum(p for items in missing.values() for _, p in items)
        lines = [f"# Feedback for {student}", "", f"**{earned:g} of {possible:g} points.**", "",
                 "| notebook | exercise | what was checked | points | result |", "|---|---|---|---|---|"]
        for r in rows:
            message = (r.message if r.passed else with_hint(r.exercise, r.message)).replace("|", "\\|").replace("\n", " ")
            mark = "" if message[:1] in "✅❌⏳⚠" else ("✅ " if r.passed else "❌ ")
            title = exercise_info(r.exercise)[0].replace("|", "\\|")
            lines.append(f"| {r.notebook or '?'} | {r.exercise} | {title} | {r.points:g} / {r.max_points:g} | {mark}{message} |")
        for notebook, items in missing.items():
            lines.append(f"| {notebook} | {', '.join(e for e, _ in items)} | | 0 / {sum(p for _, p in items):g} | "
                         "⏳ not handed in: none of your notebooks in this batch is this one |")
        reviews = list(dict.fromkeys(r.review for r in rows if r.review))
        if reviews:
            lines += ["", "**For the teacher:** this submission's own code uses " + "; ".join(reviews)
                      + ". Read those cells before accepting the grade."]
        _write_atomic(folder / f"{student}.md", "\n".join(lines) + "\n")


# ---------------------------------------------------------------- release
def check_cell_problems(nb, name: str) -> list[str]:
    """Check cells a grader could not decide: each needs a course check (check/verify) or hidden tests, or both."""
    problems = []
    for c in check_cells(nb):
        if not CALLS_CHECK.search(strip_hidden_tests(c.source)) and BEGIN_HIDDEN not in c.source:
            problems.append(f"{name}: the check cell {c.grade_id!r} has neither a course check (check(...), verify(...)) "
                            "nor hidden tests, so any answer would pass it")
    return problems


def release(source_dir: Path, out: Path, validate: bool = True, limits: Limits | None = None, jobs: int = 1,
            sandbox: bool = True, progress: bool = False) -> pd.DataFrame:
    """Write the student version of every notebook in ``source_dir`` to ``out``; with validate, prove both ways that
    the instructor notebooks pass every check and that no check passes in the student versions (``jobs`` notebooks
    at once, each in the grader's sandbox). The report has each notebook's validation seconds; its ``attrs["seconds"]``
    is the wall time of the whole validation."""
    from tqdm.auto import tqdm

    source_dir, out = Path(source_dir), Path(out)
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
    notebooks = {path.name: read(path) for path in sorted(source_dir.glob("*.ipynb"))}
    problems = [p for name, nb in notebooks.items() for p in check_cell_problems(nb, name)]
    if problems:
        raise ValueError("release refused: " + "; ".join(problems))
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, nb in notebooks.items():
        nbformat.write(student_version(nb, name), str(out / name))
        rows.append({"notebook": name, "exercises": len(check_cells(nb))})
    report = pd.DataFrame(rows)
    if not validate:
        return report
    limits = limits or Limits()
    _prepare_sandbox(sandbox)
    sources = {name: nb for name, nb in notebooks.items() if check_cells(nb)}
    workroot = Path(tempfile.mkdtemp(prefix="course-release-check-"))

    def timed(path, who):
        start = time.perf_counter()
        results = grade_notebook(path, who, sources, workroot, limits, sandbox, _threads(jobs))
        return results, time.perf_counter() - start

    start = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:  # the longest notebooks first: less idle time at the end
            order = sorted(sources, key=lambda n: -len(sources[n].cells))
            futures = {(name, who): pool.submit(timed, (source_dir if who == "instructor" else out) / name, who)
                       for name in order for who in ("instructor", "student-version")}
            try:
                for future in tqdm(list(futures.values()), desc="validating", unit="notebook", disable=not progress):
                    future.result()
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                stop_workers()
                raise
        for name in sources:
            (instructor, t1), (blank, t2) = futures[(name, "instructor")].result(), futures[(name, "student-version")].result()
            i = report["notebook"] == name
            report.loc[i, "instructor passes"] = f"{sum(r.passed for r in instructor)}/{len(instructor)}"
            report.loc[i, "student version passes"] = f"{sum(r.passed for r in blank)}/{len(blank)}"
            report.loc[i, "valid"] = all(r.passed for r in instructor) and not any(r.passed for r in blank)
            report.loc[i, "seconds"] = round(t1 + t2, 1)
            failures = [f"{r.exercise}: {r.message}" for r in instructor if not r.passed]
            failures += [f"{r.exercise} passes in the student version" for r in blank if r.passed]
            report.loc[i, "problems"] = "; ".join(failures)
    finally:
        shutil.rmtree(workroot, ignore_errors=True)
    report.attrs["seconds"] = time.perf_counter() - start
    return report
