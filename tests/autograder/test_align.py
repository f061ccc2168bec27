"""Weight transplant: the reference's weights land in a submission's differently built layers.

Each test builds a small reference and an equivalent "student" model locally, lists their layers
the way grading does (forward hooks on the reference, the worker's Tracer on the student), calls
``transplant_candidates``, loads the result into the student and compares outputs.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autograder.checks import fingerprints
from autograder.checks.align import AlignmentError, reference_calls, student_calls, transplant_candidates
from autograder.runtime.worker import Tracer


def first_transplant(*args) -> dict:
    """The state dict grading uses first (``transplant_candidates``' first)."""
    return transplant_candidates(*args)[0]


def parameters(module: nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(n, tuple(p.shape)) for n, p in module.named_parameters()]


def layers(reference: nn.Module, student: nn.Module, x: torch.Tensor, ref_skip=(), stu_skip=()):
    """(reference layers, student layers) in execution order, as grading lists them."""
    ref_layers = reference_calls(reference, lambda: reference(x), ref_skip)
    tracer = Tracer(student)
    try:
        student(x)
    finally:
        tracer.remove()
    return ref_layers, student_calls(tracer.calls, stu_skip)


def move(reference: nn.Module, student: nn.Module, x: torch.Tensor, ref_skip=(), stu_skip=()) -> dict:
    """Transplant the reference's weights into ``student`` (strictly: every key must fit); the state."""
    ref_layers, stu_layers = layers(reference, student, x, ref_skip, stu_skip)
    state = first_transplant(reference, ref_layers, stu_layers,
                       [(n, tuple(p.shape)) for n, p in student.named_parameters()],
                       [(n, tuple(b.shape)) for n, b in student.named_buffers()], ref_skip, stu_skip)
    student.load_state_dict(state, strict=not (ref_skip or stu_skip))
    return state


def seeded(model: nn.Module, seed: int) -> nn.Module:
    """Every parameter and BatchNorm statistic random (so that a wrong mapping shows), eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in list(model.named_parameters()) + list(model.named_buffers()):
            if name.endswith("running_var"):
                tensor.copy_(0.5 + torch.rand(tensor.shape, generator=generator))
            elif tensor.is_floating_point():
                tensor.copy_(0.5 * torch.randn(tensor.shape, generator=generator))
    return model.eval()


def rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def assert_same_function(reference: nn.Module, student: nn.Module, x: torch.Tensor) -> None:
    with torch.no_grad():
        torch.testing.assert_close(student(x), reference(x), rtol=1e-5, atol=1e-5)


# -- identical layers under other names ------------------------------------------------------------

class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 5)

    def forward(self, x):
        return self.fc(F.relu(self.bn(self.conv(x))).mean((2, 3)))


class RenamedConvNet(nn.Module):
    """The same computation; other names, other registration order, layers nested in a Sequential."""

    def __init__(self):
        super().__init__()
        self.classifier = nn.Linear(4, 5)
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())

    def forward(self, x):
        return self.classifier(self.features(x).mean((2, 3)))


def test_identical_layers_with_other_names_get_the_same_weights_and_batchnorm_buffers():
    reference, student = seeded(ConvNet(), 0), RenamedConvNet().eval()
    with torch.no_grad():
        reference.bn.num_batches_tracked.fill_(17)
    x = rand(2, 3, 6, 6)
    state = move(reference, student, x)
    assert set(state) == set(student.state_dict())
    assert torch.equal(state["features.1.running_mean"], reference.bn.running_mean)
    assert torch.equal(state["features.1.running_var"], reference.bn.running_var)
    assert state["features.1.num_batches_tracked"].item() == 17
    assert torch.equal(state["classifier.weight"], reference.fc.weight)
    assert_same_function(reference, student, x)


# -- nn.Linear vs a 1x1 nn.Conv2d ------------------------------------------------------------------

class ConvMLP(nn.Module):
    """A channel MLP as 1x1 convolutions (channels first)."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Conv2d(6, 8, 1)
        self.fc2 = nn.Conv2d(8, 6, 1)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class LinearMLP(nn.Module):
    """The same MLP as nn.Linear over the channel dimension (channels last)."""

    def __init__(self):
        super().__init__()
        self.up = nn.Linear(6, 8)
        self.down = nn.Linear(8, 6)

    def forward(self, x):
        y = x.permute(0, 2, 3, 1)  # (B, C, H, W) -> (B, H, W, C)
        return self.down(F.gelu(self.up(y))).permute(0, 3, 1, 2)


@pytest.mark.parametrize("direction", ["conv reference, linear student", "linear reference, conv student"])
def test_linear_and_1x1_conv_are_interchangeable(direction):
    reference, student = (ConvMLP(), LinearMLP()) if direction.startswith("conv") else (LinearMLP(), ConvMLP())
    seeded(reference, 1)
    x = rand(2, 6, 3, 4, seed=1)
    move(reference, student.eval(), x)
    assert_same_function(reference, student, x)


# -- fused qkv vs separate q, k, v -------------------------------------------------------------------

D = 8


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    scores = q @ k.transpose(-2, -1) / D**0.5  # (B, N, N)
    return scores.softmax(-1) @ v


class FusedAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(D, 3 * D)
        self.proj = nn.Linear(D, D)

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)  # (B, N, 3D) -> 3 x (B, N, D)
        return self.proj(attend(q, k, v))


class SplitAttention(nn.Module):
    def __init__(self, order: str = "qkv"):
        super().__init__()
        self.order = order
        self.v = nn.Linear(D, D)  # registered in another order than they run
        self.k = nn.Linear(D, D)
        self.q = nn.Linear(D, D)
        self.out = nn.Linear(D, D)

    def forward(self, x):
        computed = {name: getattr(self, name)(x) for name in self.order}
        return self.out(attend(computed["q"], computed["k"], computed["v"]))


def test_a_fused_qkv_layer_is_split_into_separate_q_k_v():
    reference, student = seeded(FusedAttention(), 2), SplitAttention().eval()
    x = rand(2, 5, D, seed=2)
    state = move(reference, student, x)
    assert torch.equal(state["q.weight"], reference.qkv.weight[:D])
    assert torch.equal(state["v.bias"], reference.qkv.bias[2 * D:])
    assert_same_function(reference, student, x)


def test_a_fused_qkv_layer_is_split_by_role_whatever_order_q_k_v_run_in():
    """Layers named q, k, v receive Q, K, V even when k runs first."""
    reference, student = seeded(FusedAttention(), 3), SplitAttention(order="kqv").eval()
    x = rand(2, 5, D, seed=3)
    move(reference, student, x)
    assert_same_function(reference, student, x)


# -- Conv2d patch projection vs Unfold + Linear ----------------------------------------------------

C, P = 3, 2


class ConvPatches(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Conv2d(C, D, P, stride=P)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)  # (B, D, H/P, W/P) -> (B, N, D)


class LinearPatches(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(C * P * P, D)

    def forward(self, x):
        patches = F.unfold(x, P, stride=P).transpose(1, 2)  # (B, C*P*P, N) -> (B, N, C*P*P)
        return self.embed(patches)


def test_a_conv_patch_projection_becomes_a_linear_over_unfolded_patches():
    reference, student = seeded(ConvPatches(), 4), LinearPatches().eval()
    x = rand(2, C, 4, 6, seed=4)
    state = move(reference, student, x)
    assert state["embed.weight"].shape == (D, C * P * P)
    assert_same_function(reference, student, x)


# -- parameters outside layers ---------------------------------------------------------------------

class Tokens(nn.Module):
    def __init__(self, names=("cls_token", "pos_embed")):
        super().__init__()
        self.names = names
        shapes = {"cls_token": (1, 1, D), "pos_embed": (1, 4, D), "class_embedding": (1, 1, D), "positions": (1, 4, D)}
        for name in names:
            setattr(self, name, nn.Parameter(torch.zeros(shapes[name])))
        self.norm = nn.LayerNorm(D)

    def forward(self, x):  # (B, 3, D) tokens
        cls, pos = (getattr(self, name) for name in self.names)
        if cls.shape[1] != 1:
            cls, pos = pos, cls
        tokens = torch.cat([cls.expand(x.shape[0], -1, -1), x], dim=1) + pos  # (B, 4, D)
        return self.norm(tokens)


def test_loose_parameters_are_matched_by_shape_whatever_their_names():
    reference = seeded(Tokens(), 5)
    student = Tokens(names=("positions", "class_embedding")).eval()  # other names, other order
    x = rand(2, 3, D, seed=5)
    state = move(reference, student, x)
    assert torch.equal(state["class_embedding"], reference.cls_token)
    assert torch.equal(state["positions"], reference.pos_embed)
    assert_same_function(reference, student, x)


def test_loose_parameters_that_do_not_pair_up_are_an_alignment_error():
    reference, student = seeded(Tokens(), 6), Tokens()
    student.pos_embed = nn.Parameter(torch.zeros(1, 5, D))  # one position too many
    ref_layers = reference_calls(reference, lambda: reference(rand(2, 3, D)))
    stu_layers = student_calls([{"name": "norm", "type": "torch.nn.modules.normalization.LayerNorm",
                                 "params": [["weight", [D]], ["bias", [D]]]}])
    with pytest.raises(AlignmentError, match=r"no parameter of shape \(1, 4, 8\) for the reference's pos_embed"):
        first_transplant(reference, ref_layers, stu_layers, parameters(student), [])
    del student.pos_embed  # one parameter fewer
    with pytest.raises(AlignmentError, match=r"parameters outside layers differ: reference has cls_token \(1, 1, 8\), "
                                             r"pos_embed \(1, 4, 8\); yours has cls_token \(1, 1, 8\)"):
        first_transplant(reference, ref_layers, stu_layers, parameters(student), [])


# -- layers that do not match -----------------------------------------------------------------------

class Deeper(ConvNet):
    """ConvNet with one more layer at the end."""

    def __init__(self):
        super().__init__()
        self.extra = nn.Linear(5, 5)

    def forward(self, x):
        return self.extra(super().forward(x))


class Wider(ConvNet):
    """ConvNet with one more layer in the middle."""

    def __init__(self):
        super().__init__()
        self.extra = nn.Conv2d(4, 4, 1, bias=False)

    def forward(self, x):
        return self.fc(F.relu(self.extra(self.bn(self.conv(x)))).mean((2, 3)))


def test_an_extra_layer_at_the_end_is_named():
    with pytest.raises(AlignmentError, match=r"your model runs layers the reference does not have, "
                                             r"from extra \(Linear: weight \(5, 5\), bias \(5,\)\)"):
        move(seeded(ConvNet(), 7), Deeper(), rand(1, 3, 4, 4))


def test_an_extra_layer_in_the_middle_names_both_layers():
    pattern = (r"layer 3 of the reference, fc \(Linear: weight \(5, 4\), bias \(5,\)\), has no counterpart: "
               r"your layer 3 is extra \(Conv2d: weight \(4, 4, 1, 1\)\)")
    with pytest.raises(AlignmentError, match=pattern):
        move(seeded(ConvNet(), 7), Wider(), rand(1, 3, 4, 4))


def test_a_missing_layer_is_named():
    with pytest.raises(AlignmentError, match=r"layer 4 of the reference, extra \(Linear: .*\), has no counterpart: "
                                             r"your layer 4 is nothing \(your model ran fewer layers\)"):
        move(seeded(Deeper(), 7), ConvNet(), rand(1, 3, 4, 4))


# -- modules passed in by the grader -----------------------------------------------------------------

class Block(nn.Module):
    """A residual block whose shortcut projection is passed in (as the grader passes a downsample)."""

    def __init__(self, shortcut: nn.Module, name: str = "downsample", shortcut_first: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.name, self.shortcut_first = name, shortcut_first
        setattr(self, name, shortcut)

    def forward(self, x):
        shortcut = getattr(self, self.name)
        identity = shortcut(x) if self.shortcut_first else None
        out = self.bn(self.conv(x))
        return F.relu(out + (identity if identity is not None else shortcut(x)))


def projection(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    module = nn.Sequential(nn.Conv2d(3, 4, 1, bias=False), nn.BatchNorm2d(4))
    module.scale = nn.Parameter(torch.full((1,), 1.5))  # a loose parameter of its own, also skipped
    return seeded(module, seed)


def test_modules_passed_in_are_skipped_on_both_sides():
    reference = seeded(Block(projection(8)), 9)
    with torch.no_grad():
        reference.downsample[0].weight.copy_(projection(8)[0].weight)  # seeded() above touched it too
    student = Block(projection(8), name="shortcut").eval()
    student.shortcut.load_state_dict(reference.downsample.state_dict())
    x = rand(2, 3, 5, 5, seed=9)
    ref_layers, stu_layers = layers(reference, student, x, ("downsample",), ("shortcut",))
    assert [layer.name for layer in ref_layers] == ["conv", "bn"]
    assert [layer.name for layer in stu_layers] == ["conv", "bn"]
    state = move(reference, student, x, ("downsample",), ("shortcut",))
    assert not [key for key in state if key.startswith("shortcut")]
    assert set(state) == {k for k in student.state_dict() if not k.startswith("shortcut")}
    assert_same_function(reference, student, x)


def test_without_skip_the_passed_in_modules_are_aligned_too():
    reference, student = seeded(Block(projection(8)), 10), Block(projection(11), name="shortcut").eval()
    x = rand(2, 3, 5, 5, seed=10)
    state = move(reference, student, x)
    assert torch.equal(state["shortcut.0.weight"], reference.downsample[0].weight)
    assert torch.equal(state["shortcut.scale"], reference.downsample.scale)
    assert_same_function(reference, student, x)


def test_a_shortcut_computed_after_the_branch_still_lines_up():
    """The same layers in another execution order (the reference runs the shortcut first)."""
    reference = seeded(Block(nn.Sequential(nn.Conv2d(3, 4, 1, bias=False), nn.BatchNorm2d(4))), 12)
    student = Block(nn.Sequential(nn.Conv2d(3, 4, 1, bias=False), nn.BatchNorm2d(4)), shortcut_first=False).eval()
    x = rand(2, 3, 5, 5, seed=12)
    move(reference, student, x)
    assert_same_function(reference, student, x)


class PreActBlocks(nn.Module):
    """Two pre-activation bottlenecks (width 4, expansion 4) as in a ResNet stage: the first one's
    BatchNorms all have the same shape, its 1x1 shortcut the shape of its last conv, and its first
    conv a shape found nowhere else (which pairs it first, and its module with it)."""

    def __init__(self, grouped: bool = False):
        super().__init__()
        self.blocks = nn.ModuleList([PreActBottleneck(4, grouped, shortcut=True), PreActBottleneck(16, grouped)])

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


class PreActBottleneck(nn.Module):
    def __init__(self, channels: int, grouped: bool, shortcut: bool = False):
        super().__init__()
        self.grouped = grouped
        if grouped:  # `preact` and `branch` submodules, the shortcut computed after the branch
            self.preact = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU())
            self.branch = nn.Sequential(nn.Conv2d(channels, 4, 1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                                        nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                                        nn.Conv2d(4, 16, 1, bias=False))
        else:
            self.bn1, self.conv1 = nn.BatchNorm2d(channels), nn.Conv2d(channels, 4, 1, bias=False)
            self.bn2, self.conv2 = nn.BatchNorm2d(4), nn.Conv2d(4, 4, 3, padding=1, bias=False)
            self.bn3, self.conv3 = nn.BatchNorm2d(4), nn.Conv2d(4, 16, 1, bias=False)
        self.downsample = nn.Conv2d(channels, 16, 1, bias=False) if shortcut else None

    def forward(self, x):
        if self.grouped:
            pre = self.preact(x)
            out = self.branch(pre)
            return out + (x if self.downsample is None else self.downsample(pre))
        pre = F.relu(self.bn1(x))
        shortcut = x if self.downsample is None else self.downsample(pre)
        out = self.conv2(F.relu(self.bn2(self.conv1(pre))))
        return self.conv3(F.relu(self.bn3(out))) + shortcut


def test_layers_run_in_another_order_with_repeated_shapes_pair_by_what_they_compute():
    """A pre-activation bottleneck split into ``preact`` and ``branch``, its shortcut run last: the
    pairings by shape and order mix up its BatchNorms (all of one shape), while the outputs of the
    layers under probe weights (``autograder.checks.fingerprints``) pair every layer with its counterpart."""
    reference, student = seeded(PreActBlocks(), 13), PreActBlocks(grouped=True).eval()
    x = rand(2, 4, 5, 5, seed=13)
    ref_layers, stu_layers = layers(reference, student, x)
    parameters = [(n, tuple(p.shape)) for n, p in student.named_parameters()]
    buffers = [(n, tuple(b.shape)) for n, b in student.named_buffers()]

    def computes_the_reference(state: dict) -> bool:
        student.load_state_dict(state)
        with torch.no_grad():
            return torch.allclose(student(x), reference(x), rtol=1e-5, atol=1e-5)

    assert not any(computes_the_reference(state)
                   for state in transplant_candidates(reference, ref_layers, stu_layers, parameters, buffers))
    student.load_state_dict(fingerprints.probe_weights(stu_layers, fingerprints.own_buffers(stu_layers, buffers),
                                                       fingerprints.loose_parameters(parameters, stu_layers, ())),
                            strict=False)
    tracer = Tracer(student)
    with torch.no_grad():
        student(x)
    tracer.remove()
    first = {}
    for call in tracer.calls:
        first.setdefault(call["name"], call["output_print"])
    partner = fingerprints.pair_by_prints(ref_layers, stu_layers,
                                          fingerprints.reference_prints(reference, ref_layers, (), x),
                                          [first[layer.name] for layer in stu_layers])
    assert [stu_layers[j].name for j in partner[:7]] == [
        "blocks.0.preact.0", "blocks.0.downsample", "blocks.0.branch.0", "blocks.0.branch.1", "blocks.0.branch.3",
        "blocks.0.branch.4", "blocks.0.branch.6"]
    assert computes_the_reference(transplant_candidates(reference, ref_layers, stu_layers, parameters, buffers,
                                                        partner=partner)[0])


def test_fingerprints_pair_nothing_where_the_computations_differ():
    """A student block that computes something else has no layer-by-layer counterpart."""
    reference, student = seeded(PreActBlocks(), 14), PreActBlocks(grouped=True).eval()
    x = rand(2, 4, 5, 5, seed=14)
    ref_layers, stu_layers = layers(reference, student, x)
    prints = fingerprints.reference_prints(reference, ref_layers, (), x)
    shifted = [[value + 1.0 for value in printed] for printed in prints]
    assert fingerprints.pair_by_prints(ref_layers, ref_layers, prints, prints) == list(range(len(ref_layers)))
    assert fingerprints.pair_by_prints(ref_layers, ref_layers, prints, shifted) is None
