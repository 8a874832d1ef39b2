"""The similarity report (course_utils.grading.similarity): planted copies among honest answers to the quick start's
nDCG and popularity exercises, written into student versions of the real notebook."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import nbformat
import pytest

from course_utils.grading.__main__ import main
from course_utils.grading.notebook import read, student_version
from course_utils.grading.similarity import compare, features, logical_lines, similarity, write_report

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "notebooks" / "00_quickstart.ipynb"
HEADER = "import math\n\n\ndef ndcg_at_k(ranked, relevant, k):\n"

# honest answers: each student's own way to write nDCG@k (all correct, all different)
HONEST_NDCG = {
    "ana": """
    dcg = sum(1 / math.log2(i + 2) for i, item in enumerate(ranked[:k]) if item in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(k, len(relevant))))
    return dcg / ideal if ideal > 0 else 0.0
""",
    "ben": """
    gains = [1.0 if item in relevant else 0.0 for item in ranked[:k]]
    dcg = 0.0
    for position, gain in enumerate(gains, start=1):
        dcg += gain / math.log2(position + 1)
    best = 0.0
    for position in range(1, min(k, len(relevant)) + 1):
        best += 1.0 / math.log2(position + 1)
    if best == 0:
        return 0.0
    return dcg / best
""",
    "chloe": """
    import numpy as np
    top = ranked[:k]
    hits = np.array([x in relevant for x in top], dtype=float)
    discounts = 1.0 / np.log2(np.arange(2, len(top) + 2))
    n_ideal = min(k, len(relevant))
    idcg = discounts[:n_ideal].sum() if n_ideal <= len(top) else (1.0 / np.log2(np.arange(2, n_ideal + 2))).sum()
    return float(hits @ discounts / idcg) if idcg else 0.0
""",
    "dmitri": """
    def discount(rank):
        return 1 / math.log(rank + 1, 2)

    score = 0
    rank = 1
    while rank <= min(k, len(ranked)):
        if ranked[rank - 1] in relevant:
            score = score + discount(rank)
        rank = rank + 1
    ideal_score = sum(map(discount, range(1, min(len(relevant), k) + 1)))
    return score / ideal_score if ideal_score else 0
""",
    "eve": """
    relevant = set(relevant)
    if not relevant:
        return 0.0
    hit_positions = [p for p, movie in enumerate(ranked) if p < k and movie in relevant]
    dcg = math.fsum(math.log(2) / math.log(p + 2) for p in hit_positions)
    idcg = math.fsum(math.log(2) / math.log(p + 2) for p in range(min(len(relevant), k)))
    return dcg / idcg
""",
    "farid": """
    total, perfect = 0.0, 0.0
    for idx in range(k):
        weight = 1 / math.log2(idx + 2)
        if idx < len(ranked) and ranked[idx] in relevant:
            total += weight
        if idx < len(relevant):
            perfect += weight
    return total / perfect if perfect else 0.0
""",
}
# planted copies: ben's answer with every name changed, statements reordered, comments and literals edited
COPY_OF_BEN = """
    # compute the ideal first
    top_score = 0.0
    for j in range(1, min(k, len(relevant)) + 1):
        top_score += 1.0 / math.log2(j + 1)  # the best possible
    rel = [1.0 if movie in relevant else 0.0 for movie in ranked[:k]]
    got = 0.0
    for j, r in enumerate(rel, start=1):
        got += r / math.log2(j + 1)
    if top_score == 0:
        return 0.0
    return got / top_score
"""
# farid's answer with names changed, the two ifs swapped and a line of its own added
COPY_OF_FARID = """
    achieved, possible = 0.0, 0.0
    print("computing ndcg for", len(ranked), "items")
    for pos in range(k):
        w = 1 / math.log2(pos + 2)
        if pos < len(relevant):
            possible += w
        if pos < len(ranked) and ranked[pos] in relevant:
            achieved += w
    return achieved / possible if possible else 0.0
"""
HONEST_POPULARITY = {  # a second exercise, so that pairs of different exercises are never compared
    "ana": "    pairs = torch.unique(torch.stack([users, items]), dim=1)\n    return torch.bincount(pairs[1], minlength=n_items).float()\n",
    "ben": "    seen = set(zip(users.tolist(), items.tolist()))\n    counts = torch.zeros(n_items)\n    for _, item in seen:\n        counts[item] += 1\n    return counts\n",
}


def _submission(folder: Path, student: str, ndcg: str | None, popularity: str | None = None) -> Path:
    nb = student_version(read(QUICKSTART), QUICKSTART.name)
    for cell in nb.cells:
        exercise = cell.get("metadata", {}).get("course_utils", {}).get("exercise")
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            if exercise == "ch0.ndcg" and ndcg is not None:
                cell.source = HEADER + ndcg.strip("\n")
            if exercise == "ch0.popularity" and popularity is not None:
                cell.source = "def popularity_scores(users, items, n_items):\n" + popularity
    path = folder / student / QUICKSTART.name
    path.parent.mkdir(parents=True)
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def submissions(tmp_path):
    paths = [_submission(tmp_path, s, code, HONEST_POPULARITY.get(s)) for s, code in HONEST_NDCG.items()]
    paths.append(_submission(tmp_path, "gus", COPY_OF_BEN))
    paths.append(_submission(tmp_path, "hana", COPY_OF_FARID))
    paths.append(_submission(tmp_path, "ivan", None))  # did not attempt it
    return paths


def test_every_planted_copy_ranks_above_every_honest_pair(submissions):
    pairs, short = compare(submissions, ROOT / "notebooks")
    ndcg = pairs[pairs["exercise"] == "ch0.ndcg"].reset_index(drop=True)
    planted = {frozenset({"ben", "gus"}), frozenset({"farid", "hana"})}
    is_planted = [frozenset({a, b}) in planted for a, b in zip(ndcg["student_a"], ndcg["student_b"], strict=True)]
    assert sum(is_planted) == 2
    assert is_planted[:2] == [True, True], ndcg.head(4)
    honest_best = ndcg.loc[[not p for p in is_planted], "similarity"].max()
    assert ndcg.loc[is_planted, "similarity"].min() > honest_best
    assert ndcg.loc[is_planted, "similarity"].min() >= 0.8  # the added line costs farid-hana 0.16
    assert honest_best < 0.6
    # a pair is compared once, and only within an exercise
    assert not ((pairs["student_a"] == pairs["student_b"]).any())
    assert set(pairs["exercise"]) <= {"ch0.ndcg", "ch0.popularity", "ch0.most-active", "ch0.top-k-unseen", "ch0.recall"}
    assert {("ivan", "ch0.ndcg", "not attempted")} <= set(map(tuple, short[["student", "exercise", "reason"]].values))


def test_the_code_every_student_was_given_counts_for_nothing():
    given = {"def ndcg_at_k(ranked, relevant, k):", "import math"}
    only_given = logical_lines(HEADER + "    pass", given)
    assert only_given == [(5, ("pass",))]
    # the same answer under other names, other literals and comments is the same answer
    a = features(logical_lines(HEADER + HONEST_NDCG["farid"], given))
    b = features(logical_lines(HEADER + COPY_OF_FARID.replace('    print("computing ndcg for", len(ranked), "items")\n', ""),
                                given))
    assert similarity(a, b) == 1.0
    assert similarity(a, features(logical_lines(HEADER + HONEST_NDCG["ben"], given))) < 0.5


def test_report_and_csv(submissions, tmp_path):
    pairs, short = compare(submissions, ROOT / "notebooks")
    page, table = write_report(pairs, short, tmp_path / "out" / "report.html")
    text = page.read_text()
    assert table == tmp_path / "out" / "report.csv"
    rows = list(csv.DictReader(table.open()))
    assert list(rows[0]) == ["exercise", "student_a", "student_b", "similarity", "tokens_a", "tokens_b"]
    assert len(rows) == len(pairs)
    assert {rows[0]["student_a"], rows[0]["student_b"]} in ({"ben", "gus"}, {"farid", "hana"})
    assert "<mark>" in text and "top_score" in text and "&lt;" not in text.split("<table>")[0]
    assert "Not ranked" in text and "ivan" in text


def test_the_command(submissions, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert main(["similarity", *map(str, submissions), "--out", str(out), "--source", str(ROOT / "notebooks")]) == 0
    printed = capsys.readouterr().out
    assert out.is_file() and out.with_suffix(".csv").is_file()
    assert "ch0.ndcg" in printed and "report.csv" in printed


def test_bad_input_is_refused_with_the_rule(submissions, tmp_path):
    with pytest.raises(ValueError, match="at least 2 submissions"):
        compare(submissions[:1], ROOT / "notebooks")
    with pytest.raises(ValueError, match="min_tokens must be a positive integer"):
        compare(submissions, ROOT / "notebooks", min_tokens=0)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="No notebook with solution cells"):
        compare(submissions, empty)
    broken = tmp_path / "zoe" / QUICKSTART.name
    broken.parent.mkdir()
    broken.write_text("{not json")
    shutil.copy(submissions[0], tmp_path / "copy.ipynb")
    pairs, short = compare([*submissions, broken], ROOT / "notebooks")
    assert "not a readable notebook" in " ".join(short["reason"])
