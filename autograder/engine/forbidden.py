"""From-scratch rule: library implementations the lab forbids inside a submission's modules.

The rubric lists dotted names: a package or module (``timm``, ``torchvision.models``) forbids
every class defined under it; a class (``torch.nn.MultiheadAttention``) forbids that class.
Names are resolved in the grader, and compared with the fully qualified types the worker reports
for every submodule the submission builds.
"""
from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class ForbiddenRule:
    """One forbidden name, resolved."""

    name: str
    """As written in grading.yml, e.g. ``torch.nn.MultiheadAttention``."""
    qualified: str
    """``module.qualname`` of the class, or the module's own name for a package or module."""
    is_module: bool
    """True when every class defined under ``qualified`` is forbidden."""

    def matches(self, type_name: str) -> bool:
        if self.is_module:
            return type_name.startswith(self.qualified + ".")
        return type_name == self.qualified


def resolve(names: Iterable[str]) -> list[ForbiddenRule]:
    """Resolve rubric names; one that cannot be found still forbids by its written name.

    A package or module is recognised without being imported (importing timm alone takes a
    second, on every grade); only a class's parent module is imported, to read its qualified name.
    """
    rules = []
    for name in names:
        if _is_module(name):
            rules.append(ForbiddenRule(name, name, True))
            continue
        parent, _, attr = name.rpartition(".")
        target = getattr(_import(parent), attr, None) if parent else None
        if isinstance(target, type):
            rules.append(ForbiddenRule(name, f"{target.__module__}.{target.__qualname__}", False))
        else:
            rules.append(ForbiddenRule(name, name, True))
    return rules


def _is_module(name: str) -> bool:
    """Whether ``name`` is a package or module, found without importing any of it: ``find_spec`` of
    ``torchvision.models`` would import torchvision (and scipy with it), seconds on every grade."""
    head, _, rest = name.partition(".")
    try:
        spec = importlib.util.find_spec(head)
        for part in rest.split(".") if rest else ():
            if spec is None or not spec.submodule_search_locations:
                return False
            spec = importlib.machinery.PathFinder.find_spec(part, list(spec.submodule_search_locations))
    except (ImportError, ValueError):
        return False
    return spec is not None


def _import(name: str):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def violations(modules: Iterable[tuple[str, str]], rules: list[ForbiddenRule]) -> list[str]:
    """``"name (type) is <rule>"`` for every submodule whose type a rule forbids."""
    found = []
    for module_name, type_name in modules:
        for rule in rules:
            if rule.matches(type_name):
                found.append(f"{module_name} is a {type_name.rsplit('.', 1)[-1]} from {rule.name}")
    return found
