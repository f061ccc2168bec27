"""What the reference solutions say, computed live or replayed from golden files.

Every value a check takes from the reference (an output shape, a parameter count, the layers a
reference runs, its outputs and gradients on fixed inputs) goes through ``reference(key, compute)``.
``compute`` runs only where the reference is live:

- ``live`` (the grader, with solutions/): compute it;
- ``record``: compute it and keep it under ``key``, to be written as the check's golden file;
- ``replay`` (a student's copy, without solutions/): read it from ``golden/<check id>.pt``.

The instructor's grader replays too where it can (``autograder.checking``'s ``cached``): a check
whose golden file was recorded from the sources as they are (``up_to_date``) takes the reference's
values from it instead of computing them for every submission, and runs live where the file lacks
a value.

Golden files hold plain containers of tensors, numbers and strings (``torch.save``, read back with
``weights_only=True``), never code. Weights are not stored: the checks derive them from a recipe
(``autograder.checks.common.recipe_weights``) that needs only names, shapes and a seed.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import torch

from autograder import paths

T = TypeVar("T")
MODES = ("live", "record", "replay")
SOURCES_FILE = "SOURCES"
"""The digest of the sources golden/ was recorded from, in golden/."""
RUBRIC_FILE = "grading.yml"


class GoldenMissing(RuntimeError):
    """Replay asked for a value the golden files do not hold (stale files, or a hidden check)."""


class _State(threading.local):
    """The check being run in this thread (a grading may run checks in several: ``autograder.lanes``)."""

    mode = "live"
    check_id = ""
    recorded: dict[str, Any] = {}
    replayed: dict[str, Any] | None = None
    folder: Path = paths.GOLDEN


_STATE = _State()


def mode() -> str:
    return _STATE.mode


def source_files(root: Path = paths.ROOT) -> list[Path]:
    """The files a recording depends on: the reference solutions, the checks (which compute the
    reference's side in the grader), the requests and value specs they build models from, the rubric.

    The rest of the kit (the worker, the sandbox, reports, tools) enters no recorded value: a change
    there leaves golden/ fresh, so the grader keeps replaying it instead of computing it all live.
    """
    autograder = root / "autograder"
    return sorted([*(root / "solutions").glob("*.py"), *(autograder / "checks").rglob("*.py"),
                   autograder / "engine" / "remote.py", autograder / "runtime" / "values.py", root / RUBRIC_FILE])


def sources_digest(root: Path = paths.ROOT) -> str:
    """One line per file of ``source_files``: its SHA-256 and its path relative to ``root``."""
    return "".join(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.relative_to(root).as_posix()}\n"
                   for path in source_files(root))


def up_to_date(folder: Path = paths.GOLDEN, root: Path = paths.ROOT, rubric_too: bool = True) -> bool:
    """Whether ``folder`` was recorded from the sources as they are now; with ``rubric_too`` false,
    whatever the rubric says (its points and limits change no recorded value; a check it made
    visible since has no file, and runs live)."""
    recorded = folder / SOURCES_FILE
    if not recorded.is_file():
        return False
    lines, now = recorded.read_text(encoding="utf-8").splitlines(), sources_digest(root).splitlines()
    if not rubric_too:
        lines, now = ([line for line in found if not line.endswith("  " + RUBRIC_FILE)] for found in (lines, now))
    return lines == now


def golden_path(check_id: str, folder: Path | None = None) -> Path:
    return (folder or paths.GOLDEN) / f"{check_id}.pt"


def reference(key: str, compute: Callable[[], T], unless_same_as: str | None = None) -> T:
    """The reference's value named ``key`` within the current check (see the module docstring).

    ``unless_same_as``: the key of a value recorded before that this one often equals (plain
    data, no tensors); a recording then keeps it only where it differs, and a replay falls back
    to that value.
    """
    if _STATE.mode == "live":
        return compute()
    if _STATE.mode == "record":
        if key not in _STATE.recorded:
            value = _plain(compute())
            if unless_same_as is None or _STATE.recorded.get(unless_same_as) != value:
                _STATE.recorded[key] = value
            return value
        return _STATE.recorded[key]
    if _STATE.replayed is None:
        _STATE.replayed = load(_STATE.check_id, _STATE.folder)
    if key not in _STATE.replayed and unless_same_as is not None and unless_same_as in _STATE.replayed:
        return _STATE.replayed[unless_same_as]
    if key not in _STATE.replayed:
        raise GoldenMissing(f"the golden file of {_STATE.check_id} has no value {key!r}: "
                            "it is older than the kit's checks (regenerate it with `python -m autograder golden`)")
    return _STATE.replayed[key]


def _plain(value: Any) -> Any:
    """``value`` with tensors detached and contiguous, tuples kept (what ``torch.save`` round-trips)."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone().contiguous()
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"a golden value must be plain data, not {type(value).__name__}")


@contextlib.contextmanager
def checking(check_id: str, how: str = "live", folder: Path | None = None) -> Iterator[None]:
    """Run one check's reference computations in mode ``how``, with golden files in ``folder``
    (default ``golden/``). In record mode the check's file is written when it ends without error."""
    if how not in MODES:
        raise ValueError(f"unknown golden mode {how!r}; expected one of {MODES}")
    previous = (_STATE.mode, _STATE.check_id, _STATE.recorded, _STATE.replayed, _STATE.folder)
    _STATE.mode, _STATE.check_id, _STATE.recorded, _STATE.replayed = how, check_id, {}, None
    _STATE.folder = folder or paths.GOLDEN
    try:
        yield
        if how == "record":
            _STATE.folder.mkdir(parents=True, exist_ok=True)
            golden_path(check_id, _STATE.folder).write_bytes(dumps(_STATE.recorded))
    finally:
        _STATE.mode, _STATE.check_id, _STATE.recorded, _STATE.replayed, _STATE.folder = previous


def dumps(values: dict[str, Any]) -> bytes:
    """The bytes of a golden file: the same values always give the same bytes."""
    buffer = io.BytesIO()
    torch.save(dict(sorted(values.items())), buffer)
    return buffer.getvalue()


def load(check_id: str, folder: Path | None = None) -> dict[str, Any]:
    path = golden_path(check_id, folder)
    if not path.is_file():
        raise GoldenMissing(f"no golden file for {check_id} ({path}): "
                            "checking without solutions/ needs the kit's golden/ folder")
    return torch.load(path, weights_only=True)
