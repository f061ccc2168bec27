"""The Gradescope package: ``python -m autograder gradescope OUT.zip`` builds the zip to upload.

Gradescope's autograder specification: the zip holds ``setup.sh`` (run once, as root, when the
image is built) and ``run_autograder`` (run for each submission) at its top level; it is unpacked
into ``/autograder/source``. ``run_autograder`` calls ``python -m autograder.gradescope run``.

The package carries the grader (``autograder/`` without ``tools/``), the reference solutions and the
rubric (``kit/``), and a ``requirements.txt`` pinned as ``pyproject.toml`` pins them.
"""
from __future__ import annotations

import stat
import zipfile
from pathlib import Path

from autograder import paths
from autograder.tools.requirements import pinned

PACKAGES = ("autograder", "solutions")
"""The kit's packages the package carries (the grader imports the solutions; skeletons are not needed)."""
REQUIREMENTS = pinned("torch", "torchvision", "numpy", "pyyaml", "safetensors", "hypothesis", "scikit-learn",
                      "nbformat", "ruff")
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
            if not relative.is_relative_to(paths.TOOLS.relative_to(paths.ROOT)):  # the grader never imports them
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
