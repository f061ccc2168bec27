"""The lab profiler's FLOPs against the analytic counts and torch's FlopCounterMode.

    python benchmarks/flops_check.py [--lab solutions] [--quick]

For ResNet-18 and ResNet-50 (ImageNet stem, 224x224), ViT-B/16 (224x224) and the CIFAR models of
Part 4 (ResNet-18 with the CIFAR stem and the small ViT, 32x32): FLOPs of one image (a multiply-add
counts 2) by the analytic formulas of ``experiments.profiling``, by the lab's
``ModelProfiler.measure_flops`` and by plain ``FlopCounterMode``. On the CPU, FlopCounterMode does
not count the fused attention kernel, so for the ViTs it falls short by exactly the attention
matmuls. ``--quick``: the CIFAR models only. Prints a Markdown table naming the device.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from experiments.lab import load_lab  # noqa: E402
from experiments.profiling import analytic_flops, device_name, torch_flops  # noqa: E402
from experiments.regimes import Architecture, resnet, small_vit  # noqa: E402

IMAGENET, CIFAR = (3, 224, 224), (3, 32, 32)
VIT_B16 = {"img_size": 224, "patch_size": 16, "in_channels": 3, "num_classes": 1000, "embed_dim": 768, "depth": 12,
           "num_heads": 12}


def models(quick: bool) -> list[tuple[str, Architecture, tuple[int, int, int]]]:
    """(label, architecture, image shape) of every model checked."""
    cifar = [("ResNet-18, CIFAR stem", resnet(18, CIFAR, 10), CIFAR),
             ("ViT, CIFAR (Part 4)", small_vit(CIFAR, 10), CIFAR)]
    if quick:
        return cifar
    imagenet = {"num_classes": 1000, "stem": "imagenet", "in_channels": 3}
    return [("ResNet-18", Architecture("resnet18", "CNN", imagenet), IMAGENET),
            ("ResNet-50", Architecture("resnet50", "CNN", imagenet), IMAGENET),
            ("ViT-B/16", Architecture("vit-b16", "ViT", VIT_B16), IMAGENET)] + cifar


def check(lab, arch: Architecture, image_shape: tuple[int, int, int]) -> dict:
    """The three counts for one model on the CPU."""
    torch.manual_seed(0)
    model = arch.build(lab)
    theory = analytic_flops(arch, image_shape)
    return {"analytic": theory["total"], "attention": theory["attention"],
            "lab": int(lab.profiler.ModelProfiler(model, "cpu").measure_flops(image_shape)),
            "torch": torch_flops(model, image_shape, torch.device("cpu"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lab", default="solutions", help="whose profiler and models (default: the reference)")
    parser.add_argument("--quick", action="store_true", help="the CIFAR models only")
    args = parser.parse_args()
    lab = load_lab(args.lab)
    start = time.perf_counter()
    print(f"device: {device_name(torch.device('cpu'))}; torch {torch.__version__}; lab: {lab.source}; "
          "FLOPs of one image, multiply-add = 2")
    print("| model | input | analytic GFLOPs | lab profiler GFLOPs | FlopCounterMode GFLOPs | lab - analytic "
          "| FlopCounterMode - analytic | attention matmuls |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for label, arch, shape in models(args.quick):
        row = check(lab, arch, shape)
        print(f"| {label} | {'x'.join(map(str, shape))} | {row['analytic'] / 1e9:.4f} | {row['lab'] / 1e9:.4f} "
              f"| {row['torch'] / 1e9:.4f} | {row['lab'] - row['analytic']:,} | {row['torch'] - row['analytic']:,} "
              f"| {row['attention']:,} |", flush=True)
    print(f"({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
