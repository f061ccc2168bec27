"""Where a worker was stuck: the submission's function named in the traceback the worker dumped.

A worker arms Python's ``faulthandler`` before each request: when the request runs past its
watchdog (a little before the grader's time limit), or the process dies of a fatal signal, it writes
every thread's stack to its output. ``stalled_function`` reads that dump and names the innermost
function of the submission on the stack, as ``module.Class.method``. The grader then asks the next
worker to replace that function by one that fails at once (``autograder.runtime.worker``), so a
component that never returns costs its time limit once per grading, not once per check using it.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

DUMP_START = re.compile(r"^(Timeout \(\d+:\d\d:\d\d(\.\d+)?\)!|Fatal Python error: .*)$", re.MULTILINE)
"""The first line faulthandler writes: a watchdog's timeout, or a fatal signal."""
FRAME = re.compile(r'^\s*File "(?P<file>.+)", line (?P<line>\d+) in (?P<name>\S+)\s*$')
THREAD = re.compile(r"^(Current thread|Thread) 0x[0-9a-f]+")


@dataclass(frozen=True)
class Stall:
    """The submission's function a worker was running when it stalled or died."""

    qualified: str
    """``module.Class.method`` (or ``module.function``, ``module.<module>`` for code at import)."""
    where: str
    """``Class.method (file.py:LINE)``, for feedback."""


def stalled_function(output: str, submission: Path, modules: tuple[str, ...]) -> Optional[Stall]:
    """The innermost frame of one of ``modules`` (files ``submission/<module>.py``) in the last
    faulthandler dump of ``output`` (the worker's output), or None where there is none."""
    starts = list(DUMP_START.finditer(output))
    if not starts:
        return None
    folder = Path(submission).resolve()
    threads: list[list[tuple[str, int, str]]] = []
    for line in output[starts[-1].end():].splitlines():
        if THREAD.match(line):
            threads.append([])
        elif (frame := FRAME.match(line)) and threads:
            threads[-1].append((frame["file"], int(frame["line"]), frame["name"]))
    for frames in threads:  # innermost first within each thread
        for file, line, name in frames:
            path = Path(file)
            if path.parent == folder and path.stem in modules and path.suffix == ".py":
                return _named(path, line, name)
    return None


def _named(path: Path, line: int, name: str) -> Stall:
    """The stall at ``line`` of ``path`` in function ``name``, qualified by the classes and functions around it."""
    module = path.stem
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        tree = None
    chain = _enclosing(tree, line) if tree is not None else []
    if name == "<module>" or not chain:
        return Stall(f"{module}.<module>", f"{path.name}:{line}")
    dotted = ".".join(chain)
    return Stall(f"{module}.{dotted}", f"{dotted} ({path.name}:{line})")


def _enclosing(tree: ast.AST, line: int) -> list[str]:
    """Names of the classes and functions that enclose ``line``, outermost first."""
    chain: list[str] = []
    body = getattr(tree, "body", [])
    while True:
        inside = [node for node in body if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.lineno <= line <= (node.end_lineno or node.lineno)]
        if not inside:
            return chain
        chain.append(inside[-1].name)
        body = inside[-1].body
