"""Part 4: latency, throughput, memory, FLOPs and energy of the CNN and the ViT at three batch sizes.

    python -m experiments profiling [--smoke]

For ResNet-18 and the small ViT of ``experiments.regimes`` (and ResNet-50 at full size), all with
fresh weights in float32, per batch size (one cached run each):

- latency: the lab profiler's ``measure_latency`` (median and p95 of forward passes in eval mode);
  throughput = batch / median latency;
- peak memory: on CUDA the caching allocator's peak over those forward passes (weights included);
  elsewhere the lab profiler's ``measure_memory``, the peak of one training step; the column
  ``memory_measured`` says which;
- FLOPs per image: the analytic count of ``analytic_flops`` (theory), the lab profiler's
  ``measure_flops`` and torch's ``FlopCounterMode`` (which on the CPU does not see the fused
  attention kernel, so it falls short of theory by ``attention_flops`` there); achieved GFLOP/s =
  analytic FLOPs x batch / median latency;
- energy per image: the GPU's total-energy counter read through NVML (``pynvml``) around at least
  ``ENERGY_SECONDS`` of forward passes; empty elsewhere, with the reason in ``energy_note``.

Written: ``profiling.csv`` / ``.json``, ``latency_throughput.png`` (latency, throughput and peak
memory against batch size) and ``flops.png`` (measured against theoretical FLOPs).

Full size: CIFAR-10 images (3, 32, 32), batches 1, 32 and 128, 50 timed runs, ResNet-50 too.
Smoke size: digits images (1, 16, 16), batches 1, 8 and 32, 5 timed runs; 10 to 20 s on one CPU thread.
"""
from __future__ import annotations

import platform
import time
from functools import partial
from typing import Callable, Optional

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from experiments.context import Context
from experiments.flops import RESNET_STAGES, resnet_flops, vit_attention_flops, vit_flops
from experiments.regimes import Architecture, architectures, resnet

BATCHES = {"smoke": (1, 8, 32), "full": (1, 32, 128)}
TIMED_RUNS = {"smoke": 5, "full": 50}
ENERGY_SECONDS = 2.0
"""NVML's energy counter moves in steps of tens of milliseconds: read it around seconds of work."""


def analytic_flops(arch: Architecture, image_shape: tuple[int, int, int]) -> dict[str, int]:
    """``{"total", "attention"}``: the theoretical FLOPs of ``arch`` on one (C, H, W) image."""
    channels, size, _ = image_shape
    k = arch.kwargs
    if arch.family == "CNN":
        total = resnet_flops(*RESNET_STAGES[int(arch.name.removeprefix("resnet"))], size, channels,
                             k.get("num_classes", 1000), k.get("stem", "imagenet"))
        return {"total": total, "attention": 0}
    keys = ("patch_size", "num_classes", "embed_dim", "depth", "mlp_ratio")
    total = vit_flops(size, in_channels=channels, **{key: k[key] for key in keys if key in k})
    tokens = (size // k.get("patch_size", 16)) ** 2 + 1
    return {"total": total, "attention": vit_attention_flops(tokens, k.get("embed_dim", 768), k.get("depth", 12))}


def torch_flops(model: nn.Module, image_shape: tuple[int, int, int], device: torch.device) -> int:
    """FLOPs of one eval-mode forward pass on a (1, C, H, W) input as torch's FlopCounterMode counts them."""
    counter = FlopCounterMode(display=False)
    was_training = model.training
    model.eval()
    with torch.no_grad(), counter:
        model(torch.zeros(1, *image_shape, device=device))
    model.train(was_training)
    return int(counter.get_total_flops())


# ---------------------------------------------------------------- energy


def nvml_energy(device: torch.device) -> tuple[Optional[Callable[[], float]], str]:
    """A reader of ``device``'s total energy since the driver loaded (millijoules), or None and why not."""
    if device.type != "cuda":
        return None, "no CUDA device (NVML measures GPUs)"
    try:
        import pynvml
    except ImportError:
        return None, "pynvml is not installed (pip install nvidia-ml-py)"
    try:
        pynvml.nvmlInit()
        props = torch.cuda.get_device_properties(device)
        # NVML numbers GPUs its own way (CUDA_VISIBLE_DEVICES does not apply): find this one by its PCI address.
        address = f"{props.pci_domain_id:08x}:{props.pci_bus_id:02x}:{props.pci_device_id:02x}.0"
        handle = pynvml.nvmlDeviceGetHandleByPciBusId(address.encode())
        pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    except (pynvml.NVMLError, AttributeError, TypeError) as error:
        return None, f"NVML has no energy counter here: {error}"
    return (lambda: float(pynvml.nvmlDeviceGetTotalEnergyConsumption(handle))), "NVML total energy counter"


@torch.no_grad()
def energy_per_image(model: nn.Module, images: torch.Tensor, read_mj: Callable[[], float], seconds: float) -> float:
    """Millijoules per image of eval-mode forward passes on ``images`` (B, C, H, W), repeated for ``seconds``."""
    model.eval()
    torch.cuda.synchronize(images.device)
    start_mj, start, count = read_mj(), time.perf_counter(), 0
    while count == 0 or time.perf_counter() - start < seconds:
        model(images)
        torch.cuda.synchronize(images.device)
        count += len(images)
    return (read_mj() - start_mj) / count


# ---------------------------------------------------------------- measurements


def flops_run(context: Context, arch: Architecture, image_shape: tuple[int, int, int]) -> dict:
    """Per-image FLOPs of ``arch``: analytic, the lab profiler's and FlopCounterMode's."""
    torch.manual_seed(context.seed)
    model = arch.build(context.lab)
    profiler = context.lab.profiler.ModelProfiler(model, context.device)
    theory = analytic_flops(arch, image_shape)
    return {"parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "flops_analytic": theory["total"], "attention_flops": theory["attention"],
            "flops_lab": int(profiler.measure_flops(image_shape)),
            "flops_torch": torch_flops(profiler.model, image_shape, context.device)}


def batch_run(context: Context, arch: Architecture, image_shape: tuple[int, int, int], batch: int) -> dict:
    """Latency, peak memory and energy of ``arch`` at ``batch``."""
    device = context.device
    torch.manual_seed(context.seed)
    profiler = context.lab.profiler.ModelProfiler(arch.build(context.lab), device)
    images = torch.randn(batch, *image_shape, device=device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    latency = profiler.measure_latency(images, TIMED_RUNS[context.size])
    if device.type == "cuda":
        peak, measured = torch.cuda.max_memory_allocated(device), "CUDA allocator peak, forward passes"
    else:
        peak, measured = profiler.measure_memory(batch, image_shape), "training step (lab profiler)"
    read_mj, note = nvml_energy(device)
    energy = energy_per_image(profiler.model, images, read_mj, ENERGY_SECONDS) if read_mj else None
    return {"median_ms": latency["median_ms"], "p95_ms": latency["p95_ms"], "mean_ms": latency["mean_ms"],
            "timed_runs": TIMED_RUNS[context.size], "peak_memory_mb": peak / 2**20, "memory_measured": measured,
            "energy_per_image_mj": energy, "energy_note": note}


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU with its architecture and thread count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}), {torch.get_num_threads()} threads"


def table_rows(context: Context, archs: list[Architecture], image_shape: tuple[int, int, int],
               dataset: str) -> list[dict]:
    """One row per model and batch size; each measurement a cached run."""
    rows = []
    for arch in archs:
        flops = context.out.run(f"{arch.name}-flops", partial(flops_run, context, arch, image_shape))
        for batch in BATCHES[context.size]:
            timing = context.out.run(f"{arch.name}-b{batch}", partial(batch_run, context, arch, image_shape, batch))
            seconds = timing["median_ms"] / 1000
            rows.append({"dataset": dataset, "size": context.size,
                         "device": device_name(context.device), "model": arch.name, "family": arch.family,
                         "config": arch.describe(), "image_shape": "x".join(map(str, image_shape)), "batch_size": batch,
                         **flops, **timing, "throughput_ips": batch / seconds,
                         "achieved_gflops": flops["flops_analytic"] * batch / seconds / 1e9})
    return rows


# ---------------------------------------------------------------- figures


def cost_figure(rows: list[dict]):
    """Median latency (bars to p95), throughput and peak memory against batch size, one line per model."""
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for model in dict.fromkeys(row["model"] for row in rows):
        points = [row for row in rows if row["model"] == model]
        batches = [row["batch_size"] for row in points]
        style = {"marker": "o", "label": model}
        median = [row["median_ms"] for row in points]
        above = [row["p95_ms"] - row["median_ms"] for row in points]
        axes[0].errorbar(batches, median, yerr=[[0] * len(points), above], capsize=3, **style)
        axes[1].plot(batches, [row["throughput_ips"] for row in points], **style)
        axes[2].plot(batches, [row["peak_memory_mb"] for row in points], **style)
    titles = ("latency: median, bar to p95 (ms)", "throughput (images/s)",
              f"peak memory (MB): {rows[0]['memory_measured']}")
    for axis, title in zip(axes, titles):
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.set_xlabel("batch size")
        axis.set_title(title, fontsize=10)
        axis.grid(alpha=0.3, which="both")
    axes[0].legend()
    figure.suptitle(f"Inference cost on {rows[0]['device']}, {rows[0]['image_shape']} images, float32")
    figure.tight_layout()
    return figure


def flops_figure(rows: list[dict]):
    """Per-image GFLOPs per model: analytic, the lab profiler's and FlopCounterMode's, side by side."""
    import matplotlib.pyplot as plt

    models = {row["model"]: row for row in rows}
    sources = (("flops_analytic", "analytic (theory)"), ("flops_lab", "lab profiler"),
               ("flops_torch", "FlopCounterMode"))
    figure, axis = plt.subplots(figsize=(7, 4.2))
    width = 0.8 / len(sources)
    for offset, (key, label) in enumerate(sources):
        positions = [index + (offset - 1) * width for index in range(len(models))]
        bars = axis.bar(positions, [row[key] / 1e9 for row in models.values()], width, label=label)
        shares = [f"{row[key] / row['flops_analytic']:.1%}" for row in models.values()]
        axis.bar_label(bars, shares, fontsize=7, rotation=90, padding=2)
    axis.set_xticks(range(len(models)), list(models))
    axis.set_yscale("log")
    axis.margins(y=0.3)
    axis.set_ylabel("GFLOPs per image (multiply-add = 2), % of theory")
    axis.set_title(f"Measured against theoretical FLOPs, {rows[0]['image_shape']} images")
    axis.legend()
    axis.grid(alpha=0.3, axis="y")
    return figure


def run(context: Context) -> dict:
    """Profile every model at every batch size; write the table and figures; return per-model highlights."""
    dataset = context.dataset("full")
    archs = architectures(dataset.image_shape, dataset.num_classes)
    if not context.smoke:
        archs.append(resnet(50, dataset.image_shape, dataset.num_classes))
    rows = table_rows(context, archs, dataset.image_shape, dataset.name)
    context.out.table("profiling", rows)
    context.out.figure("latency_throughput", cost_figure(rows))
    context.out.figure("flops", flops_figure(rows))
    batches = BATCHES[context.size]
    summary = {"device": rows[0]["device"], "memory_measured": rows[0]["memory_measured"]}
    for row in rows:
        if row["batch_size"] in (batches[0], batches[-1]):
            summary[f"{row['model']} batch {row['batch_size']}"] = {
                "median_ms": round(row["median_ms"], 3), "throughput_ips": round(row["throughput_ips"], 1),
                "gflops_per_image": round(row["flops_analytic"] / 1e9, 4)}
    return summary
