"""Autograder wall time: N submissions of one chapter graded with --jobs J, and a teacher's steps over the whole course.

    python -m benchmarks run grading                       # 20 perfect submissions of 00_quickstart, --jobs 2
    python -m benchmarks run grading --copies 20 --jobs 2 --release --release-jobs 2
    python -m benchmarks run grading --copies 0 --course   # every step of docs/teaching.md for the whole course

Each submission is the released student version of the notebook with the instructor's solutions filled in, so every
cell runs (the worst case for time). --release also times `release` (both versions of every notebook, validated).
--course runs the teacher's guide through the command line, as a teacher would, and times each step: release with
validation, validate one student's whole course, grade it, grade again after one more submission arrives (incremental),
each export format, and the similarity report over a class of --class-size students x every notebook. The outputs
(release report, validate lines, feedback, export heads, similarity CSV head) go to --outputs.
Rows record whether the submissions ran inside the bubblewrap sandbox.
"""
from __future__ import annotations

import copy
import subprocess
import sys
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
    parser.add_argument("--course", action="store_true", help="time every step of the teacher's guide, whole course")
    parser.add_argument("--class-size", type=int, default=30, help="students in --course's similarity report")
    parser.add_argument("--outputs", type=Path, default=None,
                        help="folder for --course's example outputs (default: a temporary folder, printed)")


def _perfect(student_nb, instructor_nb):
    """The student version with the instructor's solution in every solution cell."""
    answers = {c.metadata["course_utils"]["exercise"]: c.source for c in instructor_nb.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    nb = copy.deepcopy(student_nb)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = answers[cell.metadata["course_utils"]["exercise"]]
    return nb


def run(args) -> list[dict]:
    import nbformat

    from course_utils.grading import Limits, grade, release
    from course_utils.grading.notebook import read

    rows, table = [], []
    work = Path(tempfile.mkdtemp(prefix="grading-bench-"))
    if args.course:
        return _course(args, work)
    source = work / "source"
    source.mkdir()
    (source / args.notebook).write_bytes((NOTEBOOKS / args.notebook).read_bytes())
    release(source, work / "release", validate=False)
    perfect = _perfect(read(work / "release" / args.notebook), read(source / args.notebook))
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


def _course(args, work: Path) -> list[dict]:
    """Every step of docs/teaching.md over the whole course, through the command line, each one timed."""
    import nbformat
    import pandas as pd

    from course_utils.grading.notebook import read

    outputs = args.outputs or work / "outputs"
    outputs.mkdir(parents=True, exist_ok=True)
    sandbox = [] if not args.unsafe_no_sandbox else ["--unsafe-no-sandbox"]
    table, rows = [], []

    def step(name: str, argv: list[str], log: str, expect: int = 0, what: str = "") -> subprocess.CompletedProcess:
        print(f"--- {name}: python -m course_utils.grading {' '.join(argv)}", flush=True)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "course_utils.grading", *argv], cwd=NOTEBOOKS.parent,
                              capture_output=True, text=True)
        seconds = time.perf_counter() - start
        (outputs / log).write_text(f"$ python -m course_utils.grading {' '.join(argv)}\n{done.stdout}{done.stderr}"
                                   f"(exit status {done.returncode})\n")
        print(done.stdout[-3000:], done.stderr[-3000:], f"exit {done.returncode}, {seconds:.1f} s", sep="\n", flush=True)
        if done.returncode != expect:
            raise RuntimeError(f"{name} exited {done.returncode}, expected {expect}: see {outputs / log}")
        table.append({"step": name, "seconds": round(seconds, 1), "what": what})
        rows.append({"settings": f"course step: {name} ({what}), {'no sandbox' if sandbox else 'bubblewrap sandbox'}",
                     "metrics": {"exit": done.returncode}, "total s": seconds})
        return done

    release_dir = work / "release"
    step("release with validation", ["release", "--out", str(release_dir), "--jobs", str(args.release_jobs), *sandbox],
         "release.txt", what=f"every notebook twice, --jobs {args.release_jobs}")
    names = sorted(p.name for p in release_dir.glob("*.ipynb"))
    graded = [n for n in names if any(c.metadata.get("nbgrader", {}).get("solution") for c in read(release_dir / n).cells)]
    perfect = {n: _perfect(read(release_dir / n), read(NOTEBOOKS / n)) for n in graded}

    submissions = work / "submissions"
    ada = submissions / "ada"
    ada.mkdir(parents=True)
    for n, nb in perfect.items():
        nbformat.write(nb, str(ada / n))
    ada_paths = [str(ada / n) for n in graded]
    step("validate one student's course", ["validate", *ada_paths, "--source", "notebooks", "--jobs", str(args.jobs),
                                           *sandbox], "validate.txt", what=f"{len(graded)} notebooks, --jobs {args.jobs}")
    grades = work / "grades"
    step("grade one student's course", ["grade", *ada_paths, "--out", str(grades), "--jobs", str(args.jobs), *sandbox],
         "grade.txt", what=f"{len(graded)} notebooks, --jobs {args.jobs}")
    # a second student hands in chapter 0 with one exercise left as released: only that notebook is graded
    ben = submissions / "ben"
    ben.mkdir()
    first = graded[0]
    blank = copy.deepcopy(perfect[first])
    released = read(release_dir / first)
    left = next(i for i, c in enumerate(blank.cells) if c.metadata.get("nbgrader", {}).get("solution"))
    blank.cells[left].source = released.cells[left].source
    nbformat.write(blank, str(ben / first))
    everyone = [*ada_paths, str(ben / first)]
    step("grade again after one new submission", ["grade", *everyone, "--out", str(grades), "--jobs", str(args.jobs),
                                                   *sandbox], "regrade.txt", what="incremental: only the new notebook runs")
    roster = work / "roster.csv"
    roster.write_text("student,first_name,last_name,email,sis_user_id\n"
                      "ada,Ada,Lovelace,ada@example.edu,1001\nben,Ben,Okafor,ben@example.edu,1002\n")
    from course_utils.grading.export import FORMATS
    for fmt in FORMATS:
        step(f"export {fmt}", ["grade", *everyone, "--out", str(grades), "--format", fmt, "--roster", str(roster),
                               "--assignment", "Course notebooks", *sandbox], f"export-{fmt}.txt",
             what="nothing changed, so nothing runs: the export alone")
        (outputs / f"export-{fmt}.csv").write_text((grades / f"export-{fmt}.csv").read_text())
    for name in ("grades.csv", "details.csv"):
        (outputs / name).write_text((grades / name).read_text())
    for path in (grades / "feedback").glob("*.md"):
        (outputs / f"feedback-{path.name}").write_text(path.read_text())

    # a class: every student hands in every notebook; each answer is the instructor's plus a line of the student's own
    klass = work / "class"
    for i in range(args.class_size):
        folder = klass / f"student{i:02d}"
        folder.mkdir(parents=True)
        for n, nb in perfect.items():
            mine = copy.deepcopy(nb)
            for cell in mine.cells:
                if cell.metadata.get("nbgrader", {}).get("solution"):
                    cell.source += f"\n_checked_by_student_{i} = {i} * len(str({i}))\n"
            nbformat.write(mine, str(folder / n))
    class_paths = sorted(str(p) for p in klass.glob("*/*.ipynb"))
    step("similarity over a class", ["similarity", *class_paths, "--out", str(work / "similarity.html")],
         "similarity.txt", what=f"{args.class_size} students x {len(graded)} notebooks")
    print(pd.DataFrame(table).to_string(index=False))
    print(f"outputs: {outputs}")
    return rows
