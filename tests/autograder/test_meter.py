"""Measuring a worker from outside it (``autograder/engine/meter.py``): the efficiency checks' memory.

The worker is found among the descendants of the process the grader started, in every sandbox
mode, and its peak memory since a reset follows what one request allocates, not what the process
held before: a request that allocates 200 MB reads near 200 MB, a small one reads near nothing.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from autograder.engine import meter
from autograder.engine.client import Worker
from autograder.engine.sandbox import Limits, Sandbox, namespaces_unavailable

SUBMISSION = '''
import torch

def allocate(megabytes):
    held = torch.ones(megabytes * 2**20 // 4)  # touched, so resident
    return float(held[-1])
'''

pytestmark = pytest.mark.skipif(not meter.available(), reason="reads Linux's /proc")


@pytest.fixture(scope="module")
def submission(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("meter")
    (folder / "resnet.py").write_text(textwrap.dedent(SUBMISSION))
    return folder


@pytest.mark.parametrize("mode", ["off", "limits", "namespaces"])
def test_the_worker_is_found_and_its_peak_follows_one_request(submission, mode):
    if mode == "namespaces" and namespaces_unavailable("cpu"):
        pytest.skip(f"no namespaces here: {namespaces_unavailable('cpu')}")
    with Worker(submission, sandbox=Sandbox(mode, Limits(memory_mb=2048))) as worker:
        worker.request({"op": "free", "handle": ""})
        pid = meter.worker_pid(worker.process.pid)
        assert pid is not None and (pid == worker.process.pid) == (mode != "namespaces")
        memory = meter.PeakMemory(pid)
        readings = {}
        for megabytes in (200, 1):
            memory.reset()
            worker.request({"op": "call", "target": {"$ref": "resnet.allocate"}, "args": [megabytes], "mode": None})
            readings[megabytes] = memory.peak() / 2**20
    assert 180 < readings[200] < 260 and readings[1] < 40, readings


def test_no_worker_below_a_process_that_runs_none():
    import subprocess  # a process of its own: this one may keep a reference worker for the efficiency checks

    idle = subprocess.Popen(["sleep", "30"])
    try:
        assert meter.worker_pid(idle.pid) is None
    finally:
        idle.kill()
        idle.wait()
