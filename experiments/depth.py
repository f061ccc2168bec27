"""Depth scaling (Part 1): ResNet-18, 34, 50 and 101 trained on the same data with the same loop.

    python -m experiments depth [--smoke]

For each depth: parameters, training time (in all, per epoch and per training image), peak memory,
final and best test top-1 accuracy, and convergence: the epoch and the training seconds at which the
test accuracy first reached ``TARGETS[dataset]``. Every network has the CIFAR stem (3x3 stride-1
convolution, no max-pool) and as many input channels and classes as the dataset.

Full size: every depth gets the context's full training (30 epochs on CIFAR-10, one GPU).

Smoke size (digits, 16x16, on a CPU in under a minute): ResNet-18 is trained for 2 epochs of 36
steps of 16 images (lr 1e-3), enough to pass 90 % test accuracy. ResNet-34, 50 and 101 get one epoch
of 3 steps of 16 images and are tested on the first 64 test images: enough to measure their time and
memory, not their accuracy (the figures say how many steps each depth was trained).

Peak memory is the training loop's: on CUDA the allocator's peak of the epoch, on the CPU the
process's peak resident size so far, which only grows from one run to the next.

Writes ``depth.csv``/``depth.json`` and the figures ``depth_accuracy``, ``depth_learning_curves``
and ``depth_cost``; each depth's run is kept in ``runs/`` and taken from there when run again.
"""
from __future__ import annotations

import dataclasses
import functools

import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from experiments.context import Context
from experiments.data import Dataset
from experiments.outputs import scalars

DEPTHS = (18, 34, 50, 101)
TARGETS = {"digits": 0.9, "cifar10": 0.85, "cifar100": 0.6}
"""Test top-1 accuracy whose first reaching counts as converged, per dataset."""
SMOKE_RESNET18 = {"epochs": 2, "max_steps_per_epoch": 36, "batch_size": 16, "lr": 1e-3}
SMOKE_DEEPER = {"epochs": 1, "max_steps_per_epoch": 3, "batch_size": 16, "lr": 1e-3}
SMOKE_DEEPER_TEST_IMAGES = 64


def run(context: Context) -> dict:
    """Train every depth (or take its finished run from disk); write the table and figures; return a summary."""
    dataset = context.dataset()
    target = TARGETS.get(context.dataset_id)
    runs = []
    for depth in DEPTHS:
        key = f"resnet{depth}-{context.dataset_id}-{context.size}-seed{context.seed}"
        runs.append(context.out.run(key, functools.partial(train_depth, context, dataset, depth, key, target)))
    context.out.table("depth", [scalars(r) for r in runs])
    memory_label = "peak GPU memory (MB)" if context.device.type == "cuda" else "peak process memory (MB)"
    context.out.figure("depth_accuracy", accuracy_figure(runs, context.dataset_id))
    context.out.figure("depth_learning_curves", learning_curves_figure(runs, target, context.dataset_id))
    context.out.figure("depth_cost", cost_figure(runs, memory_label))
    return {"dataset": context.dataset_id, "target_accuracy": target,
            **{f"resnet{r['depth']}": {k: r[k] for k in ("parameters", "final_top1", "best_top1", "train_seconds",
                                                         "peak_memory_mb", "time_to_target")} for r in runs}}


def training_settings(context: Context, depth: int) -> dict:
    """The overrides of the context's training for ``depth``: at smoke size, short runs (module docstring)."""
    if not context.smoke:
        return {}
    return dict(SMOKE_RESNET18 if depth == 18 else SMOKE_DEEPER)


def train_depth(context: Context, dataset: Dataset, depth: int, key: str, target: float | None) -> dict:
    """Train ResNet-``depth`` on ``dataset``; its measurements as a JSON-able dict (lists: per epoch)."""
    overrides = {**training_settings(context, depth), "target_accuracy": target}
    if context.smoke and depth != 18:
        dataset = dataclasses.replace(dataset, test=dataset.test.subset(torch.arange(SMOKE_DEEPER_TEST_IMAGES)))
    config = context.train_config(**overrides)
    torch.manual_seed(context.seed)  # the same initialisation on every rerun
    model = getattr(context.lab.resnet, f"resnet{depth}")(
        num_classes=dataset.num_classes, stem="cifar", in_channels=dataset.image_shape[0])
    result = context.train(model, dataset, key, **overrides)
    history = result.history
    images = sum(record.images_per_second * record.seconds for record in history)
    reached = [record.epoch for record in history if target is not None and record.test_top1 >= target]
    return {
        "depth": depth,
        "parameters": result.parameters,
        "epochs": result.epochs_run,
        "steps": config.steps_per_epoch(len(dataset.train)) * result.epochs_run,
        "batch_size": config.batch_size,
        "test_images": len(dataset.test),
        "train_seconds": result.seconds,
        "seconds_per_epoch": result.seconds / len(history),
        "ms_per_image": 1000 * result.seconds / images,
        "peak_memory_mb": max(record.peak_memory_mb for record in history),
        "final_top1": result.final_top1,
        "best_top1": result.best_top1,
        "target_accuracy": target,
        "epochs_to_target": reached[0] if reached else None,
        "time_to_target": result.time_to_target,
        "precision": result.precision,
        "test_top1_per_epoch": [record.test_top1 for record in history],
        "train_loss_per_epoch": [record.train_loss for record in history],
    }


def accuracy_figure(runs: list[dict], dataset: str) -> Figure:
    """Final and best test accuracy against depth, and final accuracy against parameters."""
    figure = Figure(figsize=(11, 4), layout="constrained")
    by_depth, by_size = figure.subplots(1, 2)
    depths = [r["depth"] for r in runs]
    by_depth.plot(depths, [r["final_top1"] for r in runs], "o-", label="final")
    by_depth.plot(depths, [r["best_top1"] for r in runs], "s--", label="best")
    for r in runs:
        by_depth.annotate(f"{r['steps']} steps", (r["depth"], r["final_top1"]), textcoords="offset points",
                          xytext=(0, -14), ha="center", fontsize=8)
    by_depth.set(xlabel="depth (layers)", ylabel="test top-1 accuracy", xticks=depths, xlim=(10, 110),
                 title=f"Accuracy against depth ({dataset})")
    by_depth.legend()
    millions = [r["parameters"] / 1e6 for r in runs]
    by_size.plot(millions, [r["final_top1"] for r in runs], "o-")
    for r, m in zip(runs, millions):
        by_size.annotate(f"ResNet-{r['depth']}", (m, r["final_top1"]), textcoords="offset points", xytext=(4, 4),
                         fontsize=8)
    by_size.set(xlabel="parameters (millions)", ylabel="final test top-1 accuracy",
                title="Accuracy against parameters")
    for axes in (by_depth, by_size):
        axes.grid(alpha=0.3)
    return figure


def learning_curves_figure(runs: list[dict], target: float | None, dataset: str) -> Figure:
    """Test accuracy after every epoch, one line per depth, and the convergence target."""
    figure = Figure(figsize=(6, 4), layout="constrained")
    axes = figure.subplots()
    for r in runs:
        curve = r["test_top1_per_epoch"]
        axes.plot(range(1, len(curve) + 1), curve, "o-", label=f"ResNet-{r['depth']} ({r['steps']} steps)")
    if target is not None:
        axes.axhline(target, color="grey", linestyle=":", label=f"target {target:.2f}")
    axes.set(xlabel="epoch", ylabel="test top-1 accuracy", title=f"Learning curves ({dataset})")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return figure


def cost_figure(runs: list[dict], memory_label: str) -> Figure:
    """Training time (in all and per image) and peak memory against depth."""
    figure = Figure(figsize=(13, 4), layout="constrained")
    panels = figure.subplots(1, 3)
    depths = [r["depth"] for r in runs]
    panels[0].set_title("steps trained: " + ", ".join(str(r["steps"]) for r in runs), fontsize=9)
    for axes, field, label in zip(panels, ("train_seconds", "ms_per_image", "peak_memory_mb"),
                                  ("training time (s)", "training time per image (ms)", memory_label)):
        axes.plot(depths, [r[field] for r in runs], "o-")
        axes.set(xlabel="depth (layers)", ylabel=label, xticks=depths, xlim=(10, 110))
        axes.grid(alpha=0.3)
    return figure
