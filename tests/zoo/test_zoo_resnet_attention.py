"""Bug zoo and correct variants for resnet.py and attention.py, graded end to end.

Each mutation (a realistic mistake patched into a copy of the solutions) must lose points on one
of its ``must_fail`` checks, with feedback that names the component and, where the grader knows
the mistake, the known alternative. Only the checks an entry touches are graded (one worker per
entry, on the CPU). The correct variants are graded on the whole rubric in ``test_zoo_variants.py``.
"""
from __future__ import annotations

import pytest
from mutations import Mutation, Variant, apply, assert_mutation_caught, expected_outcome, full_rubric, sub_rubric
from resnet_attention import MUTATIONS, VARIANTS

pytestmark = pytest.mark.slow  # end-to-end: left out by ./kit test --fast


def test_entries_have_unique_names():
    names = [entry.name for entry in MUTATIONS + VARIANTS]
    assert len(names) == len(set(names))
    assert len([m for m in MUTATIONS if not m.gap]) >= 22


def test_a_snippet_that_no_longer_occurs_once_is_refused(tmp_path):
    """An entry cannot rot into grading the unchanged solution (or patch the wrong block)."""
    gone = Mutation("gone", "resnet.py", "no such code", "", ("part1.",), ("part1.",), "BasicBlock")
    twice = Mutation("twice", "resnet.py", "out += identity", "out = out + identity", ("part1.",), ("part1.",),
                     "BasicBlock")
    with pytest.raises(AssertionError, match="occurs 0 times"):
        apply(gone, tmp_path)
    with pytest.raises(AssertionError, match="occurs 2 times"):
        apply(twice, tmp_path)


def test_variant_definitions_replace_the_solution_class_of_the_same_name(tmp_path):
    apply(Variant("names", "resnet.py", ("part1.",), "basic_block_other_names.py"), tmp_path)
    source = (tmp_path / "resnet.py").read_text()
    assert source.count("class BasicBlock(") == 1 and "self.c1 = nn.Conv2d(" in source
    assert "import torch.nn.functional as F" in source and "class BottleneckBlock(" in source


def test_sub_rubric_keeps_the_real_rules_of_the_chosen_checks():
    rubric = sub_rubric(("part2.se.",))
    assert "part2.se.numerics" in rubric.checks and "part2.se_resnet.numerics" not in rubric.checks
    assert all(check_id.startswith("part2.se.") for check_id in rubric.checks)
    assert all(rubric.checks[i] == full_rubric().checks[i] for i in rubric.checks)
    assert rubric.total == pytest.approx(sum(rule.points for rule in rubric.checks.values()))


@pytest.mark.parametrize("mutation", [expected_outcome(m) for m in MUTATIONS])
def test_mutation_loses_points_and_feedback_says_where(mutation, tmp_path):
    assert_mutation_caught(mutation, tmp_path / "submission")
