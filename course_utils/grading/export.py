"""Grades shaped for the systems schools import them into: plain CSV, Canvas, Moodle and Gradescope.

    python -m course_utils.grading grade submissions/*/*.ipynb --out grades/ --format canvas --roster roster.csv

Every format has the student identifier, the points of each exercise, the total and what it is out of. The student
identifier the grader knows is the submission's folder name (``submissions/alice/...`` is "alice"); a roster CSV
(column ``student`` plus any of ``name``, ``first_name``, ``last_name``, ``email``, ``sis_user_id``, ``sis_login_id``,
``id_number``, ``section``) adds what each system matches students by. The layouts follow each system's documented
import or export (cited beside each writer; tests/test_grading_export.py checks the headers).
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

FORMATS = ("csv", "canvas", "moodle", "gradescope")
ROSTER_COLUMNS = ("student", "name", "first_name", "last_name", "email", "sis_user_id", "sis_login_id", "id_number",
                  "section")


def read_roster(path: str | Path) -> pd.DataFrame:
    """A roster CSV: one row per student, indexed by ``student`` (the submission folder's name)."""
    roster = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "student" not in roster.columns:
        raise ValueError(f"The roster {path} must have a 'student' column (the submission folder's name); its columns "
                         f"are {list(roster.columns)}.")
    unknown = [c for c in roster.columns if c not in ROSTER_COLUMNS]
    if unknown:
        raise ValueError(f"The roster {path} has columns the exports do not use: {unknown}. Allowed: {list(ROSTER_COLUMNS)}.")
    duplicated = roster["student"][roster["student"].duplicated()].tolist()
    if duplicated:
        raise ValueError(f"The roster {path} lists these students more than once: {duplicated}.")
    return roster.set_index("student")


def _people(table: pd.DataFrame, roster: pd.DataFrame | None) -> pd.DataFrame:
    """Roster fields for every graded student ("" where unknown); a graded student missing from the roster is an error."""
    students = list(table.index)
    if roster is None:
        roster = pd.DataFrame(index=pd.Index([], name="student"))
    missing = [s for s in students if s not in roster.index]
    if len(roster) and missing:
        raise ValueError(f"These graded students are not in the roster: {missing}. Add them (column 'student').")
    people = roster.reindex(students).fillna("")
    for column in ROSTER_COLUMNS[1:]:
        if column not in people:
            people[column] = ""
    return people


def _exercises(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c != "total"]


def _csv(rows: list[list]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def _points(value) -> str:
    return f"{float(value):g}"


def plain(table, max_points: dict[str, float], people) -> str:
    """student, one column per exercise, total, out_of."""
    exercises = _exercises(table)
    rows = [["student", *exercises, "total", "out_of"]]
    out_of = sum(max_points[e] for e in exercises)
    rows += [[s, *(_points(table.loc[s, e]) for e in exercises), _points(table.loc[s, "total"]), _points(out_of)]
             for s in table.index]
    return _csv(rows)


def canvas(table, max_points: dict[str, float], people, assignment: str) -> str:
    """Canvas Gradebook import: Student, ID, SIS User ID, SIS Login ID, Section, then one column per assignment and a
    "Points Possible" row. Columns without an "(id)" create new assignments on import, so each exercise becomes an
    assignment named "<assignment>: <exercise>" and the total one named "<assignment>".

    Canvas Instructor Guide, "How do I import grades in the Gradebook?"
    (https://community.canvaslms.com/t5/Instructor-Guide/How-do-I-import-grades-in-the-Gradebook/ta-p/807), and the
    importer it describes (instructure/canvas-lms lib/gradebook_importer.rb: the student columns are read by position,
    the last one must be Section; the ID column is Canvas's own user id, left blank here so that Canvas matches the
    SIS User ID, the SIS Login ID, then the name).
    """
    exercises = _exercises(table)
    header = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
              *(f"{assignment}: {e}" for e in exercises), assignment]
    possible = ["    Points Possible", "", "", "", "", *(_points(max_points[e]) for e in exercises),
                _points(sum(max_points[e] for e in exercises))]
    rows = [header, possible]
    for s in table.index:
        p = people.loc[s]
        rows.append([p["name"] or s, "", p["sis_user_id"], p["sis_login_id"] or s, p["section"],
                     *(_points(table.loc[s, e]) for e in exercises), _points(table.loc[s, "total"])])
    return _csv(rows)


def moodle(table, max_points: dict[str, float], people, assignment: str) -> str:
    """Moodle gradebook CSV import: a column that identifies the user ("Email address", "ID number" or "Username": the
    first the roster has), the grade column "<assignment> (Real)" and its feedback "<assignment> (Feedback)" (the
    points of each exercise, out of what), as Moodle's own plain-text export names them; map them on import (Map
    from / Map to; a new column can become a "New grade item").

    Moodle docs, "Grade import" (https://docs.moodle.org/en/Grade_import) and "Grade export"
    (https://docs.moodle.org/en/Grade_export); grade/import/csv/classes/load_data.php. The "Last downloaded from
    this course" column is left out: with it Moodle refuses files it considers stale unless "Force import" is ticked.
    """
    exercises = _exercises(table)
    if people["email"].ne("").all() and len(people):
        key, label = "email", "Email address"
    elif people["id_number"].ne("").all() and len(people):
        key, label = "id_number", "ID number"
    else:
        key, label = None, "Username"
    out_of = sum(max_points[e] for e in exercises)
    rows = [[label, "First name", "Last name", f"{assignment} (Real)", f"{assignment} (Feedback)"]]
    for s in table.index:
        p = people.loc[s]
        feedback = "; ".join(f"{e}: {_points(table.loc[s, e])}/{_points(max_points[e])}" for e in exercises)
        rows.append([p[key] if key else s, p["first_name"], p["last_name"], _points(table.loc[s, "total"]),
                     f"{_points(table.loc[s, 'total'])} of {_points(out_of)} points. {feedback}"])
    return _csv(rows)


def gradescope(table, max_points: dict[str, float], people, submitted: dict | None = None) -> str:
    """Gradescope's grade CSV layout: First Name, Last Name, SID, Email, Total Score, Max Points, Status, Submission
    Time, Lateness (H:M:S), then one column per exercise as "<n>: <exercise> (<points> pts)".

    Gradescope documents no CSV import of scores (its help pages document CSV rosters: "Adding Students and Staff",
    https://guides.gradescope.com/hc/en-us/articles/21926598776333-Adding-Students-and-Staff: Name or First/Last
    Name and a unique Email). This file follows the columns of Gradescope's own assignment export ("Download Grades"),
    so it reads like one and its Email column matches the roster; to put the scores into Gradescope itself, enter them
    or run the course's grader as a programming assignment's autograder (results.json, Gradescope's autograder spec).
    """
    exercises = _exercises(table)
    out_of = sum(max_points[e] for e in exercises)
    submitted = submitted or {}
    rows = [["First Name", "Last Name", "SID", "Email", "Total Score", "Max Points", "Status", "Submission Time",
             "Lateness (H:M:S)", *(f"{i}: {e} ({max_points[e]:.1f} pts)" for i, e in enumerate(exercises, 1))]]
    for s in table.index:
        p = people.loc[s]
        first = p["first_name"] or p["name"] or s
        when, late = submitted.get(s, ("", ""))
        rows.append([first, p["last_name"], p["sis_user_id"] or p["id_number"] or s, p["email"],
                     _points(table.loc[s, "total"]), _points(out_of), "Graded", when, late,
                     *(_points(table.loc[s, e]) for e in exercises)])
    return _csv(rows)


def export(table: pd.DataFrame, max_points: dict[str, float], fmt: str, roster: pd.DataFrame | None = None,
           assignment: str = "Course notebooks", submitted: dict | None = None) -> str:
    """The grades ``table`` (students x exercises + total, as ``grade`` returns it) as ``fmt``'s CSV text."""
    if fmt not in FORMATS:
        raise ValueError(f"The export format must be one of {list(FORMATS)}. Got {fmt!r}.")
    if not isinstance(assignment, str) or not assignment.strip():
        raise ValueError(f"The assignment name must be a non-empty string. Got {assignment!r}.")
    missing = [e for e in _exercises(table) if e not in max_points]
    if missing:
        raise ValueError(f"max_points must give every exercise's points; missing: {missing}.")
    people = _people(table, roster)
    if fmt == "csv":
        return plain(table, max_points, people)
    if fmt == "canvas":
        return canvas(table, max_points, people, assignment)
    if fmt == "moodle":
        return moodle(table, max_points, people, assignment)
    return gradescope(table, max_points, people, submitted)
