"""Exercise checks for learners: ``check(exercise_id, answer)``, function checkers, and ``progress()``.

    from course_utils.checks import check, check_ndcg, progress
    check("ch0.most-active", n_ratings)   # ✅ correct / ❌ not yet + hint / ⏳ not attempted yet
    check_ndcg(ndcg_at_k)                 # property tests (perfect = 1, no hit = 0, only top k) + hidden cases
    progress()                            # which exercises pass, per chapter

Expected answers are stored as digests, not values: that keeps self-study honest; graded work is decided by the
autograder's hidden tests (python -m course_utils.grading).
"""
from . import exercises as _exercises  # noqa: F401  (registers the course's exercises)
from .core import (CORRECT, INCORRECT, NOT_ATTEMPTED, REGISTRY, WRONG_TYPE, Exercise, ExerciseFailed, Verdict, check,
                   evaluate, make_digest, progress, progress_path, register)


def check_ndcg(fn) -> None:
    """Check a learner's ``ndcg_at_k(ranked, relevant, k)`` (exercise ch0.ndcg)."""
    check("ch0.ndcg", fn)


def check_precision(fn) -> None:
    """Check a learner's ``precision_at_k(ranked, relevant, k)`` (exercise ex.precision)."""
    check("ex.precision", fn)


__all__ = ["check", "check_ndcg", "check_precision", "evaluate", "progress", "progress_path", "make_digest", "register",
           "Exercise", "ExerciseFailed", "Verdict", "REGISTRY", "CORRECT", "INCORRECT", "NOT_ATTEMPTED", "WRONG_TYPE"]
