"""Exercise checks for learners: ``check(exercise_id, answer)``, function checkers, and ``progress()``.

    from course_utils.checks import check, check_ndcg, progress
    check("ch0.most-active", n_ratings)   # ✅ correct / ❌ not yet + hint / ⏳ not attempted yet
    check_ndcg(ndcg_at_k)                 # property tests (perfect = 1, no hit = 0, only top k) + hidden cases
    progress()                            # which exercises pass, per chapter
    hint("ch2.gmf-forward")               # a second, stronger hint (never the solution)

Expected answers are stored as digests, not values: that keeps self-study honest; graded work is decided by the
autograder's hidden tests (python -m course_utils.grading).

Each chapter has one module (example.py for the mechanism's own example, ch0.py ... ch7.py) that holds its checkers
and registers its exercises; harness.py holds what the checkers share. A checker's reference answer is its own small
implementation in that module, never the library's: a bug in the library cannot make a wrong answer pass.
"""
# importing a chapter registers its exercises; in course order, which is the order progress() lists them in
from . import example, ch0, ch1, ch2, ch3, ch4, ch5, ch6, ch7  # noqa: F401  isort: skip
from .core import (CORRECT, INCORRECT, NOT_ATTEMPTED, REGISTRY, WRONG_TYPE, Exercise, ExerciseFailed, Verdict, check,
                   evaluate, hint, make_digest, progress, progress_path, register, verify)


def check_ndcg(fn) -> None:
    """Check a learner's ``ndcg_at_k(ranked, relevant, k)`` (exercise ch0.ndcg)."""
    check("ch0.ndcg", fn)


def check_precision(fn) -> None:
    """Check a learner's ``precision_at_k(ranked, relevant, k)`` (exercise ex.precision)."""
    check("ex.precision", fn)


__all__ = ["check", "hint", "verify", "check_ndcg", "check_precision", "evaluate", "progress", "progress_path", "make_digest", "register",
           "Exercise", "ExerciseFailed", "Verdict", "REGISTRY", "CORRECT", "INCORRECT", "NOT_ATTEMPTED", "WRONG_TYPE"]
