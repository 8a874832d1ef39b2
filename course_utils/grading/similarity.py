"""Which students' answers look copied: pairwise similarity of their solution cells, exercise by exercise.

Each answer (the code of an exercise's solution cells) is read as Python tokens, the way JPlag and MOSS read code:
comments, blank lines and layout are dropped, the names the answer itself defines (variables, parameters,
functions, loop targets) become one placeholder, numbers and strings become one placeholder each, and the lines
every student was given (the student version's scaffolding, such as ``def ndcg_at_k(ranked, relevant, k):``) are
left out. An answer is then the multiset of k-token windows taken inside each logical line, so renaming variables,
editing comments or literals and reordering statements change nothing. Two answers' similarity is the weighted
Jaccard index of their windows: 1 for the same code up to those edits, near 0 for unrelated code.

    python -m course_utils.grading similarity submissions/*/*.ipynb --out report.html   # and report.csv

Similarity is a reason to read two answers side by side, never a verdict: short answers and the one idiomatic way
to write something converge honestly. Answers shorter than ``min_tokens`` are listed, not ranked.
"""
from __future__ import annotations

import ast
import html
import io
import itertools
import keyword
import tokenize
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .notebook import SOURCE_KEY, normalize, read, student_version

K = 4  # tokens per window: long enough to carry structure, short enough to survive small edits


@dataclass
class Answer:
    student: str
    notebook: str
    exercise: str
    code: str
    features: Counter
    lines: list[tuple[int, tuple]]  # (line number in code, its normalized tokens) for the lines that count

    @property
    def tokens(self) -> int:
        return sum(len(t) for _, t in self.lines)


def _defined_names(code: str) -> set[str]:
    """The names an answer binds itself: assignment and loop targets, parameters, functions, classes, import aliases."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.alias) and node.asname:
            names.add(node.asname)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


_SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING, tokenize.ENDMARKER}
_STRINGY = {tokenize.STRING} | {getattr(tokenize, n) for n in ("FSTRING_START", "FSTRING_MIDDLE", "FSTRING_END")
                                 if hasattr(tokenize, n)}


def logical_lines(code: str, ignore: set[str] = frozenset()) -> list[tuple[int, tuple]]:
    """The answer's logical lines as normalized token tuples, without the lines in ``ignore`` (normalized text)."""
    defined = _defined_names(code)
    source_lines = code.splitlines()
    out, current, start, previous = [], [], None, None
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        tokens = []  # not Python (a half-written answer): compared as words
        for number, line in enumerate(source_lines, 1):
            if line.strip() and normalize(line) not in ignore:
                out.append((number, tuple(line.split())))
        return out
    for tok in tokens:
        if tok.type in _SKIP:
            continue
        if tok.type == tokenize.NEWLINE:
            if current:
                out.append((start, tuple(current)))
            current, start, previous = [], None, None
            continue
        if normalize(source_lines[tok.start[0] - 1]) in ignore:
            continue  # a line the student was given
        if tok.type == tokenize.NAME and not keyword.iskeyword(tok.string) and previous != ".":
            text = "V" if tok.string in defined else tok.string
        elif tok.type == tokenize.NUMBER:
            text = "0"
        elif tok.type in _STRINGY:
            text = '"'
        else:
            text = tok.string
        if start is None:
            start = tok.start[0]
        current.append(text)
        previous = tok.string
    if current:
        out.append((start, tuple(current)))
    return out


def features(lines: list[tuple[int, tuple]], k: int = K) -> Counter:
    """The multiset of k-token windows inside each logical line (a shorter line counts whole)."""
    grams = Counter()
    for _, toks in lines:
        if len(toks) <= k:
            grams[toks] += 1
        else:
            grams.update(toks[i:i + k] for i in range(len(toks) - k + 1))
    return grams


def similarity(a: Counter, b: Counter) -> float:
    """Weighted Jaccard index of two multisets: shared windows over all windows (0 when both are empty)."""
    union = sum((a | b).values())
    return sum((a & b).values()) / union if union else 0.0


def answers_of(nb, student: str, notebook: str, given: dict[str, set[str]]) -> list[Answer]:
    """Each exercise's answer in a submitted notebook: its solution cells' code, the given lines left out."""
    code_by_exercise: dict[str, list[str]] = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {})
        if cell.get("cell_type") == "code" and meta.get("nbgrader", {}).get("solution"):
            exercise = meta.get(SOURCE_KEY, {}).get("exercise") or meta["nbgrader"].get("grade_id", "?")
            code_by_exercise.setdefault(exercise, []).append(cell.source)
    out = []
    for exercise, cells in code_by_exercise.items():
        code = "\n".join(cells)
        lines = logical_lines(code, given.get(exercise, set()))
        out.append(Answer(student, notebook, exercise, code, features(lines), lines))
    return out


def given_lines(source_dir: Path) -> dict[str, set[str]]:
    """Per exercise, the normalized lines of its solution cells in the student version: the code everyone got."""
    given: dict[str, set[str]] = {}
    for path in sorted(Path(source_dir).glob("*.ipynb")):
        for cell in student_version(read(path), path.name).cells:
            meta = cell.get("metadata", {})
            if cell.get("cell_type") == "code" and meta.get("nbgrader", {}).get("solution"):
                exercise = meta.get(SOURCE_KEY, {}).get("exercise") or meta["nbgrader"].get("grade_id", "?")
                given.setdefault(exercise, set()).update(normalize(line) for line in cell.source.splitlines()
                                                         if line.strip())
    return given


def compare(submissions: list[Path], source_dir: Path, min_tokens: int = 20, students: list[str] | None = None):
    """Every pair of students' answers to the same exercise, most similar first.

    Returns (pairs, short): ``pairs`` has one row per pair (exercise, student_a, student_b, similarity, tokens_a,
    tokens_b); ``short`` lists the answers too short to rank (fewer than ``min_tokens`` tokens of their own) and the
    submissions that could not be read."""
    from .grade import student_ids

    if not isinstance(min_tokens, int) or isinstance(min_tokens, bool) or min_tokens < 1:
        raise ValueError(f"min_tokens must be a positive integer, got {min_tokens!r}")
    submissions = [Path(p) for p in submissions]
    if len(submissions) < 2:
        raise ValueError(f"similarity needs at least 2 submissions, got {len(submissions)}")
    given = given_lines(source_dir)
    if not given:
        raise ValueError(f"No notebook with solution cells in {source_dir}: pass the instructor notebooks as --source.")
    names = [p.name for p in sorted(Path(source_dir).glob("*.ipynb"))]
    students = students or student_ids(submissions, names)
    by_exercise: dict[str, list[Answer]] = {}
    short = []
    for path, student in zip(submissions, students, strict=True):
        try:
            nb = read(path)
        except Exception as err:  # a broken submission is reported, never the end of the report
            short.append({"student": student, "exercise": "", "notebook": path.name,
                          "reason": f"not a readable notebook ({type(err).__name__})"})
            continue
        notebook = nb.metadata.get(SOURCE_KEY, {}).get("source", path.name)
        for answer in answers_of(nb, student, notebook, given):
            if answer.tokens < min_tokens:
                reason = "not attempted" if answer.tokens == 0 else f"{answer.tokens} tokens of its own"
                short.append({"student": student, "exercise": answer.exercise, "notebook": notebook, "reason": reason})
            else:
                by_exercise.setdefault(answer.exercise, []).append(answer)
    rows = []
    for exercise, answers in by_exercise.items():
        for a, b in itertools.combinations(answers, 2):
            if a.student == b.student:
                continue
            rows.append({"exercise": exercise, "student_a": a.student, "student_b": b.student,
                         "similarity": round(similarity(a.features, b.features), 4),
                         "tokens_a": a.tokens, "tokens_b": b.tokens, "_a": a, "_b": b})
    pairs = pd.DataFrame(rows, columns=["exercise", "student_a", "student_b", "similarity", "tokens_a", "tokens_b",
                                        "_a", "_b"])
    pairs = pairs.sort_values(["similarity", "exercise"], ascending=[False, True], kind="stable").reset_index(drop=True)
    return pairs, pd.DataFrame(short, columns=["student", "exercise", "notebook", "reason"])


def _side(answer: Answer, shared: set[tuple]) -> str:
    marked = {number for number, toks in answer.lines if toks in shared}
    out = []
    for number, line in enumerate(answer.code.splitlines(), 1):
        text = html.escape(line) or " "
        out.append(f"<mark>{text}</mark>" if number in marked else text)
    return "\n".join(out)


def write_report(pairs: pd.DataFrame, short: pd.DataFrame, out: Path, top: int = 200) -> tuple[Path, Path]:
    """An HTML report (pairs ranked, the two answers side by side, shared lines marked) and a CSV beside it."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    csv = out.with_suffix(".csv")
    pairs.drop(columns=["_a", "_b"]).to_csv(csv, index=False)
    rows = []
    for rank, row in enumerate(pairs.head(top).to_dict("records"), 1):
        a, b = row["_a"], row["_b"]
        shared = {t for _, t in a.lines} & {t for _, t in b.lines}
        rows.append(
            f"<tr><td>{rank}</td><td>{html.escape(row['exercise'])}</td><td>{html.escape(row['student_a'])}</td>"
            f"<td>{html.escape(row['student_b'])}</td><td>{row['similarity']:.0%}</td></tr>"
            f"<tr><td colspan='5'><details{' open' if rank <= 5 else ''}><summary>answers side by side "
            f"({row['tokens_a']} and {row['tokens_b']} tokens of their own; marked: lines both share up to names and "
            f"literals)</summary><div class='pair'><pre>{_side(a, shared)}</pre><pre>{_side(b, shared)}</pre></div>"
            f"</details></td></tr>")
    short_rows = "".join(f"<tr><td>{html.escape(str(r.student))}</td><td>{html.escape(str(r.exercise))}</td>"
                         f"<td>{html.escape(str(r.reason))}</td></tr>" for r in short.itertuples(index=False))
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Answer similarity</title>
<style>body{{font-family:sans-serif;margin:2em;background:#fff;color:#111}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top}} .pair{{display:flex;gap:1em}}
pre{{flex:1;background:#f6f6f6;padding:8px;overflow-x:auto}} mark{{background:#ffe08a}}</style></head><body>
<h1>Answer similarity, exercise by exercise</h1>
<p>{len(pairs)} pairs of answers to the same exercise, most similar first (the first {min(top, len(pairs))} shown;
all of them in {html.escape(csv.name)}). Similarity ignores names the answer defines, literals, comments, layout,
statement order and the code every student was given. It is a reason to read two answers, not a verdict: short
answers and idiomatic one-liners converge honestly.</p>
<table><tr><th>rank</th><th>exercise</th><th>student</th><th>student</th><th>similarity</th></tr>
{''.join(rows)}</table>
<h2>Not ranked</h2><p>Answers too short to tell copying from convergence, not attempted, or unreadable.</p>
<table><tr><th>student</th><th>exercise</th><th>why</th></tr>{short_rows}</table>
</body></html>
"""
    out.write_text(page, encoding="utf-8")
    return out, csv
