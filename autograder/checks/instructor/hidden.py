"""The checks graded after the due date, kept apart: the student bundle leaves this file out.

Skip paths and the placement of attention in the four residual blocks, SE- and CBAM-ResNet-18,
the ViT's gradients, and the cost of the bottleneck block, the attention and the encoder block
(which needs the reference solutions in a worker of their own). ``python -m autograder release``
refuses a rubric that shows one of these before the due date, or hides a check registered elsewhere.
"""
from __future__ import annotations

import functools
import multiprocessing.util
import threading
import time
from dataclasses import dataclass, field

import torch
from torch import nn

from autograder import paths
from autograder.checks import slides
from autograder.checks.common import (
    Case,
    Factory,
    Outcome,
    Provided,
    check_gradients,
    check_numerics,
    close,
    failed,
    max_error,
    passed,
    transplanted,
)
from autograder.checks.registry import Registry
from autograder.checks.resnet import BLOCKS, BlockKind, block_case
from autograder.checks.vit import VIT_NUMERIC, VIT_SLIDE, VIT_USES
from autograder.engine import meter
from autograder.engine.client import Worker
from autograder.engine.remote import Session
from autograder.i18n import N_, _
from autograder.runtime.values import handle, ref, tensor

registry = Registry()


def check_skip_path(session: Session, kind: BlockKind, rule) -> Outcome:
    """With the residual branch zeroed the block passes the upstream gradient through."""
    width = 5 * kind.expansion
    case = block_case(kind, 2, width, 5, 1, 6)

    def zero_branch(reference: nn.Module) -> None:
        with torch.no_grad():
            for param in getattr(reference, kind.last_layer).parameters():
                param.zero_()

    pair = transplanted(session, case, "skip", prepare=zero_branch)
    x = case.make_input(5).double()
    upstream = torch.randn(x.shape, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    result = session.forward(pair.name, x, dtype="float64", grad_inputs=("x0",), upstream=[upstream])
    got = result.input_grads.get("x0")
    if got is None:
        return failed(_("{case}: no gradient reaches the input through the shortcut").format(case=case.label()))
    # The reference's own gradient (upstream, or upstream * (x > 0) after the final ReLU): a mask
    # taken from the submission's output would let an all-zero output pass.
    def input_gradient(reference: nn.Module) -> torch.Tensor:
        x_ref = x.clone().requires_grad_(True)
        return torch.autograd.grad((reference.double()(x_ref) * upstream).sum(), x_ref)[0]

    expected = pair.computed("input gradient through the shortcut", input_gradient)
    pair.restore()
    what = _("the upstream gradient unchanged (identity shortcut, nothing after the addition)") if kind.preactivation \
        else _("the upstream gradient masked by the final ReLU")
    tol = rule.tolerance["float64"]
    if close(got, expected, tol.atol, tol.rtol):
        return passed(_("{case}: with the residual branch zeroed, the input receives {what}").format(
            case=case.label(), what=what))
    error = _("max abs difference {error}").format(error=f"{max_error(got, expected):.3g}") \
        if got.shape == expected.shape else \
        _("gradient shape {got}, expected {expected}").format(got=tuple(got.shape), expected=tuple(expected.shape))
    return failed(_("{case}: with the residual branch zeroed, the input should receive {what}; {error}").format(
        case=case.label(), what=what, error=error))


TANH_ATTENTION = Provided(["Tanh"], factory=True)


def attention_case(kind: BlockKind) -> Case:
    return block_case(kind, 2, 4, 6, 2, 7, attention=TANH_ATTENTION)


def skip_path(key: str, session: Session, rule) -> Outcome:
    return check_skip_path(session, BLOCKS[key], rule)


def attention_placement(key: str, session: Session, rule) -> Outcome:
    return check_numerics(session, attention_case(BLOCKS[key]), rule.tolerance, (f"{key}.attention_after_addition",))


AFTER_DUE_DATE_BLOCK_CHECKS = {  # block key: the ids of its skip path and attention placement checks
    "basic_block": ("part1.basic_block.skip_path", "part1.basic_block.attention_placement"),
    "bottleneck": ("part1.bottleneck.skip_path", "part1.bottleneck.attention_placement"),
    "preact_basic": ("part1.preact_basic.skip_path", "part1.preact_basic.attention_placement"),
    "preact_bottleneck": ("part1.preact_bottleneck.skip_path", "part1.preact_bottleneck.attention_placement"),
}
for _key, (_skip, _placement) in AFTER_DUE_DATE_BLOCK_CHECKS.items():
    _component, _uses = BLOCKS[_key].target.split(".")[1], (f"part1.{_key}.numerics",)
    registry.check(_skip, "resnet", _component, slides.GRADIENT_FLOW, _uses)(functools.partial(skip_path, _key))
    registry.check(_placement, "resnet", _component, slides.SE_IN_RESNET, _uses, (f"{_key}.attention_after_addition",))(
        functools.partial(attention_placement, _key))


def _resnet_with(attention: str) -> Case:
    factory = Factory(f"attention.{attention}", {"reduction": 8})
    return Case("resnet.resnet18", (), {"num_classes": 5, "stem": "cifar", "attention": factory}, (2, 3, 16, 16))


def _resnet_uses(attention: str) -> tuple[str, ...]:
    """What an attention ResNet-18 is made of: BasicBlocks with attention, the module, the builder."""
    return ("part1.basic_block.numerics", "part1.basic_block.attention_placement", f"part2.{attention}.numerics",
            "part1.resnet.numerics")


@registry.check("part2.se_resnet.numerics", "resnet", "SE-ResNet-18", slides.SE_IN_RESNET,
                uses=_resnet_uses("se"), seconds=0.7)
def se_resnet_numerics(session: Session, rule) -> Outcome:
    """resnet18(attention=SEModule) from your files equals the reference network."""
    return check_numerics(session, _resnet_with("SEModule"), rule.tolerance)


@registry.check("part2.cbam_resnet.numerics", "resnet", "CBAM-ResNet-18", slides.SE_IN_RESNET,
                uses=_resnet_uses("cbam"), seconds=0.7)
def cbam_resnet_numerics(session: Session, rule) -> Outcome:
    """resnet18(attention=CBAM) from your files equals the reference network."""
    return check_numerics(session, _resnet_with("CBAM"), rule.tolerance)


@registry.check("part3.vit.gradients", "vit", "VisionTransformer", VIT_SLIDE, uses=VIT_USES + ("part3.vit.numerics",))
def vit_gradients(session: Session, rule) -> Outcome:
    return check_gradients(session, VIT_NUMERIC[0], rule.tolerance)


@dataclass(frozen=True)
class Workload:
    """A forward and backward pass at a moderate size, timed and measured for the efficiency checks."""

    target: str
    """The component, ``module.Class``; it keeps its input's shape."""
    args: tuple
    input_shape: tuple[int, ...]
    reference_kwargs: dict = field(default_factory=dict)
    """Arguments of the reference's forward: the explicit attention (``return_attention``) is the
    yardstick, as the slides write it, not the fused kernel, so that honest explicit code is not
    held to a fused kernel's cost."""


WORKLOADS = {
    "bottleneck": Workload("resnet.BottleneckBlock", (256, 64), (8, 256, 28, 28)),
    "mha": Workload("vit.MultiHeadAttention", (192, 3), (8, 197, 192), {"return_attention": True}),
    "encoder_block": Workload("vit.TransformerEncoderBlock", (192, 3), (8, 197, 192), {"return_attention": True}),
}
"""ResNet-50's second stage and ViT-Tiny's tokens (B=8, N=197, D=192, 3 heads)."""
TIME_LIMIT = 3.0
MEMORY_LIMIT = 2.0
"""A forward and backward pass may take this many times the reference's time and peak memory."""
TIMED_RUNS = 3
CAUSES = {"bottleneck": N_("a Python loop over images or channels, tensors copied or kept that need not be"),
          "mha": N_("a Python loop over tokens (or over heads with many heads), an N x N mask built on every call, "
                    "scores computed twice"),
          "encoder_block": N_("its {attention} (see {check}), or an MLP or norm computed per token")}
"""The usual causes of a slow or greedy component, translated where shown; ``CAUSE_VALUES`` fills
their placeholders."""
CAUSE_VALUES = {"attention": "MultiHeadAttention", "check": "part3.mha.efficiency"}


@dataclass
class Side:
    """One side of the comparison: the session of its worker, and its memory meter."""

    session: Session
    memory: meter.PeakMemory
    kwargs: dict
    seconds: list[float] = field(default_factory=list)
    peak: int = 0


COST_ENVIRONMENT = {"MALLOC_MMAP_THRESHOLD_": "65536"}
"""For the workers that measure: glibc maps every block of 64 kB or more on its own and returns it
when freed (a fixed threshold, where by default it grows with the blocks freed), so that the resident
memory of one workload's tensors is not kept for the next workload to reuse unseen. (The submission's
own worker, which ran other checks before, is not used: there memory kept from them hid a third of a
greedy attention's peak.)"""
REFERENCE_REUSES = 50
"""Gradings one reference worker measures before it is replaced, well inside the sandbox's CPU time
limit (each takes a few CPU seconds of it)."""
@dataclass
class SharedWorker:
    """The reference's measuring worker of this process, and the gradings it served."""

    worker: Worker
    served: int = 0
    """Gradings counted so far."""
    grading: object = None
    """The grading it serves now (the submission's worker stands for it)."""


_REFERENCE_WORKERS: dict[object, SharedWorker] = {}
"""Sandbox -> the reference's measuring worker: one per grading process, shared by every grading it
runs (the reference is the same for all; a batch saves a worker start each)."""


def _reference_cost_worker(sandbox, grading: object) -> Worker:
    """This process's reference worker for ``sandbox``, counting ``grading`` (any object that stands
    for one grading) once however many checks ask."""
    shared = _REFERENCE_WORKERS.get(sandbox)
    if shared is not None and shared.served >= REFERENCE_REUSES and shared.grading is not grading:
        shared.worker.close()
        shared = None
    if shared is None:
        worker = Worker(paths.SOLUTIONS, "cpu", sandbox, environment=COST_ENVIRONMENT)
        shared = _REFERENCE_WORKERS[sandbox] = SharedWorker(worker)
        multiprocessing.util.Finalize(worker, worker.close, exitpriority=10)  # also at a pool process's exit
    if shared.grading is not grading:
        shared.served, shared.grading = shared.served + 1, grading
    return shared.worker


def _cost_workers(student) -> dict[str, Worker]:
    """The measuring workers of a grading: one for the submission kept beside its worker ``student``
    (a notebook's checks in their own process: that process), and this process's for the reference."""
    workers = {"reference": _reference_cost_worker(getattr(student, "sandbox", None), student)}
    if hasattr(student, "companion"):
        workers["submission"] = student.companion("cost:submission", student.submission, "cpu", COST_ENVIRONMENT)
    return workers


def start_cost_workers(student) -> None:
    """Start the measuring workers at once (``CheckSpec.warm_up``): they load while other checks run."""
    for worker in _cost_workers(student).values():
        worker.start()


def _start_cost_workers(session: Session) -> tuple[object, Worker]:
    """The workers that measure the submission's and the reference's costs (``_cost_workers``), each
    running and answering."""
    student = session.worker
    workers = _cost_workers(student)
    errors: list[BaseException] = []

    def start(worker: Worker) -> None:
        try:  # a cheap request: the worker answers once it runs
            worker.request({"op": "free", "handle": ""}, timeout=max(1.0, session.deadline - time.monotonic()))
        except BaseException as error:  # noqa: BLE001 - told in the check's feedback below
            errors.append(error)

    threads = [threading.Thread(target=start, args=(worker,)) for worker in workers.values()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return workers.get("submission", student), workers["reference"]


def _cost_side(session: Session, worker, kwargs: dict, workload: Workload) -> Side:
    process = getattr(worker, "process", None)
    pid = meter.worker_pid(process.pid) if process is not None else None
    if pid is None and process is not None:
        raise RuntimeError(_("the worker's process could not be found to measure its memory"))
    side = Side(Session(worker, session.deadline - time.monotonic()), meter.PeakMemory(pid or meter.own_pid()), kwargs)
    description = side.session.build("cost", ref(workload.target), *workload.args)
    session.built.append(description)
    return side


def _timed_cost_run(side: Side, x: torch.Tensor, upstream: torch.Tensor) -> None:
    side.memory.reset()
    start = time.perf_counter()
    side.session.call(handle("cost"), {"x0": x}, args=[tensor("x0")], kwargs=side.kwargs, model="cost",
                      mode="train", grad_inputs=("x0",), grad_params=True, upstream=[upstream])
    side.seconds.append(time.perf_counter() - start)
    if len(side.seconds) == 1:  # the first run: its peak is the request's own (see COST_ENVIRONMENT)
        side.peak = side.memory.peak()


def check_efficiency(session: Session, key: str) -> Outcome:
    """Forward and backward of the submission's component, against the reference's, each in a worker
    of its own started beside the other's (``_start_cost_workers``): time (the best of a few runs,
    taken in turns) and peak memory (of the first run, read from outside the worker)."""
    if not meter.available():
        return failed(_("the efficiency of your code can only be measured on Linux (it reads /proc)"))
    workload = WORKLOADS[key]
    student_worker, reference_worker = _start_cost_workers(session)
    reference = _cost_side(session, reference_worker, workload.reference_kwargs, workload)
    student = _cost_side(session, student_worker, {}, workload)
    generator = torch.Generator().manual_seed(17)
    x, upstream = (torch.randn(workload.input_shape, generator=generator) for _draw in range(2))
    for _run in range(1 + TIMED_RUNS):  # not ``_``: that name translates
        for side in (reference, student):
            _timed_cost_run(side, x, upstream)
    time_ratio = min(student.seconds[1:]) / min(reference.seconds[1:])  # the first run warms up
    memory_ratio = student.peak / max(1, reference.peak)
    label = _("{call} forward and backward on {shape}").format(
        call=f"{workload.target.split('.')[1]}{workload.args}", shape=workload.input_shape)
    if time_ratio <= TIME_LIMIT and memory_ratio <= MEMORY_LIMIT:
        return passed(_("{label}: within {time_limit}x the reference's time "
                        "and {memory_limit}x its peak memory").format(
            label=label, time_limit=f"{TIME_LIMIT:g}", memory_limit=f"{MEMORY_LIMIT:g}"))
    return failed(_("{label}: {time}x the reference's time (at most {time_limit}x) and {memory}x its peak memory "
                    "(at most {memory_limit}x); the usual causes: {causes}").format(
        label=label, time=f"{time_ratio:.1f}", time_limit=f"{TIME_LIMIT:g}", memory=f"{memory_ratio:.1f}",
        memory_limit=f"{MEMORY_LIMIT:g}", causes=_(CAUSES[key]).format(**CAUSE_VALUES)))


@registry.check("part1.bottleneck.efficiency", "resnet", "BottleneckBlock", slides.EFFICIENCY,
                warm_up=start_cost_workers, seconds=1.9)
def bottleneck_efficiency(session: Session, rule) -> Outcome:
    return check_efficiency(session, "bottleneck")


@registry.check("part3.mha.efficiency", "vit", "MultiHeadAttention",
                slides.EFFICIENCY, warm_up=start_cost_workers, seconds=0.5)
def mha_efficiency(session: Session, rule) -> Outcome:
    return check_efficiency(session, "mha")


@registry.check("part3.encoder_block.efficiency", "vit", "TransformerEncoderBlock", slides.EFFICIENCY,
                uses=("part3.mha.efficiency",), warm_up=start_cost_workers, seconds=0.8)
def encoder_block_efficiency(session: Session, rule) -> Outcome:
    return check_efficiency(session, "encoder_block")
