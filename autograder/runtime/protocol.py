"""Messages between the grader and a worker: one JSON line, then an optional safetensors payload.

A message is ``{"...": ..., "payload": N}\n`` followed by N bytes of safetensors data (tensors by
name). Both sides decode tensors with safetensors and everything else with JSON, so neither ever
unpickles code sent by the other. This module imports nothing from the submission or the
reference solutions; the worker uses it too.
"""
from __future__ import annotations

import json
from typing import BinaryIO

import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

MAX_HEADER_BYTES = 1 << 20
MAX_PAYLOAD_BYTES = 1 << 31


class ProtocolError(RuntimeError):
    """A message that cannot be read: closed stream, garbage, or oversized."""


def write_message(stream: BinaryIO, header: dict, tensors: dict[str, torch.Tensor] | None = None) -> None:
    """Send ``header`` (JSON-serialisable) and ``tensors`` (name -> tensor) as one message."""
    payload = b""
    if tensors:
        payload = save_tensors({name: t.detach().cpu().contiguous().clone() for name, t in tensors.items()})
    line = json.dumps({**header, "payload": len(payload)}, allow_nan=True).encode() + b"\n"
    stream.write(line + payload)
    stream.flush()


def read_message(stream: BinaryIO) -> tuple[dict, dict[str, torch.Tensor]]:
    """Receive one message: (header, tensors). Raises ProtocolError on a closed or bad stream."""
    line = stream.readline(MAX_HEADER_BYTES + 1)
    if not line:
        raise ProtocolError("the stream closed")
    if len(line) > MAX_HEADER_BYTES or not line.endswith(b"\n"):
        raise ProtocolError("message header too long or unterminated")
    try:
        header = json.loads(line.decode("utf-8"))  # bytes would let json guess UTF-16/32 from the first bytes
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ProtocolError(f"message header is not UTF-8 JSON: {error}") from None
    size = header.get("payload") if isinstance(header, dict) else None
    if not isinstance(size, int) or isinstance(size, bool):  # JSON true would pass as the int 1
        raise ProtocolError("message header is not an object with an integer payload size")
    del header["payload"]
    if not 0 <= size <= MAX_PAYLOAD_BYTES:
        raise ProtocolError(f"payload size {size} out of range")
    data = stream.read(size) if size else b""
    if len(data) != size:
        raise ProtocolError("the stream closed inside a payload")
    try:
        tensors = load_tensors(data) if size else {}
    except Exception as error:  # safetensors raises its own error types
        raise ProtocolError(f"payload is not safetensors data: {error}") from None
    return header, tensors
