"""The environment doctor: ``python -m course_utils.doctor`` says whether this Python can run the course, and how to fix
what it cannot.

    python -m course_utils.doctor                  # every check, then a verdict
    python -m course_utils.doctor --problems-only  # only what needs fixing (what ``make lab`` shows first)

It checks, without importing the heavy frameworks where their package metadata is enough:
- the Python version (3.11, 3.12, 3.13);
- every package the course pins (requirements*.txt beside the package, when the course is a checkout): installed, and
  at the pinned version;
- PyTorch and TensorFlow separately: the build, whether each sees a GPU and, if not, why (a CPU-only build, no driver);
- every dataset: where it would be read from (COURSE_UTILS_DATA, then the course's data/ folder) and whether its files
  are there, or that it will be downloaded on first use; a data folder that cannot be read or written is a problem;
- where the exercise progress is kept.
Exit status: 0 when nothing needs fixing, 1 otherwise.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

SUPPORTED_PYTHONS = ((3, 11), (3, 12), (3, 13))
OK, NOTE, PROBLEM = "ok", "note", "problem"
_MARK = {OK: "ok     ", NOTE: "note   ", PROBLEM: "PROBLEM"}


@dataclass(frozen=True)
class Finding:
    """One line of the doctor's report: what was checked, the status, what was found and the command that fixes it."""

    area: str
    status: str
    message: str
    fix: str = ""

    def line(self) -> str:
        text = f"{_MARK[self.status]}  {self.area:<14} {self.message}"
        return text + (f"\n{'':9}{'':15}fix: {self.fix}" if self.fix else "")


def course_root() -> Path | None:
    """The checkout this package was installed from (editable install), or None (installed from a wheel)."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "requirements.txt").is_file() else None


def pinned_requirements(root: Path | None = None) -> dict[str, str]:
    """{distribution name: pinned version} from the course's requirements files (installer pins excluded)."""
    root = course_root() if root is None else root
    pins: dict[str, str] = {}
    if root is None:
        return pins
    path = root / "requirements.txt"
    if path.is_file():
        for raw in path.read_text().splitlines():
            line = raw.split("#")[0].strip()
            match = re.match(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*==\s*([^\s;]+)", line)
            if match:
                pins[match.group(1).lower()] = match.group(3)
    return pins


def _installed(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def check_python(version=None) -> Finding:
    version = tuple((version or sys.version_info)[:3])
    text = ".".join(map(str, version))
    supported = ", ".join(f"{a}.{b}" for a, b in SUPPORTED_PYTHONS)
    if tuple(version[:2]) in SUPPORTED_PYTHONS:
        return Finding("python", OK, f"Python {text} ({sys.executable})")
    return Finding("python", PROBLEM, f"Python {text}: the course supports {supported}",
                   "install one of them (python.org, pyenv, or conda) and run: make lab PYTHON=python3.12")


def check_packages(pins: dict[str, str], installed=_installed) -> list[Finding]:
    """One finding per pinned package: missing, another version, or as pinned (summarised in one line)."""
    out, fine = [], []
    pip = f"{sys.executable} -m pip install"
    for dist, want in sorted(pins.items()):
        got = installed(dist)
        if got is None:
            out.append(Finding("package", PROBLEM, f"{dist} is not installed (the course pins {want})",
                               f"{pip} '{dist}=={want}'   (or: make env, which installs everything)"))
        elif got.split("+")[0] != want.split("+")[0]:
            out.append(Finding("package", PROBLEM, f"{dist} {got} is installed; the course pins {want}",
                               f"{pip} '{dist}=={want}'"))
        else:
            fine.append(dist)
    if fine:
        out.insert(0, Finding("package", OK, f"{len(fine)} pinned packages at their versions"))
    if not pins:
        out.append(Finding("package", NOTE, "no requirements files beside the package (installed from a wheel): "
                                            "versions are not compared with the course's pins"))
    return out


def check_torch(torch_module=None) -> Finding:
    try:
        torch = torch_module or __import__("torch")
    except ImportError:
        return Finding("torch", PROBLEM, "PyTorch is not installed", f"make env (or {sys.executable} -m pip install torch)")
    except Exception as err:  # a broken build: a shared library that does not load
        return Finding("torch", PROBLEM, f"PyTorch does not import: {type(err).__name__}: {err}",
                       f"{sys.executable} -m pip install --force-reinstall --no-deps torch")
    if torch.cuda.is_available():
        return Finding("torch", OK, f"PyTorch {torch.__version__}: GPU {torch.cuda.get_device_name(0)} "
                                    f"({torch.cuda.device_count()} visible), models use it with device='auto'")
    if getattr(torch.version, "cuda", None) is None:
        why = "this is the CPU build of PyTorch (no CUDA in it)"
        fix = (f"only if this machine has an NVIDIA GPU: {sys.executable} -m pip install --force-reinstall --no-deps "
               f"torch=={torch.__version__.split('+')[0]} --index-url https://download.pytorch.org/whl/cu126")
    else:
        why = f"a CUDA {torch.version.cuda} build, but no GPU or NVIDIA driver is visible (nvidia-smi should list one)"
        fix = ""
    return Finding("torch", NOTE, f"PyTorch {torch.__version__} runs on the CPU: {why}", fix)


def check_tensorflow(installed=_installed) -> Finding:
    """TensorFlow from its package metadata (importing it takes seconds): the CPU-only build cannot use a GPU."""
    cpu, full = installed("tensorflow-cpu"), installed("tensorflow")
    if cpu is None and full is None:
        return Finding("tensorflow", PROBLEM, "TensorFlow is not installed (chapters 1 and 6 use Keras on it)",
                       f"make env (or {sys.executable} -m pip install tensorflow-cpu)")
    if full is None:
        return Finding("tensorflow", NOTE, f"TensorFlow {cpu} runs on the CPU: tensorflow-cpu is the CPU-only build",
                       f"only with an NVIDIA GPU on Linux: {sys.executable} -m pip uninstall -y tensorflow-cpu && "
                       f"{sys.executable} -m pip install 'tensorflow[and-cuda]=={cpu}'")
    return Finding("tensorflow", OK, f"TensorFlow {full} (a GPU build: it uses a GPU when CUDA and a driver are present)")


def check_data(env=None) -> list[Finding]:
    """Where each dataset would be read from, and whether it is there."""
    from .data.datasets import ENV_VAR, REGISTRY, is_local, project_data_dir

    env = os.environ if env is None else env
    out = []
    folders = []
    if env.get(ENV_VAR):
        folders.append((Path(env[ENV_VAR]).expanduser(), f"{ENV_VAR}", False))
    folders.append((project_data_dir(), "the course's data folder", True))
    for folder, what, writable in folders:
        if not folder.exists():
            if not writable:
                out.append(Finding("data", PROBLEM, f"{what} is {folder}, which does not exist",
                                   f"unset {ENV_VAR}, or point it at the folder that holds ml-100k/"))
            continue
        if not folder.is_dir():
            out.append(Finding("data", PROBLEM, f"{what} {folder} is a file, not a folder",
                               f"point {ENV_VAR} at the folder that holds ml-100k/ (or unset it)"))
        elif not os.access(folder, os.R_OK | os.X_OK):
            out.append(Finding("data", PROBLEM, f"{what} {folder} cannot be read (no permission)",
                               f"chmod u+rx {folder}  (or point {ENV_VAR} at a readable folder)"))
        elif writable and not os.access(folder, os.W_OK):
            out.append(Finding("data", PROBLEM, f"{what} {folder} cannot be written: downloads would fail",
                               f"chmod u+w {folder}"))
    if any(f.status == PROBLEM for f in out):
        return out
    for name, spec in REGISTRY.items():
        where = None
        needed = [p for p in spec.files if p.endswith(("u.data", "ratings.dat", "ratings.csv"))] or spec.files
        for folder, what, _ in folders:
            try:
                if folder.is_dir() and is_local(name, needed, data_dir=folder):
                    where = f"{folder} ({what})"
                    break
            except OSError:
                continue
        if where:
            out.append(Finding("data", OK, f"{spec.title}: {where}"))
        else:
            out.append(Finding("data", NOTE, f"{spec.title}: not on this machine; downloaded into "
                                               f"{project_data_dir()} on first use ({spec.sources[0].url})"))
    return out


def check_progress() -> Finding:
    from .checks.core import progress_path

    path = progress_path()
    if path is None:
        return Finding("progress", NOTE, "exercise progress is not saved (COURSE_UTILS_PROGRESS=off)")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not os.access(folder, os.W_OK):
        return Finding("progress", PROBLEM, f"exercise progress goes to {path}, whose folder cannot be written",
                       "export COURSE_UTILS_PROGRESS=/a/writable/progress.json (or =off)")
    return Finding("progress", OK, f"exercise progress is kept in {path}")


def diagnose() -> list[Finding]:
    findings = [check_python()]
    findings += check_packages(pinned_requirements())
    findings += [check_torch(), check_tensorflow()]
    findings += check_data()
    findings.append(check_progress())
    return findings


def report(findings: list[Finding], problems_only: bool = False, out=sys.stdout) -> int:
    problems = [f for f in findings if f.status == PROBLEM]
    for f in problems if problems_only else findings:
        print(f.line(), file=out)
    if problems:
        print(f"\n{len(problems)} problem(s): the course may not run until they are fixed (commands above).", file=out)
        return 1
    if not problems_only:
        print("\nverdict: this environment can run the course.", file=out)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.doctor", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems-only", action="store_true", help="print only what needs fixing")
    args = parser.parse_args(argv)
    return report(diagnose(), problems_only=args.problems_only)


if __name__ == "__main__":
    sys.exit(main())
