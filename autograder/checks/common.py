"""Building blocks of the checks: module cases, reference runs, transplant, comparisons."""
from __future__ import annotations

import contextlib
import copy
import functools
import importlib
import importlib.util
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from torch import nn

from autograder.checks import fingerprints, golden
from autograder.checks.align import (
    AlignmentError,
    LayerCall,
    ReferenceWeights,
    fixed_buffers,
    reference_calls,
    student_calls,
    transplant_candidates,
    within,
)
from autograder.checks.known import described
from autograder.engine import remote
from autograder.engine.remote import Session
from autograder.i18n import _
from autograder.runtime import values

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Outcome:
    """What one check concluded."""

    fraction: float
    """Share of the check's points earned, in [0, 1]."""
    message: str
    """Feedback: first line a summary, then details."""
    alternatives: tuple[str, ...] = ()
    """Keys of the known alternatives (``autograder.checks.known``) the submission's output matched."""
    incident: str = ""
    """Why the check could not run to the end, one of ``autograder.report.INCIDENTS`` (a file
    missing, the submission raised, the worker died); "" when it ran to the end."""

    @property
    def stopped(self) -> bool:
        return bool(self.incident)


def passed(message: str) -> Outcome:
    return Outcome(1.0, message)


def failed(message: str) -> Outcome:
    return Outcome(0.0, message)


@dataclass(frozen=True)
class Factory:
    """A lab class used as an argument (e.g. ``attention=Factory("attention.SEModule", reduction=4)``)."""

    dotted: str
    kwargs: dict = field(default_factory=dict)

    def reference(self) -> Callable:
        return functools.partial(reference_attr(self.dotted), **self.kwargs)

    def student(self) -> dict:
        return values.partial(self.dotted, **self.kwargs)

    def __repr__(self) -> str:
        bound = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return self.dotted.split(".")[-1] + (f"({bound})" if bound else "")


@dataclass(frozen=True)
class Provided:
    """A plain torch.nn module the grader passes in (e.g. a downsample), the same weights on both sides.

    ``spec``: ``[name, args, kwargs]`` of a torch.nn class (``Sequential`` takes specs as args).
    ``factory``: pass ``lambda channels: module`` instead of the module (an attention stand-in).
    ``he_scaled``: draw convolution and linear weights He-scaled by their fan-in instead of torch's
    default (a third as large), so that activations keep their size through a deep probe.
    """

    spec: list
    seed: int = 7
    factory: bool = False
    he_scaled: bool = False

    def build(self) -> nn.Module:
        """The module, initialised from ``seed`` alone (identical for reference and submission)."""
        with seeded(self.seed):
            module = randomize(values.build_nn(self.spec), self.seed)
        if self.he_scaled:
            generator = torch.Generator().manual_seed(self.seed)
            with torch.no_grad():
                for layer in module.modules():
                    if isinstance(layer, (nn.Conv2d, nn.Linear)):
                        fan_in = layer.weight[0].numel()
                        layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * (2.0 / fan_in) ** 0.5)
        return module

    def reference(self, provided: list) -> Any:
        if self.factory:
            return lambda channels: self.build()
        module = self.build()
        provided.append(module)
        return module

    def student(self, tensors: dict, label: str) -> dict:
        if self.factory:
            return values.nn_factory(self.spec)
        for name, tensor in self.build().state_dict().items():
            tensors[f"{label}.{name}"] = tensor
        return values.nn_module(self.spec, label)

    def install(self, session: Session, name: str) -> None:
        """Build the module in the worker as the handle ``name``, with the weights of ``build()``."""
        session.build(name, values.nn_factory(self.spec), 0)
        session.load(name, self.build().state_dict())

    def __repr__(self) -> str:
        return _spec_repr(self.spec)


def _spec_repr(spec: list) -> str:
    name, args, kwargs = values.spec_parts(spec)
    if name == "Sequential":
        return f"Sequential({', '.join(_spec_repr(child) for child in args)})"
    return f"{name}({', '.join([repr(a) for a in args] + [f'{k}={v!r}' for k, v in kwargs.items()])})"


@dataclass(frozen=True)
class Case:
    """A configuration of a lab component and the input it is run on."""

    target: str
    """``module.attr`` of the component, e.g. ``resnet.BasicBlock``."""
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    input_shape: Shape = ()
    """Shape of the (single) input tensor."""

    def call(self) -> str:
        """The constructor call, e.g. ``MultiHeadAttention(24, 4)``."""
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.target.split('.')[-1]}({', '.join(parts)})"

    def label(self) -> str:
        """The call and its input, e.g. ``MultiHeadAttention(24, 4) on input (2, 7, 24)``."""
        return _("{call} on input {shape}").format(call=self.call(), shape=tuple(self.input_shape))

    def build_reference(self, provided: Optional[list] = None) -> nn.Module:
        """The reference component; modules passed in are appended to ``provided``."""
        provided = [] if provided is None else provided

        def encode(value: Any) -> Any:
            if isinstance(value, Factory):
                return value.reference()
            return value.reference(provided) if isinstance(value, Provided) else value

        args = [encode(a) for a in self.args]
        return reference_attr(self.target)(*args, **{k: encode(v) for k, v in self.kwargs.items()})

    def build_student(self, session: Session, name: str, init: bool = True) -> remote.Description:
        """The submission's component, kept as ``name``; ``init`` as ``Session.build``'s."""
        tensors: dict[str, torch.Tensor] = {}

        def encode(value: Any, label: str) -> Any:
            if isinstance(value, Factory):
                return value.student()
            return value.student(tensors, label) if isinstance(value, Provided) else value

        args = [encode(a, f"arg{i}") for i, a in enumerate(self.args)]
        kwargs = {k: encode(v, k) for k, v in self.kwargs.items()}
        return session.build(name, values.ref(self.target), *args, tensors=tensors, init=init, **kwargs)

    def make_input(self, seed: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed)
        return torch.randn(self.input_shape, generator=generator)


def reference_attr(dotted: str):
    """An attribute of the reference solutions (grader process only)."""
    module_name, attr = dotted.split(".", 1)
    value = importlib.import_module(f"solutions.{module_name}")
    for part in attr.split("."):
        value = getattr(value, part)
    return value


NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)


_GLOBAL_RNG = threading.RLock()


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """torch's global generator seeded with ``seed`` within, restored after, and held by this thread
    alone: layers draw their initial weights from it, and a grading may run checks in several threads
    (``autograder.lanes``), whose seeds must not interleave."""
    with _GLOBAL_RNG, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


@torch.no_grad()
def randomize(model: nn.Module, seed: int) -> nn.Module:
    """Perturb a reference so that no part is trivial: norms' affine and running statistics, biases."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, NORMS):
            if module.weight is not None:
                module.weight.copy_(1 + 0.2 * torch.randn(module.weight.shape, generator=generator))
                module.bias.copy_(0.2 * torch.randn(module.bias.shape, generator=generator))
            if getattr(module, "running_mean", None) is not None:
                module.running_mean.copy_(0.1 * torch.randn(module.running_mean.shape, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(module.running_var.shape, generator=generator))
        elif getattr(module, "bias", None) is not None and isinstance(module.bias, nn.Parameter):
            module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=generator))
    for name, param in model.named_parameters():
        if "." not in name and param.dim() >= 2:  # loose tensors such as a CLS token or positions
            param.copy_(0.5 * torch.randn(param.shape, generator=generator))
    return model


def generated(strategy: st.SearchStrategy, count: int) -> list:
    """``count`` examples from ``strategy``, the same ones on every run (derandomised hypothesis)."""
    examples: list = []

    @settings(max_examples=count, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(example):
        if len(examples) < count:
            examples.append(example)

    collect()
    return examples


def all_of(outcomes: list[Outcome]) -> Outcome:
    """Several sub-results as one: the mean fraction, the failing messages (or the first passing
    one), and every known alternative matched."""
    failing = [o.message for o in outcomes if o.fraction < 1]
    matched = tuple(dict.fromkeys(key for o in outcomes for key in o.alternatives))
    return Outcome(sum(o.fraction for o in outcomes) / len(outcomes),
                   "\n".join(failing) or outcomes[0].message, matched)


DIGITS_FILE = "datasets/data/digits.csv.gz"
"""scikit-learn's digits, inside its package: 1,797 rows of 64 pixels (0..16) and the label."""


@functools.lru_cache(maxsize=1)
def digits() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """scikit-learn's digits (shipped with the package, so offline) in a fixed shuffled order:
    (images (N, 1, 8, 8) in [0, 1], labels (N,), the order: a permutation of range(N))."""
    import numpy as np

    # The file load_digits reads, read here: importing scikit-learn takes most of a second of every grade.
    package = importlib.util.find_spec("sklearn")
    if package is None or not package.submodule_search_locations:
        raise ModuleNotFoundError("the training checks need scikit-learn's digits: pip install scikit-learn")
    rows = np.loadtxt(Path(package.submodule_search_locations[0]) / DIGITS_FILE, delimiter=",")  # (N, 64 + label)
    images = torch.tensor(rows[:, :-1], dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0
    labels = torch.tensor(rows[:, -1], dtype=torch.long)
    return images, labels, torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))


def first_lines(items: list[str], limit: int = 3) -> str:
    shown = items[:limit]
    more = "\n" + _("... and {count} more").format(count=len(items) - limit) if len(items) > limit else ""
    return "\n".join(shown) + more


def check_output_shapes(session: Session, cases: list[Case]) -> Outcome:
    """Each case's output shape equals the reference's; the fraction of cases that pass."""
    problems = [problem for index, case in enumerate(cases) if (problem := shape_problem(session, case, index))]
    return share_passed(len(cases), problems,
                        _("all {count} configurations give the expected output shape").format(count=len(cases)),
                        _("configurations give the expected output shape"))


def shape_problem(session: Session, case: Case, index: int) -> str:
    """What is wrong with the output shape of ``case`` on its input number ``index`` ("" when nothing)."""
    expected = golden.reference(f"{case!r} input {index}: output shape",
                                lambda: tuple(case.build_reference().eval()(case.make_input(index)).shape))
    case.build_student(session, "shape")
    got = session.forward("shape", case.make_input(index)).outputs
    shape = tuple(got[0].shape) if got else None
    return "" if shape == expected else _("{case}: expected output {expected}, got {got}").format(
        case=case.label(), expected=expected, got=shape)


def share_passed(total: int, problems: list[str], all_passed: str, some_passed: str) -> Outcome:
    """Credit for the ``total - len(problems)`` configurations that passed: ``all_passed`` when all
    did, else "OK/TOTAL ``some_passed``" and the first problems."""
    ok = total - len(problems)
    if not problems:
        return passed(all_passed)
    return Outcome(ok / total, f"{ok}/{total} {some_passed}\n" + first_lines(problems))


def check_parameter_counts(session: Session, cases: list[Case]) -> Outcome:
    """Each case's trainable parameter count equals the reference's."""
    problems = []
    for case in cases:
        expected = golden.reference(f"{case!r}: trainable parameters",
                                    lambda: sum(p.numel() for p in case.build_reference().parameters()
                                               if p.requires_grad))
        got = case.build_student(session, "count", init=False).trainable
        if got != expected:
            problems.append(_("{case}: expected {expected} parameters, got {got}").format(
                case=case.call(), expected=f"{expected:,}", got=f"{got:,}"))
    return share_passed(len(cases), problems,
                        _("parameter counts match in all {count} configurations").format(count=len(cases)),
                        _("configurations have the expected parameter count"))


TensorSpec = tuple[str, Shape, str]
"""(full name, shape, role) of a reference tensor the weight recipe fills; roles in ``recipe_weights``."""


def tensor_specs(model: nn.Module, skip: tuple[str, ...]) -> list[TensorSpec]:
    """The parameters (and norm statistics) of ``model`` outside ``skip``, with the role that sets
    how the recipe draws them."""
    specs = []
    for module_name, module in model.named_modules():
        if module_name and within(module_name, skip):
            continue
        prefix = f"{module_name}." if module_name else ""
        for name, param in module.named_parameters(recurse=False):
            if isinstance(module, NORMS):
                role = "norm_weight" if name == "weight" else "norm_bias"
            elif param.dim() >= 2:
                role = "loose" if not module_name else "weight"
            else:
                role = "bias"
            specs.append((prefix + name, tuple(param.shape), role))
        if isinstance(module, NORMS):
            specs += [(prefix + name, tuple(buffer.shape), name) for name, buffer in module.named_buffers(recurse=False)
                      if name in ("running_mean", "running_var")]
    return specs


def recipe_weights(specs: list[TensorSpec], seed: int) -> dict[str, torch.Tensor]:
    """Non-trivial weights drawn from ``seed`` by name, shape and role alone (no reference code):
    layer weights He-scaled by their fan-in, small biases, norms' affine and running statistics
    away from 1 and 0, loose tensors (a CLS token, positions) at scale 0.5."""
    generator = torch.Generator().manual_seed(seed)

    def draw(shape: Shape) -> torch.Tensor:
        return torch.randn(shape, generator=generator)

    out = {}
    for name, shape, role in specs:
        if role == "weight":
            fan_in = max(1, torch.Size(shape).numel() // shape[0])
            out[name] = draw(shape) * (2.0 / fan_in) ** 0.5
        elif role == "norm_weight":
            out[name] = 1 + 0.2 * draw(shape)
        elif role == "norm_bias":
            out[name] = 0.2 * draw(shape)
        elif role == "running_mean":
            out[name] = 0.1 * draw(shape)
        elif role == "running_var":
            out[name] = 0.5 + torch.rand(shape, generator=generator)
        elif role == "loose":
            out[name] = 0.5 * draw(shape)
        elif role == "bias":
            out[name] = 0.1 * draw(shape)
        else:
            raise ValueError(f"unknown tensor role {role!r} for {name}")
    return out


@dataclass
class Transplanted:
    """A reference module and the submission's equivalent holding the same weights."""

    reference: Optional[nn.Module]
    """None where the reference is replayed from golden files."""
    name: str
    """Handle of the submission's module in the worker."""
    description: remote.Description
    key: str
    """Names this reference (case, seed, preparation, known alternatives) among the check's golden values."""
    shared_key: str = ""
    """``key`` without the known alternatives: for values that no known alternative changes."""

    def computed(self, what: str, compute: Callable[[nn.Module], Any], shared: bool = False) -> Any:
        """``compute(reference)``, or its recorded value (see ``golden``); ``shared``: a value no
        known alternative changes (an output's shape), recorded once for all."""
        return golden.reference(f"{self.shared_key if shared else self.key}: {what}", lambda: compute(self.reference))

    def restore(self) -> None:
        """Back to float32 after a computation in float64 (live reference only)."""
        if self.reference is not None:
            self.reference.float()


def with_alternatives(model: nn.Module, keys: tuple[str, ...]) -> nn.Module:
    """``model`` with the known alternatives ``keys`` made to it (see ``autograder.checks.instructor.alternatives``).

    Instructor-side code, imported only where the reference is live: a student's copy replays the
    values computed with it from golden/.
    """
    if not keys:
        return model
    from autograder.checks.instructor.alternatives import with_alternatives as change

    return change(model, keys)


def _reference_side(case: Case, seed: int, prepare: Optional[Callable[[nn.Module], None]], key: str,
                    alternatives: tuple[str, ...] = ()):
    """(live reference module or None, its weights, its layer calls, the modules passed in, what it
    computed on the input its layers were listed with: ``Traced``).

    The weights' description is recorded under ``key``; the layers, whose execution order a
    known alternative may change, under ``key`` and the alternatives.
    """
    live: dict[str, nn.Module] = {}
    described: dict = {}

    def describe() -> dict:
        if described:
            return described
        provided: list = []
        with seeded(seed):
            reference = case.build_reference(provided)
        kept = {id(m) for m in provided}
        skip = tuple(n for n, m in reference.named_modules() if n and id(m) in kept)
        specs = tensor_specs(reference, skip)
        reference.load_state_dict(recipe_weights(specs, seed), strict=False)
        reference.eval()
        with_alternatives(reference, alternatives)
        if prepare is not None:
            prepare(reference)
        live["module"] = reference
        x = case.make_input(seed)
        outputs: list = []
        layers = reference_calls(reference, lambda: outputs.append(reference(x)), skip)
        described["output"] = first_tensor(outputs[0])
        modules = dict(reference.named_modules())
        numbers: dict[int, int] = {0: 0}
        fixed = fixed_buffers(reference, skip)
        buffers = dict(reference.named_buffers())
        described.update({
            "specs": specs, "skip": skip, "fixed_buffers": {name: buffers[name] for name in fixed},
            "parameters": [n for n, _ in reference.named_parameters() if not within(n.rpartition(".")[0], skip)],
            "layer_buffers": {layer.name: [b for b, _ in modules[layer.name].named_buffers(recurse=False)]
                              for layer in layers},
            "layers": [(layer.name, layer.kind, layer.params, _numbered(layer.source, numbers)) for layer in layers]})
        return described

    if prepare is not None and golden.mode() != "live":
        raise golden.GoldenMissing(f"{key}: a prepared reference is computed live only")
    layers_key = key + (f" with {', '.join(alternatives)}" if alternatives else "")
    recorded = {**golden.reference(f"{key}: weights", lambda: {k: describe()[k] for k in WEIGHT_KEYS}),
                **golden.reference(f"{layers_key}: layers", lambda: {k: describe()[k] for k in LAYER_KEYS},
                                   unless_same_as=f"{key}: layers" if alternatives else None)}
    traced = golden.reference(f"{layers_key}: output on the tracing input", lambda: describe()["output"])

    def printed() -> list:
        return golden.reference(f"{layers_key}: fingerprints", lambda: fingerprints.reference_prints(
            live["module"], layers, tuple(recorded["skip"]), case.make_input(seed)))

    names = {spec[0] for spec in recorded["specs"]}
    if "module" in live:  # the recipe's tensors, as prepare left them
        state = {name: tensor for name, tensor in live["module"].state_dict().items() if name in names}
    else:
        state = recipe_weights([tuple(spec) for spec in recorded["specs"]], seed)
    fixed = dict(recorded.get("fixed_buffers", {}))
    weights = ReferenceWeights({**state, **fixed}, list(recorded["parameters"]),
                               {k: list(v) for k, v in recorded["layer_buffers"].items()}, list(fixed))
    layers = [LayerCall(name, kind, tuple((n, tuple(s)) for n, s in params), source)
              for name, kind, params, source in recorded["layers"]]
    if golden.mode() == "record" and not alternatives:
        printed()  # recorded for a student's copy (not with every known alternative: that would take long)
    return live.get("module"), weights, layers, tuple(recorded["skip"]), Traced(traced, printed)


WEIGHT_KEYS = ("specs", "skip", "fixed_buffers", "parameters")
LAYER_KEYS = ("layer_buffers", "layers")
"""What ``_reference_side`` records of a reference: its weights (the same with any known
alternative) and the layers it runs (whose order an alternative may change)."""


def _numbered(source: int, numbers: dict[int, int]) -> int:
    """A layer's input address as 1, 2, ... in order of first use (addresses differ from run to run;
    only which layers share an input matters), 0 for unknown."""
    return numbers.setdefault(source, len(numbers))


def transplanted(session: Session, case: Case, name: str, seed: int = 0,
                 prepare: Optional[Callable[[nn.Module], None]] = None) -> Transplanted:
    """Build both, give the reference the recipe's weights, copy them into the submission's module.

    ``prepare`` may change the reference's weights (e.g. zero a branch) before they are copied. The
    reference has the known alternatives of ``session.alternatives`` (a component it uses judged
    with the student's known mistake, so that the mistake costs points once).
    """
    key = f"{case!r} seed {seed}" + (f" prepared by {prepare.__name__}" if prepare is not None else "")
    reference, weights, ref_layers, ref_skip, traced = _reference_side(case, seed, prepare, key, session.alternatives)
    shared_key = key
    if session.alternatives:
        key += f" with {', '.join(session.alternatives)}"
    description = case.build_student(session, name, init=False)  # its weights are loaded below
    x = case.make_input(seed)
    trace = session.forward(name, x, trace=True).trace
    stu_skip = tuple(description.provided)
    stu_layers = student_calls(trace, stu_skip)
    arguments = (weights, ref_layers, stu_layers, description.parameters, description.buffers, ref_skip, stu_skip)
    candidates = transplant_candidates(*arguments)

    def fits(state: dict) -> bool:
        session.load(name, state)
        got = session.forward(name, x).outputs
        return bool(got) and close(got[0], traced.output, PAIRING_TOLERANCE, PAIRING_TOLERANCE)

    if traced.output is None:
        session.load(name, candidates[0])
    elif not any(fits(state) for state in candidates):
        partner = _paired_by_what_they_compute(session, name, x, description, stu_layers, ref_layers, traced, stu_skip)
        if partner is None or not fits(transplant_candidates(*arguments, partner=partner)[0]):
            session.load(name, candidates[0])  # nothing fits: the checks then report the difference
    return Transplanted(reference, name, description, key, shared_key)


@dataclass(frozen=True)
class Traced:
    """What the reference computed on the input its layers were listed with."""

    output: Optional[torch.Tensor]
    """Its output (float32), which a right transplant makes the submission's output equal."""
    prints: Callable[[], list]
    """Each layer's output fingerprint with probe weights (``autograder.checks.fingerprints``), computed
    (or replayed) when asked: only a submission whose layers run in another order needs them."""


def _paired_by_what_they_compute(session: Session, name: str, x: torch.Tensor, description: remote.Description,
                                 stu_layers: list[LayerCall], ref_layers: list[LayerCall], traced: Traced,
                                 stu_skip: tuple[str, ...]) -> Optional[list[int]]:
    """The pairing of layers by their outputs with probe weights (``autograder.checks.fingerprints``), for
    a submission whose layers run in another order; None where it finds none."""
    probe = fingerprints.probe_weights(stu_layers, fingerprints.own_buffers(stu_layers, description.buffers),
                                       fingerprints.loose_parameters(description.parameters, stu_layers, stu_skip))
    session.load(name, probe)
    calls = session.forward(name, x, trace=True).trace
    first = {}
    for call in calls:
        first.setdefault(call["name"], call.get("output_print") or [])
    try:
        printed = traced.prints()
    except golden.GoldenMissing:  # a student's copy has them without known alternatives only
        return None
    return fingerprints.pair_by_prints(ref_layers, stu_layers, printed, [first.get(l.name, []) for l in stu_layers])


PAIRING_TOLERANCE = 1e-4
"""How close (float32) the submission's output must come to the reference's for a pairing of
layers to be taken as the right one."""


def first_tensor(value: Any) -> Optional[torch.Tensor]:
    """``value`` if a tensor, else the first tensor of a tuple or list (detached), else None."""
    if isinstance(value, torch.Tensor):
        return value.detach()
    return next((first_tensor(item) for item in value if first_tensor(item) is not None), None) \
        if isinstance(value, (list, tuple)) else None


def max_error(got: torch.Tensor, want: torch.Tensor) -> float:
    return float((got.detach().double() - want.detach().double()).abs().max()) if got.numel() else 0.0


def close(got: torch.Tensor, want: torch.Tensor, atol: float, rtol: float) -> bool:
    if got.shape != want.shape:
        return False
    return bool(torch.allclose(got.double(), want.double(), atol=atol, rtol=rtol))


def check_numerics(session: Session, case: Case, tolerances: dict, variants: tuple[str, ...] = ()) -> Outcome:
    """After the transplant, outputs equal the reference's in eval mode, float32 and float64.

    ``variants``: keys of known alternatives (``autograder.checks.known``) of the component; when
    the submission's output matches one, the feedback names it and the outcome records it.
    """
    try:
        pair = transplanted(session, case, "numerics")
    except AlignmentError as error:
        return failed(_("{case}: cannot line up your layers with the reference's: {error}").format(
            case=case.label(), error=error))
    problems, matched = [], []
    x64 = case.make_input(1).double()
    variant_outputs = {key: pair.computed(f"variant {key}", lambda ref, key=key: alternative_output(ref, key, x64))
                       for key in variants}
    for dtype, torch_dtype in (("float32", torch.float32), ("float64", torch.float64)):
        tol = tolerances[dtype]
        x = case.make_input(1).to(torch_dtype)
        want = pair.computed(f"output in {dtype}", lambda ref: ref.to(torch_dtype)(x))
        got = session.forward(pair.name, x, dtype=dtype).outputs
        if not got or not close(got[0], want, tol.atol, tol.rtol):
            if got and got[0].shape != want.shape:
                detail = _("shape {got} vs {expected}").format(got=tuple(got[0].shape), expected=tuple(want.shape))
            elif got:
                detail = _("max abs error {error} (tolerance {atol} + {rtol} x |expected|)").format(
                    error=f"{max_error(got[0], want):.3g}", atol=f"{tol.atol:g}", rtol=f"{tol.rtol:g}")
            else:
                detail = _("no tensor output")
            problems.append(f"{dtype}: {detail}")
            for key, output in variant_outputs.items():
                if got and dtype == "float64" and close(got[0], output, tol.atol, tol.rtol):
                    problems.append(_("your output matches a known alternative: {mistake}").format(
                        mistake=described(key)))
                    matched.append(key)
    pair.restore()
    if problems:
        return Outcome(0.0, _("{case}: output differs from the reference with the same weights").format(
                           case=case.label())
                       + "\n" + "\n".join(problems),
                       tuple(matched))
    return passed(_("{case}: output equals the reference's with the same weights (float32 and float64)").format(
        case=case.label()))


def alternative_output(reference: nn.Module, key: str, x: torch.Tensor) -> torch.Tensor:
    """What ``reference`` would output for ``x`` (float64) with the known alternative ``key``."""
    return with_alternatives(copy.deepcopy(reference).double(), (key,))(x)


def check_gradients(session: Session, case: Case, tolerances: dict) -> Outcome:
    """After the transplant: every parameter gets a gradient and input gradients equal the reference's."""
    try:
        pair = transplanted(session, case, "gradients")
    except AlignmentError as error:
        return failed(_("{case}: cannot line up your layers with the reference's: {error}").format(
            case=case.label(), error=error))
    x = case.make_input(2).double()

    def input_gradient(reference: nn.Module) -> torch.Tensor:
        x_ref = x.clone().requires_grad_(True)
        return torch.autograd.grad((reference.double()(x_ref) * upstream).sum(), x_ref)[0]

    shape = pair.computed("output shape", lambda reference: tuple(reference.double()(x).shape), shared=True)
    upstream = torch.randn(shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    want = pair.computed("input gradient", input_gradient)
    pair.restore()
    result = session.forward(pair.name, x, dtype="float64", grad_inputs=("x0",), grad_params=True, upstream=[upstream])
    missing = [name.split(".", 2)[-1] for name in result.missing_grads]
    tol = tolerances["float64"]
    if missing:
        return failed(_("{case}: no gradient reaches {names} (a detached path, .data, or an unused layer?)").format(
            case=case.label(), names=", ".join(missing[:5])))
    got = result.input_grads.get("x0")
    if got is None or not close(got, want, tol.atol, tol.rtol):
        error = max_error(got, want) if got is not None and got.shape == want.shape else float("nan")
        return failed(_("{case}: the gradient with respect to the input differs from the reference's "
                        "(max abs error {error})").format(case=case.label(), error=f"{error:.3g}"))
    return passed(_("{case}: gradients reach every parameter and the input gradient equals the reference's").format(
        case=case.label()))
