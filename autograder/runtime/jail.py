"""Confine this process, then become the worker: resource limits, and a private view of the files.

    python -m autograder.runtime.jail SPEC_JSON -- PROGRAM ARGS...

Run by the grader (``autograder.engine.sandbox``), either directly (limits only) or in fresh Linux
namespaces made by ``unshare --user --map-root-user --net --pid --mount``. In namespaces, with
``"isolate": true``, it forks the namespace's init, which builds a new root on a tmpfs holding
only the paths the worker needs (the system, Python and its packages, the worker's code, the
submission, all read-only; the worker's working folder writable; a fresh /tmp, /dev/shm and
/proc), changes root into it, and starts PROGRAM with the limits set. This process waits and ends
the way the worker ended (its exit code, or the signal that killed it), which the grader reports.
Nothing else of the grading machine (the kit's solutions and checks, other submissions, the
results folder) exists in that view.

SPEC_JSON: ``{"isolate": bool, "root": mount point for the new root, "read_only": [paths],
"hidden": [folders inside those, shown empty], "writable": [paths], "cwd": path,
"limits": {"data": bytes, "cpu": s, "fsize": bytes, "nproc": n}}`` (a limit left out or null is
not set). The init also counts the namespace's processes and threads and stops the worker when
there are more than ``nproc``: RLIMIT_NPROC does not bind a grader run as root. This file imports
only the standard library: it runs
before the worker, from a copy of the kit's code.
"""
from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import sys
import time

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
PR_SET_PDEATHSIG = 1
WATCH_INTERVAL_S = 0.05
"""How often the init counts the processes and threads of the namespace."""
TASK_LIMIT_VARIABLE = "LAB3_TASK_LIMIT"
"""Tells a worker in namespaces how many processes and threads it may run (its init not counted)."""
LOCKED_FLAGS = MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME
"""Flags of a mount that a user namespace may not drop when remounting it read-only (statvfs's
``f_flag`` bits have the same values on Linux)."""

_libc = ctypes.CDLL(None, use_errno=True)


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def encode(text: str | None) -> bytes | None:
        return text.encode() if text is not None else None

    if _libc.mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data)) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"mount {source or ''} on {target}: {os.strerror(error)}")


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _mount_point(root: str, path: str, like: str) -> str:
    """Create ``root + path`` as a folder (or an empty file when ``like`` is a file)."""
    target = root + path
    if os.path.isdir(like):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            open(target, "w").close()
    return target


def _bind(root: str, path: str, read_only: bool) -> None:
    if os.path.islink(path):  # e.g. /bin -> usr/bin on merged-/usr systems: keep it a link
        if not os.path.lexists(root + path):
            os.makedirs(os.path.dirname(root + path), exist_ok=True)
            os.symlink(os.readlink(path), root + path)
        return
    target = _mount_point(root, path, path)
    _mount(path, target, None, MS_BIND | MS_REC)
    if read_only:
        kept = os.statvfs(path).f_flag & LOCKED_FLAGS
        _mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | kept)


def build_root(spec: dict) -> None:
    """Make the new root at ``spec["root"]`` and change into it (see the module docstring)."""
    root = spec["root"]
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing mounted here shows on the grading machine
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
    _mount("tmpfs", _mount_point(root, "/tmp", "/"), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    bound: list[str] = []
    for path in sorted({os.path.abspath(p) for p in spec["read_only"] if os.path.lexists(p)}, key=len):
        if not any(_inside(path, outer) for outer in bound):
            _bind(root, path, read_only=True)
            bound.append(path)
    for path in spec.get("hidden", []):  # e.g. the kit's packages, where pip copied them into site-packages
        if os.path.isdir(root + path):
            _mount("tmpfs", root + path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "mode=0555")
    _bind(root, "/dev", read_only=False)
    if os.path.isdir(root + "/dev/shm"):  # a private one: no shared memory with other workers
        _mount("tmpfs", root + "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    _mount("proc", _mount_point(root, "/proc", "/"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for path in spec["writable"]:
        _bind(root, os.path.abspath(path), read_only=False)
    _mount(None, root, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)  # the folders made for mount points
    os.chroot(root)
    os.chdir(spec["cwd"])


LIMITS = {"data": resource.RLIMIT_DATA, "cpu": resource.RLIMIT_CPU, "fsize": resource.RLIMIT_FSIZE,
          "nproc": resource.RLIMIT_NPROC}


def set_limits(limits: dict) -> None:
    """Lower the soft and hard limits; CPU time gets a few seconds between SIGXCPU and SIGKILL."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crashing submission leaves no core file
    for name, value in limits.items():
        if value is not None:
            which = LIMITS[name]
            soft = int(value)
            hard = soft + 5 if name == "cpu" else soft
            current_hard = resource.getrlimit(which)[1]
            if current_hard != resource.RLIM_INFINITY:
                soft, hard = min(soft, current_hard), min(hard, current_hard)
            resource.setrlimit(which, (soft, hard))


def end_like(status: int) -> None:
    """Exit the way a child with wait ``status`` ended: with its exit code, or killed by its signal."""
    code = os.waitstatus_to_exitcode(status)
    if code >= 0:
        os._exit(code)
    if -code not in (signal.SIGKILL, signal.SIGSTOP):  # these two cannot be caught anyway
        signal.signal(-code, signal.SIG_DFL)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.kill(os.getpid(), -code)
    os._exit(128 - code)


def release_pipes() -> None:
    """Point stdin and stdout at /dev/null, so that the worker alone holds the protocol's pipes
    and its death closes them at once."""
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)


def run_isolated(spec: dict, program: list[str]) -> None:
    """Fork the namespace's init, which builds the root and runs the worker as its child.

    The worker is not PID 1 itself: the first process of a PID namespace ignores every signal it
    has no handler for, SIGXCPU at the CPU limit included. The init reaps orphans, and sends the
    worker's wait status through a pipe to this process, outside the namespace, which ends the
    same way (an init cannot die by a signal of its own).
    """
    status_in, status_out = os.pipe()
    init = os.fork()
    if init:
        os.close(status_out)
        release_pipes()
        _, init_status = os.waitpid(init, 0)
        reported = os.read(status_in, 32)
        end_like(int(reported) if reported else init_status)
    os.close(status_in)
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the namespace dies with the process outside it
    build_root(spec)
    worker = os.fork()
    limit = spec.get("limits", {}).get("nproc")
    if worker == 0:
        os.close(status_out)
        set_limits(spec.get("limits", {}))
        if limit:  # the worker also counts after each request, so the check that started them loses its points
            os.environ[TASK_LIMIT_VARIABLE] = str(limit)
        os.execv(program[0], program)
    release_pipes()
    while True:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == worker:
            os.write(status_out, str(status).encode())
            os._exit(0)
        if pid == 0:  # nothing to reap: check the count, then wait a little
            if limit and tasks() > limit + 1:  # the init itself is one of them
                os.write(2, (f"sandbox: the worker ran more than {limit} processes and threads; "
                             "it was stopped\n").encode())
                os.kill(worker, signal.SIGKILL)
            time.sleep(WATCH_INTERVAL_S)


def tasks() -> int:
    """Processes and threads in this PID namespace (its /proc lists no others)."""
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                count += len(os.listdir(f"/proc/{entry}/task"))
            except OSError:  # it ended meanwhile
                pass
    return count


def main(argv: list[str]) -> None:
    if len(argv) < 4 or argv[2] != "--":
        sys.exit("usage: python -m autograder.runtime.jail SPEC_JSON -- PROGRAM ARGS...")
    spec, program = json.loads(argv[1]), argv[3:]
    if spec.get("isolate"):
        run_isolated(spec, program)
    os.chdir(spec["cwd"])
    set_limits(spec.get("limits", {}))
    os.execv(program[0], program)


if __name__ == "__main__":
    main(sys.argv)
