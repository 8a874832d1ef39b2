"""Open the course in JupyterLab: ``python -m course_utils.lab`` (what ``make lab`` runs).

It starts JupyterLab on 127.0.0.1 in the course's folder, waits until the server answers, then says where the course
opened, what to open first and how to stop it. If this course is already open in a running JupyterLab, it says where
instead of starting a second server; if the port is taken by another program, it says which port to use.

    python -m course_utils.lab                       # opens notebooks/00_quickstart.ipynb in your browser
    python -m course_utils.lab --port 8890 --no-browser --token SECRET
"""
from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

FIRST_NOTEBOOK = "notebooks/00_quickstart.ipynb"
CHAPTERS = ("0 quick start, 1 embedding MLP, 2 NCF, 3 LightGCN, 4 SASRec, 5 sequence models, 6 tuning; "
            "appendix: 7 scaling up")


def course_root() -> Path:
    """The course's folder: the one holding notebooks/ beside this package (an editable install), else the cwd."""
    here = Path(__file__).resolve().parents[1]
    return here if (here / "notebooks").is_dir() else Path.cwd()


def notebook_url(base_url: str, token: str, notebook: str = FIRST_NOTEBOOK) -> str:
    """The address that opens ``notebook`` in JupyterLab: base_url as the server reports it (ends with '/')."""
    return f"{base_url}lab/tree/{notebook}" + (f"?token={token}" if token else "")


def running_course_server(root: Path, runtime_dir: str | None = None) -> dict | None:
    """The info of a live Jupyter server serving ``root`` (it answers on its address), or None."""
    from jupyter_server.serverapp import list_running_servers

    root = Path(root).resolve()
    for info in list_running_servers(runtime_dir):
        if Path(info.get("root_dir", "")).resolve() == root and _answers(info["url"], info.get("token", "")):
            return info
    return None


def _answers(base_url: str, token: str, timeout: float = 2.0) -> bool:
    request = urllib.request.Request(f"{base_url}api/status", headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: a just-closed port is free
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_utils.lab", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8888, help="the port on 127.0.0.1 (default 8888)")
    parser.add_argument("--token", default=None, help="the access token (default: a fresh random one)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser (a headless start)")
    parser.add_argument("--notebook", default=FIRST_NOTEBOOK, help=f"what to open first (default {FIRST_NOTEBOOK})")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for JupyterLab to answer")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 1 <= args.port <= 65535:
        print(f"--port must be between 1 and 65535; got {args.port}.", file=sys.stderr)
        return 2
    root = course_root()
    if not (root / args.notebook).is_file():
        print(f"--notebook: no such notebook {args.notebook!r} in {root}.", file=sys.stderr)
        return 2

    running = running_course_server(root)
    if running is not None:
        print(f"The course is already open in JupyterLab (process {running['pid']}):\n"
              f"    {notebook_url(running['url'], running.get('token', ''), args.notebook)}\n"
              f"Open that address in your browser. To start afresh, stop that server first (Ctrl+C in its terminal,\n"
              f"or: kill {running['pid']}).")
        return 0
    if not port_is_free(args.port):
        print(f"Port {args.port} on 127.0.0.1 is used by another program, not by this course. Choose another port:\n"
              f"    make lab PORT={args.port + 2}      (or: python -m course_utils.lab --port {args.port + 2})",
              file=sys.stderr)
        return 1

    token = args.token if args.token is not None else secrets.token_hex(24)
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root}", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={args.port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               "--ServerApp.log_level=WARN", "--LabApp.log_level=WARN", args.notebook]
    if args.no_browser:
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # containers often run as root; Jupyter refuses it unless told
    print(f"Starting JupyterLab in {root} ...", flush=True)
    # its own session: Ctrl+C reaches only this launcher, which then stops the server cleanly (no y/n question)
    server = subprocess.Popen(command, cwd=root, start_new_session=True)
    for stop_signal in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # Ctrl+C, a closed terminal or a kill
        signal.signal(stop_signal, _interrupt)
    try:
        return _serve(server, args, root, token)
    except KeyboardInterrupt:
        _stop(server)
        print("JupyterLab stopped. Start it again with: make lab", flush=True)
        return 0


def _serve(server: subprocess.Popen, args, root: Path, token: str) -> int:
    base_url = f"http://127.0.0.1:{args.port}/"
    deadline = time.monotonic() + args.timeout
    while not _answers(base_url, token):
        if server.poll() is not None:
            print(f"JupyterLab exited with code {server.returncode} before it answered on {base_url}; "
                  f"its messages are above.", file=sys.stderr)
            return server.returncode or 1
        if time.monotonic() > deadline:
            _stop(server)
            print(f"JupyterLab did not answer on {base_url} within {args.timeout:.0f} s (--timeout).", file=sys.stderr)
            return 1
        time.sleep(0.25)

    print("\n".join([
        "",
        "The course is open in JupyterLab:",
        f"    {notebook_url(base_url, token, args.notebook)}",
        f"Start with {FIRST_NOTEBOOK} (chapter 0: data, a baseline, evaluation); the chapters follow in order:",
        f"    {CHAPTERS}.",
        "Run a notebook with Run > Run All Cells, or Shift+Enter cell by cell. Your work is saved in notebooks/.",
        "Stop the course: press Ctrl+C here.",
        "",
    ]), flush=True)
    return server.wait()


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


if __name__ == "__main__":
    sys.exit(main())
