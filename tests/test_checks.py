"""Learner checks: each checker accepts the reference answer and rejects known-wrong ones; verdicts never leak answers."""
import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from torch import nn

from course_utils import checks
from course_utils.checks import (CORRECT, INCORRECT, NOT_ATTEMPTED, REGISTRY, WRONG_TYPE, Exercise, ExerciseFailed,
                                 check, check_ndcg, check_precision, evaluate, make_digest, progress, register, verify)
from course_utils.checks import ch0, ch1, ch2, ch3, ch4, ch5, ch6, ch7, example
from course_utils.metrics import ndcg_at_k, precision_at_k
from course_utils.models.ncf import GMF

from check_corpus import DATA_ANSWERS, DATA_WRONG_COUNTS, REFERENCE, WRONG
from check_corpus.ch6 import _best_trial, _grid_size
from check_corpus.example import LOG, Frozen

CHAPTERS = [example, ch0, ch1, ch2, ch3, ch4, ch5, ch6, ch7]
MIN_WRONG = 3  # plausible wrong answers each exercise's checker must reject


@pytest.fixture(autouse=True)
def _progress_file(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_UTILS_PROGRESS", str(tmp_path / "progress.json"))
    monkeypatch.delenv("COURSE_UTILS_GRADING", raising=False)


def test_every_exercise_has_a_right_answer_and_enough_wrong_ones_in_the_corpus():
    """Prints the corpus: for each registered exercise, how many wrong answers its checker must reject."""
    rows = [(ex.id, ex.kind, len(WRONG.get(ex.id, [])) or DATA_WRONG_COUNTS.get(ex.id, 0))
            for ex in REGISTRY.values() if not ex.id.startswith("test.")]
    print("\nwrong answers per exercise (tests/check_corpus):")
    for exercise, kind, count in rows:
        print(f"  {exercise:<28} {kind:<9} {count}")
    missing = [e for e, _, count in rows if (e not in REFERENCE and e not in DATA_ANSWERS) or count < MIN_WRONG]
    assert not missing, f"exercises without a right answer or {MIN_WRONG} wrong ones in tests/check_corpus: {missing}"
    assert set(REFERENCE) | set(DATA_ANSWERS) <= set(REGISTRY) and set(WRONG) <= set(REGISTRY)


@pytest.mark.parametrize("exercise", sorted(REFERENCE))
def test_reference_answer_passes(exercise):
    assert evaluate(exercise, REFERENCE[exercise]).status == CORRECT


@pytest.mark.parametrize("exercise, wrong", [(e, w) for e, ws in WRONG.items() for w in ws])
def test_known_wrong_answers_fail_with_a_hint(exercise, wrong):
    verdict = evaluate(exercise, wrong)
    assert verdict.status == INCORRECT and "Hint:" in verdict.message


@pytest.mark.parametrize("exercise", sorted(DATA_ANSWERS))
def test_data_exercises_accept_the_answer_and_reject_the_wrong_ones(exercise, ml100k):
    """Exercises answered with numbers read from MovieLens 100K: the corpus computes the right and wrong answers."""
    right, wrongs = DATA_ANSWERS[exercise](ml100k)
    assert evaluate(exercise, right).passed, exercise
    for wrong in wrongs:
        assert evaluate(exercise, wrong).status == INCORRECT, (exercise, wrong)


def test_order_matters_only_where_it_should():
    top = REFERENCE["ex.top-items"]
    assert evaluate("ex.top-items", list(reversed(top))).passed  # a set: any order
    register(Exercise("test.order", "ordered", 1, "list", "order them", digest=make_digest("test.order", "list", [3, 1, 2])))
    assert evaluate("test.order", [3, 1, 2]).passed and not evaluate("test.order", [1, 2, 3]).passed
    assert evaluate("test.order", np.array([3, 1, 2])).passed


def test_frame_checks_compare_shape_and_content():
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [0.5, -0.0]})
    register(Exercise("test.frame", "a frame", 1, "frame", "look again", digest=make_digest("test.frame", "frame", frame)))
    assert evaluate("test.frame", frame.copy()).passed
    assert evaluate("test.frame", frame.to_numpy()).passed
    assert not evaluate("test.frame", frame.iloc[:1]).passed
    assert not evaluate("test.frame", frame + 0.01).passed


def test_numbers_within_tolerance():
    mean = REFERENCE["ex.mean-rating"]
    assert evaluate("ex.mean-rating", round(mean, 2)).passed
    assert evaluate("ex.mean-rating", np.float32(mean)).passed
    assert not evaluate("ex.mean-rating", mean + 0.02).passed


def test_not_attempted_and_wrong_types_are_plain_messages():
    assert evaluate("ex.n-interactions", ...).status == NOT_ATTEMPTED

    def stub(ranked, relevant, k):
        raise NotImplementedError

    assert evaluate("ex.precision", stub).status == NOT_ATTEMPTED
    v = evaluate("ex.n-interactions", str(len(LOG)))
    assert v.status == WRONG_TYPE and "expected a whole number" in v.message and "int(...)" in v.message
    assert evaluate("ex.n-interactions", float(len(LOG))).passed  # 1012.0 is a whole number
    assert evaluate("ex.mean-rating", "3.0").status == WRONG_TYPE
    assert evaluate("ex.top-items", "15, 28, 9").status == WRONG_TYPE
    v = evaluate("ex.precision", lambda ranked, relevant: 0.0)
    assert v.status == INCORRECT and "must take the arguments (ranked, relevant, k)" in v.message
    v = evaluate("ex.precision", lambda ranked, relevant, k: 1 / 0)
    assert v.status == INCORRECT and "ZeroDivisionError" in v.message
    with pytest.raises(KeyError, match="Unknown exercise id 'ch9.nothing'"):
        evaluate("ch9.nothing", 1)


def test_verdicts_never_print_the_expected_value(capsys):
    for exercise, wrongs in WRONG.items():
        for w in wrongs[:1]:
            check(exercise, w)
    out = capsys.readouterr().out
    assert str(REFERENCE["ex.n-interactions"]) not in out
    assert f"{REFERENCE['ex.mean-rating']:.2f}" not in out
    assert all(str(i) not in out.split("Hint")[0] for i in REFERENCE["ex.top-items"] if i > 9)


def test_expected_values_are_not_stored_in_plain_text():
    for module in CHAPTERS:
        text = Path(module.__file__).read_text()
        assert str(REFERENCE["ex.n-interactions"]) not in text and "2.94" not in text, module.__name__
    assert all(ex.digest is None or len(ex.digest) == 32 for ex in REGISTRY.values())


def _course_imports(source: str) -> set[str]:
    """The course_utils modules (and names) a checks module imports, relative to course_utils: {"models.lightgcn", ...}."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level:  # inside course_utils/checks: level 1 is checks, 2 course_utils
            base = ["checks"][: 2 - node.level] + (node.module.split(".") if node.module else [])
            found |= {".".join(base + [a.name]) for a in node.names}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [f"{node.module}.{a.name}" for a in node.names]
            found |= {n.split(".", 1)[1] for n in names if n.startswith("course_utils.")}
    return found


def test_checks_import_no_library_module_that_could_supply_an_answer():
    """A checker's reference is its own: checks may import course_utils.frameworks (TensorFlow's one import point) and
    each other, never the models, metrics, data, evaluation, training or losses whose answers they judge."""
    assert _course_imports("from ..models.lightgcn import normalized_adjacency\nfrom .. import metrics\n"
                           "import course_utils.data.sequences\nfrom .harness import mse") == {
        "models.lightgcn.normalized_adjacency", "metrics", "data.sequences", "checks.harness.mse"}
    for path in Path(checks.__file__).parent.glob("*.py"):
        for name in _course_imports(path.read_text()):
            assert name.split(".")[0] in ("checks", "frameworks"), f"{path.name} imports course_utils.{name}"


def test_importing_the_checks_stays_light():
    code = ("import sys, course_utils.checks; print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'tensorflow', 'keras', 'optuna', 'scipy') or m.startswith('course_utils.') and "
            "not m.startswith(('course_utils.checks', 'course_utils.frameworks'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_hidden_case_messages_never_give_the_expected_value():
    wrong_on_large_inputs = {"ch6.best-trial": lambda table, direction: _best_trial(table, direction) + (len(table) > 20),
                             "ch6.grid-size": lambda space: _grid_size(space) + (len(space) > 3)}
    for exercise, answer in wrong_on_large_inputs.items():
        message = evaluate(exercise, answer).message
        assert "passes the simple cases but not" in message and "expected" not in message, message


# The checkers' references are their own small implementations; each must agree with the library's version.
def _random_ranking(rng):
    n_items = int(rng.integers(4, 30))
    ranked = rng.permutation(n_items)[: int(rng.integers(1, n_items + 1))].tolist()
    relevant = set(rng.choice(n_items + 5, int(rng.integers(0, 9)), replace=False).tolist())  # may be empty, or unranked
    return ranked, relevant, int(rng.integers(1, 40))


@pytest.mark.parametrize("reference, library", [(ch0.reference_ndcg_at_k, ndcg_at_k),
                                                (example.reference_precision_at_k, precision_at_k)])
def test_ranking_metric_references_agree_with_the_library(reference, library):
    rng = np.random.default_rng(0)
    for _ in range(300):
        ranked, relevant, k = _random_ranking(rng)
        assert reference(ranked, relevant, k) == pytest.approx(library([ranked], [relevant], k), abs=1e-12)


def test_adjacency_reference_agrees_with_the_library():
    from course_utils.models.lightgcn import normalized_adjacency

    rng = np.random.default_rng(1)
    for _ in range(50):
        r = (rng.random((int(rng.integers(1, 12)), int(rng.integers(1, 12)))) < rng.random()).astype(float)
        expected = normalized_adjacency(sp.csr_matrix(r)).toarray()
        np.testing.assert_allclose(ch3.reference_a_hat(r), expected, rtol=1e-6, atol=1e-7)


def test_training_pair_reference_agrees_with_the_library():
    from course_utils.data.sequences import next_item_windows

    rng = np.random.default_rng(2)
    for _ in range(100):
        history, max_len = rng.integers(1, 100, int(rng.integers(2, 40))).tolist(), int(rng.integers(1, 20))
        inputs, targets = next_item_windows([np.array(history)], max_len)
        got_inputs, got_targets = ch4.reference_training_pair(history, max_len)
        np.testing.assert_array_equal(got_inputs, inputs[0])
        np.testing.assert_array_equal(got_targets, targets[0])


def test_keras_reference_model_has_the_library_model_size():
    from course_utils.models.keras_mlp import build_keras_mlp

    for n_users, n_items in [(10, 20), (7, 3), (1, 1), (943, 1682)]:
        assert ch1.reference_keras_model(n_users, n_items).count_params() == build_keras_mlp(n_users, n_items).count_params()


def test_check_prints_records_progress_and_raises_only_when_grading(capsys, monkeypatch, tmp_path):
    check("ex.n-interactions", REFERENCE["ex.n-interactions"])
    check_precision(REFERENCE["ex.precision"])
    check_ndcg(WRONG["ch0.ndcg"][0])
    out = capsys.readouterr().out
    assert "✅ ex.n-interactions: correct" in out and "❌ ch0.ndcg: not yet" in out
    stored = json.loads((tmp_path / "progress.json").read_text())
    assert stored["ex.n-interactions"]["status"] == CORRECT and stored["ch0.ndcg"]["status"] == INCORRECT
    table = progress()
    ex_points = table[table.chapter == "ex"]
    assert ex_points["earned"].sum() == 3 and ex_points["points"].sum() == 7
    assert "ex: 3 of 7 points" in capsys.readouterr().out
    monkeypatch.setenv("COURSE_UTILS_GRADING", "1")
    with pytest.raises(ExerciseFailed, match="not yet"):
        check("ex.n-interactions", 3)
    check("ex.n-interactions", REFERENCE["ex.n-interactions"])  # a correct answer never raises


def _record_many(path, chapter, n, start):
    import os

    from course_utils.checks.core import Verdict, _record

    os.environ["COURSE_UTILS_PROGRESS"] = str(path)
    start.wait()  # both writers at once
    for i in range(n):
        _record(Verdict(f"{chapter}.exercise-{i}", CORRECT, "correct"))


def test_two_notebooks_recording_at_once_lose_no_verdict(tmp_path):
    import multiprocessing

    path = tmp_path / "progress.json"
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    writers = [ctx.Process(target=_record_many, args=(path, chapter, 200, start)) for chapter in ("a", "b")]
    for w in writers:
        w.start()
    for w in writers:
        w.join(60)
        assert w.exitcode == 0
    stored = json.loads(path.read_text())
    assert sorted(stored) == sorted(f"{c}.exercise-{i}" for c in "ab" for i in range(200))
    assert not list(tmp_path.glob("*.tmp"))


def test_progress_can_be_switched_off(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_UTILS_PROGRESS", "off")
    check("ex.n-interactions", 1)
    assert not list(tmp_path.iterdir())


def test_model_checker_reports_shape_and_learning():
    v = evaluate("ex.scorer", lambda: nn.Sequential())
    assert v.status == INCORRECT
    assert "loss on a fixed batch did not go down" in evaluate("ex.scorer", Frozen).message


def test_a_module_instance_is_checked_through_its_class_and_left_untouched():
    mine = GMF(943, 1682, 16)  # built at the real data's sizes, then checked
    before = {k: v.clone() for k, v in mine.state_dict().items()}
    assert evaluate("ch2.gmf-forward", mine).status == CORRECT
    assert all(torch.equal(before[k], v) for k, v in mine.state_dict().items()) and mine.training


CODE_IN_A_HINT = re.compile(r"\b(np|torch|self|pd|nn|F|hp|trial|keras|layers)\.\w|\.(sum|mean|cat|view|transpose|"
                            r"reshape|masked_fill|softmax|squeeze|unsqueeze|backward|step|zero_grad)\(")


@pytest.mark.parametrize("exercise", [e for e in REGISTRY if not e.startswith("test.")])
def test_hints_come_in_two_levels_and_the_first_names_no_code(exercise, capsys):
    ex = REGISTRY[exercise]
    assert ex.nudge and ex.nudge != ex.hint, f"{exercise} needs a second-level hint (nudge) unlike the first"
    assert not CODE_IN_A_HINT.search(ex.hint), f"{exercise}'s first hint names code: {ex.hint!r}"
    checks.hint(exercise)
    assert capsys.readouterr().out.startswith(f"💡 {exercise} ")


def test_verify_raises_with_the_checkers_message():
    verify("ex.n-interactions", REFERENCE["ex.n-interactions"])
    with pytest.raises(ExerciseFailed, match="not yet"):
        verify("ex.n-interactions", 3)


def test_an_unwritten_forward_is_not_attempted_not_wrong():
    class Unwritten(GMF):
        def forward(self, users, items):
            raise NotImplementedError("Exercise ch2.gmf-forward: write your solution here, then delete this line.")

    assert evaluate("ch2.gmf-forward", Unwritten).status == NOT_ATTEMPTED


def test_value_answers_of_the_notebooks_own_classes_are_refused_before_their_methods_run():
    """An object whose == says yes to anything, or whose repr tampers with the check, never reaches a comparison."""
    ran = []

    class Anything(int):
        def __eq__(self, other):
            ran.append("eq")
            return True

        __hash__ = int.__hash__

        def __repr__(self):
            ran.append("repr")
            return "1"

    verdict = evaluate("ex.n-interactions", Anything(1))
    assert verdict.status == WRONG_TYPE and "got an object of the class 'Anything'" in verdict.message and ran == []
    assert evaluate("ex.top-items", [Anything(1), 2, 3]).status == WRONG_TYPE and ran == []
    assert evaluate("ex.top-items", np.array([Anything(1), 2], dtype=object)).status == WRONG_TYPE and ran == []
    from collections import Counter

    for plain in (5, 5.0, np.int64(5), torch.tensor(5).item(), [1, 2, 3], (1, 2), {1, 2}, Counter([1, 2]).keys(),
                  np.array([1, 2]), pd.Series([1, 2]), pd.DataFrame({"a": [1]})):
        assert checks.core._foreign_type(plain) is None, plain
