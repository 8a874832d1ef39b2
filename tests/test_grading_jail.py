"""The bubblewrap sandbox on its own: a plain Python process started in it sees, reaches and keeps what the module says.

Skipped where bubblewrap is missing, unless COURSE_REQUIRE_SANDBOX=1 (as in CI): the `sandbox` fixture of conftest.py.
"""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from course_utils.grading import jail


def _run(code: str, sockets: Path, env=None) -> dict:
    """Run ``code`` (which prints one JSON line) in the sandbox; return what it printed."""
    command = jail.bwrap_command([sys.executable, "-c", code], sockets, {"PATH": "/usr/bin:/bin", **(env or {})},
                                 jail.read_only_paths(), disk_mb=64)
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


PROBE = r'''
import json, os, socket, sys
def attempt(f):
    try:
        f()
        return "ok"
    except OSError as err:
        return type(err).__name__ + ": " + (err.strerror or "")
def remount():
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    MS_REMOUNT, MS_BIND = 32, 4096
    result = libc.mount(None, PACKAGE.encode(), None, MS_REMOUNT | MS_BIND, None)
    return "remounted read-write" if result == 0 else "errno %d" % ctypes.get_errno()
def connect(port):
    s = socket.socket()
    s.settimeout(3)
    s.connect(("127.0.0.1", port))
out = {
    "root": sorted(os.listdir("/")),
    "work": os.getcwd(),
    "home": os.environ.get("HOME"),
    "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    "ppid": os.getppid(),
    "write work": attempt(lambda: open("note.txt", "w").write("ok")),
    "write tmp": attempt(lambda: open("/tmp/x", "w").write("ok")),
    "write package": attempt(lambda: open(PACKAGE + "/pwned.py", "w").write("x")),
    "write usr": attempt(lambda: open("/usr/pwned", "w").write("x")),
    "read notebooks": attempt(lambda: open(NOTEBOOK).read()),
    "read tests": attempt(lambda: os.listdir(TESTS)),
    "read package": attempt(lambda: open(PACKAGE + "/__init__.py").read()),
    "connect host": attempt(lambda: connect(PORT)),
    "fill the disk": attempt(lambda: [open(f"fill{i}", "wb").write(bytes(16 * 2 ** 20)) for i in range(8)]),
    "remount": remount(),
    "capabilities": [line.split()[1] for line in open("/proc/self/status") if line.startswith("CapEff")][0],
    "interfaces": sorted(name for _, name in socket.if_nameindex()),
    "hostname": socket.gethostname(),
    "env": sorted(os.environ),
}
print(json.dumps(out))
'''


def test_the_sandbox_sees_only_what_grading_needs(sandbox, tmp_path):
    import course_utils

    package = str(Path(course_utils.__file__).resolve().parent)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    sockets = tmp_path / "sockets"
    sockets.mkdir()
    code = (f"PACKAGE = {package!r}; NOTEBOOK = {str(ROOT / 'notebooks' / '00_quickstart.ipynb')!r}; "
            f"TESTS = {str(ROOT / 'tests')!r}; PORT = {server.getsockname()[1]}\n" + PROBE)
    try:
        out = _run(code, sockets, env={"HOME": jail.HOME, "PASSED_ON_PURPOSE": "1"})
    finally:
        server.close()
    assert out["work"] == jail.WORK and out["home"] == jail.HOME
    assert set(out["root"]) <= {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "proc", "dev", "tmp", "home",
                                *Path(package).parts[1:2], *Path(sys.prefix).parts[1:2], *Path(sys.base_prefix).parts[1:2],
                                *Path(str(sockets)).parts[1:2], *[Path(p).parts[1] for p in jail.read_only_paths()]}
    assert out["pids"] == [1, 2] and out["ppid"] == 1  # its own PID namespace: bubblewrap's init and itself
    assert out["write work"] == "ok" and not list(tmp_path.rglob("note.txt"))  # its work folder is its own tmpfs
    assert out["fill the disk"] == "OSError: No space left on device"  # a size-limited tmpfs, not the grader's disk
    assert out["remount"] == "errno 1" and out["capabilities"] == "0000000000000000"  # no capability, even as root
    assert out["write tmp"] == "ok"  # its own tmpfs, not the host's /tmp
    assert not Path("/tmp/x").exists() or Path("/tmp/x").read_text() != "ok"
    assert out["write package"].startswith("OSError: Read-only file system")
    assert out["write usr"].startswith("OSError: Read-only file system")
    assert out["read notebooks"].startswith("FileNotFoundError")  # the instructor's notebooks are not there
    assert out["read tests"].startswith("FileNotFoundError")  # nor the hidden tests
    assert out["read package"] == "ok"
    assert out["connect host"].startswith("ConnectionRefusedError")  # its own loopback, not the host's
    assert out["interfaces"] == ["lo"] and out["hostname"] == "grading"
    # only what was passed, plus PWD (bubblewrap) and LC_CTYPE (Python's locale coercion): none of the grader's variables
    assert set(out["env"]) - {"PWD", "LC_CTYPE"} == {"HOME", "PATH", "PASSED_ON_PURPOSE"}
    assert not (Path(package) / "pwned.py").exists()


def test_the_sandbox_dies_with_the_grader(sandbox, tmp_path):
    """--die-with-parent: killing the process that started bubblewrap kills everything inside."""
    sockets = tmp_path / "sockets"
    sockets.mkdir()
    alive = sockets / "alive"
    inner = jail.bwrap_command([sys.executable, "-c", f"import time; open({str(alive)!r}, 'w').write('1'); time.sleep(600)"],
                               sockets, {}, jail.read_only_paths())
    parent = subprocess.Popen([sys.executable, "-c", f"import subprocess; subprocess.run({inner!r})"])
    for _ in range(100):
        if alive.exists():
            break
        subprocess.run(["sleep", "0.1"], check=True)
    assert alive.exists()
    sleepers = lambda: [p for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline(p).endswith("time.sleep(600)")]  # noqa: E731
    assert sleepers()
    parent.kill()
    parent.wait()
    for _ in range(50):
        if not sleepers():
            break
        subprocess.run(["sleep", "0.1"], check=True)
    assert not sleepers()


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def test_a_missing_or_broken_bubblewrap_is_explained(monkeypatch, tmp_path):
    monkeypatch.setattr(jail, "bwrap_path", lambda: None)
    with pytest.raises(jail.SandboxUnavailable, match="apt-get install bubblewrap.*--unsafe-no-sandbox"):
        jail.check_available()
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to creating new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(jail, "bwrap_path", lambda: str(fake))
    with pytest.raises(jail.SandboxUnavailable, match="cannot create a sandbox here: 'bwrap: No permissions"):
        jail.check_available()


def test_read_only_paths_hold_python_the_environment_the_package_and_the_data(monkeypatch, tmp_path):
    import course_utils

    monkeypatch.setenv("COURSE_UTILS_DATA", str(tmp_path))
    paths = jail.read_only_paths()
    assert os.path.realpath(sys.base_prefix) in paths and str(tmp_path) in paths
    assert any(str(Path(course_utils.__file__).resolve().parent).startswith(p) for p in paths)
    assert str(ROOT / "notebooks") not in paths and str(ROOT) not in paths and str(ROOT / "tests") not in paths
