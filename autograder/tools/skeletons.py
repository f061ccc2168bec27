"""Generate student skeletons from the fenced reference solutions.

Every region between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader's own markers) is
replaced, at the marker's indentation, by ``# YOUR CODE HERE`` and ``raise NotImplementedError()``:
the stub nbgrader writes into the released notebook, so that the files and the notebook read alike
(a constructor too: the self-check then says "not implemented yet" rather than counting the
parameters of an empty module). Everything else is copied as it is.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"


class FenceError(ValueError):
    """A solution file whose BEGIN/END SOLUTION markers do not pair up."""


@dataclass(frozen=True)
class SkeletonFile:
    """One generated skeleton."""

    name: str
    """File name, the same in solutions/ and skeletons/ (e.g. ``resnet.py``)."""
    text: str
    """The skeleton's source."""
    regions: int
    """How many fenced regions were replaced."""


def strip_solutions(source: str, filename: str = "<source>") -> tuple[str, int]:
    """Return ``source`` with every fenced region replaced by its stub, and the region count."""
    lines_out: list[str] = []
    begin_line = 0
    regions = 0
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        stripped = line.strip()
        if stripped.startswith(BEGIN):
            if begin_line:
                raise FenceError(f"{filename}:{number}: BEGIN SOLUTION inside the region opened at line {begin_line}")
            begin_line = number
            regions += 1
            indent = line[: len(line) - len(line.lstrip())]
            lines_out.append(f"{indent}# YOUR CODE HERE\n{indent}raise NotImplementedError()\n")
        elif stripped.startswith(END):
            if not begin_line:
                raise FenceError(f"{filename}:{number}: END SOLUTION without a BEGIN SOLUTION")
            begin_line = 0
        elif not begin_line:
            lines_out.append(line)
    if begin_line:
        raise FenceError(f"{filename}:{begin_line}: BEGIN SOLUTION is never closed")
    return "".join(lines_out), regions


def build_skeletons(solutions_dir: Path) -> list[SkeletonFile]:
    """Skeletons for every ``*.py`` file of ``solutions_dir``, in name order."""
    files = sorted(solutions_dir.glob("*.py"))
    if not files:
        raise FileNotFoundError(f"no .py files in {solutions_dir}")
    built = []
    for path in files:
        text, regions = strip_solutions(path.read_text(encoding="utf-8"), str(path))
        built.append(SkeletonFile(path.name, text, regions))
    return built


def write_skeletons(solutions_dir: Path, skeletons_dir: Path) -> list[SkeletonFile]:
    """Regenerate ``skeletons_dir`` from ``solutions_dir``; stale ``*.py`` files are removed."""
    built = build_skeletons(solutions_dir)
    skeletons_dir.mkdir(parents=True, exist_ok=True)
    wanted = {skeleton.name for skeleton in built}
    for stale in skeletons_dir.glob("*.py"):
        if stale.name not in wanted:
            stale.unlink()
    for skeleton in built:
        (skeletons_dir / skeleton.name).write_text(skeleton.text, encoding="utf-8")
    return built


def drifted(solutions_dir: Path, skeletons_dir: Path) -> list[str]:
    """Names of skeleton files that are missing, stale, extra or differ from what would be generated."""
    built = {skeleton.name: skeleton.text for skeleton in build_skeletons(solutions_dir)}
    present = {path.name for path in skeletons_dir.glob("*.py")}
    problems = [f"{name} (extra)" for name in sorted(present - built.keys())]
    for name, text in built.items():
        path = skeletons_dir / name
        if not path.exists():
            problems.append(f"{name} (missing)")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{name} (differs)")
    return problems
