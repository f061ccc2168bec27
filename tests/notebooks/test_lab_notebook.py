"""The lab notebook is built from its template, solutions/ and grading.yml, and stays in sync with them."""
from __future__ import annotations

import ast
import math
import re
import textwrap

import nbformat
import pytest

from autograder import paths
from autograder.rubric import load_rubric
from autograder.tools.lab_notebook import (
    NOTEBOOK,
    TemplateError,
    build_notebook,
    default_rubric,
    drifted,
    write_notebook,
)

CHECK_CALL = re.compile(r'assert_check\("([^"]+)", globals\(\)\)')


@pytest.fixture(scope="module")
def rubric():
    return default_rubric()


@pytest.fixture(scope="module")
def notebook():
    """The committed notebook, as students and nbgrader read it."""
    return nbformat.read(NOTEBOOK, as_version=4)


def nbgrader_cells(notebook, **flags):
    """Cells whose nbgrader metadata has the given flag values."""
    return [cell for cell in notebook.cells
            if "nbgrader" in cell.metadata and all(cell.metadata.nbgrader.get(k) == v for k, v in flags.items())]


def test_committed_notebook_is_a_fresh_build():
    """notebooks/source/lab3/lab3.ipynb equals what `python -m autograder notebook` builds."""
    assert drifted() == []


def test_drift_is_detected(tmp_path, rubric):
    """A missing or edited notebook is reported."""
    target = tmp_path / "lab3.ipynb"
    assert drifted(rubric=rubric, notebook=target) == [f"{target} (missing)"]
    write_notebook(rubric=rubric, notebook=target)
    assert drifted(rubric=rubric, notebook=target) == []
    target.write_text(target.read_text().replace("YOUR ANSWER HERE", "my answer", 1))
    assert drifted(rubric=rubric, notebook=target) == [f"{target} (differs)"]


def test_notebook_is_valid_and_has_no_outputs(notebook):
    """nbformat accepts it; no code cell carries outputs or execution counts; ids are unique."""
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
    ids = [cell.id for cell in notebook.cells]
    assert len(ids) == len(set(ids))
    assert notebook.metadata.kernelspec.name == "python3"


def _non_blank(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("module", ["resnet", "attention", "vit", "gradcam", "profiler"])
def test_solution_cells_hold_the_solution_file(notebook, module):
    """The cells taken from solutions/MODULE.py, in file order, are that file after its docstring."""
    source = (paths.SOLUTIONS / f"{module}.py").read_text(encoding="utf-8")
    docstring_end = ast.parse(source).body[0].end_lineno
    body = _non_blank("\n".join(source.splitlines()[docstring_end:]))
    cells = [cell.source for cell in notebook.cells if cell.cell_type == "code"
             and cell.metadata.get("nbgrader", {}).get("grade_id", "").startswith(module + "-")]
    cells.sort(key=lambda text: body.index(_non_blank(text)[0]))
    assert [line for text in cells for line in _non_blank(text)] == body


def test_every_definition_of_the_solutions_appears_verbatim_once(notebook):
    """Each top-level class and function of solutions/ is in exactly one code cell, character for character."""
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    for path in sorted(paths.SOLUTIONS.glob("*.py")):
        source = path.read_text(encoding="utf-8")
        for node in ast.parse(source).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                segment = ast.get_source_segment(source, node)
                assert sum(segment in text for text in code) == 1, f"{path.name}: {node.name}"


def test_solution_cells_metadata(notebook):
    """Cells with fenced solutions are nbgrader solution cells; the other solution code is read-only."""
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader")
        if cell.cell_type != "code" or meta is None or meta["grade"]:
            continue
        fenced = "### BEGIN SOLUTION" in cell.source
        assert meta == {"grade": False, "grade_id": meta["grade_id"], "locked": not fenced, "schema_version": 3,
                        "solution": fenced}, meta["grade_id"]
    assert len(nbgrader_cells(notebook, solution=True, grade=False)) == 17


def _test_cells(notebook):
    """grade_id -> (visible check ids, hidden check ids, points) of every autograded test cell."""
    cells = {}
    for cell in nbgrader_cells(notebook, grade=True, solution=False):
        assert cell.cell_type == "code"
        assert cell.metadata.nbgrader["locked"] is True and cell.metadata.nbgrader["schema_version"] == 3
        before, hidden_begin, rest = cell.source.partition("### BEGIN HIDDEN TESTS")
        hidden, hidden_end, after = rest.partition("### END HIDDEN TESTS")
        assert bool(hidden_begin) == bool(hidden_end) and not CHECK_CALL.search(after)
        cells[cell.id] = (CHECK_CALL.findall(before), CHECK_CALL.findall(hidden), cell.metadata.nbgrader["points"])
    return cells


def test_every_check_is_in_exactly_one_test_cell(notebook, rubric):
    """Every grading.yml check id appears once; the hidden ones only between the hidden-test markers."""
    cells = _test_cells(notebook)
    seen = [check for visible, hidden, _ in cells.values() for check in visible + hidden]
    assert sorted(seen) == sorted(rubric.checks)
    for visible, hidden, _ in cells.values():
        assert all(rubric.checks[check].visibility == "visible" for check in visible)
        assert all(rubric.checks[check].visibility != "visible" for check in hidden)


def test_test_cell_points_are_the_rubric_sums(notebook, rubric):
    """A test cell is worth the points of its checks; together they are the code points."""
    cells = _test_cells(notebook)
    for grade_id, (visible, hidden, points) in cells.items():
        assert math.isclose(points, math.fsum(rubric.checks[c].points for c in visible + hidden)), grade_id
    assert math.isclose(math.fsum(points for *_, points in cells.values()), rubric.code_points)


def test_manual_cells_share_out_the_manual_items(notebook, rubric):
    """Hand-graded answer cells: nbgrader's markdown solution+grade cells; the report's points are
    split over its sections, the demo has its own; bonus has no cell; everything adds up to the total."""
    manual = nbgrader_cells(notebook, grade=True, solution=True)
    for cell in manual:
        assert cell.cell_type == "markdown"
        assert cell.metadata.nbgrader == {"grade": True, "grade_id": cell.id, "locked": False,
                                          "points": cell.metadata.nbgrader["points"], "schema_version": 3,
                                          "solution": True, "task": False}
    by_item: dict[str, float] = {}
    for cell in manual:
        item = cell.id.split("-")[0]
        by_item[item] = by_item.get(item, 0) + cell.metadata.nbgrader["points"]
    expected = {name: item.points for name, item in rubric.manual.items() if not item.bonus}
    assert by_item.keys() == expected.keys()
    assert all(math.isclose(by_item[name], points) for name, points in expected.items())
    assert len([cell for cell in manual if cell.id.startswith("report-")]) == 5
    graded = math.fsum(cell.metadata.nbgrader["points"] for cell in nbgrader_cells(notebook, grade=True))
    assert math.isclose(graded, rubric.total)


# -- the builder's errors, on a small kit of its own ------------------------------------------------

RUBRIC = """\
total: 5
code_points: 2
tolerances:
  float32: {atol: 1.0e-4, rtol: 1.0e-3}
  float64: {atol: 1.0e-9, rtol: 1.0e-7}
checks:
  a.x.one: {points: 1}
  a.x.two: {points: 1, visibility: after_due_date}
manual:
  report: {points: 2, description: "Report"}
  demo: {points: 1, description: "Demo"}
  bonus: {points: 1, description: "Extra", bonus: true}
"""

SOLUTION = '''\
"""A solution file."""
import torch

K = 3


def f(x):
    """Doc."""
    ### BEGIN SOLUTION
    return x + K
    ### END SOLUTION
'''

TEMPLATE = """\
# The template's own notes.

# %% [markdown]
# # Title
#
# Text.

# %% solution m.imports m.K

# %% solution m.f

# %% tests a.x

# %% manual report one
# Question one?

# %% manual report two
# Question two?

# %% manual demo
# Demo?

# %%
print(f(1))

# %% points
"""


@pytest.fixture
def kit(tmp_path):
    """(solutions folder, template path, rubric) of a small valid kit."""
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    (solutions / "m.py").write_text(SOLUTION)
    (tmp_path / "grading.yml").write_text(RUBRIC)
    rubric = load_rubric(tmp_path / "grading.yml", ["a.x.one", "a.x.two"])
    return solutions, tmp_path / "template.py", rubric


def build(kit, template: str):
    solutions, path, rubric = kit
    path.write_text(textwrap.dedent(template))
    return build_notebook(solutions, path, rubric)


def test_small_template_builds(kit):
    """Markdown, solution, test, manual, code and points cells come out as documented."""
    cells = build(kit, TEMPLATE).cells
    assert [cell.cell_type for cell in cells] == ["markdown", "code", "code", "code", "markdown", "markdown",
                                                  "markdown", "markdown", "markdown", "markdown", "code", "markdown"]
    assert cells[0].source == "# Title\n\nText."
    assert cells[1].source == "import torch\n\nK = 3" and cells[1].metadata.nbgrader["locked"]
    assert cells[2].source == SOLUTION[SOLUTION.index("def f"):].strip() and cells[2].metadata.nbgrader["solution"]
    assert cells[3].source.splitlines()[-3:] == ["### BEGIN HIDDEN TESTS", 'assert_check("a.x.two", globals())',
                                                 "### END HIDDEN TESTS"]
    assert cells[3].metadata.nbgrader["points"] == 2
    assert cells[4].source.startswith("Question one?\n\n*1 point (2 points for the report, split equally")
    assert [cells[i].metadata.nbgrader["points"] for i in (5, 7, 9)] == [1, 1, 1]
    assert [cells[i].id for i in (5, 7, 9)] == ["report-one", "report-two", "demo"]
    assert "| **total** | **5** |" in cells[11].source and "**Bonus** (1 point on top" in cells[11].source


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("# %% points", "# %% pointz", r"template.py:26: unknown directive 'pointz'"),
        ("# %% solution m.f", "# %% solution m.g", r"m.py has no top-level definition 'g'"),
        ("# %% solution m.f", "# %% solution n.f", r"no solution file n.py"),
        ("# %% solution m.imports m.K", "# %% solution m.imports m.f", r"not adjacent in m.py \(K lie"),
        ("# %% solution m.f\n", "# %% solution m.f\nprint(1)\n", r"a 'solution' cell is generated; leave its body"),
        ("# %% solution m.f\n", "# %% solution m.K\n", r"m.K is already placed by the cell at line 8"),
        ("# %% solution m.f\n", "", r"solution code in no 'solution' cell: m.f"),
        ("# %% tests a.x\n", "", r"rubric check\(s\) in no 'tests' cell: a.x.one, a.x.two"),
        ("# %% tests a.x\n", "# %% tests a.y\n", r"no rubric check is a.y or starts with a.y."),
        ("# %% tests a.x\n", "# %% tests a.x.one\n# %% tests a.x\n", r"a.x.one is already tested by the cell"),
        ("# %% manual demo\n# Demo?\n", "", r"manual item\(s\) without a 'manual' cell: demo"),
        ("# %% manual demo", "# %% manual bonus", r"'bonus' is a bonus item; bonus gets no cell"),
        ("# %% manual demo", "# %% manual essay", r"'essay' is not a manual item"),
        ("# %% manual report two", "# %% manual report one", r"grade id\(s\) given to two cells: report-one"),
        ("# %% manual demo\n# Demo?\n", "# %% manual demo\n", r"a 'manual' cell's body is its question; it is empty"),
        ("# Text.", "Text.", r"template.py:6: markdown lines start with '# '"),
        ("# The template's own notes.", "x = 1", r"template.py:1: code before the first"),
    ],
)
def test_template_errors_are_clear(kit, old, new, message):
    """Unknown directives, missing or misplaced definitions, uncovered checks and items fail with the line."""
    assert old in TEMPLATE
    with pytest.raises(TemplateError, match=message):
        build(kit, TEMPLATE.replace(old, new, 1))


def test_name_clashes_between_solution_files_are_refused(kit):
    """Two solution files binding one name differently cannot share the notebook's namespace."""
    solutions, _, _ = kit
    (solutions / "n.py").write_text("K = 4\n")
    with pytest.raises(TemplateError, match=r"'K' is m.K in m.py but n.K in n.py"):
        build(kit, TEMPLATE)


def test_unnameable_statement_is_refused(kit):
    """A top-level statement that is no import, definition or single assignment cannot be placed."""
    solutions, _, _ = kit
    (solutions / "m.py").write_text(SOLUTION + "\nprint(K)\n")
    with pytest.raises(TemplateError, match=r"m.py:13: a top-level statement the template cannot name"):
        build(kit, TEMPLATE)
