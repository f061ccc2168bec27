"""On a CUDA device the references agree with their CPU results (skipped where there is no GPU)."""
from __future__ import annotations

import pytest
import torch

from solutions import attention, gradcam, resnet, vit
from solutions.profiler import ModelProfiler

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CUDA = torch.device("cuda")


@pytest.fixture(autouse=True)
def exact_float32():
    """TF32 would make CUDA differ from the CPU by ~1e-3; these tests compare float32 numerics."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@pytest.mark.parametrize(
    "build, size",
    [
        (lambda: resnet.resnet50(num_classes=10, attention=attention.CBAM), 64),
        (lambda: resnet.resnet18(num_classes=10, preact=True, stem="cifar"), 32),
        (lambda: vit.VisionTransformer(32, 4, 3, 10, 64, 2, 4), 32),
    ],
)
def test_outputs_and_input_gradients_match_the_cpu(build, size):
    """Forward outputs and input gradients on CUDA equal the CPU's (eval mode, float32)."""
    torch.manual_seed(0)
    model = build().eval()
    x = torch.randn(2, 3, size, size)
    results = []
    for device in ("cpu", CUDA):
        model.to(device)
        xd = x.to(device).requires_grad_(True)
        out = model(xd)
        (grad,) = torch.autograd.grad(out.square().sum(), xd)
        results.append((out.detach().cpu(), grad.cpu()))
    torch.testing.assert_close(results[1], results[0], atol=1e-4, rtol=1e-3)


def test_flops_on_cuda_equal_the_cpu_count():
    """The FLOP count does not depend on the device, fused CUDA attention included."""
    model = vit.VisionTransformer(64, 8, 3, 10, 96, 2, 4)
    cpu_flops = ModelProfiler(model, "cpu").measure_flops((3, 64, 64))
    assert ModelProfiler(model, CUDA).measure_flops((3, 64, 64)) == cpu_flops


def test_training_step_memory_on_cuda_is_plausible():
    """Peak training memory on CUDA exceeds weights+grads+momentum and grows with the batch."""
    model = resnet.resnet18(num_classes=10, stem="cifar")
    profiler = ModelProfiler(model, CUDA)
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    small, large = profiler.measure_memory(2, (3, 32, 32)), profiler.measure_memory(64, (3, 32, 32))
    assert 3 * weights < small < large < 3 * weights + 2**31


def test_latency_is_synchronised():
    """CUDA latency is positive and ordered (median <= p95) for a real model."""
    profiler = ModelProfiler(resnet.resnet18(num_classes=10, stem="cifar"), CUDA)
    latency = profiler.measure_latency(torch.randn(32, 3, 32, 32), num_runs=20)
    assert 0 < latency["median_ms"] <= latency["p95_ms"]


def test_gradcam_on_cuda_equals_the_cpu():
    """Grad-CAM maps computed on CUDA equal the CPU's."""
    torch.manual_seed(0)
    model = resnet.resnet18(num_classes=10, stem="cifar").eval()
    x = torch.randn(2, 3, 32, 32)
    maps = []
    for device in ("cpu", CUDA):
        model.to(device)
        with gradcam.GradCAM(model, model.layer2) as cam:
            maps.append(cam(x.to(device), class_idx=[1, 7]).cpu())
    torch.testing.assert_close(maps[1], maps[0], atol=1e-4, rtol=1e-3)
