"""Tests for solutions.gradcam.GradCAM.

Checked against the ``grad-cam`` package (``pytorch_grad_cam``) and against an independent
computation written here (a forward hook, ``torch.autograd.grad``, spatial-mean weights).

The package computes ReLU(sum_k mean(grad_k) A_k), min-max scales it per image, resizes it with
``cv2.resize`` (bilinear, half-pixel centres), then min-max scales it again (eps 1e-7 added to the
denominator). Min-max scaling is affine and bilinear interpolation is a convex combination, so the
two commute: both pipelines give the same maps up to float rounding.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from pytorch_grad_cam import GradCAM as PackageGradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from solutions.gradcam import GradCAM
from solutions.resnet import resnet18

BATCH, SIZE, NUM_CLASSES = 3, 32, 10
# No resizing (layer1 keeps 32x32 with the cifar stem): only float rounding differs.
EXACT_ATOL = 1e-5
# With resizing the package goes through OpenCV (its own float32 bilinear kernel, possibly SIMD)
# and two normalisations instead of one; observed differences are ~5e-7, 1e-4 leaves margin for
# other OpenCV builds while staying far below the gaps between different weightings (> 0.1).
RESIZED_ATOL = 1e-4


@pytest.fixture(scope="module")
def resnet() -> nn.Module:
    """A cifar ResNet-18 whose BatchNorm statistics are set on random data, in eval mode."""
    torch.manual_seed(0)
    model = resnet18(num_classes=NUM_CLASSES, stem="cifar")
    model.train()
    with torch.no_grad():  # give BatchNorm realistic running statistics
        for _ in range(2):
            model(torch.randn(16, 3, SIZE, SIZE))
    return model.eval()


def package_cam(model: nn.Module, layer_name: str, x: torch.Tensor, classes) -> torch.Tensor:
    """Maps from the grad-cam package, run on a copy (it calls backward on the model)."""
    clone = copy.deepcopy(model)
    targets = None if classes is None else [ClassifierOutputTarget(int(c)) for c in classes]
    with PackageGradCAM(clone, [clone.get_submodule(layer_name)]) as cam:
        maps = cam(x, targets=targets)
    return torch.from_numpy(maps)


def layer_tensors(model: nn.Module, layer: nn.Module, x: torch.Tensor, classes):
    """Activations (B, K, h, w) of ``layer`` and the gradients of the chosen class scores."""
    kept = []
    handle = layer.register_forward_hook(lambda module, inputs, output: kept.append(output))
    try:
        with torch.enable_grad():
            logits = model(x)
            if classes is None:
                classes = logits.argmax(dim=1)
            classes = torch.as_tensor(classes).reshape(-1)
            chosen = torch.stack([logits[i, classes[i]] for i in range(x.shape[0])])
            (grads,) = torch.autograd.grad(chosen.sum(), kept[0])
    finally:
        handle.remove()
    return kept[0].detach(), grads


def reference_cam(model, layer, x, classes, weighting: str = "mean") -> torch.Tensor:
    """Grad-CAM computed here, with channel weights from ``weighting`` (mean / max / ones)."""
    acts, grads = layer_tensors(model, layer, x, classes)
    if weighting == "mean":
        weights = grads.sum(dim=(2, 3)) / (grads.shape[2] * grads.shape[3])
    elif weighting == "max":
        weights = grads.amax(dim=(2, 3))
    else:
        weights = torch.ones(grads.shape[:2])
    cam = torch.relu(torch.einsum("bk,bkhw->bhw", weights, acts))
    cam = F.interpolate(cam[:, None], size=tuple(x.shape[-2:]), mode="bilinear", align_corners=False)[:, 0]
    maps = []
    for image in cam:
        shifted = image - image.min()
        top = shifted.max()
        maps.append(shifted / top if top > 1e-7 else shifted / 1e-7)
    return torch.stack(maps)


def run_ours(model, layer, x, class_idx=None) -> torch.Tensor:
    """Our GradCAM, with its hook removed afterwards."""
    with GradCAM(model, layer) as cam:
        return cam(x, class_idx)


CLASS_CHOICES = [None, 3, [0, 5, 9], torch.tensor([7, 1, 1])]


@pytest.mark.parametrize("class_idx", CLASS_CHOICES, ids=["argmax", "int", "list", "tensor"])
def test_matches_package_without_resizing(resnet, class_idx):
    """At layer1 (32x32 on 32x32 input) our maps equal the grad-cam package's tightly."""
    torch.manual_seed(1)
    x = torch.randn(BATCH, 3, SIZE, SIZE)
    ours = run_ours(resnet, resnet.layer1, x, class_idx)
    classes = None if class_idx is None else ([class_idx] * BATCH if isinstance(class_idx, int) else class_idx)
    expected = package_cam(resnet, "layer1", x, classes)
    assert resnet.layer1(torch.zeros(1, 64, SIZE, SIZE)).shape[-2:] == (SIZE, SIZE)
    assert float(expected.amax()) == pytest.approx(1.0, abs=1e-6)  # a real, non-zero map
    torch.testing.assert_close(ours, expected, atol=EXACT_ATOL, rtol=0)


@pytest.mark.parametrize(
    "layer_name, class_idx",
    [("layer2", None), ("layer3", CLASS_CHOICES[1]), ("layer3", CLASS_CHOICES[2])],
    ids=["layer2-argmax", "layer3-int", "layer3-list"],
)
def test_matches_package_with_upsampling(resnet, layer_name, class_idx):
    """At 16x16 / 8x8 layers, upsampled to 32x32, our maps match the package within rounding."""
    torch.manual_seed(2)
    x = torch.randn(BATCH, 3, SIZE, SIZE)
    ours = run_ours(resnet, resnet.get_submodule(layer_name), x, class_idx)
    classes = None if class_idx is None else ([class_idx] * BATCH if isinstance(class_idx, int) else class_idx)
    expected = package_cam(resnet, layer_name, x, classes)
    torch.testing.assert_close(ours, expected, atol=RESIZED_ATOL, rtol=0)


@pytest.mark.parametrize("layer_name", ["layer1", "layer3"])
def test_matches_independent_computation(resnet, layer_name):
    """Our maps equal hook + autograd.grad + mean weights + bilinear upsampling + min-max."""
    torch.manual_seed(3)
    x = torch.randn(BATCH, 3, SIZE, SIZE)
    classes = [1, 8, 3]
    ours = run_ours(resnet, resnet.get_submodule(layer_name), x, classes)
    expected = reference_cam(resnet, resnet.get_submodule(layer_name), x, classes)
    torch.testing.assert_close(ours, expected, atol=EXACT_ATOL, rtol=0)


def test_non_square_input(resnet):
    """A 32x48 input gives (B, 32, 48) maps equal to the independent computation."""
    torch.manual_seed(4)
    x = torch.randn(2, 3, 32, 48)
    ours = run_ours(resnet, resnet.layer3, x, 5)
    assert ours.shape == (2, 32, 48)
    torch.testing.assert_close(ours, reference_cam(resnet, resnet.layer3, x, [5, 5]), atol=EXACT_ATOL, rtol=0)


def test_weighting_is_the_spatial_mean_of_gradients(resnet):
    """At layer3 the gradients vary over space, so mean, max and unit weights give different maps."""
    torch.manual_seed(5)
    x = torch.randn(BATCH, 3, SIZE, SIZE)
    classes = [2, 6, 0]
    _, grads = layer_tensors(resnet, resnet.layer3, x, classes)
    # Precondition: not spatially constant per channel (as they would be right before the pool).
    assert float((grads.amax(dim=(2, 3)) - grads.amin(dim=(2, 3))).abs().max()) > 1e-3
    ours = run_ours(resnet, resnet.layer3, x, classes)
    torch.testing.assert_close(ours, reference_cam(resnet, resnet.layer3, x, classes, "mean"), atol=EXACT_ATOL, rtol=0)
    for wrong in ("max", "ones"):
        other = reference_cam(resnet, resnet.layer3, x, classes, wrong)
        assert float((ours - other).abs().amax()) > 0.1, wrong


def test_output_shape_and_range(resnet):
    """Maps are (B, H, W) in [0, 1], each with minimum 0 and maximum 1."""
    torch.manual_seed(6)
    x = torch.randn(4, 3, SIZE, SIZE)
    maps = run_ours(resnet, resnet.layer2, x)
    assert maps.shape == (4, SIZE, SIZE)
    assert maps.dtype == torch.float32
    assert bool(torch.isfinite(maps).all())
    assert float(maps.min()) >= 0.0 and float(maps.max()) <= 1.0
    torch.testing.assert_close(maps.amin(dim=(1, 2)), torch.zeros(4), atol=1e-6, rtol=0)
    torch.testing.assert_close(maps.amax(dim=(1, 2)), torch.ones(4), atol=1e-6, rtol=0)


def test_strictly_positive_maps_are_scaled_per_image():
    """Maps with no zero after ReLU are min-max scaled image by image, as the package does."""
    torch.manual_seed(13)
    features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Softplus(), nn.AvgPool2d(2))
    head = nn.Linear(4, 3)
    with torch.no_grad():
        head.weight.copy_(torch.rand(3, 4) + 0.1)  # positive weights on positive activations
    model = nn.Sequential(features, nn.AdaptiveAvgPool2d(1), nn.Flatten(), head).eval()
    x = torch.randn(3, 3, 12, 12) + torch.tensor([0.0, 2.0, -2.0])[:, None, None, None]
    _, grads = layer_tensors(model, features, x, [1, 1, 1])
    assert float(grads.amin()) > 0  # so the raw map is strictly positive everywhere
    ours = run_ours(model, features, x, 1)
    torch.testing.assert_close(ours, reference_cam(model, features, x, [1, 1, 1]), atol=EXACT_ATOL, rtol=0)
    torch.testing.assert_close(ours, package_cam(model, "0", x, [1, 1, 1]), atol=RESIZED_ATOL, rtol=0)
    torch.testing.assert_close(ours.amin(dim=(1, 2)), torch.zeros(3), atol=1e-6, rtol=0)


def test_all_negative_evidence_gives_zero_map():
    """When every weighted activation is negative the map is all zeros, not NaN."""
    torch.manual_seed(7)
    features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
    head = nn.Linear(4, 2)
    with torch.no_grad():
        head.weight.copy_(-torch.rand(2, 4) - 0.1)  # class scores fall as any activation grows
    model = nn.Sequential(features, nn.AdaptiveAvgPool2d(1), nn.Flatten(), head).eval()
    x = torch.randn(3, 3, 8, 8)
    maps = run_ours(model, features, x, 0)
    assert maps.shape == (3, 8, 8)
    torch.testing.assert_close(maps, torch.zeros(3, 8, 8), atol=0, rtol=0)


@pytest.mark.parametrize(
    "class_idx", [[1, 2], [0, 1, 2, 3], 10, -1, [0, 1, 10], torch.tensor([0, -1, 2])],
    ids=["too-few", "too-many", "int-high", "int-negative", "list-high", "tensor-negative"],
)
def test_invalid_class_idx(resnet, class_idx):
    """A class_idx of the wrong length or out of range raises ValueError."""
    torch.manual_seed(8)
    x = torch.randn(BATCH, 3, SIZE, SIZE)
    with pytest.raises(ValueError), GradCAM(resnet, resnet.layer3) as cam:
        cam(x, class_idx)


def test_parameter_gradients_stay_none():
    """A call leaves every parameter's .grad None and the input untouched."""
    torch.manual_seed(9)
    model = resnet18(num_classes=NUM_CLASSES, stem="cifar").eval()
    x = torch.randn(2, 3, SIZE, SIZE)
    before = x.clone()
    run_ours(model, model.layer3, x, [1, 2])
    assert all(p.grad is None for p in model.parameters())
    assert not x.requires_grad and x.grad is None
    torch.testing.assert_close(x, before, atol=0, rtol=0)


def test_works_with_frozen_weights(resnet):
    """With every parameter frozen the maps are unchanged (the graph comes from the input)."""
    torch.manual_seed(10)
    model = copy.deepcopy(resnet)
    x = torch.randn(2, 3, SIZE, SIZE)
    expected = run_ours(model, model.layer3, x, [4, 0])
    model.requires_grad_(False)
    torch.testing.assert_close(run_ours(model, model.layer3, x, [4, 0]), expected, atol=0, rtol=0)


def test_remove_and_context_manager_take_the_hook_off(resnet):
    """remove() and leaving the with-block both empty the target layer's forward hooks."""
    torch.manual_seed(11)
    layer = resnet.layer2
    assert len(layer._forward_hooks) == 0
    cam = GradCAM(resnet, layer)
    assert len(layer._forward_hooks) == 1
    cam(torch.randn(1, 3, SIZE, SIZE))
    cam.remove()
    assert len(layer._forward_hooks) == 0
    with GradCAM(resnet, layer) as cam:
        assert len(layer._forward_hooks) == 1
        cam(torch.randn(1, 3, SIZE, SIZE))
    assert len(layer._forward_hooks) == 0
    with pytest.raises(ValueError), GradCAM(resnet, layer) as cam:
        cam(torch.randn(2, 3, SIZE, SIZE), [1, 2, 3])
    assert len(layer._forward_hooks) == 0


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_model_mode_unchanged(train):
    """Every module's training flag is the same after a call as before."""
    torch.manual_seed(12)
    model = resnet18(num_classes=NUM_CLASSES, stem="cifar").train(train)
    model.layer2.eval()  # a mixed state must survive too
    before = [m.training for m in model.modules()]
    run_ours(model, model.layer3, torch.randn(2, 3, SIZE, SIZE))
    assert [m.training for m in model.modules()] == before


@pytest.mark.parametrize("single", [np.int64(4), torch.tensor(4)], ids=["numpy-int", "0d-tensor"])
def test_single_class_in_any_integer_form_explains_every_image(resnet, single):
    """A numpy integer or a 0-d tensor means one class for the whole batch, as an int does."""
    x = torch.randn(BATCH, 3, SIZE, SIZE)
    torch.testing.assert_close(run_ours(resnet, resnet.layer2, x, single), run_ours(resnet, resnet.layer2, x, 4))
