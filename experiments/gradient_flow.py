"""Gradient flow (Part 1): per-layer gradient norms of plain and residual, post- and pre-activation networks.

    python -m experiments gradient-flow [--smoke]

Four networks of one shape, built from the lab's ``BasicBlock`` (post-activation) and
``PreActBasicBlock`` (pre-activation) through their constructors only: a 3x3 stem convolution
(with BN-ReLU for post-activation), three stages of ``N`` blocks of width 16, 32 and 64 (the second
and third start with stride 2), BN-ReLU for pre-activation, global average pooling and a linear head:
He et al. 2016's CIFAR networks of 6N+2 layers.

- residual: each block's shortcut is the identity, or a 1x1 convolution (+ BN for post-activation)
  where the shape changes, as in ``ResNet``;
- plain: each block gets a "shortcut" that returns zeros of the residual branch's shape, so its
  addition adds nothing and what is left is the plain stack of convolutions (post-activation blocks
  still apply their ReLU after the addition). Without shortcuts both block types compose to the same
  conv-BN-ReLU chain, so the two plain networks are one function.

Measured: the L2 norm of the gradient of the cross-entropy loss with respect to each convolution's
weight on the main path, in the order the forward pass runs them (the stem is layer 1; shortcut
projections are left out), on one fixed batch of training images in training mode, at initialisation
and after some steps of the training loop (constant learning rate). The table gives each variant's
ratio of the first layer's norm to the last one's: how much larger (or smaller) the gradient is at
the input end.

Sizes: smoke, N = 7 (44 layers) on digits, 128 images measured, 12 training steps of 64 images;
full, N = 9 (56 layers) on CIFAR-10, 256 images measured, 300 steps of the full batch size.

Writes ``gradient_flow.csv`` (one row per variant and layer), ``gradient_flow_ratio.csv`` and the
figure ``gradient_flow``; each variant's run is kept in ``runs/``.
"""
from __future__ import annotations

import copy
import functools

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from experiments.context import Context
from experiments.data import Dataset
from experiments.outputs import scalars

WIDTHS = (16, 32, 64)
SIZES = {"smoke": {"blocks_per_stage": 7, "measure_images": 128, "steps": 12, "batch_size": 64},
         "full": {"blocks_per_stage": 9, "measure_images": 256, "steps": 300}}
VARIANTS = {  # name -> (residual, pre-activation)
    "plain-post": (False, False), "residual-post": (True, False),
    "plain-pre": (False, True), "residual-pre": (True, True),
}


class ZeroShortcut(nn.Module):
    """A shortcut that carries nothing: (B, C_in, H, W) -> zeros (B, channels, ceil(H / stride), ceil(W / stride))."""

    def __init__(self, channels: int, stride: int) -> None:
        super().__init__()
        self.channels, self.stride = channels, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = x.shape
        return x.new_zeros(batch, self.channels, -(-height // self.stride), -(-width // self.stride))


class Projection(nn.Sequential):
    """A projection shortcut: 1x1 convolution with ``stride`` (+ BN); its own type so its convolution
    can be told from the main path's. (B, C_in, H, W) -> (B, C_out, ceil(H / stride), ceil(W / stride))."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, norm: bool) -> None:
        layers = [nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)]
        super().__init__(*layers, *([nn.BatchNorm2d(out_channels)] if norm else []))


def build_network(block: type, preactivation: bool, residual: bool, blocks_per_stage: int, in_channels: int,
                  num_classes: int) -> nn.Sequential:
    """The network of the module docstring from ``block``: (B, in_channels, H, W) -> (B, num_classes).

    Convolutions are Kaiming-normal (fan_out, ReLU) and BatchNorms start at weight 1, bias 0, as in ``ResNet``.
    """
    layers: list[nn.Module] = [nn.Conv2d(in_channels, WIDTHS[0], 3, padding=1, bias=False)]
    if not preactivation:
        layers += [nn.BatchNorm2d(WIDTHS[0]), nn.ReLU()]
    channels = WIDTHS[0]
    for stage, width in enumerate(WIDTHS):
        for index in range(blocks_per_stage):
            stride = 2 if stage > 0 and index == 0 else 1
            out_channels = width * block.expansion
            if not residual:
                shortcut = ZeroShortcut(out_channels, stride)
            elif stride != 1 or channels != out_channels:
                shortcut = Projection(channels, out_channels, stride, norm=not preactivation)
            else:
                shortcut = None
            layers.append(block(channels, width, stride, shortcut))
            channels = out_channels
    if preactivation:
        layers += [nn.BatchNorm2d(channels), nn.ReLU()]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes)]
    network = nn.Sequential(*layers)
    for module in network.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    return network


def conv_gradient_norms(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> list[float]:
    """The gradient norm of the loss on ``images`` (B, C, H, W), ``labels`` (B,) for each main-path
    convolution weight, in forward order. ``model`` is left as it was (a copy takes the step)."""
    model = copy.deepcopy(model).train()
    model.zero_grad(set_to_none=True)
    shortcut = {id(m) for p in model.modules() if isinstance(p, Projection) for m in p.modules()}
    order: list[nn.Conv2d] = []
    hooks = [m.register_forward_hook(lambda module, inputs, output: order.append(module))
             for m in model.modules() if isinstance(m, nn.Conv2d) and id(m) not in shortcut]
    try:
        device = next(model.parameters()).device
        loss = F.cross_entropy(model(images.to(device)), labels.to(device))
    finally:
        for hook in hooks:
            hook.remove()
    if not order:
        raise ValueError("the network has no nn.Conv2d on its main path to measure")
    loss.backward()
    return [float(conv.weight.grad.norm()) for conv in order]


def measure_variant(context: Context, dataset: Dataset, variant: str, key: str, settings: dict) -> dict:
    """One variant's gradient norms at initialisation and after training, its accuracy, as a JSON-able dict."""
    residual, preactivation = VARIANTS[variant]
    block = context.lab.resnet.PreActBasicBlock if preactivation else context.lab.resnet.BasicBlock
    torch.manual_seed(context.seed)  # every variant starts from the same draws
    model = build_network(block, preactivation, residual, settings["blocks_per_stage"], dataset.image_shape[0],
                          dataset.num_classes).to(context.device)
    generator = torch.Generator().manual_seed(context.seed)
    measured = torch.randperm(len(dataset.train), generator=generator)[:settings["measure_images"]]
    images, labels = dataset.train.images[measured], dataset.train.labels[measured]
    initial = conv_gradient_norms(model, images, labels)
    overrides = {"epochs": 1, "max_steps_per_epoch": settings["steps"], "schedule": "constant"}
    if "batch_size" in settings:
        overrides["batch_size"] = settings["batch_size"]
    steps = context.train_config(**overrides).steps_per_epoch(len(dataset.train))
    result = context.train(model, dataset, key, **overrides)
    trained = conv_gradient_norms(model, images, labels)
    return {"variant": variant, "residual": residual, "preactivation": preactivation,
            "blocks_per_stage": settings["blocks_per_stage"], "conv_layers": len(initial),
            "steps": steps, "first_over_last_init": initial[0] / initial[-1],
            "first_over_last_trained": trained[0] / trained[-1], "test_top1": result.final_top1,
            "init": initial, "trained": trained}


def run(context: Context) -> dict:
    """Measure the four variants (or take their finished runs from disk); write tables and figure; return a summary."""
    dataset = context.dataset()
    settings = SIZES[context.size]
    runs = []
    for variant in VARIANTS:
        key = f"gradient-flow-{variant}-{context.dataset_id}-{context.size}-seed{context.seed}"
        runs.append(context.out.run(key, functools.partial(measure_variant, context, dataset, variant, key, settings)))
    context.out.table("gradient_flow", [
        {"variant": r["variant"], "layer": layer + 1, "init": init, "trained": trained}
        for r in runs for layer, (init, trained) in enumerate(zip(r["init"], r["trained"]))])
    context.out.table("gradient_flow_ratio", [scalars(r) for r in runs])
    context.out.figure("gradient_flow", norms_figure(runs, context.dataset_id))
    return {"dataset": context.dataset_id, "layers": 6 * settings["blocks_per_stage"] + 2, "steps": runs[0]["steps"],
            **{r["variant"]: {k: r[k] for k in ("first_over_last_init", "first_over_last_trained", "test_top1")}
               for r in runs}}


def norms_figure(runs: list[dict], dataset: str) -> Figure:
    """Gradient norm against layer (log scale), at initialisation and after training, one line per variant."""
    figure = Figure(figsize=(12, 4.5), layout="constrained")
    panels = figure.subplots(1, 2, sharey=True)
    colours = {False: "tab:blue", True: "tab:orange"}  # post-, pre-activation
    titles = ("at initialisation", f"after {runs[0]['steps']} steps")
    for axes, moment, title in zip(panels, ("init", "trained"), titles):
        for r in runs:
            norms = r[moment]
            # post-activation drawn wider: the two plain networks coincide, and both lines stay visible
            axes.plot(range(1, len(norms) + 1), norms, "-" if r["residual"] else "--",
                      color=colours[r["preactivation"]], marker="o" if r["residual"] else "x", markersize=3,
                      linewidth=1.2 if r["preactivation"] else 3.0, label=r["variant"])
        axes.set(yscale="log", xlabel="convolution (in order of depth)", title=f"Gradient norm {title} ({dataset})")
        axes.grid(alpha=0.3, which="both")
    panels[0].set_ylabel("||dL/dW|| of the layer's weight")
    panels[0].legend(fontsize=8)
    return figure
