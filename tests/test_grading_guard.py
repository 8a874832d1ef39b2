"""The grading kernel's own walls (course_utils.grading.guard): limits, the seccomp filter and the audit hook, each in
a fresh interpreter (they cannot be removed once set)."""
import json
import subprocess
import sys
import textwrap

import pytest

from course_utils.grading import guard

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="seccomp and these limits are Linux's")


def _fresh(code: str, tmp_path) -> dict:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_seccomp_filter_allows_threads_and_forbids_every_new_process(tmp_path):
    out = _fresh("""
        import ctypes, json, os, subprocess, threading
        from course_utils.grading.guard import forbid_new_processes
        forbid_new_processes()
        def attempt(f):
            try:
                return repr(f())
            except OSError as err:
                return type(err).__name__ + ": " + str(err.errno)
        libc = ctypes.CDLL(None, use_errno=True)
        box = []
        t = threading.Thread(target=lambda: box.append("thread ran"))
        t.start(); t.join()
        import numpy as np
        out = {"thread": box, "numpy": float((np.ones((500, 500)) @ np.ones((500, 500))).sum()),  # BLAS threads
               "fork": attempt(os.fork), "Popen": attempt(lambda: subprocess.run(["true"])),
               "posix_spawn": attempt(lambda: os.posix_spawn("/bin/true", ["true"], {})),
               "system": attempt(lambda: os.system("true")), "ctypes fork": libc.fork(),
               "ctypes execv": libc.execv(b"/bin/true", None), "errno": ctypes.get_errno()}
        print(json.dumps(out))
    """, tmp_path)
    assert out["thread"] == ["thread ran"] and out["numpy"] == 500 ** 3
    assert out["fork"] == out["Popen"] == out["posix_spawn"] == "PermissionError: 1"
    assert out["system"] == str(127 << 8)  # the shell could not be started
    assert out["ctypes fork"] == -1 and out["ctypes execv"] == -1 and out["errno"] == 1


def test_the_seccomp_program_is_well_formed():
    for machine in ("x86_64", "aarch64"):
        program = guard.seccomp_program(machine)
        assert program[-3:] == [(0x06, 0, 0, guard._RET_ALLOW), (0x06, 0, 0, guard._RET_ERRNO | 1), (0x06, 0, 0, guard._RET_ERRNO | 38)]
        for index, (code, jt, jf, _) in enumerate(program):  # every jump lands inside the program, and forward
            if code != 0x06:
                assert index + 1 + max(jt, jf) < len(program)
    with pytest.raises(OSError, match="no seccomp filter for the machine 'sparc'"):
        guard.seccomp_program("sparc")


def test_limits_are_set_and_checked(tmp_path):
    out = _fresh("""
        import json, resource
        from course_utils.grading.guard import set_limits
        applied = set_limits({"memory_mb": 2048, "file_mb": 1, "open_files": 64, "cpu_seconds": 100, "processes": 4096})
        try:
            bytearray(3 * 1024 ** 3)
            memory = "allocated"
        except MemoryError:
            memory = "MemoryError"
        try:
            open("big", "wb").write(bytes(2 * 1024 ** 2))
            size = "written"
        except OSError as err:
            size = err.strerror
        print(json.dumps({"applied": applied, "memory": memory, "size": size,
                          "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)}))
    """, tmp_path)
    assert out["memory"] == "MemoryError" and out["size"] == "File too large" and out["nofile"] == [64, 64]
    assert out["applied"]["memory_mb"] == 2048
    with pytest.raises(ValueError, match="limits: unknown limit 'disk_mb'"):
        guard.set_limits({"disk_mb": 1})
    with pytest.raises(ValueError, match="limits: memory_mb must be a positive integer, got -1"):
        guard.set_limits({"memory_mb": -1})


def test_the_audit_hook_refuses_with_clear_errors(tmp_path):
    (tmp_path / "work").mkdir()
    (tmp_path / "secret.txt").write_text("hidden tests")
    out = _fresh(f"""
        import gc, json, os, shutil, subprocess, sys
        from course_utils.grading.guard import install_audit_hook
        work = {str(tmp_path / "work")!r}
        install_audit_hook([work], [os.path.dirname(json.__file__)])
        def attempt(f):
            try:
                f()
                return "ok"
            except PermissionError as err:
                return str(err)
        out = {{
            "write work": attempt(lambda: open(work + "/a.txt", "w").write("x")),
            "read work": attempt(lambda: open(work + "/a.txt").read()),
            "read secret": attempt(lambda: open({str(tmp_path / "secret.txt")!r}).read()),
            "write outside": attempt(lambda: open({str(tmp_path / "b.txt")!r}, "w")),
            "copy out": attempt(lambda: shutil.copyfile(work + "/a.txt", {str(tmp_path / "c.txt")!r})),
            "copy in": attempt(lambda: shutil.copyfile(json.__file__, work + "/json.py")),
            "remove outside": attempt(lambda: os.remove({str(tmp_path / "secret.txt")!r})),
            "Popen": attempt(lambda: subprocess.Popen(["true"])),
            "system": attempt(lambda: os.system("true")),
            "kill other": attempt(lambda: os.kill(os.getppid(), 0)),
            "kill self": attempt(lambda: os.kill(os.getpid(), 0)),
            "settrace": attempt(lambda: sys.settrace(lambda *a: None)),
            "gc": attempt(gc.get_objects),
        }}
        print(json.dumps(out))
    """, tmp_path)
    assert out["write work"] == out["read work"] == out["copy in"] == out["kill self"] == "ok"
    assert out["read secret"].startswith("grading: reading") and "only the work folder and libraries" in out["read secret"]
    assert out["write outside"].startswith("grading: writing") and out["copy out"].startswith("grading: copying")
    assert out["remove outside"].startswith("grading: os.remove on")
    assert out["Popen"] == "grading: subprocess.Popen is not allowed while grading"
    assert out["system"] == "grading: os.system is not allowed while grading"
    assert out["kill other"].startswith("grading: os.kill of process")
    assert out["settrace"] == "grading: sys.settrace is not allowed while grading"
    assert out["gc"] == "grading: gc.get_objects is not allowed while grading"
    assert (tmp_path / "secret.txt").exists() and not (tmp_path / "b.txt").exists()
