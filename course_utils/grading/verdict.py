"""Verdicts a submission cannot forge: how a restored check cell proves to the grader that it passed.

The grader restores every check cell as::

    _grading = __import__("course_utils.grading.verdict", fromlist=["begin"]).begin("ex.id", "<token>", expect_check=True)
    from course_utils.checks import *
    <the instructor's check, hidden tests included>
    _grading.finish()

The instructor's hidden tests run inside ``with _grading.hidden():``: whatever they print is swallowed and whatever
they raise becomes "a hidden test failed", so neither their code nor their expected values reach a student's
feedback (the teacher's details.csv keeps the original message).

``begin`` reloads the course's checks from the read-only package (a ``check``, ``ExerciseFailed`` or checker that the
notebook replaced is gone) and switches grading mode on in them: from here a check that does not pass raises
ExerciseFailed, whatever the environment says. ``finish`` publishes the token (a fresh secret per check cell and
submission, never on disk inside the sandbox) only when the cell got there without an error and every course check it
ran passed. The grader counts a pass only when that token is in the cell's outputs: printing "✅ correct", ending the
cell quietly or switching grading mode off earns nothing.
"""
from __future__ import annotations

import contextlib
import io
import sys

MIME = "application/vnd.course-utils.verdict+json"
HIDDEN_FAILED = "a hidden test failed"


class Session:
    def __init__(self, grade_id: str, token: str, expect_check: bool):
        self.grade_id, self.token, self.expect_check = grade_id, token, expect_check
        self.verdicts: list = []

    @contextlib.contextmanager
    def hidden(self):
        """Run the instructor's hidden tests: silent, and failing with a message that gives nothing of them away."""
        from course_utils.checks import core

        sink = io.StringIO()
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                yield
        except Exception as err:
            detail = f"{type(err).__name__}: {err}"[:300]
            raise core.ExerciseFailed(f"{HIDDEN_FAILED} [teacher: {detail}]") from None

    def finish(self) -> None:
        from course_utils.checks import core

        core._SESSION = None
        if self.expect_check and not self.verdicts:
            raise core.ExerciseFailed("the check cell ran no course check: was check replaced?")
        failed = [v for v in self.verdicts if not v.passed]
        if failed:  # a check that did not pass raised already, unless something swallowed its exception
            raise core.ExerciseFailed(str(failed[0]))
        from IPython.display import publish_display_data

        publish_display_data({MIME: {"grade_id": self.grade_id, "token": self.token},
                              "text/plain": f"[the grader's verdict for {self.grade_id}]"})


def begin(grade_id: str, token: str, expect_check: bool = True) -> Session:
    """Reload course_utils.checks from the package files and put it in grading mode for this check cell."""
    for name in [m for m in sys.modules if m == "course_utils.checks" or m.startswith("course_utils.checks.")]:
        del sys.modules[name]
    from course_utils.checks import core

    session = Session(grade_id, token, expect_check)
    core._SESSION = session
    return session
