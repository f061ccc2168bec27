"""Bug zoo and correct variants for vit.py, gradcam.py and profiler.py, graded end to end.

As ``test_zoo_resnet_attention.py``: each mutation must lose points on one of its ``must_fail``
checks, with feedback that names the component and, where the grader knows the mistake, the
known alternative. Only the checks an entry touches are graded (one worker per entry, on the
CPU). The correct variants are graded on the whole rubric in ``test_zoo_variants.py``.
"""
from __future__ import annotations

import pytest
from mutations import Mutation, apply, assert_mutation_caught, expected_outcome
from vit_gradcam_profiler import MUTATIONS, VARIANTS

pytestmark = pytest.mark.slow  # end-to-end: left out by ./kit test --fast


def test_entries_have_unique_names_and_cover_the_three_files():
    names = [entry.name for entry in MUTATIONS + VARIANTS]
    assert len(names) == len(set(names))
    caught = [m for m in MUTATIONS if not m.gap]
    assert len(caught) >= 16
    assert {m.file for m in caught} == {"vit.py", "gradcam.py", "profiler.py"}


def test_a_mutation_made_in_two_places_needs_both_snippets(tmp_path):
    """``more`` snippets follow the same rule as the first: each must occur exactly once."""
    both = Mutation("both", "vit.py", "self.scale = self.head_dim**-0.5", "self.scale = 1.0", ("part3.mha.",),
                    ("part3.mha.",), "MultiHeadAttention", more=(("return table.float()", "return table"),))
    source = (apply(both, tmp_path / "both") / "vit.py").read_text()
    assert "self.scale = 1.0" in source and "return table\n" in source
    stale = Mutation("stale", "vit.py", "self.scale = self.head_dim**-0.5", "self.scale = 1.0", ("part3.mha.",),
                     ("part3.mha.",), "MultiHeadAttention", more=(("no such code", ""),))
    with pytest.raises(AssertionError, match="occurs 0 times"):
        apply(stale, tmp_path / "stale")


@pytest.mark.parametrize("mutation", [expected_outcome(m) for m in MUTATIONS])
def test_mutation_loses_points_and_feedback_says_where(mutation, tmp_path):
    assert_mutation_caught(mutation, tmp_path / "submission")
