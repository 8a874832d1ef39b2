"""The wrong-answer corpus of the exercise checks: one module per chapter module of ``course_utils.checks``.

Each module holds ``REFERENCE`` (exercise id -> the right answer) and ``WRONG`` (exercise id -> the plausible wrong
answers a learner writes: swapped order, missing scale, off-by-one, an ignored input, the wrong axis, in-place
changes...). ``tests/test_checks.py`` runs every one: the right answer must pass and every wrong one must fail with a
hint; every exercise needs at least three wrong answers.

An exercise answered with a number read from MovieLens 100K has an entry in ``DATA_ANSWERS`` instead: exercise id ->
``answers(ratings) -> (right, [wrong, ...])``, computed from the data at test time, with ``DATA_WRONG_COUNTS`` saying
how many wrong ones (so that the corpus can be counted without the data).
"""
from . import ch0, ch1, ch2, ch3, ch4, ch5, ch6, ch7, example

MODULES = [example, ch0, ch1, ch2, ch3, ch4, ch5, ch6, ch7]
REFERENCE = {k: v for m in MODULES for k, v in m.REFERENCE.items()}
WRONG = {k: v for m in MODULES for k, v in m.WRONG.items()}
DATA_ANSWERS = {k: v for m in MODULES for k, v in getattr(m, "DATA_ANSWERS", {}).items()}
DATA_WRONG_COUNTS = {k: v for m in MODULES for k, v in getattr(m, "DATA_WRONG_COUNTS", {}).items()}
