"""Correct variants, each graded on the whole rubric (every check, all 60 points).

A correct implementation written differently can lose points in a check of another component
(a float32 position table failed the whole ViT's float64 numerics), so no variant is graded on
its own component's checks alone. To grade 40-odd variants on 60-odd checks in minutes, variants
that change different lines of the solutions are put into one submission together
(``variant_groups``), which must score 60 / 60; a check that loses points names the group's
variants that change its component.
"""
from __future__ import annotations

import pytest
import resnet_attention
import vit_gradcam_profiler
from mutations import apply_all, assert_full_marks, touched, variant_groups

from autograder import paths

pytestmark = pytest.mark.slow  # end-to-end: left out by ./kit test --fast

VARIANTS = resnet_attention.VARIANTS + vit_gradcam_profiler.VARIANTS
GROUPS = variant_groups(VARIANTS)


def test_at_least_30_correct_variants_with_unique_names_in_groups_that_change_different_lines():
    names = [variant.name for variant in VARIANTS]
    assert len(names) == len(set(names)) >= 30
    assert sorted(v.name for group in GROUPS for v in group) == sorted(names)
    for group in GROUPS:
        changes = [touched(variant) for variant in group]
        assert sum(len(c) for c in changes) == len(set().union(*changes)), [v.name for v in group]


def test_a_group_holds_each_of_its_variants_changes(tmp_path):
    """Every line a variant writes is in its group's submission: no variant undoes another."""
    for index, group in enumerate(GROUPS):
        together = apply_all(group, tmp_path / f"group{index}")
        for variant in group:
            alone = apply_all([variant], tmp_path / f"{index}-{variant.name}")
            solution = set((paths.SOLUTIONS / variant.file).read_text().splitlines())
            written = [line for line in (alone / variant.file).read_text().splitlines() if line not in solution]
            missing = [line for line in written if line not in (together / variant.file).read_text().splitlines()]
            assert not missing, (variant.name, missing[:3])


@pytest.mark.parametrize("group", GROUPS, ids=[f"group{i + 1}-{len(g)}-variants" for i, g in enumerate(GROUPS)])
def test_a_submission_of_correct_variants_gets_full_marks_on_the_whole_rubric(group, tmp_path):
    assert_full_marks(group, tmp_path / "submission")
