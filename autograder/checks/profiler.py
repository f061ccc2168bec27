"""Checks for profiler.py (Part 4), run on plain torch models the grader provides."""
from __future__ import annotations

import logging

import torch

from autograder.checks import golden, slides
from autograder.checks.common import Outcome, Provided, digits, failed, passed, reference_attr
from autograder.checks.registry import Registry
from autograder.checks.robustness import Misuse, check_errors
from autograder.engine.remote import Session
from autograder.i18n import N_, _
from autograder.runtime.values import handle, ref, tensor

registry = Registry()

SLIDE = slides.PROFILING
CNN = Provided(["Sequential", [
    ["Conv2d", [3, 16, 3], {"padding": 1}], ["BatchNorm2d", [16]], ["ReLU"],
    ["Conv2d", [16, 32, 3], {"stride": 2, "padding": 1, "bias": False}], ["ReLU"],
    ["AdaptiveAvgPool2d", [1]], ["Flatten"], ["Linear", [32, 10]],
]], seed=21)
MLP = Provided(["Sequential", [["Flatten"], ["Linear", [3 * 8 * 8, 64]], ["GELU"], ["Linear", [64, 10]]]], seed=22)
ATTENDING_CNN = Provided(["Sequential", [
    ["Conv2d", [3, 16, 4], {"stride": 4}], ["Flatten", [2]], ["Unflatten", [1, [1, 16]]],
    ["probe:TokenAttention"], ["Flatten", [1]], ["Linear", [256, 10]],
]], seed=25)
"""A patch convolution whose 16 channels attend to each other over the 16 patches, (B, 1, 16, 16):
attention's two matrix products are a third of its FLOPs (a counter that misses the fused
attention kernel comes short by exactly those)."""
WIDE_MLP = Provided(["Sequential", [
    ["Flatten"], ["Linear", [3 * 16 * 16, 512]], ["ReLU"], ["Linear", [512, 512]], ["ReLU"], ["Linear", [512, 10]],
]], seed=24)
"""The memory probe: its weights, their gradients and the SGD momentum dominate a training step's
peak (about 3 x 2.6 MB of 8 MB at batch 16), so honest ways of measuring agree within 2x (allocator
events, or summed sizes of weights, gradients, momentum and saved tensors: 1.16 x), while a
forward pass alone or the weights alone stay near a third."""
MEMORY_WINDOW = 2.0
"""measure_memory must lie within this factor of the reference's figure."""
DIGITS_CNN = Provided(["Sequential", [
    ["Conv2d", [1, 16, 3], {"padding": 1}], ["ReLU"], ["Conv2d", [16, 32, 3], {"stride": 2, "padding": 1}], ["ReLU"],
    ["AdaptiveAvgPool2d", [1]], ["Flatten"], ["Linear", [32, 10]],
]], seed=23)


def profiler_of(session: Session, model_name: str) -> str:
    name = f"prof_{model_name}"
    session.build(name, ref("profiler.ModelProfiler"), handle(model_name), "cpu")
    return name


def method(name: str, attr: str) -> dict:
    return handle(name, attr)


@registry.check("part4.profiler.flops", "profiler", "ModelProfiler.measure_flops",
                slides.section("4.2", "Perfilado Computacional", "análisis de FLOPs"), seconds=1.1)
def flops(session: Session, rule) -> Outcome:
    """FLOPs of a CNN, an MLP and a network with attention equal the exact counts."""
    probes = ((N_("CNN"), CNN, (3, 16, 16)), (N_("MLP"), MLP, (3, 8, 8)),
              (N_("network with attention"), ATTENDING_CNN, (3, 16, 16)))
    problems = []
    for label, provided, size in probes:
        provided.install(session, label)
        want = golden.reference(f"FLOPs of the {label} on {size}", lambda: reference_attr("profiler.ModelProfiler")(
            provided.build(), "cpu").measure_flops(size))
        got = session.call(method(profiler_of(session, label), "measure_flops"), args=[list(size)], mode=None).result
        if not isinstance(got, (int, float)) or got != want:
            hint = (" " + _("(did you count a multiply-add once?)")
                    if isinstance(got, (int, float)) and got * 2 == want else "")
            if provided is ATTENDING_CNN and not hint and isinstance(got, (int, float)) and got < want:
                hint = " " + _("(are attention's matrix products Q K^T and A V counted, also in the fused kernel?)")
            problems.append(_("measure_flops({size}) of the {model}: "
                              "expected {expected} FLOPs, got {got}{hint}").format(
                size=size, model=_(label), expected=f"{want:,}", got=repr(got), hint=hint))
    if problems:
        return Outcome((len(probes) - len(problems)) / len(probes), "\n".join(problems))
    return passed(_("FLOP counts are exact for a CNN, an MLP and a network with attention"))


def _own_latency_ms(model: torch.nn.Module, x: torch.Tensor) -> tuple[float, float]:
    """The grader's median forward time in ms for ``model(x)``, with one thread and with this process's count.

    The worker times with the grading's thread count (one unless asked otherwise). On a busy
    machine a multi-threaded forward can take 100 times as long as a single-threaded one, as
    OpenMP waits for descheduled threads; measuring both, before and after the worker's run,
    brackets it. The check judges plausibility only (within 20x), never speed.
    """
    # Imported only here, its logger quiet: importing it warns about CUDA on CPU-only machines, and a
    # notebook's test cell that writes to stderr earns no points in nbgrader.
    cpp_extension = logging.getLogger("torch.utils.cpp_extension")
    level = cpp_extension.level
    cpp_extension.setLevel(logging.ERROR)
    try:
        import torch.utils.benchmark
    finally:
        cpp_extension.setLevel(level)

    medians = []
    with torch.no_grad():
        for threads in sorted({1, torch.get_num_threads()}):
            timer = torch.utils.benchmark.Timer("model(x)", globals={"model": model, "x": x}, num_threads=threads)
            medians.append(timer.blocked_autorange(min_run_time=0.2).median * 1000)
    return min(medians), max(medians)


@registry.check("part4.profiler.latency", "profiler", "ModelProfiler.measure_latency", SLIDE, seconds=0.7)
def latency(session: Session, rule) -> Outcome:
    """A dict of mean_ms, median_ms, p95_ms: positive, ordered, in milliseconds."""
    CNN.install(session, "lat")
    x = torch.randn(8, 3, 96, 96)  # some 10 ms a forward: stalls on a busy machine stay small beside it
    model = CNN.build().eval()
    before = _own_latency_ms(model, x)
    got = session.call(method(profiler_of(session, "lat"), "measure_latency"), {"x": x},
                       args=[tensor("x")], kwargs={"num_runs": 10}, mode=None).result
    keys = {"mean_ms", "median_ms", "p95_ms"}
    if not isinstance(got, dict) or set(got) != keys:
        return failed(_("measure_latency should return a dict with keys {keys}, got {got}").format(
            keys=sorted(keys), got=repr(got))[:300])
    if not all(isinstance(v, (int, float)) and v > 0 for v in got.values()):
        return failed(_("measure_latency: latencies should be positive numbers, got {got}").format(got=got))
    if got["median_ms"] > got["p95_ms"] + 1e-9:
        return failed(_("measure_latency: the median should not exceed the 95th percentile: {got}").format(got=got))
    after = _own_latency_ms(model, x)
    low, high = min(before + after), max(before + after)
    if not low / 20 <= got["median_ms"] <= high * 20:
        own = (f"{low:.3g} ms" if high < 1.5 * low
               else _("{low} to {high} ms").format(low=f"{low:.3g}", high=f"{high:.3g}"))
        return failed(_("measure_latency: median {median} ms is far from the grader's own {own} for the same model: "
                        "are the times in milliseconds, one forward pass each?").format(
            median=f"{got['median_ms']:.4g}", own=own))
    return passed(_("the latency dict is well formed, and its median is plausible next to the grader's own timing"))


@registry.check("part4.profiler.memory", "profiler", "ModelProfiler.measure_memory", SLIDE)
def memory(session: Session, rule) -> Outcome:
    """Peak training-step bytes: at least weights+gradients, and within 2x of the reference's figure."""
    WIDE_MLP.install(session, "mem")
    got = session.call(method(profiler_of(session, "mem"), "measure_memory"), args=[16, [3, 16, 16]], mode=None).result
    model = WIDE_MLP.build()
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    want = golden.reference("peak bytes of a training step of the MLP, batch 16 on (3, 16, 16)",
                            lambda: reference_attr("profiler.ModelProfiler")(model, "cpu").measure_memory(
                                16, (3, 16, 16)))
    if not isinstance(got, (int, float)) or got <= 0:
        return failed(_("measure_memory should return a positive number of bytes, got {got}").format(got=repr(got)))
    if got < 2 * weights:
        return failed(_("measure_memory: {got} bytes is less than the weights and their gradients "
                        "({needed} bytes)").format(
            got=f"{got:,.0f}", needed=f"{2 * weights:,}"))
    if not want / MEMORY_WINDOW <= got <= want * MEMORY_WINDOW:
        return failed(_("measure_memory: {got} bytes is far from the reference's {reference} bytes for one training "
                        "step of an MLP whose weights, gradients and SGD momentum take {weights} bytes (bytes, not MB? "
                        "the backward pass and the optimizer step included?)").format(
            got=f"{got:,.0f}", reference=f"{want:,}", weights=f"{3 * weights:,}"))
    return passed(_("peak memory {got} bytes is plausible (reference {reference} bytes)").format(
        got=f"{got:,.0f}", reference=f"{want:,}"))


def digits_batches(count: int, batch: int = 64):
    """Batches of scikit-learn's digits (8x8 grey images, 10 classes), scaled to [0, 1]."""
    images, labels, order = digits()
    order = order[: count * batch]
    return [(images[order[i:i + batch]], labels[order[i:i + batch]]) for i in range(0, count * batch, batch)]


@registry.check("part4.profiler.training", "profiler", "ModelProfiler.benchmark_training", SLIDE, seconds=0.2)
def training(session: Session, rule) -> Outcome:
    """benchmark_training reports one entry per epoch, with a falling loss."""
    DIGITS_CNN.install(session, "train")
    batches = digits_batches(16)
    tensors, loader = {}, []
    for i, (x, y) in enumerate(batches):
        tensors[f"x{i}"], tensors[f"y{i}"] = x, y
        loader.append([tensor(f"x{i}"), tensor(f"y{i}")])
    got = session.call(method(profiler_of(session, "train"), "benchmark_training"), tensors, args=[loader],
                       kwargs={"epochs": 4}, mode=None).result
    epochs = got.get("epochs") if isinstance(got, dict) else None
    if not isinstance(epochs, list) or len(epochs) != 4:
        entries = _("{count} entries").format(count=4)
        return failed(_("benchmark_training(loader, epochs=4) should return {expected}, got {got}").format(
            expected="{'epochs': [" + entries + "]}", got=str(got)[:200]))
    try:
        losses = [float(e["loss"]) for e in epochs]
        accuracies = [float(e["accuracy"]) for e in epochs]
        seconds = [float(e["seconds"]) for e in epochs]
    except (KeyError, TypeError, ValueError):
        # TRANSLATORS: loss, accuracy and seconds are the entry's keys: keep them as they are.
        return failed(_("benchmark_training: each epoch entry needs loss, accuracy and seconds; got {got}").format(
            got=str(epochs[0])[:200]))
    if not all(0 <= a <= 1 for a in accuracies) or not all(s > 0 for s in seconds):
        # TRANSLATORS: accuracy and seconds are the entries' keys: keep them as they are.
        return failed(_("benchmark_training: accuracy should lie in [0, 1] and seconds be positive: {epochs}").format(
            epochs=epochs))
    if not losses[-1] < losses[0]:
        return failed(_("benchmark_training: the training loss should fall over 4 epochs on digits; "
                        "got {losses}").format(
            losses=losses))
    return passed(_("4 epochs reported; loss fell from {first} to {last}").format(
        first=f"{losses[0]:.3f}", last=f"{losses[-1]:.3f}"))


def _latency(num_runs: int, batch: int):
    def attempt(session: Session):
        x = torch.randn(batch, 3, 16, 16, generator=torch.Generator().manual_seed(5))
        return session.call(method(profiler_of(session, "edge"), "measure_latency"), {"x": x}, args=[tensor("x")],
                            kwargs={"num_runs": num_runs}, mode=None).result
    return attempt


def _empty_benchmark(session: Session):
    return session.call(method(profiler_of(session, "edge"), "benchmark_training"), args=[[]], kwargs={"epochs": 1},
                        mode=None)


def one_image_latency(session: Session) -> str:
    """measure_latency on a batch of one image, timed once."""
    got = _latency(1, 1)(session)
    if isinstance(got, dict) and {"mean_ms", "median_ms", "p95_ms"} <= set(got):
        return ""
    return _("measure_latency(one image, num_runs=1) should return the dict of latencies, got {got}").format(
        got=str(got)[:120])


def non_square_flops(session: Session) -> str:
    """measure_flops of a non-square image, relative to a square one as the reference's (a ratio, so
    that a miscount costs points in the FLOPs check only)."""
    def ratio() -> float:
        profiler = reference_attr("profiler.ModelProfiler")(CNN.build(), "cpu")
        return profiler.measure_flops((3, 12, 20)) / profiler.measure_flops((3, 16, 16))

    want = golden.reference("FLOPs of the CNN on (3, 12, 20) over those on (3, 16, 16)", ratio)
    name = profiler_of(session, "edge")
    wide, square = (session.call(method(name, "measure_flops"), args=[size], mode=None).result
                    for size in ([3, 12, 20], [3, 16, 16]))
    if isinstance(wide, (int, float)) and isinstance(square, (int, float)) and square > 0 and \
            abs(wide / square - want) <= 1e-9 * want:
        return ""
    return _("measure_flops((3, 12, 20)) should be {ratio} times measure_flops((3, 16, 16)) for the CNN, "
             "got {wide} and {square}").format(ratio=f"{want:.4f}", wide=repr(wide), square=repr(square))


@registry.check("part4.profiler.errors", "profiler", "ModelProfiler (arguments and edge cases)",
                SLIDE + "; " + slides.ERRORS)
def profiler_errors(session: Session, rule) -> Outcome:
    """num_runs below 1 and an empty dataloader raise a ValueError naming them; one image and a
    non-square image work."""
    CNN.install(session, "edge")
    misuses = [Misuse("measure_latency(x, num_runs=0)", _latency(0, 2), ("num_runs",)),
               Misuse(_("benchmark_training(an empty dataloader)"), _empty_benchmark, ("dataloader", "batch", "empty"))]
    return check_errors(session, "ModelProfiler", misuses, [], (one_image_latency, non_square_flops))
