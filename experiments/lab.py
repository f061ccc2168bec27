"""Which implementation of the lab's modules the experiments use: the reference, or a student's.

    load_lab("solutions")            # the reference solutions (instructors)
    load_lab("path/to/folder")       # resnet.py, attention.py, vit.py, gradcam.py, profiler.py
    load_lab("path/to/lab3.ipynb")   # a notebook's definitions (its experiments are not run)

A student's files are imported under private names, so two implementations can be loaded side
by side and neither shadows a package.
"""
from __future__ import annotations

import importlib
import importlib.util
import itertools
import sys
import tempfile
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, TypeVar

from autograder.engine.submission import LAB_MODULES

_loaded = itertools.count()
Measured = TypeVar("Measured")
PROFILER_NOT_WRITTEN = ("ModelProfiler (Part 4) is not written yet, so the columns it measures are empty; "
                        "run the experiment again once it is")


@dataclass(frozen=True)
class Lab:
    """The five lab modules of one implementation, and where they came from."""

    source: str
    resnet: types.ModuleType
    attention: types.ModuleType
    vit: types.ModuleType
    gradcam: types.ModuleType
    profiler: types.ModuleType


class LabNotFound(ValueError):
    """The implementation asked for does not exist or lacks a module."""


def load_lab(source: str | Path = "solutions") -> Lab:
    """The lab modules of ``source``: ``solutions``, ``skeletons``, a folder, or a ``.ipynb`` notebook."""
    if str(source) in ("solutions", "skeletons"):
        return Lab(str(source), *(importlib.import_module(f"{source}.{name}") for name in LAB_MODULES))
    path = Path(source)
    if path.suffix == ".ipynb":
        return _from_notebook(path)
    if not path.is_dir():
        raise LabNotFound(f"{path}: expected 'solutions', 'skeletons', a folder of the lab's files, or a .ipynb")
    missing = [f"{name}.py" for name in LAB_MODULES if not (path / f"{name}.py").is_file()]
    if missing:
        raise LabNotFound(f"{path} has no {', '.join(missing)}")
    return _from_folder(path, str(path))


def lab_from_namespace(namespace: dict, source: str = "the notebook") -> Lab:
    """The definitions of one namespace (a notebook's ``globals()``) standing for all five modules."""
    module = types.ModuleType("lab3_notebook")
    module.__dict__.update(namespace)
    return Lab(source, *([module] * len(LAB_MODULES)))


def profile_if_written(lab: Lab, model, device, measure: Callable[[object], Measured]) -> Optional[Measured]:
    """``measure(profiler)`` with the lab's ``ModelProfiler(model, device)``, or None where the
    implementation has no profiler yet: no ``ModelProfiler`` (a notebook run before Part 4) or one
    that raises ``NotImplementedError``. Experiments of Parts 2 and 3 use it for their cost columns."""
    profiler_class = getattr(lab.profiler, "ModelProfiler", None)
    if profiler_class is None:
        return None
    try:
        return measure(profiler_class(model, device))
    except NotImplementedError:
        return None


def profiler_note(rows: list[dict]) -> dict:
    """``{"note": PROFILER_NOT_WRITTEN}`` for a summary whose ``rows`` lack the profiler's FLOPs, else ``{}``."""
    return {"note": PROFILER_NOT_WRITTEN} if any(row["flops"] is None for row in rows) else {}


def _from_folder(folder: Path, source: str) -> Lab:
    """Import the folder's five files; their imports of each other (``from resnet import ...``) resolve
    to these same modules."""
    prefix = f"_lab{next(_loaded)}_"
    modules = {}
    saved = {name: sys.modules.get(name) for name in LAB_MODULES}
    try:
        for name in LAB_MODULES:
            spec = importlib.util.spec_from_file_location(prefix + name, folder / f"{name}.py")
            module = importlib.util.module_from_spec(spec)
            sys.modules[prefix + name] = module
            sys.modules[name] = module  # for `from resnet import ...` inside the student's files
            modules[name] = module
        for name in LAB_MODULES:
            modules[name].__spec__.loader.exec_module(modules[name])
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    return Lab(source, *(modules[name] for name in LAB_MODULES))


def _from_notebook(notebook: Path) -> Lab:
    from autograder.engine.submission import NotebookError, extract

    folder = Path(tempfile.mkdtemp(prefix="lab3-notebook-"))
    try:
        extract(notebook, folder)
    except NotebookError as error:
        raise LabNotFound(f"{notebook}: {error}") from None
    sys.path.insert(0, str(folder))  # the notebook's generated module, which the stubs import
    try:
        return _from_folder(folder, str(notebook))
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("_notebook", None)  # the next notebook gets its own
