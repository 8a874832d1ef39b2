"""The layers a grading kernel puts around itself before it runs a line of a submission (course_utils.grading.kernel).

1. Resource limits (``set_limits``): address space, CPU seconds, processes, file size, open files.
2. A seccomp filter (``forbid_new_processes``): from here on the kernel may start threads but no process and no
   program: fork, vfork, clone without CLONE_THREAD, execve and execveat fail with EPERM, whatever calls them (Python,
   ``_posixsubprocess``, ``ctypes``, a compiled extension); so do mount and the new mount API, pivot_root, chroot,
   unshare, setns, ptrace, bpf, userfaultfd and perf_event_open. Irreversible, inherited by every thread.
3. A Python audit hook (``install_audit_hook``, irremovable once installed): clear PermissionErrors for opening files
   outside the allowed folders, starting programs, signalling other processes and walking the interpreter's objects.

Inside bubblewrap these are the second and third walls (the sandbox's mounts and namespaces are the first); with
``--unsafe-no-sandbox`` they are all there is, and native code walks around the audit hook.
"""
from __future__ import annotations

import ctypes
import os
import platform
import resource
import struct
import sys

MB = 1024 * 1024

# ------------------------------------------------------------------ 1. resource limits
LIMITS = {"memory_mb": resource.RLIMIT_AS, "cpu_seconds": resource.RLIMIT_CPU, "processes": resource.RLIMIT_NPROC,
          "file_mb": resource.RLIMIT_FSIZE, "open_files": resource.RLIMIT_NOFILE}


def set_limits(limits: dict) -> dict:
    """Lower this process's hard and soft limits to ``limits`` (names of LIMITS; sizes in MB); returns what was set."""
    applied = {}
    for name, value in limits.items():
        if name not in LIMITS:
            raise ValueError(f"limits: unknown limit {name!r}; the limits are {sorted(LIMITS)}")
        if value is None:
            continue
        if not isinstance(value, int) or value <= 0:
            raise ValueError(f"limits: {name} must be a positive integer, got {value!r}")
        number = value * MB if name.endswith("_mb") else value
        soft, hard = resource.getrlimit(LIMITS[name])
        if hard != resource.RLIM_INFINITY:
            number = min(number, hard)
        resource.setrlimit(LIMITS[name], (number, number))
        applied[name] = value
    return applied


# ------------------------------------------------------------------ 2. no new processes (seccomp)
_ARCH = {  # machine: (AUDIT_ARCH, syscall numbers)
    "x86_64": (0xC000003E, {"fork": 57, "vfork": 58, "execve": 59, "execveat": 322, "clone": 56, "clone3": 435,
                            "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "unshare": 272, "setns": 308,
                            "ptrace": 101, "bpf": 321, "userfaultfd": 323, "perf_event_open": 298}),
    "aarch64": (0xC00000B7, {"execve": 221, "execveat": 281, "clone": 220, "clone3": 435,
                             "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51, "unshare": 97, "setns": 268,
                             "ptrace": 117, "bpf": 280, "userfaultfd": 282, "perf_event_open": 241}),
}
# the new mount API has the same numbers everywhere: open_tree, move_mount, fsopen, fsconfig, fsmount, fspick, mount_setattr
_MOUNT_API = (428, 429, 430, 431, 432, 433, 442)
# besides new processes and programs: remounting, new namespaces, tracing and the kernel's riskier interfaces
_ALSO_DENIED = ("mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "ptrace", "bpf", "userfaultfd", "perf_event_open")
CLONE_THREAD = 0x00010000
_EPERM, _ENOSYS = 1, 38
_RET_ALLOW, _RET_ERRNO = 0x7FFF0000, 0x00050000
_LD_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER, PR_SET_PDEATHSIG = 38, 22, 2, 1


def seccomp_program(machine: str | None = None) -> list[tuple[int, int, int, int]]:
    """The BPF program (code, jt, jf, k) that forbids new processes and programs on ``machine``."""
    machine = machine or platform.machine()
    if machine not in _ARCH:
        raise OSError(f"no seccomp filter for the machine {machine!r} (known: {sorted(_ARCH)})")
    arch, nr = _ARCH[machine]
    deny, nosys, allow = ("ret", _RET_ERRNO | _EPERM), ("ret", _RET_ERRNO | _ENOSYS), ("ret", _RET_ALLOW)
    prog = [("ld", 4), ("jeq", arch, None, "deny"),  # another ABI (32-bit syscalls) gets nothing
            ("ld", 0), ("jge", 0x40000000, "deny", None)]  # x32 syscalls
    for name in ("execve", "execveat", "fork", "vfork", *_ALSO_DENIED):
        if name in nr:
            prog.append(("jeq", nr[name], "deny", None))
    for number in _MOUNT_API:
        prog.append(("jeq", number, "deny", None))
    prog += [("jeq", nr["clone3"], "nosys", None),  # glibc then falls back to clone, whose flags BPF can read
             ("jeq", nr["clone"], None, "allow"),
             ("ld", 16), ("jset", CLONE_THREAD, "allow", "deny"),  # clone: a thread is fine, a process is not
             ("label", "allow"), allow, ("label", "deny"), deny, ("label", "nosys"), nosys]
    labels, position = {}, 0
    for ins in prog:
        if ins[0] == "label":
            labels[ins[1]] = position
        else:
            position += 1
    out, position = [], 0
    for ins in prog:
        if ins[0] == "label":
            continue
        if ins[0] == "ld":
            out.append((_LD_ABS, 0, 0, ins[1]))
        elif ins[0] == "ret":
            out.append((_RET, 0, 0, ins[1]))
        else:
            code = {"jeq": _JEQ, "jge": _JGE, "jset": _JSET}[ins[0]]
            jt, jf = (0 if t is None else labels[t] - position - 1 for t in ins[2:4])
            out.append((code, jt, jf, ins[1]))
        position += 1
    return out


def die_with_parent() -> None:
    """SIGKILL this process when the process that started it ends (Linux's PR_SET_PDEATHSIG)."""
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)
    if os.getppid() != parent:  # the parent ended before the request: end now
        os._exit(1)


def forbid_new_processes() -> None:
    """Install the seccomp filter in this process (every later thread inherits it; it cannot be removed)."""
    program = seccomp_program()
    raw = b"".join(struct.pack("HBBI", *ins) for ins in program)
    buffer = ctypes.create_string_buffer(raw, len(raw))

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = Prog(len(program), ctypes.addressof(buffer))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")


# ------------------------------------------------------------------ 3. the audit hook
BLOCKED = {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "pty.spawn",
           "sys.settrace", "sys.setprofile", "gc.get_objects", "gc.get_referrers", "gc.get_referents"}
CHANGES = {"os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.truncate", "os.symlink",
           "os.link", "shutil.rmtree", "shutil.move"}


def install_audit_hook(writable: list[str], readable: list[str]) -> None:
    """Refuse (PermissionError) writes outside ``writable``, reads outside ``writable`` + ``readable``, programs,
    signals to other processes, tracing and walking the garbage collector's objects."""
    writable = [os.path.realpath(p) for p in writable]
    readable = writable + [os.path.realpath(p) for p in readable]
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    me = os.getpid()

    def inside(path, allowed) -> bool:
        p = os.path.realpath(os.fsdecode(path) if isinstance(path, bytes) else os.fspath(path))
        return any(p == a or p.startswith(a.rstrip(os.sep) + os.sep) for a in allowed)

    def hook(event, args):
        if event == "open":
            path, mode, flags = args
            if path is None or isinstance(path, int):
                return
            writing = any(c in (mode or "") for c in "wax+") or bool((flags or 0) & write_flags)
            if writing and not inside(path, writable):
                raise PermissionError(f"grading: writing {path} is not allowed (only the work folder)")
            if not writing and not inside(path, readable):
                raise PermissionError(f"grading: reading {path} is not allowed (only the work folder and libraries)")
        elif event == "shutil.copyfile":  # (src, dst): reading one, writing the other
            if not inside(args[0], readable) or not inside(args[1], writable):
                raise PermissionError(f"grading: copying {args[0]} to {args[1]} is not allowed (only into the work folder)")
        elif event in CHANGES:
            for a in args:
                if isinstance(a, (str, bytes, os.PathLike)) and not inside(a, writable):
                    raise PermissionError(f"grading: {event} on {a} is not allowed (only the work folder)")
        elif event in ("os.kill", "os.killpg"):
            if args[0] not in (me, 0) and not (event == "os.killpg" and args[0] == os.getpgid(me)):
                raise PermissionError(f"grading: {event} of process {args[0]} is not allowed while grading")
        elif event in BLOCKED:
            raise PermissionError(f"grading: {event} is not allowed while grading")

    sys.addaudithook(hook)
