"""Part 2: ResNet-18 against SE-ResNet-18 and CBAM-ResNet-18, and what their attention does.

Three CIFAR-stem ResNet-18s, the same but for the module on every block's residual branch (none;
SE, Hu et al. 2018, arXiv:1709.01507; CBAM, Woo et al. 2018, arXiv:1807.06521; both with their
default reduction 16), are trained with the one training loop (one ``out.run`` each) and measured
with the lab's profiler (its columns stay empty where the implementation has no profiler yet, as
in a notebook before Part 4). Writes:

- ``attention.csv``, ``attention_cost.png``: test top-1, parameters, FLOPs per image, latency at
  batch 1, peak memory of a training step at the training batch size, training seconds.
- ``se_gates.csv``, ``se_gates.png``: the gates of the trained SE network on test images (output /
  input of each SE module, one per channel): mean and spread per block, and how much the classes
  differ (``class_spread``: the spread over classes of a channel's mean gate, averaged over
  channels), with per-class gates of the first and last SE block (as Hu et al., Fig. 6).
- ``cbam_spatial.png``: the spatial attention of the trained CBAM network, for the last CBAM module
  at each resolution, over the first test image of each of 8 classes.
- ``gradcam.png``: Grad-CAM of each network for the true class on the same images, at its last
  residual block whose output is at least 4 x 4.

Sizes: smoke: digits (1 x 16 x 16), one epoch of 12 batches of 32 per network, memory at batch 32,
statistics on 128 test images; about 40 s with one CPU thread. Full: CIFAR-10, the context's training
defaults (30 epochs, batch 128), statistics on 2,000 test images; one GPU.
"""
from __future__ import annotations

from typing import Callable

import torch
from matplotlib.figure import Figure
from torch import nn

from experiments import maps
from experiments.context import Context
from experiments.data import Dataset
from experiments.lab import profile_if_written, profiler_note

NETWORKS = ("resnet18", "se-resnet18", "cbam-resnet18")
SMOKE_TRAINING = {"epochs": 1, "batch_size": 32}
"""At smoke size a ResNet-18 step is the cost (about 0.6 s for 32 digits on one CPU thread): 12 steps a network."""
STATISTICS_IMAGES = {True: 128, False: 2000}
"""Test images the SE gates are measured on, at smoke and at full size."""
LATENCY_RUNS = {True: 20, False: 100}
SHOWN_CLASSES = 8
COSTS = ("flops", "latency_ms", "latency_p95_ms", "train_step_memory_mb")
"""The columns the lab's profiler measures (empty until it is written)."""
GRADCAM_MIN_SIDE = 4
"""Grad-CAM's map has its layer's resolution: the last block with at least this many pixels a side."""


def run(context: Context) -> dict:
    """Train and measure the three networks, then write the tables and figures; returns the tables."""
    dataset = context.dataset()
    shown = shown_indices(dataset.test.labels, SHOWN_CLASSES)
    results = {name: context.out.run(name, lambda name=name: study(context, dataset, name, shown))
               for name in NETWORKS}
    rows = [results[name]["row"] for name in NETWORKS]
    se = results["se-resnet18"]
    context.out.table("attention", rows)
    context.out.table("se_gates", se["se_blocks"])
    images = dataset.test.images[shown]
    labels = dataset.test.labels[shown].tolist()
    context.out.figure("attention_cost", cost_figure(rows))
    context.out.figure("se_gates", gate_figure(se["se_blocks"], se["se_class_gates"]))
    context.out.figure("cbam_spatial", cbam_figure(images, labels, results["cbam-resnet18"]["cbam_maps"]))
    context.out.figure("gradcam", gradcam_figure(images, labels, {name: results[name]["gradcam"] for name in NETWORKS}))
    return {"networks": rows, "se_gates": se["se_blocks"], **profiler_note(rows)}


def attention_factory(lab, network: str) -> Callable[[int], nn.Module] | None:
    """The ``channels -> module`` callable a ResNet block puts on its residual branch."""
    return {"resnet18": None, "se-resnet18": lab.attention.SEModule, "cbam-resnet18": lab.attention.CBAM}[network]


def shown_indices(labels: torch.Tensor, classes: int) -> torch.Tensor:
    """The index of the first test image of each of the first ``classes`` classes: (classes,)."""
    present = torch.unique(labels)[:classes]
    return torch.stack([torch.nonzero(labels == label)[0, 0] for label in present])


def study(context: Context, dataset: Dataset, network: str, shown: torch.Tensor) -> dict:
    """Train one network; its costs, and what its attention modules and Grad-CAM show (JSON-able)."""
    lab, device = context.lab, context.device
    channels = dataset.image_shape[0]
    torch.manual_seed(context.seed)
    model = lab.resnet.resnet18(dataset.num_classes, stem="cifar", in_channels=channels,
                                attention=attention_factory(lab, network))
    overrides = SMOKE_TRAINING if context.smoke else {}
    result = context.train(model, dataset, network, **overrides)
    batch_size = context.train_config(**overrides).batch_size
    costs = profile_if_written(lab, model, device, lambda profiler: measured_costs(
        profiler, dataset, batch_size, LATENCY_RUNS[context.smoke])) or dict.fromkeys(COSTS)
    row = {"network": network, "top1": result.final_top1, "best_top1": result.best_top1,
           "parameters": result.parameters, **costs, "train_seconds": result.seconds}
    model.eval()
    found = {"row": row, "training": result.summary()}
    if network == "se-resnet18":
        count = STATISTICS_IMAGES[context.smoke]
        gates = module_statistics(model, lab.attention.SEModule, channel_gates, dataset.test.images[:count], device)
        found["se_blocks"], found["se_class_gates"] = gate_statistics(gates, dataset.test.labels[:count])
    if network == "cbam-resnet18":
        spatial = module_statistics(model, lab.attention.CBAM, spatial_map, dataset.test.images[shown], device)
        found["cbam_maps"] = [{"module": index, "side": int(m.shape[-1]), "maps": rounded(m)}
                              for index, m in last_per_resolution(spatial)]
    layer = gradcam_layer(model, lab.resnet.BasicBlock, dataset.test.images[:1], device)
    cam = lab.gradcam.GradCAM(model, layer)(dataset.test.images[shown].to(device), dataset.test.labels[shown].tolist())
    found["gradcam"] = rounded(cam.detach().cpu())
    return found


def measured_costs(profiler, dataset: Dataset, batch_size: int, latency_runs: int) -> dict:
    """The ``COSTS`` of the profiler's model: FLOPs per image, latency at batch 1, training-step memory."""
    latency = profiler.measure_latency(dataset.test.images[:1], latency_runs)
    return {"flops": profiler.measure_flops(dataset.image_shape), "latency_ms": latency["median_ms"],
            "latency_p95_ms": latency["p95_ms"],
            "train_step_memory_mb": profiler.measure_memory(batch_size, dataset.image_shape) / 2**20}


def module_statistics(model: nn.Module, kind: type, reduce: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                      images: torch.Tensor, device: torch.device, batch_size: int = 256) -> list[torch.Tensor]:
    """``reduce(input, output)`` of every module of class ``kind`` in ``model``, over ``images`` (n, C, S, S).

    One tensor per module, in the model's order, the batches concatenated along the first axis. It is
    reduced inside the forward hook: a block may later change the module's output in place
    (``out += identity``).
    """
    modules = [module for module in model.modules() if isinstance(module, kind)]
    if not modules:
        raise ValueError(f"the model has no {kind.__name__} module")
    collected: list[list[torch.Tensor]] = [[] for _ in modules]

    def keep(index: int):
        def hook(module, inputs, output):
            collected[index].append(reduce(inputs[0].detach().float(), output.detach().float()).cpu())
        return hook

    handles = [module.register_forward_hook(keep(index)) for index, module in enumerate(modules)]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                model(images[start:start + batch_size].to(device))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return [torch.cat(parts) for parts in collected]


def channel_gates(inputs: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
    """A channel attention's gate from its input and output (B, C, h, w): (B, C).

    For ``output = gate * input`` the least-squares ratio over space, ``<out, in> / <in, in>``, is
    the gate exactly and needs no pixel to be non-zero; an all-zero channel gives NaN.
    """
    energy = (inputs * inputs).sum(dim=(2, 3))
    gates = (outputs * inputs).sum(dim=(2, 3)) / energy.clamp_min(1e-30)
    return torch.where(energy > 0, gates, torch.full_like(gates, float("nan")))


def spatial_map(inputs: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
    """CBAM's spatial attention, up to scale, from its input and output (B, C, h, w): (B, h, w).

    CBAM's output is ``M_c(channel) * M_s(pixel) * input``, so the mean over channels of
    output / input is ``M_s`` times the mean channel gate; the mean is over the channels whose
    input is non-zero at that pixel (a pixel with none gets 0).
    """
    valid = inputs != 0
    ratio = torch.where(valid, outputs / torch.where(valid, inputs, torch.ones_like(inputs)), torch.zeros_like(inputs))
    return ratio.sum(dim=1) / valid.sum(dim=1).clamp_min(1)


def gate_statistics(gates: list[torch.Tensor], labels: torch.Tensor) -> tuple[list[dict], dict]:
    """Per-block statistics of SE gates (each (n, C)) of images with ``labels`` (n,), and the
    per-class mean gates (classes x C) of the first and the last block."""
    blocks, class_means = [], []
    classes = torch.unique(labels)
    for index, block in enumerate(gates):
        per_class = torch.stack([block[labels == label].nanmean(dim=0) for label in classes])
        finite = block[block.isfinite()]
        blocks.append({"block": index, "channels": block.shape[1], "mean": float(finite.mean()),
                       "std": float(finite.std()), "min": float(finite.min()), "max": float(finite.max()),
                       "class_spread": float(per_class.std(dim=0, correction=0).nanmean())})
        class_means.append(per_class)
    return blocks, {"classes": classes.tolist(), "first": rounded(class_means[0]), "last": rounded(class_means[-1])}


def last_per_resolution(spatial: list[torch.Tensor]) -> list[tuple[int, torch.Tensor]]:
    """(module index, maps) of the last module at each resolution, finest first: the end of each stage."""
    last = {}
    for index, m in enumerate(spatial):
        last[m.shape[-1]] = (index, m)
    return [last[side] for side in sorted(last, reverse=True)]


def gradcam_layer(model: nn.Module, block: type, probe: torch.Tensor, device: torch.device) -> nn.Module:
    """The last ``block`` module whose output has ``GRADCAM_MIN_SIDE`` pixels a side or more on ``probe`` (1, C, S, S).

    If none has, the last ``block`` module.
    """
    sides = module_statistics(model, block, lambda _, output: torch.tensor([min(output.shape[-2:])]), probe, device)
    blocks = [module for module in model.modules() if isinstance(module, block)]
    large = [module for module, side in zip(blocks, sides) if int(side[0]) >= GRADCAM_MIN_SIDE]
    return (large or blocks)[-1]


def rounded(values: torch.Tensor) -> list:
    """A tensor as nested lists with 4 decimals (the maps are drawn, not computed on)."""
    return (torch.round(values.float() * 1e4) / 1e4).tolist()


def cost_figure(rows: list[dict]) -> Figure:
    """Bars per network, labelled with the change from the first: accuracy, parameters, FLOPs, latency, memory."""
    panels = [("top1", "test top-1", 1), ("parameters", "parameters (M)", 1e-6), ("flops", "GFLOPs per image", 1e-9),
              ("latency_ms", "latency at batch 1 (ms)", 1), ("train_step_memory_mb", "training-step memory (MB)", 1)]
    panels = [panel for panel in panels if all(row[panel[0]] is not None for row in rows)]  # profiler not written
    figure = Figure(figsize=(3 * len(panels), 3))
    names = [row["network"] for row in rows]
    for axis, (key, label, scale) in zip(figure.subplots(1, len(panels)), panels):
        bars = axis.bar(names, [row[key] * scale for row in rows], color=["tab:gray", "tab:blue", "tab:orange"])
        # The attention modules' costs are a few per cent: printed, as the bars barely differ.
        changes = [f"{100 * (row[key] / rows[0][key] - 1):+.1f}%" if rows[0][key] else "" for row in rows]
        axis.bar_label(bars, labels=changes, fontsize=7)
        axis.set_title(f"{label}; vs {names[0]}", fontsize=9)
        axis.tick_params(axis="x", labelrotation=30, labelsize=8)
    figure.tight_layout()
    return figure


def gate_figure(blocks: list[dict], class_gates: dict) -> Figure:
    """SE gates: mean +- std and class spread per block; per-class gates of the first and last block."""
    figure = Figure(figsize=(15, 3.5))
    spread, first, last = figure.subplots(1, 3)
    index = [b["block"] for b in blocks]
    spread.errorbar(index, [b["mean"] for b in blocks], yerr=[b["std"] for b in blocks], marker="o", capsize=3,
                    label="mean +- std over images and channels")
    spread.plot(index, [b["class_spread"] for b in blocks], marker="s", label="spread over classes")
    spread.set_xlabel("SE block (input side first)")
    spread.set_ylabel("gate")
    spread.legend(fontsize=7)
    for axis, key in ((first, "first"), (last, "last")):
        gates = torch.tensor(class_gates[key])[:10, :64]  # as Hu et al.: a few classes, the first channels
        for label, curve in zip(class_gates["classes"], gates):
            axis.plot(curve.numpy(), linewidth=0.8, label=f"class {label}")
        axis.set_title(f"{key} SE block: mean gate per class", fontsize=9)
        axis.set_xlabel("channel")
        axis.set_ylim(0, 1)
    last.legend(fontsize=6, ncol=2)
    figure.tight_layout()
    return figure


def cbam_figure(images: torch.Tensor, labels: list[int], stages: list[dict]) -> Figure:
    """Test images (k, C, S, S), then CBAM's spatial attention over them, one row per resolution."""
    figure = Figure(figsize=(1.6 * len(labels), 1.7 * (len(stages) + 1)))
    axes = figure.subplots(len(stages) + 1, len(labels), squeeze=False)
    for column, (image, label) in enumerate(zip(images, labels)):
        maps.show_image(axes[0, column], image, f"class {label}")
        for row, stage in enumerate(stages, start=1):
            maps.overlay(axes[row, column], image, torch.tensor(stage["maps"][column]),
                         f"CBAM {stage['module']} ({stage['side']}x{stage['side']})")
    figure.tight_layout()
    return figure


def gradcam_figure(images: torch.Tensor, labels: list[int], cams: dict[str, list]) -> Figure:
    """Test images (k, C, S, S), then each network's Grad-CAM for the true class, one row per network."""
    figure = Figure(figsize=(1.6 * len(labels), 1.7 * (len(cams) + 1)))
    axes = figure.subplots(len(cams) + 1, len(labels), squeeze=False)
    for column, (image, label) in enumerate(zip(images, labels)):
        maps.show_image(axes[0, column], image, f"class {label}")
        for row, (network, cam) in enumerate(cams.items(), start=1):
            maps.overlay(axes[row, column], image, torch.tensor(cam[column]), network)
    figure.tight_layout()
    return figure
