"""The kit's requirements, as ``pyproject.toml`` writes them: the one place their pins are set."""
from __future__ import annotations

import re

from autograder import paths

_DEPENDENCY = re.compile(r'^\s*"([A-Za-z0-9_.\-]+)([^"]*)",?\s*$')


def declared() -> dict[str, str]:
    """Every dependency of ``pyproject.toml`` (the main list and the extras), by name:
    ``{"torch": "torch==2.14.1"}``."""
    found = {}
    for line in (paths.ROOT / "pyproject.toml").read_text(encoding="utf-8").splitlines():
        match = _DEPENDENCY.match(line)
        if match:
            found[match.group(1).lower()] = match.group(1) + match.group(2)
    return found


def pinned(*names: str) -> tuple[str, ...]:
    """``names`` as requirement lines, with the version ``pyproject.toml`` gives each (bare where it
    declares none, or does not list the name, as for packages only a bundle needs)."""
    known = declared()
    return tuple(known.get(name.lower(), name) for name in names)
