"""The first code cell of every notebook, and the "Open in Colab" badge, written from ONE setting.

On Google Colab, Kaggle or a plain JupyterHub, ``course_utils`` is not installed. The first code cell of each
notebook then installs it with the dependencies the host lacks (the ``hosted`` extra of pyproject.toml: nothing the
host already has is replaced, so Colab's own torch, with its GPU, stays) and fetches MovieLens 100K with its
checksum. It installs from the course folder when the notebook sits in a copy of the course (editable: the notebook
uses the folder's code), otherwise from the course's source address. Where ``course_utils`` can be imported
(``make lab``, CI, a learner's own environment) the cell does nothing.

The source address is the one setting ``source`` under ``[tool.course]`` in pyproject.toml: a pip requirement URL
such as ``git+https://github.com/ORG/REPO@main``, empty until the course is published. A GitHub address also gives
every notebook an "Open in Colab" badge under its title. After changing it, write the cells and badges again:

    python -m course_utils.setup_cell            # or: make setup-cells
    python -m course_utils.setup_cell --check    # exit status 1 when a notebook is out of step (a test runs this)
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETUP_TAG = "course-setup"
BADGE_MARK = "colab-badge.svg"
_GITHUB = re.compile(r"^git\+https://github\.com/(?P<owner>[\w.-]+)/(?P<repo>[\w.-]+?)(?:\.git)?(?:@(?P<ref>[\w./-]+))?$")
_SOURCE = re.compile(r"^(git\+)?(https|file)://\S+$")

_CELL = '''\
# @title Setup: installs the course on Colab, Kaggle or any Jupyter without it; does nothing where it is installed
# (Learners: just run it. Course maintainers: COURSE_SOURCE comes from [tool.course] source in pyproject.toml.)
COURSE_SOURCE = {source!r}
import importlib.util

if importlib.util.find_spec("course_utils") is None:
    import pathlib, site, subprocess, sys
    here = pathlib.Path.cwd()  # Colab and Kaggle run every notebook in /content or /kaggle/working
    checkout = next((p for p in [here, *here.parents, *sorted(here.glob("*/"))]
                     if (p / "course_utils" / "__init__.py").is_file() and (p / "pyproject.toml").is_file()), None)
    if checkout is not None:  # a copy of the course here, above or just below: install that copy, editable
        target = ["-e", f"{{checkout}}[hosted]"]
    elif COURSE_SOURCE:
        target = [f"course-utils[hosted] @ {{COURSE_SOURCE}}"]
    else:
        raise ModuleNotFoundError(
            f"course_utils is not installed and there is no copy of the course in {{here}}, above it or just below it. "
            "Put one there (git clone the course, or upload its zip and unzip it), then run %cd <the copy>/notebooks "
            "and run this cell again.")
    print("Installing course_utils and what this Python lacks from", target[-1], "(a few minutes)...")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *target], check=True)
    if checkout is not None:
        sys.path.insert(0, str(checkout))  # an editable install is seen by new processes only
    if site.ENABLE_USER_SITE:
        site.addsitedir(site.getusersitepackages())  # pip's --user fallback on a read-only system Python
    importlib.invalidate_caches()
    from course_utils.data import fetch
    print("MovieLens 100K (checksums verified) is in", fetch("ml-100k"))
'''


def course_source(pyproject: str | Path = ROOT / "pyproject.toml") -> str:
    """The ``[tool.course] source`` setting: where hosted notebooks install the course from ("" when unpublished)."""
    with open(pyproject, "rb") as f:
        source = tomllib.load(f).get("tool", {}).get("course", {}).get("source", "")
    return check_source(source, str(pyproject))


def check_source(source, where: str = "source") -> str:
    if not isinstance(source, str):
        raise TypeError(f"[tool.course] source in {where} must be a string. Got {type(source).__name__}: {source!r}.")
    if source and not _SOURCE.match(source):
        raise ValueError(f"[tool.course] source in {where} must be empty or a pip requirement URL such as "
                         f"'git+https://github.com/ORG/REPO@main' (or an https:// or file:// archive). Got {source!r}.")
    return source


def render_cell(source: str) -> str:
    """The setup cell's code for ``source`` (see the module docstring)."""
    return _CELL.format(source=check_source(source))


def colab_url(source: str, notebook: str) -> str | None:
    """The Colab address of ``notebook`` (a path inside the repository) when ``source`` is a GitHub address, else None.
    Without an ``@ref`` the branch is ``main``."""
    match = _GITHUB.match(check_source(source))
    if match is None:
        return None
    return (f"https://colab.research.google.com/github/{match['owner']}/{match['repo']}/blob/"
            f"{match['ref'] or 'main'}/{notebook}")


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _code_cell(source: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "id": "course-setup",
            "metadata": {"cellView": "form", "tags": [SETUP_TAG]}, "outputs": [], "source": _lines(source)}


def sync_notebook(nb: dict, source: str, notebook: str) -> bool:
    """Give ``nb`` the setup cell (right under its title) and the badge for ``source``; True when ``nb`` changed."""
    before = json.dumps(nb, sort_keys=True)
    cells = nb["cells"]
    code = render_cell(source)
    existing = [i for i, c in enumerate(cells) if SETUP_TAG in c.get("metadata", {}).get("tags", [])]
    cell = cells.pop(existing[0]) if existing else _code_cell(code)
    if "".join(cell["source"]) != code:
        cell.update(source=_lines(code), outputs=[], execution_count=None)
    title_at = next((i for i, c in enumerate(cells) if c["cell_type"] == "markdown"), -1)
    cells.insert(title_at + 1, cell)  # right under the title, before any text about the cells that follow
    title = cells[title_at] if title_at >= 0 else None
    if title is None:
        return json.dumps(nb, sort_keys=True) != before
    lines = [line for line in "".join(title["source"]).split("\n") if BADGE_MARK not in line]
    url = colab_url(source, notebook)
    if url:
        lines.insert(1, f"[![Open In Colab](https://colab.research.google.com/assets/{BADGE_MARK})]({url})")
    title["source"] = _lines("\n".join(lines))
    return json.dumps(nb, sort_keys=True) != before


def sync(notebooks: list[Path] | None = None, source: str | None = None, check: bool = False) -> list[Path]:
    """Write the setup cell and badge into each notebook (default: notebooks/*.ipynb); return those that changed
    (with ``check``: that would change, nothing is written)."""
    source = course_source() if source is None else check_source(source)
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb")) if notebooks is None else notebooks
    changed = []
    for path in notebooks:
        nb = json.loads(path.read_text(encoding="utf-8"))
        try:
            relative = path.resolve().relative_to(ROOT).as_posix()
        except ValueError:
            relative = f"notebooks/{path.name}"
        if sync_notebook(nb, source, relative):
            changed.append(path)
            if not check:
                path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.setup_cell", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook in notebooks/")
    parser.add_argument("--check", action="store_true", help="change nothing; exit status 1 if a notebook is out of step")
    args = parser.parse_args(argv)
    changed = sync(args.notebooks or None, check=args.check)
    for path in changed:
        print(f"{'out of step' if args.check else 'updated'}: {path}")
    if args.check and changed:
        print("Run: python -m course_utils.setup_cell", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
