"""Gradescope: build the autograder package, and grade a submission inside Gradescope's container.

    python -m autograder gradescope OUT.zip     # build the package to upload
    python -m autograder.gradescope run [ROOT]  # what the package's run_autograder calls

Gradescope's autograder specification: the zip holds ``setup.sh`` (run once, as root, when the
image is built) and ``run_autograder`` (run for each submission) at its top level; it is unpacked
into ``/autograder/source``; the student's files are in ``/autograder/submission``; the results go
to ``/autograder/results/results.json``. ``ROOT`` (default ``/autograder``) stands for that folder,
so the package can be tried in a folder laid out the same way.

The package carries the grader, the reference solutions and the rubric (``kit/``), and a
``requirements.txt`` pinning torch and torchvision as ``pyproject.toml`` does.
"""
from __future__ import annotations

import stat
import sys
import time
import zipfile
from pathlib import Path

from autograder import paths
from autograder.style import RUFF
from autograder.worker import LAB_MODULES

PACKAGES = ("autograder", "solutions")
"""The kit's packages the package carries (the grader imports the solutions; skeletons are not needed)."""
REQUIREMENTS = ("torch==2.14.1", "torchvision==0.29.1", "numpy", "pyyaml", "safetensors", "hypothesis",
                "scikit-learn", "nbformat", RUFF)
"""What the grader imports or runs beyond the standard library (scikit-learn: the training checks'
digits; ruff: the clean-code report)."""

SETUP_SH = """#!/usr/bin/env bash
# Run once by Gradescope, as root, when it builds the autograder image.
set -euo pipefail
apt-get update
apt-get install -y python3 python3-pip util-linux
# The CPU builds of torch: Gradescope's graders have no GPU.
python3 -m pip install --extra-index-url https://download.pytorch.org/whl/cpu -r /autograder/source/requirements.txt
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Run by Gradescope for each submission: grade /autograder/submission into /autograder/results/results.json.
cd "${AUTOGRADER_ROOT:-/autograder}/source/kit"
exec "${PYTHON:-python3}" -m autograder.gradescope run "${AUTOGRADER_ROOT:-/autograder}"
"""


def build(zip_path: Path) -> list[str]:
    """Write the package to ``zip_path``; returns the names it holds."""
    files: dict[str, bytes] = {
        "setup.sh": SETUP_SH.encode(),
        "run_autograder": RUN_AUTOGRADER.encode(),
        "requirements.txt": ("\n".join(REQUIREMENTS) + "\n").encode(),
        "kit/grading.yml": (paths.ROOT / "grading.yml").read_bytes(),
    }
    for package in PACKAGES:
        for source in sorted([*(paths.ROOT / package).rglob("*.py"), *(paths.ROOT / package).rglob("*.mo")]):
            relative = source.relative_to(paths.ROOT)
            if relative not in paths.INSTRUCTOR_TOOLS:  # the grader never imports them
                files[f"kit/{relative.as_posix()}"] = source.read_bytes()
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))  # the same bytes on every build
            executable = name in ("setup.sh", "run_autograder")
            info.external_attr = ((stat.S_IFREG | (0o755 if executable else 0o644)) << 16)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return list(files)


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
    from autograder.grade import grade, resolve_device, ungraded
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
        graded = grade(target, rubric, resolve_device("auto"))
    print(format_report(graded.reported, f"Lab 3 autograder: {target.name if target else 'no submission'}", graded.notes))
    write_results(root / "results" / "results.json", graded.results_json(time.perf_counter() - start))
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] != "run":
        sys.exit("usage: python -m autograder.gradescope run [ROOT]")
    sys.exit(run(Path(sys.argv[2] if len(sys.argv) > 2 else "/autograder")))
