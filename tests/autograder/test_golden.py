"""Golden files: the reference's values for the visible checks, replayed where solutions/ is absent.

The committed golden/ must equal a fresh recording (within float rounding), a tampered copy must be
reported, and grading with replayed values must give exactly the grade and feedback of grading with
the live reference: checked on the example submission, whose mistakes exercise the failure paths.
"""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import torch

from autograder import paths
from autograder.checks import CHECKS, golden
from autograder.grade import grade
from autograder.rubric import load_rubric
from autograder.tools.record_golden import compare, record, same

RUBRIC = load_rubric(paths.ROOT / "grading.yml", CHECKS)
VISIBLE = RUBRIC.visible()


ROUNDED = "part3.encoder_block.numerics"
TAMPERED = "part3.mha.shapes"


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> Path:
    """A fresh recording, made over a copy of golden/ in which ROUNDED was moved by float rounding
    and TAMPERED changed (see test_recording_again_keeps_the_files_whose_values_are_the_same)."""
    folder = tmp_path_factory.mktemp("golden") / "golden"
    shutil.copytree(paths.GOLDEN, folder)
    values = golden.load(ROUNDED, folder)
    key = next(k for k in values if k.endswith("output in float32"))
    values[key] = values[key] + 1e-7 * float(values[key].abs().max())
    golden.golden_path(ROUNDED, folder).write_bytes(golden.dumps(values))
    golden.golden_path(TAMPERED, folder).write_bytes(golden.dumps({"tampered": 1}))
    (folder / "rounded.bytes").write_bytes(golden.golden_path(ROUNDED, folder).read_bytes())
    record(RUBRIC, folder)
    return folder


@pytest.mark.slow
def test_the_committed_golden_files_equal_a_fresh_recording(fresh):
    assert compare(fresh, paths.GOLDEN, RUBRIC) == []
    assert sorted(p.stem for p in paths.GOLDEN.glob("*.pt")) == sorted(VISIBLE.checks)


def test_golden_files_are_small_and_hold_no_hidden_check():
    sizes = [p.stat().st_size for p in paths.GOLDEN.glob("*.pt")]
    assert sum(sizes) < 2 << 20 and max(sizes) < 256 << 10
    hidden = [c for c, rule in RUBRIC.checks.items() if rule.visibility != "visible"]
    assert hidden and not any(golden.golden_path(c).exists() for c in hidden)


@pytest.mark.slow
def test_a_changed_missing_or_extra_golden_file_is_reported(fresh, tmp_path):
    kept = tmp_path / "golden"
    shutil.copytree(fresh, kept)
    values = golden.load("part1.basic_block.numerics", kept)
    key = next(k for k, v in values.items() if k.endswith("output in float64"))
    values[key] = values[key] * 1.001
    golden.golden_path("part1.basic_block.numerics", kept).write_bytes(golden.dumps(values))
    golden.golden_path("part3.mha.shapes", kept).unlink()
    (kept / "part9.unknown.pt").write_bytes(golden.dumps({}))
    problems = compare(fresh, kept, RUBRIC)
    assert f"part1.basic_block.numerics.pt: {key!r} differs" in problems
    assert "part3.mha.shapes.pt: missing" in problems
    assert "part9.unknown.pt: no check of the rubric records it" in problems
    assert len(problems) == 3


def test_a_value_missing_from_the_golden_files_scores_zero_and_says_why(tmp_path):
    one = dataclasses.replace(RUBRIC, checks={"part2.se.numerics": RUBRIC.checks["part2.se.numerics"]})
    graded = grade(paths.SOLUTIONS, one, "cpu", sandbox="off", reference="replay", golden_folder=tmp_path)
    (result,) = graded.results
    assert result.score == 0 and "no golden file for part2.se.numerics" in result.output
    golden.golden_path("part2.se.numerics", tmp_path).write_bytes(golden.dumps({}))
    (result,) = grade(paths.SOLUTIONS, one, "cpu", sandbox="off", reference="replay", golden_folder=tmp_path).results
    assert result.score == 0 and "older than the kit's checks" in result.output


def test_values_are_the_same_within_float_rounding_only():
    x = torch.linspace(-3, 3, 50, dtype=torch.float64)
    assert same({"a": (x, 3, "s")}, {"a": (x * (1 + 1e-9), 3, "s")})
    assert not same({"a": (x, 3)}, {"a": (x * (1 + 1e-3), 3)})
    assert not same((x, 3), [x, 3])
    assert not same(3, 4) and same(0.1 + 0.2, 0.3) and not same(1.0, 1.1)
    assert not same(x, x.float()) and not same(x, x[:-1])
    assert not same(torch.tensor([1, 2]), torch.tensor([1, 3]))


def _rounded_elsewhere(value, generator: torch.Generator):
    """``value`` as another CPU might compute it: every float32 value moved by up to 3e-7 of its
    tensor's largest value (twice the largest difference measured on an AMD EPYC, 1.2e-6 on outputs
    up to 8.4), float64 ones by 1e-13, floats of a list by 3e-7 of the list's largest."""
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        size = 3e-7 if value.dtype == torch.float32 else 1e-13
        noise = (torch.rand(value.shape, generator=generator, dtype=torch.float64) * 2 - 1).to(value.dtype)
        return value + noise * size * float(value.abs().max())
    if isinstance(value, list) and value and all(isinstance(v, float) for v in value):
        scale = max(abs(v) for v in value)
        return [v + (float(torch.rand((), generator=generator)) * 2 - 1) * 3e-7 * scale for v in value]
    if isinstance(value, (list, tuple)):
        return type(value)(_rounded_elsewhere(v, generator) for v in value)
    if isinstance(value, dict):
        return {k: _rounded_elsewhere(v, generator) for k, v in value.items()}
    return value


@pytest.mark.slow
def test_another_cpus_rounding_is_not_a_stale_golden_file(fresh, tmp_path):
    kept = tmp_path / "golden"
    shutil.copytree(fresh, kept)
    generator = torch.Generator().manual_seed(0)
    moved = 0
    for check_id in VISIBLE.checks:
        values = golden.load(check_id, kept)
        elsewhere = _rounded_elsewhere(values, generator)
        moved += sum(1 for k, v in values.items()
                     if isinstance(v, torch.Tensor) and v.is_floating_point() and not torch.equal(v, elsewhere[k]))
        golden.golden_path(check_id, kept).write_bytes(golden.dumps(elsewhere))
    assert moved > 100  # the perturbation reached the recorded outputs
    assert compare(fresh, kept, RUBRIC) == []


def test_the_fingerprints_of_a_sum_near_zero_match_across_cpus():
    from autograder.checks.fingerprints import _same

    assert _same([1.3e-5, 812.5], [1.3e-5 + 1.2e-6, 812.5 * (1 + 1e-7)])
    assert not _same([1.3e-5, 812.5], [1.3e-5, 812.5 * (1 + 1e-3)])
    assert not _same([0.9, 812.5], [1.9, 812.5])


def test_golden_records_the_sources_it_came_from(tmp_path):
    from autograder.tools.record_golden import SOURCES_FILE, sources_digest, up_to_date

    assert up_to_date(), "golden/ was recorded from other sources: run `python -m autograder golden`"
    digest = sources_digest()
    assert "solutions/vit.py" in digest and "grading.yml" in digest and "autograder/checks/vit.py" in digest
    root = tmp_path / "kit"
    for path in ("solutions", "autograder", "grading.yml"):
        (shutil.copytree if (paths.ROOT / path).is_dir() else shutil.copyfile)(paths.ROOT / path, root / path)
    (root / "golden").mkdir()
    (root / "golden" / SOURCES_FILE).write_text(digest, encoding="utf-8")
    assert up_to_date(root / "golden", root)
    with (root / "autograder" / "grade.py").open("a", encoding="utf-8") as changed:
        changed.write("\n# a change outside what computes the reference's values\n")
    assert up_to_date(root / "golden", root)
    for source in ("solutions/vit.py", "autograder/checks/instructor/hidden.py"):
        with (root / source).open("a", encoding="utf-8") as changed:
            changed.write("\n# a change\n")
        assert not up_to_date(root / "golden", root)
        (root / "golden" / SOURCES_FILE).write_text(sources_digest(root), encoding="utf-8")


@pytest.mark.slow
def test_recording_again_keeps_the_files_whose_values_are_the_same(fresh):
    assert golden.golden_path(ROUNDED, fresh).read_bytes() == (fresh / "rounded.bytes").read_bytes()
    assert golden.golden_path(TAMPERED, fresh).read_bytes() == golden.golden_path(TAMPERED).read_bytes()
