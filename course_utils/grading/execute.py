"""Execute one notebook in a fresh kernel, in a process of its own, with time, memory and output limits.

``run_notebook`` (parent side) starts ``python -m course_utils.grading.execute SPEC`` (the worker), which runs the
notebook with nbclient and writes the executed notebook after every cell to a private folder that the notebook's
code cannot reach. Whatever happens (a loop that never ends, sys.exit, a dead kernel, megabytes of output) the parent
gets back the notebook as far as it ran and a status line.
"""
from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import nbformat

MB = 1024 * 1024


def read_roots() -> list[str]:
    """Folders a graded notebook may read besides its work folder: Python, packages, course_utils, data, system."""
    import course_utils
    from course_utils.data.datasets import ENV_VAR, project_data_dir

    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, *(sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")),
             str(Path(course_utils.__file__).parent), str(project_data_dir()),
             "/usr", "/lib", "/lib64", "/etc", "/proc", "/sys", "/dev"}
    if os.environ.get(ENV_VAR):
        roots.add(os.environ[ENV_VAR])
    return sorted(roots)


def run_notebook(nb, workdir: Path, private: Path, *, cell_timeout: int = 120, notebook_timeout: int = 900,
                 memory_mb: int = 8192, max_output_bytes: int = MB, grading: bool = True):
    """Execute ``nb`` with ``workdir`` as its folder. Returns (executed notebook, info dict with a 'status')."""
    workdir, private = Path(workdir).resolve(), Path(private).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    private.mkdir(parents=True, exist_ok=True)
    spec = {"input": str(private / "input.ipynb"), "output": str(private / "output.ipynb"), "info": str(private / "info.json"),
            "workdir": str(workdir), "cell_timeout": cell_timeout, "notebook_timeout": notebook_timeout,
            "max_output_bytes": max_output_bytes, "grading": grading, "read_roots": read_roots()}
    nbformat.write(nb, spec["input"])
    (private / "spec.json").write_text(json.dumps(spec))

    def limits():  # in the worker (and so in its kernel): cap the address space
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb * MB, memory_mb * MB))

    start = time.perf_counter()
    with open(private / "worker.log", "wb") as log:  # the worker keeps its own copy of the file descriptor
        proc = subprocess.Popen([sys.executable, "-m", "course_utils.grading.execute", str(private / "spec.json")],
                                stdout=subprocess.DEVNULL, stderr=log, preexec_fn=limits, start_new_session=True)
    try:
        proc.wait(timeout=notebook_timeout + 90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    _kill_kernel(private)
    info = {"status": "the grader's worker stopped without a report"}
    if Path(spec["info"]).is_file():
        info = json.loads(Path(spec["info"]).read_text())
    info["seconds"] = time.perf_counter() - start
    out = nbformat.read(spec["output"], as_version=4) if Path(spec["output"]).is_file() else nb
    return out, info


def _kill_kernel(private: Path) -> None:
    pid_file = private / "kernel.pid"
    if pid_file.is_file():
        try:
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
        except (ProcessLookupError, ValueError, PermissionError):
            pass


class _NotebookTimeout(Exception):
    pass


def _worker(spec_path: str) -> None:
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    spec = json.loads(Path(spec_path).read_text())
    workdir, private = Path(spec["workdir"]), Path(spec_path).parent
    nb = nbformat.read(spec["input"], as_version=4)
    info = {"status": "ok"}

    ipython_dir = workdir / ".ipython"
    startup = ipython_dir / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    if spec["grading"]:
        (startup / "00-course-utils-sandbox.py").write_text((Path(__file__).parent / "sandbox.py").read_text())
    for sub in (".tmp", ".matplotlib"):
        (workdir / sub).mkdir(exist_ok=True)
    os.environ.update({"IPYTHONDIR": str(ipython_dir), "HOME": str(workdir), "TMPDIR": str(workdir / ".tmp"),
                       "MPLCONFIGDIR": str(workdir / ".matplotlib"), "MPLBACKEND": "agg", "COURSE_UTILS_PROGRESS": "off",
                       "COURSE_UTILS_WORKDIR": str(workdir), "COURSE_UTILS_READ_ROOTS": os.pathsep.join(spec["read_roots"]),
                       "PYTHONNOUSERSITE": "1"})
    if spec["grading"]:
        os.environ["COURSE_UTILS_GRADING"] = "1"

    limit = spec["max_output_bytes"]

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

    def save(**_):
        nbformat.write(nb, spec["output"])

    client = Client(nb, timeout=spec["cell_timeout"], allow_errors=True, interrupt_on_timeout=True,
                    error_on_timeout={"ename": "CellTimeoutError", "traceback": [],
                                      "evalue": f"the cell ran longer than {spec['cell_timeout']} s and was interrupted"},
                    kernel_name="python3", resources={"metadata": {"path": str(workdir)}}, on_cell_executed=save,
                    record_timing=False)

    def on_alarm(signum, frame):
        raise _NotebookTimeout()

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(spec["notebook_timeout"])
    try:
        with client.setup_kernel():
            pid = getattr(client.km, "provisioner", None)
            pid = getattr(getattr(pid, "process", None), "pid", None)
            if pid:
                (private / "kernel.pid").write_text(str(pid))
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
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
    save()
    Path(spec["info"]).write_text(json.dumps(info))


if __name__ == "__main__":
    _worker(sys.argv[1])
