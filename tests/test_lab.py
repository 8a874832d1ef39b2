"""course_utils.lab, the launcher behind `make lab`: addresses, the checks before a start, friendly refusals.

The full start (a real JupyterLab in a real browser) is tests/browser/test_jupyterlab.py.
"""
from __future__ import annotations

import socket

import pytest

from course_utils import lab


def test_notebook_url_opens_the_notebook_with_the_token():
    assert (lab.notebook_url("http://127.0.0.1:8888/", "abc") ==
            "http://127.0.0.1:8888/lab/tree/notebooks/00_quickstart.ipynb?token=abc")
    assert lab.notebook_url("http://127.0.0.1:9/", "", "notebooks/02_ncf.ipynb") == "http://127.0.0.1:9/lab/tree/notebooks/02_ncf.ipynb"


def test_the_course_root_holds_the_notebooks():
    assert (lab.course_root() / lab.FIRST_NOTEBOOK).is_file()


def test_port_is_free_sees_a_listening_socket():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert not lab.port_is_free(port)
    assert lab.port_is_free(port)


def test_no_running_server_in_an_empty_runtime_dir(tmp_path):
    assert lab.running_course_server(lab.course_root(), runtime_dir=str(tmp_path)) is None


def test_a_stale_server_file_is_not_a_running_course(tmp_path):
    # a server file whose process is alive (this one) but which answers nothing: not a course to send the learner to
    import json
    import os

    (tmp_path / "jpserver-1.json").write_text(json.dumps({"pid": os.getpid(), "url": "http://127.0.0.1:9/", "token": "x",
                                                          "root_dir": str(lab.course_root())}))
    assert lab.running_course_server(lab.course_root(), runtime_dir=str(tmp_path)) is None


def test_a_port_taken_by_another_program_is_refused_with_the_way_out(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert lab.main(["--port", str(port), "--no-browser"]) == 1
    err = capsys.readouterr().err
    assert f"Port {port} on 127.0.0.1 is used by another program" in err and f"make lab PORT={port + 2}" in err


@pytest.mark.parametrize("argv, message", [
    (["--port", "0"], "--port must be between 1 and 65535; got 0."),
    (["--port", "70000"], "--port must be between 1 and 65535; got 70000."),
    (["--notebook", "notebooks/99_missing.ipynb"], "--notebook: no such notebook 'notebooks/99_missing.ipynb'"),
])
def test_bad_arguments_are_named(argv, message, capsys):
    assert lab.main(argv) == 2
    assert message in capsys.readouterr().err
