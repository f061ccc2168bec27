"""Zoo entries: submissions made from the reference solutions, as data.

A :class:`Mutation` is a realistic student mistake (a snippet of a solution file replaced); a
:class:`Variant` is a correct implementation written differently (whole definitions swapped in
from ``variants/``, and/or snippets replaced). :func:`apply` copies ``solutions/*.py`` into a
folder and makes the change. Every snippet must occur exactly once and every swapped definition
must exist, so an entry cannot rot silently into grading the unchanged reference.
"""
from __future__ import annotations

import ast
import functools
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import pytest

from autograder import paths
from autograder.checks import CHECKS
from autograder.grade import grade
from autograder.report import CheckResult
from autograder.rubric import Rubric, load_rubric

EPS = 1e-9
"""Slack when comparing scores."""
VARIANTS_DIR = Path(__file__).resolve().parent / "variants"
"""Files of definitions that correct variants swap into a solution file."""


@dataclass(frozen=True)
class Mutation:
    """A realistic student mistake: one snippet of a solution file replaced (or a few, see ``more``)."""

    name: str
    """Readable test id, e.g. ``basic_no_final_relu``."""
    file: str
    """The lab file it changes, e.g. ``resnet.py``."""
    old: str
    """A snippet that occurs exactly once in ``solutions/<file>``."""
    new: str
    """Its replacement."""
    checks: tuple[str, ...]
    """Check-id prefixes to grade, e.g. ``("part1.basic_block.",)``."""
    must_fail: tuple[str, ...]
    """Check ids or prefixes; at least one of the graded checks they match must lose points."""
    component: str
    """Text that the failing checks' feedback must contain, e.g. ``BasicBlock``."""
    alternative: str = ""
    """The known alternative the feedback must name (the checks' VARIANTS), if the grader knows it."""
    gap: str = ""
    """Why no check catches this mistake yet; the test is then a strict xfail with this reason."""
    more: tuple[tuple[str, str], ...] = ()
    """Further (old, new) snippets of the same file, each occurring once, for a mistake made in two places."""

    def edit(self, source: str) -> str:
        for old, new in ((self.old, self.new),) + self.more:
            source = replace_once(source, old, new, self.name)
        return source


@dataclass(frozen=True)
class Variant:
    """A correct implementation written differently: it must score full marks on the whole rubric
    (graded together with other variants that change other definitions: ``variant_groups``)."""

    name: str
    """Readable test id, e.g. ``se_conv1x1``."""
    file: str
    """The lab file it changes, e.g. ``resnet.py``."""
    checks: tuple[str, ...]
    """Check-id prefixes of the components it changes: a failing check of its group that matches
    one of them points at this variant."""
    definitions: str = ""
    """A file under ``variants/`` whose top-level classes and functions replace the solution's of
    the same names (new ones go before the first replaced one); its imports are added."""
    patches: tuple[tuple[str, str], ...] = ()
    """(old, new) snippets, each occurring exactly once, applied after ``definitions``."""

    def edit(self, source: str) -> str:
        if self.definitions:
            source = replace_definitions(source, (VARIANTS_DIR / self.definitions).read_text(), self.name)
        for old, new in self.patches:
            source = replace_once(source, old, new, self.name)
        return source


Entry = Union[Mutation, Variant]


def replace_once(source: str, old: str, new: str, entry: str) -> str:
    """``source`` with the single occurrence of ``old`` replaced by ``new``."""
    count = source.count(old)
    assert count == 1, f"{entry}: the snippet occurs {count} times in the solution, expected once:\n{old}"
    return source.replace(old, new)


def _span(node: ast.stmt) -> tuple[int, int]:
    """0-based [start, end) line range of a definition, decorators included."""
    start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return start - 1, node.end_lineno


def replace_definitions(source: str, definitions: str, entry: str) -> str:
    """``source`` with each top-level class / function of ``definitions`` swapped in by name."""
    lines = source.splitlines(keepends=True)
    new_lines = definitions.splitlines(keepends=True)
    tree, new_tree = ast.parse(source), ast.parse(definitions)
    existing = {node.name: _span(node) for node in tree.body if isinstance(node, (ast.ClassDef, ast.FunctionDef))}
    imports, replaced, added = [], [], []
    for node in new_tree.body:
        start, end = _span(node)
        text = "".join(new_lines[start:end])
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if text.strip() not in {line.strip() for line in lines}:  # only the imports the file lacks
                imports.append(text)
        elif isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            (replaced if node.name in existing else added).append((node.name, text))
        elif not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):  # not a docstring
            raise AssertionError(f"{entry}: variants hold imports, classes and functions only (line {start + 1})")
    assert replaced, f"{entry}: none of its definitions exists in the solution, so nothing would change"
    edits = [(existing[name], text) for name, text in replaced]
    first = min(span[0] for span, _ in edits)
    edits.append(((first, first), "".join(text + "\n\n" for _, text in added)))
    last_import = max(_span(node)[1] for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom)))
    edits.append(((last_import, last_import), "".join(imports)))
    for (start, end), text in sorted(edits, key=lambda edit: edit[0], reverse=True):
        lines[start:end] = [text]
    return "".join(lines)


def apply(entry: Entry, dest: Path) -> Path:
    """Copy ``solutions/*.py`` into ``dest`` and make ``entry``'s change to its file; returns ``dest``."""
    return apply_all([entry], dest)


def apply_all(entries: list[Entry], dest: Path) -> Path:
    """Copy ``solutions/*.py`` into ``dest`` and make every entry's change, one after the other."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for path in sorted(paths.SOLUTIONS.glob("*.py")):
        shutil.copyfile(path, dest / path.name)
    for entry in entries:
        target = dest / entry.file
        assert target.is_file(), f"{entry.name}: no solutions/{entry.file}"
        source = target.read_text()
        changed = entry.edit(source)
        assert changed != source, f"{entry.name}: the edit leaves {entry.file} unchanged"
        compile(changed, str(target), "exec")  # a syntax error is a broken entry, not a student mistake
        target.write_text(changed)
    return dest


def touched(variant: Variant) -> set[tuple[str, object]]:
    """What ``variant`` changes in its solution file: (file, line number) of every line it replaces,
    counting a replaced definition's lines whole, and (file, name) of a definition it adds (the
    imports it adds go in only where missing: see ``replace_definitions``)."""
    source = (paths.SOLUTIONS / variant.file).read_text()
    spans = {node.name: _span(node) for node in ast.parse(source).body
             if isinstance(node, (ast.ClassDef, ast.FunctionDef))}
    lines: set[object] = set()
    if variant.definitions:
        for node in ast.parse((VARIANTS_DIR / variant.definitions).read_text()).body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
                lines |= set(range(*spans[node.name])) if node.name in spans else {node.name}
    for old, _ in variant.patches:
        if old in source:  # else a snippet of the swapped-in definitions, whose lines are counted above
            start = source[:source.index(old)].count("\n")
            lines |= set(range(start, start + old.count("\n") + 1))
    return {(variant.file, line) for line in lines}


def variant_groups(variants: list[Variant]) -> list[list[Variant]]:
    """The variants in groups whose members change different definitions, so that each group is
    one submission holding them all: first fit, in list order."""
    groups: list[tuple[list[Variant], set]] = []
    for variant in variants:
        changes = touched(variant)
        group = next((group for group in groups if not group[1] & changes), None)
        if group is None:
            groups.append(([], set()))
            group = groups[-1]
        group[0].append(variant)
        group[1].update(changes)
    return [members for members, _ in groups]


def matches(check_id: str, patterns: tuple[str, ...]) -> bool:
    """Whether ``check_id`` is one of ``patterns`` or starts with one of them."""
    return any(check_id.startswith(pattern) for pattern in patterns)


@functools.lru_cache(maxsize=None)
def full_rubric() -> Rubric:
    """The real grading.yml, validated against every registered check."""
    return load_rubric(paths.ROOT / "grading.yml", CHECKS)


def sub_rubric(prefixes: tuple[str, ...]) -> Rubric:
    """The real rubric's rules for the checks whose ids start with one of ``prefixes``."""
    full = full_rubric()
    checks = {check_id: rule for check_id, rule in full.checks.items() if matches(check_id, prefixes)}
    unused = [prefix for prefix in prefixes if not any(check_id.startswith(prefix) for check_id in checks)]
    assert not unused, f"no check id starts with {', '.join(unused)}"
    points = math.fsum(rule.points for rule in checks.values())
    return Rubric(points, points, checks, {}, full.tolerances, full.forbidden, full.training)


def grade_entry(entry: Entry, dest: Path) -> tuple[Rubric, list[CheckResult]]:
    """Build ``entry``'s submission in ``dest`` and grade it on its checks (CPU)."""
    rubric = sub_rubric(entry.checks)
    return rubric, grade(apply(entry, dest), rubric, "cpu").results


def show(results) -> str:
    """Results as readable lines for an assertion message."""
    return "\n".join(f"{r.id}: {r.score:g}/{r.max_score:g}\n    " + r.output.replace("\n", "\n    ") for r in results)


def expected_outcome(mutation: Mutation):
    """A pytest param for ``mutation``, a strict xfail when it is a known grader gap."""
    marks = [pytest.mark.xfail(strict=True, reason=mutation.gap)] if mutation.gap else []
    return pytest.param(mutation, id=mutation.name, marks=marks)


def assert_mutation_caught(mutation: Mutation, dest: Path) -> None:
    """The mutation loses points on a ``must_fail`` check whose feedback names the component
    (and the known alternative, when the entry names one)."""
    rubric, results = grade_entry(mutation, dest)
    targeted = [r for r in results if matches(r.id, mutation.must_fail)]
    assert targeted, f"must_fail {mutation.must_fail} matches none of the graded checks {mutation.checks}"
    failing = [r for r in targeted if not r.passed]
    assert failing, f"{mutation.name} keeps full marks on {', '.join(r.id for r in targeted)}:\n{show(results)}"
    assert sum(r.score for r in results) < rubric.total - EPS
    for result in failing:
        assert mutation.component in result.output, (f"{result.id} does not name {mutation.component!r}:\n"
                                                     f"{show([result])}")
    if mutation.alternative:
        assert any(mutation.alternative in r.output for r in failing), \
            f"no failing check names the known alternative {mutation.alternative!r}:\n{show(failing)}"


def assert_full_marks(variants: list[Variant], dest: Path) -> None:
    """One submission holding every variant of ``variants`` scores full marks on the whole rubric;
    a check that loses points names the variants that change its component."""
    rubric = full_rubric()
    results = grade(apply_all(variants, dest), rubric, "cpu").results
    lost = [r for r in results if not r.passed]
    suspects = {r.id: [v.name for v in variants if matches(r.id, v.checks)] or [v.name for v in variants] for r in lost}
    assert not lost, "\n".join(f"{r.id} lost points (variants changing it: {', '.join(suspects[r.id])})"
                               for r in lost) + \
        "\n" + show(lost)
    assert [r.id for r in results] == list(rubric.checks)
    assert sum(r.score for r in results) == pytest.approx(rubric.code_points)
