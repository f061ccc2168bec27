"""The kit's own code passes its linter: ruff, pinned in pyproject.toml, with the rules configured there."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from autograder import paths


def ruff() -> str:
    """The ruff installed beside this Python (the pinned one), else the one on PATH."""
    beside = Path(sys.executable).with_name("ruff")
    return str(beside) if beside.exists() else (shutil.which("ruff") or "ruff")


def test_the_kit_passes_ruff_with_its_own_configuration():
    run = subprocess.run([ruff(), "check", "--no-cache", "--output-format", "concise", "."], cwd=paths.ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]


def test_ruff_finds_what_it_is_configured_to_find(tmp_path):
    """The configuration is read (line length 120, import order): a failing file fails."""
    bad = tmp_path / "autograder" / "bad.py"
    bad.parent.mkdir()
    bad.write_text("import sys\nimport os\n\nx = '" + "a" * 130 + "'\n")
    run = subprocess.run([ruff(), "check", "--no-cache", "--output-format", "concise",
                          "--config", str(paths.ROOT / "pyproject.toml"), str(bad)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert "E501" in run.stdout and "I001" in run.stdout and "F401" in run.stdout
