"""A summary table of the reference models: input and output shapes, parameters, FLOPs."""
from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from typing import Callable

import torch
from torch import nn

from solutions import attention, resnet, vit
from solutions.profiler import ModelProfiler


@dataclass(frozen=True)
class ModelSpec:
    """A named model configuration of the lab."""

    name: str
    """Row label, e.g. ``resnet50``."""
    build: Callable[[], nn.Module]
    """Builds the model with fresh random weights."""
    input_size: tuple[int, int, int]
    """One image's shape (C, H, W)."""


@dataclass(frozen=True)
class ModelRow:
    """What was measured for one model."""

    name: str
    input_shape: tuple[int, ...]
    """(1, C, H, W), the input of the measurement."""
    output_shape: tuple[int, ...]
    """Shape of the model's output for that input."""
    parameters: int
    """Trainable parameters."""
    flops: int
    """FLOPs of one forward pass on one image (a multiply-add counts 2)."""
    seconds: float
    """Wall time spent building and measuring this model."""


IMAGENET = (3, 224, 224)
CIFAR = (3, 32, 32)
CIFAR_RESNET = {"num_classes": 10, "stem": "cifar"}
CIFAR_VIT = {"img_size": 32, "patch_size": 4, "num_classes": 10, "embed_dim": 192, "depth": 6, "num_heads": 3}

MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("resnet18", resnet.resnet18, IMAGENET),
    ModelSpec("resnet34", resnet.resnet34, IMAGENET),
    ModelSpec("resnet50", resnet.resnet50, IMAGENET),
    ModelSpec("resnet101", resnet.resnet101, IMAGENET),
    ModelSpec("preact-resnet18", partial(resnet.resnet18, preact=True), IMAGENET),
    ModelSpec("preact-resnet50", partial(resnet.resnet50, preact=True), IMAGENET),
    ModelSpec("se-resnet50", partial(resnet.resnet50, attention=attention.SEModule), IMAGENET),
    ModelSpec("cbam-resnet50", partial(resnet.resnet50, attention=attention.CBAM), IMAGENET),
    ModelSpec("vit-b/16", vit.VisionTransformer, IMAGENET),
    ModelSpec("vit-s/16", partial(vit.VisionTransformer, embed_dim=384, num_heads=6), IMAGENET),
    ModelSpec("resnet18-cifar", partial(resnet.resnet18, **CIFAR_RESNET), CIFAR),
    ModelSpec("preact-resnet18-cifar", partial(resnet.resnet18, preact=True, **CIFAR_RESNET), CIFAR),
    ModelSpec("se-resnet18-cifar", partial(resnet.resnet18, attention=attention.SEModule, **CIFAR_RESNET), CIFAR),
    ModelSpec("cbam-resnet18-cifar", partial(resnet.resnet18, attention=attention.CBAM, **CIFAR_RESNET), CIFAR),
    ModelSpec("vit-cifar", partial(vit.VisionTransformer, **CIFAR_VIT), CIFAR),
    ModelSpec("vit-cifar-sinusoidal", partial(vit.VisionTransformer, pos_encoding="sinusoidal", **CIFAR_VIT), CIFAR),
)


def measure(spec: ModelSpec) -> ModelRow:
    """Build ``spec`` and measure it on the CPU."""
    start = time.perf_counter()
    torch.manual_seed(0)
    model = spec.build().eval()
    with torch.no_grad():
        output = model(torch.zeros(1, *spec.input_size))
    parameters = sum(p.numel() for p in model.parameters() if p.requires_grad)
    flops = ModelProfiler(model, "cpu").measure_flops(spec.input_size)
    return ModelRow(spec.name, (1, *spec.input_size), tuple(output.shape), parameters, flops,
                    time.perf_counter() - start)


HEADERS = ("model", "input", "output", "parameters", "GFLOPs")


def _cells(row: ModelRow) -> tuple[str, ...]:
    shape = lambda s: "x".join(map(str, s))  # noqa: E731
    return (row.name, shape(row.input_shape), shape(row.output_shape), f"{row.parameters:,}", f"{row.flops / 1e9:.3f}")


def format_table(rows: list[ModelRow], markdown: bool = False) -> str:
    """Rows as an aligned text table, or as a Markdown table."""
    cells = [HEADERS] + [_cells(row) for row in rows]
    if markdown:
        lines = ["| " + " | ".join(line) + " |" for line in cells]
        lines.insert(1, "|" + "|".join(["---"] + ["---:"] * (len(HEADERS) - 1)) + "|")
        return "\n".join(lines)
    widths = [max(len(line[i]) for line in cells) for i in range(len(HEADERS))]
    out = []
    for line in cells:
        first = line[0].ljust(widths[0])
        out.append("  ".join([first] + [cell.rjust(width) for cell, width in zip(line[1:], widths[1:])]))
    out.insert(1, "-" * len(out[0]))
    return "\n".join(out)
