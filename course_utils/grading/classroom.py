"""A student template repository, and GitHub Classroom's autograding files, from the instructor notebooks.

    python -m course_utils.grading release --out template/ --template   # template/: the repository students get
    python -m course_utils.grading.classroom                            # rewrite docs/classroom/ from notebooks/
    python -m course_utils.grading.classroom --check                    # fail when docs/classroom/ is out of step

The template holds the student versions in ``notebooks/`` and what they need to run: ``course_utils/``, the
packaging and environment files, ``data/README.md``, the ``benchmarks/logs`` studies the chapters read, and
GitHub Classroom's files (``.github/workflows/classroom.yml``, ``.github/classroom/autograding.json``), one test
per notebook worth its points. The instructor notebooks never enter it.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from .notebook import check_cells, read

ROOT = Path(__file__).resolve().parents[2]  # the course checkout this course_utils belongs to
DOCS = ROOT / "docs" / "classroom"
# what a student's copy needs beside its notebooks (paths relative to the course folder)
TEMPLATE_FILES = ["course_utils", "pyproject.toml", "requirements.txt", "environment.yml", "Makefile", ".gitignore",
                  "data/README.md"]
INSTALL = [  # the workflow's install step; bubblewrap needs unprivileged user namespaces, which Ubuntu 24.04 restricts
    "sudo apt-get update && sudo apt-get install -y bubblewrap",
    "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 || true",
    # PyTorch's CPU wheels (torch==X matches X+cpu, the newer local version): no GPU on the runner, no CUDA download
    "pip install --extra-index-url https://download.pytorch.org/whl/cpu -r requirements.txt && pip install --no-deps -e .",
    "python -c \"from course_utils.data import fetch; fetch('ml-100k')\"",
]
TIMEOUT_MINUTES = 30  # one notebook's validate; the grader's own limit per notebook is 1,800 s


def notebook_points(source_dir: Path) -> dict[str, float]:
    """Points of each instructor notebook that has exercises, in file-name order."""
    points = {p.name: sum(c.points for c in check_cells(read(p))) for p in sorted(Path(source_dir).glob("*.ipynb"))}
    return {name: p for name, p in points.items() if p}


def _step_id(name: str) -> str:
    """00_quickstart.ipynb -> ch0: the step id the reporter reads as CH0_RESULTS (its runners input allows letters
    and digits only)."""
    stem = Path(name).stem
    number = stem.split("_", 1)[0]
    return f"ch{int(number)}" if number.isdigit() else "".join(c for c in stem if c.isalnum())


def _points(p: float):
    return int(p) if float(p).is_integer() else p


def autograding_json(points: dict[str, float]) -> str:
    """The ``.github/classroom/autograding.json`` of the older Classroom autograder: one test per notebook."""
    tests = [{"name": f"{Path(name).stem}: public checks", "setup": " && ".join(f"({c})" if "||" in c else c for c in INSTALL) if i == 0 else "",
              "run": f"python -m course_utils.grading validate notebooks/{name}", "input": "", "output": "",
              "comparison": "included", "timeout": TIMEOUT_MINUTES, "points": _points(p)}
             for i, (name, p) in enumerate(points.items())]
    return json.dumps({"tests": tests}, indent=2, ensure_ascii=False) + "\n"


def workflow_yaml(points: dict[str, float]) -> str:
    """The ``.github/workflows/classroom.yml`` of GitHub Classroom's Autograding Tests: one step per notebook."""
    ids = {name: _step_id(name) for name in points}
    lines = [
        "# GitHub Classroom's autograding workflow for the course: .github/workflows/classroom.yml of the assignment's",
        "# template repository (`python -m course_utils.grading release --out template/ --template` writes it there).",
        "# Each notebook is one test: `validate` exits 0 only when every public check of that notebook passes, so the",
        "# test earns the notebook's points then. Hidden tests never run here: the teacher grades with them afterwards.",
        "# Written by `python -m course_utils.grading.classroom` from the notebooks' points: do not edit by hand.",
        "name: Autograding Tests            # GitHub Classroom requires this name and the single job below",
        "on: [push, workflow_dispatch, repository_dispatch]",
        "permissions:",
        "  checks: write",
        "  actions: read",
        "  contents: read",
        "jobs:",
        "  run-autograding-tests:",
        "    runs-on: ubuntu-latest",
        "    if: github.actor != 'github-classroom[bot]'",
        "    steps:",
        "      - uses: actions/checkout@v4",
        "      - uses: actions/setup-python@v5",
        "        with:",
        '          python-version: "3.12"',
        "          cache: pip                # the course's packages are downloaded once, then restored",
        "      - name: Install the course and the sandbox",
        "        run: |",
        *[f"          {command}" for command in INSTALL],
    ]
    for name, p in points.items():
        lines += [f"      - name: {Path(name).stem}", f"        id: {ids[name]}",
                  "        uses: classroom-resources/autograding-command-grader@v1", "        with:",
                  f'          test-name: "{Path(name).stem}: public checks"',
                  f"          command: python -m course_utils.grading validate notebooks/{name}",
                  f"          timeout: {TIMEOUT_MINUTES}", f"          max-score: {_points(p)}"]
    lines += ["      - name: Autograding Reporter", "        if: always()",
              "        uses: classroom-resources/autograding-grading-reporter@v1", "        env:",
              *[f'          {i.upper()}_RESULTS: "${{{{ steps.{i}.outputs.result }}}}"' for i in ids.values()],
              "        with:", f"          runners: {','.join(ids.values())}"]
    return "\n".join(lines) + "\n"


def student_readme(points: dict[str, float]) -> str:
    """The template's README: what a student does with the repository (the course's README is the instructor's)."""
    rows = "\n".join(f"| `notebooks/{name}` | {_points(p)} |" for name, p in points.items())
    return f"""# Neural recommender systems: your notebooks

Your copy of the course: the notebooks in `notebooks/` hold the exercises, `course_utils/` the course's code and
checks. Solve each exercise in the cell that says `raise NotImplementedError`, run the `check(...)` cell under it, and
keep going until it says correct.

## Set up and open the notebooks

```bash
make lab                                  # creates .venv (Python 3.11, 3.12 or 3.13) and opens JupyterLab
python -c "from course_utils.data import fetch; fetch('ml-100k')"   # MovieLens 100K, if the lab has not fetched it
```

## Check your work before handing it in

```bash
.venv/bin/python -m course_utils.grading validate notebooks/00_quickstart.ipynb
```

One line per exercise (passed, not yet with a hint, or not attempted); the exit status is 0 only when every public
check passes. It runs the notebook in a sandbox (bubblewrap, Linux: `sudo apt-get install bubblewrap`); on macOS,
Windows or Colab add `--unsafe-no-sandbox`. Your teacher grades with more tests than these checks.

| notebook | points |
|---|---|
{rows}
"""


def _logs_read_by(notebooks: list[Path]) -> list[str]:
    """The benchmarks/logs folders the notebooks load (``../benchmarks/logs/<folder>/...``)."""
    import re

    found = set()
    for path in notebooks:
        found |= set(re.findall(r"\.\./benchmarks/logs/([A-Za-z0-9_-]+)", path.read_text(encoding="utf-8")))
    return sorted(found)


def write_template(out: Path, source_dir: Path, root: Path = ROOT) -> list[str]:
    """Copy what the students need beside ``out/notebooks`` (written by release) and GitHub Classroom's files into
    ``out``; returns the paths written, relative to ``out``."""
    out, root = Path(out), Path(root)
    if not (root / "pyproject.toml").is_file() or not (root / "course_utils" / "__init__.py").is_file():
        raise FileNotFoundError(f"--template copies the course folder, but course_utils is not installed from one "
                                f"(looked in {root}): run release from an editable install (make env)")
    written = []
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
    for rel in TEMPLATE_FILES + [f"benchmarks/logs/{d}" for d in _logs_read_by(sorted(Path(source_dir).glob("*.ipynb")))]:
        src, dst = root / rel, out / rel
        if not src.exists():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=ignore, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dst)
        written.append(rel)
    points = notebook_points(source_dir)
    for rel, text in {".github/workflows/classroom.yml": workflow_yaml(points),
                      ".github/classroom/autograding.json": autograding_json(points),
                      "README.md": student_readme(points)}.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text, encoding="utf-8")
        written.append(rel)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.grading.classroom", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=ROOT / "notebooks", help="instructor notebooks")
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/classroom/ is out of step")
    args = parser.parse_args(argv)
    points = notebook_points(args.source)
    files = {DOCS / "autograding-tests.yml": workflow_yaml(points), DOCS / "autograding.json": autograding_json(points)}
    stale = [path for path, text in files.items() if not path.is_file() or path.read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            print(f"{path} is out of step with the notebooks: run python -m course_utils.grading.classroom",
                  file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[path], encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
