"""One mistake, one penalty: checks run after the checks of what they build on, name a failing one
as the root cause, and are judged against a reference with its known mistake (``checking.py``).

The known mistakes themselves are changes to the reference's modules (``checks/alternatives.py``):
each must change what its component computes, or feedback could name it for a correct module.
The dependency declarations are data, checked here for the properties grading relies on.
"""
from __future__ import annotations

import dataclasses

import pytest
import torch

from autograder import paths
from autograder.checks import CHECKS
from autograder.checks.common import reference_attr
from autograder.checks.instructor.alternatives import ALTERNATIVES, with_alternatives
from autograder.checks.known import KNOWN
from autograder.grade import grade
from autograder.rubric import CheckRule, Rubric, Tolerance, TrainingSettings, load_rubric

TOLERANCES = {"float32": Tolerance(1e-4, 1e-3), "float64": Tolerance(1e-9, 1e-7)}
RUBRIC = load_rubric(paths.ROOT / "grading.yml", CHECKS)


def test_checks_build_on_registered_checks_without_cycles_and_visible_ones_on_visible_ones():
    """A student's copy has only the visible checks: what they build on must be visible too."""
    visiting: set[str] = set()

    def walk(check_id: str) -> None:
        assert check_id not in visiting, f"a cycle through {check_id}"
        visiting.add(check_id)
        for used in CHECKS[check_id].uses:
            assert used in CHECKS, f"{check_id} uses {used}, which is not registered"
            walk(used)
        visiting.discard(check_id)

    for check_id, spec in CHECKS.items():
        walk(check_id)
        if RUBRIC.checks[check_id].visibility == "visible":
            assert all(RUBRIC.checks[used].visibility == "visible" for used in spec.uses), check_id


def test_every_known_mistake_has_its_change_and_a_check_that_recognises_it():
    assert set(ALTERNATIVES) == set(KNOWN)
    assert {key for spec in CHECKS.values() for key in spec.alternatives} == set(KNOWN)


EXAMPLES = {
    "resnet.BasicBlock": ((4, 6, 2, torch.nn.Conv2d(4, 6, 1, stride=2)), (2, 4, 7, 7)),
    "resnet.BottleneckBlock": ((4, 6, 2, torch.nn.Conv2d(4, 24, 1, stride=2)), (2, 4, 7, 7)),
    "resnet.PreActBasicBlock": ((4, 6, 2, torch.nn.Conv2d(4, 6, 1, stride=2)), (2, 4, 7, 7)),
    "resnet.PreActBottleneckBlock": ((4, 6, 2, torch.nn.Conv2d(4, 24, 1, stride=2)), (2, 4, 7, 7)),
    "attention.SEModule": ((8, 2), (2, 8, 5, 5)),
    "attention.CBAM": ((8, 2), (2, 8, 5, 5)),
    "vit.PatchEmbedding": ((8, 2, 3, 4), (2, 3, 8, 8)),
    "vit.MultiHeadAttention": ((16, 4), (2, 5, 16)),
    "vit.TransformerEncoderBlock": ((16, 4), (2, 5, 16)),
}
"""A small configuration of each class a known mistake changes: (constructor arguments, input shape)."""


@pytest.mark.parametrize("key", sorted(KNOWN))
def test_each_known_mistake_changes_what_its_component_computes(key):
    target = ALTERNATIVES[key].target
    args, shape = EXAMPLES[target]
    cls = reference_attr(target)
    kwargs = {"attention": lambda channels: torch.nn.Tanh()} if key.endswith("attention_after_addition") else {}
    torch.manual_seed(0)
    plain = cls(*args, **kwargs).eval()
    changed = with_alternatives(cls(*args, **kwargs).eval(), (key,))
    changed.load_state_dict(plain.state_dict())
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert not torch.allclose(plain(x), changed(x), atol=1e-6), key


def example_rubric(*check_ids: str, one_penalty: bool) -> Rubric:
    checks = {check_id: CheckRule(1.0, "visible", 60, TOLERANCES) for check_id in check_ids}
    return Rubric(len(checks), len(checks), checks, {}, TOLERANCES, (), TrainingSettings(),
                  one_penalty_per_mistake=one_penalty)


@pytest.mark.parametrize("one_penalty", [True, False])
def test_a_known_mistake_costs_points_once_unless_the_rubric_says_otherwise(one_penalty):
    """The example's MultiHeadAttention scales by 1/sqrt(embed_dim): its encoder block, correct
    itself, passes when judged with that mistake, and fails naming the root cause otherwise."""
    rubric = example_rubric("part3.mha.numerics", "part3.encoder_block.numerics", one_penalty=one_penalty)
    mha, block = grade(paths.ROOT / "examples" / "submission", rubric, "cpu", sandbox="off").results
    assert mha.score < mha.max_score and "1/sqrt(embed_dim)" in mha.output
    if one_penalty:
        assert block.passed and ("judged against a reference with your MultiHeadAttention's known mistake"
                                 in block.output)
    else:
        assert not block.passed
        assert block.output.startswith("TransformerEncoderBlock uses your MultiHeadAttention, which fails "
                                       "part3.mha.numerics: fix that first")


def test_a_check_run_alone_runs_the_checks_it_builds_on_first():
    """A rubric without part3.mha.numerics still judges the encoder block with the mistake."""
    rubric = example_rubric("part3.encoder_block.numerics", one_penalty=True)
    (block,) = grade(paths.ROOT / "examples" / "submission", rubric, "cpu", sandbox="off").results
    assert block.passed and "which part3.mha.numerics takes the points for" in block.output


def test_the_switch_is_read_from_grading_yml(tmp_path):
    text = (paths.ROOT / "grading.yml").read_text().replace("one_penalty_per_mistake: true",
                                                            "one_penalty_per_mistake: false")
    (tmp_path / "grading.yml").write_text(text)
    assert RUBRIC.one_penalty_per_mistake is True
    assert load_rubric(tmp_path / "grading.yml", CHECKS) == dataclasses.replace(RUBRIC, one_penalty_per_mistake=False)


def test_every_hint_cites_the_slides_sections_in_their_words():
    from autograder.checks.slides import CRITERIA, SECTIONS

    for check_id, spec in CHECKS.items():
        for cited in spec.hint.split("; "):
            number = cited.split(" ", 1)[0]
            assert cited.startswith(CRITERIA) or cited.startswith(f"{number} {SECTIONS.get(number)}"), (check_id, cited)
