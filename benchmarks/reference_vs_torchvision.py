"""Forward+backward time of the reference ResNet-50 and ViT-B/16 against torchvision's and timm's, side by side.

    python benchmarks/reference_vs_torchvision.py [--device auto|cpu|cuda] [--batch-size N]
                                                  [--repeats N] [--warmup N]

The two implementations of a model are timed alternately in one process (same inputs, same
threads, float32), so drift in machine load hits both; the ratio is ours / the library's median.
timm's models are compared where timm is installed (the kit's test extra).
Prints a Markdown table naming the device and the torch version.
"""
from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch
import torchvision
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from autograder.engine.device import resolve_device  # noqa: E402
from experiments.profiling import device_name  # noqa: E402
from solutions import resnet, vit  # noqa: E402


def timm_model(name: str) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import timm

        return timm.create_model(name, pretrained=False)
    return build


PAIRS: dict[tuple[str, str], tuple[Callable[[], nn.Module], Callable[[], nn.Module]]] = {
    ("ResNet-50", "torchvision"): (resnet.resnet50, torchvision.models.resnet50),
    ("ViT-B/16", "torchvision"): (vit.VisionTransformer, torchvision.models.vit_b_16),
    ("ResNet-50", "timm"): (resnet.resnet50, timm_model("resnet50")),
    ("ViT-B/16", "timm"): (vit.VisionTransformer, timm_model("vit_base_patch16_224")),
}
"""(model, library) -> (the reference's factory, the library's)."""


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_seconds(model: nn.Module, images: torch.Tensor, device: torch.device) -> float:
    """Wall time of one forward+backward pass."""
    sync(device)
    start = time.perf_counter()
    model(images).sum().backward()
    sync(device)
    seconds = time.perf_counter() - start
    model.zero_grad(set_to_none=True)
    return seconds


def compare(name: tuple[str, str], device: torch.device, batch_size: int, repeats: int, warmup: int) -> dict:
    ours_factory, theirs_factory = PAIRS[name]
    torch.manual_seed(0)
    ours, theirs = ours_factory().to(device).train(), theirs_factory().to(device).train()
    images = torch.randn(batch_size, 3, 224, 224, device=device)
    times: dict[str, list[float]] = {"ours": [], "theirs": []}
    for round_index in range(warmup + repeats):
        for label, model in (("ours", ours), ("theirs", theirs)):
            seconds = step_seconds(model, images, device)
            if round_index >= warmup:
                times[label].append(seconds)
    ours_ms = statistics.median(times["ours"]) * 1000
    theirs_ms = statistics.median(times["theirs"]) * 1000
    return {"model": name[0], "library": name[1], "ours_ms": ours_ms, "theirs_ms": theirs_ms,
            "ratio": ours_ms / theirs_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--batch-size", type=int, default=None, help="default: 8 on CPU, 64 on CUDA")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    device = torch.device(resolve_device(args.device))
    use_cuda = device.type == "cuda"
    batch_size = args.batch_size or (64 if use_cuda else 8)
    print(f"device: {device_name(device)}; torch {torch.__version__}, torchvision {torchvision.__version__}; "
          f"float32, batch {batch_size}, 224x224, median of {args.repeats} after {args.warmup} warm-up rounds")
    print("| model | library | reference fwd+bwd (ms) | library fwd+bwd (ms) | ratio |")
    print("|---|---|---:|---:|---:|")
    for name in PAIRS:
        if name[1] == "timm" and importlib.util.find_spec("timm") is None:
            print(f"| {name[0]} | timm | | | not installed |")
            continue
        row = compare(name, device, batch_size, args.repeats, args.warmup)
        print(f"| {row['model']} | {row['library']} | {row['ours_ms']:.1f} | "
              f"{row['theirs_ms']:.1f} | {row['ratio']:.3f} |",
              flush=True)


if __name__ == "__main__":
    main()
