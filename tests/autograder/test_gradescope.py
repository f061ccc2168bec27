"""The Gradescope package: built, unpacked into a folder laid out like Gradescope's /autograder,
and run there on a submission as Gradescope runs it (``run_autograder``)."""
from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder import paths
from autograder.__main__ import main
from autograder.checks import CHECKS
from autograder.gradescope import locate
from autograder.tools.gradescope_package import PACKAGES, REQUIREMENTS

IMPORT_NAMES = {"yaml": "pyyaml", "sklearn": "scikit-learn"}
"""Import name -> the distribution that provides it, where they differ."""


def install(package: Path, root: Path) -> Path:
    """Lay out ``root`` as Gradescope does: the zip in source/, run_autograder copied to the top."""
    with zipfile.ZipFile(package) as archive:
        archive.extractall(root / "source")
    for name in ("setup.sh", "run_autograder"):
        (root / "source" / name).chmod(0o755)  # extractall drops the modes the zip records
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    (root / "submission").mkdir()
    (root / "results").mkdir()
    return root


def run_autograder(root: Path) -> dict:
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "PYTHON": sys.executable}
    done = subprocess.run(["bash", str(root / "run_autograder")], env=env, capture_output=True, text=True,
                          timeout=600, cwd=root)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads((root / "results" / "results.json").read_text())


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    zip_path = tmp_path_factory.mktemp("package") / "gradescope.zip"
    assert main(["gradescope", str(zip_path)]) == 0
    return zip_path


def test_the_package_holds_what_gradescope_runs_and_the_kit_it_needs(package):
    with zipfile.ZipFile(package) as archive:
        names = set(archive.namelist())
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        setup = archive.read("setup.sh").decode()
    assert {"setup.sh", "run_autograder", "requirements.txt", "kit/grading.yml", "kit/autograder/grade.py",
            "kit/autograder/checks/resnet.py", "kit/solutions/vit.py"} <= names
    assert not any(name.startswith("kit/skeletons/") or "__pycache__" in name for name in names)
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111
    assert "/autograder/source/requirements.txt" in setup
    assert subprocess.run(["bash", "-n", "-c", setup]).returncode == 0


def test_the_package_is_the_same_bytes_on_every_build(package, tmp_path):
    again = tmp_path / "again.zip"
    assert main(["gradescope", str(again)]) == 0
    assert again.read_bytes() == package.read_bytes()


def test_requirements_cover_every_package_the_grader_imports(package):
    """Third-party top-level imports of the packed code, by distribution name."""
    imported = set()
    with zipfile.ZipFile(package) as archive:
        sources = [archive.read(name).decode() for name in archive.namelist() if name.endswith(".py")]
    assert len(sources) > 20
    for source in sources:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = {name for name in imported if name not in sys.stdlib_module_names and name not in PACKAGES
                   and name != "_notebook"}  # the module the notebook grader generates
    required = {re.split(r"[=<>!~ ]", line)[0] for line in REQUIREMENTS}
    assert {IMPORT_NAMES.get(name, name) for name in third_party} <= required, third_party


@pytest.mark.slow
def test_the_reference_graded_in_a_gradescope_layout_gets_full_marks_on_the_whole_rubric(package, tmp_path):
    """The reference solutions uploaded as a zip of their folder (so the files sit one folder down):
    every check of grading.yml, the hidden ones too, passes, as the package grades them."""
    root = install(package, tmp_path / "autograder")
    shutil.copytree(paths.SOLUTIONS, root / "submission" / "lab3", ignore=shutil.ignore_patterns("__pycache__"))
    results = run_autograder(root)
    assert len(results["tests"]) == len(CHECKS) + 1 and "Sandbox:" in results["output"]  # and the clean-code report
    failing = {test["name"]: test["output"] for test in results["tests"] if test["score"] < test["max_score"]}
    assert not failing
    assert results["score"] == results["max_score"] == 60.0


def test_an_upload_without_lab_files_gets_a_results_file_saying_so(package, tmp_path):
    root = install(package, tmp_path / "autograder")
    (root / "submission" / "report.pdf").write_bytes(b"%PDF")
    results = run_autograder(root)
    assert results["score"] == 0 and results["max_score"] == 60.0
    assert results["output"].startswith("no submission found: upload resnet.py")
    assert all(test["output"] == results["output"] for test in results["tests"])


def test_what_is_graded_among_the_uploaded_files(tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "resnet.py").write_text("")
    assert locate(flat) == flat
    nested = tmp_path / "nested"
    (nested / "__MACOSX" / "lab").mkdir(parents=True)
    (nested / "__MACOSX" / "lab" / "vit.py").write_text("")
    (nested / "lab").mkdir()
    (nested / "lab" / "vit.py").write_text("")
    assert locate(nested) == nested / "lab"
    notebook = tmp_path / "notebook"
    (notebook / ".ipynb_checkpoints").mkdir(parents=True)
    (notebook / "lab3.ipynb").write_text("{}")
    (notebook / ".ipynb_checkpoints" / "lab3-checkpoint.ipynb").write_text("{}")
    assert locate(notebook) == notebook / "lab3.ipynb"
    (notebook / "other.ipynb").write_text("{}")
    assert locate(notebook) is None  # two notebooks: which one is the lab's cannot be told
