"""Every numerics case can tell each known alternative from the reference.

A check that names known alternatives (``autograder.checks.known``) runs several cases; a case in
which an alternative computes what the reference computes (one head, where 1/sqrt(embed_dim) is
1/sqrt(head_dim)) would give that mistake part of the points. Here each alternative's output, with
the check's own weights and input, must differ from the reference's beyond the float32 tolerance.
"""
from __future__ import annotations

import pytest
import torch

from autograder import paths
from autograder.checks import CHECKS, attention, resnet, vit
from autograder.checks.common import Case, _reference_side, alternative_output, close
from autograder.checks.instructor import hidden
from autograder.rubric import load_rubric

RUBRIC = load_rubric(paths.ROOT / "grading.yml", CHECKS)
CASES: dict[str, list[Case]] = {
    **{f"part1.{key}.numerics": resnet.numeric_cases(kind) for key, kind in resnet.BLOCKS.items()},
    **{f"part1.{key}.attention_placement": [hidden.attention_case(kind)] for key, kind in resnet.BLOCKS.items()},
    "part2.se.numerics": attention.NUMERIC_SE,
    "part2.cbam.numerics": attention.NUMERIC_CBAM,
    "part3.patch_embedding.numerics": vit.PATCH_NUMERIC,
    "part3.mha.numerics": vit.MHA_NUMERIC,
    "part3.encoder_block.numerics": vit.BLOCK_NUMERIC,
}
"""The cases of every check that names known alternatives (those of its ``check_numerics`` calls)."""


def test_every_check_that_names_alternatives_is_listed_here():
    assert {check_id for check_id, spec in CHECKS.items() if spec.alternatives} == set(CASES)


@pytest.mark.parametrize("check_id", sorted(CASES))
def test_each_case_tells_each_alternative_from_the_reference(check_id):
    tolerance = RUBRIC.checks[check_id].tolerance["float32"]
    for case in CASES[check_id]:
        reference = _reference_side(case, 0, None, f"{case!r} seed 0")[0]
        x = case.make_input(1).double()
        with torch.no_grad():
            want = reference.double()(x)
            for key in CHECKS[check_id].alternatives:
                got = alternative_output(reference, key, x)
                assert not close(got, want, tolerance.atol, tolerance.rtol), (
                    f"{case.label()}: {key} gives the reference's output")
