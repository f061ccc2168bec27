"""Checks for attention.py: SE and CBAM, alone and inside ResNet blocks (Part 2)."""
from __future__ import annotations

import torch
from hypothesis import strategies as st

from autograder.checks import slides
from autograder.checks.common import (
    Case,
    Outcome,
    all_of,
    check_gradients,
    check_numerics,
    check_output_shapes,
    check_parameter_counts,
    failed,
    generated,
    passed,
    shape_problem,
)
from autograder.checks.registry import Registry
from autograder.checks.robustness import Misuse, check_errors
from autograder.engine.client import SubmissionError
from autograder.engine.remote import Session
from autograder.i18n import _
from autograder.runtime.values import ref

registry = Registry()

SE_SLIDE = slides.SE
CBAM_SLIDE = slides.CBAM
CONFIGS = st.tuples(st.integers(1, 3), st.integers(1, 48), st.integers(1, 16), st.integers(1, 8), st.integers(1, 8))


def cases(target: str, count: int) -> list[Case]:
    return [Case(target, (c, r), {}, (b, c, h, w)) for b, c, r, h, w in generated(CONFIGS, count)]


NUMERIC_SE = [Case("attention.SEModule", (32, 4), {}, (2, 32, 5, 6)),
              Case("attention.SEModule", (6, 2), {}, (1, 6, 4, 4))]
NUMERIC_CBAM = [Case("attention.CBAM", (32, 4), {}, (2, 32, 9, 7)), Case("attention.CBAM", (8, 2, 3), {}, (1, 8, 5, 5))]


SE_VARIANTS = ("se.max_pool_squeeze", "se.gate_only", "se.without_relu")
CBAM_VARIANTS = ("cbam.spatial_first", "cbam.channel_from_average_only")
"""Known alternatives (``autograder.checks.known``) the numerics checks recognise."""


@registry.check("part2.se.shapes", "attention", "SEModule", SE_SLIDE)
def se_shapes(session: Session, rule) -> Outcome:
    return check_output_shapes(session, cases("attention.SEModule", 8))


@registry.check("part2.se.parameters", "attention", "SEModule", SE_SLIDE)
def se_parameters(session: Session, rule) -> Outcome:
    return check_parameter_counts(session, cases("attention.SEModule", 6))


@registry.check("part2.se.numerics", "attention", "SEModule", SE_SLIDE, alternatives=SE_VARIANTS)
def se_numerics(session: Session, rule) -> Outcome:
    return all_of([check_numerics(session, case, rule.tolerance, SE_VARIANTS) for case in NUMERIC_SE])


@registry.check("part2.se.gate", "attention", "SEModule",
                slides.section("2.1", "Implementación del Módulo SE", "red de excitación, s = sigma(W2 delta(W1 z))"))
def se_gate(session: Session, rule) -> Outcome:
    """On a positive input, output / input is one value per (image, channel), strictly inside (0, 1)."""
    session.build("se", ref("attention.SEModule"), 16, 4)
    x = torch.rand(2, 16, 6, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64) + 0.5
    out = session.forward("se", x, dtype="float64").outputs
    label = _("{call} on input {shape}").format(call="SEModule(16, 4)", shape=tuple(x.shape))
    if not out or out[0].shape != x.shape:
        return failed(_("{label} should return the same shape").format(label=label))
    ratio = out[0] / x
    spread = float((ratio.amax(dim=(2, 3)) - ratio.amin(dim=(2, 3))).max())
    if spread > 1e-9:
        return failed(_("{label}: the gate should be constant over space (one value per channel); it varies by up to "
                        "{spread}").format(label=label, spread=f"{spread:.3g}"))
    if not bool(((ratio > 0) & (ratio < 1)).all()):
        return failed(_("{label}: the gate should lie strictly in (0, 1) (a sigmoid); found values in "
                        "[{low}, {high}]").format(
            label=label, low=f"{float(ratio.min()):.3g}", high=f"{float(ratio.max()):.3g}"))
    return passed(_("{label}: the gate is constant over space and lies in (0, 1)").format(label=label))


@registry.check("part2.se.gradients", "attention", "SEModule", SE_SLIDE,
                uses=("part2.se.numerics",))
def se_gradients(session: Session, rule) -> Outcome:
    return check_gradients(session, NUMERIC_SE[0], rule.tolerance)


@registry.check("part2.cbam.gradients", "attention", "CBAM", CBAM_SLIDE,
                uses=("part2.cbam.numerics",))
def cbam_gradients(session: Session, rule) -> Outcome:
    return check_gradients(session, NUMERIC_CBAM[0], rule.tolerance)


@registry.check("part2.cbam.shapes", "attention", "CBAM", CBAM_SLIDE)
def cbam_shapes(session: Session, rule) -> Outcome:
    return check_output_shapes(session, cases("attention.CBAM", 8))


@registry.check("part2.cbam.parameters", "attention", "CBAM", CBAM_SLIDE)
def cbam_parameters(session: Session, rule) -> Outcome:
    return check_parameter_counts(session,
                                  cases("attention.CBAM", 6) + [Case("attention.CBAM", (8, 2, 3), {}, (1, 8, 5, 5))])


@registry.check("part2.cbam.numerics", "attention", "CBAM", CBAM_SLIDE, alternatives=CBAM_VARIANTS)
def cbam_numerics(session: Session, rule) -> Outcome:
    return all_of([check_numerics(session, case, rule.tolerance, CBAM_VARIANTS) for case in NUMERIC_CBAM])


def _built(target: str, *args, **kwargs):
    return lambda session: session.build("bad", ref(target), *args, **kwargs)


ATTENTION_MISUSES = [
    Misuse("SEModule(0, 4)", _built("attention.SEModule", 0, 4), ("channels",)),
    Misuse("SEModule(16, 0)", _built("attention.SEModule", 16, 0), ("reduction",)),
    Misuse("SEModule(16, -2)", _built("attention.SEModule", 16, -2), ("reduction",)),
    Misuse("CBAM(0, 4)", _built("attention.CBAM", 0, 4), ("channels",)),
    Misuse("CBAM(16, 0)", _built("attention.CBAM", 16, 0), ("reduction",)),
    Misuse("CBAM(16, 4, kernel_size=4)", _built("attention.CBAM", 16, 4, kernel_size=4), ("kernel_size",)),
]
ATTENTION_EDGE_CASES = [
    Case("attention.SEModule", (8, 2), {}, (1, 8, 3, 7)),
    Case("attention.CBAM", (8, 2), {}, (1, 8, 5, 9)),
    Case("attention.CBAM", (12, 4, 3), {}, (2, 12, 4, 1)),
]
"""Batch size 1 and non-square feature maps, which both modules must take."""


def fewer_channels_than_reduction(session: Session) -> str:
    """SEModule(6, 16): a hidden width floored at 1 (as the reference) or a ValueError naming the
    arguments are both fine; anything else is not."""
    case = Case("attention.SEModule", (6, 16), {}, (2, 6, 4, 4))
    try:
        return shape_problem(session, case, 0)
    except SubmissionError as error:
        refused = set(error.classes) & {"ValueError", "TypeError"}
        named = any(name in error.message.lower() for name in ("channels", "reduction"))
        return "" if refused and named else _("{case}: either floor the hidden width at 1 or raise a ValueError "
                                              "naming channels and reduction; got {error}").format(
            case=case.label(), error=error.message[:160])


@registry.check("part2.errors", "attention", "SEModule and CBAM (arguments and edge cases)",
                slides.SE + "; " + slides.CBAM + "; " + slides.ERRORS)
def attention_errors(session: Session, rule) -> Outcome:
    """Non-positive channels or reduction, or an even CBAM kernel, raise a ValueError naming it;
    batch size 1 and non-square maps work; fewer channels than the reduction floors or raises."""
    return check_errors(session, _("{first} and {second}").format(first="SEModule", second="CBAM"),
                        ATTENTION_MISUSES, ATTENTION_EDGE_CASES,
                        (fewer_channels_than_reduction,))
