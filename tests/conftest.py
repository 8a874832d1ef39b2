"""Shared fixtures: a hand-checkable 4-user x 6-item log, a synthetic log, real MovieLens when available."""
from __future__ import annotations

import os
import threading
from unittest import mock
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import matplotlib
import pandas as pd
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def tiny_df() -> pd.DataFrame:
    """4 users x 6 items; user 4 has seen every item but one."""
    rows = [
        (1, 10, 5, 100), (1, 11, 3, 101), (1, 12, 4, 102),
        (2, 10, 2, 100), (2, 13, 5, 105), (2, 14, 1, 106), (2, 15, 4, 107),
        (3, 11, 4, 103), (3, 12, 5, 104),
        (4, 10, 3, 90), (4, 11, 3, 91), (4, 12, 2, 92), (4, 13, 4, 93), (4, 14, 5, 94),
    ]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])


@pytest.fixture(scope="session")
def synthetic_df() -> pd.DataFrame:
    from course_utils import make_synthetic

    return make_synthetic(n_users=200, n_items=120, mean_interactions=25, seed=0)


def _real_data_dir() -> Path | None:
    for candidate in [os.environ.get("COURSE_UTILS_DATA"), ROOT / "data", ROOT.parent / "shared" / "data"]:
        if candidate and (Path(candidate) / "ml-100k" / "u.data").is_file():
            return Path(candidate)
    return None


def pytest_collection_modifyitems(config, items):
    """Every test that reads MovieLens (through the real_data_dir or ml100k fixtures) carries the real_data marker."""
    for item in items:
        if {"real_data_dir", "ml100k"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.real_data)


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The folder holding real MovieLens 100K (CI: COURSE_UTILS_DATA=../shared/data); skipped where it is absent."""
    folder = _real_data_dir()
    if folder is None:
        pytest.skip("MovieLens 100K is not in COURSE_UTILS_DATA or data/ (see data/README.md)")
    return folder


@pytest.fixture(scope="session")
def ml100k(real_data_dir) -> pd.DataFrame:
    from course_utils import load_movielens

    with mock.patch.dict(os.environ, {"COURSE_UTILS_DATA": str(real_data_dir)}):
        return load_movielens("100k")


class _Files(BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    cut: set[str] = set()
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's naming)
        type(self).requests.append(self.path)
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path in self.cut:  # promise the whole file, send half, hang up
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    """A local HTTP server on 127.0.0.1: set ``server.files[path] = bytes``; ``server.cut`` paths are cut off halfway."""
    handler = type("Handler", (_Files,), {"files": {}, "cut": set(), "requests": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    server.files, server.cut, server.requests = handler.files, handler.cut, handler.requests
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def sandbox() -> str:
    """The bubblewrap the grader runs submissions in. Skipped where it is missing or cannot create namespaces, unless
    COURSE_REQUIRE_SANDBOX=1 (as in CI), where that fails the test instead."""
    from course_utils.grading import jail

    try:
        return jail.check_available()
    except jail.SandboxUnavailable as err:
        if os.environ.get("COURSE_REQUIRE_SANDBOX") == "1":
            pytest.fail(f"{err}; COURSE_REQUIRE_SANDBOX=1 requires the sandbox tests to run.")
        pytest.skip(str(err))


@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway PostgreSQL server (initdb in a temporary folder, a unix socket only) for the whole test session.
    Skipped where PostgreSQL is not installed, unless COURSE_REQUIRE_POSTGRES=1 (as in CI), where that fails."""
    from course_utils.tuning.postgres import PostgresUnavailable, throwaway_postgres

    try:
        server = throwaway_postgres()
        url = server.__enter__()
    except PostgresUnavailable as err:
        if os.environ.get("COURSE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{err}; COURSE_REQUIRE_POSTGRES=1 requires the PostgreSQL tests to run.")
        pytest.skip(str(err))
    yield url
    server.__exit__(None, None, None)
