"""The student bundle: what it holds, what it must never hold, and that it works without solutions/.

The bundle is written once (``release``). Its tests and ``check`` command then run in subprocesses
from inside it, with ``import solutions`` made to fail, on the skeletons (every check fails, saying
"not implemented yet") and on a copy of the reference files (every visible check passes).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder import paths
from autograder.checks import CHECKS
from autograder.checks.instructor.hidden import registry as hidden_registry
from autograder.rubric import load_rubric
from autograder.tools.release import ReleaseError, release, student_rubric_text
from autograder.tools.skeletons import BEGIN, END

RUBRIC_TEXT = (paths.ROOT / "grading.yml").read_text(encoding="utf-8")
RUBRIC = load_rubric(paths.ROOT / "grading.yml", CHECKS)
VISIBLE = [c for c, rule in RUBRIC.checks.items() if rule.visibility == "visible"]
KIT_URL = "https://example.org/lab3-student.zip"
LAB_FILES = ("resnet.py", "attention.py", "vit.py", "gradcam.py", "profiler.py")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("release") / "lab3"
    release(out, RUBRIC, RUBRIC_TEXT, check_golden=False, kit_url=KIT_URL)  # test_golden.py checks golden/
    return out


@pytest.fixture(scope="module")
def no_solutions(tmp_path_factory) -> dict:
    """An environment in which ``import solutions`` fails (the kit itself may be pip-installed)."""
    blocker = tmp_path_factory.mktemp("blocker")
    (blocker / "solutions").mkdir()
    (blocker / "solutions" / "__init__.py").write_text('raise ImportError("a student bundle has no solutions")\n')
    return {**os.environ, "PYTHONPATH": str(blocker), "OMP_NUM_THREADS": "2"}


def texts(folder: Path) -> dict[Path, str]:
    return {p: p.read_text(encoding="utf-8", errors="replace") for p in folder.rglob("*")
            if p.is_file() and p.suffix in (".py", ".ipynb", ".md", ".yml", ".txt", ".ini")}


def fenced_lines() -> set[str]:
    """Lines of the reference's solution regions found nowhere else: not outside the regions, not in
    the kit's own code (``start = time.perf_counter()`` is no secret)."""
    fenced, outside = set(), set()
    for name in LAB_FILES:
        inside = False
        for line in (paths.SOLUTIONS / name).read_text(encoding="utf-8").splitlines():
            stripped = line.strip()
            if stripped.startswith(BEGIN) or stripped.startswith(END):
                inside = stripped.startswith(BEGIN)
                continue
            (fenced if inside else outside).add(stripped)
    kit_code = [*(paths.ROOT / "autograder").rglob("*.py"), *(paths.ROOT / "experiments").glob("*.py"),
                paths.ROOT / "notebooks" / "lab3.py"]
    for source in kit_code:
        outside.update(line.strip() for line in source.read_text(encoding="utf-8").splitlines())
    return {line for line in fenced - outside if len(line) >= 25 and not line.startswith("#")}


def test_the_bundle_holds_what_a_student_needs(bundle):
    for name in ("README.md", "requirements.txt", "grading.yml", "pytest.ini", "lab3.ipynb", "tests/test_lab.py",
                 "autograder/__main__.py", "autograder/checks/golden.py", "autograder/selfcheck.py",
                 "experiments/__main__.py", "experiments/train.py"):
        assert (bundle / name).is_file(), name
    assert sorted(p.name for p in (bundle / "skeletons").glob("*.py")) == sorted(LAB_FILES + ("__init__.py",))
    assert sorted(p.stem for p in (bundle / "golden").glob("*.pt")) == sorted(VISIBLE)
    first_code = next(cell for cell in nbformat.read(bundle / "lab3.ipynb", as_version=4).cells
                      if cell.cell_type == "code")
    assert f"KIT_URL = {KIT_URL!r}" in first_code.source
    requirements = (bundle / "requirements.txt").read_text()
    assert "torch==2.14.1" in requirements and "torchvision==0.29.1" in requirements


def test_the_bundle_has_no_solution_code(bundle):
    lines = fenced_lines()
    assert len(lines) > 100
    assert not (bundle / "solutions").exists() and not (bundle / "examples").exists()
    found = [(p.relative_to(bundle), line) for p, text in texts(bundle).items() for line in lines if line in text]
    assert found == []


def _code(line: str) -> str:
    """A line's code: stripped, its comment cut off (a line that starts as a string kept whole)."""
    stripped = line.strip()
    return stripped if stripped.startswith(("'", '"')) else stripped.split("#", 1)[0].strip()


def fenced_regions() -> list[tuple[str, list[str]]]:
    """(file, code lines) of every fenced region of the solutions with 3 lines of code or more."""
    regions = []
    for name in LAB_FILES:
        inside, current = False, []
        for line in (paths.SOLUTIONS / name).read_text(encoding="utf-8").splitlines():
            stripped = line.strip()
            if stripped.startswith(BEGIN):
                inside, current = True, []
            elif stripped.startswith(END):
                inside = False
                code = [c for c in map(_code, current) if c]
                if len(code) >= 3:
                    regions.append((name, code))
            elif inside:
                current.append(line)
    return regions


def near_solutions(folder: Path) -> list[tuple[str, str, str]]:
    """(file, solution file, first line) of every run of code lines in ``folder``'s Python files
    that equals a fenced region with at most one line changed (two of the kept lines substantial)."""
    found = []
    regions = fenced_regions()
    for path in sorted(folder.rglob("*.py")):
        lines = [c for c in map(_code, path.read_text(encoding="utf-8", errors="replace").splitlines()) if c]
        for name, region in regions:
            size = len(region)
            for start in range(len(lines) - size + 1):
                window = lines[start:start + size]
                if window[0] != region[0] and window[1] != region[1]:
                    continue
                kept = [a for a, b in zip(window, region) if a == b]
                if len(kept) >= size - 1 and sum(len(a) >= 12 for a in kept) >= 2:
                    found.append((str(path.relative_to(folder)), name, region[0]))
    return found


def test_the_bundle_has_no_near_solution_code(bundle, tmp_path):
    assert len(fenced_regions()) > 25
    assert near_solutions(bundle) == []
    changed = tmp_path / "changed"
    changed.mkdir()
    source = (paths.SOLUTIONS / "vit.py").read_text(encoding="utf-8")
    (changed / "vit.py").write_text(source.replace("self.scale = self.head_dim**-0.5", "self.scale = 1.0"))
    assert ("vit.py", "vit.py", "self.scale = self.head_dim**-0.5") in near_solutions(changed)


def test_the_bundle_has_no_hidden_check(bundle):
    hidden = sorted(hidden_registry.checks)
    assert hidden == sorted(c for c in RUBRIC.checks if c not in VISIBLE)
    assert not (bundle / "autograder" / "checks" / "instructor").exists()  # hidden checks, the known mistakes' code
    assert not (bundle / "autograder" / "tools").exists()
    source = (paths.ROOT / "autograder" / "checks" / "instructor" / "hidden.py").read_text()
    names = re.findall(r"^def (\w+)", source, re.M) + ["zero_branch"]
    found = [(p.relative_to(bundle), word) for p, text in texts(bundle).items() for word in hidden + names
             if word in text]
    assert found == []


def test_the_student_rubric_scores_the_visible_checks(bundle):
    text = (bundle / "grading.yml").read_text()
    rubric = load_rubric(bundle / "grading.yml", VISIBLE)
    assert list(rubric.checks) == VISIBLE and rubric.code_points == sum(RUBRIC.checks[c].points for c in VISIBLE)
    assert rubric.total == rubric.code_points + 40 and text == student_rubric_text(RUBRIC_TEXT, RUBRIC)


def run(command: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *command], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_student_tests_fail_on_the_skeletons_and_pass_on_finished_work(bundle, no_solutions, tmp_path):
    unfinished = run(["-m", "pytest", "-p", "no:cacheprovider"], bundle, no_solutions)
    assert unfinished.returncode == 1, unfinished.stdout[-2000:] + unfinished.stderr[-2000:]
    assert f"{len(VISIBLE)} failed" in unfinished.stdout and "not implemented yet" in unfinished.stdout
    lines = unfinished.stdout.splitlines()
    assert sorted(line.split(":")[0] for line in lines if line.startswith("FAIL ")) == sorted(
        f"FAIL {c}" for c in VISIBLE)
    assert len(lines) < len(VISIBLE) + 15 and "CheckResult(" not in unfinished.stdout  # a line per failing check
    finished = tmp_path / "work"
    finished.mkdir()
    for name in LAB_FILES:
        shutil.copyfile(paths.SOLUTIONS / name, finished / name)
    done = run(["-m", "pytest", "-p", "no:cacheprovider"], bundle, {**no_solutions, "LAB3_WORK": str(finished)})
    assert done.returncode == 0 and f"{len(VISIBLE)} passed" in done.stdout, done.stdout[-3000:]


@pytest.mark.slow
def test_the_check_command_reports_the_visible_checks_of_the_released_notebook(bundle, no_solutions):
    checked = run(["-m", "autograder", "check", "lab3.ipynb"], bundle, no_solutions)
    assert checked.returncode == 0, checked.stderr[-2000:]
    assert f"Total: 0.00 / {sum(RUBRIC.checks[c].points for c in VISIBLE):.2f}" in checked.stdout
    assert "not implemented yet" in checked.stdout and "checks run when instructors grade" in checked.stdout
    assert "No module named" not in checked.stdout and "Sandbox: off" not in checked.stdout


def test_a_rubric_that_disagrees_with_where_checks_live_is_refused(tmp_path):
    shown = RUBRIC_TEXT.replace("part1.basic_block.skip_path: {points: 0.5, visibility: after_due_date}",
                                "part1.basic_block.skip_path: {points: 0.5}")
    kept_back = RUBRIC_TEXT.replace("part2.se.gate: {points: 1}", "part2.se.gate: {points: 1, visibility: hidden}")
    assert shown != RUBRIC_TEXT and kept_back != RUBRIC_TEXT
    for text, message in ((shown, "visible in the rubric, but the code is in"), (kept_back, "hidden from students")):
        rubric_file = tmp_path / "grading.yml"
        rubric_file.write_text(text)
        with pytest.raises(ReleaseError, match=message):
            release(tmp_path / "out", load_rubric(rubric_file, CHECKS), text, check_golden=False)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(ReleaseError, match="not empty"):
        release(tmp_path / "full", RUBRIC, RUBRIC_TEXT, check_golden=False)


def test_release_records_golden_afresh_only_when_its_sources_changed(tmp_path, monkeypatch):
    import autograder.tools.release as releasing

    recorded = []
    monkeypatch.setattr(releasing, "stale", lambda rubric: recorded.append(rubric) or [])
    monkeypatch.setattr(releasing, "released_notebook", lambda *args: None)  # nbgrader: tested above
    monkeypatch.setattr(releasing, "up_to_date", lambda: True)
    release(tmp_path / "same", RUBRIC, RUBRIC_TEXT)
    assert recorded == []
    release(tmp_path / "other_rubric", RUBRIC, RUBRIC_TEXT + "\n# changed\n")
    assert len(recorded) == 1
    monkeypatch.setattr(releasing, "up_to_date", lambda: False)
    monkeypatch.setattr(releasing, "stale", lambda rubric: ["part3.vit.numerics.pt: 'x' differs"])
    with pytest.raises(ReleaseError, match="golden/ is stale .*part3.vit.numerics"):
        release(tmp_path / "changed", RUBRIC, RUBRIC_TEXT)


def finished_work(folder: Path, marker: Path) -> Path:
    """The reference's files as a student's finished work; its resnet.py prints, and leaves
    ``marker`` behind, when imported."""
    folder.mkdir()
    for name in LAB_FILES:
        shutil.copyfile(paths.SOLUTIONS / name, folder / name)
    with (folder / "resnet.py").open("a", encoding="utf-8") as resnet:
        resnet.write(f"\nprint('debug: resnet imported')\nopen({str(marker)!r}, 'w').close()\n")
    with (folder / "vit.py").open("a", encoding="utf-8") as vit:
        vit.write("\nprint('debug: vit imported')\n")
    return folder


@pytest.mark.slow
def test_pytest_k_and_check_only_grade_just_the_chosen_checks(bundle, no_solutions, tmp_path):
    marker = tmp_path / "resnet-was-imported"
    work = finished_work(tmp_path / "work", marker)
    chosen = run(["-m", "pytest", "-p", "no:cacheprovider", "-k", "mha"], bundle,
                 {**no_solutions, "LAB3_WORK": str(work)})
    mha = [c for c in VISIBLE if c.startswith("part3.mha.")]
    assert chosen.returncode == 0 and f"{len(mha)} passed" in chosen.stdout, chosen.stdout[-2000:]
    assert not marker.exists()  # resnet.py was never imported: only the MHA checks ran
    checked = run(["-m", "autograder", "check", str(work), "--only", "part3.mha", "--progress"], bundle, no_solutions)
    assert checked.returncode == 0, checked.stderr[-2000:]
    assert sorted(re.findall(r"\[PASS\]\s+\S+\s+(\S+)", checked.stdout)) == sorted(mha) and not marker.exists()
    assert "| debug: vit imported" in checked.stdout  # the student's prints, marked as theirs
    assert len(re.findall(r"^\[\s*\d+/5\] PASS", checked.stderr, re.M)) == 5  # a progress line per check
    profiled = run(["-m", "autograder", "check", str(work), "--only", "part4.profiler.memory"], bundle, no_solutions)
    # torch's profiler kept quiet
    assert "[PASS]" in profiled.stdout and "USDT" not in profiled.stderr + profiled.stdout
    assert "gpuGetDeviceCount" not in profiled.stderr + profiled.stdout
    wrong = run(["-m", "autograder", "check", str(work), "--only", "mha_typo"], bundle, no_solutions)
    assert wrong.returncode == 2 and "picks no check" in wrong.stderr and "part3.mha" in wrong.stderr


@pytest.mark.slow
def test_the_student_copy_offers_only_what_works_there(bundle, no_solutions):
    shown = run(["-m", "autograder", "--help"], bundle, no_solutions)
    assert shown.returncode == 0 and "{check}" in shown.stdout and "student copy" in shown.stdout
    refused = run(["-m", "autograder", "grade", "skeletons"], bundle, no_solutions)
    assert refused.returncode == 2 and "invalid choice: 'grade'" in refused.stderr
    assert not (bundle / "autograder" / "model_table.py").exists()


@pytest.mark.slow
def test_the_notebooks_first_cell_installs_the_bundle_as_colab_runs_it(bundle, no_solutions, tmp_path):
    """The released notebook's first cell, run where ``google.colab`` imports (as on Colab), with its
    KIT_URL pointing at the zipped bundle served over HTTP: it unpacks the kit, installs the bundle's
    requirements.txt (but torch, torchvision and Jupyter, which Colab has), and the test cells'
    import then finds the kit it unpacked."""
    import http.server
    import threading

    site = tmp_path / "site"
    shutil.make_archive(str(site / "lab3-student"), "zip", root_dir=bundle.parent, base_dir=bundle.name)
    fake = tmp_path / "fake" / "google"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "colab.py").write_text("")  # what makes the cell believe it runs on Colab
    handler = lambda *args: http.server.SimpleHTTPRequestHandler(*args, directory=str(site))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/lab3-student.zip"
        first = next(c for c in nbformat.read(bundle / "lab3.ipynb", as_version=4).cells if c.cell_type == "code")
        cell = first.source.replace(f"KIT_URL = {KIT_URL!r}", f"KIT_URL = {url!r}")
        assert url in cell
        program = cell + ("\nfrom autograder.selfcheck import assert_check\nimport autograder\n"
                          "print('KIT', autograder.__file__)\n")
        content = tmp_path / "content"
        content.mkdir()
        env = {**no_solutions, "PYTHONPATH": os.pathsep.join([str(fake.parent), no_solutions["PYTHONPATH"]]),
               "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        ran = subprocess.run([sys.executable, "-c", program], cwd=content, env=env, capture_output=True, text=True,
                             timeout=300)
    finally:
        server.shutdown()
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    kit = content / "lab3-kit" / bundle.name
    assert f"KIT {kit / 'autograder' / '__init__.py'}" in ran.stdout
    assert (kit / "requirements.txt").is_file() and (kit / "golden").is_dir()


@pytest.mark.slow
def test_a_spanish_release_speaks_spanish_where_students_read(tmp_path, no_solutions):
    out = tmp_path / "es"
    release(out, RUBRIC, RUBRIC_TEXT, check_golden=False, language="es")
    assert re.search(r"^language: es$", (out / "grading.yml").read_text(encoding="utf-8"), re.M)
    assert (out / "README.md").read_text(encoding="utf-8") == (
        paths.ROOT / "student" / "README.es.md").read_text(encoding="utf-8")
    english = (paths.SKELETONS / "vit.py").read_text(encoding="utf-8")
    spanish = (out / "skeletons" / "vit.py").read_text(encoding="utf-8")
    assert spanish != english and spanish.count("# TODO: ") == english.count("# TODO: ")
    assert "class MultiHeadAttention(nn.Module):" in spanish and "raise NotImplementedError()" in spanish
    released = nbformat.read(out / "lab3.ipynb", as_version=4)
    markdown = "\n".join(c.source for c in released.cells if c.cell_type == "markdown")
    assert "Parte 1" in markdown and "You will implement" not in markdown
    course = {name: value for name, value in no_solutions.items() if name != "LAB3_LANG"}  # the bundle's language
    checked = run(["-m", "autograder", "check", "--only", "part3.mha.shapes"], out, course)
    assert checked.returncode == 0 and "3.2 Autoatención Multi-Cabeza" in checked.stdout, checked.stderr[-2000:]
    assert "not implemented yet" not in checked.stdout and "See the slides" not in checked.stdout
    tested = run(["-m", "pytest", "-p", "no:cacheprovider", "-k", "mha.shapes"], out, course)
    assert (tested.returncode == 1 and "FAIL part3.mha.shapes" in tested.stdout
            and "not implemented yet" not in tested.stdout)
