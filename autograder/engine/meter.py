"""A worker's peak memory, read from outside it (Linux's /proc), so that a submission cannot make
itself look cheaper than it is.

The worker may run inside a sandbox's namespaces, where it has another PID: it is found among the
descendants of the process the grader started, by its command line. ``reset`` asks the kernel to
forget the peak so far (``/proc/PID/clear_refs``, 5), so that the next peak is one request's; in a
fresh process, where no freed memory is kept for reuse, that peak is the request's own.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

PROC = Path("/proc")
WORKER_MODULE = "autograder.runtime.worker"


def _parent(pid: int) -> Optional[int]:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[1])  # the name in parentheses may hold spaces


def descendants(root: int) -> list[int]:
    """The processes below ``root`` (children, their children, ...)."""
    parents = {int(entry.name): _parent(int(entry.name)) for entry in PROC.iterdir() if entry.name.isdigit()}
    found, frontier = [], {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier}
        found += sorted(frontier)
    return found


def worker_pid(started: int) -> Optional[int]:
    """The PID (as this process sees it) of the worker that the process ``started`` runs, itself or
    a descendant (the sandbox's jail forks it); None when there is none."""
    for pid in [started] + descendants(started):
        try:
            argv = (PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[1:3] == [b"-m", WORKER_MODULE.encode()]:
            return pid
    return None


def _status_kb(pid: int, field: str) -> int:
    for line in (PROC / str(pid) / "status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise OSError(f"/proc/{pid}/status has no {field}")


class PeakMemory:
    """The resident-memory peak of process ``pid`` since ``reset``, in bytes."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.baseline = 0

    def reset(self) -> None:
        """Start a measurement: the peak so far is forgotten where the kernel allows it."""
        try:
            (PROC / str(self.pid) / "clear_refs").write_text("5")
        except OSError:
            pass  # an older kernel: the peak then counts from the process's start
        self.baseline = _status_kb(self.pid, "VmRSS")

    def peak(self) -> int:
        """Bytes by which the resident memory rose above its level at ``reset``, at most."""
        return max(0, _status_kb(self.pid, "VmHWM") - self.baseline) * 1024


def own_pid() -> int:
    """This process: a notebook's checks run the student's code in it."""
    return os.getpid()


def available() -> bool:
    """Whether this machine shows processes' memory in /proc (Linux)."""
    return (PROC / str(os.getpid()) / "status").is_file()
