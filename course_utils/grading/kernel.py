"""The grading kernel: ``python -m course_utils.grading.kernel --guard JSON -f CONNECTION_FILE``.

Run by the grader as the kernel of every graded notebook (inside bubblewrap unless the teacher chose
``--unsafe-no-sandbox``). Before the IPython kernel starts, and so before the first line of the submission, it lowers
the resource limits, forbids new processes (seccomp) and installs the audit hook (course_utils.grading.guard).
GUARD is JSON: {"limits": {...}, "writable": [...], "readable": [...], "seccomp": true}.
"""
from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[0] != "--guard":
        raise SystemExit("usage: python -m course_utils.grading.kernel --guard JSON [ipykernel arguments]")
    guard = json.loads(argv[1])
    from .guard import die_with_parent, forbid_new_processes, install_audit_hook, set_limits

    die_with_parent()  # without the sandbox, nothing else ends the kernel when the grader's worker is killed
    set_limits(guard.get("limits", {}))
    if guard.get("seccomp", True):
        forbid_new_processes()
    # the kernel's own modules load before the hook (debugpy's loader traces itself once, which the hook refuses)
    import ipykernel.ipkernel  # noqa: F401
    from ipykernel.kernelapp import IPKernelApp
    try:
        import ipykernel.debugger  # noqa: F401
    except ImportError:  # an ipykernel without debugpy
        pass

    install_audit_hook(guard["writable"], guard["readable"])
    sys.argv = [sys.argv[0], *argv[2:]]
    IPKernelApp.launch_instance()


if __name__ == "__main__":
    main(sys.argv[1:])
