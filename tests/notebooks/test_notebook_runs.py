"""The source notebook (the reference solutions) runs top to bottom in a kernel, as students run it.

With ``LAB3_SMOKE=1`` the experiments take their smoke-test sizes; the test cells run the rubric's
checks in the kernel against the notebook's own definitions (about a minute on a 2-core CPU).
"""
from __future__ import annotations

import shutil
import sys

import nbformat
import pytest

from autograder import paths
from autograder.lab_notebook import NOTEBOOK

nbclient = pytest.importorskip("nbclient")


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The source notebook after a run in a fresh kernel of this Python, plus a cell naming that Python."""
    folder = tmp_path_factory.mktemp("run")
    shutil.copy(NOTEBOOK, folder / NOTEBOOK.name)
    notebook = nbformat.read(folder / NOTEBOOK.name, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("import sys\nprint(sys.executable)"))
    with pytest.MonkeyPatch.context() as env:  # the kernel inherits this process's environment
        env.setenv("LAB3_SMOKE", "1")
        env.setenv("PYTHONPATH", str(paths.ROOT))
        # Small models: one thread is fastest, and spin-waiting threads crawl on a shared 2-core machine.
        env.setenv("OMP_NUM_THREADS", "1")
        env.delenv("MPLBACKEND", raising=False)  # the inline backend, which sends figures as PNG outputs
        client = nbclient.NotebookClient(
            notebook, kernel_name="python3", timeout=600, allow_errors=True,
            # As notebooks/nbgrader_config.py: C libraries' own stderr lines stay out of the cells.
            extra_arguments=["--IPKernelApp.capture_fd_output=False"],
            resources={"metadata": {"path": str(folder)}},
        )
        client.execute()
    return notebook


def _errors(cell) -> list[str]:
    return [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]


def test_the_notebook_runs_in_this_python(executed):
    """The kernel is this environment's Python, and no cell raises."""
    assert executed.cells[-1].outputs[0].text.strip() == sys.executable
    failed = {cell.id: _errors(cell) for cell in executed.cells if cell.cell_type == "code" and _errors(cell)}
    assert failed == {}


def test_every_test_cell_passes_on_the_solutions(executed):
    """Each autograded test cell runs without an error and writes nothing to stderr (nbgrader scores
    a test cell 0 for either)."""
    test_cells = [cell for cell in executed.cells if cell.metadata.get("nbgrader", {}).get("grade")
                  and cell.cell_type == "code"]
    assert len(test_cells) == 16
    for cell in test_cells:
        stderr = "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stderr")
        assert not _errors(cell) and not stderr, f"{cell.id}: {_errors(cell)} {stderr[-2000:]}"


def test_experiments_draw_their_figures(executed):
    """Every experiment (a plain code cell after the set-up, which precedes the first solution code)
    draws a PNG figure."""
    first_solution = next(i for i, cell in enumerate(executed.cells) if "nbgrader" in cell.metadata)
    experiments = [cell for cell in executed.cells[first_solution:-1]
                   if cell.cell_type == "code" and "nbgrader" not in cell.metadata]
    assert len(experiments) == 7
    for cell in experiments:
        images = [o for o in cell.outputs if o.output_type == "display_data" and "image/png" in o.data]
        assert images, f"{cell.id} drew no figure"
