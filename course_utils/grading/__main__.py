"""The teacher's commands.

    python -m course_utils.grading release --out release/ --jobs 2   # student versions of notebooks/, validated
    python -m course_utils.grading grade submissions/*/*.ipynb --out grades/ --jobs 2

Every submission runs in a fresh kernel inside bubblewrap (no network, a read-only system, only its own work folder
writable, no new processes, resource limits). Where bubblewrap is missing the grader refuses to run submissions unless
--unsafe-no-sandbox is given: read the README's teacher section first.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .grade import Limits, grade, release
from .jail import SandboxUnavailable


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.grading", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    rel = sub.add_parser("release", help="build student versions of every notebook and validate them both ways")
    rel.add_argument("--out", required=True, type=Path, help="folder for the student notebooks")
    rel.add_argument("--source", default=Path("notebooks"), type=Path, help="instructor notebooks (default: notebooks/)")
    rel.add_argument("--no-validate", action="store_true", help="skip running both versions")
    rel.add_argument("--jobs", type=int, default=1, help="notebooks validated at once (each in its own sandbox)")
    gr = sub.add_parser("grade", help="grade submitted notebooks: grades.csv and feedback/<student>.md")
    gr.add_argument("submissions", nargs="+", type=Path, help="notebooks; alice/00_quickstart.ipynb is graded as 'alice'")
    gr.add_argument("--out", required=True, type=Path, help="folder for grades.csv and feedback/")
    gr.add_argument("--source", default=Path("notebooks"), type=Path, help="instructor notebooks (default: notebooks/)")
    gr.add_argument("--jobs", type=int, default=1, help="notebooks graded at once (each in its own process)")
    for p in (rel, gr):
        p.add_argument("--cell-timeout", type=int, default=Limits.cell_timeout, help="seconds per cell")
        p.add_argument("--notebook-timeout", type=int, default=Limits.notebook_timeout, help="seconds per notebook")
        p.add_argument("--memory-mb", type=int, default=Limits.memory_mb, help="address-space cap per notebook")
        p.add_argument("--file-mb", type=int, default=Limits.file_mb, help="largest file a notebook may write")
        p.add_argument("--disk-mb", type=int, default=Limits.disk_mb, help="the sandbox's HOME and work folder (a tmpfs)")
        p.add_argument("--unsafe-no-sandbox", action="store_true",
                       help="run submissions WITHOUT bubblewrap: they can reach your files, network and processes")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    try:
        limits = Limits(cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout, memory_mb=args.memory_mb,
                        file_mb=args.file_mb, disk_mb=args.disk_mb)
    except ValueError as err:
        parser.error(str(err))
    sandbox = not args.unsafe_no_sandbox
    try:
        if args.command == "release":
            report = release(args.source, args.out, validate=not args.no_validate, limits=limits, jobs=args.jobs,
                             sandbox=sandbox, progress=True)
            print(report.to_string(index=False))
            if "seconds" in report.attrs:
                print(f"Validated both ways in {report.attrs['seconds']:.0f} s with --jobs {args.jobs}.")
            if "valid" in report and not report["valid"].dropna().all():
                print("Validation failed: see the problems column.", file=sys.stderr)
                return 1
            print(f"Student versions written to {args.out}")
            return 0
        missing = [p for p in args.submissions if not p.is_file()]
        if missing:
            parser.error(f"no such file: {missing[0]}")
        table = grade(args.submissions, args.out, args.source, jobs=args.jobs, limits=limits, sandbox=sandbox)
    except SandboxUnavailable as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(table.to_string())
    print(f"Wrote {args.out / 'grades.csv'}, {args.out / 'feedback'}/ and {args.out / 'review.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
