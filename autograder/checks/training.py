"""Training smoke tests (Part 4): the submission's modules learn a real image task.

Data: scikit-learn's digits (1,797 real 8x8 handwritten digits shipped with the package, so it
works offline), upsampled to 16x16 and standardised, split three ways: the worker trains on the
training split; every ``validate_every`` steps it predicts the validation split, which the grader
scores to decide when to stop (``target_accuracy``, or ``max_steps``); the score comes from the
test split, which the stopping rule never sees. The worker only ever gets images of the two
held-out splits: their labels stay in the grader.

Every decision counts steps, not seconds, so a grade is the same on an idle or a busy machine;
the CPU budget only stops runaway code.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F

from autograder.checks import slides
from autograder.checks.common import Outcome, digits, failed, passed
from autograder.checks.registry import Registry
from autograder.engine.remote import Session
from autograder.i18n import _
from autograder.runtime import values
from autograder.runtime.values import ref

registry = Registry()

SLIDE = slides.TRAINING
BATCH_SIZE = 64
LEARNING_RATE = 2e-3
HELD_OUT = 360
"""Images in each of the validation and test splits."""


@dataclass(frozen=True)
class DigitSplits:
    """Digits at 16x16, standardised with the training split's statistics; images (N, 1, 16, 16)."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    validation_images: torch.Tensor
    validation_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor


@lru_cache(maxsize=1)
def digit_splits() -> DigitSplits:
    """The three splits: test (360), validation (360), train (the other 1,077), in a fixed order."""
    images, labels, order = digits()
    images = F.interpolate(images, size=(16, 16), mode="bilinear", align_corners=False)  # (N, 1, 8, 8) -> 16x16
    test, validation, train = order[:HELD_OUT], order[HELD_OUT:2 * HELD_OUT], order[2 * HELD_OUT:]
    mean, std = images[train].mean(), images[train].std()
    images = (images - mean) / std
    return DigitSplits(images[train], labels[train], images[validation], labels[validation], images[test],
                       labels[test])


def downsample(cin: int, cout: int) -> dict:
    return values.nn_module(["Sequential", [["Conv2d", [cin, cout, 1], {"stride": 2, "bias": False}],
                                            ["BatchNorm2d", [cout]]]])


SMALL_RESNET = ["Sequential", [
    ["Conv2d", [1, 16, 3], {"padding": 1, "bias": False}], ["BatchNorm2d", [16]], ["ReLU"],
    [values.SUBMISSION_CLASS + "resnet.BasicBlock", [16, 16]],
    [values.SUBMISSION_CLASS + "resnet.BasicBlock", [16, 32, 2, downsample(16, 32)]],
    [values.SUBMISSION_CLASS + "resnet.BasicBlock", [32, 32]],
    ["AdaptiveAvgPool2d", [1]], ["Flatten"], ["Linear", [32, 10]],
]]
PROVIDED_RESNET_PARAMETERS = 16 * 9 + 2 * 16 + (16 * 32 + 2 * 32) + 32 * 10 + 10
"""Parameters of SMALL_RESNET's torch layers (stem, downsample, head): the rest are the blocks'."""
SMALL_VIT = {"img_size": 16, "patch_size": 4, "in_channels": 1, "num_classes": 10, "embed_dim": 64, "depth": 2,
             "num_heads": 4}


def accuracy(session: Session, name: str, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of ``images`` the kept model ``name`` classifies right (eval mode); labels stay here."""
    logits = session.forward(name, images, mode="eval").outputs
    if not logits or tuple(logits[0].shape) != (len(labels), 10):
        got = tuple(logits[0].shape) if logits else _("no tensor")
        raise ValueError(_("predictions for {count} images should have shape {expected}, got {got}").format(
            count=len(labels), expected=(len(labels), 10), got=got))
    return float((logits[0].argmax(dim=1) == labels).float().mean())


def train_and_score(session: Session, name: str, label: str) -> Outcome:
    """Train ``name`` on digits until the validation split reaches the target (or the step limit),
    then score the test split against the rubric's ``min_accuracy``."""
    settings = session.training
    data = digit_splits()
    session.start_training(name, data.train_images, data.train_labels, BATCH_SIZE, LEARNING_RATE, seed=0)
    losses: list[float] = []
    cpu_seconds, validation, stop = 0.0, 0.0, ""
    while len(losses) < settings.max_steps:
        chunk, cpu = session.train(name, min(settings.validate_every, settings.max_steps - len(losses)))
        losses += chunk
        cpu_seconds += cpu
        if not chunk or any(loss != loss for loss in chunk):
            return failed(_("{model}: training produced no finite loss (NaN?) by step {step}").format(
                model=label, step=len(losses)))
        try:
            validation = accuracy(session, name, data.validation_images, data.validation_labels)
        except ValueError as error:
            return failed(f"{label}: {error}")
        if validation >= settings.target_accuracy:
            stop = _("reached {accuracy} validation accuracy after {steps} steps").format(
                accuracy=f"{validation:.0%}", steps=len(losses))
            break
        if cpu_seconds > settings.cpu_budget_s:
            return failed(_("{model}: {steps} steps took more than the {budget} CPU seconds training may take "
                            "(validation accuracy {accuracy}): is something very slow in forward, such as a Python "
                            "loop over pixels or tokens?").format(model=label, steps=len(losses),
                                                                  budget=f"{settings.cpu_budget_s:g}",
                                                                  accuracy=f"{validation:.0%}"))
    stop = stop or _("stopped at the limit of {steps} steps with {accuracy} validation accuracy").format(
        steps=settings.max_steps, accuracy=f"{validation:.0%}")
    try:
        test = accuracy(session, name, data.test_images, data.test_labels)
    except ValueError as error:
        return failed(f"{label}: {error}")
    window = max(1, len(losses) // 10)
    first, last = sum(losses[:window]) / window, sum(losses[-window:]) / window
    summary = _("{model}: {stop}; loss {first} -> {last}, held-out accuracy {accuracy} (needs {needed})").format(
        model=label, stop=stop, first=f"{first:.3f}", last=f"{last:.3f}", accuracy=f"{test:.1%}",
        needed=f"{settings.min_accuracy:.0%}")
    if last >= first:
        return failed(_("{summary}; the loss did not fall").format(summary=summary))
    if test < settings.min_accuracy:
        return Outcome(0.5, _("{summary}; the loss fell but the model does not generalise well enough").format(
            summary=summary))
    return passed(summary)


@registry.check("part4.training.resnet", "resnet", "BasicBlock (training)", SLIDE, reference_values=False,
                seconds=1.4)
def resnet_smoke(session: Session, rule) -> Outcome:
    """A small CNN of three of your BasicBlocks learns digits."""
    built = session.build("smoke_resnet", values.nn_factory(SMALL_RESNET), 0)
    label = _("a CNN of 3 BasicBlocks")
    if built.trainable <= PROVIDED_RESNET_PARAMETERS:
        return failed(_("{model}: your blocks have no parameters (not implemented yet?)").format(model=label))
    return train_and_score(session, "smoke_resnet", label)


@registry.check("part4.training.vit", "vit", "VisionTransformer (training)", SLIDE, reference_values=False,
                seconds=3.5)
def vit_smoke(session: Session, rule) -> Outcome:
    """A small VisionTransformer of yours learns digits."""
    if session.build("smoke_vit", ref("vit.VisionTransformer"), **SMALL_VIT).trainable == 0:
        return failed(_("VisionTransformer has no parameters (not implemented yet?)"))
    return train_and_score(session, "smoke_vit", _("a 2-block ViT (16x16 images, 4x4 patches)"))
