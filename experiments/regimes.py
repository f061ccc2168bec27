"""Part 4: a CNN against a ViT with 1K, 10K and all training images.

    python -m experiments regimes [--smoke]

ResNet-18 (CIFAR stem) and a small ViT (4x4 patches) are trained with the one training loop on
each data regime (one cached run per model and regime). Written to the output folder:

- ``regimes.csv`` / ``.json``: per model and regime the training images, final and best test
  top-1, final top-5, the training seconds until the test top-1 first reached ``TARGET_TOP1``
  (empty when it never did), training throughput and peak memory;
- ``learning_curves.png``: test top-1 per epoch (top row) and against training time (bottom row),
  one column per regime;
- ``accuracy_vs_data.png``: final top-1 (solid) and top-5 (dashed) against the number of training
  images, one line per family.

Full size: CIFAR-10, the context's training defaults (30 epochs, batch 128), the CIFAR ViT of
the model table (192 dims, 6 blocks, 3 heads: 2.7 M parameters), target top-1 0.7.
Smoke size: digits (1437 training images, so ``10k`` is all of them), 2 epochs of 4 steps of 16
images, a ViT of 64 dims, 4 blocks and 4 heads, target top-1 0.5; 20 to 30 s on one CPU thread.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import partial

import torch
from torch import nn

from experiments.context import Context
from experiments.data import REGIMES

TARGET_TOP1 = {"smoke": 0.5, "full": 0.7}
"""Test top-1 accuracy whose first reaching is timed."""
SMOKE_OVERRIDES = {"batch_size": 16, "max_steps_per_epoch": 4}
"""ResNet-18 takes about 0.4 s per step of 16 digits on one CPU thread: smoke runs take 8 steps."""
FAMILY_COLORS = {"CNN": "tab:blue", "ViT": "tab:orange"}


@dataclass(frozen=True)
class Architecture:
    """A model of Part 4: its name, family and the lab constructor's keyword arguments."""

    name: str
    family: str
    """``CNN`` or ``ViT``."""
    kwargs: dict = field(default_factory=dict)

    def build(self, lab) -> nn.Module:
        """A fresh model from ``lab``'s modules."""
        if self.family == "CNN":
            return getattr(lab.resnet, self.name)(**self.kwargs)
        return lab.vit.VisionTransformer(**self.kwargs)

    def describe(self) -> str:
        """The configuration in a few words, for tables and figures."""
        if self.family == "CNN":
            return f"{self.name}, {self.kwargs['stem']} stem"
        k = self.kwargs
        return (f"ViT {k['patch_size']}x{k['patch_size']} patches, {k['embed_dim']} dims, {k['depth']} blocks, "
                f"{k['num_heads']} heads")


def resnet(depth: int, image_shape: tuple[int, int, int], num_classes: int) -> Architecture:
    """ResNet-``depth`` with the CIFAR stem (3x3 stride-1 conv, no max-pool) for (C, H, W) images."""
    return Architecture(f"resnet{depth}", "CNN", {"num_classes": num_classes, "stem": "cifar",
                                                    "in_channels": image_shape[0]})


def small_vit(image_shape: tuple[int, int, int], num_classes: int) -> Architecture:
    """A ViT with 4x4 patches: the model table's CIFAR ViT for 32x32 images, a smaller one below."""
    channels, size, _ = image_shape
    embed_dim, depth, num_heads = (192, 6, 3) if size >= 32 else (64, 4, 4)
    return Architecture("vit", "ViT", {"img_size": size, "patch_size": 4, "in_channels": channels,
                                       "num_classes": num_classes, "embed_dim": embed_dim, "depth": depth,
                                       "num_heads": num_heads})


def architectures(image_shape: tuple[int, int, int], num_classes: int) -> list[Architecture]:
    """The two families compared in Part 4: ResNet-18 and the small ViT."""
    return [resnet(18, image_shape, num_classes), small_vit(image_shape, num_classes)]


def train_run(context: Context, arch: Architecture, regime: str) -> dict:
    """Train ``arch`` on ``regime``'s training images; the summary and per-epoch history."""
    dataset = context.dataset(regime)
    target = TARGET_TOP1[context.size]
    overrides = {**(SMOKE_OVERRIDES if context.smoke else {}), "target_accuracy": target}
    torch.manual_seed(context.seed)
    model = arch.build(context.lab)
    result = context.train(model, dataset, f"{arch.name}-{regime}", **overrides)
    return {"dataset": dataset.name, "size": context.size, "model": arch.name,
            "family": arch.family, "config": arch.describe(),
            "regime": regime, "train_images": len(dataset.train), "target_top1": target,
            "summary": result.summary(), "history": [asdict(record) for record in result.history]}


def table_row(run: dict) -> dict:
    """One row of ``regimes.csv`` from a run."""
    summary, history = run["summary"], run["history"]
    return {"dataset": run["dataset"], "size": run["size"], "model": run["model"], "family": run["family"],
            "config": run["config"],
            "parameters": summary["parameters"], "regime": run["regime"], "train_images": run["train_images"],
            "epochs": summary["epochs_run"], "final_top1": summary["final_top1"],
            "final_top5": summary["final_top5"], "best_top1": summary["best_top1"],
            "target_top1": run["target_top1"], "time_to_target_s": summary["time_to_target"],
            "train_seconds": summary["seconds"],
            "images_per_second": sum(r["images_per_second"] for r in history) / len(history),
            "peak_memory_mb": max(r["peak_memory_mb"] for r in history)}


def learning_curves(runs: list[dict]):
    """Test top-1 per epoch and against training seconds: 2 rows x one column per regime."""
    import matplotlib.pyplot as plt

    regimes = list(dict.fromkeys(run["regime"] for run in runs))
    figure, axes = plt.subplots(2, len(regimes), figsize=(4.2 * len(regimes), 6.5), squeeze=False, sharey=True)
    for column, regime in enumerate(regimes):
        for run in (r for r in runs if r["regime"] == regime):
            top1 = [r["test_top1"] for r in run["history"]]
            style = {"color": FAMILY_COLORS[run["family"]], "marker": "o", "label": run["model"]}
            axes[0, column].plot([r["epoch"] for r in run["history"]], top1, **style)
            axes[1, column].plot([r["elapsed"] for r in run["history"]], top1, **style)
            axes[0, column].set_title(f"{regime}: {run['train_images']:,} training images")
        axes[0, column].set_xlabel("epoch")
        axes[1, column].set_xlabel("training time (s)")
        for row in (0, 1):
            axes[row, column].axhline(runs[0]["target_top1"], color="gray", linestyle=":", label="target")
            axes[row, column].grid(alpha=0.3)
    for row in (0, 1):
        axes[row, 0].set_ylabel("test top-1")
    axes[0, 0].legend()
    figure.suptitle(f"Learning curves on {runs[0]['dataset']}; dotted: the target top-1 whose reaching is timed")
    figure.tight_layout()
    return figure


def accuracy_vs_data(rows: list[dict]):
    """Final top-1 (solid) and top-5 (dashed) against training images, one line per family."""
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4.2))
    for model in dict.fromkeys(row["model"] for row in rows):
        points = sorted((row for row in rows if row["model"] == model), key=lambda row: row["train_images"])
        color = FAMILY_COLORS[points[0]["family"]]
        sizes = [row["train_images"] for row in points]
        axis.plot(sizes, [row["final_top1"] for row in points], "o-", color=color, label=f"{model} top-1")
        axis.plot(sizes, [row["final_top5"] for row in points], "s--", color=color, alpha=0.6, label=f"{model} top-5")
    sizes = sorted({row["train_images"] for row in rows})
    axis.set_xscale("log")
    axis.set_xticks(sizes, [f"{size:,}" for size in sizes])
    axis.minorticks_off()
    axis.set_xlabel("training images")
    axis.set_ylabel("test accuracy")
    axis.set_ylim(0, 1.02)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    axis.set_title(f"Final accuracy against data size ({rows[0]['dataset']})")
    return figure


def run(context: Context) -> dict:
    """Train both families on every regime; write the table and figures; return the winners per regime."""
    shape_source = context.dataset("full")
    runs = []
    for regime in REGIMES:
        for arch in architectures(shape_source.image_shape, shape_source.num_classes):
            runs.append(context.out.run(f"{arch.name}-{regime}", partial(train_run, context, arch, regime)))
    rows = [table_row(run) for run in runs]
    context.out.table("regimes", rows)
    context.out.figure("learning_curves", learning_curves(runs))
    context.out.figure("accuracy_vs_data", accuracy_vs_data(rows))
    winners = {}
    for regime in REGIMES:
        best = max((row for row in rows if row["regime"] == regime), key=lambda row: row["final_top1"])
        winners[regime] = {"model": best["model"], "final_top1": best["final_top1"]}
    return {"dataset": rows[0]["dataset"], "runs": len(runs), "best_per_regime": winners}
