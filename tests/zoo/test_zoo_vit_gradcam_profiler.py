"""Bug zoo and correct variants for vit.py, gradcam.py and profiler.py, graded end to end.

As ``test_zoo_resnet_attention.py``: each mutation must lose points on one of its ``must_fail``
checks, with feedback that names the component and, where the grader knows the mistake, the
known alternative; each correct variant must score full marks. Only the checks an entry touches
are graded (one worker per entry, on the CPU).
"""
from __future__ import annotations

import pytest

from mutations import EPS, Mutation, apply, grade_entry, matches
from vit_gradcam_profiler import MUTATIONS, VARIANTS


def _show(results) -> str:
    return "\n".join(f"{r.id}: {r.score:g}/{r.max_score:g}\n    " + r.output.replace("\n", "\n    ") for r in results)


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


def _expected_outcome(mutation):
    marks = [pytest.mark.xfail(strict=True, reason=mutation.gap)] if mutation.gap else []
    return pytest.param(mutation, id=mutation.name, marks=marks)


@pytest.mark.parametrize("mutation", [_expected_outcome(m) for m in MUTATIONS])
def test_mutation_loses_points_and_feedback_says_where(mutation, tmp_path):
    rubric, results = grade_entry(mutation, tmp_path / "submission")
    targeted = [r for r in results if matches(r.id, mutation.must_fail)]
    assert targeted, f"must_fail {mutation.must_fail} matches none of the graded checks {mutation.checks}"
    failing = [r for r in targeted if not r.passed]
    assert failing, f"{mutation.name} keeps full marks on {', '.join(r.id for r in targeted)}:\n{_show(results)}"
    assert sum(r.score for r in results) < rubric.total - EPS
    for result in failing:
        assert mutation.component in result.output, f"{result.id} does not name {mutation.component!r}:\n{_show([result])}"
    if mutation.alternative:
        assert any(mutation.alternative in r.output for r in failing), \
            f"no failing check names the known alternative {mutation.alternative!r}:\n{_show(failing)}"


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_correct_variant_gets_full_marks(variant, tmp_path):
    rubric, results = grade_entry(variant, tmp_path / "submission")
    lost = [r for r in results if not r.passed]
    assert not lost, f"{variant.name} lost points:\n{_show(lost)}"
    assert sum(r.score for r in results) == pytest.approx(rubric.total)
