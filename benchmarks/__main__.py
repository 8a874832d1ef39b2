"""python -m benchmarks list | run NAME [--device auto] [--results PATH | --no-record] [NAME's options]

Each benchmark prints its table and appends its rows (date, machine, device, versions, settings, metrics, seconds
per epoch, total seconds) to benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

from ._common import RESULTS, append_rows, format_row, stamp

BENCHMARKS = {  # name -> module of this package
    "ncf": "ncf",
    "ncf-time": "ncf_time",
    "ml100k": "ml100k",
    "lightgcn-gowalla": "lightgcn_gowalla",
    "lightgcn-ml100k": "lightgcn_ml100k",
    "sasrec": "sasrec",
    "speed": "speed",
    "hot-paths": "hot_paths",
    "notebooks": "notebooks",
    "sampling": "sampling",
    "bprmf-device": "bprmf_device",
    "parity": "parity",
    "defaults": "defaults",
    "sequence-study": "sequence_study",
    "loo-comparison": "loo_comparison",
    "tuner-repeats": "tuner_repeats",
    "grading": "grading",
    "scale": "scale",
}


def _module(name: str):
    return importlib.import_module(f"{__package__}.{BENCHMARKS[name]}")


def _summary(module) -> str:
    return (module.__doc__ or "").strip().splitlines()[0]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the benchmarks and what each measures")
    run = commands.add_parser("run", help="run one benchmark, print its table, append its rows to RESULTS.md")
    names = run.add_subparsers(dest="name", required=True, metavar="NAME")
    for name in BENCHMARKS:
        module = _module(name)
        sub = names.add_parser(name, help=_summary(module), description=module.__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
        sub.add_argument("--results", type=Path, default=RESULTS, help=f"the markdown file rows go to (default {RESULTS})")
        sub.add_argument("--no-record", action="store_true", help="print only, append nothing")
        module.add_arguments(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "list":
        width = max(map(len, BENCHMARKS))
        for name in BENCHMARKS:
            print(f"{name:<{width}}  {_summary(_module(name))}")
        return 0
    module = _module(args.name)
    if args.device != "cpu":
        from course_utils import resolve_device

        args.device = str(resolve_device(args.device))
    start = time.perf_counter()
    rows = module.run(args)
    common = stamp(args.name, args.device)
    rows = [{**common, **row} for row in rows]
    print(f"\n{args.name}: {len(rows)} row(s) in {time.perf_counter() - start:.0f} s")
    for row in rows:
        print(format_row(row))
    if not args.no_record:
        append_rows(rows, args.results)
        print(f"appended to {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
