"""Grade exports (course_utils.grading.export): each file's header against the import format its system documents."""
from __future__ import annotations

import csv
import io

import pandas as pd
import pytest

from course_utils.grading.export import export, read_roster

MAX = {"ch0.most-active": 1.0, "ch0.ndcg": 2.0}
TABLE = pd.DataFrame({"ch0.most-active": [1.0, 0.0], "ch0.ndcg": [2.0, 0.0]}, index=pd.Index(["alice", "bob"], name="student"))
TABLE["total"] = TABLE.sum(axis=1)


def _rows(text):
    return list(csv.reader(io.StringIO(text)))


@pytest.fixture
def roster(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text("student,name,first_name,last_name,email,sis_user_id,sis_login_id,section\n"
                    "alice,\"Liddell, Alice\",Alice,Liddell,alice@example.edu,S001,aliddell,A\n"
                    "bob,\"Builder, Bob\",Bob,Builder,bob@example.edu,S002,bbuilder,B\n")
    return read_roster(path)


def test_plain_csv_has_the_identifier_each_exercise_the_total_and_what_it_is_out_of():
    rows = _rows(export(TABLE, MAX, "csv"))
    assert rows[0] == ["student", "ch0.most-active", "ch0.ndcg", "total", "out_of"]
    assert rows[1] == ["alice", "1", "2", "3", "3"] and rows[2] == ["bob", "0", "0", "0", "3"]


def test_canvas(roster):
    # Canvas Instructor Guide, "How do I import grades in the Gradebook?"
    # https://community.canvaslms.com/t5/Instructor-Guide/How-do-I-import-grades-in-the-Gradebook/ta-p/807 and its
    # importer (instructure/canvas-lms, lib/gradebook_importer.rb): the header starts Student, ID, SIS User ID,
    # SIS Login ID, Section (read by position, Section last), then one column per assignment; a row whose first cell
    # contains "Points Possible" gives each assignment's points; a title without "(id)" creates a new assignment.
    rows = _rows(export(TABLE, MAX, "canvas", roster, assignment="Chapter 0"))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                       "Chapter 0: ch0.most-active", "Chapter 0: ch0.ndcg", "Chapter 0"]
    assert "Points Possible" in rows[1][0] and rows[1][5:] == ["1", "2", "3"]
    assert rows[2] == ["Liddell, Alice", "", "S001", "aliddell", "A", "1", "2", "3"]  # ID: Canvas's own user id, blank
    # no column Canvas would drop as a read-only total ("Final Score", "Current Points", ...)
    assert not any(word in h for h in rows[0] for word in ("Final", "Current", "Override"))


def test_moodle(roster):
    # Moodle docs, "Grade import" (https://docs.moodle.org/en/Grade_import): users are matched through one column
    # mapped to user id, username, ID number or email address ("Map from" / "Map to"); grade and feedback columns are
    # mapped to grade items or "New grade item". Moodle's plain-text export names them "Email address",
    # "<item> (Real)" and "<item> (Feedback)" (grade/export/txt; lang string gradeexportcolumntype).
    rows = _rows(export(TABLE, MAX, "moodle", roster, assignment="Chapter 0"))
    assert rows[0] == ["Email address", "First name", "Last name", "Chapter 0 (Real)", "Chapter 0 (Feedback)"]
    assert rows[1][:4] == ["alice@example.edu", "Alice", "Liddell", "3"]
    assert rows[1][4] == "3 of 3 points. ch0.most-active: 1/1; ch0.ndcg: 2/2"
    assert "Last downloaded from this course" not in rows[0]  # would make Moodle refuse files it finds stale
    no_emails = roster.assign(email="")
    assert _rows(export(TABLE, MAX, "moodle", no_emails))[0][0] == "Username"
    assert _rows(export(TABLE, MAX, "moodle"))[1][0] == "alice"


def test_gradescope(roster):
    # Gradescope documents CSV rosters ("Adding Students and Staff",
    # https://guides.gradescope.com/hc/en-us/articles/21926598776333-Adding-Students-and-Staff: first and last name,
    # a unique Email); the score columns follow its assignment export ("Download Grades": First Name, Last Name, SID,
    # Email, Total Score, Max Points, Status, Submission Time, Lateness (H:M:S), then "<n>: <question> (<p> pts)").
    rows = _rows(export(TABLE, MAX, "gradescope", roster, submitted={"alice": ("2026-12-01 10:00:00 +0000", "00:00:00")}))
    assert rows[0] == ["First Name", "Last Name", "SID", "Email", "Total Score", "Max Points", "Status",
                       "Submission Time", "Lateness (H:M:S)", "1: ch0.most-active (1.0 pts)", "2: ch0.ndcg (2.0 pts)"]
    assert rows[1] == ["Alice", "Liddell", "S001", "alice@example.edu", "3", "3", "Graded", "2026-12-01 10:00:00 +0000",
                       "00:00:00", "1", "2"]


def test_bad_input_is_refused_with_the_rule(tmp_path, roster):
    with pytest.raises(ValueError, match="must be one of"):
        export(TABLE, MAX, "blackboard")
    with pytest.raises(ValueError, match="missing: \\['ch0.ndcg'\\]"):
        export(TABLE, {"ch0.most-active": 1.0}, "csv")
    with pytest.raises(ValueError, match="not in the roster: \\['bob'\\]"):
        export(TABLE, MAX, "canvas", roster.drop(index="bob"))
    bad = tmp_path / "bad.csv"
    bad.write_text("name,email\nA,a@x\n")
    with pytest.raises(ValueError, match="must have a 'student' column"):
        read_roster(bad)
    bad.write_text("student,phone\na,1\n")
    with pytest.raises(ValueError, match="columns the exports do not use: \\['phone'\\]"):
        read_roster(bad)
    bad.write_text("student\na\na\n")
    with pytest.raises(ValueError, match="more than once: \\['a'\\]"):
        read_roster(bad)
