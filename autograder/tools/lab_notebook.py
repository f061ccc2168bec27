"""Build the lab notebook, an nbgrader source assignment, from its template, solutions/ and grading.yml.

The template (``notebooks/lab3.py``) is a Python file in percent format: every cell starts at a
line ``# %%``, and the rest of that line says what the cell is::

    # %% [markdown]                       markdown: the cell's lines with their leading "# " removed
    # %%                                  code, copied as written (set-up, experiments)
    # %% solution resnet.BasicBlock       code taken from solutions/resnet.py (the body stays empty)
    # %% tests part1.basic_block          a test cell running every rubric check under the prefix(es)
    # %% manual report depth_scaling      a hand-graded question (the body, markdown) and its answer cell
    # %% points                           a markdown table of every graded cell and its points

``solution MODULE.NAME [MODULE.NAME ...]`` names top-level statements of ``solutions/MODULE.py``:
a class or function by its name, an assignment by the name it binds, and ``imports`` for all of
the module's import statements. The names must be adjacent in the file; the cell holds the file's
text from the first to the last, with the comment lines directly above them. A cell with
``### BEGIN SOLUTION`` fences becomes an nbgrader solution cell, which ``nbgrader
generate_assignment`` turns into stubs; any other (imports, helpers, constants) a read-only cell.
Every top-level statement of every solution file (the docstring aside) goes into exactly one
cell, and no two files may bind one name to different things: the notebook is one namespace.

``tests PREFIX [PREFIX ...]`` calls ``assert_check(check_id, globals())`` for each rubric check
whose id is PREFIX or starts with ``PREFIX.``; checks not ``visible`` go between nbgrader's
hidden-test markers. The cell is worth the sum of its checks' points, and every rubric check
must be in exactly one test cell.

``manual ITEM [SECTION]`` is a question on a hand-graded item of the rubric (``report``,
``demo``): the cell's markdown with a line stating its points, then an answer cell nbgrader
grades by hand. An item asked in several sections is split equally over them; bonus items get
no cell.

Any other directive, a name missing from its solution file, a prefix matching no check, or a
check, statement or manual item left without a cell raises :class:`TemplateError`. The build is
deterministic (no outputs, cell ids from grade ids or positions), so a committed notebook can
be compared with a fresh build.
"""
from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import nbformat
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder import paths
from autograder.rubric import Rubric, load_rubric, whole
from autograder.tools.skeletons import BEGIN

NOTEBOOKS = paths.ROOT / "notebooks"
TEMPLATE = NOTEBOOKS / "lab3.py"
NOTEBOOK = NOTEBOOKS / "source" / "lab3" / "lab3.ipynb"
RUBRIC = paths.ROOT / "grading.yml"

HEADER = re.compile(r"# %%(?P<rest>.*)$")
IMPORTS = "imports"
HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
HIDDEN_END = "### END HIDDEN TESTS"
ANSWER_STUB = "YOUR ANSWER HERE"
SECTION = re.compile(r"[a-z0-9_]+")
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


class TemplateError(ValueError):
    """The template cannot be built; the message names the template line (or the solution file)."""


# -- solution files ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    """One top-level statement of a solution file."""

    key: str
    """The name a template gives it: the class, function or assigned name, or ``imports``."""
    binds: dict[str, str]
    """Name -> what it is bound to (``import torch.nn`` origin, or ``module.NAME`` for a definition)."""
    definition: bool
    """True for a class or function."""
    first: int
    """First line (1-based), decorators and the top-level comment lines directly above included."""
    last: int
    """Last line (1-based): the line before the next statement's first, blank lines aside, so that
    comments after its last line (``### END SOLUTION``) stay with it."""


def solution_units(path: Path) -> tuple[list[str], list[Unit]]:
    """The lines of the solution file ``path`` and its top-level statements, docstring aside."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines(keepends=True)
    module = path.stem
    starts = []
    for index, node in enumerate(ast.parse(source, str(path)).body):
        if index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        while first > 1 and lines[first - 2].startswith("#"):  # top-level comments only, not a region's END
            first -= 1
        starts.append((node, first))
    units = []
    for position, (node, first) in enumerate(starts):
        last = starts[position + 1][1] - 1 if position + 1 < len(starts) else len(lines)
        while not lines[last - 1].strip():
            last -= 1
        key, binds = _key_and_binds(node, module, f"{path.name}:{node.lineno}")
        definition = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        units.append(Unit(key, binds, definition, first, last))
    return lines, units


def _key_and_binds(node: ast.stmt, module: str, where: str) -> tuple[str, dict[str, str]]:
    if isinstance(node, ast.ImportFrom):
        if node.module == "__future__":
            return IMPORTS, {}
        return IMPORTS, {alias.asname or alias.name: f"{node.module}.{alias.name}" for alias in node.names}
    if isinstance(node, ast.Import):
        return IMPORTS, {
            alias.asname or alias.name.split(".")[0]: alias.name if alias.asname else alias.name.split(".")[0]
            for alias in node.names
        }
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        name = node.name
    elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        name = node.targets[0].id
    elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        name = node.target.id
    else:
        raise TemplateError(f"{where}: a top-level statement the template cannot name "
                            "(only imports, classes, functions and assignments to one name)")
    return name, {name: f"{module}.{name}"}


@dataclass
class Solutions:
    """The solution files, and which of their statements the template has placed so far."""

    folder: Path
    files: dict[str, tuple[list[str], list[Unit]]] = field(default_factory=dict)
    placed: dict[tuple[str, int], int] = field(default_factory=dict)
    """(module, unit index) -> template line of the cell that placed it."""

    def __post_init__(self) -> None:
        paths_ = sorted(p for p in self.folder.glob("*.py") if p.name != "__init__.py")
        if not paths_:
            raise TemplateError(f"no solution files in {self.folder}")
        self.files = {path.stem: solution_units(path) for path in paths_}
        _refuse_clashes(self.files)

    def take(self, names: list[str], where: str, line: int) -> tuple[str, str, str]:
        """The text of the named statements (``module.NAME``), their module and the name of the cell
        (its first class or function, else its first statement); marks them placed by the cell at
        template ``line`` (``where`` names it in errors)."""
        modules = {name.partition(".")[0] for name in names}
        if len(modules) != 1 or any("." not in name for name in names):
            raise TemplateError(f"{where}: name statements of one solution file as MODULE.NAME, got {' '.join(names)}")
        module = modules.pop()
        if module not in self.files:
            raise TemplateError(f"{where}: no solution file {module}.py in {self.folder} "
                                f"(there are: {', '.join(self.files)})")
        lines, units = self.files[module]
        chosen = set()
        for name in names:
            key = name.partition(".")[2]
            found = {i for i, unit in enumerate(units) if unit.key == key}
            if not found:
                raise TemplateError(f"{where}: {module}.py has no top-level definition {key!r}")
            chosen |= found
        indices = sorted(chosen)
        gaps = [units[i].key for i in range(indices[0], indices[-1]) if i not in chosen]
        if gaps:
            raise TemplateError(f"{where}: {' '.join(names)} are not adjacent in {module}.py "
                                f"({', '.join(dict.fromkeys(gaps))} lie between them)")
        for i in indices:
            if (module, i) in self.placed:
                raise TemplateError(f"{where}: {module}.{units[i].key} is already placed by the cell "
                                    f"at line {self.placed[module, i]}")
            self.placed[module, i] = line
        text = "".join(lines[units[indices[0]].first - 1: units[indices[-1]].last])
        defined = [units[i].key for i in indices if units[i].definition]
        return text.strip("\n"), module, (defined or [units[indices[0]].key])[0]

    def unplaced(self) -> list[str]:
        """``module.NAME`` of every statement no cell has placed."""
        return list(dict.fromkeys(f"{module}.{unit.key}" for module, (_, units) in self.files.items()
                                  for i, unit in enumerate(units) if (module, i) not in self.placed))


def _refuse_clashes(files: dict[str, tuple[list[str], list[Unit]]]) -> None:
    bound: dict[str, tuple[str, str]] = {}
    for module, (_, units) in files.items():
        for unit in units:
            for name, origin in unit.binds.items():
                other = bound.setdefault(name, (module, origin))
                if other[1] != origin:
                    raise TemplateError(f"{name!r} is {other[1]} in {other[0]}.py but {origin} in {module}.py: "
                                        "the notebook runs every solution file in one namespace")


# -- the template --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TemplateCell:
    """One cell of the template."""

    line: int
    """Line of its ``# %%`` header."""
    directive: str
    """What the header says after ``# %%`` (stripped)."""
    body: str
    """Its lines, without leading and trailing blank lines."""
    body_line: int
    """Line of the body's first line."""


def read_template(path: Path) -> list[TemplateCell]:
    """The template's cells; lines before the first header must be comments (the template's own notes)."""
    cells: list[TemplateCell] = []
    header, directive, body = 0, "", []

    def close() -> None:
        blank = next((i for i, line in enumerate(body) if line.strip()), len(body))
        cells.append(TemplateCell(header, directive, "\n".join(body).strip("\n"), header + 1 + blank))

    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = HEADER.match(line)
        if match:
            if header:
                close()
            header, directive, body = number, match["rest"].strip(), []
        elif header:
            body.append(line)
        elif line.strip() and not line.startswith("#"):
            raise TemplateError(f"{path}:{number}: code before the first '# %%' cell header")
    if header:
        close()
    if not cells:
        raise TemplateError(f"{path}: no '# %%' cells")
    return cells


def markdown_text(cell: TemplateCell, template: Path) -> str:
    """A markdown cell's text: every line is ``#`` or starts with ``# ``, which is removed."""
    out = []
    for number, line in enumerate(cell.body.splitlines(), start=cell.body_line):
        if line == "#":
            out.append("")
        elif line.startswith("# "):
            out.append(line[2:])
        elif line.strip():
            raise TemplateError(f"{template}:{number}: markdown lines start with '# '")
        else:
            out.append("")
    return "\n".join(out).strip("\n")


# -- building ------------------------------------------------------------------------------------


@dataclass
class Build:
    """State of one build: inputs, the cells so far, and what the rubric still needs."""

    template: Path
    solutions: Solutions
    rubric: Rubric
    manual_sections: dict[str, int]
    """Manual item -> how many cells ask it (to split its points)."""
    cells: list[NotebookNode] = field(default_factory=list)
    tested: dict[str, int] = field(default_factory=dict)
    """Check id -> template line of its test cell."""
    summary_at: list[int] = field(default_factory=list)
    """Indices of ``points`` cells, filled in last."""

    def where(self, cell: TemplateCell) -> str:
        return f"{self.template}:{cell.line}"


def _nbgrader(cell: NotebookNode, grade_id: str, *, solution=False, grade=False, locked=False, points=None,
              task=None) -> NotebookNode:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution}
    if points is not None:
        meta["points"] = points
    if task is not None:
        meta["task"] = task
    cell.metadata["nbgrader"] = meta
    return cell


def _points_text(points: float | int) -> str:
    return f"{points} point" + ("" if points == 1 else "s")


def _no_body(build: Build, cell: TemplateCell) -> None:
    if cell.body:
        word = cell.directive.split()[0]
        raise TemplateError(f"{build.where(cell)}: a '{word}' cell is generated; leave its body empty")


def _markdown(build: Build, cell: TemplateCell, args: list[str]) -> None:
    if args:
        raise TemplateError(f"{build.where(cell)}: '[markdown]' takes no arguments")
    build.cells.append(new_markdown_cell(markdown_text(cell, build.template)))


def _solution(build: Build, cell: TemplateCell, args: list[str]) -> None:
    if not args:
        raise TemplateError(f"{build.where(cell)}: 'solution' needs MODULE.NAME arguments")
    _no_body(build, cell)
    text, module, name = build.solutions.take(args, build.where(cell), cell.line)
    grade_id = f"{module}-{name}"
    fenced = any(line.strip().startswith(BEGIN) for line in text.splitlines())
    build.cells.append(_nbgrader(new_code_cell(text), grade_id, solution=fenced, locked=not fenced))


def _tests(build: Build, cell: TemplateCell, args: list[str]) -> None:
    if not args:
        raise TemplateError(f"{build.where(cell)}: 'tests' needs check id prefixes, e.g. part1.basic_block")
    _no_body(build, cell)
    checks = []
    for prefix in args:
        matched = [c for c in build.rubric.checks if c == prefix or c.startswith(prefix + ".")]
        if not matched:
            raise TemplateError(f"{build.where(cell)}: no rubric check is {prefix} or starts with {prefix}.")
        checks += [c for c in matched if c not in checks]
    for check in checks:
        if check in build.tested:
            raise TemplateError(f"{build.where(cell)}: {check} is already tested by the cell at line "
                                f"{build.tested[check]}")
        build.tested[check] = cell.line
    shown = [c for c in checks if build.rubric.checks[c].visibility == "visible"]
    hidden = [c for c in checks if c not in shown]
    points = whole(math.fsum(build.rubric.checks[c].points for c in checks))
    later = whole(math.fsum(build.rubric.checks[c].points for c in hidden))
    when = "" if not hidden else ", all graded after the due date" if not shown else \
        f"; {_points_text(later)} of them graded after the due date"
    lines = [f"# {_points_text(points)}{when}.",
             "from autograder.selfcheck import assert_check" + (", graded_after_due_date" if hidden else "")]
    if shown:
        lines += ["", *[f'assert_check("{c}", globals())' for c in shown]]
    if hidden:
        lines += [f"graded_after_due_date({len(hidden)}, {later}, shown={len(shown)})",
                  HIDDEN_BEGIN, *[f'assert_check("{c}", globals())' for c in hidden], HIDDEN_END]
    grade_id = "tests-" + args[0].replace(".", "-")
    build.cells.append(_nbgrader(new_code_cell("\n".join(lines)), grade_id, grade=True, locked=True, points=points))


def _manual(build: Build, cell: TemplateCell, args: list[str]) -> None:
    if not 1 <= len(args) <= 2 or (len(args) == 2 and not SECTION.fullmatch(args[1])):
        raise TemplateError(f"{build.where(cell)}: 'manual' takes ITEM [SECTION] (section in a-z, 0-9, _)")
    item = build.rubric.manual[args[0]]
    count = build.manual_sections[args[0]]
    points = whole(item.points / count)
    share = (f" ({whole(item.points)} points for the {args[0]}, split equally over its {count} sections)"
             if count > 1 else "")
    question = markdown_text(cell, build.template)
    if not question:
        raise TemplateError(f"{build.where(cell)}: a 'manual' cell's body is its question; it is empty")
    build.cells.append(new_markdown_cell(f"{question}\n\n*{_points_text(points)}{share}, graded by hand.*"))
    answer = new_markdown_cell(ANSWER_STUB)
    build.cells.append(_nbgrader(answer, "-".join(args), solution=True, grade=True, points=points, task=False))


def _points(build: Build, cell: TemplateCell, args: list[str]) -> None:
    if args:
        raise TemplateError(f"{build.where(cell)}: 'points' takes no arguments")
    _no_body(build, cell)
    build.summary_at.append(len(build.cells))
    build.cells.append(new_markdown_cell(""))


DIRECTIVES: dict[str, Callable[[Build, TemplateCell, list[str]], None]] = {
    "[markdown]": _markdown,
    "solution": _solution,
    "tests": _tests,
    "manual": _manual,
    "points": _points,
}
"""Directive word -> what builds its cell(s). A bare ``# %%`` is a code cell."""


def _count_manual(cells: list[TemplateCell], rubric: Rubric, template: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for cell in cells:
        words = cell.directive.split()
        if words[:1] == ["manual"] and len(words) > 1:
            item = rubric.manual.get(words[1])
            if item is None:
                raise TemplateError(f"{template}:{cell.line}: {words[1]!r} is not a manual item of the rubric "
                                    f"({', '.join(rubric.manual)})")
            if item.bonus:
                raise TemplateError(f"{template}:{cell.line}: {words[1]!r} is a bonus item; bonus gets no cell")
            counts[words[1]] = counts.get(words[1], 0) + 1
    missing = [name for name, item in rubric.manual.items() if not item.bonus and name not in counts]
    if missing:
        raise TemplateError(f"{template}: manual item(s) without a 'manual' cell: {', '.join(missing)}")
    return counts


def _summary(build: Build) -> str:
    rows = ["| graded cell | points |", "|---|---:|"]
    for cell in build.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            how = "checks" if cell.cell_type == "code" else "by hand"
            rows.append(f"| `{meta['grade_id']}` ({how}) | {meta['points']} |")
    rows.append(f"| **total** | **{whole(build.rubric.total)}** |")
    hidden = [rule.points for rule in build.rubric.checks.values() if rule.visibility != "visible"]
    if hidden:
        later = whole(math.fsum(hidden))
        rows.append(f"\nThe table counts every point, the {len(hidden)} checks graded after the due date "
                    f"({_points_text(later)}) included; the bundle's `grading.yml` lists what you can check before "
                    f"then, {whole(build.rubric.total - later)} points (the visible checks and the hand-graded items).")
    note = "".join(f"\n\n**{name.capitalize()}** ({_points_text(whole(item.points))} on top, graded outside "
                   f"this notebook): {item.description}."
                   for name, item in build.rubric.manual.items() if item.bonus)
    return "\n".join(rows) + note


def default_rubric() -> Rubric:
    """The kit's ``grading.yml``, validated against the registered checks."""
    from autograder.checks import CHECKS

    return load_rubric(RUBRIC, CHECKS)


def build_notebook(solutions: Path = paths.SOLUTIONS, template: Path = TEMPLATE,
                   rubric: Rubric | None = None) -> NotebookNode:
    """The nbgrader source notebook built from ``template``, the files of ``solutions`` and ``rubric``."""
    rubric = rubric if rubric is not None else default_rubric()
    template_cells = read_template(template)
    build = Build(template, Solutions(solutions), rubric, _count_manual(template_cells, rubric, template))
    for cell in template_cells:
        words = cell.directive.split()
        if not words:
            build.cells.append(new_code_cell(cell.body))
            continue
        handler = DIRECTIVES.get(words[0])
        if handler is None:
            raise TemplateError(f"{build.where(cell)}: unknown directive {words[0]!r} "
                                f"(known: {', '.join(DIRECTIVES)}, or a bare '# %%' for code)")
        handler(build, cell, words[1:])
    unplaced = build.solutions.unplaced()
    if unplaced:
        raise TemplateError(f"{template}: solution code in no 'solution' cell: {', '.join(unplaced)}")
    untested = [check for check in rubric.checks if check not in build.tested]
    if untested:
        raise TemplateError(f"{template}: rubric check(s) in no 'tests' cell: {', '.join(untested)}")
    grade_ids = [cell.metadata["nbgrader"]["grade_id"] for cell in build.cells if "nbgrader" in cell.metadata]
    repeated = sorted({grade_id for grade_id in grade_ids if grade_ids.count(grade_id) > 1})
    if repeated:
        raise TemplateError(f"{template}: grade id(s) given to two cells: {', '.join(repeated)} "
                            "(name a section for each 'manual' cell of an item asked more than once)")
    for index in build.summary_at:
        build.cells[index].source = _summary(build)
    for position, cell in enumerate(build.cells):
        meta = cell.metadata.get("nbgrader")
        cell.id = meta["grade_id"] if meta else f"cell-{position:03d}"
    notebook = new_notebook(cells=build.cells, metadata={"kernelspec": dict(KERNELSPEC),
                                                         "language_info": {"name": "python"}})
    nbformat.validate(notebook)
    return notebook


def notebook_text(notebook: NotebookNode) -> str:
    """The notebook as it is written to disk (nbformat's JSON, with a final newline)."""
    return nbformat.writes(notebook) + "\n"


def write_notebook(solutions: Path = paths.SOLUTIONS, template: Path = TEMPLATE, rubric: Rubric | None = None,
                   notebook: Path = NOTEBOOK) -> Path:
    """Build the notebook and write it to ``notebook`` (folders created); return its path."""
    text = notebook_text(build_notebook(solutions, template, rubric))
    notebook.parent.mkdir(parents=True, exist_ok=True)
    notebook.write_text(text, encoding="utf-8")
    return notebook


def drifted(solutions: Path = paths.SOLUTIONS, template: Path = TEMPLATE, rubric: Rubric | None = None,
            notebook: Path = NOTEBOOK) -> list[str]:
    """``["<notebook> (missing)"]`` or ``["<notebook> (differs)"]`` when the notebook on disk is not a
    fresh build; ``[]`` when it is. The path is shown relative to the repository when it lies in it."""
    shown = notebook.relative_to(paths.ROOT) if notebook.is_relative_to(paths.ROOT) else notebook
    if not notebook.exists():
        return [f"{shown} (missing)"]
    fresh = notebook_text(build_notebook(solutions, template, rubric))
    return [] if notebook.read_text(encoding="utf-8") == fresh else [f"{shown} (differs)"]
