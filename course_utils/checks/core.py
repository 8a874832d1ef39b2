"""Instant exercise checks: a short verdict, a hint that never gives the answer away, and local progress.

Expected values are stored as salted digests (or computed from the data at check time), so they cannot be read in the
course's files. That protects self-study honesty, not graded work: graded work is decided by the autograder's hidden
tests, which students never see (``python -m course_utils.grading``).
"""
from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

GRADING_ENV = "COURSE_UTILS_GRADING"  # grading mode for other graders (nbgrader): a check that does not pass raises
_SESSION = None  # the check cell being graded (course_utils.grading.verdict.begin): grading mode, set by the grader
PROGRESS_ENV = "COURSE_UTILS_PROGRESS"  # a file for progress, or "off"

CORRECT, INCORRECT, NOT_ATTEMPTED, WRONG_TYPE = "correct", "incorrect", "not attempted", "wrong type"


class ExerciseFailed(AssertionError):
    """Raised by a check in grading mode when the answer is not correct."""


@dataclass(frozen=True)
class Verdict:
    exercise: str
    status: str
    message: str

    @property
    def passed(self) -> bool:
        return self.status == CORRECT

    def __str__(self) -> str:
        mark = {CORRECT: "✅", INCORRECT: "❌", NOT_ATTEMPTED: "⏳", WRONG_TYPE: "⚠️"}[self.status]
        return f"{mark} {self.exercise}: {self.message}"


@dataclass(frozen=True)
class Exercise:
    """One graded exercise. ``kind`` decides how an answer is compared:

    "exact"   an integer or string, compared through its digest;
    "number"  a real number within ``tolerance`` of the expected one (digest of the value on a tolerance grid);
    "set"     a collection compared without order; "list" with order (digests of the canonical form);
    "frame"   a DataFrame or array: shape and values rounded to ``decimals`` (digest);
    "function"/"model": a callable checker in ``run`` decides (property tests and hidden cases).
    """

    id: str
    title: str
    points: int
    kind: str
    hint: str  # the first level, printed with every "not yet": the concept that is wrong, never the code
    digest: str | None = None
    tolerance: float = 0.0
    decimals: int = 6
    run: Callable | None = None  # for "function"/"model": answer -> (ok, message)
    extra: dict = field(default_factory=dict)
    nudge: str = ""  # the second level, printed by hint(id): a stronger push, still not the solution

    @property
    def chapter(self) -> str:
        return self.id.split(".", 1)[0]


REGISTRY: dict[str, Exercise] = {}


def register(*exercises: Exercise) -> None:
    for ex in exercises:
        REGISTRY[ex.id] = ex


# ---------------------------------------------------------------- digests
def _hash(exercise_id: str, canonical: str) -> str:
    return hashlib.sha256(f"course_utils:{exercise_id}:{canonical}".encode()).hexdigest()[:32]


def canonical(kind: str, value, decimals: int = 6, tolerance: float = 0.0) -> str | list[str]:
    """The canonical text of an answer that is hashed (a list of candidates for "number")."""
    if kind == "exact":
        if isinstance(value, str):
            return "s:" + value.strip().lower()  # text answers ignore case and surrounding spaces
        return "i:" + str(int(value))
    if kind == "number":
        q = round(float(value) / tolerance)
        return [f"q:{q + d}" for d in (-1, 0, 1)]
    if kind == "set":
        return "set:" + json.dumps(sorted(_plain(v) for v in value), default=str)
    if kind == "list":
        return "list:" + json.dumps([_plain(v) for v in value], default=str)
    if kind == "frame":
        arr = value.to_numpy() if isinstance(value, pd.DataFrame) else np.asarray(value)
        arr = np.round(arr.astype(float), decimals) + 0.0  # + 0.0 turns -0.0 into 0.0
        return f"frame:{arr.shape}:" + hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()
    raise ValueError(f"no digest for exercise kind {kind!r}")


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


def make_digest(exercise_id: str, kind: str, value, decimals: int = 6, tolerance: float = 0.0) -> str:
    """The digest a teacher stores for an exercise: ``make_digest("ch1.split-size", "exact", 80000)``."""
    if kind == "number":
        return _hash(exercise_id, f"q:{round(float(value) / tolerance)}")
    return _hash(exercise_id, canonical(kind, value, decimals, tolerance))


# ---------------------------------------------------------------- checking
_TRUSTED_PACKAGES = ("builtins", "collections", "fractions", "decimal", "numpy", "pandas", "torch")


def _foreign_type(value, depth: int = 0) -> type | None:
    """The first type in ``value`` (and its elements) that is not Python's (builtins, collections, fractions, decimal),
    NumPy's, pandas' or PyTorch's own.

    A value answer is compared through its type's methods (repr, ==, hash, iteration); a class of the notebook's own
    could run any code there, the grader's included, so such answers are refused before any of them is called."""
    t = type(value)
    name = getattr(t, "__module__", "") or ""
    if name.split(".")[0] not in _TRUSTED_PACKAGES:
        return t
    heap = bool(t.__flags__ & (1 << 9))  # Py_TPFLAGS_HEAPTYPE: a class written in Python, which could be anyone's
    if heap and "." not in t.__qualname__ and getattr(sys.modules.get(name), t.__qualname__, None) is not t:
        return t
    if depth < 2 and t in (list, tuple, set, frozenset):
        for item in value:
            found = _foreign_type(item, depth + 1)
            if found is not None:
                return found
    if isinstance(value, np.ndarray) and value.dtype == object:
        for item in value.ravel():
            found = _foreign_type(item, depth + 1)
            if found is not None:
                return found
    if isinstance(value, pd.DataFrame):
        for column in value.columns[value.dtypes.eq(object).to_numpy()]:
            for item in value[column].to_numpy():
                found = _foreign_type(item, depth + 1)
                if found is not None:
                    return found
    return None


def _type_problem(ex: Exercise, answer) -> str | None:
    """A plain message when the answer has the wrong type for this exercise, else None."""
    got = f"{type(answer).__name__} {answer!r}"[:80]
    if ex.kind == "exact":
        want_str = ex.extra.get("type") == "str"
        if want_str and not isinstance(answer, str):
            return f"expected text (a str), got {got}."
        if not want_str:
            if isinstance(answer, bool) or isinstance(answer, str):
                return f"expected a whole number (an int), got {got}." + (" Convert it with int(...)." if isinstance(answer, str) else "")
            if isinstance(answer, numbers.Real) and not isinstance(answer, numbers.Integral):
                return None if float(answer).is_integer() else f"expected a whole number (an int), got {got}."
            if not isinstance(answer, numbers.Integral):
                return f"expected a whole number (an int), got {got}."
    if ex.kind == "number" and (isinstance(answer, (bool, str)) or not isinstance(answer, numbers.Real)):
        return f"expected a number (a float), got {got}." + (" Convert it with float(...)." if isinstance(answer, str) else "")
    if ex.kind == "number" and not math.isfinite(float(answer)):
        return f"expected a finite number, got {answer!r}."
    if ex.kind in ("set", "list") and (isinstance(answer, (str, bytes, dict)) or not hasattr(answer, "__iter__")):
        return f"expected a list of ids, got {got}."
    if ex.kind == "frame" and not isinstance(answer, (pd.DataFrame, np.ndarray, list)):
        return f"expected a DataFrame or an array, got {got}."
    if ex.kind in ("function", "model") and not callable(answer):
        return f"expected a function (or a model), got {got}."
    return None


def evaluate(exercise_id: str, answer) -> Verdict:
    """Judge an answer without printing or recording anything."""
    if exercise_id not in REGISTRY:
        raise KeyError(f"Unknown exercise id {exercise_id!r}. Known ids start with: "
                       f"{sorted({e.chapter for e in REGISTRY.values()})}.")
    ex = REGISTRY[exercise_id]
    if answer is Ellipsis or answer is None:
        return Verdict(ex.id, NOT_ATTEMPTED, "not attempted yet: replace the ... in the cell above with your code and run it.")
    if ex.kind not in ("function", "model"):
        foreign = _foreign_type(answer)
        if foreign is not None:
            return Verdict(ex.id, WRONG_TYPE, f"expected a plain value (Python, NumPy, pandas or PyTorch), got an object of "
                                              f"the class {foreign.__name__!r}: convert it (int(...), float(...), list(...)).")
    problem = _type_problem(ex, answer)
    if problem:
        return Verdict(ex.id, WRONG_TYPE, problem)
    if ex.kind in ("function", "model"):
        try:
            ok, message = ex.run(answer)
        except NotImplementedError:
            return Verdict(ex.id, NOT_ATTEMPTED, "not attempted yet: your code still raises NotImplementedError.")
        except Exception as err:  # the learner's code failed inside the checker: say so plainly
            ok, message = False, f"your code raised {type(err).__name__}: {err}."
        return Verdict(ex.id, CORRECT if ok else INCORRECT, message if ok else f"not yet: {message} Hint: {ex.hint}{_more(ex)}")
    if ex.kind == "number":
        candidates = canonical("number", answer, tolerance=ex.tolerance)
        ok = any(_hash(ex.id, c) == ex.digest for c in candidates)
    else:
        if ex.kind == "list":
            answer = list(answer)
        ok = _hash(ex.id, canonical(ex.kind, answer, ex.decimals, ex.tolerance)) == ex.digest
    if ok:
        return Verdict(ex.id, CORRECT, "correct, well done!")
    return Verdict(ex.id, INCORRECT, f"not yet. Hint: {ex.hint}{_more(ex)}")


def _more(ex: Exercise) -> str:
    return f' Still stuck? hint("{ex.id}") gives a stronger nudge.' if ex.nudge else ""


def hint(exercise_id: str) -> None:
    """Print the second-level hint of an exercise: a stronger nudge than the one a "not yet" shows, never the solution."""
    if exercise_id not in REGISTRY:
        raise KeyError(f"Unknown exercise id {exercise_id!r}. Known ids start with: "
                       f"{sorted({e.chapter for e in REGISTRY.values()})}.")
    ex = REGISTRY[exercise_id]
    print(f"💡 {ex.id} ({ex.title}): {ex.nudge or ex.hint}")


def check(exercise_id: str, answer) -> None:
    """Print a verdict for ``answer`` to exercise ``exercise_id`` and remember it for ``progress()``.

    In grading mode (the course's grader sets it in each check cell it restores; other graders can set the environment
    variable COURSE_UTILS_GRADING=1) an answer that is not correct raises ExerciseFailed.
    """
    session, grading = _SESSION, grading_mode()  # taken before the answer's own code runs inside evaluate
    verdict = evaluate(exercise_id, answer)
    print(verdict)
    _record(verdict)
    if session is not None:
        session.verdicts.append(verdict)
    if (grading or session is not None) and not verdict.passed:
        raise ExerciseFailed(str(verdict))


def grading_mode() -> bool:
    """True while the grader runs a check cell (or where COURSE_UTILS_GRADING=1): checks raise instead of printing."""
    return _SESSION is not None or os.environ.get(GRADING_ENV) == "1"


def verify(exercise_id: str, answer) -> None:
    """Raise ExerciseFailed unless ``answer`` passes: the autograder's hidden tests call the same checker as ``check``
    (for a model, the same equivalence with the reference), silently and whatever the environment says."""
    session = _SESSION
    verdict = evaluate(exercise_id, answer)
    if session is not None:
        session.verdicts.append(verdict)
    if not verdict.passed:
        raise ExerciseFailed(str(verdict))


# ---------------------------------------------------------------- progress
def progress_path() -> Path | None:
    value = os.environ.get(PROGRESS_ENV)
    if value == "off":
        return None
    return Path(value) if value else Path.home() / ".course_utils" / "progress.json"


def _load_progress(path: Path | None) -> dict:
    if path is None or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, json.JSONDecodeError):
        return {}


def _record(verdict: Verdict) -> None:
    path = progress_path()
    if path is None or grading_mode():
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # two notebooks open at once share the file: one at a time reads, adds its verdict and writes (a lock beside
        # it where the system has flock), each through its own temporary file, so no verdict overwrites another
        with open(path.with_name(path.name + ".lock"), "a") as lock:
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_EX)
            data = _load_progress(path)
            data[verdict.exercise] = {"status": verdict.status, "time": time.strftime("%Y-%m-%d %H:%M:%S")}
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
            with os.fdopen(fd, "w") as f:
                f.write(json.dumps(data, indent=1, sort_keys=True))
            os.replace(tmp, path)
    except OSError:
        pass  # a read-only home must not break a learner's notebook


def progress(chapter: str | None = None) -> pd.DataFrame:
    """Which exercises pass, per chapter, from the checks you ran (a local JSON file; see progress_path())."""
    data = _load_progress(progress_path())
    rows = []
    for ex in REGISTRY.values():
        if chapter is not None and ex.chapter != chapter:
            continue
        status = data.get(ex.id, {}).get("status", "not tried")
        rows.append({"chapter": ex.chapter, "exercise": ex.id, "title": ex.title, "points": ex.points,
                     "status": status, "earned": ex.points if status == CORRECT else 0})
    table = pd.DataFrame(rows, columns=["chapter", "exercise", "title", "points", "status", "earned"])
    if len(table):
        summary = table.groupby("chapter")[["earned", "points"]].sum()
        for ch, row in summary.iterrows():
            print(f"{ch}: {int(row.earned)} of {int(row.points)} points")
    return table
