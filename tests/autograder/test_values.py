"""The value language of ``autograder.runtime.values``: each tag written by the grader's side is
read back by the worker as the object it stands for, through the JSON a message carries."""
from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from autograder.runtime import values
from autograder.runtime.worker import LAB_MODULES, RequestError, WorkerState, decode, encode

SUBMISSION = '''
import torch
from torch import nn

class Scale(nn.Module):
    def __init__(self, factor=2.0):
        super().__init__()
        self.factor = factor
    def forward(self, x):
        return x * self.factor
'''


@pytest.fixture
def state(tmp_path: Path):
    """A worker's state over a submission whose resnet.py this process imports (then forgets)."""
    (tmp_path / "resnet.py").write_text(SUBMISSION)
    yield WorkerState(tmp_path, "cpu")
    for name in LAB_MODULES:
        sys.modules.pop(name, None)


def through_json(value):
    return json.loads(json.dumps(value))


def test_a_tensor_is_read_from_the_payload(state):
    payload = {"x": torch.arange(3.0)}
    assert torch.equal(decode(through_json(values.tensor("x")), state, payload), payload["x"])
    with pytest.raises(RequestError, match="no tensor 'y'"):
        decode(values.tensor("y"), state, payload)


def test_a_handle_is_a_kept_object_or_its_attribute(state):
    state.handles["net"] = nn.Sequential(nn.Linear(2, 3))
    assert decode(through_json(values.handle("net")), state, {}) is state.handles["net"]
    assert decode(through_json(values.handle("net", "0.weight")), state, {}) is state.handles["net"][0].weight


def test_a_ref_is_a_submission_attribute_and_a_partial_binds_keywords(state):
    cls = decode(through_json(values.ref("resnet.Scale")), state, {})
    assert cls.__name__ == "Scale"
    bound = decode(through_json(values.partial("resnet.Scale", factor=3.0)), state, {})
    assert isinstance(bound, functools.partial) and bound().factor == 3.0


def test_an_nn_spec_is_built_with_its_weights(state):
    spec = ["Sequential", [["Linear", [2, 3]], ["ReLU"]]]
    reference = values.build_nn(spec)
    payload = {f"w.{name}": tensor for name, tensor in reference.state_dict().items()}
    built = decode(through_json(values.nn_module(spec, "w")), state, payload)
    x = torch.randn(4, 2)
    assert torch.equal(built(x), reference(x)) and id(built) in state.provided


def test_an_nn_factory_builds_a_fresh_module_per_call(state):
    factory = decode(through_json(values.nn_factory(["Identity"])), state, {})
    assert isinstance(factory(16), nn.Identity) and factory(16) is not factory(16)


def test_a_submission_class_is_built_only_in_the_worker(state):
    spec = [values.SUBMISSION_CLASS + "resnet.Scale", [5.0]]
    assert decode(values.nn_module(spec), state, {}).factor == 5.0
    with pytest.raises(values.SpecError, match="only in its worker"):
        values.build_nn(spec)


def test_a_tuple_stays_a_tuple(state):
    assert decode(through_json(values.as_tuple([1, values.tensor("x")])), state, {"x": torch.ones(1)})[0] == 1
    assert isinstance(decode(values.as_tuple([1, 2]), state, {}), tuple)


def test_a_reply_s_tensors_and_objects_come_back_to_the_grader():
    out = {}
    reply = through_json(encode({"y": torch.ones(2), "pair": (torch.zeros(1), 3), "module": nn.ReLU()}, out))
    filled = values.fill(reply, out)
    assert torch.equal(filled["y"], torch.ones(2)) and filled["pair"][1] == 3
    assert filled["module"] == values.opaque(nn.ReLU()) and values.tag(filled["module"]) == values.OBJECT
    assert [t.shape for t in values.flat_tensors([filled["y"], filled["pair"]])] == [(2,), (1,)]


def test_every_tag_has_its_reader(state):
    """A tag the worker does not read is refused by name, not taken for a plain mapping."""
    read = {values.TENSOR, values.HANDLE, values.REF, values.PARTIAL, values.NN, values.NN_FACTORY, values.TUPLE}
    assert read | {values.OBJECT} == set(values.TAGS)  # $object is written by the worker only
    with pytest.raises(RequestError, match="unknown value tag"):
        decode({"$nonsense": 1}, state, {})
    with pytest.raises(RequestError, match="spec is"):
        decode(values.nn_module("Linear"), state, {})
