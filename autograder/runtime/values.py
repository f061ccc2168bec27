"""The values requests and replies hold, declared once for both sides of a worker.

Values are JSON. These one-key objects (the key is the tag) stand for other things:

===================================================  ===========================================================
``{"$tensor": name}``                                a tensor of the message's payload
``{"$handle": id, "attr": "a.b"}``                   a kept object of the worker, or one of its attributes
``{"$ref": "module.attr"}``                          an attribute of the submission
``{"$partial": {"ref": ..., "kwargs": {...}}}``      a submission attribute with keyword arguments bound
``{"$nn": [name, args, kwargs], "weights": prefix}`` a module (``NnSpec``), loaded with the payload tensors
                                                     under ``prefix.``
``{"$nn_factory": spec}``                            a callable ``channels -> module`` building that spec
``{"$tuple": [...]}``                                a tuple
``{"$object": type name}``                           (replies only) an object JSON cannot hold
===================================================  ===========================================================

The functions below write each one (the grader's requests, the worker's replies); the worker reads
them in ``worker.decode``, the grader in ``fill``. ``build_nn`` builds an ``NnSpec`` on either side,
so that the grader's reference and the worker's copy are the same module. Imports torch alone.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from torch import nn

from autograder.runtime import probes

TENSOR, HANDLE, REF, PARTIAL, NN, NN_FACTORY, TUPLE, OBJECT = (
    "$tensor", "$handle", "$ref", "$partial", "$nn", "$nn_factory", "$tuple", "$object")
TAGS = (TENSOR, HANDLE, REF, PARTIAL, NN, NN_FACTORY, TUPLE, OBJECT)

SUBMISSION_CLASS = "submission:"
"""Spec names starting with this build the submission's class, e.g. ``submission:resnet.BasicBlock``."""

NnSpec = list
"""``[name, args, kwargs]`` (args and kwargs optional): ``torch.nn.<name>``, a probe module
(``probe:<name>``, see ``probes``) or a submission class (``submission:<module.Class>``);
``Sequential`` takes specs as its args."""


def tensor(name: str) -> dict:
    return {TENSOR: name}


def handle(name: str, attr: Optional[str] = None) -> dict:
    """A kept object (or one of its attributes) in the worker."""
    return {HANDLE: name, **({"attr": attr} if attr else {})}


def ref(dotted: str) -> dict:
    """A submission attribute, e.g. ``ref("resnet.BasicBlock")``."""
    return {REF: dotted}


def partial(dotted: str, **kwargs) -> dict:
    """A submission attribute with keyword arguments bound (e.g. an attention factory)."""
    return {PARTIAL: {"ref": dotted, "kwargs": kwargs}}


def nn_module(spec: NnSpec, weights: Optional[str] = None) -> dict:
    """A module built from ``spec``, loaded with the payload tensors named ``weights.<parameter>``."""
    return {NN: spec, **({"weights": weights} if weights else {})}


def nn_factory(spec: NnSpec) -> dict:
    """A callable ``channels -> module`` building ``spec`` (an attention stand-in)."""
    return {NN_FACTORY: spec}


def as_tuple(items: list) -> dict:
    return {TUPLE: items}


def opaque(value: Any) -> dict:
    """What a reply holds for an object JSON cannot."""
    return {OBJECT: type(value).__name__}


def tag(value: Any) -> Optional[str]:
    """The tag of a tagged value, None for any other value."""
    if isinstance(value, dict) and value:
        first = next(iter(value))
        return first if isinstance(first, str) and first.startswith("$") else None
    return None


class SpecError(ValueError):
    """An ``NnSpec`` that names no module or is not shaped ``[name, args, kwargs]``."""


def spec_parts(spec: Any) -> tuple[str, list, dict]:
    """``(name, args, kwargs)`` of ``spec``; raises SpecError for anything else."""
    if not (isinstance(spec, list) and 1 <= len(spec) <= 3 and isinstance(spec[0], str)):
        raise SpecError(f"a torch.nn spec is [name, args, kwargs], got {spec!r}"[:300])
    name, args, kwargs = spec[0], spec[1] if len(spec) > 1 else [], spec[2] if len(spec) > 2 else {}
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise SpecError(f"a torch.nn spec is [name, args, kwargs], got {spec!r}"[:300])
    return name, args, kwargs


def build_nn(spec: NnSpec, arguments: Callable[[Any], Any] = lambda value: value,
             submission_class: Optional[Callable[[str], type]] = None) -> nn.Module:
    """The module ``spec`` describes. ``arguments`` turns its args and kwargs into Python values (the
    worker decodes tagged values there); ``submission_class`` finds a ``submission:`` class (the
    worker only)."""
    name, args, kwargs = spec_parts(spec)
    if name == "Sequential":
        return nn.Sequential(*[build_nn(child, arguments, submission_class) for child in args])
    if name.startswith(SUBMISSION_CLASS):
        if submission_class is None:
            raise SpecError(f"{name!r}: a submission's class is built only in its worker")
        cls = submission_class(name[len(SUBMISSION_CLASS):])
    elif name.startswith(probes.PREFIX):
        cls = probes.PROBES.get(name[len(probes.PREFIX):])
        if cls is None:
            raise SpecError(f"no probe module {name!r}")
    else:
        cls = getattr(nn, name, None) if not name.startswith("_") else None
        if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
            raise SpecError(f"torch.nn has no module {name!r}")
    return cls(*arguments(args), **arguments(kwargs))


def flat_tensors(value: Any) -> list[torch.Tensor]:
    """The tensors of a result, nested lists and tuples flattened in order (as both sides number them)."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in flat_tensors(item)]
    return []


def fill(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """A reply's value with its ``{"$tensor": name}`` replaced by the payload's tensors (grader side)."""
    if isinstance(value, list):
        return [fill(v, tensors) for v in value]
    if isinstance(value, dict):
        if tag(value) == TENSOR and len(value) == 1:
            return tensors[value[TENSOR]]
        return {k: fill(v, tensors) for k, v in value.items()}
    return value
