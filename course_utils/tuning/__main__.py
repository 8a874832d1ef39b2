"""python -m course_utils.tuning {worker,report,keras-worker,keras-local} ... (``--help`` on each).

    worker        one Optuna worker of a shared study (SQLite on one machine, PostgreSQL across machines)
    report        the study's best trial, trial table and plots
    keras-worker  one participant of a distributed Keras Tuner search (its role from KERASTUNER_TUNER_ID, ...)
    keras-local   a Keras Tuner chief and N workers on this machine
"""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("keras-worker", "keras-local"):
        from .keras_distributed import main as keras_main

        return keras_main(argv)
    from .workers import add_commands, run_command

    parser = argparse.ArgumentParser(prog="python -m course_utils.tuning", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="{worker,report,keras-worker,keras-local}")
    add_commands(sub)
    sub.add_parser("keras-worker", help="one participant of a distributed Keras Tuner search", add_help=False)
    sub.add_parser("keras-local", help="a Keras Tuner chief and N workers on this machine", add_help=False)
    args = parser.parse_args(argv)
    try:
        return run_command(args)
    except (ValueError, TypeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
