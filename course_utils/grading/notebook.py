"""Exercise cells in a notebook: find them, make the student version, and compare a submission with its source.

An exercise is three cells, each with nbgrader-compatible metadata (schema 3) plus ``course_utils.exercise``:
  task (markdown, locked)  ->  solution (code, ``# BEGIN SOLUTION`` ... ``# END SOLUTION``)  ->  check (code, graded,
  locked; the instructor's hidden tests sit between ``# BEGIN HIDDEN TESTS`` and ``# END HIDDEN TESTS``).
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass

import nbformat

BEGIN_SOLUTION, END_SOLUTION = "BEGIN SOLUTION", "END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
SOURCE_KEY = "course_utils"


@dataclass
class CheckCell:
    grade_id: str
    exercise: str
    points: float
    index: int
    source: str


def check_cells(nb) -> list[CheckCell]:
    """The graded (check) cells of a notebook, in order."""
    out = []
    for i, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") == "code" and meta.get("grade"):
            exercise = cell["metadata"].get(SOURCE_KEY, {}).get("exercise", meta.get("grade_id"))
            out.append(CheckCell(meta.get("grade_id", ""), exercise, float(meta.get("points", 0)), i, cell.source))
    return out


def strip_hidden_tests(source: str) -> str:
    lines, out, hidden = source.splitlines(), [], False
    for line in lines:
        if BEGIN_HIDDEN in line:
            hidden = True
        elif END_HIDDEN in line:
            hidden = False
        elif not hidden:
            out.append(line)
    return "\n".join(out).rstrip()


def replace_solution(source: str, exercise: str, answer: str | None) -> str:
    """Replace each solution region with a placeholder: ``answer = ...`` and a NotImplementedError with a hint."""
    out, inside = [], False
    for line in source.splitlines():
        if BEGIN_SOLUTION in line:
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            if indent == "" and answer:
                out.append(f"{answer} = ...  # YOUR CODE HERE")
            else:
                out.append(f"{indent}# YOUR CODE HERE")
            out.append(f'{indent}raise NotImplementedError("Exercise {exercise}: write your solution here, then delete this line.")')
        elif END_SOLUTION in line:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


def normalize(source: str) -> str:
    return re.sub(r"\s+", " ", source).strip()


def student_version(nb, source_name: str):
    """The notebook a student gets: solutions replaced, hidden tests removed, outputs cleared, check cells locked."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        meta = cell.get("metadata", {})
        grader = meta.get("nbgrader", {})
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            if grader.get("solution"):
                cell.source = replace_solution(cell.source, meta.get(SOURCE_KEY, {}).get("exercise", "?"),
                                               meta.get(SOURCE_KEY, {}).get("answer"))
            if grader.get("grade"):
                cell.source = strip_hidden_tests(cell.source)
        if grader.get("locked"):
            meta["editable"], meta["deletable"] = False, False
    nb.metadata[SOURCE_KEY] = {"source": source_name}
    return nb


def read(path):
    return nbformat.read(str(path), as_version=4)
