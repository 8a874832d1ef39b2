"""The teacher's commands.

    python -m course_utils.grading release --out release/ --jobs 2   # student versions of notebooks/, validated
    python -m course_utils.grading grade submissions/*/*.ipynb --out grades/ --jobs 2
    python -m course_utils.grading validate notebooks/00_quickstart.ipynb   # a student's check: exit 0, 1 or 2
    python -m course_utils.grading similarity submissions/*/*.ipynb --out similarity.html   # and similarity.csv

Every submission runs in a fresh kernel inside bubblewrap (no network, a read-only system, only its own work folder
writable, no new processes, resource limits). Where bubblewrap is missing the grader refuses to run submissions unless
--unsafe-no-sandbox is given: read the README's teacher section first.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .export import FORMATS
from .grade import Limits, grade, release
from .jail import SandboxUnavailable


def _submissions_parser(sub, name: str, help: str, out: str):
    """A command over submitted notebooks: the submissions, --out and the instructor notebooks (--source)."""
    p = sub.add_parser(name, help=help)
    p.add_argument("submissions", nargs="+", type=Path, help="notebooks; alice/00_quickstart.ipynb is 'alice'")
    p.add_argument("--out", required=True, type=Path, help=out)
    p.add_argument("--source", default=Path("notebooks"), type=Path, help="instructor notebooks (default: notebooks/)")
    return p


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.grading", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    rel = sub.add_parser("release", help="build student versions of every notebook and validate them both ways")
    rel.add_argument("--out", required=True, type=Path, help="folder for the student notebooks")
    rel.add_argument("--source", default=Path("notebooks"), type=Path, help="instructor notebooks (default: notebooks/)")
    rel.add_argument("--no-validate", action="store_true", help="skip running both versions")
    rel.add_argument("--jobs", type=int, default=1, help="notebooks validated at once (each in its own sandbox)")
    rel.add_argument("--template", action="store_true",
                     help="make --out a student template repository: notebooks/ plus course_utils/, the packaging "
                          "files, the studies the chapters read and GitHub Classroom's autograding files")
    gr = _submissions_parser(sub, "grade", "grade submitted notebooks: grades.csv and feedback/<student>.md",
                             "folder for grades.csv and feedback/")
    gr.add_argument("--jobs", type=int, default=1, help="notebooks graded at once (each in its own process)")
    gr.add_argument("--force", action="store_true", help="grade every submission, also those unchanged since the last run")
    gr.add_argument("--deadline", help="ISO 8601 date and time (no zone: UTC); adds the columns submitted and late_by")
    gr.add_argument("--timestamps", type=Path, help="CSV with columns student, submitted (ISO 8601); default: file times")
    gr.add_argument("--format", dest="fmt", choices=FORMATS,
                    help="also write export-FORMAT.csv, shaped for that system's import")
    gr.add_argument("--roster", type=Path, help="CSV: student plus name, first_name, last_name, email, sis_user_id, "
                                                "sis_login_id, id_number, section (what the LMS matches students by)")
    gr.add_argument("--assignment", default="Course notebooks", help="the assignment's name in the export")
    val = sub.add_parser("validate", help="a student's check: run notebooks with the public checks; exit 0 when all pass, "
                                          "1 when some do not, 2 when a notebook cannot be run")
    val.add_argument("notebooks", nargs="+", type=Path, help="the notebooks to check")
    val.add_argument("--source", default=None, type=Path,
                     help="released notebooks whose check cells are restored (default: each notebook's own)")
    val.add_argument("--jobs", type=int, default=1, help="notebooks run at once")
    sim = _submissions_parser(sub, "similarity", "rank pairs of students' answers by similarity: an HTML report and "
                              "a CSV", "the HTML report (the CSV is written beside it)")
    sim.add_argument("--min-tokens", type=int, default=20, help="shorter answers are listed, not ranked (default 20)")
    sim.add_argument("--top", type=int, default=200, help="pairs shown side by side in the HTML (all are in the CSV)")
    for p in (rel, gr, val):
        p.add_argument("--cell-timeout", type=int, default=Limits.cell_timeout, help="seconds per cell")
        p.add_argument("--notebook-timeout", type=int, default=Limits.notebook_timeout, help="seconds per notebook")
        p.add_argument("--memory-mb", type=int, default=Limits.memory_mb, help="address-space cap per notebook")
        p.add_argument("--file-mb", type=int, default=Limits.file_mb, help="largest file a notebook may write")
        p.add_argument("--disk-mb", type=int, default=Limits.disk_mb, help="the sandbox's HOME and work folder (a tmpfs)")
        p.add_argument("--unsafe-no-sandbox", action="store_true",
                       help="run submissions WITHOUT bubblewrap: they can reach your files, network and processes")
    args = parser.parse_args(argv)
    if args.command == "similarity":
        return _similarity(args, parser)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    try:
        limits = Limits(cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout, memory_mb=args.memory_mb,
                        file_mb=args.file_mb, disk_mb=args.disk_mb)
    except ValueError as err:
        parser.error(str(err))
    sandbox = not args.unsafe_no_sandbox
    missing = _data_missing(args)
    if missing:
        print(f"error: {missing}", file=sys.stderr)
        return 2
    if args.command == "validate":
        return _validate(args, limits, sandbox)
    try:
        if args.command == "release":
            if args.template and args.out.exists() and any(args.out.iterdir()):
                parser.error(f"--out {args.out} is not empty: a template starts in a new folder (a template of an "
                             "earlier run, or one whose validation failed? delete it first)")
            report = release(args.source, args.out / "notebooks" if args.template else args.out,
                             validate=not args.no_validate, limits=limits, jobs=args.jobs, sandbox=sandbox, progress=True)
            print(report.to_string(index=False))
            if "seconds" in report.attrs:
                print(f"Validated both ways in {report.attrs['seconds']:.0f} s with --jobs {args.jobs}.")
            if "valid" in report and not report["valid"].dropna().all():
                print("Validation failed: see the problems column.", file=sys.stderr)
                return 1
            if args.template:
                from .classroom import write_template

                write_template(args.out, args.source)
                print(f"Student template written to {args.out}: its notebooks/ holds the student versions; make it "
                      "a new repository (git init there), so that no solution is in its history")
            else:
                print(f"Student versions written to {args.out}")
            return 0
        missing = [p for p in args.submissions if not p.is_file()]
        if missing:
            parser.error(f"no such file: {missing[0]}")
        table = grade(args.submissions, args.out, args.source, jobs=args.jobs, limits=limits, sandbox=sandbox,
                      force=args.force, deadline=args.deadline, timestamps=args.timestamps, fmt=args.fmt,
                      roster=args.roster, assignment=args.assignment)
    except SandboxUnavailable as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(table.to_string())
    print(f"Graded {table.attrs['graded']} submissions, kept {table.attrs['kept']} unchanged since the last run "
          f"(--force grades them all).")
    export = f", {args.out / f'export-{args.fmt}.csv'}" if args.fmt else ""
    print(f"Wrote {args.out / 'grades.csv'}{export}, {args.out / 'details.csv'}, {args.out / 'feedback'}/ and "
          f"{args.out / 'review.md'}")
    return 0


def _data_missing(args) -> str:
    """Why the notebooks to run would fail for want of MovieLens 100K ("" when it is here or not needed): the sandbox
    has no network, so a notebook cannot download it and every submission would get 0."""
    from course_utils.data import datasets

    if args.command == "release" and args.no_validate:
        return ""
    paths = args.notebooks if args.command == "validate" else sorted(Path(args.source).glob("*.ipynb"))
    needs = any("load_movielens(" in Path(p).read_text(encoding="utf-8", errors="replace") for p in paths if Path(p).is_file())
    if not needs or datasets.is_local("ml-100k"):
        return ""
    return ("MovieLens 100K is not on this machine (COURSE_UTILS_DATA or the course's data/ folder), and the notebooks "
            "load it inside a sandbox with no network, so every one of them would fail. Fetch it first: python -c "
            "\"from course_utils.data import fetch; fetch('ml-100k')\" (or point COURSE_UTILS_DATA at a folder that has it).")


def _validate(args, limits, sandbox) -> int:
    from .validate import report, validate

    try:
        checks = validate(args.notebooks, args.source, limits=limits, sandbox=sandbox, jobs=args.jobs)
    except SandboxUnavailable as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    text, code = report(checks)
    print(text)
    return code


def _similarity(args, parser) -> int:
    from .similarity import compare, write_report

    missing = [p for p in args.submissions if not p.is_file()]
    if missing:
        parser.error(f"no such file: {missing[0]}")
    try:
        pairs, short = compare(args.submissions, args.source, min_tokens=args.min_tokens)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    page, table = write_report(pairs, short, args.out, top=args.top)
    print(pairs.drop(columns=["_a", "_b"]).head(20).to_string(index=False))
    print(f"{len(pairs)} pairs compared, {len(short)} answers not ranked. Wrote {page} and {table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
