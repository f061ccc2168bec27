"""The kit's layout is its boundaries: what each folder of ``autograder/`` may import, read from the code.

    runtime/   the only code inside the jail: imports nothing of the kit but itself
    engine/    running a submission: runtime, and the shared modules (paths, i18n, rubric)
    checks/    the checks: engine, runtime, the shared modules, and solutions/ (the reference)
    tools/     instructors' tools: anything
    the rest   orchestration (grade, batch, selfcheck, ...) and the shared modules

Nothing outside ``tools/`` and ``checks/`` imports solutions/ (``__main__`` only lazily, for the
instructor's commands), nothing but ``__main__`` and ``tools/`` imports ``tools/``, and
``experiments/`` uses only ``engine/`` of the grader.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from autograder import paths

AUTOGRADER = paths.ROOT / "autograder"
SHARED = {"autograder", "autograder.paths", "autograder.i18n", "autograder.rubric"}


def module_name(path: Path) -> str:
    parts = path.relative_to(paths.ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function, as absolute names."""
    found = set()
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def kit_imports(folder: Path) -> dict[str, set[str]]:
    """Per module of ``folder``: the kit modules it imports (of autograder, solutions, experiments, skeletons)."""
    kit = ("autograder", "solutions", "experiments", "skeletons")
    return {module_name(p): {m for m in imported(p) if m.split(".")[0] in kit}
            for p in sorted(folder.rglob("*.py"))}


def existing(names: set[str]) -> set[str]:
    """``names`` that are modules or packages of the kit (``from x import name`` also yields ``x.name``)."""
    return {n for n in names if (paths.ROOT / n.replace(".", "/")).with_suffix(".py").exists()
            or (paths.ROOT / n.replace(".", "/") / "__init__.py").exists()}


def within(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_the_runtime_imports_nothing_of_the_kit_but_itself():
    for module, names in kit_imports(AUTOGRADER / "runtime").items():
        outside = {n for n in existing(names) if not within(n, "autograder.runtime") and n != "autograder"}
        assert not outside, f"{module} imports {sorted(outside)}: the jail holds only autograder/runtime/"


def test_the_engine_imports_only_the_runtime_and_the_shared_modules():
    for module, names in kit_imports(AUTOGRADER / "engine").items():
        outside = {n for n in existing(names)
                   if not within(n, "autograder.runtime", "autograder.engine") and n not in SHARED}
        assert not outside, f"{module} imports {sorted(outside)}"


@pytest.mark.parametrize("folder", ["autograder", "experiments", "student"])
def test_only_the_checks_and_the_tools_import_the_reference_solutions(folder):
    for module, names in kit_imports(paths.ROOT / folder).items():
        if within(module, "autograder.checks", "autograder.tools"):
            continue
        assert not any(within(n, "solutions") for n in names), f"{module} imports solutions/"


def test_only_the_command_line_and_the_tools_import_the_tools():
    for folder in ("autograder", "experiments", "student"):
        for module, names in kit_imports(paths.ROOT / folder).items():
            if within(module, "autograder.tools") or module == "autograder.__main__":
                continue
            assert not any(within(n, "autograder.tools") for n in names), f"{module} imports autograder.tools"


def test_the_experiments_use_only_the_engine_of_the_grader():
    for module, names in kit_imports(paths.ROOT / "experiments").items():
        grader = {n for n in existing(names) if within(n, "autograder")}
        assert all(within(n, "autograder.engine") for n in grader), f"{module} imports {sorted(grader)}"


def test_the_scan_sees_lazy_and_relative_imports(tmp_path, monkeypatch):
    """An import inside a function, or relative, still counts: the rules above could not fail otherwise."""
    package = tmp_path / "autograder" / "engine"
    package.mkdir(parents=True)
    (package / "crossing.py").write_text("from . import client\n\ndef later():\n    from ..checks import golden\n")
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    found = imported(package / "crossing.py")
    assert {"autograder.engine.client", "autograder.checks.golden"} <= found


def test_every_check_id_is_written_out_where_its_check_is_registered():
    """``grep part1.basic_block.numerics autograder/checks`` finds the line that registers it."""
    from autograder.checks import CHECKS

    code = "\n".join(p.read_text(encoding="utf-8") for p in sorted((AUTOGRADER / "checks").rglob("*.py")))
    missing = [check_id for check_id in CHECKS if f'"{check_id}"' not in code]
    assert not missing, f"check ids built at run time, not written out: {missing}"
