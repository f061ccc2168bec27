"""The student bundle: ``python -m autograder release OUT``.

OUT holds what a student needs to do the lab and check their work without the reference
solutions: skeletons/ (their work), the released notebook (``nbgrader generate_assignment`` of
notebooks/source), the experiments (``python -m experiments``, run on their skeletons), the
grader without the checks graded after the due date (autograder/checks/instructor/hidden.py), golden/ for
the visible checks, a rubric of those checks, the student tests and README (from student/), and
requirements.txt.

The release refuses a rubric whose visibility disagrees with where the checks live: a check of
hidden.py shown before the due date (its code would have to ship), or a check outside hidden.py
kept from students (its code would ship anyway).
"""
from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from autograder import paths
from autograder.i18n import LOCALES, _, speaking
from autograder.rubric import VISIBLE, Rubric, whole
from autograder.tools.localize import translate_markdown, translate_todos
from autograder.tools.record_golden import stale, up_to_date
from autograder.tools.requirements import pinned

HIDDEN_CHECKS_FILE = Path("autograder/checks/instructor/hidden.py")
LEFT_OUT = (paths.INSTRUCTOR_CHECKS, paths.TOOLS)
"""Folders a student copy does without: the hidden checks and the known mistakes' code (their
forwards are the reference's with a line changed, so a student copy holds only their recorded
values, golden/), and the tools that need solutions/."""
STUDENT = paths.ROOT / "student"
REQUIREMENTS = pinned("torch", "torchvision", "numpy", "matplotlib", "pyyaml", "safetensors", "hypothesis",
                      "scikit-learn", "tqdm", "nbformat", "pytest", "jupyterlab", "ipywidgets", "ruff")
"""What the lab, the notebook and the self-check need (scikit-learn: the training checks' digits;
ipywidgets: the training progress bars in the notebook; ruff: the clean-code report)."""
PYTEST_INI = "[pytest]\ntestpaths = tests\npythonpath = .\naddopts = --tb=no -rN\n"
KIT_URL_LINE = re.compile(r'^KIT_URL = ""', re.M)
SOURCE_NOTEBOOK = paths.ROOT / "notebooks" / "source" / "lab3" / "lab3.ipynb"


class ReleaseError(RuntimeError):
    """The bundle cannot be made as asked; the message says why."""


def hidden_check_ids() -> set[str]:
    """The ids registered by hidden.py (empty in a student copy)."""
    from autograder.checks import COMPONENT_MODULES

    return {check_id for module in COMPONENT_MODULES if module.__name__ == "autograder.checks.instructor.hidden"
            for check_id in module.registry.checks}


def release(out: Path, rubric: Rubric, rubric_text: str, check_golden: bool = True, kit_url: str = "",
            language: str = "") -> list[Path]:
    """Write the student bundle into ``out`` (which must be missing or empty); returns its files.

    ``kit_url``: where students will download the bundle as a .zip, written into the released
    notebook's first cell (it fetches the kit on Colab). ``language``: what students read (default:
    the rubric's): the skeletons' TODO comments, the notebook's markdown, the README and, through
    the bundle's rubric, the feedback.
    """
    language = language or rubric.language
    recorded_from_these = up_to_date() and rubric_text == (paths.ROOT / "grading.yml").read_text(encoding="utf-8")
    if language != rubric.language:
        rubric_text = with_language(rubric_text, language)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ReleaseError(f"{out} is not empty; give a new folder")
    _check_visibility(rubric)
    if check_golden and not recorded_from_these:
        print("The sources changed since golden/ was recorded: recording afresh to compare (about a minute)...",
              file=sys.stderr, flush=True)
        problems = stale(rubric)
        if problems:
            raise ReleaseError("golden/ is stale (run `python -m autograder golden`): " + "; ".join(problems[:3]))
    visible = rubric.visible()
    out.mkdir(parents=True, exist_ok=True)
    for source in sorted((paths.ROOT / "autograder").rglob("*.py")):
        if not any(source.is_relative_to(folder) for folder in LEFT_OUT):
            _copy(source, out / source.relative_to(paths.ROOT))
    for source in sorted(LOCALES.rglob("*.mo")):
        _copy(source, out / source.relative_to(paths.ROOT))
    with speaking(language):
        for source in sorted(paths.SKELETONS.glob("*.py")):
            target = out / "skeletons" / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(translate_todos(source.read_text(encoding="utf-8"), _), encoding="utf-8")
    for source in sorted((paths.ROOT / "experiments").glob("*.py")):
        _copy(source, out / "experiments" / source.name)
    for check_id in visible.checks:
        name = f"{check_id}.pt"
        _copy(paths.GOLDEN / name, out / "golden" / name)
    _copy(STUDENT / "test_lab.py", out / "tests" / "test_lab.py")
    _copy(STUDENT / "conftest.py", out / "tests" / "conftest.py")
    readme = STUDENT / ("README.md" if language == "en" else f"README.{language}.md")
    _copy(readme, out / "README.md")
    (out / "grading.yml").write_text(student_rubric_text(rubric_text, rubric), encoding="utf-8")
    (out / "requirements.txt").write_text("\n".join(REQUIREMENTS) + "\n", encoding="utf-8")
    (out / "pytest.ini").write_text(PYTEST_INI, encoding="utf-8")
    if SOURCE_NOTEBOOK.is_file():
        released_notebook(SOURCE_NOTEBOOK, out / "lab3.ipynb", kit_url, language)
    return sorted(path for path in out.rglob("*") if path.is_file())


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def _check_visibility(rubric: Rubric) -> None:
    hidden_code = hidden_check_ids()
    shown_hidden = sorted(c for c in hidden_code if rubric.checks[c].visibility == VISIBLE)
    if shown_hidden:
        raise ReleaseError(f"{', '.join(shown_hidden)}: visible in the rubric, "
                           f"but the code is in {HIDDEN_CHECKS_FILE}, "
                           "which students do not get; make it after_due_date or move it out of that file")
    kept_back = sorted(c for c, rule in rubric.checks.items() if rule.visibility != VISIBLE and c not in hidden_code)
    if kept_back:
        raise ReleaseError(f"{', '.join(kept_back)}: hidden from students in the rubric, but its code ships with "
                           f"the grader; move it into {HIDDEN_CHECKS_FILE} or make it visible")


def student_rubric_text(text: str, rubric: Rubric) -> str:
    """``grading.yml`` with the hidden checks' lines removed and the totals of what is left."""
    hidden = [c for c, rule in rubric.checks.items() if rule.visibility != VISIBLE]
    kept_points = sum(rule.points for rule in rubric.checks.values() if rule.visibility == VISIBLE)
    lines = [line for line in text.splitlines()
             if not any(re.match(rf"\s+{re.escape(c)}\s*:", line) for c in hidden)]
    manual = sum(item.points for item in rubric.manual.values() if not item.bonus)
    replaced = {"code_points": kept_points, "total": kept_points + manual}
    out = []
    for line in lines:
        key = line.split(":", 1)[0]
        out.append(f"{key}: {whole(replaced[key])}" if key in replaced else line)
    header = (f"# Student copy: the {len(rubric.checks) - len(hidden)} visible checks ({whole(kept_points)} of "
              f"{whole(rubric.code_points)} code points); {len(hidden)} more are graded after the due date.\n"
              f"# total: {whole(kept_points + manual)} = these checks and the hand-graded items; the notebook's "
              f"table counts all {whole(rubric.total)} points, those graded after the due date included.\n")
    return header + "\n".join(out) + "\n"


def released_notebook(source: Path, target: Path, kit_url: str = "", language: str = "en") -> None:
    """What ``nbgrader generate_assignment`` makes of ``source``: solutions and hidden tests
    removed, in a throwaway course folder; ``kit_url`` set in the first cell that asks for it, the
    markdown in ``language`` (nbgrader checksums graded cells only, never plain markdown)."""
    import nbformat
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    with tempfile.TemporaryDirectory(prefix="lab3-release-") as course:
        folder = Path(course) / "source" / "lab3"
        folder.mkdir(parents=True)
        shutil.copyfile(source, folder / source.name)
        config = Config()
        config.CourseDirectory.root = course
        config.CourseDirectory.course_id = "lab3"
        config.CourseDirectory.db_url = f"sqlite:///{Path(course) / 'gradebook.db'}"
        # nbgrader runs the `alembic` command of its environment, which need not be on PATH.
        path = os.environ.get("PATH", "")
        os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), path])
        try:
            result = NbGraderAPI(config=config).generate_assignment("lab3", force=True, create=True)
        finally:
            os.environ["PATH"] = path
        made = Path(course) / "release" / "lab3" / source.name
        if not result.get("success") or not made.is_file():
            log = "\n".join(str(result.get("log") or "").splitlines()[-15:])
            raise ReleaseError(f"nbgrader could not release {source}:\n{log}")
        data = nbformat.read(made, as_version=4)
    if kit_url:
        _set_kit_url(data, kit_url, source)
    if language != "en":
        with speaking(language):
            translate_markdown(data, _)
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(data, target)


def with_language(rubric_text: str, language: str) -> str:
    """``grading.yml``'s text with its top-level ``language`` set to ``language``."""
    if re.search(r"^language:", rubric_text, re.M):
        return re.sub(r"^language:.*$", f"language: {language}", rubric_text, count=1, flags=re.M)
    return re.sub(r"^(code_points:.*)$", rf"\1\nlanguage: {language}", rubric_text, count=1, flags=re.M)


def _set_kit_url(data, url: str, source: Path) -> None:
    """Set ``KIT_URL`` in the first code cell of the notebook ``data`` (read from ``source``) that asks for it."""
    cell = next((c for c in data.cells if c.cell_type == "code" and KIT_URL_LINE.search(c.source)), None)
    if cell is None:
        raise ReleaseError(f"{source}: no cell sets KIT_URL, so --kit-url has nowhere to go")
    cell.source = KIT_URL_LINE.sub(lambda m: f"KIT_URL = {url!r}", cell.source, count=1)
