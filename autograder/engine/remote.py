"""Typed helpers over the worker protocol, used by the checks (grader side)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Optional

import torch

from autograder.engine.client import SubmissionError, Worker, WorkerTimeout
from autograder.i18n import _
from autograder.rubric import TrainingSettings
from autograder.runtime import values
from autograder.runtime.values import handle


@dataclass
class Description:
    """What the worker reports about a built object."""

    type: str
    """Class name."""
    parameters: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    """(name, shape) of every parameter, in registration order."""
    trainable: int = 0
    """Number of trainable parameter elements."""
    buffers: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    """(name, shape) of every buffer."""
    modules: list[tuple[str, str]] = field(default_factory=list)
    """(name, fully qualified class) for the class of every submodule and each of its base classes
    (torch.nn.Module aside); the built module itself is named by its class name."""
    provided: list[str] = field(default_factory=list)
    """Names of the submodules the grader passed in (e.g. a downsample)."""


@dataclass
class Forward:
    """One call's results."""

    outputs: list[torch.Tensor]
    """Tensor outputs, flattened in order."""
    result: Any
    """The result with tensors in place (for non-tensor results such as dicts and numbers)."""
    trace: list[dict]
    """Submodule calls in execution order (when traced)."""
    input_grads: dict[str, torch.Tensor]
    """Gradient per named input (when asked)."""
    missing_grads: list[str]
    """Inputs / parameters that received no gradient."""


class Session:
    """Requests for one check, all sharing the check's time budget."""

    def __init__(self, worker: Worker, time_limit: float, training: Optional[TrainingSettings] = None) -> None:
        self.worker = worker
        self.deadline = time.monotonic() + time_limit
        self.time_limit = time_limit
        self.training = training if training is not None else TrainingSettings()
        """The rubric's training smoke-test settings."""
        self.built: list[Description] = []
        """Everything this check built in the worker (for the from-scratch rule)."""
        self.alternatives: tuple[str, ...] = ()
        """Known alternatives (``autograder.checks.known``) the reference takes in this check: the
        student's known mistakes in a component this one uses (see ``autograder.checking``)."""

    def _send(self, header: dict, tensors: Optional[dict] = None):
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise WorkerTimeout(_("the check's time limit of {seconds} s ran out").format(
                seconds=f"{self.time_limit:g}"))
        try:
            return self.worker.request(header, tensors, timeout=remaining)
        except WorkerTimeout as error:  # say which limit ran out, not how much of it this request had left
            message = _("no answer within the check's time limit of {seconds} s (an infinite loop or a very slow "
                        "step?)").format(seconds=f"{self.time_limit:g}")
            if error.stall is not None:
                message += " " + _("in {where}").format(where=error.stall.where)
            raise WorkerTimeout(message, error.stall) from None

    def build(self, name: str, target: dict, *args, tensors: Optional[dict] = None, init: bool = True,
              **kwargs) -> Description:
        """Build ``target(*args, **kwargs)`` in the worker and keep it as ``name``. ``init`` false: its
        random initial weights are zeros, for a module that only gets counted or loaded with weights."""
        header = {"op": "build", "handle": name, "target": target, "args": list(args), "kwargs": kwargs}
        if not init:
            header["init"] = False
        reply, _ = self._send(header, tensors)
        params = [(n, tuple(s)) for n, s, _ in reply.get("parameters", [])]
        trainable = sum(torch.Size(s).numel() for _, s, g in reply.get("parameters", []) if g)
        description = Description(reply["type"], params, trainable,
                                  [(n, tuple(s)) for n, s in reply.get("buffers", [])],
                                  [tuple(m) for m in reply.get("modules", [])], list(reply.get("provided", [])))
        self.built.append(description)
        return description

    def start_training(self, name: str, images: torch.Tensor, labels: torch.Tensor, batch_size: int, lr: float,
                       seed: int) -> None:
        """Start a training run of the kept model ``name`` in the worker (no steps yet)."""
        header = {"op": "train", "model": name, "start": True, "steps": 0, "batch_size": batch_size, "lr": lr,
                  "seed": seed}
        self._send(header, {"images": images, "labels": labels})

    def train(self, name: str, steps: int) -> tuple[list[float], float]:
        """``steps`` more steps of the run started by ``start_training``; (loss per step, CPU seconds)."""
        reply, _ = self._send({"op": "train", "model": name, "steps": steps})
        return [float(v) for v in reply.get("losses", [])], float(reply.get("cpu_seconds", 0.0))

    def load(self, name: str, state: dict[str, torch.Tensor]) -> tuple[list[str], list[str]]:
        """Load ``state`` into the kept module ``name``; returns its (missing, unexpected) keys."""
        reply, _ = self._send({"op": "load", "handle": name, "strict": False}, state)
        return list(reply.get("missing", [])), list(reply.get("unexpected", []))

    def call(
        self,
        target: dict,
        inputs: dict[str, torch.Tensor] | None = None,
        args: list | None = None,
        kwargs: dict | None = None,
        model: Optional[str] = None,
        mode: Optional[str] = "eval",
        dtype: str = "float32",
        trace: bool = False,
        grad_inputs: tuple[str, ...] = (),
        grad_params: bool = False,
        upstream: Optional[list[torch.Tensor]] = None,
        seed: int = 0,
    ) -> Forward:
        """Call ``target`` in the worker. ``args`` may refer to ``inputs`` with ``values.tensor(name)``."""
        tensors = dict(inputs or {})
        for index, grad in enumerate(upstream or []):
            tensors[f"upstream.{index}"] = grad
        header = {"op": "call", "target": target, "args": args if args is not None else [], "kwargs": kwargs or {},
                  "model": model, "mode": mode, "dtype": dtype, "trace": trace, "grad_inputs": list(grad_inputs),
                  "grad_params": grad_params, "seed": seed}
        reply, out = self._send(header, tensors)
        result = values.fill(reply.get("result"), out)
        grads = reply.get("grads", {})
        return Forward(
            outputs=values.flat_tensors(result),
            result=result,
            trace=reply.get("trace", []),
            input_grads={k[len("grad.input."):]: v for k, v in out.items() if k.startswith("grad.input.")},
            missing_grads=list(grads.get("missing", [])),
        )

    def forward(self, name: str, *inputs: torch.Tensor, returns: Any = torch.Tensor, **options) -> Forward:
        """Call the module kept as ``name`` on positional tensor inputs ``x0, x1, ...``.

        ``returns``: what the lab's forward returns, ``torch.Tensor`` or a tuple of such templates
        (``(torch.Tensor, torch.Tensor)`` for output and attention weights); any other result
        raises ``SubmissionError`` saying what was expected. None: no expectation.
        """
        tensors = {f"x{i}": t for i, t in enumerate(inputs)}
        args = [values.tensor(f"x{i}") for i in range(len(inputs))]
        answer = self.call(handle(name), tensors, args=args, model=name, **options)
        if returns is not None and not matches(answer.result, returns):
            extra = (" " + _("Return only the output here: the modules built on this one take it as a tensor.")
                     if returns is torch.Tensor and isinstance(answer.result, (tuple, list)) else "")
            raise SubmissionError(_("forward should return {expected}; yours returns {got}.").format(
                expected=described(returns), got=described(answer.result)) + extra, kind="output")
        return answer


def matches(value: Any, template: Any) -> bool:
    """Whether ``value`` has the structure of ``template``: ``torch.Tensor``, or a tuple of templates."""
    if template is torch.Tensor:
        return isinstance(value, torch.Tensor)
    # A worker's reply carries tuples as lists.
    return isinstance(value, (tuple, list)) and len(value) == len(template) and all(map(matches, value, template))


def described(value: Any) -> str:
    """A value's (or a template's) structure in words: "a tensor", "2 values (a tensor, None)"."""
    if value is torch.Tensor or isinstance(value, torch.Tensor):
        return _("a tensor")
    if isinstance(value, (tuple, list)):
        return _("{count} values ({values})").format(count=len(value), values=", ".join(described(v) for v in value))
    return "None" if value is None else _("a {type}").format(type=type(value).__name__)
