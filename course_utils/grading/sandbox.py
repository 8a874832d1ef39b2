"""Runs first in every grading kernel (an IPython startup file): limits what a submission can touch.

A Python audit hook (it cannot be removed once installed) refuses:
- opening a file for writing outside the submission's work folder;
- opening a file for reading outside the work folder and the read-only roots (Python, installed packages, the course
  package, the data folder, system folders): other students' work, the instructor's notebooks and hidden tests are out;
- starting programs (subprocess, os.system, exec, fork) and sending signals (os.kill: the grader must survive).
This stops ordinary file and process access from notebook code. It is not a security boundary against native code:
graders who fear that run the grader in a container.
"""
import os
import sys


def _install() -> None:
    work = os.path.realpath(os.environ["COURSE_UTILS_WORKDIR"])
    roots = [os.path.realpath(p) for p in os.environ.get("COURSE_UTILS_READ_ROOTS", "").split(os.pathsep) if p]
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    blocked = {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "pty.spawn",
               "os.kill", "os.killpg"}
    changes = {"os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.truncate", "os.symlink",
               "os.link", "shutil.rmtree", "shutil.move", "shutil.copyfile"}

    def inside(path, allowed) -> bool:
        p = os.path.realpath(os.fspath(path))
        return any(p == a or p.startswith(a + os.sep) for a in allowed)

    def hook(event, args):
        if event == "open":
            path, mode, flags = args
            if path is None or isinstance(path, int):
                return
            writing = any(c in (mode or "") for c in "wax+") or bool((flags or 0) & write_flags)
            if writing and not inside(path, [work]):
                raise PermissionError(f"grading: writing {path} is not allowed (only the work folder)")
            if not writing and not inside(path, [work, *roots]):
                raise PermissionError(f"grading: reading {path} is not allowed (only the work folder and libraries)")
        elif event in changes:
            for a in args:
                if isinstance(a, (str, bytes, os.PathLike)) and not inside(a, [work]):
                    raise PermissionError(f"grading: {event} on {a} is not allowed (only the work folder)")
        elif event in blocked:
            raise PermissionError(f"grading: {event} is not allowed while grading")

    sys.addaudithook(hook)


_install()
del _install
