"""The notebooks' first cell (course_utils.setup_cell): in step with pyproject.toml, idle where the course is
installed, and, in a fresh virtual environment with no network, installing the course from a checkout or from the
source address and fetching MovieLens 100K with its checksum."""
from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from course_utils import setup_cell
from course_utils.setup_cell import colab_url, render_cell, sync, sync_notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
GITHUB = "git+https://github.com/example-org/neural-recsys-course@main"


def _setup_cells(nb):
    return [c for c in nb["cells"] if setup_cell.SETUP_TAG in c.get("metadata", {}).get("tags", [])]


def test_every_notebook_starts_with_the_setup_cell_for_the_configured_source():
    assert len(NOTEBOOKS) >= 8
    assert sync(check=True) == [], "run: python -m course_utils.setup_cell"
    code = render_cell(setup_cell.course_source())
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text(encoding="utf-8"))
        first_code = next(c for c in nb["cells"] if c["cell_type"] == "code")
        assert setup_cell.SETUP_TAG in first_code["metadata"]["tags"], path.name
        assert nb["cells"][0]["cell_type"] == "markdown" and nb["cells"][1] is first_code, path.name
        assert "".join(first_code["source"]) == code, path.name
        assert len(_setup_cells(nb)) == 1, path.name


def test_the_check_command_reports_a_notebook_out_of_step(tmp_path, capsys):
    stale = tmp_path / "00_quickstart.ipynb"
    nb = json.loads(NOTEBOOKS[0].read_text(encoding="utf-8"))
    sync_notebook(nb, setup_cell.course_source(), "notebooks/00_quickstart.ipynb")
    _setup_cells(nb)[0]["source"] = ["COURSE_SOURCE = 'an old address'\n"]
    stale.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    assert setup_cell.main([str(stale), "--check"]) == 1
    assert "out of step" in capsys.readouterr().out
    assert setup_cell.main([str(stale)]) == 0  # writes it
    assert setup_cell.main([str(stale), "--check"]) == 0


def test_a_github_source_renders_the_badge_and_the_cell_and_an_empty_one_removes_the_badge():
    nb = json.loads(NOTEBOOKS[2].read_text(encoding="utf-8"))
    title_before = "".join(nb["cells"][0]["source"])
    assert sync_notebook(nb, GITHUB, "notebooks/02_ncf.ipynb")
    title = "".join(nb["cells"][0]["source"]).split("\n")
    url = "https://colab.research.google.com/github/example-org/neural-recsys-course/blob/main/notebooks/02_ncf.ipynb"
    assert title[1] == f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"
    assert f"COURSE_SOURCE = {GITHUB!r}" in "".join(_setup_cells(nb)[0]["source"])
    assert not sync_notebook(nb, GITHUB, "notebooks/02_ncf.ipynb")  # idempotent
    assert sync_notebook(nb, "", "notebooks/02_ncf.ipynb")
    assert "".join(nb["cells"][0]["source"]) == title_before


def test_a_notebook_without_the_cell_gets_it_right_under_its_title():
    nb = {"cells": [{"cell_type": "markdown", "id": "a", "metadata": {}, "source": ["# Title\n", "\n", "text"]},
                    {"cell_type": "markdown", "id": "p", "metadata": {}, "source": ["The next cell holds the parameters."]},
                    {"cell_type": "code", "id": "b", "metadata": {}, "source": ["x = 1"], "outputs": [],
                     "execution_count": None}]}
    assert sync_notebook(nb, "", "notebooks/x.ipynb")
    assert [c["id"] for c in nb["cells"]] == ["a", "course-setup", "p", "b"]
    assert not sync_notebook(nb, "", "notebooks/x.ipynb")
    assert nb["cells"][1]["metadata"] == {"cellView": "form", "tags": [setup_cell.SETUP_TAG]}


@pytest.mark.parametrize("source, url", [
    ("git+https://github.com/o/r", "https://colab.research.google.com/github/o/r/blob/main/notebooks/n.ipynb"),
    ("git+https://github.com/o/r.git@v1.2", "https://colab.research.google.com/github/o/r/blob/v1.2/notebooks/n.ipynb"),
    ("git+https://gitlab.com/o/r@main", None),  # Colab opens GitHub notebooks only
    ("https://example.org/course-utils-0.1.0.tar.gz", None),
    ("", None),
])
def test_colab_address(source, url):
    assert colab_url(source, "notebooks/n.ipynb") == url


@pytest.mark.parametrize("bad", ["github.com/o/r", "pip install course-utils", "git+ssh://git@github.com/o/r", 3])
def test_a_bad_source_setting_is_refused_with_the_rule(tmp_path, bad):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(f"[tool.course]\nsource = {json.dumps(bad)}\n")
    with pytest.raises((ValueError, TypeError), match=r"\[tool.course\] source .* must be"):
        setup_cell.course_source(pyproject)


def test_where_course_utils_imports_the_cell_does_nothing(monkeypatch, capsys):
    def no_pip(*args, **kwargs):
        raise AssertionError(f"the setup cell ran {args}")

    monkeypatch.setattr(subprocess, "run", no_pip)
    path_before = list(sys.path)
    exec(render_cell(GITHUB), {})
    assert sys.path == path_before
    assert capsys.readouterr().out == ""


def test_outside_a_checkout_without_a_source_the_cell_says_what_to_do(tmp_path):
    # -S: no site-packages, so course_utils cannot be imported; tmp_path is not inside a copy of the course
    run = subprocess.run([sys.executable, "-S", "-c", render_cell("")], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 1
    assert "ModuleNotFoundError: course_utils is not installed" in run.stderr
    assert f"no copy of the course in {tmp_path}" in run.stderr and "%cd <the copy>/notebooks" in run.stderr
    assert "Installing" not in run.stdout


# --- the install branch, in a fresh virtual environment with no network ------------------------------------------


def _course_copy(dest: Path) -> Path:
    """The files a clone of the course has that the install needs (the checkout itself stays untouched)."""
    dest.mkdir()
    for name in ["pyproject.toml", "README.md"]:
        shutil.copy(ROOT / name, dest / name)
    shutil.copytree(ROOT / "course_utils", dest / "course_utils", ignore=shutil.ignore_patterns("__pycache__"))
    (dest / "notebooks").mkdir()
    (dest / "data").mkdir()
    shutil.copy(ROOT / "data" / "README.md", dest / "data" / "README.md")
    return dest


def _fresh_venv(where: Path) -> Path:
    """A new virtual environment that sees the current one's packages, except course_utils, through a .pth file (so
    pip finds every dependency installed and needs no network) and builds without isolation (setuptools from the
    current environment: an offline build)."""
    venv.create(where / "venv", with_pip=True)
    farm = where / "packages"
    farm.mkdir()
    for sp in site.getsitepackages():
        for entry in Path(sp).iterdir():
            if entry.name.startswith(("course_utils", "__editable__", "course-utils")) or entry.suffix == ".pth":
                continue
            if not (farm / entry.name).exists():
                (farm / entry.name).symlink_to(entry)
    python = where / "venv" / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "course-deps.pth").write_text(f"{farm}\n")
    # the venv's own old setuptools (Python 3.11 seeds one) would hide the newer one that torch's metadata asks for
    subprocess.run([python, "-m", "pip", "uninstall", "--quiet", "-y", "setuptools"], check=True, capture_output=True)
    return python


def _offline_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV"))}
    # no index: any download fails; no build isolation: setuptools comes from the environment, not from PyPI
    env.update(PIP_NO_INDEX="1", PIP_NO_BUILD_ISOLATION="0", PIP_DISABLE_PIP_VERSION_CHECK="1", **extra)
    return env


def _run_cell(python: Path, code: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([python, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _imported_from(python: Path, cwd: Path, env: dict) -> Path:
    run = subprocess.run([python, "-c", "import course_utils; print(course_utils.__file__)"], cwd=cwd, env=env,
                         capture_output=True, text=True, check=True)
    return Path(run.stdout.strip()).resolve()


@pytest.mark.slow
@pytest.mark.real_data
def test_in_a_checkout_the_cell_installs_that_copy_and_fetches_the_data(tmp_path, real_data_dir):
    course = _course_copy(tmp_path / "course")
    python = _fresh_venv(tmp_path)
    env = _offline_env(COURSE_UTILS_DATA=str(real_data_dir))
    assert subprocess.run([python, "-c", "import course_utils"], cwd=tmp_path, env=env).returncode == 1

    run = _run_cell(python, render_cell(""), course / "notebooks", env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"from {course}[hosted]" in run.stdout
    assert f"MovieLens 100K (checksums verified) is in {real_data_dir}" in run.stdout
    # installed editable: a new process (the next kernel) imports the copy's own code
    assert _imported_from(python, tmp_path, env) == (course / "course_utils" / "__init__.py").resolve()
    again = _run_cell(python, render_cell(""), course / "notebooks", env)
    assert again.returncode == 0 and again.stdout == "", again.stdout + again.stderr


@pytest.mark.slow
@pytest.mark.real_data
def test_outside_a_checkout_the_cell_installs_from_the_source_and_refuses_a_corrupt_dataset(tmp_path, real_data_dir):
    course = _course_copy(tmp_path / "course")
    python = _fresh_venv(tmp_path)
    corrupt = tmp_path / "corrupt-data"
    shutil.copytree(real_data_dir / "ml-100k", corrupt / "ml-100k")
    (corrupt / "ml-100k" / "u.data").chmod(0o644)
    with open(corrupt / "ml-100k" / "u.data", "a") as f:
        f.write("1\t1\t5\t874965758\n")  # one rating more than the publisher's file
    env = _offline_env(COURSE_UTILS_DATA=str(corrupt))
    colab = tmp_path / "content"  # where Colab runs a notebook opened from GitHub: no course around it
    colab.mkdir()

    run = _run_cell(python, render_cell(course.as_uri()), colab, env)
    assert f"from course-utils[hosted] @ {course.as_uri()}" in run.stdout, run.stdout + run.stderr
    assert run.returncode == 1
    assert "does not match the publisher's file" in run.stderr and "was not used" in run.stderr
    # installed as a package (not editable): it imports from the environment, not from the copy
    installed = _imported_from(python, tmp_path, env)
    assert installed.is_relative_to((tmp_path / "venv").resolve())
    assert (installed.parent / "setup_cell.py").read_text() == (ROOT / "course_utils" / "setup_cell.py").read_text()
