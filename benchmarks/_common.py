"""What every benchmark shares: the machine's description and the rows it appends to RESULTS.md."""
from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")
COLUMNS = ["date", "benchmark", "machine", "device", "versions", "settings", "metrics", "s/epoch", "total s"]
HEADER = """# Benchmark results

Rows are appended by `python -m benchmarks run NAME` (one per measured configuration), newest last; nothing here is
typed by hand except the rows marked "from log", which were copied from the run logs named in them. Columns:
settings are the configuration (model, protocol, epochs, batch), metrics the quality reached (the protocol is in the
settings), s/epoch the mean (median where the first epoch compiles) training seconds per epoch, total s the
wall-clock seconds of the configuration (training, and evaluation where it is part of the protocol).

| {} |
|{}|
""".format(" | ".join(COLUMNS), "|".join("---" for _ in COLUMNS))


def machine() -> str:
    """'Linux x86_64, 2 CPU cores, 24 GiB' (no host name)."""
    memory = ""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        memory = f", {pages * size / 2 ** 30:.0f} GiB"
    except (ValueError, OSError, AttributeError):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{platform.system()} {platform.machine()}, {cores} CPU cores{memory}"


def device_name(device) -> str:
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return "cpu" + (f" ({platform.processor()})" if platform.processor() else "")


def versions() -> str:
    import torch

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10,
                                cwd=Path(__file__).parent).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True,
                               timeout=10, cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "", ""
    return (f"python {platform.python_version()}, torch {torch.__version__}"
            + (f", course {commit}{'+changes' if dirty else ''}" if commit else ""))


def _cell(value) -> str:
    if isinstance(value, float):
        text = f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    elif isinstance(value, dict):
        text = ", ".join(f"{k} {_cell(v)}" for k, v in value.items())
    else:
        text = str(value)
    return text.replace("|", "/").replace("\n", " ")


def format_row(row: dict) -> str:
    return "| " + " | ".join(_cell(row.get(c, "")) for c in COLUMNS) + " |"


def append_rows(rows: list[dict], path: Path = RESULTS) -> None:
    """Append result rows to the markdown table in ``path`` (created with its header when missing)."""
    path = Path(path)
    if not path.exists():
        path.write_text(HEADER)
    text = path.read_text()
    if not text.endswith("\n"):
        text += "\n"
    path.write_text(text + "".join(format_row(r) + "\n" for r in rows))


def median_epoch_seconds(model) -> float:
    """Training seconds per epoch: the median after the first epoch (which warms up, or compiles)."""
    seconds = model.history_.to_frame()["seconds"]
    return float(seconds.iloc[1:].median() if len(seconds) > 1 else seconds.iloc[0])


def stamp(benchmark: str, device) -> dict:
    """The columns every row of a run shares."""
    return {"date": datetime.date.today().isoformat(), "benchmark": benchmark, "machine": machine(),
            "device": device_name(device), "versions": versions()}
