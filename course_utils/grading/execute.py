"""Execute one notebook in a fresh kernel, the kernel in a sandbox, with time, memory and output limits.

``run_notebook`` (grader side) starts ``python -m course_utils.grading.execute SPEC`` (the worker, the teacher's own
trusted process), which drives the notebook with nbclient and writes the executed notebook after every cell to a
private folder that the kernel cannot see. The kernel is ``python -m course_utils.grading.kernel`` (limits, seccomp,
audit hook, then IPython), started inside bubblewrap (course_utils.grading.jail) unless the teacher chose to grade
without a sandbox; the worker and the kernel talk through ZeroMQ over unix sockets in a folder of their own, never
over the network. Whatever happens (a loop that never ends, sys.exit, a dead kernel, megabytes of output, a fork
bomb) the grader gets back the notebook as far as it ran and a status line.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat

MB = 1024 * 1024
_WORKERS: set[subprocess.Popen] = set()  # the workers running now, so that an interrupted grader can stop them all
_WORKERS_LOCK = threading.Lock()


def stop_workers() -> None:
    """Kill every running worker (and with it its kernel and sandbox): the grader was interrupted."""
    with _WORKERS_LOCK:
        for proc in list(_WORKERS):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def cpu_cores() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def run_notebook(nb, workdir: Path, private: Path, *, cell_timeout: int = 600, notebook_timeout: int = 1800,
                 memory_mb: int = 8192, max_output_bytes: int = MB, file_mb: int = 1024, processes: int = 512,
                 open_files: int = 1024, disk_mb: int = 2048, sandbox: bool = True, threads: int | None = None,
                 quiet_cells: tuple[int, ...] = ()):
    """Execute ``nb``. Returns (executed notebook, info dict with a 'status').

    In the sandbox the notebook's work folder is a tmpfs of ``disk_mb`` inside it; without the sandbox it is
    ``workdir``. ``quiet_cells`` run without entering IPython's input history (the grader's restored check cells)."""
    workdir, private = Path(workdir).resolve(), Path(private).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    private.mkdir(parents=True, exist_ok=True)
    threads = threads or cpu_cores()
    spec = {"input": str(private / "input.ipynb"), "output": str(private / "output.ipynb"), "info": str(private / "info.json"),
            "workdir": str(workdir), "cell_timeout": cell_timeout, "notebook_timeout": notebook_timeout,
            "max_output_bytes": max_output_bytes, "sandbox": sandbox, "threads": threads, "disk_mb": disk_mb,
            "quiet_cells": list(quiet_cells), "limits": {"memory_mb": memory_mb, "cpu_seconds": notebook_timeout * threads + 60, "file_mb": file_mb,
                       "processes": processes, "open_files": open_files}}
    nbformat.write(nb, spec["input"])
    (private / "spec.json").write_text(json.dumps(spec))
    start = time.perf_counter()
    with open(private / "worker.log", "wb") as log:  # the worker keeps its own copy of the file descriptor
        proc = subprocess.Popen([sys.executable, "-m", "course_utils.grading.execute", str(private / "spec.json")],
                                stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    with _WORKERS_LOCK:
        _WORKERS.add(proc)
    try:
        proc.wait(timeout=notebook_timeout + 90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the kernel dies with it (die-with-parent, in the sandbox and outside)
        proc.wait()
    finally:
        with _WORKERS_LOCK:
            _WORKERS.discard(proc)
    info = {"status": "the grader's worker stopped without a report"}
    if Path(spec["info"]).is_file():
        info = json.loads(Path(spec["info"]).read_text())
    info["seconds"] = time.perf_counter() - start
    out = nb
    if Path(spec["output"]).is_file():
        try:
            out = nbformat.read(spec["output"], as_version=4)
        except Exception as err:  # whatever went wrong, this submission is reported, not the run stopped
            info["status"] = f"the executed notebook could not be read back ({type(err).__name__})"
    return out, info


def process_budget(extra: int) -> int:
    """RLIMIT_NPROC counts every task (process or thread) of the user: what runs now plus ``extra``."""
    uid, tasks = os.getuid(), 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            if int(fields.get("Uid", "-1").split()[0]) == uid:
                tasks += int(fields.get("Threads", "1"))
    return tasks + extra


def kernel_setup(spec: dict, sockets: Path) -> tuple[list[str], dict[str, str]]:
    """The kernel's command line and environment (inside bubblewrap, or, unsafe, in the worker's own user space)."""
    from .jail import HOME, WORK, bwrap_command, course_logs, read_only_paths

    threads = str(spec["threads"])
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/local/bin{os.pathsep}/usr/bin{os.pathsep}/bin",
           "LANG": "C.UTF-8", "MPLBACKEND": "agg", "COURSE_UTILS_PROGRESS": "off", "COURSE_UTILS_GRADING": "1",
           "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
           "OPENBLAS_NUM_THREADS": threads, "TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": "1",
           "TF_CPP_MIN_LOG_LEVEL": "2", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    from course_utils.data.datasets import ENV_VAR

    if os.environ.get(ENV_VAR):
        env[ENV_VAR] = os.path.realpath(os.environ[ENV_VAR])
    limits = dict(spec["limits"])
    if os.getuid() != 0:  # root is exempt from RLIMIT_NPROC; seccomp stops its processes anyway
        limits["processes"] = process_budget(limits["processes"])
    readable = [*read_only_paths(), "/usr", "/lib", "/lib64", "/etc", "/proc", "/sys", "/dev", str(sockets)]
    logs = course_logs()
    if spec["sandbox"]:
        home, work, tmp = HOME, WORK, "/tmp"
        if logs is not None:
            readable.append(f"{HOME}/benchmarks/logs")
    else:
        work = spec["workdir"]
        home, tmp = work, str(Path(work) / ".tmp")
        Path(tmp).mkdir(exist_ok=True)
        if logs is not None:  # ../benchmarks/logs from the work folder, as in the sandbox and in the checkout
            readable.append(str(logs))
            link = Path(work).parent / "benchmarks" / "logs"
            link.parent.mkdir(exist_ok=True)
            try:
                link.symlink_to(logs)
            except FileExistsError:  # another submission of this run made it
                pass
    env.update({"HOME": home, "TMPDIR": tmp, "IPYTHONDIR": f"{home}/.ipython", "MPLCONFIGDIR": f"{home}/.matplotlib",
                "COURSE_UTILS_WORKDIR": work})
    guard = {"limits": limits, "writable": [work, home, tmp], "readable": readable, "seccomp": True}
    kernel = [sys.executable, "-m", "course_utils.grading.kernel", "--guard", json.dumps(guard), "-f", "{connection_file}",
              "--HistoryManager.hist_file=:memory:"]
    if spec["sandbox"]:
        return bwrap_command(kernel, sockets, env, read_only_paths(), disk_mb=spec["disk_mb"]), {}
    return kernel, env


class _NotebookTimeout(Exception):
    pass


def _worker(spec_path: str) -> None:
    from jupyter_client.kernelspec import KernelSpec
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    from .guard import die_with_parent

    spec = json.loads(Path(spec_path).read_text())
    die_with_parent()  # a grader that is killed takes its workers, and their sandboxes, with it
    workdir = Path(spec["workdir"])
    nb = nbformat.read(spec["input"], as_version=4)
    info = {"status": "ok"}
    limit = spec["max_output_bytes"]
    sockets = Path(tempfile.mkdtemp(prefix="cu-", dir="/tmp"))  # short: a unix socket's path has at most 107 bytes

    class Client(NotebookClient):
        sizes: dict[int, int] = {}

        def output(self, outs, msg, display_id, cell_index):
            size = len(json.dumps(msg.get("content", {})))
            used = self.sizes.get(cell_index, 0)
            self.sizes[cell_index] = used + size
            if used + size > limit:
                if used <= limit:  # the first message over the limit: one note, then silence
                    outs.append(nbformat.v4.new_output("stream", name="stderr",
                                                       text=f"[the grader cut this cell's output at {limit // 1024} KB]\n"))
                    self.sizes[cell_index] = limit + 1
                return None
            return super().output(outs, msg, display_id, cell_index)

    def save(**_):  # beside, then renamed: the grader reads a whole notebook or the previous one
        tmp = spec["output"] + ".tmp"
        nbformat.write(nb, tmp)
        os.replace(tmp, spec["output"])

    def on_alarm(signum, frame):
        raise _NotebookTimeout()

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(spec["notebook_timeout"])
    try:
        argv, env = kernel_setup(spec, sockets)
        km = AsyncKernelManager(kernel_name="course-grading", transport="ipc", ip=str(sockets / "k"))
        km.connection_file = str(sockets / "connection.json")
        km._kernel_spec = KernelSpec(argv=argv, env=env, display_name="course_utils grading kernel", language="python",
                                     interrupt_mode="message", metadata={})
        client = Client(nb, km=km, timeout=spec["cell_timeout"], allow_errors=True, interrupt_on_timeout=True,
                        error_on_timeout={"ename": "CellTimeoutError", "traceback": [],
                                          "evalue": f"the cell ran longer than {spec['cell_timeout']} s and was interrupted"},
                        resources={"metadata": {"path": str(workdir)}}, on_cell_executed=save, record_timing=False,
                        startup_timeout=120)
        quiet = set(spec["quiet_cells"])
        with client.setup_kernel():
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index, store_history=index not in quiet)
    except _NotebookTimeout:
        info = {"status": f"the notebook ran longer than {spec['notebook_timeout']} s and was stopped"}
    except DeadKernelError:
        info = {"status": "the kernel died (the notebook called os._exit, crashed, or ran out of memory)"}
    except MemoryError:
        info = {"status": "the grader ran out of memory"}
    except Exception as err:  # report anything else: the grader must go on with the next student
        info = {"status": f"execution stopped: {type(err).__name__}: {err}"}
    finally:
        signal.alarm(0)
        shutil.rmtree(sockets, ignore_errors=True)
    save()
    tmp = Path(spec["info"]).with_suffix(".tmp")
    tmp.write_text(json.dumps(info))
    os.replace(tmp, spec["info"])


if __name__ == "__main__":
    _worker(sys.argv[1])
