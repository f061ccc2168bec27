"""Part 3: Vision Transformer hyperparameters, and where a trained ViT looks.

Patch size, embedding dimension and number of heads are varied one at a time around a base
configuration (the others held at the base; depth and MLP ratio 4 fixed), each configuration one
``out.run`` trained with the one training loop (Dosovitskiy et al. 2021, arXiv:2010.11929). Writes:

- ``vit.csv``: per configuration, tokens, parameters, FLOPs per image (the lab profiler's, empty
  where it is not written yet), test top-1, training seconds.
- ``vit_hyperparameters.png``: test top-1 and training time against each hyperparameter.
- ``vit_attention.png``: for the base configuration, over the first test image of each of 8
  classes: the CLS token's attention to the patches in the last block (mean over heads), and
  attention rollout's CLS row (Abnar & Zuidema 2020, arXiv:2005.00928), both over the patch grid.

Sizes: smoke: digits (1 x 16 x 16), depth 2, base patch 4 / dimension 32 / 2 heads; patch
{2, 4, 8}, dimension {16, 32, 64}, heads {1, 2, 4}: 7 runs of 8 epochs of all 23 batches of 64
(the context's smoke settings otherwise); about 35 s with one CPU thread. Full: CIFAR-10 (3 x 32 x 32),
depth 6, base patch 4 / dimension 192 / 3 heads (ViT-Ti's width); patch {2, 4, 8}, dimension
{96, 192, 384}, heads {1, 3, 6}: 7 runs with the context's training defaults; one GPU.
"""
from __future__ import annotations

import torch
from matplotlib.figure import Figure

from experiments import maps
from experiments.attention_study import SHOWN_CLASSES, rounded, shown_indices
from experiments.context import Context
from experiments.data import Dataset
from experiments.lab import profile_if_written, profiler_note

HYPERPARAMETERS = ("patch_size", "embed_dim", "num_heads")
SMOKE = {"depth": 2, "base": {"patch_size": 4, "embed_dim": 32, "num_heads": 2},
         "values": {"patch_size": (2, 4, 8), "embed_dim": (16, 32, 64), "num_heads": (1, 2, 4)}}
FULL = {"depth": 6, "base": {"patch_size": 4, "embed_dim": 192, "num_heads": 3},
        "values": {"patch_size": (2, 4, 8), "embed_dim": (96, 192, 384), "num_heads": (1, 3, 6)}}
SMOKE_TRAINING = {"epochs": 8, "max_steps_per_epoch": None}
"""A ViT on digits is cheap, and after the context's 24 smoke steps it is still at chance."""


def run(context: Context) -> dict:
    """Train every configuration, then write the table and figures; returns the table."""
    grid = SMOKE if context.smoke else FULL
    dataset = context.dataset()
    shown = shown_indices(dataset.test.labels, SHOWN_CLASSES)
    results = [context.out.run(key(config, grid["depth"]),
                               lambda config=config: study(context, dataset, config, grid["depth"], shown))
               for config in configurations(grid)]
    rows = [result["row"] for result in results]
    context.out.table("vit", rows)
    context.out.figure("vit_hyperparameters", hyperparameter_figure(rows, grid["base"]))
    base = results[0]  # configurations() puts the base first
    images, labels = dataset.test.images[shown], dataset.test.labels[shown].tolist()
    context.out.figure("vit_attention", attention_figure(images, labels, base["cls_attention"], base["rollout"],
                                                         base["row"]["config"]))
    return {"configurations": rows, **profiler_note(rows)}


def configurations(grid: dict) -> list[dict]:
    """The base configuration, then each other value of each hyperparameter with the rest at the base."""
    found = [dict(grid["base"])]
    for name in HYPERPARAMETERS:
        for value in grid["values"][name]:
            config = {**grid["base"], name: value}
            if config not in found:
                found.append(config)
    return found


def key(config: dict, depth: int) -> str:
    return f"vit-p{config['patch_size']}-d{config['embed_dim']}-h{config['num_heads']}-l{depth}"


def study(context: Context, dataset: Dataset, config: dict, depth: int, shown: torch.Tensor) -> dict:
    """Train one configuration; its costs and accuracy, and its attention over the ``shown`` test images."""
    lab, device = context.lab, context.device
    channels, side, _ = dataset.image_shape
    torch.manual_seed(context.seed)
    model = lab.vit.VisionTransformer(img_size=side, patch_size=config["patch_size"], in_channels=channels,
                                      num_classes=dataset.num_classes, embed_dim=config["embed_dim"], depth=depth,
                                      num_heads=config["num_heads"])
    name = key(config, depth)
    result = context.train(model, dataset, name, **(SMOKE_TRAINING if context.smoke else {}))
    flops = profile_if_written(lab, model, device, lambda profiler: profiler.measure_flops(dataset.image_shape))
    model.eval()
    with torch.no_grad():
        attentions = [a.float().cpu() for a in model.attention_maps(dataset.test.images[shown].to(device))]
    row = {"config": name, **config, "depth": depth, "tokens": attentions[0].shape[-1],
           "parameters": result.parameters, "flops": flops, "top1": result.final_top1,
           "best_top1": result.best_top1, "train_seconds": result.seconds}
    return {"row": row, "training": result.summary(),
            "cls_attention": rounded(maps.patch_grid(maps.cls_attention(attentions[-1]))),
            "rollout": rounded(maps.patch_grid(maps.cls_to_patches(maps.attention_rollout(attentions))))}


def hyperparameter_figure(rows: list[dict], base: dict) -> Figure:
    """Test top-1 (left axis) and training seconds (right axis) against each hyperparameter, the others at the base."""
    figure = Figure(figsize=(13, 3.5))
    for axis, name in zip(figure.subplots(1, len(HYPERPARAMETERS)), HYPERPARAMETERS):
        others = [other for other in HYPERPARAMETERS if other != name]
        line = sorted((row for row in rows if all(row[o] == base[o] for o in others)), key=lambda row: row[name])
        positions = range(len(line))
        axis.plot(positions, [row["top1"] for row in line], marker="o", color="tab:blue")
        axis.set_ylabel("test top-1", color="tab:blue")
        axis.set_xticks(list(positions), [str(row[name]) for row in line])
        axis.set_xlabel(name.replace("_", " "))
        axis.set_title(", ".join(f"{o.replace('_', ' ')} {base[o]}" for o in others), fontsize=9)
        time_axis = axis.twinx()
        time_axis.plot(positions, [row["train_seconds"] for row in line], marker="s", linestyle="--",
                       color="tab:orange")
        time_axis.set_ylabel("training seconds", color="tab:orange")
    figure.tight_layout()
    return figure


def attention_figure(images: torch.Tensor, labels: list[int], cls_last: list, rollout: list, name: str) -> Figure:
    """Test images (k, C, S, S); the last block's CLS attention and the rollout's CLS row over them."""
    figure = Figure(figsize=(1.6 * len(labels), 5.4))
    axes = figure.subplots(3, len(labels), squeeze=False)
    for column, (image, label) in enumerate(zip(images, labels)):
        maps.show_image(axes[0, column], image, f"class {label}")
        maps.overlay(axes[1, column], image, torch.tensor(cls_last[column]), "CLS attention, last", mode="nearest")
        maps.overlay(axes[2, column], image, torch.tensor(rollout[column]), "rollout", mode="nearest")
    figure.suptitle(name, fontsize=9)
    figure.tight_layout()
    return figure
