"""The checks graded after the due date, kept apart: the student bundle leaves this file out.

Skip paths and the placement of attention in the four residual blocks, SE- and CBAM-ResNet-18,
and the ViT's gradients. ``python -m autograder release`` refuses a rubric that shows one of these
before the due date, or hides a check registered elsewhere.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from autograder.checks.common import (
    Case,
    Factory,
    Outcome,
    Provided,
    check_gradients,
    check_numerics,
    close,
    failed,
    max_error,
    passed,
    transplanted,
)
from autograder.checks.registry import Registry
from autograder.checks.resnet import BLOCKS, BlockKind, block_case
from autograder.checks.vit import VIT_NUMERIC, VIT_SLIDE, VIT_USES
from autograder.remote import Session

registry = Registry()


def check_skip_path(session: Session, kind: BlockKind, rule) -> Outcome:
    """With the residual branch zeroed the block passes the upstream gradient through."""
    width = 5 * kind.expansion
    case = block_case(kind, 2, width, 5, 1, 6)

    def zero_branch(reference: nn.Module) -> None:
        with torch.no_grad():
            for param in getattr(reference, kind.last_layer).parameters():
                param.zero_()

    pair = transplanted(session, case, "skip", prepare=zero_branch)
    x = case.make_input(5).double()
    upstream = torch.randn(x.shape, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    result = session.forward(pair.name, x, dtype="float64", grad_inputs=("x0",), upstream=[upstream])
    got = result.input_grads.get("x0")
    if got is None:
        return failed(f"{case.label()}: no gradient reaches the input through the shortcut")
    # The reference's own gradient (upstream, or upstream * (x > 0) after the final ReLU): a mask
    # taken from the submission's output would let an all-zero output pass.
    def input_gradient(reference: nn.Module) -> torch.Tensor:
        x_ref = x.clone().requires_grad_(True)
        return torch.autograd.grad((reference.double()(x_ref) * upstream).sum(), x_ref)[0]

    expected = pair.computed("input gradient through the shortcut", input_gradient)
    pair.restore()
    what = "the upstream gradient unchanged (identity shortcut, nothing after the addition)" if kind.preactivation \
        else "the upstream gradient masked by the final ReLU"
    tol = rule.tolerance["float64"]
    if close(got, expected, tol.atol, tol.rtol):
        return passed(f"{case.label()}: with the residual branch zeroed, the input receives {what}")
    error = f"max abs difference {max_error(got, expected):.3g}" if got.shape == expected.shape else \
        f"gradient shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
    return failed(f"{case.label()}: with the residual branch zeroed, the input should receive {what}; {error}")


TANH_ATTENTION = Provided(["Tanh"], factory=True)


def attention_case(kind: BlockKind) -> Case:
    return block_case(kind, 2, 4, 6, 2, 7, attention=TANH_ATTENTION)


def _register_after_due_date_checks(key: str, kind: BlockKind) -> None:
    component = kind.target.split(".")[1]

    @registry.check(f"part1.{key}.skip_path", "resnet", component, kind.slide + ", gradient flow",
                    uses=(f"part1.{key}.numerics",))
    def skip_path(session: Session, rule) -> Outcome:
        return check_skip_path(session, kind, rule)

    placement = (f"{key}.attention_after_addition",)

    @registry.check(f"part1.{key}.attention_placement", "resnet", component, "Part 2, 'Integrating attention in ResNet blocks'",
                    uses=(f"part1.{key}.numerics",), alternatives=placement)
    def attention_placement(session: Session, rule) -> Outcome:
        return check_numerics(session, attention_case(kind), rule.tolerance, placement)


for _key, _kind in BLOCKS.items():
    _register_after_due_date_checks(_key, _kind)


def _resnet_with(attention: str) -> Case:
    factory = Factory(f"attention.{attention}", {"reduction": 8})
    return Case("resnet.resnet18", (), {"num_classes": 5, "stem": "cifar", "attention": factory}, (2, 3, 16, 16))


def _resnet_uses(attention: str) -> tuple[str, ...]:
    """What an attention ResNet-18 is made of: BasicBlocks with attention, the module, the builder."""
    return ("part1.basic_block.numerics", "part1.basic_block.attention_placement", f"part2.{attention}.numerics",
            "part1.resnet.numerics")


@registry.check("part2.se_resnet.numerics", "resnet", "SE-ResNet-18", "Part 2, 'Integrating attention in ResNet blocks'",
                uses=_resnet_uses("se"))
def se_resnet_numerics(session: Session, rule) -> Outcome:
    """resnet18(attention=SEModule) from your files equals the reference network."""
    return check_numerics(session, _resnet_with("SEModule"), rule.tolerance)


@registry.check("part2.cbam_resnet.numerics", "resnet", "CBAM-ResNet-18", "Part 2, 'Integrating attention in ResNet blocks'",
                uses=_resnet_uses("cbam"))
def cbam_resnet_numerics(session: Session, rule) -> Outcome:
    """resnet18(attention=CBAM) from your files equals the reference network."""
    return check_numerics(session, _resnet_with("CBAM"), rule.tolerance)


@registry.check("part3.vit.gradients", "vit", "VisionTransformer", VIT_SLIDE, uses=VIT_USES + ("part3.vit.numerics",))
def vit_gradients(session: Session, rule) -> Outcome:
    return check_gradients(session, VIT_NUMERIC[0], rule.tolerance)
