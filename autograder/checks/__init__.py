"""All checks, by id. Each component module registers its checks on its own Registry."""
from __future__ import annotations

import importlib

from autograder import paths
from autograder.checks import attention, gradcam, profiler, resnet, training, vit
from autograder.checks.registry import CheckSpec

COMPONENT_MODULES = (resnet, attention, gradcam, vit, profiler, training)
# A student bundle goes without the instructor's checks (a look at the files, not an import: where the
# kit is also pip-installed, an import could find the installed copy's).
if (paths.INSTRUCTOR_CHECKS / "hidden.py").is_file():
    COMPONENT_MODULES += (importlib.import_module("autograder.checks.instructor.hidden"),)

CHECKS: dict[str, CheckSpec] = {}
for _module in COMPONENT_MODULES:
    for _id, _spec in _module.registry.checks.items():
        if _id in CHECKS:
            raise ValueError(f"check id {_id!r} registered by two modules")
        CHECKS[_id] = _spec
