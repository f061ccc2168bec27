"""Grading inside Gradescope's container: what the package's ``run_autograder`` calls.

    python -m autograder.gradescope run [ROOT]

The student's files are in ``ROOT/submission``; the results go to ``ROOT/results/results.json``.
``ROOT`` (default ``/autograder``) stands for Gradescope's folder, so the package can be tried in a
folder laid out the same way. The package itself is built by ``autograder.tools.gradescope_package``.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from autograder import paths
from autograder.runtime.worker import LAB_MODULES


def locate(submission: Path) -> Path | None:
    """What to grade among the uploaded files: the folder holding the lab's .py files (at the top or
    in one subfolder, as a zip of a folder unpacks), else the only notebook; None if neither."""
    candidates = [submission] + sorted(p for p in submission.rglob("*") if p.is_dir() and "__MACOSX" not in p.parts)
    for folder in candidates:
        if any((folder / f"{name}.py").is_file() for name in LAB_MODULES):
            return folder
    notebooks = sorted(p for p in submission.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    return notebooks[0] if len(notebooks) == 1 else None


def run(root: Path) -> int:
    """Grade ``root/submission`` into ``root/results/results.json``; always writes a results file."""
    from autograder.checks import CHECKS
    from autograder.engine.device import resolve_device
    from autograder.grade import grade, ungraded
    from autograder.report import format_report, write_results
    from autograder.rubric import load_rubric

    rubric = load_rubric(paths.ROOT / "grading.yml", CHECKS)
    target = locate(root / "submission")
    start = time.perf_counter()
    if target is None:
        wanted = ", ".join(f"{name}.py" for name in LAB_MODULES)
        message = f"no submission found: upload {wanted}, or exactly one .ipynb notebook"
        graded = ungraded(rubric, message, [message])
    else:
        graded = grade(target, rubric, resolve_device("auto"), reference="auto")
    print(format_report(graded.reported, f"Lab 3 autograder: {target.name if target else 'no submission'}",
                        graded.notes))
    write_results(root / "results" / "results.json", graded.results_json(time.perf_counter() - start))
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] != "run":
        sys.exit("usage: python -m autograder.gradescope run [ROOT]")
    sys.exit(run(Path(sys.argv[2] if len(sys.argv) > 2 else "/autograder")))
