"""The bundled example submission, ``examples/submission/``, graded with the real ``grading.yml``.

As shipped it holds three marked mistakes (``# DEMO MISTAKE (correct: `CODE`): why``, the line
after the comment being the mistaken one): each must cost points in exactly one check, the one of
the component that holds it, with feedback that names the known alternative; the checks of what is
built on those components pass, judged against a reference with the same mistake. With the three
lines put right it must score full marks, which proves
that the grader accepts its layouts: ``nn.Sequential`` residual branches, separate q/k/v
projections with einsum, an nn.Unfold + nn.Linear patch embedding, SE and CBAM MLPs as 1x1
convolutions, a hooks-based Grad-CAM and a hooks-based FLOP counter.

Both gradings run at once, each through the command line of the README, on one thread per process.
The shipped example's grade is also what the golden files are held to.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import paths
from autograder.checks import CHECKS
from autograder.grade import grade
from autograder.rubric import load_rubric

pytestmark = pytest.mark.slow  # end-to-end: left out by ./kit test --fast

EXAMPLE = paths.ROOT / "examples" / "submission"
MARKER = re.compile(r"^(?P<indent>\s*)# DEMO MISTAKE \(correct: `(?P<code>.+)`\):")
MISTAKEN_FILES = ("gradcam.py", "resnet.py", "vit.py")

EXPECTED_FAILURES = {
    # resnet.py: the bottleneck's stride on its first 1x1 convolution (ResNet v1).
    "part1.bottleneck.numerics": "stride on the first 1x1 convolution (ResNet v1; this lab uses v1.5)",
    # gradcam.py: no ReLU on the weighted sum of the activations.
    "part2.gradcam.numerics": "no ReLU on the weighted sum (Grad-CAM keeps only positive evidence)",
    # vit.py: attention scores scaled by 1/sqrt(embed_dim).
    "part3.mha.numerics": "scores scaled by 1/sqrt(embed_dim) instead of 1/sqrt(head_dim)",
}
"""Check id -> the known alternative its feedback must name."""
JUDGED_WITH_THE_MISTAKE = {
    "part1.bottleneck.gradients": "BottleneckBlock", "part1.bottleneck.skip_path": "BottleneckBlock",
    "part1.bottleneck.attention_placement": "BottleneckBlock", "part1.resnet.numerics": "BottleneckBlock",
    "part3.mha.attention_weights": "MultiHeadAttention", "part3.encoder_block.numerics": "MultiHeadAttention",
    "part3.encoder_block.gradients": "MultiHeadAttention", "part3.vit.numerics": "MultiHeadAttention",
    "part3.vit.gradients": "MultiHeadAttention",
}
"""The checks built on a mistaken component: each passes, judged against a reference with the same
mistake (one mistake, one penalty), and says so."""


def undo_mistakes(source: str) -> tuple[str, int]:
    """``source`` with the code line after each DEMO MISTAKE comment replaced by the correct code
    the comment gives (same indentation); returns it and the number of lines replaced."""
    lines = source.splitlines(keepends=True)
    fixed = 0
    for index, line in enumerate(lines):
        match = MARKER.match(line)
        if match is None:
            continue
        target = index + 1
        while lines[target].lstrip().startswith("#"):  # the comment may go on over several lines
            target += 1
        assert lines[target].strip() != match["code"], f"line {target + 1} already holds the correct code"
        lines[target] = f"{match['indent']}{match['code']}\n"
        fixed += 1
    return "".join(lines), fixed


def start_grading(submission: Path, results: Path, *options: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # the worker inherits it: no OpenMP spin-waiting
    return subprocess.Popen(
        [sys.executable, "-m", "autograder", "grade", str(submission), "--results", str(results), "--device", "cpu",
         *options],
        cwd=paths.ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict[str, dict]:
    """results.json of the example as shipped ("shipped", its checks split across two workers), the same
    with every reference value computed afresh in one worker ("live", where "shipped" replays those
    golden/ holds), and with its mistakes undone ("fixed")."""
    folder = tmp_path_factory.mktemp("example")
    fixed = folder / "fixed"
    shutil.copytree(EXAMPLE, fixed, ignore=shutil.ignore_patterns("__pycache__"))
    for name in MISTAKEN_FILES:
        source, count = undo_mistakes((fixed / name).read_text())
        assert count == 1, f"{name}: expected one DEMO MISTAKE, found {count}"
        (fixed / name).write_text(source)
    runs = {label: (start_grading(path, folder / f"{label}.json", *options), folder / f"{label}.json")
            for label, path, options in (("shipped", EXAMPLE, ("--lanes", "2")),
                                         ("live", EXAMPLE, ("--reference", "live", "--lanes", "1")),
                                         ("fixed", fixed, ()))}
    results = {}
    for label, (process, path) in runs.items():
        output, _ = process.communicate(timeout=600)
        assert process.returncode == 0, f"grading the {label} example failed:\n{output[-3000:]}"
        results[label] = json.loads(path.read_text())
    return results


def test_the_mistakes_are_marked_once_each_in_three_files():
    """One DEMO MISTAKE in each of gradcam.py, resnet.py and vit.py, none in the other files."""
    counts = {path.name: undo_mistakes(path.read_text())[1] for path in sorted(EXAMPLE.glob("*.py"))}
    assert counts == {name: int(name in MISTAKEN_FILES) for name in counts}
    assert set(counts) == {"resnet.py", "attention.py", "vit.py", "gradcam.py", "profiler.py"}


def test_shipped_example_fails_exactly_the_checks_of_its_three_mistakes(graded):
    """Every check outside EXPECTED_FAILURES passes; each expected one fails and names its alternative."""
    tests = {test["name"]: test for test in graded["shipped"]["tests"]}
    failing = {name for name, test in tests.items() if test["status"] != "passed"}
    unexpected = sorted(name for name in failing ^ set(EXPECTED_FAILURES) if name in tests)
    details = "\n\n".join(f"{name} ({tests[name]['status']}):\n{tests[name]['output']}" for name in unexpected)
    assert failing == set(EXPECTED_FAILURES), details
    for name, alternative in EXPECTED_FAILURES.items():
        assert tests[name]["score"] < tests[name]["max_score"]
        assert f"a known alternative: {alternative}" in tests[name]["output"], tests[name]["output"]
    for name, component in JUDGED_WITH_THE_MISTAKE.items():
        assert f"judged against a reference with your {component}'s known mistake" in tests[name]["output"], name


def test_example_with_the_mistakes_undone_scores_full_marks(graded):
    """Its other layouts (names, Sequential branches, q/k/v, Unfold, 1x1 convs, hooks) lose nothing."""
    data = graded["fixed"]
    failing = [f"{test['name']}:\n{test['output']}" for test in data["tests"] if test["status"] != "passed"]
    assert not failing, "\n\n".join(failing)
    code_points = load_rubric(paths.ROOT / "grading.yml", CHECKS).code_points
    assert data["score"] == data["max_score"] == code_points == 60


def live(graded, check_ids) -> list[tuple]:
    """(id, score, feedback) of ``check_ids`` in the command line's live grade of the shipped example."""
    tests = {test["name"]: test for test in graded["live"]["tests"]}
    return [(check_id, tests[check_id]["score"], tests[check_id]["output"]) for check_id in check_ids]


def test_the_grader_replaying_golden_files_grades_as_the_live_reference_does(graded):
    """The instructor's grader takes the reference's values from golden/ where it can, and splits the
    checks across two workers: every check of the whole rubric, hidden ones included, gets the same
    score and feedback as when every value is computed afresh, all in one worker."""
    def checks(data: dict) -> list:
        return [(t["name"], t["score"], t["output"]) for t in data["tests"]]

    assert checks(graded["shipped"]) == checks(graded["live"])


def test_the_golden_files_grade_the_example_as_the_live_reference_does(graded):
    """Replayed from golden/, as a student's copy grades, the visible checks give the example the
    scores and feedback the live reference gave it; grades depend on the code alone, never on the
    time a check took (the training checks count steps), so nothing needs masking."""
    visible = load_rubric(paths.ROOT / "grading.yml", CHECKS).visible()
    replayed = grade(EXAMPLE, visible, "cpu", sandbox="off", reference="replay", style=False)
    assert [(r.id, r.score, r.output) for r in replayed.results] == live(graded, visible.checks)
    assert 0 < sum(r.score for r in replayed.results) < sum(r.max_score for r in replayed.results)  # both paths
