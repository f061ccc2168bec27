"""Training smoke tests (Part 4): the submission's modules learn a real image task.

Data: scikit-learn's digits (1,797 real 8x8 handwritten digits shipped with the package, so it
works offline), upsampled to 16x16. The worker trains on the training split; for the held-out
split it only sees the images and returns logits: the labels stay in the grader.
"""
from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F

from autograder.checks.common import Outcome, digits, failed, passed
from autograder.checks.registry import Registry
from autograder.remote import Session, ref

registry = Registry()

SLIDE = "Part 4, 'Training your models'"
BATCH_SIZE = 64
LEARNING_RATE = 2e-3


@lru_cache(maxsize=1)
def digits_16() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train images, train labels, test images, test labels); images (N, 1, 16, 16) in [0, 1]."""
    images, labels, order = digits()
    images = F.interpolate(images, size=(16, 16), mode="bilinear", align_corners=False)  # (N, 1, 8, 8) -> 16x16
    test, train = order[:360], order[360:]
    return images[train], labels[train], images[test], labels[test]


def downsample(cin: int, cout: int) -> dict:
    return {"$nn": ["Sequential", [["Conv2d", [cin, cout, 1], {"stride": 2, "bias": False}], ["BatchNorm2d", [cout]]]]}


SMALL_RESNET = ["Sequential", [
    ["Conv2d", [1, 16, 3], {"padding": 1, "bias": False}], ["BatchNorm2d", [16]], ["ReLU"],
    ["submission:resnet.BasicBlock", [16, 16]],
    ["submission:resnet.BasicBlock", [16, 32, 2, downsample(16, 32)]],
    ["submission:resnet.BasicBlock", [32, 32]],
    ["AdaptiveAvgPool2d", [1]], ["Flatten"], ["Linear", [32, 10]],
]]
PROVIDED_RESNET_PARAMETERS = 16 * 9 + 2 * 16 + (16 * 32 + 2 * 32) + 32 * 10 + 10
"""Parameters of SMALL_RESNET's torch layers (stem, downsample, head): the rest are the blocks'."""
SMALL_VIT = {"img_size": 16, "patch_size": 4, "in_channels": 1, "num_classes": 10, "embed_dim": 64, "depth": 2,
             "num_heads": 4}


def train_and_score(session: Session, name: str, label: str) -> Outcome:
    """Train ``name`` on digits, then score its held-out predictions against the rubric's threshold."""
    settings = session.training
    steps = int(settings.get("max_steps", 300))
    threshold = float(settings.get("min_accuracy", 0.8))
    train_x, train_y, test_x, test_y = digits_16()
    losses, seconds = session.train(name, train_x, train_y, steps, BATCH_SIZE, LEARNING_RATE, seed=0,
                                    time_limit_s=float(settings.get("time_limit_s", 120)))
    if not losses or any(loss != loss for loss in losses):
        return failed(f"{label}: training produced no finite loss (NaN?)")
    window = max(1, len(losses) // 10)
    first, last = sum(losses[:window]) / window, sum(losses[-window:]) / window
    logits = session.forward(name, test_x, mode="eval").outputs
    if not logits or tuple(logits[0].shape) != (len(test_y), 10):
        return failed(f"{label}: predictions on {len(test_y)} held-out images should have shape ({len(test_y)}, 10)")
    accuracy = float((logits[0].argmax(dim=1) == test_y).float().mean())
    summary = (f"{label}: {len(losses)} steps in {seconds:.1f} s, loss {first:.3f} -> {last:.3f}, "
               f"held-out accuracy {accuracy:.1%} (needs {threshold:.0%})")
    if last >= first:
        return failed(summary + "; the loss did not fall")
    if accuracy < threshold:
        return Outcome(0.5, summary + "; the loss fell but the model does not generalise well enough")
    return passed(summary)


@registry.check("part4.training.resnet", "resnet", "BasicBlock (training)", SLIDE)
def resnet_smoke(session: Session, rule) -> Outcome:
    """A small CNN of three of your BasicBlocks learns digits."""
    built = session.build("smoke_resnet", {"$nn_factory": SMALL_RESNET}, 0)
    if built.trainable <= PROVIDED_RESNET_PARAMETERS:
        return failed("a CNN of 3 BasicBlocks: your blocks have no parameters (not implemented yet?)")
    return train_and_score(session, "smoke_resnet", "a CNN of 3 BasicBlocks")


@registry.check("part4.training.vit", "vit", "VisionTransformer (training)", SLIDE)
def vit_smoke(session: Session, rule) -> Outcome:
    """A small VisionTransformer of yours learns digits."""
    if session.build("smoke_vit", ref("vit.VisionTransformer"), **SMALL_VIT).trainable == 0:
        return failed("VisionTransformer has no parameters (not implemented yet?)")
    return train_and_score(session, "smoke_vit", "a 2-block ViT (16x16 images, 4x4 patches)")
