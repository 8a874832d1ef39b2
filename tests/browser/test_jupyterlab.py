"""The course as a learner meets it: the lab command, JupyterLab in a real (headless) Chromium, notebooks run by the UI.

It starts the same entry point as `make lab` (python -m course_utils.lab) on a free port with a fixed token and no
browser, opens notebooks/00_quickstart.ipynb in Debian's chromium driven by Playwright, runs every cell through the
Run menu and checks what the page shows; then it opens chapter 1 and asks its kernel what it is. Screenshots go to
test-artifacts/browser/ (or $COURSE_TEST_ARTIFACTS). Nothing is saved into the notebooks: autosave is off in the
JupyterLab settings this test uses, and the page is closed without saving.

Needs Debian's `chromium` (apt-get install chromium; another binary: $COURSE_CHROMIUM). Without it the tests are
skipped, unless COURSE_REQUIRE_BROWSER=1 (as in CI), where a missing browser fails them.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import nbformat
import pytest

from course_utils.checks import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("COURSE_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "browser"
TOKEN = "course-browser-test"
QUICKSTART = "notebooks/00_quickstart.ipynb"
CHAPTER_1 = "notebooks/01_embedding_mlp.ipynb"
RUN_TIMEOUT_MS = 240_000


def _chromium() -> str:
    path = os.environ.get("COURSE_CHROMIUM") or shutil.which("chromium")
    if path is None:
        message = "Debian's chromium is not installed (apt-get install chromium), and COURSE_CHROMIUM is not set"
        if os.environ.get("COURSE_REQUIRE_BROWSER") == "1":
            pytest.fail(message + "; COURSE_REQUIRE_BROWSER=1 requires the browser test to run.")
        pytest.skip(message)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _lab_settings(directory: Path) -> None:
    """JupyterLab user settings for the test: no autosave (the notebooks stay as committed), no news pop-up, and every
    cell in the page (by default JupyterLab renders only the cells near the screen, which hides the rest from checks)."""
    settings = {
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
        "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
    }
    for name, values in settings.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The launcher, started as `make lab` starts it: yields (base url, what it printed); stopped at the end."""
    chromium = _chromium()
    state = tmp_path_factory.mktemp("lab")
    _lab_settings(state / "settings")
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(state / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(state / "workspaces"), "JUPYTER_RUNTIME_DIR": str(state / "runtime"),
           "PYTHONUNBUFFERED": "1"}
    port = _free_port()
    launcher = subprocess.Popen([sys.executable, "-m", "course_utils.lab", "--port", str(port), "--token", TOKEN,
                                 "--no-browser"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
    printed, deadline = [], time.monotonic() + 180
    while time.monotonic() < deadline:
        line = launcher.stdout.readline()
        if not line:
            break
        printed.append(line)
        if line.startswith("Stop the course"):
            break
    text = "".join(printed)
    if "The course is open in JupyterLab" not in text:
        launcher.kill()
        pytest.fail(f"the lab command did not report an open course; it printed:\n{text}")
    yield {"url": f"http://127.0.0.1:{port}/", "port": port, "printed": text, "env": env, "chromium": chromium}
    launcher.send_signal(signal.SIGTERM)
    rest = launcher.communicate(timeout=60)[0]
    assert launcher.returncode == 0, rest
    assert "JupyterLab stopped" in rest


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=lab["chromium"], headless=True,
                                              args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield chromium
        chromium.close()


def _open(browser, lab, notebook):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    page.goto(f"{lab['url']}lab/tree/{notebook}?reset&token={TOKEN}")  # reset: only this notebook, no restored tabs
    page.locator(".jp-Notebook .jp-Cell").first.wait_for()
    _wait_idle(page)
    return page


def _wait_idle(page, timeout: int = 120_000) -> None:
    """Until the status bar says the kernel is the course's Python and idle ('Python 3 (ipykernel) | Idle')."""
    page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"Python 3 \(ipykernel\) \| Idle")).wait_for(timeout=timeout)


def _errors(page) -> list[str]:
    """The text of every error output on the page (a traceback renders as stderr text with the exception in it)."""
    texts = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()
    return [t for t in texts if re.search(r"Traceback|Error|Exception", t)]


def test_the_lab_command_says_where_the_course_is_what_to_open_and_how_to_stop(lab):
    printed = lab["printed"]
    assert f"http://127.0.0.1:{lab['port']}/lab/tree/{QUICKSTART}?token={TOKEN}" in printed
    assert f"Start with {QUICKSTART}" in printed
    assert "Ctrl+C" in printed


def test_a_second_start_says_the_course_is_already_open(lab):
    second = subprocess.run([sys.executable, "-m", "course_utils.lab", "--port", str(_free_port()), "--no-browser"],
                            cwd=ROOT, env=lab["env"], capture_output=True, text=True, timeout=60)
    assert second.returncode == 0, second.stderr
    assert "already open in JupyterLab" in second.stdout
    assert f"http://127.0.0.1:{lab['port']}/lab/tree/{QUICKSTART}" in second.stdout


def test_quickstart_runs_top_to_bottom_in_the_browser(lab, browser):
    page = _open(browser, lab, QUICKSTART)
    page.screenshot(path=ARTIFACTS / "00_quickstart-opened.png")
    n_code = sum(cell.cell_type == "code" for cell in nbformat.read(ROOT / QUICKSTART, as_version=4).cells)
    assert page.locator(".jp-Notebook .jp-CodeCell").count() == n_code  # every code cell of the file is on the page

    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    # done when every code cell shows an execution count ("[*]" while queued or running), or when a cell failed
    # (Run All stops there: the cells below keep an empty prompt) and nothing runs any more
    page.wait_for_function(
        """() => { const p = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')];
                   const done = p.length > 0 && p.every(e => /\\[\\d+\\]/.test(e.textContent));
                   const running = p.some(e => e.textContent.includes('*'));
                   const stderr = document.querySelector(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']");
                   return done || (stderr !== null && !running); }""",
        timeout=RUN_TIMEOUT_MS)
    _wait_idle(page)
    page.screenshot(path=ARTIFACTS / "00_quickstart-finished.png")
    errors = _errors(page)
    assert errors == [], "a cell failed in the browser:\n" + "\n".join(errors)
    prompts = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").all_inner_texts()
    assert [p.strip() for p in prompts] == [f"[{i}]:" for i in range(1, n_code + 1)], prompts  # all ran once, in order
    table = page.locator(".jp-OutputArea-output table", has_text="ndcg@10").first
    table.scroll_into_view_if_needed()
    assert table.is_visible() and "EASE" in table.inner_text()
    images = page.locator(".jp-OutputArea-output.jp-RenderedImage img")
    assert images.count() >= 4  # the rating, long-tail and activity plots and the model comparison
    figure = images.last  # the seaborn bar plot of the models' metrics
    figure.scroll_into_view_if_needed()
    assert figure.evaluate("img => img.complete && img.naturalWidth > 300 && img.naturalHeight > 200")
    page.screenshot(path=ARTIFACTS / "00_quickstart-results.png")
    verdict = page.get_by_text("✅ ch0.most-active: correct")
    verdict.scroll_into_view_if_needed()
    assert verdict.is_visible()
    page.screenshot(path=ARTIFACTS / "00_quickstart-check.png")
    total = sum(ex.points for ex in REGISTRY.values() if ex.chapter == "ch0")  # every ch0 exercise solved
    points = page.get_by_text(f"ch0: {total} of {total} points")
    points.scroll_into_view_if_needed()
    assert points.is_visible()
    page.close()


def test_a_chapter_notebook_runs_on_the_course_environment(lab, browser):
    page = _open(browser, lab, CHAPTER_1)
    first = page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell").first
    first.click()
    page.keyboard.press("Escape")
    page.keyboard.press("a")  # a new code cell above the first one
    page.keyboard.press("Enter")
    page.keyboard.insert_text('import sys, course_utils, torch, tensorflow as tf\n'
                              'print("kernel", sys.prefix, "torch", torch.__version__, "tensorflow", tf.__version__, '
                              '"course_utils", course_utils.__file__)')
    page.keyboard.press("Shift+Enter")
    output = page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-CodeCell").first.locator(".jp-OutputArea-output")
    output.filter(has_text="kernel").first.wait_for(timeout=RUN_TIMEOUT_MS)
    text = output.all_inner_texts()
    page.screenshot(path=ARTIFACTS / "01_embedding_mlp-kernel.png")
    assert _errors(page) == [], text
    words = " ".join(text).split()
    assert words[words.index("kernel") + 1] == sys.prefix  # the course's environment, the one running these tests
    assert words[words.index("torch") + 1] == version("torch")
    assert words[words.index("tensorflow") + 1] == version("tensorflow-cpu")
    assert Path(words[words.index("course_utils") + 1]).resolve() == (ROOT / "course_utils" / "__init__.py").resolve()
    page.close()
