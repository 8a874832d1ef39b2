"""The teacher's side: release validated both ways, then one grading run over a perfect, an empty, a wrong and a dozen
hostile submissions of the example notebook. Every student is reported, and each hostile case is graded honestly."""
import copy
import os
import shutil
import socket
import subprocess
import sys
import threading
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
LIMITS = Limits(cell_timeout=10, notebook_timeout=30, memory_mb=3072, file_mb=64, disk_mb=256)
EXERCISES = ["ex.n-interactions", "ex.mean-rating", "ex.top-items", "ex.precision", "ex.scorer"]


@pytest.fixture(scope="module")
def released(tmp_path_factory, sandbox):
    src = tmp_path_factory.mktemp("source")
    shutil.copy(SOURCE, src / SOURCE.name)
    out = tmp_path_factory.mktemp("release")
    report = release(src, out, validate=True, limits=LIMITS, jobs=2)
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


LIBC = "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"


@pytest.fixture(scope="module")
def tcp_server():
    """A TCP server on the host's 127.0.0.1 that records every connection (a submission must never reach it)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.5)
    seen, stop = [], threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            seen.append(conn.recv(100))
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], seen
    stop.set()
    thread.join()
    server.close()


def _hostile_cases(paths):
    """(attack, exercise it attacks, code for that exercise's solution cell): the answer comes only if the attack works.

    ``paths`` holds the host paths the attacks aim at. Each attack's solution cell ends with the right answer, so a
    submission earns the exercise only if its attack got through; contained, it gets 0 and the feedback says why."""
    right = _solutions()
    answer = right["ex.n-interactions"].replace("# BEGIN SOLUTION\n", "").replace("\n# END SOLUTION", "")
    fork_exec = ("import _posixsubprocess\nr, w = os.pipe()\n"
                 f"argv = [b'/bin/sh', b'-c', b'echo pwned > {paths['posix']}']\n"
                 "pid = _posixsubprocess.fork_exec(argv, [b'/bin/sh'], True, (w,), None, None, -1, -1, -1, -1, -1, -1, r, w, True, False,\n"
                 "                                 -1, None, None, None, -1, None, False)  # Python 3.11 to 3.13\n"
                 "os.waitpid(pid, 0)\n")
    return {
        "ctypes-write": ("ex.n-interactions", LIBC + f"fd = libc.open({paths['package']!r}.encode(), os.O_WRONLY | os.O_CREAT, 0o644)\n"
                         "assert fd >= 0, f'open failed, errno {ctypes.get_errno()}'\nlibc.write(fd, b'pwned', 5)\n" + answer),
        "ctypes-write-grades": ("ex.n-interactions", LIBC + f"fd = libc.open({paths['grades']!r}.encode(), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)\n"
                                "assert fd >= 0, f'open failed, errno {ctypes.get_errno()}'\nlibc.write(fd, b'hacked', 6)\n" + answer),
        "open-write": ("ex.n-interactions", f"open({paths['grades']!r}, 'w').write('hacked')\n" + answer),
        "ctypes-read": ("ex.n-interactions", LIBC + f"fd = libc.open({paths['instructor']!r}.encode(), os.O_RDONLY)\n"
                        "assert fd >= 0, f'open failed, errno {ctypes.get_errno()}'\n" + answer),
        "open-read": ("ex.n-interactions", f"assert 'BEGIN SOLUTION' in open({paths['instructor']!r}).read()\n" + answer),
        "other-submission": ("ex.n-interactions", f"assert 'len(df)' in open({paths['other']!r}).read()\n" + answer),
        "posixsubprocess": ("ex.n-interactions", LIBC + fork_exec + answer),
        "os-system": ("ex.n-interactions", f"import os\nassert os.system('echo pwned > {paths['system']}') == 0\n" + answer),
        "posix-spawn": ("ex.n-interactions", f"import os\npid = os.posix_spawn('/bin/sh', ['sh', '-c', 'echo pwned > {paths['spawn']}'], {{}})\n"
                        "os.waitpid(pid, 0)\n" + answer),
        "ctypes-system": ("ex.n-interactions", LIBC + f"assert libc.system(b'echo pwned > {paths['csystem']}') == 0\n" + answer),
        "tcp": ("ex.n-interactions", f"import socket\nsocket.create_connection(('127.0.0.1', {paths['port']}), timeout=5).sendall(b'pwned')\n" + answer),
        "fork-bomb": ("ex.n-interactions", LIBC + "for _ in range(200):\n    pid = libc.fork()\n    if pid == 0:\n        libc._exit(0)\n"
                      "    assert pid > 0, f'fork failed, errno {ctypes.get_errno()}'\n" + answer),
        "memory-bomb": ("ex.n-interactions", "blocks = []\nwhile True:\n    blocks.append(bytearray(256 * 2 ** 20))\n" + answer),
        "big-file": ("ex.n-interactions", "with open('big.bin', 'wb') as f:\n    for _ in range(10 * 1024 // 32):  # 10 GB\n"
                     "        f.write(bytes(32 * 2 ** 20))\n" + answer),
        "disk-bomb": ("ex.n-interactions", "for i in range(1000):  # 1000 files of 60 MB\n"
                      "    with open(f'fill{i}.bin', 'wb') as f:\n        f.write(bytes(60 * 2 ** 20))\n" + answer),
        "equal-to-anything": ("ex.n-interactions", "class Anything(int):\n    def __eq__(self, other):\n        return True\n"
                              "    __hash__ = int.__hash__\n    def __repr__(self):\n"
                              "        import sys\n        sys.modules['course_utils.checks.core']._SESSION.verdicts.clear()\n"
                              "        return '1'\nn_interactions = Anything(1)"),
        "import-hijack": ("ex.n-interactions", "from IPython.display import publish_display_data as _publish\nclass _Fake:\n"
                          "    def begin(self, grade_id, token, expect_check=True):\n"
                          "        _publish({'application/vnd.course-utils.verdict+json': {'grade_id': grade_id, 'token': token}})\n"
                          "        return self\n    def finish(self):\n        pass\n"
                          "_real_import = __import__\n"
                          "def __import__(name, *args, **kwargs):\n"
                          "    return _Fake() if 'verdict' in name else _real_import(name, *args, **kwargs)\n"
                          "n_interactions = 1"),
        "history-leak": ("ex.precision", "def precision_at_k(ranked, relevant, k):\n"
                         "    raise ValueError(' '.join(get_ipython().user_ns['In'][-3:]))"),
        "grading-mode-off": ("ex.mean-rating", "import os\nos.environ.pop('COURSE_UTILS_GRADING', None)\nmean_rating = 4.0"),
        "session-off": ("ex.precision", "def precision_at_k(ranked, relevant, k):\n    import course_utils.checks.core as core\n"
                        "    core._SESSION = None\n    return 1.0"),
        "check-replaced": ("ex.mean-rating", "import course_utils.checks as c\nc.check = c.core.check = lambda *a, **k: print('✅ correct')\n"
                           "def check(*args, **kwargs):\n    print('✅ correct')\nmean_rating = 4.0"),
        "exercisefailed-replaced": ("ex.mean-rating", "import course_utils.checks as c\nclass Quiet(Exception):\n    pass\n"
                                    "c.ExerciseFailed = c.core.ExerciseFailed = Quiet\nmean_rating = 4.0"),
        "print-replaced": ("ex.mean-rating", "import builtins\n_print = builtins.print\n"
                           "builtins.print = lambda *a, **k: _print('✅ ex.mean-rating: correct, well done!')\nmean_rating = 4.0"),
        "fake-verdict": ("ex.top-items", "from IPython.display import publish_display_data\n"
                         "MIME = 'application/vnd.course-utils.verdict+json'\n"
                         "def fake(result):\n    print('✅ ex.top-items: correct, well done!')\n"
                         "    publish_display_data({MIME: {'grade_id': 'ex.top-items', 'token': '0' * 32}})\n"
                         "get_ipython().events.register('post_run_cell', fake)\ntop_items = [1, 2, 3]"),
        "kill-parent": ("ex.n-interactions", LIBC + "libc.kill(os.getppid(), 9)\nlibc.kill(-1, 9)\nlibc.kill(1, 9)\n"
                        "assert False, 'the grader is still alive'\n" + answer),
        "c-sleep": ("ex.top-items", LIBC + "import signal\nsignal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})\nlibc.sleep(100000)\n"
                    "top_items = []"),
    }


# attack -> (total, exercises at 0, a reason the feedback must give)
HOSTILE = {
    "ctypes-write": (6, ["ex.n-interactions"], "open failed, errno 30"),  # EROFS: the package is mounted read-only
    "ctypes-write-grades": (6, ["ex.n-interactions"], "open failed, errno 2"),  # ENOENT: the grades folder is not there
    "open-write": (6, ["ex.n-interactions"], ("No such file or directory", "PermissionError: grading:")),  # the host's folders are not in the sandbox
    "ctypes-read": (6, ["ex.n-interactions"], "open failed, errno 2"),
    "open-read": (6, ["ex.n-interactions"], ("No such file or directory", "PermissionError: grading:")),
    "other-submission": (6, ["ex.n-interactions"], ("No such file or directory", "PermissionError: grading:")),
    "posixsubprocess": (6, ["ex.n-interactions"], "PermissionError: [Errno 1] Operation not permitted"),  # seccomp
    "os-system": (6, ["ex.n-interactions"], "os.system is not allowed"),
    "posix-spawn": (6, ["ex.n-interactions"], "os.posix_spawn is not allowed"),
    "ctypes-system": (6, ["ex.n-interactions"], "AssertionError"),
    "tcp": (6, ["ex.n-interactions"], "ConnectionRefusedError"),
    "fork-bomb": (6, ["ex.n-interactions"], "fork failed, errno 1"),  # EPERM from the seccomp filter
    "memory-bomb": (6, ["ex.n-interactions"], "MemoryError"),
    "big-file": (6, ["ex.n-interactions"], "File too large"),
    "disk-bomb": (6, ["ex.n-interactions"], "No space left on device"),  # the work folder is a 256 MB tmpfs here
    "equal-to-anything": (6, ["ex.n-interactions"], "expected a plain value"),  # refused before its methods run
    "import-hijack": (6, ["ex.n-interactions"], "not yet"),  # the restored cell imports with the import statement
    "history-leak": (5, ["ex.precision"], "your code raised ValueError"),
    "grading-mode-off": (6, ["ex.mean-rating"], "not yet"),
    "session-off": (5, ["ex.precision"], "not yet"),
    "check-replaced": (6, ["ex.mean-rating"], "not yet"),
    "exercisefailed-replaced": (6, ["ex.mean-rating"], "not yet"),
    "print-replaced": (6, ["ex.mean-rating"], "not yet"),
    "fake-verdict": (6, ["ex.top-items"], "not yet"),
    "kill-parent": (6, ["ex.n-interactions"], "the grader is still alive"),
    "c-sleep": (2, ["ex.top-items", "ex.precision", "ex.scorer"], "ran longer than 30 s"),
}


@pytest.fixture(scope="module")
def graded(released, tmp_path_factory, tcp_server):
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
    import course_utils

    package = Path(course_utils.__file__).parent
    targets = {"package": str(package / f"pwned-{uuid.uuid4().hex}.py"), "grades": str(grades_dir / "grades.csv"),
               "instructor": str(src / SOURCE.name), "other": str(subs / "perfect" / SOURCE.name), "port": tcp_server[0],
               # where the started programs would write: the grades folder, were they ever started
               **{k: str(grades_dir / f"pwned-{k}") for k in ("posix", "system", "spawn", "csystem")}}
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
    attacks = _hostile_cases(targets)
    for name in HOSTILE:
        exercise, code = attacks[name]
        cases[name] = _submission(student, {**right, exercise: code})
    paths = []
    for name, nb in cases.items():
        (subs / name).mkdir()
        nbformat.write(nb, str(subs / name / SOURCE.name))
        paths.append(subs / name / SOURCE.name)
    (subs / "garbage").mkdir()
    (subs / "garbage" / SOURCE.name).write_text("this is not a notebook {")
    paths.append(subs / "garbage" / SOURCE.name)
    table = grade(paths, grades_dir, src, jobs=2, limits=LIMITS, progress=False)
    return table, grades_dir, outside, targets, tcp_server[1], paths


def _feedback(grades_dir, student):
    return (grades_dir / "feedback" / f"{student}.md").read_text()


@pytest.mark.slow
def test_grades_of_honest_submissions(graded):
    table, grades_dir, *_ = graded
    csv = pd.read_csv(grades_dir / "grades.csv", index_col="student")
    assert list(csv.columns) == EXERCISES + ["total"]
    assert csv.loc["perfect", "total"] == 7 and csv.loc["empty", "total"] == 0 and csv.loc["wrong", "total"] == 0
    assert "not attempted" in _feedback(grades_dir, "empty")
    assert "Hint:" in _feedback(grades_dir, "wrong") and "**0 of 7 points.**" in _feedback(grades_dir, "wrong")
    assert len(csv) == 16 + len(HOSTILE)  # every student is reported


@pytest.mark.slow
@pytest.mark.parametrize("student, total, zeroed, reason", [
    ("looper", 6, ["ex.mean-rating"], "NameError"),
    ("stubborn", 1, ["ex.mean-rating", "ex.top-items", "ex.precision", "ex.scorer"], "ran longer than 30 s"),
    ("exiter", 7, [], None),
    ("killer", 2, ["ex.top-items", "ex.precision", "ex.scorer"], "the kernel died"),
    ("import-error", 2, ["ex.n-interactions", "ex.mean-rating", "ex.top-items", "ex.scorer"], "NameError"),  # the pure function still counts
    ("deleter", 6, ["ex.top-items"], "the check cell was deleted"),
    ("reorderer", 5, ["ex.n-interactions", "ex.mean-rating"], "moved out of their places"),
    ("cheater", 6, ["ex.n-interactions"], "not yet"),
    ("editor", 6, ["ex.mean-rating"], "the locked check cell was edited"),
    ("chatty", 7, [], None),
    ("snoop", 6, ["ex.n-interactions"], "PermissionError: grading: reading"),
    ("hog", 6, ["ex.mean-rating"], "MemoryError"),
    ("garbage", 0, EXERCISES, "not a valid notebook"),
    *[(name, total, zeroed, reason) for name, (total, zeroed, reason) in HOSTILE.items()],
])
def test_hostile_submissions_are_graded_honestly(graded, student, total, zeroed, reason):
    """Each attack gets 0 for the exercise it attacks, with the reason in the feedback, and nothing else changes."""
    table, grades_dir, *_ = graded
    row = table.loc[student]
    assert row["total"] == total, _feedback(grades_dir, student)
    assert [e for e in EXERCISES if row[e] == 0] == zeroed, _feedback(grades_dir, student)
    if reason:  # one reason, or any of several (the audit hook or the sandbox's mounts, whichever stops it first)
        assert any(r in _feedback(grades_dir, student) for r in ((reason,) if isinstance(reason, str) else reason))


@pytest.mark.slow
def test_the_sandbox_kept_the_host_untouched(graded):
    table, grades_dir, outside, targets, connections, paths = graded
    assert not outside.exists()
    for key in ("package", "posix", "system", "spawn", "csystem"):
        assert not Path(targets[key]).exists(), key
    assert "hacked" not in (grades_dir / "grades.csv").read_text()
    assert connections == []  # no submission reached the host's 127.0.0.1
    assert sorted(p.name for p in grades_dir.iterdir()) == [".grading-state.json", "details.csv", "feedback",
                                                             "grades.csv", "review.md"]
    assert (grades_dir / "feedback" / "chatty.md").stat().st_size < 10_000
    assert all(p.is_file() for p in paths)  # the submissions themselves are untouched


@pytest.mark.slow
def test_check_cells_leave_no_trace_a_submission_can_read(graded):
    """The restored check cells (hidden tests, tokens) stay out of IPython's history, so not even an error message
    of the submission's own code can carry them into its feedback."""
    table, grades_dir, *_ = graded
    feedback = _feedback(grades_dir, "history-leak")
    assert "your code raised ValueError" in feedback
    assert "HIDDEN" not in feedback and "_grading" not in feedback and "make_synthetic(n_users=100" not in feedback


@pytest.mark.slow
def test_submissions_that_reach_for_internals_are_flagged_for_the_teacher(graded):
    table, grades_dir, *_ = graded
    review = (grades_dir / "review.md").read_text()
    for student in ("ctypes-write", "posixsubprocess", "check-replaced", "exercisefailed-replaced", "cheater", "fake-verdict", "tcp",
                    "grading-mode-off", "session-off", "print-replaced", "kill-parent", "equal-to-anything", "import-hijack"):
        assert f"| {student} |" in review, student
        assert "**For the teacher:**" in _feedback(grades_dir, student)
    for student in ("perfect", "wrong", "empty"):
        assert f"| {student} |" not in review and "For the teacher" not in _feedback(grades_dir, student)


@pytest.mark.slow
def test_grading_again_gives_the_same_grades(graded, released, tmp_path):
    """Re-running grade on the same submissions gives the same grades (a deterministic sample of them)."""
    table, grades_dir, *_, paths = graded
    src, _, _ = released
    again = [p for p in paths if p.parent.name in ("perfect", "wrong", "cheater", "fork-bomb", "fake-verdict")]
    open_before = sorted(os.listdir("/proc/self/fd"))
    second = grade(again, tmp_path, src, jobs=2, limits=LIMITS, progress=False)
    pd.testing.assert_frame_equal(second, table.loc[second.index])
    assert sorted(os.listdir("/proc/self/fd")) == open_before  # every file handle the grader opened is closed


@pytest.mark.slow
def test_grading_without_a_sandbox_is_loud_and_keeps_the_second_layer(released, tmp_path, capsys):
    src, out, _ = released
    perfect = _submission(read(out / SOURCE.name), _solutions())
    snoop = _submission(read(out / SOURCE.name), {**_solutions(), "ex.n-interactions": f"n_interactions = len(open({str(SOURCE)!r}).read())"})
    for name, nb in (("perfect", perfect), ("snoop", snoop)):
        (tmp_path / "subs" / name).mkdir(parents=True)
        nbformat.write(nb, str(tmp_path / "subs" / name / SOURCE.name))
    table = grade(sorted((tmp_path / "subs").glob("*/*.ipynb")), tmp_path / "grades", src, limits=LIMITS, progress=False, sandbox=False)
    assert table.loc["perfect", "total"] == 7 and table.loc["snoop", "ex.n-interactions"] == 0
    assert "WITHOUT a sandbox" in capsys.readouterr().err
    assert "grading: reading" in (tmp_path / "grades" / "feedback" / "snoop.md").read_text()


def test_a_missing_bubblewrap_stops_grading_before_any_submission_runs(released, tmp_path, monkeypatch, capsys):
    from course_utils.grading import jail

    src, out, _ = released
    monkeypatch.setattr(jail, "bwrap_path", lambda: None)
    with pytest.raises(jail.SandboxUnavailable, match="--unsafe-no-sandbox"):
        grade([out / SOURCE.name], tmp_path / "g", src, progress=False)
    assert not (tmp_path / "g" / "grades.csv").exists()
    assert cli(["grade", str(out / SOURCE.name), "--out", str(tmp_path / "g"), "--source", str(src)]) == 2
    assert "apt-get install bubblewrap" in capsys.readouterr().err


def test_grades_csv_is_replaced_whole(tmp_path, monkeypatch):
    """A run killed while writing leaves the previous file, never half of one."""
    grade_module = sys.modules["course_utils.grading.grade"]

    target = tmp_path / "grades.csv"
    target.write_text("student,total\nalice,7\n")

    def dies(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(grade_module.os, "replace", dies)
    with pytest.raises(KeyboardInterrupt):
        grade_module._write_atomic(target, "student,total\nalice,0\nbob")
    assert target.read_text() == "student,total\nalice,7\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grades.csv"]  # no temporary file left behind
    monkeypatch.undo()
    grade_module._write_atomic(target, "student,total\nalice,0\n")
    assert target.read_text() == "student,total\nalice,0\n"


def test_release_refuses_a_check_cell_that_cannot_fail(tmp_path):
    nb = read(SOURCE)
    index = _cell(nb, "ex.top-items", "check")
    nb.cells[index].source = "print(top_items)"
    (tmp_path / "src").mkdir()
    nbformat.write(nb, str(tmp_path / "src" / SOURCE.name))
    with pytest.raises(ValueError, match="'ex.top-items' has neither a course check"):
        release(tmp_path / "src", tmp_path / "out", validate=False)
    assert not (tmp_path / "out").exists()


def test_limits_are_validated():
    with pytest.raises(ValueError, match="Limits.memory_mb must be a positive integer, got 0"):
        Limits(memory_mb=0)
    with pytest.raises(ValueError, match="jobs must be a positive integer, got 0"):
        grade([SOURCE], Path("/nonexistent"), SOURCE.parent, jobs=0)


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
def test_quickstart_exercises_end_to_end(real_data_dir, tmp_path, monkeypatch, sandbox):
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
    # GitHub Classroom clones: one repository per student, the notebooks in its notebooks/ folder
    names = {"00_quickstart.ipynb", "02_ncf.ipynb"}
    clones = [tmp_path / "hw1-submissions" / repo / "notebooks" / name for repo in ("hw1-ana", "hw1-ben") for name in names]
    assert student_ids(clones, names) == ["hw1-ana", "hw1-ana", "hw1-ben", "hw1-ben"]
    one = [tmp_path / "hw1-ana" / "notebooks" / name for name in sorted(names)]
    assert student_ids(one, names) == ["hw1-ana", "hw1-ana"]


def _secret_source(folder):
    """The example notebook with a hidden test that prints and asserts values no student may see."""
    nb = read(SOURCE)
    cell = nb.cells[_cell(nb, "ex.n-interactions", "check")]
    cell.source = cell.source.replace(
        "# END HIDDEN TESTS",
        'print("SECRET-PRINTED", 4242)\n_expected_secret = 4242\n'
        'assert n_interactions == _expected_secret, f"expected {_expected_secret}, got {n_interactions}"\n'
        "# END HIDDEN TESTS")
    folder.mkdir(parents=True)
    nbformat.write(nb, str(folder / SOURCE.name))
    return folder


@pytest.mark.slow
def test_feedback_shows_the_hint_and_what_was_checked_never_the_hidden_tests(released, tmp_path):
    _, out, _ = released
    src = _secret_source(tmp_path / "src")
    (tmp_path / "subs" / "perfect").mkdir(parents=True)
    nbformat.write(_submission(read(out / SOURCE.name), _solutions()), str(tmp_path / "subs" / "perfect" / SOURCE.name))
    grade([tmp_path / "subs" / "perfect" / SOURCE.name], tmp_path / "grades", src, limits=LIMITS, progress=False)
    feedback = _feedback(tmp_path / "grades", "perfect")
    row = next(line for line in feedback.splitlines() if "| ex.n-interactions |" in line)
    assert "a hidden test failed" in row and "Hint:" in row and "0 / 1" in row
    assert "| what was checked |" in feedback
    hidden = [line.strip() for line in read(src / SOURCE.name).cells[_cell(read(src / SOURCE.name), "ex.n-interactions",
                                                                          "check")].source.splitlines()]
    hidden = hidden[hidden.index("# BEGIN HIDDEN TESTS") + 1: hidden.index("# END HIDDEN TESTS")]
    for text in [*hidden, "4242", "SECRET", "_expected_secret", "make_synthetic", "does not match the log"]:
        assert text not in feedback, text
    details = pd.read_csv(tmp_path / "grades" / "details.csv")
    detail = details.set_index("exercise").loc["ex.n-interactions", "hidden_test_detail"]
    assert "AssertionError: expected 4242" in detail  # the teacher sees why


@pytest.mark.slow
def test_regrading_is_incremental_and_marks_late_work(released, tmp_path, capsys):
    src, out, _ = released
    subs = tmp_path / "subs"
    for name, answers in (("early", _solutions()), ("late", {**_solutions(), "ex.mean-rating": "mean_rating = 4.0"})):
        (subs / name).mkdir(parents=True)
        nbformat.write(_submission(read(out / SOURCE.name), answers), str(subs / name / SOURCE.name))
    times = tmp_path / "times.csv"
    times.write_text("student,submitted\nearly,2026-12-01T22:00:00+00:00\nlate,2026-12-02T01:30:15+00:00\n")
    paths = sorted(subs.glob(f"*/{SOURCE.name}"))
    common = ["--source", str(src), "--out", str(tmp_path / "grades"), "--cell-timeout", "10", "--notebook-timeout", "30",
              "--memory-mb", "3072", "--file-mb", "64", "--disk-mb", "256", "--deadline", "2026-12-01T23:59:00Z",
              "--timestamps", str(times), "--format", "canvas"]
    assert cli(["grade", *map(str, paths), *common]) == 0
    assert "Graded 2 submissions, kept 0" in capsys.readouterr().out
    grades = pd.read_csv(tmp_path / "grades" / "grades.csv", index_col="student", keep_default_na=False)
    assert grades.loc["early", "late_by"] == "" and grades.loc["late", "late_by"] == "1:31:15"
    assert grades.loc["late", "submitted"] == "2026-12-02T01:30:15+00:00"
    assert (tmp_path / "grades" / "export-canvas.csv").read_text().startswith("Student,ID,SIS User ID,SIS Login ID,Section,")
    first = grades.drop(columns=["submitted", "late_by"])

    assert cli(["grade", *map(str, paths), *common]) == 0  # nothing changed: nothing runs
    assert "Graded 0 submissions, kept 2" in capsys.readouterr().out
    again = pd.read_csv(tmp_path / "grades" / "grades.csv", index_col="student", keep_default_na=False)
    pd.testing.assert_frame_equal(again.drop(columns=["submitted", "late_by"]), first)

    fixed = _submission(read(out / SOURCE.name), _solutions())  # the late student fixes the answer: regraded alone
    nbformat.write(fixed, str(subs / "late" / SOURCE.name))
    assert cli(["grade", *map(str, paths), *common]) == 0
    assert "Graded 1 submissions, kept 1" in capsys.readouterr().out
    assert pd.read_csv(tmp_path / "grades" / "grades.csv", index_col="student").loc["late", "total"] == 7
    assert cli(["grade", *map(str, paths), *common, "--force"]) == 0
    assert "Graded 2 submissions, kept 0" in capsys.readouterr().out


def test_bad_deadlines_and_timestamps_are_refused_with_the_rule(tmp_path):
    from course_utils.grading.grade import parse_time, submission_times

    with pytest.raises(ValueError, match="ISO 8601"):
        parse_time("next friday", "The deadline")
    times = tmp_path / "t.csv"
    times.write_text("student,when\na,2026-12-01\n")
    with pytest.raises(ValueError, match="columns 'student' and 'submitted'"):
        submission_times([tmp_path / "a.ipynb"], ["a"], times)
    times.write_text("student,submitted\na,2026-12-01\n")
    with pytest.raises(ValueError, match="no time for: \\['b'\\]"):
        submission_times([tmp_path / "a.ipynb", tmp_path / "b.ipynb"], ["a", "b"], times)


def test_feedback_counts_a_notebook_not_handed_in_like_grades_csv(tmp_path):
    """A student who handed in one of the batch's two notebooks: the feedback's total has the same out-of as
    grades.csv and the exports, and the missing notebook is a row that says it was not handed in."""
    from course_utils.grading.grade import ExerciseResult, _feedback

    results = [ExerciseResult("ada", "a.ipynb", "ex.one", 1, 1, True, "✅ correct"),
               ExerciseResult("ada", "b.ipynb", "ex.two", 2, 2, True, "✅ correct"),
               ExerciseResult("ada", "b.ipynb", "ex.three", 3, 3, True, "✅ correct"),
               ExerciseResult("ben", "a.ipynb", "ex.one", 1, 1, True, "✅ correct")]
    exercises = {"ex.one": ("a.ipynb", 1.0), "ex.two": ("b.ipynb", 2.0), "ex.three": ("b.ipynb", 3.0)}
    _feedback(results, tmp_path, exercises)
    ben = (tmp_path / "ben.md").read_text()
    assert "**1 of 6 points.**" in ben
    row = next(line for line in ben.splitlines() if line.startswith("| b.ipynb |"))
    assert "ex.two, ex.three" in row and "0 / 5" in row and "not handed in" in row
    ada = (tmp_path / "ada.md").read_text()
    assert "**6 of 6 points.**" in ada and "not handed in" not in ada
