"""Every number in the notebooks' prose comes from the notebook: its outputs, its code, or its list of cited constants.

A markdown cell that says "NCF reaches 0.4350" must sit in a notebook whose outputs print 0.435 (to the precision
written), or whose metadata cites 0.4350 with its source (a paper's table, a dataset's size): a sentence cannot drift
from the values it describes when the notebook is re-run. Numbers are compared at the precision the prose uses
(0.44 is backed by a printed 0.4372; 34x by a printed 34.2; 22% by a printed 0.22 or 22.1%).

Not checked, because they are not results: formulas ($...$ and $$...$$), link targets, the numbering of headings and
lists, and years (4 digits from 1950 to 2030). A number written exactly as in the notebook's code is backed too
(``EPOCHS = 10``, ``dropout=0.2``: the settings the prose names).

The cited constants live in each notebook's metadata: ``{"course": {"cited": {"0.730": "NCF paper, HR@10 on ML-1M"}}}``.
"""
from __future__ import annotations

import copy
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))

NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?![\d])")
MATH = re.compile(r"\$\$.*?\$\$|\$[^$\n]+\$", re.S)
LINK_TARGET = re.compile(r"\]\([^)]*\)|https?://\S+|<[^>]+>")
HEADING_NUMBER = re.compile(r"^(#+\s*)(?:Exercise\s+)?\d+(?:\.\d+)*\.?", re.M)
LIST_NUMBER = re.compile(r"^(\s*)\d+\.\s", re.M)
CODE_FENCE = re.compile(r"```.*?```", re.S)


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else source


def prose_numbers(markdown: str) -> list[str]:
    """The numbers a markdown cell states, as written ("0.4350", "31,013", "22")."""
    text = CODE_FENCE.sub(" ", markdown)
    text = MATH.sub(" ", text)
    text = LINK_TARGET.sub(" ", text)
    text = HEADING_NUMBER.sub(r"\1", text)
    text = LIST_NUMBER.sub(r"\1", text)
    out = []
    for m in NUMBER.finditer(text):
        whole, frac = m.group(1), m.group(2) or ""
        if not frac and "," not in whole and len(whole) == 4 and 1950 <= int(whole) <= 2030:
            continue  # a year
        out.append(whole + frac)
    return out


def _values(text: str) -> set[Decimal]:
    return {Decimal(m.group(1).replace(",", "") + (m.group(2) or "")) for m in NUMBER.finditer(text)}


def _output_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if "text" in out:
            parts.append(_text(out["text"]))
        for kind, value in out.get("data", {}).items():
            if kind.startswith("text/") or kind == "application/json":
                parts.append(_text(value) if not isinstance(value, dict) else json.dumps(value))
    return "\n".join(parts)


def backing(nb: dict) -> tuple[set[Decimal], set[Decimal], set[Decimal]]:
    """(numbers printed in the outputs, numbers in the code, numbers cited in the metadata)."""
    outputs, code = set(), set()
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            outputs |= _values(_output_text(cell))
            code |= _values(_text(cell["source"]))
    cited = set()
    for key in nb.get("metadata", {}).get("course", {}).get("cited", {}):
        cited |= _values(str(key))
    return outputs, code, cited


def _backed(written: str, outputs: set[Decimal], code: set[Decimal], cited: set[Decimal]) -> bool:
    value = Decimal(written.replace(",", ""))
    exponent = value.as_tuple().exponent
    quantum = Decimal(1).scaleb(exponent)
    if value in cited or value in code or value in {c * 100 for c in code}:  # a setting the prose names, as in the
        return True  # code (dropout=0.2) or as a percentage of it (test_size=0.125: 12.5%)
    for y in outputs | cited:
        for candidate in (y, y * 100):  # 22% is backed by 0.22
            try:
                if candidate.quantize(quantum, rounding="ROUND_HALF_EVEN") == value or \
                        candidate.quantize(quantum, rounding="ROUND_HALF_UP") == value:
                    return True
            except ArithmeticError:
                continue
    return False


def unbacked(nb: dict) -> list[tuple[int, str]]:
    """(cell index, number) for every number in a markdown cell that the notebook does not back."""
    outputs, code, cited = backing(nb)
    found = []
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        for written in prose_numbers(_text(cell["source"])):
            if not _backed(written, outputs, code, cited):
                found.append((index, written))
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_number_in_the_prose_is_in_the_outputs_or_cited(path):
    nb = json.loads(path.read_text())
    missing = unbacked(nb)
    assert not missing, (
        f"{path.name}: numbers in markdown cells that no output prints and the metadata does not cite "
        f"(cell index, number): {missing}. Print them from the cell that computes them, or add a cited constant with "
        f"its source to metadata.course.cited.")


def test_the_check_fails_when_a_number_in_the_prose_changes():
    nb = json.loads(NOTEBOOKS[0].read_text())
    assert not unbacked(nb)
    target = next(i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "markdown"
                  and any("." in n for n in prose_numbers(_text(c["source"]))))
    decimal = next(n for n in prose_numbers(_text(nb["cells"][target]["source"])) if "." in n)
    changed = copy.deepcopy(nb)
    wrong = f"{Decimal(decimal) + Decimal(1).scaleb(Decimal(decimal).as_tuple().exponent) * 7}"
    changed["cells"][target]["source"] = _text(changed["cells"][target]["source"]).replace(decimal, wrong, 1)
    assert (target, wrong) in unbacked(changed)


def test_prose_numbers_skips_what_is_not_a_result():
    md = ("## 3. Training\n1. first\n### Exercise 4.5 (2 points)\nA $10^{-3}$ rate, [link](https://x.org/2301.123), "
          "Rendle (2009) and 31,013 users at 0.4350, 22% and 34x.")
    assert prose_numbers(md) == ["2", "31,013", "0.4350", "22", "34"]


def test_numbers_are_compared_at_the_precision_written():
    outputs = {Decimal("0.43721"), Decimal("34.2"), Decimal("0.221")}
    assert _backed("0.44", outputs, set(), set()) and _backed("0.4372", outputs, set(), set())
    assert not _backed("0.4373", outputs, set(), set())
    assert _backed("34", outputs, set(), set()) and _backed("22", outputs, set(), set())  # 34x, 22%
    assert not _backed("20", outputs, set(), set())
    assert _backed("10", outputs, {Decimal(10)}, set())  # EPOCHS = 10 in the code
    assert _backed("0.5", outputs, {Decimal("0.5")}, set())  # dropout=0.5 in the code
    assert not _backed("0.51", outputs, {Decimal("0.5")}, set())  # code backs only the exact value
    assert _backed("12.5", outputs, {Decimal("0.125")}, set())  # test_size=0.125 written as 12.5%
    assert _backed("0.730", outputs, set(), {Decimal("0.730")})
