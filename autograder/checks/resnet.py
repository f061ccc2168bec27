"""Checks for resnet.py: the four residual blocks and the ResNet builder (Part 1)."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Optional

from hypothesis import strategies as st

from autograder.checks import slides
from autograder.checks.common import (
    Case,
    Outcome,
    Provided,
    all_of,
    check_gradients,
    check_numerics,
    check_output_shapes,
    check_parameter_counts,
    generated,
    passed,
)
from autograder.checks.registry import Registry
from autograder.checks.robustness import Misuse, check_errors
from autograder.engine.remote import Session
from autograder.i18n import _
from autograder.runtime.values import ref

registry = Registry()


@dataclass(frozen=True)
class BlockKind:
    """One of the four residual blocks."""

    target: str
    expansion: int
    preactivation: bool
    last_layer: str
    """The reference's last layer on the residual branch (zeroed by the skip-path check)."""
    slide: str


BLOCKS = {
    "basic_block": BlockKind("resnet.BasicBlock", 1, False, "bn2", slides.BASIC_BLOCK),
    "bottleneck": BlockKind("resnet.BottleneckBlock", 4, False, "bn3", slides.BOTTLENECK),
    "preact_basic": BlockKind("resnet.PreActBasicBlock", 1, True, "conv2", slides.PREACTIVATION),
    "preact_bottleneck": BlockKind("resnet.PreActBottleneckBlock", 4, True, "conv3", slides.PREACTIVATION),
}


def downsample(kind: BlockKind, in_channels: int, out_channels: int, stride: int) -> Optional[Provided]:
    """The shortcut projection a caller passes in: 1x1 conv (+ BN after post-activation blocks)."""
    width = out_channels * kind.expansion
    if stride == 1 and in_channels == width:
        return None
    conv = ["Conv2d", [in_channels, width, 1], {"stride": stride, "bias": False}]
    return Provided(conv if kind.preactivation else ["Sequential", [conv, ["BatchNorm2d", [width]]]])


def block_case(kind: BlockKind, batch: int, cin: int, cout: int, stride: int, size: int, **kwargs) -> Case:
    return Case(kind.target, (cin, cout, stride, downsample(kind, cin, cout, stride)), kwargs, (batch, cin, size, size))


BLOCK_CONFIGS = st.tuples(st.integers(1, 3), st.integers(1, 12), st.integers(1, 8), st.sampled_from([1, 2]),
                          st.integers(3, 10))


def shape_cases(kind: BlockKind, count: int) -> list[Case]:
    return [block_case(kind, *config) for config in generated(BLOCK_CONFIGS, count)]


def numeric_cases(kind: BlockKind) -> list[Case]:
    """With a projection shortcut (stride 2, more channels) and with the identity; a bottleneck's
    second case keeps its channels but has stride 2 too, so that each case tells the stride's
    place (a known alternative) apart. Their identity shortcut is graded with ResNet's numerics."""
    width = 6 * kind.expansion
    stride = 2 if kind.expansion > 1 else 1
    return [block_case(kind, 2, 4, 6, 2, 7), block_case(kind, 2, width, 6, stride, 6 if stride > 1 else 5)]


VARIANTS: dict[str, tuple[str, ...]] = {
    "basic_block": ("basic_block.no_final_relu",),
    "bottleneck": ("bottleneck.no_final_relu", "bottleneck.stride_on_first_conv"),
    "preact_basic": ("preact_basic.relu_after_addition",),
    "preact_bottleneck": ("preact_bottleneck.relu_after_addition", "preact_bottleneck.stride_on_first_conv"),
}
"""Known alternatives (``autograder.checks.known``) each block's numerics check recognises."""


def block_shapes(key: str, session: Session, rule) -> Outcome:
    return check_output_shapes(session, shape_cases(BLOCKS[key], 8))


def block_parameters(key: str, session: Session, rule) -> Outcome:
    return check_parameter_counts(session, shape_cases(BLOCKS[key], 4) + numeric_cases(BLOCKS[key]))


def block_numerics(key: str, session: Session, rule) -> Outcome:
    return all_of([check_numerics(session, case, rule.tolerance, VARIANTS[key]) for case in numeric_cases(BLOCKS[key])])


def block_gradients(key: str, session: Session, rule) -> Outcome:
    return all_of([check_gradients(session, case, rule.tolerance) for case in numeric_cases(BLOCKS[key])])


BLOCK_CHECKS = {  # block key: the ids of its shapes, parameters, numerics and gradients checks
    "basic_block": ("part1.basic_block.shapes", "part1.basic_block.parameters", "part1.basic_block.numerics",
                    "part1.basic_block.gradients"),
    "bottleneck": ("part1.bottleneck.shapes", "part1.bottleneck.parameters", "part1.bottleneck.numerics",
                   "part1.bottleneck.gradients"),
    "preact_basic": ("part1.preact_basic.shapes", "part1.preact_basic.parameters", "part1.preact_basic.numerics",
                     "part1.preact_basic.gradients"),
    "preact_bottleneck": ("part1.preact_bottleneck.shapes", "part1.preact_bottleneck.parameters",
                          "part1.preact_bottleneck.numerics", "part1.preact_bottleneck.gradients"),
}
for _key, (_shapes, _parameters, _numerics, _gradients) in BLOCK_CHECKS.items():
    _component = BLOCKS[_key].target.split(".")[1]
    for _id, _run, _uses, _alternatives in ((_shapes, block_shapes, (), ()), (_parameters, block_parameters, (), ()),
                                            (_numerics, block_numerics, (), VARIANTS[_key]),
                                            (_gradients, block_gradients, (_numerics,), ())):
        registry.check(_id, "resnet", _component, BLOCKS[_key].slide, _uses, _alternatives)(
            functools.partial(_run, _key))


TORCHVISION_COUNTS = {"resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032, "resnet101": 44_549_160}
RESNET_SLIDE = slides.RESNET


@registry.check("part1.resnet.parameters", "resnet", "resnet18/34/50/101", RESNET_SLIDE, seconds=0.3)
def resnet_parameters(session: Session, rule) -> Outcome:
    """The four factories at their defaults have torchvision's parameter counts."""
    problems = []
    for name, expected in TORCHVISION_COUNTS.items():
        got = session.build("net", ref(f"resnet.{name}"), init=False).trainable
        if got != expected:
            problems.append(_("{call}: expected {expected} parameters (as torchvision), got {got}").format(
                call=f"{name}()", expected=f"{expected:,}", got=f"{got:,}"))
    if problems:
        return Outcome((4 - len(problems)) / 4, "\n".join(problems))
    return passed(_("{networks} have torchvision's parameter counts").format(networks="resnet18/34/50/101"))


NETWORK_CASES = [
    Case("resnet.resnet18", (), {"num_classes": 7, "stem": "cifar"}, (2, 3, 16, 16)),
    Case("resnet.resnet18", (), {"num_classes": 5, "preact": True, "stem": "cifar", "in_channels": 1}, (2, 1, 16, 16)),
    Case("resnet.resnet50", (), {"num_classes": 3}, (1, 3, 64, 64)),
    Case("resnet.resnet50", (), {"num_classes": 4, "preact": True, "stem": "cifar"}, (1, 3, 16, 16)),
]


@registry.check("part1.resnet.shapes", "resnet", "ResNet", RESNET_SLIDE, seconds=0.6)
def resnet_shapes(session: Session, rule) -> Outcome:
    return check_output_shapes(session, NETWORK_CASES)


BLOCK_NUMERICS = tuple(ids[2] for ids in BLOCK_CHECKS.values())


@registry.check("part1.resnet.numerics", "resnet", "ResNet", RESNET_SLIDE, uses=BLOCK_NUMERICS, seconds=4.3)
def resnet_numerics(session: Session, rule) -> Outcome:
    """Whole networks (both stems, post- and pre-activation) equal the reference with its weights."""
    return all_of([check_numerics(session, case, rule.tolerance) for case in NETWORK_CASES])


RESNET_MISUSES = [
    Misuse("resnet18(stem='tiny')", lambda session: session.build("bad", ref("resnet.resnet18"), stem="tiny"),
           ("stem",)),
    Misuse("ResNet(BasicBlock, [2, 2, 2])",
           lambda session: session.build("bad", ref("resnet.ResNet"), ref("resnet.BasicBlock"), [2, 2, 2]),
           ("layers", "stage")),
]
RESNET_EDGE_CASES = [
    block_case(BLOCKS["basic_block"], 1, 4, 6, 2, 7),
    Case("resnet.BottleneckBlock", (8, 4, 2, downsample(BLOCKS["bottleneck"], 8, 4, 2)), {}, (2, 8, 6, 9)),
    Case("resnet.PreActBasicBlock", (4, 4), {}, (1, 4, 5, 8)),
    Case("resnet.resnet18", (), {"num_classes": 3, "stem": "cifar"}, (1, 3, 12, 20)),
]
"""Batch size 1 and non-square images, which the blocks and networks must take."""


@registry.check("part1.errors", "resnet", "ResNet (arguments and edge cases)",
                slides.RESNET + "; " + slides.ERRORS)
def resnet_errors(session: Session, rule) -> Outcome:
    """An unknown stem or a wrong number of stages raises a ValueError naming it; batch size 1 and
    non-square inputs work."""
    return check_errors(session, "ResNet", RESNET_MISUSES, RESNET_EDGE_CASES)
