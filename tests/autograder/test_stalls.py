"""Naming the submission's function a worker was stuck in, from the stack faulthandler wrote."""
from __future__ import annotations

from pathlib import Path

from autograder.engine.stalls import Stall, stalled_function

MODULES = ("resnet", "attention")
SOURCE = '''import torch


class SEModule(torch.nn.Module):
    def __init__(self, channels):
        super().__init__()
        while True:
            pass

    def forward(self, x):
        def helper(y):
            return y
        return helper(x)


def make():
    return SEModule(4)
'''


def dump(folder: Path, *frames: tuple[str, int, str], header: str = "Timeout (0:00:59)!") -> str:
    lines = [header, "Thread 0x00007f0000000001 (most recent call first):"]
    lines += [f'  File "{folder / name if "/" not in name else name}", line {line} in {function}'
              for name, line, function in frames]
    return "\n".join(lines) + "\n"


def submission(tmp_path: Path) -> Path:
    (tmp_path / "attention.py").write_text(SOURCE)
    return tmp_path


def test_the_innermost_submission_frame_is_named_with_its_class(tmp_path):
    folder = submission(tmp_path)
    output = "a print of the student's\n" + dump(
        folder, ("/usr/lib/python3.11/site-packages/torch/nn/modules/module.py", 1700, "_call_impl"),
        ("attention.py", 8, "__init__"), ("attention.py", 17, "make"),
        ("/kit/autograder/runtime/worker.py", 300, "op_build"))
    assert stalled_function(output, folder, MODULES) == Stall("attention.SEModule.__init__",
                                                              "SEModule.__init__ (attention.py:8)")


def test_a_nested_function_and_code_at_import(tmp_path):
    folder = submission(tmp_path)
    assert stalled_function(dump(folder, ("attention.py", 12, "helper")), folder, MODULES).qualified == \
        "attention.SEModule.forward.helper"
    assert stalled_function(dump(folder, ("attention.py", 1, "<module>")), folder, MODULES).qualified == \
        "attention.<module>"


def test_a_fatal_signal_dump_is_read_too(tmp_path):
    folder = submission(tmp_path)
    output = dump(folder, ("attention.py", 8, "__init__"), header="Fatal Python error: Segmentation fault\n")
    output = output.replace("Thread 0x", "Current thread 0x")
    assert stalled_function(output, folder, MODULES).qualified == "attention.SEModule.__init__"


def test_no_dump_or_no_submission_frame_names_nothing(tmp_path):
    folder = submission(tmp_path)
    assert stalled_function("just prints\n", folder, MODULES) is None
    only_torch = dump(folder, ("/site-packages/torchvision/models/resnet.py", 10, "forward"))
    assert stalled_function(only_torch, folder, MODULES) is None  # a file named like a lab module, elsewhere
    other_module = dump(folder, ("helpers.py", 3, "loop"))
    assert stalled_function(other_module, folder, MODULES) is None
