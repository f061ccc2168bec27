"""The worker: imports one submission and answers the grader's requests. Runs untrusted code.

    python -m autograder.runtime.worker SUBMISSION_DIR [DEVICE [THREADS [STALLED_JSON]]]

Requests arrive on stdin and replies leave on the original stdout, framed by ``protocol``;
the submission's own prints go to stderr. This file never imports the reference solutions.

Request ops (registered in ``OPS``):
- ``build``: call a target with arguments and keep the result under a handle; with ``init`` false,
  the random initial weights are zeros (``zero_initialised``).
- ``call``: call a target (a handle, a handle's method, a submission attribute) on arguments,
  optionally in eval/train mode and float64, tracing the modules a handle runs, and returning the
  gradients of ``sum(output * upstream)`` with respect to the inputs and parameters.
- ``load``: load a state dict (tensors in the payload) into a handle's module.
- ``free``: forget a handle.
- ``train``: train a kept model for a number of steps, continuing its run (the training smoke test).

Values in requests and replies are JSON, with the tagged objects of ``autograder.runtime.values``.

A request may carry ``watchdog_s``: past that many seconds the worker writes every thread's stack to
its output (``faulthandler``, which also does so on a fatal signal), so the grader can name the
function that never returned (``autograder.engine.stalls``). STALLED_JSON maps such functions
(``module.Class.method``) to a message: each is replaced by one that raises it at once.
"""
from __future__ import annotations

import contextlib
import faulthandler
import functools
import importlib.abc
import importlib.util
import json
import os
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import nn

from autograder.runtime import values
from autograder.runtime.jail import TASK_LIMIT_VARIABLE, tasks
from autograder.runtime.protocol import ProtocolError, read_message, write_message

LAB_MODULES = ("resnet", "attention", "vit", "gradcam", "profiler")
KIT_ROOT = Path(__file__).resolve().parent.parent
"""The kit's root folder (holding solutions/), kept off the submission's import path."""
HIDDEN_PACKAGES = ("solutions", "skeletons")
"""Kit packages a submission may not import, even where the kit is pip-installed."""


class RequestError(Exception):
    """A request the worker cannot carry out for reasons other than the submission's code."""


class StalledEarlier(Exception):
    """Raised by a submission function that did not return earlier in this grading (it is not run again)."""


class CrashedEarlier(Exception):
    """Raised by a submission function that killed the worker earlier in this grading (it is not run again)."""


class TooManyTasks(Exception):
    """The submission started more processes and threads than the sandbox allows; the grader then
    stops this worker."""


class WorkerState:
    """The submission's modules, the kept objects, and the device."""

    def __init__(self, submission: Path, device: str, task_limit: int = 0,
                 stalled: dict[str, dict] | None = None) -> None:
        self.submission = submission
        self.stalled = stalled or {}
        """``module.Class.method`` -> {"message", "crashed"}: functions replaced by ones that raise at once."""
        self.device = torch.device(device)
        self.task_limit = task_limit
        """Processes and threads the submission may run (0: not counted here)."""
        self.handles: dict[str, Any] = {}
        self.modules: dict[str, Any] = {}
        self.provided: dict[int, nn.Module] = {}
        """The modules the grader passed in as arguments, by id (kept alive so ids stay unique)."""
        self.training: dict[str, Training] = {}
        """Training runs in progress, by the handle of their model."""

    def module(self, name: str):
        """Import ``name``.py from the submission folder (once)."""
        if name not in self.modules:
            if name not in LAB_MODULES:
                raise RequestError(f"{name!r} is not a lab module")
            path = self.submission / f"{name}.py"
            if not path.is_file():
                raise RequestError(f"{name}.py not found in the submission")
            existing = sys.modules.get(name)  # already imported by another submission file
            if existing is not None and Path(getattr(existing, "__file__", "") or "").resolve() == path.resolve():
                disable_stalled(existing, name, self.stalled)
                self.modules[name] = existing
                return existing
            at_import = self.stalled.get(f"{name}.<module>")
            if at_import:
                raise _earlier(at_import)
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[name]
                raise
            disable_stalled(module, name, self.stalled)
            self.modules[name] = module
        return self.modules[name]

    def ref(self, dotted: str):
        module_name, _, attr = dotted.partition(".")
        value = self.module(module_name)
        for part in attr.split(".") if attr else ():
            if not hasattr(value, part):
                source = getattr(self.module(module_name), "__lab_source__", None)  # set for notebooks
                raise RequestError(f"{str(source)[:100] if source else module_name + '.py'} has no {attr}")
            value = getattr(value, part)
        return value


def _earlier(stall: dict) -> Exception:
    kind = CrashedEarlier if stall.get("crashed") else StalledEarlier
    return kind(str(stall.get("message", "")))


def disable_stalled(module: Any, name: str, stalled: dict[str, dict]) -> None:
    """Replace each stalled function of ``module`` (``name.Class.method``) by one raising at once.
    A function defined inside another is reached through the outermost one the module exposes."""
    for qualified, stall in stalled.items():
        owner_name, _, path = qualified.partition(".")
        if owner_name != name or not path or path == "<module>":
            continue
        owner, parts = module, path.split(".")
        while len(parts) > 1 and hasattr(getattr(owner, parts[0], None), parts[1]):
            owner, parts = getattr(owner, parts[0]), parts[1:]
        if not callable(getattr(owner, parts[0], None)):
            continue

        def refuse(*args, _error=stall, **kwargs):
            raise _earlier(_error)

        try:
            setattr(owner, parts[0], refuse)
        except (AttributeError, TypeError):
            pass


def _kept(state: WorkerState, name: Any) -> Any:
    """The object kept under handle ``name``; a RequestError when there is none."""
    if not isinstance(name, str) or name not in state.handles:
        raise RequestError(f"unknown handle {name!r}")
    return state.handles[name]


def _attribute(obj: Any, dotted: str | None) -> Any:
    for part in dotted.split(".") if dotted else ():
        obj = (obj[int(part)] if part.isdigit() and isinstance(obj, (nn.Sequential, nn.ModuleList, list, tuple))
               else getattr(obj, part))
    return obj


def _build_nn(spec: list, state: WorkerState, tensors: dict) -> nn.Module:
    try:
        return values.build_nn(spec, lambda given: decode(given, state, tensors), state.ref)
    except values.SpecError as error:
        raise RequestError(str(error)) from None


def _provided(module: nn.Module, weights: str | None, state: WorkerState, tensors: dict) -> nn.Module:
    """A torch.nn module the grader passes in (e.g. a downsample), with its weights if given."""
    if weights:
        prefix = weights + "."
        try:
            module.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
        except RuntimeError as error:  # the grader sent weights that do not fit its own spec
            raise RequestError(f"weights {weights!r} do not fit {type(module).__name__}: {error}") from None
    state.provided[id(module)] = module
    return module.to(state.device)


def decode(value: Any, state: WorkerState, tensors: dict[str, torch.Tensor]) -> Any:
    """Turn a request value into Python objects (the tags of ``autograder.runtime.values``)."""
    if isinstance(value, list):
        return [decode(item, state, tensors) for item in value]
    if not isinstance(value, dict):
        return value
    tag = values.tag(value)
    if tag is None:
        return {k: decode(v, state, tensors) for k, v in value.items()}
    if tag == values.TENSOR:
        if value[tag] not in tensors:
            raise RequestError(f"no tensor {value[tag]!r} in the request's payload")
        return tensors[value[tag]].to(state.device)
    if tag == values.HANDLE:
        return _attribute(_kept(state, value[tag]), value.get("attr"))
    if tag == values.REF:
        return state.ref(value[tag])
    if tag == values.PARTIAL:
        spec = value[tag]
        return functools.partial(state.ref(spec["ref"]), **decode(spec.get("kwargs", {}), state, tensors))
    if tag == values.NN:
        return _provided(_build_nn(value[tag], state, tensors), value.get("weights"), state, tensors)
    if tag == values.NN_FACTORY:
        spec = value[tag]
        return lambda channels: _provided(_build_nn(spec, state, tensors), None, state, tensors)
    if tag == values.TUPLE:
        return tuple(decode(value[tag], state, tensors))
    raise RequestError(f"unknown value tag {tag!r}")


def encode(value: Any, out: dict[str, torch.Tensor], prefix: str = "out") -> Any:
    """Turn a result into JSON, moving tensors into ``out`` (name -> tensor)."""
    if isinstance(value, torch.Tensor):
        name = f"{prefix}.{len(out)}"
        out[name] = value.detach()
        return values.tensor(name)
    if isinstance(value, (list, tuple)):
        return [encode(item, out, prefix) for item in value]
    if isinstance(value, dict):
        return {str(k): encode(v, out, prefix) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, torch.Size):
        return list(value)
    try:
        return float(value) if not isinstance(value, nn.Module) else values.opaque(value)
    except (TypeError, ValueError):
        return values.opaque(value)


def describe(obj: Any, provided: dict[int, nn.Module]) -> dict:
    """Parameters, buffers, submodules (and which were passed in) of a module, or its type."""
    info = {"type": type(obj).__name__}
    if isinstance(obj, nn.Module):
        info["provided"] = [n for n, m in obj.named_modules() if n and id(m) in provided]
        info["parameters"] = [[n, list(p.shape), p.requires_grad] for n, p in obj.named_parameters()]
        info["buffers"] = [[n, list(b.shape)] for n, b in obj.named_buffers()]
        info["modules"] = [[n or type(obj).__name__, cls.__module__ + "." + cls.__qualname__]
                           for n, m in obj.named_modules() for cls in type(m).__mro__
                           if cls not in (nn.Module, object)]
    return info


def op_build(state: WorkerState, request: dict, tensors: dict) -> tuple[dict, dict]:
    # Seeded as every call is: torch seeds each process at random, and a module's initial weights
    # (the training smoke tests start from them) must not vary from one grading to the next.
    torch.manual_seed(request.get("seed", 0))
    target = decode(request["target"], state, tensors)
    handle = request.get("handle")
    if not isinstance(handle, str):
        raise RequestError("a build request needs a handle (a string) to keep the result under")
    args, kwargs = decode(request.get("args", []), state, tensors), decode(request.get("kwargs", {}), state, tensors)
    with contextlib.nullcontext() if request.get("init", True) else zero_initialised():
        obj = target(*args, **kwargs)
    if isinstance(obj, nn.Module):
        obj = obj.to(state.device)
    state.handles[handle] = obj
    return describe(obj, state.provided), {}


RANDOM_FILLS = ("uniform_", "normal_")
"""The tensor methods torch.nn.init draws initial weights with."""


@contextlib.contextmanager
def zero_initialised() -> Iterator[None]:
    """Within: tensors drawn by ``RANDOM_FILLS`` are filled with zeros instead, for a build whose
    weights are loaded afterwards or only counted. Drawing a ResNet-101's or a ViT-B's weights takes
    about a second; filling them with zeros takes a few milliseconds."""
    saved = {name: torch.Tensor.__dict__.get(name) for name in RANDOM_FILLS}
    for name in RANDOM_FILLS:
        setattr(torch.Tensor, name, _zero_fill)
    try:
        yield
    finally:
        for name, method in saved.items():
            if method is None:
                delattr(torch.Tensor, name)
            else:
                setattr(torch.Tensor, name, method)


def _zero_fill(tensor: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    return tensor.zero_()


def op_load(state: WorkerState, request: dict, tensors: dict) -> tuple[dict, dict]:
    module = _kept(state, request.get("handle"))
    if not isinstance(module, nn.Module):
        raise RequestError(f"handle {request.get('handle')!r} is a {type(module).__name__}, not a torch module")
    tensors = {k: v.to(state.device) for k, v in tensors.items()}
    saved = module.state_dict().keys()
    buffers = dict(module.named_buffers())
    unsaved = {k: v for k, v in tensors.items() if k in buffers and k not in saved}  # registered with persistent=False
    result = module.load_state_dict({k: v for k, v in tensors.items() if k not in unsaved},
                                    strict=request.get("strict", True))
    with torch.no_grad():
        for name, value in unsaved.items():
            buffers[name].copy_(value)
    return {"missing": list(result.missing_keys), "unexpected": list(result.unexpected_keys)}, {}


def op_free(state: WorkerState, request: dict, tensors: dict) -> tuple[dict, dict]:
    state.handles.pop(request.get("handle"), None)
    return {}, {}


def fingerprint(output: Any) -> list[float]:
    """The sum and the sum of squares (float64) of a module's output, or of its first tensor: two
    numbers that tell apart the outputs of layers fed different tensors ([] for no tensor)."""
    while isinstance(output, (list, tuple)) and output:
        output = output[0]
    if not isinstance(output, torch.Tensor) or not output.is_floating_point():
        return []
    values = output.detach().double()
    return [float(values.sum()), float(values.pow(2).sum())]


class Tracer:
    """Records, in execution order, every submodule call of a module: name, type, own parameters,
    output shape, the address of its input tensor (layers fed the same tensor share it) and the
    output's ``fingerprint``."""

    def __init__(self, module: nn.Module) -> None:
        self.calls: list[dict] = []
        self._handles = [
            sub.register_forward_hook(functools.partial(self._record, name))
            for name, sub in module.named_modules() if name
        ]

    def _record(self, name: str, module: nn.Module, inputs, output) -> None:
        shape = list(output.shape) if isinstance(output, torch.Tensor) else None
        params = [[n, list(p.shape)] for n, p in module.named_parameters(recurse=False)]
        first = next((t for t in inputs if isinstance(t, torch.Tensor)), None)
        self.calls.append({"name": name, "type": type(module).__module__ + "." + type(module).__qualname__,
                           "params": params, "output_shape": shape,
                           "input_ptr": first.data_ptr() if first is not None else 0,
                           "output_print": fingerprint(output)})

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


def _prepare_model(state: WorkerState, request: dict) -> nn.Module | None:
    if not request.get("model"):
        return None
    model = _kept(state, request["model"])
    if not isinstance(model, nn.Module):
        raise RequestError(f"handle {request['model']!r} is a {type(model).__name__}, not a torch module")
    if request.get("mode") in ("eval", "train"):
        model.train(request["mode"] == "train")
    model.to(torch.float64 if request.get("dtype") == "float64" else torch.float32)
    return model


def op_call(state: WorkerState, request: dict, tensors: dict) -> tuple[dict, dict]:
    torch.manual_seed(request.get("seed", 0))
    model = _prepare_model(state, request)
    if request.get("dtype") == "float64":
        tensors = {k: v.double() if v.is_floating_point() else v for k, v in tensors.items()}
    grad_inputs = request.get("grad_inputs", [])
    tensors = {k: v.to(state.device) for k, v in tensors.items()}
    for name in grad_inputs:
        if name not in tensors or not tensors[name].is_floating_point():
            raise RequestError(f"grad_inputs: no floating-point tensor {name!r} in the request's payload")
        tensors[name].requires_grad_(True)
    target = decode(request["target"], state, tensors)
    args = decode(request.get("args", []), state, tensors)
    kwargs = decode(request.get("kwargs", {}), state, tensors)
    tracer = Tracer(model) if request.get("trace") and model is not None else None
    want_grad = bool(grad_inputs or request.get("grad_params"))
    try:
        with torch.set_grad_enabled(want_grad or torch.is_grad_enabled()):
            result = target(*args, **kwargs)
    finally:
        if tracer is not None:
            tracer.remove()
    out: dict[str, torch.Tensor] = {}
    reply: dict[str, Any] = {"result": encode(result, out)}
    if tracer is not None:
        reply["trace"] = tracer.calls
    if want_grad:
        reply["grads"] = _gradients(result, tensors, grad_inputs, model if request.get("grad_params") else None, out)
    return reply, out


def _gradients(result, tensors, grad_inputs, model, out) -> dict:
    """Gradients of sum(output_i * upstream_i) with respect to the inputs ``grad_inputs`` (into ``out``),
    and the names of the inputs and of ``model``'s parameters that no gradient reaches (the grader
    needs no parameter's gradient itself: ``missing`` is all it reads of them)."""
    outputs = values.flat_tensors(result)
    total = sum((o * tensors[f"upstream.{i}"]).sum() for i, o in enumerate(outputs) if f"upstream.{i}" in tensors)
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad] if model is not None else []
    wrt = [tensors[name] for name in grad_inputs] + [p for _, p in params]
    if not wrt:
        grads = []
    elif not isinstance(total, torch.Tensor) or not total.requires_grad:
        grads = [None] * len(wrt)
    else:
        grads = torch.autograd.grad(total, wrt, allow_unused=True)
    names = [f"grad.input.{name}" for name in grad_inputs] + [f"grad.param.{n}" for n, _ in params]
    missing = []
    for name, grad in zip(names, grads):
        if grad is None:
            missing.append(name)
        elif name.startswith("grad.input."):
            out[name] = grad
    return {"missing": missing}


@dataclass
class Training:
    """A kept model's training run, carried from one ``train`` request to the next."""

    images: torch.Tensor
    """Training images (N, C, H, W) on the worker's device."""
    labels: torch.Tensor
    """Their labels (N,)."""
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    """Draws the batches: the same seed gives the same batches, however the run is split."""
    batch_size: int


def op_train(state: WorkerState, request: dict, tensors: dict) -> tuple[dict, dict]:
    """Train a kept model with Adam and cross-entropy for ``steps`` more steps.

    The first request for a model (or one with ``start`` true) carries the payload's ``images``
    and ``labels`` and ``batch_size``, ``lr``, ``seed``; later ones continue that run with the same
    optimizer and batch order, so a run split into several requests takes the same steps as one.
    Reply: the loss of each step and the CPU seconds the steps took in this process.
    """
    name = request.get("model")
    model = state.handles.get(name)
    if not isinstance(model, nn.Module):
        raise RequestError(f"train needs a kept model, got {name!r}")
    if request.get("start") or name not in state.training:
        if "images" not in tensors or "labels" not in tensors:
            raise RequestError("the first train request needs payload tensors 'images' and 'labels'")
        seed = int(request.get("seed", 0))
        torch.manual_seed(seed)
        model.float()
        state.training[name] = Training(tensors["images"].to(state.device), tensors["labels"].to(state.device),
                                        torch.optim.Adam(model.parameters(), lr=float(request.get("lr", 1e-3))),
                                        torch.Generator().manual_seed(seed), int(request.get("batch_size", 64)))
    run = state.training[name]
    model.float().train()
    losses: list[float] = []
    start = time.process_time()
    for _ in range(int(request["steps"])):
        batch = torch.randint(0, run.labels.shape[0], (run.batch_size,), generator=run.generator).to(state.device)
        loss = nn.functional.cross_entropy(model(run.images[batch]), run.labels[batch])
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()
        losses.append(float(loss.detach()))
    return {"losses": losses, "cpu_seconds": time.process_time() - start}, {}


OPS: dict[str, Callable[[WorkerState, dict, dict], tuple[dict, dict]]] = {
    "train": op_train,
    "build": op_build,
    "call": op_call,
    "load": op_load,
    "free": op_free,
}


def student_location(error: BaseException, submission: Path) -> str:
    """'file.py:LINE in FUNC: code' of the innermost frame inside the submission, if any."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if Path(f.filename).parent == submission]
    if not frames:
        return ""
    frame = frames[-1]
    return f"{Path(frame.filename).name}:{frame.lineno} in {frame.name}: {(frame.line or '').strip()}"[:300]


def _text(error: BaseException) -> str:
    """``str(error)``, even for an exception whose ``__str__`` itself raises."""
    try:
        return str(error)
    except BaseException:  # noqa: BLE001 - a student's exception class may be broken in any way
        return "(the exception's message could not be shown)"


def answer(state: WorkerState, request: dict, tensors: dict) -> tuple[dict, dict]:
    """The reply (header, tensors) to one request; whatever the submission raises becomes a reply
    with ``ok`` false, the error and where in the submission it was raised."""
    try:
        exact_float32()
        handler = OPS.get(request.get("op"))
        if handler is None:
            raise RequestError(f"unknown op {request.get('op')!r}")
        reply, out = handler(state, request, tensors)
        check_tasks(state.task_limit)
        return {"ok": True, **reply}, out
    except BaseException as error:  # noqa: BLE001 - the submission may raise anything, even SystemExit
        if isinstance(error, KeyboardInterrupt):
            raise
        kind = "request" if isinstance(error, RequestError) else "submission"
        text = _text(error)
        message = (text if kind == "request" else type(error).__name__ + (f": {text}" if text else ""))[:2000]
        return {"ok": False, "kind": kind, "error": message, "stop": isinstance(error, TooManyTasks),
                "where": student_location(error, state.submission),
                "classes": [cls.__name__ for cls in type(error).__mro__]}, {}


def serve(state: WorkerState, inbox, outbox) -> None:
    while True:
        try:
            request, tensors = read_message(inbox)
        except ProtocolError:
            return
        watchdog = request.get("watchdog_s")
        if isinstance(watchdog, (int, float)) and watchdog > 0:
            faulthandler.dump_traceback_later(float(watchdog), exit=False, file=sys.stderr)
        try:
            reply, out = answer(state, request, tensors)
        finally:
            faulthandler.cancel_dump_traceback_later()
        write_message(outbox, reply, out)


class _HiddenPackages(importlib.abc.MetaPathFinder):
    """Refuses imports of the kit's reference packages (found first, before any other finder)."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDDEN_PACKAGES:
            raise ModuleNotFoundError(f"No module named {name!r} (the kit's packages are not open to submissions)",
                                      name=name)
        return None


def _hide_kit() -> None:
    """Make ``import solutions`` fail in the submission: the kit's root leaves the import path, and
    a finder refuses the kit's packages wherever they are installed.

    The grader puts the root on PYTHONPATH only to start this module, which has imported all it needs
    by now. (A determined student can still read files; keeping solutions/ off the grading machine's
    disk, or running the worker as a user that cannot read it, is the sandbox's job.)
    """
    root = KIT_ROOT.resolve()
    sys.path[:] = [p for p in sys.path if not p or Path(p).resolve() != root]
    os.environ.pop("PYTHONPATH", None)
    for name in [n for n in sys.modules if n.split(".")[0] in HIDDEN_PACKAGES]:
        del sys.modules[name]
    sys.meta_path.insert(0, _HiddenPackages())


def check_tasks(limit: int) -> None:
    """Raise TooManyTasks when this PID namespace holds more than ``limit`` tasks besides its init (0: no limit).

    The sandbox's init counts them too, but only every 50 ms: counting here, before each reply,
    charges the request that started them, whatever the timing.
    """
    if limit and tasks() > limit + 1:
        raise TooManyTasks(f"your code ran more than {limit} processes and threads (the sandbox's limit)")


def exact_float32() -> None:
    """No TF32 on CUDA: numerics are compared with the reference's float32 on the CPU.

    Called before every request, so a submission that turns TF32 on affects only its own request.
    """
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def main(argv: list[str]) -> None:
    submission = Path(argv[1]).resolve()
    device = argv[2] if len(argv) > 2 else "cpu"
    torch.set_num_threads(int(argv[3]) if len(argv) > 3 else 1)
    # Keep the protocol's pipes private: the submission's prints and input() must not touch them.
    inbox = os.fdopen(os.dup(0), "rb")
    outbox = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    task_limit = int(os.environ.pop(TASK_LIMIT_VARIABLE, "0") or 0)
    stalled = json.loads(argv[4]) if len(argv) > 4 else {}
    faulthandler.enable(file=sys.stderr)  # a fatal signal writes the stack, as the watchdog does
    _hide_kit()
    sys.path.insert(0, str(submission))
    serve(WorkerState(submission, device, task_limit, stalled), inbox, outbox)


if __name__ == "__main__":
    main(sys.argv)
