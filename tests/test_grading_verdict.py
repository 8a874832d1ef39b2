"""How a restored check cell proves a pass (course_utils.grading.verdict), in a fresh interpreter: begin reloads the
course's checks, so it must not run inside the test process."""
import json
import subprocess
import sys
import textwrap


def _fresh(code: str) -> dict:
    prelude = """
        import json, os
        os.environ.pop("COURSE_UTILS_GRADING", None)
        os.environ["COURSE_UTILS_PROGRESS"] = "off"
        import IPython.display
        published = []
        IPython.display.publish_display_data = lambda data, **kw: published.append(data)
        from course_utils.grading.verdict import MIME, begin
        def cell(body, expect_check=True):
            '''Run a check cell's body the way the grader restores it; return what happened.'''
            published.clear()
            try:
                session = begin("ex.n-interactions", "t0k3n", expect_check=expect_check)
                body()
                session.finish()
                outcome = "finished"
            except AssertionError as err:
                outcome = type(err).__name__ + ": " + str(err)[:80]
            return {"outcome": outcome, "token": [d[MIME]["token"] for d in published if MIME in d]}
    """
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(prelude) + textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_only_a_genuine_pass_publishes_the_token():
    out = _fresh("""
        from course_utils import make_synthetic
        right = len(make_synthetic(n_users=100, n_items=50, mean_interactions=10, seed=1))
        import course_utils.checks as checks
        results = {}
        results["right"] = cell(lambda: __import__("course_utils.checks", fromlist=["check"]).check("ex.n-interactions", right))
        results["wrong"] = cell(lambda: __import__("course_utils.checks", fromlist=["check"]).check("ex.n-interactions", 5))
        def swallowed():
            try:
                __import__("course_utils.checks", fromlist=["check"]).check("ex.n-interactions", 5)
            except BaseException:
                pass
        results["swallowed"] = cell(swallowed)
        results["no check"] = cell(lambda: None)
        results["hidden tests only"] = cell(lambda: None, expect_check=False)
        # a notebook that replaced check before the cell: begin reloads the package, the fake is gone
        checks.check = lambda *a, **k: print("✅ correct")
        results["replaced"] = cell(lambda: __import__("course_utils.checks", fromlist=["check"]).check("ex.n-interactions", 5))
        # grading mode comes from the session, not from the environment
        os.environ.pop("COURSE_UTILS_GRADING", None)
        results["no env"] = cell(lambda: __import__("course_utils.checks", fromlist=["check"]).check("ex.n-interactions", 5))
        cell(lambda: __import__("course_utils.checks", fromlist=["check"]).check("ex.n-interactions", right))
        from course_utils.checks import core
        results["mode after"] = core.grading_mode()  # finish ends grading mode
        print(json.dumps(results))
    """)
    assert out["right"] == {"outcome": "finished", "token": ["t0k3n"]}
    assert out["wrong"]["outcome"].startswith("ExerciseFailed: ❌ ex.n-interactions: not yet") and out["wrong"]["token"] == []
    assert out["swallowed"]["outcome"].startswith("ExerciseFailed: ❌ ex.n-interactions") and out["swallowed"]["token"] == []
    assert out["no check"] == {"outcome": "ExerciseFailed: the check cell ran no course check: was check replaced?", "token": []}
    assert out["hidden tests only"] == {"outcome": "finished", "token": ["t0k3n"]}
    assert out["replaced"]["outcome"].startswith("ExerciseFailed") and out["replaced"]["token"] == []
    assert out["no env"]["outcome"].startswith("ExerciseFailed") and out["mode after"] is False
