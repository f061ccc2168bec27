"""Choosing some checks of a rubric: ``check --only part3.mha``, ``pytest -k mha``.

A selector picks the checks whose id it is, or starts (``part3``, ``part3.mha``), or names one part of
(``mha``, ``basic_block``), and the checks of a component by its name (``MultiHeadAttention``,
any case).
"""
from __future__ import annotations

import dataclasses
from typing import Iterable

from autograder.checks import CHECKS
from autograder.rubric import Rubric


class SelectionError(ValueError):
    """A selector matches no check of the rubric; the message lists what there is."""


def matches(selector: str, check_id: str) -> bool:
    """Whether ``selector`` picks the check ``check_id`` (see the module docstring)."""
    wanted = selector.strip().lower()
    component = CHECKS[check_id].component.split(" ")[0].lower() if check_id in CHECKS else ""
    return (check_id == wanted or check_id.startswith(wanted + ".") or wanted in check_id.split(".")
            or wanted == component)


def selected(rubric: Rubric, selectors: Iterable[str]) -> Rubric:
    """``rubric`` with only the checks some selector picks (all of them for no selector)."""
    selectors = [s for s in selectors if s.strip()]
    if not selectors:
        return rubric
    unknown = [s for s in selectors if not any(matches(s, c) for c in rubric.checks)]
    if unknown:
        parts = sorted({".".join(c.split(".")[:2]) for c in rubric.checks})
        raise SelectionError(f"{', '.join(map(repr, unknown))} picks no check; try a part or component: "
                             + ", ".join(parts))
    return dataclasses.replace(rubric, checks={c: rule for c, rule in rubric.checks.items()
                                               if any(matches(s, c) for s in selectors)})
