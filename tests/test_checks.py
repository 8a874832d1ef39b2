"""Learner checks: each checker accepts the reference answer and rejects known-wrong ones; verdicts never leak answers."""
import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from torch import nn

from course_utils import checks, make_synthetic
from course_utils.checks import (CORRECT, INCORRECT, NOT_ATTEMPTED, REGISTRY, WRONG_TYPE, Exercise, ExerciseFailed,
                                 check, check_ndcg, check_precision, evaluate, make_digest, progress, register)
from course_utils.checks import ch0, ch1, ch2, ch3, ch4, ch5, ch6, example
from course_utils.metrics import ndcg_at_k, precision_at_k
from course_utils.models.embedding_mlp import EmbeddingMLP
from course_utils.models.ncf import GMF

LOG = make_synthetic(n_users=100, n_items=50, mean_interactions=10, seed=1)
CHAPTERS = [example, ch0, ch1, ch2, ch3, ch4, ch5, ch6]


class Scorer(nn.Module):
    def __init__(self, n_users=64, n_items=64, dim=8):
        super().__init__()
        self.user, self.item = nn.Embedding(n_users, dim), nn.Embedding(n_items, dim)

    def forward(self, users, items):
        return (self.user(users) * self.item(items)).sum(-1)


class Frozen(nn.Module):  # right shape, but nothing to learn from
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, users, items):
        return torch.zeros(len(users)) * self.w


def _keras_model(n_users, n_items):
    from course_utils.models.keras_mlp import build_keras_mlp

    return build_keras_mlp(n_users, n_items)


def _keras_too_wide(n_users, n_items):
    from course_utils.models.keras_mlp import build_keras_mlp

    return build_keras_mlp(n_users, n_items, embedding_dim=8)


class NoSqueeze(EmbeddingMLP):  # forgets to squeeze: (B, 1) instead of (B,)
    def forward(self, users, items):
        return self.mlp(torch.cat([self.user(users), self.item(items)], dim=-1))


class ItemFirst(EmbeddingMLP):  # concatenates the item before the user
    def forward(self, users, items):
        return self.mlp(torch.cat([self.item(items), self.user(users)], dim=-1)).squeeze(-1)


class UserTwice(EmbeddingMLP):  # the user's embedding twice: the rating ignores the item
    def forward(self, users, items):
        return self.mlp(torch.cat([self.user(users), self.user(users)], dim=-1)).squeeze(-1)


class DetachedMLP(EmbeddingMLP):  # right ratings, but the embeddings are cut off from autograd: they never learn
    def forward(self, users, items):
        return self.mlp(torch.cat([self.user(users), self.item(items)], dim=-1).detach()).squeeze(-1)


class GMFAdd(GMF):  # adds the embeddings instead of multiplying them
    def forward(self, users, items):
        return self.head(self.user(users) + self.item(items)).squeeze(-1)


class GMFIgnoresItem(GMF):  # the user's embedding with itself
    def forward(self, users, items):
        return self.head(self.user(users) * self.user(users)).squeeze(-1)


class GMFSigmoid(GMF):  # returns a probability where the loss expects a logit
    def forward(self, users, items):
        return self.head(self.user(users) * self.item(items)).squeeze(-1).sigmoid()


class GMFSum(GMF):  # a plain dot product: the head is skipped
    def forward(self, users, items):
        return (self.user(users) * self.item(items)).sum(-1)


def _sampler(positives, n, n_items, seed):
    free = [i for i in range(n_items) if i not in positives]
    return np.random.default_rng(seed).choice(free, n).tolist()


def _careless_sampler(positives, n, n_items, seed):  # forgets to exclude positives
    return np.random.default_rng(seed).integers(0, n_items, n).tolist()


class GMFNoHead(nn.Module):  # sums the product instead of using the head: shape right, but the head is ignored
    def __init__(self, n_users, n_items):
        super().__init__()
        self.user, self.item = nn.Embedding(n_users, 4), nn.Embedding(n_items, 4)
        self.head = nn.Linear(4, 1)

    def forward(self, users, items):
        return self.head(self.user(users) * self.item(items))  # (B, 1): not squeezed


def _a_hat(R):
    n_users, n_items = R.shape
    A = np.block([[np.zeros((n_users, n_users)), R], [R.T, np.zeros((n_items, n_items))]])
    d = A.sum(1)
    d_inv_sqrt = np.divide(1.0, np.sqrt(d), out=np.zeros_like(d), where=d > 0)
    return A * np.outer(d_inv_sqrt, d_inv_sqrt)


def _a_hat_nan(R):  # divides by zero on isolated nodes
    n_users, n_items = R.shape
    A = np.block([[np.zeros((n_users, n_users)), R], [R.T, np.zeros((n_items, n_items))]])
    with np.errstate(divide="ignore", invalid="ignore"):
        return A / np.sqrt(np.outer(A.sum(1), A.sum(1)))


def _propagate(R, user_emb, item_emb):
    w = np.divide(R, np.sqrt(np.outer(R.sum(1), R.sum(0))), out=np.zeros_like(R), where=R > 0)
    return w @ item_emb, w.T @ user_emb


def _layer_mean(A_hat, E0, n_layers):
    layers = [E0]
    for _ in range(n_layers):
        layers.append(A_hat @ layers[-1])
    return np.mean(layers, axis=0)


def _layer_sum(A_hat, E0, n_layers):  # forgets to divide by K + 1
    return _layer_mean(A_hat, E0, n_layers) * (n_layers + 1)


def _attention(Q, K, V, mask):
    scores = Q @ K.T / np.sqrt(Q.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    return weights @ V, weights


def _attention_own_causal_mask(Q, K, V, mask):  # ignores the mask it is given and applies np.tril
    return _attention(Q, K, V, np.tril(np.ones((len(Q), len(K)), dtype=bool)))


def _attention_naive_exp(Q, K, V, mask):  # no row maximum subtracted: large scores overflow
    scores = Q @ K.T / np.sqrt(Q.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    with np.errstate(over="ignore", invalid="ignore"):  # inf / inf: the NaN the checker must catch
        weights = np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)
    return weights @ V, weights


def _attention_mask_after_softmax(Q, K, V, mask):  # zeroes weights after the softmax: rows no longer sum to 1
    _, weights = _attention(Q, K, V, None)
    weights = weights if mask is None else weights * mask
    return weights @ V, weights


def _attention_wrong_axis(Q, K, V, mask):  # softmax over the queries instead of the keys
    scores = Q @ K.T / np.sqrt(Q.shape[-1])
    scores = scores if mask is None else np.where(mask, scores, -np.inf)
    weights = np.exp(scores - scores.max(0, keepdims=True))
    weights = weights / weights.sum(0, keepdims=True)
    return weights @ V, weights


def _training_pair(history, max_len):
    window = history[-(max_len + 1):]
    pad = [0] * (max_len - len(window) + 1)
    return pad + window[:-1], pad + window[1:]


def _cloze(window, draws, mask_prob, mask_token, pad=False, force=True):
    window, draws = np.asarray(window), np.asarray(draws)
    masked = (draws < mask_prob) & ((window != 0) | pad)
    if force and not masked.any() and window[-1] != 0:
        masked[-1] = True
    return np.where(masked, mask_token, window), np.where(masked, window, 0)


def _shapes(batch, seq_len, emb_dim, hidden_dim, n_heads, n_items):
    return {"embedding": (batch, seq_len, emb_dim), "lstm": (batch, seq_len, hidden_dim),
            "query_per_head": (batch, n_heads, seq_len, hidden_dim // n_heads),
            "attention_weights": (batch, n_heads, seq_len, seq_len), "output": (batch, seq_len, hidden_dim),
            "scores": (batch, seq_len, n_items)}


def _kt_build(hp, dropout_name="dropout", lr_sampling="log", use_units=True):
    from course_utils.frameworks import keras
    from course_utils.models.keras_mlp import build_keras_mlp

    units = hp.Choice("units", [32, 64, 128, 256])
    model = build_keras_mlp(10, 20, embedding_dim=hp.Int("embedding_dim", 2, 16, step=2),
                            hidden_layers=(units if use_units else 128, 32),
                            dropout=hp.Float(dropout_name, 0.0, 0.3, step=0.1))
    lr = hp.Float("learning_rate", 1e-3, 1e-2, sampling=lr_sampling)
    model.compile(optimizer=keras().optimizers.Adam(learning_rate=lr), loss="mse")
    return model


def _gmf_space(trial, lr_log=True, names=("embedding_dim", "learning_rate", "n_negatives")):
    values = [trial.suggest_int("embedding_dim", 8, 64, log=True),
              trial.suggest_float("learning_rate", 1e-4, 3e-2, log=lr_log), trial.suggest_int("n_negatives", 1, 8)]
    return dict(zip(names, values, strict=True))


def _best_trial(table, direction, only_complete=True):
    done = table[table["state"] == "COMPLETE"] if only_complete else table.dropna(subset=["value"])
    best = done["value"].max() if direction == "maximize" else done["value"].min()
    return int(done.loc[done["value"] == best, "number"].min())


def _grid_size(space):
    total = 1
    for v in space.values():
        total *= int(np.floor((v[1] - v[0]) / v[2] + 1e-9)) + 1 if isinstance(v, tuple) else len(v)
    return total


REFERENCE = {
    "ex.n-interactions": len(LOG),
    "ex.mean-rating": LOG["rating"].mean(),
    "ex.top-items": LOG["item_id"].value_counts().nlargest(3).index.tolist(),
    "ex.precision": lambda ranked, relevant, k: precision_at_k([ranked], [relevant], k),
    "ex.scorer": Scorer,
    "ch0.ndcg": lambda ranked, relevant, k: ndcg_at_k([ranked], [relevant], k),
    "ch1.keras-model": _keras_model,
    "ch1.torch-forward": EmbeddingMLP,
    "ch2.sampler": _sampler,
    "ch2.gmf-forward": GMF,
    "ch2.hr": 2 / 3,
    "ch2.ndcg-by-hand": 0.5,
    "ch2.protocol": "Sampled",
    "ch3.adjacency": _a_hat,
    "ch3.propagate": _propagate,
    "ch3.layer-mean": _layer_mean,
    "ch3.bpr": lambda pos_scores, neg_scores: float(np.mean(np.logaddexp(0, neg_scores - pos_scores))),
    "ch4.causal-mask": lambda n: np.tril(np.ones((n, n), dtype=bool)),
    "ch4.attention": _attention,
    "ch4.training-sequence": _training_pair,
    "ch4.hit-rate": lambda recommended, next_items, k: float(np.mean([n in r[:k] for r, n in zip(recommended, next_items, strict=True)])),
    "ch5.cloze": _cloze,
    "ch5.shapes": _shapes,
    "ch5.accuracy": lambda logits, targets, k: float(np.mean(
        (logits > logits[np.arange(len(targets)), targets][:, None]).sum(1) < k)),
    "ch5.lstm-params": lambda input_dim, hidden_dim: 4 * hidden_dim * (input_dim + hidden_dim) + 8 * hidden_dim,
    "ch6.build-model": _kt_build,
    "ch6.grid-size": _grid_size,
    "ch6.optuna-space": _gmf_space,
    "ch6.best-trial": _best_trial,
}
WRONG = {
    "ex.n-interactions": [len(LOG) - 1, 0],
    "ex.mean-rating": [LOG["rating"].mean() + 0.05, 3.5],
    "ex.top-items": [LOG["item_id"].value_counts().nlargest(4).index.tolist()[1:], [1, 2, 3]],
    "ex.precision": [lambda ranked, relevant, k: sum(i in relevant for i in ranked[:k]) / max(len(relevant), 1),
                     lambda ranked, relevant, k: sum(i in relevant for i in ranked) / k],
    "ex.scorer": [Frozen, lambda: nn.Linear(2, 1)],
    "ch0.ndcg": [lambda ranked, relevant, k: float(any(i in relevant for i in ranked[:k])),
                 lambda ranked, relevant, k: ndcg_at_k([ranked], [relevant], len(ranked))],  # ignores k
    "ch1.keras-model": [_keras_too_wide],
    "ch1.torch-forward": [NoSqueeze, ItemFirst, UserTwice, DetachedMLP],
    "ch2.sampler": [_careless_sampler, lambda positives, n, n_items, seed: [0] * n],
    "ch2.gmf-forward": [GMFNoHead, GMFAdd, GMFIgnoresItem, GMFSigmoid, GMFSum],
    "ch2.hr": [1.0, 0.5],
    "ch2.ndcg-by-hand": [0.6, 0.5 + 1 / np.log2(13) / 3],
    "ch2.protocol": ["full"],
    "ch3.adjacency": [_a_hat_nan, lambda R: _a_hat(R.T)],  # items first
    "ch3.propagate": [lambda R, user_emb, item_emb: (R @ item_emb, R.T @ user_emb),  # no normalization
                      lambda R, user_emb, item_emb: _propagate(R, user_emb, item_emb)[::-1]],  # swapped
    "ch3.layer-mean": [_layer_sum, lambda A_hat, E0, n_layers: np.linalg.matrix_power(A_hat, n_layers) @ E0],
    "ch3.bpr": [lambda pos_scores, neg_scores: float(np.sum(np.logaddexp(0, neg_scores - pos_scores))),
                lambda pos_scores, neg_scores: float(np.mean(np.logaddexp(0, pos_scores - neg_scores)))],
    "ch4.causal-mask": [lambda n: np.triu(np.ones((n, n))), lambda n: np.tril(np.ones((n, n)), -1)],
    "ch4.attention": [lambda Q, K, V, mask: _attention(Q * np.sqrt(Q.shape[-1]), K, V, mask),  # no scaling
                      lambda Q, K, V, mask: _attention(Q, K, V, None),  # ignores the mask
                      _attention_own_causal_mask, _attention_naive_exp, _attention_mask_after_softmax,
                      _attention_wrong_axis],
    "ch4.training-sequence": [lambda history, max_len: (history[:max_len], history[1:max_len + 1]),
                              lambda history, max_len: _training_pair(history, max_len)[::-1]],
    "ch4.hit-rate": [lambda recommended, next_items, k: float(np.mean([n in r for r, n in zip(recommended, next_items, strict=True)])),
                     lambda recommended, next_items, k: sum(n in r[:k] for r, n in zip(recommended, next_items, strict=True))],
    "ch5.cloze": [lambda window, draws, mask_prob, mask_token: _cloze(window, draws, mask_prob, mask_token, pad=True),
                  lambda window, draws, mask_prob, mask_token: _cloze(window, draws, mask_prob, mask_token, force=False),
                  lambda window, draws, mask_prob, mask_token: _cloze(window, draws, mask_prob, mask_token)[::-1]],
    "ch5.shapes": [lambda *a: {**_shapes(*a), "attention_weights": (a[0], a[1], a[1])},  # forgets the heads
                   lambda *a: {**_shapes(*a), "query_per_head": (a[0], a[4], a[1], a[3])}],  # full width per head
    "ch5.accuracy": [lambda logits, targets, k: float(np.mean(
                         (logits >= logits[np.arange(len(targets)), targets][:, None]).sum(1) < k)),  # counts itself
                     lambda logits, targets, k: float(np.mean(np.argmax(logits, 1) == targets))],  # ignores k
    "ch5.lstm-params": [lambda input_dim, hidden_dim: 4 * hidden_dim * (input_dim + hidden_dim) + 4 * hidden_dim,
                        lambda input_dim, hidden_dim: hidden_dim * (input_dim + hidden_dim) + 2 * hidden_dim],
    "ch6.build-model": [lambda hp: _kt_build(hp, dropout_name="rate"), lambda hp: _kt_build(hp, lr_sampling="linear"),
                        lambda hp: _kt_build(hp, use_units=False)],  # draws units but builds 128
    "ch6.grid-size": [lambda space: int(np.prod([len(v) if isinstance(v, list) else (v[1] - v[0]) / v[2]
                                                  for v in space.values()])),  # a range misses its end point
                      lambda space: sum(len(v) if isinstance(v, list) else 1 for v in space.values())],  # adds
    "ch6.optuna-space": [lambda trial: _gmf_space(trial, lr_log=False),
                         lambda trial: _gmf_space(trial, names=("embedding_dim", "lr", "n_negatives")),
                         lambda trial: {"embedding_dim": 32, "learning_rate": 0.001, "n_negatives": 4}],
    "ch6.best-trial": [lambda table, direction: _best_trial(table, direction, only_complete=False),
                       lambda table, direction: int(table.loc[table["value"].idxmax(), "number"])],
}


@pytest.fixture(autouse=True)
def _progress_file(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_UTILS_PROGRESS", str(tmp_path / "progress.json"))
    monkeypatch.delenv("COURSE_UTILS_GRADING", raising=False)


@pytest.mark.parametrize("exercise", sorted(REFERENCE))
def test_reference_answer_passes(exercise):
    assert evaluate(exercise, REFERENCE[exercise]).status == CORRECT


@pytest.mark.parametrize("exercise, wrong", [(e, w) for e, ws in WRONG.items() for w in ws])
def test_known_wrong_answers_fail_with_a_hint(exercise, wrong):
    verdict = evaluate(exercise, wrong)
    assert verdict.status == INCORRECT and "Hint:" in verdict.message


def test_ml100k_exercise_accepts_its_answer_and_rejects_others(ml100k):
    most = int(ml100k.groupby("user_id").size().max())
    assert evaluate("ch0.most-active", most).passed
    assert not evaluate("ch0.most-active", most - 1).passed
    assert not evaluate("ch0.most-active", int(ml100k.groupby("user_id").size().min())).passed


def test_chapter1_data_exercises_accept_the_answer_and_reject_others(ml100k):
    from course_utils import InteractionDataset

    train, test = InteractionDataset(ml100k).split(test_size=0.2, strategy="random", seed=42)
    rmse = float(np.sqrt(((test.data["rating"] - train.data["rating"].mean()) ** 2).mean()))
    answers = {"ch1.split-size": (len(train), len(test)), "ch1.n-items": (ml100k["item_id"].nunique(), ml100k["item_id"].max() + 1),
               "ch1.n-users": (ml100k["user_id"].nunique(), len(ml100k)), "ch1.baseline-rmse": (rmse, rmse + 0.01)}
    for exercise, (right, wrong) in answers.items():
        assert evaluate(exercise, right).passed, exercise
        assert not evaluate(exercise, wrong).passed, exercise


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
