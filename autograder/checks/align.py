"""Weight transplant: map reference parameters onto a submission's modules.

Both models run the same input; the layers that own parameters are listed in the order they first
execute (forward hooks on the reference here, the worker's trace for the submission). The two
lists are walked together and each reference layer is matched by the first adapter that fits:

- same parameter shapes (any names): copied as they are, with BatchNorm-style buffers;
- same sizes, other layout (nn.Linear vs a 1x1 nn.Conv2d, a Conv2d patch projection vs an
  nn.Linear over unfolded patches): reshaped;
- one fused layer vs several consecutive ones (qkv vs separate q, k, v): split along dim 0.

When that walk fails but both sides own the same layers (type and parameter shapes) run in
another order, such as a shortcut projection computed after the residual branch, the layers are
paired by shape instead, in a few ways where shapes repeat (see ``_reordered``):
``transplant_candidates`` gives each distinct pairing, and the caller keeps the one under which the
submission's output equals the reference's.

Parameters that no executed layer owns (a CLS token, a position table) are matched by shape, in
registration order. So are fixed buffers outside normalisation layers (a sinusoidal position
table): they are the student's constants, graded on their own, and a float32 table computed
another way must not make a float64 comparison of the whole model fail. A correct submission
with other names and layouts therefore receives exactly the reference weights.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch
from torch import nn

from autograder.i18n import _

Shape = tuple[int, ...]


@dataclass(frozen=True)
class LayerCall:
    """A layer that owns parameters, as seen in one forward pass."""

    name: str
    """Module path inside its model (e.g. ``layer1.0.conv1``)."""
    kind: str
    """Class name of the module (e.g. ``Conv2d``)."""
    params: tuple[tuple[str, Shape], ...]
    """Its own parameters (not its children's), (local name, shape), in registration order."""
    source: int = 0
    """Address of the tensor it consumed; layers fed the same tensor (a block's first conv and
    its shortcut) share it, which tells apart layers of equal shapes. 0 when unknown."""

    def describe(self) -> str:
        shapes = ", ".join(f"{n} {tuple(s)}" for n, s in self.params)
        return f"{self.name} ({self.kind}: {shapes})"


@dataclass
class ReferenceWeights:
    """What a transplant needs of the reference: its tensors, its parameters' order and each
    layer's own buffers (BatchNorm statistics). Data alone, so that it can be recorded."""

    state: dict[str, torch.Tensor]
    """Parameters and buffers by full name (``layer1.0.bn1.running_mean``)."""
    parameters: list[str]
    """Every parameter's full name, in registration order."""
    layer_buffers: dict[str, list[str]]
    """Module path -> the local names of its own buffers."""
    fixed_buffers: list[str] = field(default_factory=list)
    """Full names of the floating-point buffers outside normalisation layers (a fixed position
    table), in registration order; their values are in ``state``."""

    @classmethod
    def of(cls, model: nn.Module) -> "ReferenceWeights":
        return cls(dict(model.state_dict(keep_vars=False)), [n for n, _ in model.named_parameters()],
                   {name: [b for b, _ in module.named_buffers(recurse=False)]
                   for name, module in model.named_modules()},
                   fixed_buffers(model))


NORM_LAYERS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm2d)


def fixed_buffers(model: nn.Module, skip: tuple[str, ...] = ()) -> list[str]:
    """Full names of ``model``'s floating-point buffers outside normalisation layers and ``skip``."""
    names = []
    for module_name, module in model.named_modules():
        if isinstance(module, NORM_LAYERS) or (module_name and within(module_name, skip)):
            continue
        prefix = f"{module_name}." if module_name else ""
        names += [prefix + name for name, buffer in module.named_buffers(recurse=False) if buffer.is_floating_point()]
    return names


class AlignmentError(ValueError):
    """The submission's layers cannot be matched to the reference's; the message says where."""


def reference_calls(model: nn.Module, run: Callable[[], object], skip: tuple[str, ...] = ()) -> list[LayerCall]:
    """Layers of ``model`` owning parameters, in the order ``run()`` first executes them.

    Modules under ``skip`` (passed in by the grader) are left out.
    """
    seen: list[LayerCall] = []
    names: set[str] = set(n for n, _ in model.named_modules() if n and within(n, skip))

    def record(name: str, module: nn.Module, inputs) -> None:
        params = tuple((n, tuple(p.shape)) for n, p in module.named_parameters(recurse=False))
        if params and name not in names:
            names.add(name)
            first = next((t for t in inputs if isinstance(t, torch.Tensor)), None)
            seen.append(LayerCall(name, type(module).__name__, params, first.data_ptr() if first is not None else 0))

    hooks = [m.register_forward_hook(lambda mod, i, o, n=n: record(n, mod, i)) for n, m in model.named_modules() if n]
    try:
        run()
    finally:
        for hook in hooks:
            hook.remove()
    return seen


def within(name: str, prefixes) -> bool:
    """Whether the module path ``name`` is one of ``prefixes`` or lies inside one."""
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def student_calls(trace: list[dict], skip: tuple[str, ...] = ()) -> list[LayerCall]:
    """The same list built from a worker's trace (first call of each module that owns parameters).

    Modules under ``skip`` (those the grader passed in, with weights of its own) are left out.
    """
    seen, names = [], set()
    for call in trace:
        if call["params"] and call["name"] not in names and not within(call["name"], skip):
            names.add(call["name"])
            kind = call["type"].rsplit(".", 1)[-1]
            params = tuple((n, tuple(s)) for n, s in call["params"])
            seen.append(LayerCall(call["name"], kind, params, int(call.get("input_ptr") or 0)))
    return seen


def _full(layer: LayerCall, local: str) -> str:
    return f"{layer.name}.{local}" if layer.name else local


def _copy(ref_tensors: list[torch.Tensor], student: LayerCall) -> Optional[dict[str, torch.Tensor]]:
    if len(ref_tensors) != len(student.params):
        return None
    if all(tuple(t.shape) == s for t, (_, s) in zip(ref_tensors, student.params)):
        return {_full(student, n): t for t, (n, _) in zip(ref_tensors, student.params)}
    return None


def _reshape(ref_tensors: list[torch.Tensor], student: LayerCall) -> Optional[dict[str, torch.Tensor]]:
    if len(ref_tensors) != len(student.params):
        return None
    out = {}
    for tensor, (name, shape) in zip(ref_tensors, student.params):
        if tensor.numel() != torch.Size(shape).numel() or (shape and tensor.shape[0] != shape[0]):
            return None
        out[_full(student, name)] = tensor.reshape(shape)
    return out


ROLES = {"q": "q", "query": "q", "queries": "q", "k": "k", "key": "k", "keys": "k",
         "v": "v", "value": "v", "values": "v"}


def _by_role(group: list[LayerCall]) -> list[LayerCall]:
    """Three layers named as query, key and value (q_proj, to_k, value, ...) in q, k, v order.

    A fused qkv output splits as [Q | K | V]; a submission may compute k before q. Without
    recognisable names the execution order stands.
    """
    roles = {}
    for layer in group:
        words = re.split(r"[^a-z]+|(?<=[a-z])(?=proj)", layer.name.rsplit(".", 1)[-1].lower())
        found = {ROLES[w] for w in words if w in ROLES}
        if len(found) == 1:
            roles[found.pop()] = layer
    if len(group) == 3 and set(roles) == {"q", "k", "v"}:
        return [roles["q"], roles["k"], roles["v"]]
    return group


def _split(ref_tensors: list[torch.Tensor], students: list[LayerCall]) -> Optional[tuple[int, dict]]:
    """A fused reference layer against k consecutive student layers of equal shapes."""
    for k in (3, 2, 4):
        group = _by_role(students[:k])
        if len(group) < k or any(len(s.params) != len(ref_tensors) for s in group):
            continue
        out = {}
        for index, tensor in enumerate(ref_tensors):
            shapes = [s.params[index][1] for s in group]
            if (any(sh != shapes[0] for sh in shapes) or tensor.shape[0] != k * shapes[0][0]
                    or tuple(tensor.shape[1:]) != shapes[0][1:]):
                break
            for student, chunk in zip(group, tensor.chunk(k, dim=0)):
                out[_full(student, student.params[index][0])] = chunk
        else:
            return k, out
    return None


def transplant_candidates(
    reference: nn.Module | ReferenceWeights,
    ref_layers: list[LayerCall],
    stu_layers: list[LayerCall],
    stu_parameters: list[tuple[str, Shape]],
    stu_buffers: list[tuple[str, Shape]],
    ref_skip: tuple[str, ...] = (),
    stu_skip: tuple[str, ...] = (),
    partner: Optional[list[int]] = None,
) -> list[dict[str, torch.Tensor]]:
    """State dicts, in the submission's names, holding the reference's weights: one when the layers
    run in the same order, or one per distinct pairing by shape (``_reordered``) when they do not.

    Args:
        reference: the reference module, or its weights as data.
        ref_layers / stu_layers: the layers owning parameters, in the order they first ran.
        stu_parameters / stu_buffers: every (name, shape) of the student's module, as the worker
            describes it.
        ref_skip / stu_skip: modules passed in by the grader, which already hold the same
            weights on both sides.
        partner: the pairing to use instead (reference layer i -> student layer partner[i], as
            ``autograder.checks.fingerprints`` finds it).

    Raises:
        AlignmentError: naming the first pair of layers that differ.
    """
    weights = ReferenceWeights.of(reference) if isinstance(reference, nn.Module) else reference
    state = weights.state
    buffers = _buffer_copier(weights, stu_buffers)
    if partner is not None:
        pairings = [_paired(state, ref_layers, stu_layers, partner, buffers)]
    else:
        try:
            pairings = [_in_order(state, ref_layers, stu_layers, buffers)]
        except AlignmentError:
            pairings = []
            for preference in PREFERENCES:
                found = _reordered(ref_layers, stu_layers, preference)
                if found is None:
                    raise
                out = _paired(state, ref_layers, stu_layers, found, buffers)
                if not any(_same_pairing(out, other) for other in pairings):
                    pairings.append(out)
    return [_with_loose(out, weights, ref_layers, stu_parameters, stu_buffers, ref_skip, stu_skip) for out in pairings]


def _same_pairing(one: dict[str, torch.Tensor], other: dict[str, torch.Tensor]) -> bool:
    return one.keys() == other.keys() and all(one[name] is other[name] for name in one)


def _with_loose(out: dict, weights: ReferenceWeights, ref_layers: list[LayerCall], stu_parameters: list,
                stu_buffers: list, ref_skip: tuple[str, ...], stu_skip: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """``out`` (the layers' weights) with the parameters outside layers and the fixed buffers."""
    state = weights.state
    out = dict(out)
    covered_ref = {_full(ref, n) for ref in ref_layers for n, _ in ref.params}
    loose_ref = [(n, state[n]) for n in weights.parameters
                 if n not in covered_ref and not within(n.rpartition(".")[0], ref_skip)]
    loose_stu = [(n, tuple(s)) for n, s in stu_parameters
                 if n not in out and not within(n.rpartition(".")[0], stu_skip)]
    out.update(_match_loose(loose_ref, loose_stu))
    out.update(_match_fixed_buffers(weights, stu_buffers, out, stu_skip))
    return out


def _match_fixed_buffers(weights: ReferenceWeights, stu_buffers: list[tuple[str, Shape]], taken: dict,
                         stu_skip: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """The reference's fixed buffers into the student's buffers of the same shape (registration
    order breaks ties). A student's constant computed in forward instead has no buffer: nothing
    is copied for it, and that is no error."""
    remaining = [(n, tuple(s)) for n, s in stu_buffers if n not in taken and not within(n.rpartition(".")[0], stu_skip)]
    out = {}
    for name in weights.fixed_buffers:
        tensor = weights.state.get(name)
        match = next((item for item in remaining if tensor is not None and item[1] == tuple(tensor.shape)), None)
        if match is not None:
            remaining.remove(match)
            out[match[0]] = tensor.detach()
    return out


def _buffer_copier(weights: ReferenceWeights, stu_buffers: list[tuple[str, Shape]]) -> Callable:
    """``copy(ref, student, out)``: the reference layer's own buffers (BatchNorm statistics) into ``out``."""
    shapes = dict((n, tuple(s)) for n, s in stu_buffers)

    def copy(ref: LayerCall, student: LayerCall, out: dict) -> None:
        for buffer_name in weights.layer_buffers.get(ref.name, []):
            buffer = weights.state.get(_full(ref, buffer_name))  # None: a non-persistent buffer
            target = _full(student, buffer_name)
            if buffer is not None and shapes.get(target) == tuple(buffer.shape):
                out[target] = buffer

    return copy


def _in_order(state: dict, ref_layers: list[LayerCall], stu_layers: list[LayerCall], buffers: Callable) -> dict:
    """Walk both lists together in execution order, each reference layer matched by the first adapter that fits."""
    out: dict[str, torch.Tensor] = {}
    j = 0
    for i, ref in enumerate(ref_layers):
        tensors = [state[_full(ref, n)] for n, _ in ref.params]
        student = stu_layers[j] if j < len(stu_layers) else None
        mapped = (_copy(tensors, student) or _reshape(tensors, student)) if student else None
        used = 1
        if mapped is None:
            split = _split(tensors, stu_layers[j:])
            if split is None:
                yours = student.describe() if student else _("nothing (your model ran fewer layers)")
                raise AlignmentError(_("layer {number} of the reference, {layer}, has no counterpart: "
                                       "your layer {your_number} is {yours}").format(
                    number=i + 1, layer=ref.describe(), your_number=j + 1, yours=yours))
            used, mapped = split
        out.update(mapped)
        if student is not None and used == 1:
            buffers(ref, student, out)
        j += used
    if j < len(stu_layers):
        raise AlignmentError(_("your model runs layers the reference does not have, from {layer}").format(
            layer=stu_layers[j].describe()))
    return out


def _signature(layer: LayerCall) -> tuple:
    """Layout-free identity of a layer: (leading size, element count) per parameter.

    nn.Linear (o, i) and a 1x1 nn.Conv2d (o, i, 1, 1) share it, as the reshape adapter allows.
    """
    return tuple((shape[0] if shape else 1, torch.Size(shape).numel()) for _, shape in layer.params)


def _parent(layer: LayerCall) -> str:
    return layer.name.rpartition(".")[0]


PREFERENCES = (("name", "peers", "parent", "unclaimed", "after"), ("name", "peers", "after", "parent", "unclaimed"))
"""Orders of the criteria by which ``_reordered`` prefers a student layer among those of the right
shape: ``name``, the same module path; ``peers``, fed the same tensor as the partners of the
layers fed its own input; ``parent``, inside the student module already paired with its parent
module; ``unclaimed``, not inside a student module paired with another parent (a shortcut's 1x1
conv and a bottleneck's last conv can have equal shapes); ``after``, right after its predecessor's
partner (a BatchNorm stays with its convolution). Grouping the modules differently (a
pre-activation ``preact`` beside a ``branch``) defeats ``parent``; execution order then decides."""


def _reordered(ref_layers: list[LayerCall], stu_layers: list[LayerCall],
               preference: tuple[str, ...] = PREFERENCES[0]) -> Optional[list[int]]:
    """The same layers run in another order (a shortcut computed after the residual branch): pair them
    up, reference layer i with student layer partner[i].

    Layers pair by their layout-free signature (``_signature``); each must occur as often on both
    sides, else None. A signature found once on each side pairs directly. Where several student
    layers fit, a reference layer prefers the candidates that meet the criteria of ``preference``
    (see ``PREFERENCES``) in turn, then the earliest.
    """
    if len(ref_layers) != len(stu_layers):
        return None
    fits: dict[tuple, list[int]] = {}
    for j, student in enumerate(stu_layers):
        fits.setdefault(_signature(student), []).append(j)
    wanted: dict[tuple, int] = {}
    for ref in ref_layers:
        wanted[_signature(ref)] = wanted.get(_signature(ref), 0) + 1
    if any(len(fits.get(signature, [])) != count for signature, count in wanted.items()):
        return None
    partner: list[Optional[int]] = [None] * len(ref_layers)
    parents: dict[str, str] = {}  # reference parent module -> the student's

    def pair(i: int, j: int) -> None:
        partner[i] = j
        parents.setdefault(_parent(ref_layers[i]), _parent(stu_layers[j]))

    for i, ref in enumerate(ref_layers):
        if wanted[_signature(ref)] == 1:
            pair(i, fits[_signature(ref)][0])
    for i, ref in enumerate(ref_layers):
        if partner[i] is not None:
            continue
        taken = set(partner)
        after = partner[i - 1] + 1 if i > 0 and partner[i - 1] is not None else None
        claimed = {theirs for ours, theirs in parents.items() if ours != _parent(ref)}

        # Student layers fed the same tensor as this layer's already paired peers.
        peers = {stu_layers[partner[k]].source for k, other in enumerate(ref_layers)
                 if k != i and partner[k] is not None and ref.source and other.source == ref.source}

        def rank(j: int, ref: LayerCall = ref, peers: set = peers, after: Optional[int] = after,
                 claimed: set = claimed) -> tuple:
            student = stu_layers[j]
            misses = {"name": student.name != ref.name, "peers": bool(peers) and student.source not in peers,
                      "parent": _parent(student) != parents.get(_parent(ref)), "unclaimed": _parent(student) in claimed,
                      "after": j != after}
            return tuple(misses[criterion] for criterion in preference) + (j,)

        pair(i, min((j for j in fits[_signature(ref)] if j not in taken), key=rank))
    return partner


def _paired(state: dict, ref_layers: list[LayerCall], stu_layers: list[LayerCall], partner: list[int],
            buffers: Callable) -> dict[str, torch.Tensor]:
    """The reference layers' weights and buffers in the student layers they are paired with."""
    out: dict[str, torch.Tensor] = {}
    for ref, j in zip(ref_layers, partner):
        tensors = [state[_full(ref, n)] for n, _ in ref.params]
        out.update(_copy(tensors, stu_layers[j]) or _reshape(tensors, stu_layers[j]))
        buffers(ref, stu_layers[j], out)
    return out


def _match_loose(loose_ref: list, loose_stu: list) -> dict[str, torch.Tensor]:
    """Parameters outside executed layers, matched by shape (registration order breaks ties)."""
    if len(loose_ref) != len(loose_stu):
        # TRANSLATORS: no parameters outside layers, in "reference has none; yours has ...".
        ref_names = ", ".join(f"{n} {tuple(p.shape)}" for n, p in loose_ref) or _("none")
        stu_names = ", ".join(f"{n} {s}" for n, s in loose_stu) or _("none")
        raise AlignmentError(_("parameters outside layers differ: reference has {reference}; yours has {yours}").format(
            reference=ref_names, yours=stu_names))
    remaining = list(loose_stu)
    out = {}
    for name, tensor in loose_ref:
        match = next((item for item in remaining if item[1] == tuple(tensor.shape)), None)
        if match is None:
            raise AlignmentError(_("no parameter of shape {shape} for the reference's {name}").format(
                shape=tuple(tensor.shape), name=name))
        remaining.remove(match)
        out[match[0]] = tensor.detach()
    return out
