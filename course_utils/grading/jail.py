"""The operating-system boundary around a graded notebook's kernel: bubblewrap (https://github.com/containers/bubblewrap).

The kernel runs in new user, PID, network, IPC, UTS and cgroup namespaces (``--unshare-all``): it sees only its own
processes, has no network at all (only its own loopback: not even 127.0.0.1 services of the host), cannot signal the
grader. Its filesystem is built from nothing: the system's /usr (read-only), the few /etc files the dynamic loader and
locale need, Python and the course's environment (read-only), the course package and the data folder (read-only), a
tmpfs /tmp and a tmpfs HOME (size-limited; the submission's work folder is inside it, so a submission cannot fill the
grader's disk), the course's benchmark logs (read-only: chapters load studies too long for a notebook), and the folder
of the kernel's sockets, through which it talks to the grader (ZeroMQ over unix sockets, not the network). Nothing else of the host
exists inside: no instructor notebooks, no hidden tests, no other submission, no grades folder. ``--die-with-parent``
kills the sandbox if the grader's worker dies, ``--new-session`` detaches it from the teacher's terminal. It runs as
the grader's user with every capability dropped (``--cap-drop ALL``, also when the grader is root: no remounting what
is read-only); a grader started as root keeps root's user id outside the sandbox, which exempts it from the process
limit (the kernel's seccomp filter still forbids every new process, and every mount).

What it does not isolate: the Linux kernel itself (a kernel exploit escapes every container), the CPU and memory
bandwidth it shares with the grader (limits cap its total, not its share), and anything in the folders above that the
teacher made readable on purpose.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

BWRAP = "bwrap"
MB = 1024 * 1024
HOME = "/home/student"
WORK = "/home/student/work"
ETC = ["ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "locale.alias", "nsswitch.conf", "mime.types"]


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create namespaces here."""


def bwrap_path() -> str | None:
    return shutil.which(BWRAP)


def check_available() -> str:
    """The path of a bwrap that can start a sandbox here, or SandboxUnavailable with what to do."""
    path = bwrap_path()
    if path is None:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed, so submissions cannot be graded in a sandbox. Install it "
            "(Debian/Ubuntu: sudo apt-get install bubblewrap; Fedora: sudo dnf install bubblewrap), or pass "
            "--unsafe-no-sandbox to grade without one (see the README's teacher section for what that means).")
    command = [path, "--unshare-all", "--die-with-parent", "--cap-drop", "ALL", "--ro-bind", "/", "/", "--proc", "/proc",
               "--dev", "/dev", "--size", str(MB), "--tmpfs", "/tmp", "true"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise SandboxUnavailable(
            f"bubblewrap is installed ({path}) but cannot create a sandbox here: {done.stderr.strip()[:300]!r}. "
            "It needs bubblewrap 0.7 or newer (for --size) and unprivileged user namespaces (sysctl "
            "kernel.unprivileged_userns_clone=1; on Ubuntu 24.04 an AppArmor profile that allows bwrap). Fix that, or "
            "pass --unsafe-no-sandbox (see the README).")
    return path


def _mounts_for(path: Path, seen: set[str]) -> list[str]:
    """--ro-bind arguments for ``path`` (and the target of a symlink, which the sandbox must resolve too)."""
    out = []
    for p in {str(path), os.path.realpath(path)}:
        if p not in seen and os.path.exists(p) and not any(p.startswith(s.rstrip("/") + "/") for s in seen):
            seen.add(p)
            out += ["--ro-bind", p, p]
    return out


def read_only_paths(extra: list[str] = ()) -> list[str]:
    """Host folders the kernel reads: Python, the environment, the course package, the data folder (in that order)."""
    import sysconfig

    import course_utils
    from course_utils.data.datasets import ENV_VAR, project_data_dir

    paths = [sys.base_prefix, sys.prefix, sys.exec_prefix, *(sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")),
             str(Path(course_utils.__file__).resolve().parent), str(project_data_dir())]
    if os.environ.get(ENV_VAR):
        paths.append(os.environ[ENV_VAR])
    paths += list(extra)
    out = []
    for real in map(os.path.realpath, paths):
        if os.path.exists(real) and real not in out:
            out.append(real)
    return sorted(out, key=len)


def course_logs() -> Path | None:
    """The checkout's benchmarks/logs: the results of studies too long for a notebook, which chapters load from
    ``../benchmarks/logs`` (read-only in the sandbox, at that place relative to the work folder)."""
    import course_utils

    logs = Path(course_utils.__file__).resolve().parent.parent / "benchmarks" / "logs"
    return logs if logs.is_dir() else None


def bwrap_command(command: list[str], sockets: Path, env: dict[str, str], read_only: list[str],
                  disk_mb: int = 2048, tmp_mb: int = 512) -> list[str]:
    """The full command line that runs ``command`` inside the sandbox (see the module's docstring). The grader checks
    once, before the first submission, that bubblewrap works here (check_available); this only builds the line."""
    path = bwrap_path()
    if path is None:
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed: see check_available()")
    args = [path, "--unshare-all", "--die-with-parent", "--new-session", "--clearenv", "--cap-drop", "ALL",
            "--hostname", "grading", "--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = Path("/") / name
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            args += ["--ro-bind", str(host), str(host)]
    for name in ETC:
        if (Path("/etc") / name).exists():
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    seen: set[str] = {"/usr"}
    for p in read_only:
        args += _mounts_for(Path(p), seen)
    args += ["--proc", "/proc", "--dev", "/dev", "--size", str(tmp_mb * MB), "--tmpfs", "/tmp",
             "--size", str(disk_mb * MB), "--tmpfs", HOME, "--dir", WORK,
             "--bind", str(sockets), str(sockets), "--chdir", WORK]
    if course_logs() is not None:
        args += ["--ro-bind", str(course_logs()), f"{HOME}/benchmarks/logs"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    return args + ["--", *command]
