"""Pairing layers by what they compute, for models whose layers run in another order.

Where the reference and a submission own the same layers but run them in another order, and
several layers have the same shapes (the BatchNorms of a pre-activation bottleneck grouped as
``preact`` and ``branch``), their order cannot tell which is which. What they compute can: both
models get *probe weights*, which depend only on a layer's shapes (``align._signature``) and the
position of a tensor in it, so that layers of equal shapes hold equal weights whatever the pairing,
and a correct submission then computes exactly the reference's function, layer by layer. Run on
the same input, each layer's output ``fingerprint`` (``autograder.runtime.worker``) then names its
counterpart: a layer's output depends on where it sits in the data flow.
"""
from __future__ import annotations

import copy
import zlib
from typing import Optional

import torch
from torch import nn

from autograder.checks.align import LayerCall, _signature, within
from autograder.runtime.worker import fingerprint

Shape = tuple[int, ...]
TOLERANCE = 1e-4
"""Relative difference under which two fingerprints count as the same output (float32 rounding)."""


def _draw(key: tuple, shape: Shape) -> torch.Tensor:
    """Values seeded by ``key`` alone, standard normal."""
    generator = torch.Generator().manual_seed(zlib.crc32(repr(key).encode()))
    return torch.randn(torch.Size(shape).numel(), generator=generator, dtype=torch.float64).float()


def probe_weights(layers: list[LayerCall], layer_buffers: dict[str, list[tuple[str, Shape]]],
                  loose: list[tuple[str, Shape]]) -> dict[str, torch.Tensor]:
    """Probe weights by full name, for ``layers`` (their own parameters), their ``layer_buffers``
    (layer name -> (local name, shape) of its buffers; BatchNorm statistics) and the ``loose``
    parameters outside layers (registration order).

    A layer's tensors: its first one, if 1-D, a scale near 1 (a norm's weight), other 1-D ones
    near 0 (biases, shifts), larger ones He-scaled by their fan-in; running means near 0,
    running variances in [0.5, 1.5].
    """
    out: dict[str, torch.Tensor] = {}
    for layer in layers:
        signature = _signature(layer)
        for index, (name, shape) in enumerate(layer.params):
            values = _draw((signature, index), shape)
            if len(shape) >= 2:
                values = values * (1.0 / max(1, torch.Size(shape).numel() // shape[0])) ** 0.5
            else:
                values = 1 + 0.1 * values if index == 0 else 0.1 * values
            out[f"{layer.name}.{name}" if layer.name else name] = values.reshape(shape)
        for name, shape in layer_buffers.get(layer.name, []):
            full = f"{layer.name}.{name}" if layer.name else name
            if name == "running_mean":
                out[full] = 0.1 * _draw((signature, name), shape).reshape(shape)
            elif name == "running_var":
                out[full] = 1 + 0.5 * torch.tanh(_draw((signature, name), shape)).reshape(shape)
    seen: dict[Shape, int] = {}
    for name, shape in loose:
        seen[shape] = seen.get(shape, 0) + 1
        out[name] = 0.5 * _draw(("loose", shape, seen[shape]), shape).reshape(shape)
    return out


def loose_parameters(parameters: list[tuple[str, Shape]], layers: list[LayerCall],
                     skip: tuple[str, ...]) -> list[tuple[str, Shape]]:
    """The parameters that no layer of ``layers`` owns and that lie outside ``skip``."""
    owned = {f"{layer.name}.{name}" if layer.name else name for layer in layers for name, _ in layer.params}
    return [(name, tuple(shape)) for name, shape in parameters
            if name not in owned and not within(name.rpartition(".")[0], skip)]


def own_buffers(layers: list[LayerCall], buffers: list[tuple[str, Shape]]) -> dict[str, list[tuple[str, Shape]]]:
    """Layer name -> (local name, shape) of the buffers registered on that layer itself."""
    out: dict[str, list[tuple[str, Shape]]] = {}
    names = {layer.name for layer in layers}
    for full, shape in buffers:
        parent, _, local = full.rpartition(".")
        if parent in names:
            out.setdefault(parent, []).append((local, tuple(shape)))
    return out


def reference_prints(reference: nn.Module, layers: list[LayerCall], skip: tuple[str, ...],
                     x: torch.Tensor) -> list[list[float]]:
    """The fingerprint of each reference layer's first output, with probe weights, on ``x``."""
    model = copy.deepcopy(reference).eval()
    modules = dict(model.named_modules())
    buffers = [(name, tuple(b.shape)) for name, b in model.named_buffers()]
    parameters = [(name, tuple(p.shape)) for name, p in model.named_parameters()]
    state = probe_weights(layers, own_buffers(layers, buffers), loose_parameters(parameters, layers, skip))
    model.load_state_dict(state, strict=False)
    prints: dict[str, list[float]] = {}

    def keep(name: str):
        def hook(module: nn.Module, inputs, output) -> None:  # returns None: the output stays as it is
            prints.setdefault(name, fingerprint(output))
        return hook

    hooks = [modules[layer.name].register_forward_hook(keep(layer.name)) for layer in layers]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return [prints.get(layer.name, []) for layer in layers]


def _same(a: list[float], b: list[float]) -> bool:
    """Within ``TOLERANCE`` of the largest value of either (the sum of squares): an output's sum
    may be near 0, where float32 rounding alone would make it differ relatively."""
    if not a or len(a) != len(b):
        return False
    scale = max(abs(v) for v in (*a, *b))
    return all(abs(x - y) <= TOLERANCE * scale for x, y in zip(a, b))


def pair_by_prints(ref_layers: list[LayerCall], stu_layers: list[LayerCall], ref_prints: list[list[float]],
                   stu_prints: list[list[float]]) -> Optional[list[int]]:
    """For each reference layer, the index of the student layer of the same shapes that computed
    the same output; None unless every layer finds one."""
    if len(ref_layers) != len(stu_layers):
        return None
    partner: list[int] = []
    for ref, printed in zip(ref_layers, ref_prints):
        match = next((j for j, student in enumerate(stu_layers) if j not in partner
                      and _signature(student) == _signature(ref) and _same(stu_prints[j], printed)), None)
        if match is None:
            return None
        partner.append(match)
    return partner
