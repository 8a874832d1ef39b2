"""Run time of the whole notebook suite: every notebook in notebooks/ executed top to bottom, seconds per notebook.

The notebooks run as a learner runs them (a fresh kernel of this environment, every cell in order, their real
settings), one after the other. --write-outputs saves the executed notebooks in place (how the committed outputs are
made); by default the files are left untouched. Exercise progress goes to a temporary file, not ~/.course_utils.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pandas as pd

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def add_arguments(parser) -> None:
    parser.add_argument("names", nargs="*", help="notebook file names (default: every notebooks/*.ipynb)")
    parser.add_argument("--write-outputs", action="store_true", help="save the executed notebooks in place")
    parser.add_argument("--timeout", type=int, default=900, help="seconds one cell may take")


def run(args) -> list[dict]:
    import nbformat
    from nbclient import NotebookClient

    paths = [NOTEBOOKS / n for n in args.names] if args.names else sorted(NOTEBOOKS.glob("*.ipynb"))
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise SystemExit(f"names: no such notebook {missing}; the notebooks are {sorted(p.name for p in NOTEBOOKS.glob('*.ipynb'))}")
    if args.device != "cpu":
        print(f"note: the notebooks choose their own device (DEVICE = 'auto' in each); --device {args.device} is only recorded")
    os.environ.setdefault("COURSE_UTILS_PROGRESS", str(Path(tempfile.mkdtemp()) / "progress.json"))
    rows, table = [], []
    suite_start = time.perf_counter()
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        NotebookClient(nb, timeout=args.timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
        seconds = time.perf_counter() - start
        if args.write_outputs:
            nbformat.write(nb, path)
        code = sum(c.cell_type == "code" for c in nb.cells)
        table.append({"notebook": path.name, "code cells": code, "seconds": round(seconds, 1)})
        rows.append({"settings": f"{path.name}: {code} code cells, top to bottom in a fresh kernel", "metrics": {"cells": code},
                     "total s": seconds})
        print(table[-1], flush=True)
    total = time.perf_counter() - suite_start
    table.append({"notebook": "all", "code cells": sum(r["code cells"] for r in table), "seconds": round(total, 1)})
    print(pd.DataFrame(table).to_string(index=False))
    if len(paths) > 1:
        rows.append({"settings": f"the suite: {len(paths)} notebooks, one after the other", "metrics": {"notebooks": len(paths)},
                     "total s": total})
    return rows
