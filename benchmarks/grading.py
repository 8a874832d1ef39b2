"""Autograder wall time: N submissions of one chapter graded with --jobs J, and release validation of the whole course.

    python -m benchmarks run grading                       # 20 perfect submissions of 00_quickstart, --jobs 2
    python -m benchmarks run grading --copies 20 --jobs 2 --release --release-jobs 2

Each submission is the released student version of the notebook with the instructor's solutions filled in, so every
cell runs (the worst case for time). --release also times `release` (both versions of every notebook, validated).
Rows record whether the submissions ran inside the bubblewrap sandbox.
"""
from __future__ import annotations

import copy
import tempfile
import time
from pathlib import Path

import pandas as pd

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def add_arguments(parser) -> None:
    parser.add_argument("--notebook", default="00_quickstart.ipynb", help="the chapter whose submissions are graded")
    parser.add_argument("--copies", type=int, default=20, help="submissions to grade")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks graded at once")
    parser.add_argument("--release", action="store_true", help="also time release validation of every notebook")
    parser.add_argument("--release-jobs", type=int, default=2, help="--jobs of the release validation")
    parser.add_argument("--unsafe-no-sandbox", action="store_true", help="grade without bubblewrap (for comparison)")


def run(args) -> list[dict]:
    import nbformat

    from course_utils.grading import Limits, grade, release
    from course_utils.grading.notebook import read

    rows, table = [], []
    work = Path(tempfile.mkdtemp(prefix="grading-bench-"))
    source = work / "source"
    source.mkdir()
    (source / args.notebook).write_bytes((NOTEBOOKS / args.notebook).read_bytes())
    release(source, work / "release", validate=False)
    student = read(work / "release" / args.notebook)
    instructor = read(source / args.notebook)
    answers = {c.metadata["course_utils"]["exercise"]: c.source for c in instructor.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    perfect = copy.deepcopy(student)
    for cell in perfect.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = answers[cell.metadata["course_utils"]["exercise"]]
    paths = []
    for i in range(args.copies):
        folder = work / "submissions" / f"student{i:03d}"
        folder.mkdir(parents=True)
        nbformat.write(perfect, str(folder / args.notebook))
        paths.append(folder / args.notebook)
    sandboxed = not args.unsafe_no_sandbox
    start = time.perf_counter()
    grades = grade(paths, work / "grades", source, jobs=args.jobs, limits=Limits(), progress=True, sandbox=sandboxed)
    seconds = time.perf_counter() - start
    full = int((grades["total"] == grades["total"].max()).sum())
    table.append({"run": f"grade {args.copies} x {args.notebook}", "jobs": args.jobs, "sandbox": sandboxed,
                  "seconds": round(seconds, 1), "s/submission": round(seconds / args.copies, 2),
                  "full marks": f"{full}/{args.copies}"})
    rows.append({"settings": f"grade {args.copies} perfect submissions of {args.notebook}, --jobs {args.jobs}, "
                             f"{'bubblewrap sandbox' if sandboxed else 'no sandbox'}",
                 "metrics": {"full marks": full, "max points": float(grades["total"].max())}, "total s": seconds})
    print(table[-1], flush=True)
    if args.release:
        start = time.perf_counter()
        report = release(NOTEBOOKS, work / "course-release", validate=True, limits=Limits(), jobs=args.release_jobs,
                         sandbox=sandboxed)
        seconds = time.perf_counter() - start
        print(report.to_string(index=False))
        valid = int(report["valid"].fillna(True).astype(bool).sum())
        table.append({"run": f"release {len(report)} notebooks, validated both ways", "jobs": args.release_jobs,
                      "sandbox": sandboxed, "seconds": round(seconds, 1),
                      "s/submission": None, "full marks": f"{valid}/{len(report)} valid"})
        rows.append({"settings": f"release {len(report)} notebooks, both versions validated, --jobs {args.release_jobs}, "
                                 f"{'bubblewrap sandbox' if sandboxed else 'no sandbox'}",
                     "metrics": {"valid notebooks": valid}, "total s": seconds})
    print(pd.DataFrame(table).to_string(index=False))
    return rows
