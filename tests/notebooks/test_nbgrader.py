"""nbgrader end to end: the source notebook is released, submitted by two students, autograded, exported.

One student hands in the source notebook (the reference solutions): every automatic point, and the
notebook runs top to bottom as a student runs it, experiments included (at smoke size). The other
hands in the released notebook untouched: no point, and autograding still ends normally. Both are
graded in one ``nbgrader autograde`` run (about two minutes on a 2-core CPU) in a temporary course
folder that uses notebooks/nbgrader_config.py.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder import paths
from autograder.tools.lab_notebook import NOTEBOOK, default_rubric

pytestmark = pytest.mark.slow  # end-to-end: left out by ./kit test --fast

pytest.importorskip("nbgrader")

CONFIG = paths.ROOT / "notebooks" / "nbgrader_config.py"
STUDENTS = {"solver": "source", "untouched": "release"}
"""Student id -> which version of the notebook they hand in."""


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the nbgrader command line of this environment in ``course``; fail with its log if it fails."""
    bin_dir = str(Path(sys.executable).parent)  # nbgrader runs `alembic` from PATH
    env = {**os.environ, "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
           "LAB3_SMOKE": "1", "PYTHONPATH": str(paths.ROOT),
           # Small models: one thread is fastest, and spin-waiting threads crawl on a shared 2-core machine.
           "OMP_NUM_THREADS": "1",
           # No user-level Jupyter configuration or kernels: only this environment's.
           "JUPYTER_CONFIG_DIR": str(course / ".jupyter"), "JUPYTER_DATA_DIR": str(course / ".jupyter-data")}
    env.pop("MPLBACKEND", None)
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, f"nbgrader {' '.join(args)} exited {result.returncode}:\n{result.stderr[-5000:]}"
    return result


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course folder after generate_assignment, both submissions, autograde and export."""
    course = tmp_path_factory.mktemp("course")
    (course / "nbgrader_config.py").write_text(f"load_subconfig({str(CONFIG)!r})\n")
    (course / "source" / "lab3").mkdir(parents=True)
    shutil.copy(NOTEBOOK, course / "source" / "lab3" / "lab3.ipynb")
    nbgrader(course, "generate_assignment", "lab3")
    for student, version in STUDENTS.items():
        folder = course / "submitted" / student / "lab3"
        folder.mkdir(parents=True)
        shutil.copy(course / version / "lab3" / "lab3.ipynb", folder / "lab3.ipynb")
    nbgrader(course, "autograde", "lab3")
    nbgrader(course, "export")
    return course


def cells(path: Path) -> dict[str, nbformat.NotebookNode]:
    """grade_id -> cell of every nbgrader cell of the notebook at ``path``."""
    notebook = nbformat.read(path, as_version=4)
    return {c.metadata.nbgrader.grade_id: c for c in notebook.cells if "nbgrader" in c.metadata}


def test_release_hides_solutions_and_hidden_tests(course):
    """The released notebook has stubs for every fenced region, no hidden check, and empty answers."""
    released = cells(course / "release" / "lab3" / "lab3.ipynb")
    original = cells(NOTEBOOK)
    rubric = default_rubric()
    for grade_id, cell in original.items():
        text, out = cell.source, released[grade_id].source
        meta = cell.metadata.nbgrader
        if meta["solution"] and cell.cell_type == "code":
            assert out.count("raise NotImplementedError()") == text.count("### BEGIN SOLUTION"), grade_id
            assert "BEGIN SOLUTION" not in out
        elif meta["solution"]:
            assert out == "YOUR ANSWER HERE"
        elif meta["grade"]:
            hidden = [c for c, rule in rubric.checks.items() if rule.visibility != "visible" and f'"{c}"' in text]
            assert "HIDDEN TESTS" not in out and not any(f'"{c}"' in out for c in hidden), grade_id
        else:
            assert out == text, grade_id
    assert not any("identity = x if self.downsample is None" in cell.source for cell in released.values())


def test_grades_csv_shows_both_students(course):
    """The solutions earn every automatic point, the untouched release none; the maximum is the total."""
    rubric = default_rubric()
    with open(course / "grades.csv", newline="") as file:
        rows = {row["student_id"]: row for row in csv.DictReader(file)}
    assert rows.keys() == STUDENTS.keys()
    assert float(rows["solver"]["score"]) == rubric.code_points, f"cells below full marks: {_lost(course, 'solver')}"
    assert float(rows["untouched"]["score"]) == 0.0
    assert {float(row["max_score"]) for row in rows.values()} == {rubric.total}


def test_autograded_notebooks_ran_the_hidden_tests(course):
    """Autograding put the hidden checks back and ran them: the solver's notebook shows them passing."""
    autograded = cells(course / "autograded" / "solver" / "lab3" / "lab3.ipynb")
    cell = autograded["tests-part1-basic_block"]
    assert "part1.basic_block.skip_path" in cell.source
    assert "part1.basic_block.skip_path" in "".join(o.get("text", "") for o in cell.outputs)
    untouched = cells(course / "autograded" / "untouched" / "lab3" / "lab3.ipynb")
    assert any(o.output_type == "error" and o.ename == "AssertionError"
               for o in untouched["tests-part1-basic_block"].outputs)


def test_the_solvers_notebook_ran_clean_and_every_experiment_drew(course):
    """As a student runs it, top to bottom at smoke size: no cell raised, no test cell wrote to stderr
    (nbgrader scores such a cell 0), and each experiment cell (a plain code cell after the first
    solution cell) showed PNG figures."""
    notebook = nbformat.read(course / "autograded" / "solver" / "lab3" / "lab3.ipynb", as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    errors = {cell.id: [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"] for cell in code}
    assert {cell: found for cell, found in errors.items() if found} == {}
    test_cells = [cell for cell in code if cell.metadata.get("nbgrader", {}).get("grade")]
    assert len(test_cells) == 16
    for cell in test_cells:
        stderr = "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stderr")
        assert not stderr, f"{cell.id}: {stderr[-2000:]}"
    first_solution = next(i for i, cell in enumerate(notebook.cells) if "nbgrader" in cell.metadata)
    experiments = [cell for cell in notebook.cells[first_solution:]
                   if cell.cell_type == "code" and "nbgrader" not in cell.metadata]
    assert [cell.source for cell in experiments] == [
        f'{name.replace("-", "_")}_results = experiment("{name}")'
        for name in ("depth", "gradient-flow", "attention", "vit", "regimes", "profiling", "selection")]
    for cell in experiments:
        images = [o for o in cell.outputs if o.output_type == "display_data" and "image/png" in o.data]
        assert images, f"{cell.source} drew no figure"


def results(course: Path, folder: str, table: str) -> list[dict]:
    """The rows of an experiment's table, as the solver's notebook wrote it (``lab3-results/``)."""
    path = course / "autograded" / "solver" / "lab3" / "lab3-results" / folder / f"{table}.json"
    return json.loads(path.read_text())


def test_the_notebooks_smoke_experiments_learn_what_the_lab_teaches(course):
    """At the real smoke size (the experiments' own tests train less): ResNet-18 learns digits within its
    budget, every ViT configuration learns, and at initialisation a plain stack's gradient grows far more
    towards the input than a residual one's (over seeds 0-5: 7x to 80x at 44 layers)."""
    resnet18 = results(course, "depth-digits-smoke", "depth")[0]
    assert resnet18["depth"] == 18 and resnet18["final_top1"] > 0.9 and resnet18["test_images"] == 360
    assert 0 < resnet18["time_to_target"] <= resnet18["train_seconds"]
    assert 1 <= resnet18["epochs_to_target"] <= resnet18["epochs"]
    assert all(row["top1"] > 0.2 for row in results(course, "vit-digits-smoke", "vit"))  # chance is 0.1
    ratios = {row["variant"]: row["first_over_last_init"]
              for row in results(course, "gradient-flow-digits-smoke", "gradient_flow_ratio")}
    for activation in ("post", "pre"):
        assert ratios[f"plain-{activation}"] > 3 * ratios[f"residual-{activation}"], activation


def _lost(course: Path, student: str) -> dict[str, str]:
    """grade_id -> "score / points" of each automatically graded cell below full marks, for failure messages."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission_notebook("lab3", "lab3", student)
        return {grade.name: f"{grade.auto_score} / {grade.max_score}" for grade in submission.grades
                if grade.cell.cell_type == "code" and grade.auto_score != grade.max_score}
