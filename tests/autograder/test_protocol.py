"""The grader <-> worker framing: JSON header line + safetensors payload, and every way it can break."""
from __future__ import annotations

import io
import json
import math
import pickle

import pytest
import torch

from autograder.runtime.protocol import MAX_HEADER_BYTES, MAX_PAYLOAD_BYTES, ProtocolError, read_message, write_message


def framed(header: dict, tensors: dict | None = None) -> io.BytesIO:
    stream = io.BytesIO()
    write_message(stream, header, tensors)
    stream.seek(0)
    return stream


def raw(header_line: bytes, payload: bytes = b"") -> io.BytesIO:
    return io.BytesIO(header_line + payload)


def test_round_trip_of_headers_and_tensors_of_every_kind():
    tensors = {
        "float": torch.randn(2, 3, generator=torch.Generator().manual_seed(0)),
        "double": torch.tensor([1 / 3], dtype=torch.float64),
        "int": torch.arange(-3, 4),
        "bool": torch.tensor([[True, False], [False, True]]),
        "empty": torch.empty(0, 5),
        "scalar": torch.tensor(2.5),
        "half": torch.tensor([0.5, -2.0], dtype=torch.float16),
        "transposed": torch.arange(12.0).reshape(3, 4).t(),  # not contiguous
    }
    header = {"op": "call", "nested": {"list": [1, "two", None, True]}, "nan": float("nan"), "unicode": "Größe ≤ 4"}
    stream = framed(header, tensors)
    got_header, got = read_message(stream)
    assert math.isnan(got_header.pop("nan"))
    assert got_header == {k: v for k, v in header.items() if k != "nan"}  # "payload" is the protocol's own
    assert set(got) == set(tensors)
    for name, tensor in tensors.items():
        assert got[name].dtype == tensor.dtype and got[name].shape == tensor.shape, name
        assert torch.equal(got[name], tensor), name
    with pytest.raises(ProtocolError, match="closed"):
        read_message(stream)  # nothing after the one message


def test_several_messages_in_a_row_and_an_empty_tensor_dict():
    stream = io.BytesIO()
    write_message(stream, {"n": 1}, {})
    write_message(stream, {"n": 2})
    write_message(stream, {"n": 3}, {"x": torch.ones(2)})
    stream.seek(0)
    assert read_message(stream) == ({"n": 1}, {})
    assert read_message(stream) == ({"n": 2}, {})
    header, tensors = read_message(stream)
    assert header == {"n": 3} and torch.equal(tensors["x"], torch.ones(2))


def test_tensors_sharing_storage_are_written_as_copies():
    base = torch.arange(6.0)
    header, got = read_message(framed({}, {"a": base, "view": base[2:4]}))
    assert torch.equal(got["a"], base) and torch.equal(got["view"], torch.tensor([2.0, 3.0]))


def test_a_closed_stream():
    with pytest.raises(ProtocolError, match="the stream closed"):
        read_message(io.BytesIO(b""))


@pytest.mark.parametrize("line", [b"hello\n", b"{'single': 'quotes'}\n", b"\xff\xfe\n", b"\x80abc\n",
                                  b"[" * 50_000 + b"\n"])
def test_a_header_that_is_not_json(line):
    with pytest.raises(ProtocolError, match="not UTF-8 JSON"):
        read_message(raw(line))


@pytest.mark.parametrize("header", [[1, 2], "text", 3, {}, {"payload": "12"}, {"payload": 1.5}, {"payload": None},
                                    {"payload": True}])
def test_a_header_without_an_integer_payload_size(header):
    with pytest.raises(ProtocolError, match="integer payload size"):
        read_message(raw(json.dumps(header).encode() + b"\n", b"x"))


@pytest.mark.parametrize("size", [-1, MAX_PAYLOAD_BYTES + 1, 10**30])
def test_a_negative_or_oversized_payload_size(size):
    with pytest.raises(ProtocolError, match=f"payload size {size} out of range"):
        read_message(raw(json.dumps({"payload": size}).encode() + b"\n"))


def test_an_unterminated_or_overlong_header():
    with pytest.raises(ProtocolError, match="too long or unterminated"):
        read_message(raw(b'{"payload": 0}'))  # the stream ends before the newline
    with pytest.raises(ProtocolError, match="too long or unterminated"):
        read_message(raw(b'{"pad": "' + b"x" * MAX_HEADER_BYTES + b'", "payload": 0}\n'))


def test_a_truncated_payload():
    whole = framed({"op": "x"}, {"t": torch.ones(100)}).getvalue()
    with pytest.raises(ProtocolError, match="closed inside a payload"):
        read_message(io.BytesIO(whole[:-10]))


def test_a_payload_that_is_not_safetensors():
    junk = b"\x00" * 8 + b"not safetensors at all"
    with pytest.raises(ProtocolError, match="not safetensors"):
        read_message(raw(json.dumps({"payload": len(junk)}).encode() + b"\n", junk))


class _Trap:
    """Unpickling this object writes a file: proof that a payload was unpickled."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("serialise", ["pickle", "torch.save"])
def test_a_pickled_payload_is_refused_without_being_unpickled(tmp_path, serialise):
    proof = tmp_path / "unpickled"
    value = {"t": torch.ones(2), "trap": _Trap(str(proof))}
    if serialise == "pickle":
        payload = pickle.dumps(value)
    else:
        buffer = io.BytesIO()
        torch.save(value, buffer)
        payload = buffer.getvalue()
    pickle.loads(pickle.dumps(_Trap(str(tmp_path / "check"))))  # the trap does work when unpickled...
    assert (tmp_path / "check").exists()
    with pytest.raises(ProtocolError, match="not safetensors"):
        read_message(raw(json.dumps({"payload": len(payload)}).encode() + b"\n", payload))
    assert not proof.exists()  # ...but the protocol never unpickles
