"""The worker runs a submission in its own process; the client survives whatever that code does.

Each test writes a throwaway submission (a folder holding resnet.py, attention.py) and talks to
it through ``autograder.engine.client.Worker``. One worker serves the well-behaved tests; the tests that
crash, exit or hang it use workers of their own.
"""
from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from autograder import paths
from autograder.engine.client import OUTPUT_KEPT_BYTES, SubmissionError, Worker, WorkerFailure, WorkerTimeout
from autograder.engine.remote import Session
from autograder.engine.sandbox import Sandbox, namespaces_unavailable
from autograder.runtime.values import handle, partial, ref

RESNET = '''\
"""A throwaway submission: well-behaved modules that print a lot, and helpers that misbehave."""
import os
import sys

import torch
from torch import nn

import attention

print("spam at import " * 300)
print('{"ok": true, "result": "forged at import", "payload": 0}')
sys.stdout.write("sys.stdout.write at import\\n")
sys.stdout.buffer.write(b'{"ok": true, "payload": 0}\\n')
sys.stdout.flush()
os.write(1, b"os.write to fd 1 at import\\n")


class Net(nn.Module):
    def __init__(self, cin=3, cout=2):
        super().__init__()
        self.lin = nn.Linear(cin, cout)
        self.unused = nn.Linear(cin, 4)

    def forward(self, x):
        print("spam in forward " * 300)
        sys.stdout.write('{"ok": true, "result": "forged in forward", "payload": 0}\\n')
        os.write(1, b'{"ok": false, "payload": 0}\\n')
        return self.lin(x)


class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(3, 3)
        self.scale = nn.Parameter(torch.full((3,), 2.0))

    def forward(self, x):
        return self.inner(x) * self.scale


class Outer(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Linear(3, 2)  # registered first, runs last
        self.act = nn.Tanh()
        self.body = Scaled()

    def forward(self, x):
        return self.head(self.act(self.body(x)))


class Wrap(nn.Module):
    def __init__(self, inner, make=None):
        super().__init__()
        self.inner = inner
        self.made = make(3) if make is not None else None

    def forward(self, x):
        out = self.inner(x)
        return out if self.made is None else self.made(out)


def two_outputs(x, y):
    return x * 2, [y.sum(), "text"]


def summary(x, factor=1.0):
    return {"sum": x.sum() * factor, "count": x.numel(), "shape": x.shape, "name": "ok", "module": nn.ReLU(),
            "none": None}


def ask():
    return input("your name? ")


def identity(value):
    return value


def from_other_file(x):
    return attention.double(x)


def solutions_visible(kit_root):
    seen = []
    for name in ("solutions", "solutions.resnet", "skeletons"):
        try:
            __import__(name)
            seen.append(name)
        except ImportError:
            pass
    sys.path.append(kit_root)  # even put back on the path by hand
    try:
        import solutions.resnet  # noqa: F401
        seen.append("solutions.resnet from the kit root")
    except ImportError:
        pass
    return [seen, os.environ.get("PYTHONPATH")]
'''

ATTENTION = '''\
def double(x):
    return broken(x)


def broken(x):
    raise ValueError("deliberately broken in attention.py")


def fine():
    return "attention.py answers"
'''


def write(folder: Path, **files: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(text))
    return folder


def line_of(text: str, snippet: str) -> int:
    """1-based number of the only line of ``text`` containing ``snippet``."""
    lines = [i for i, line in enumerate(text.splitlines(), 1) if snippet in line]
    assert len(lines) == 1, (snippet, lines)
    return lines[0]


def stderr_log(worker: Worker) -> str:
    """What the grader kept of the current worker's output (the feedback's tail shows only the end)."""
    return worker._output.tail(OUTPUT_KEPT_BYTES)


def worker_pids(folder: Path) -> list[int]:
    """Live processes running a worker for ``folder`` (forked children included: same command line)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and _alive(proc) and str(folder).encode() in (proc / "cmdline").read_bytes():
            pids.append(int(proc.name))
    return pids


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Path:
    return write(tmp_path_factory.mktemp("lab") / "submission", resnet=RESNET, attention=ATTENTION)


@pytest.fixture(scope="module")
def worker(lab):
    with Worker(lab) as shared:
        yield shared


@pytest.fixture
def session(worker):
    return Session(worker, time_limit=30)


def net_weights(seed: int = 0) -> tuple[nn.Module, dict]:
    """A local copy of resnet.Net with seeded weights, and its state dict."""
    torch.manual_seed(seed)
    local = nn.Module()
    local.lin, local.unused = nn.Linear(3, 2), nn.Linear(3, 4)
    return local, {k: v.clone() for k, v in local.state_dict().items()}


def test_prints_and_stdout_writes_do_not_corrupt_the_protocol(worker, session):
    local, state = net_weights(1)
    description = session.build("net", ref("resnet.Net"))
    assert description.type == "Net"
    assert description.parameters == [("lin.weight", (2, 3)), ("lin.bias", (2,)),
                                      ("unused.weight", (4, 3)), ("unused.bias", (4,))]
    assert description.trainable == 6 + 2 + 12 + 4
    assert session.load("net", state) == ([], [])
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(2))
    got = session.forward("net", x)
    torch.testing.assert_close(got.outputs[0], local.lin(x).detach())
    # The submission's output all went to stderr, forged protocol lines included.
    log = stderr_log(worker)
    for text in ("spam at import", "forged at import", "sys.stdout.write at import", "os.write to fd 1 at import",
                 "spam in forward", "forged in forward", '{"ok": false'):
        assert text in log, text
    assert "forged in forward" in worker.stderr_tail()


def test_input_does_not_wait_for_a_keyboard(session):
    start = time.monotonic()
    with pytest.raises(SubmissionError) as caught:
        session.call(ref("resnet.ask"))
    assert time.monotonic() - start < 5
    assert caught.value.message.startswith("EOFError")
    assert caught.value.where == f"resnet.py:{line_of(RESNET, 'input(')} in ask: return input(\"your name? \")"


def test_an_error_deep_in_torch_names_the_innermost_submission_frame(session):
    session.build("narrow", ref("resnet.Net"))
    with pytest.raises(SubmissionError) as caught:
        session.forward("narrow", torch.ones(2, 5))  # Net expects 3 features: fails inside nn.Linear
    error = caught.value
    assert error.kind == "submission" and error.message.startswith("RuntimeError")
    assert error.where == f"resnet.py:{line_of(RESNET, 'return self.lin(x)')} in forward: return self.lin(x)"
    assert str(error).endswith(f"(at {error.where})")


def test_an_error_in_another_submission_file_names_that_file(session):
    with pytest.raises(SubmissionError) as caught:
        session.call(ref("resnet.from_other_file"), {"x": torch.ones(1)}, args=[{"$tensor": "x"}])
    assert caught.value.message == "ValueError: deliberately broken in attention.py"
    line = line_of(ATTENTION, "raise ValueError")
    code = 'raise ValueError("deliberately broken in attention.py")'
    assert caught.value.where == f"attention.py:{line} in broken: {code}"


def test_results_of_every_kind_come_back_as_data(session):
    x = torch.arange(6.0).reshape(2, 3)
    got = session.call(partial("resnet.summary", factor=2.0), {"x": x}, args=[{"$tensor": "x"}])
    total = got.result.pop("sum")
    assert isinstance(total, torch.Tensor) and total.item() == 30.0
    assert got.result == {"count": 6, "shape": [2, 3], "name": "ok", "module": {"$object": "ReLU"}, "none": None}
    pair = session.call(ref("resnet.two_outputs"), {"x": x, "y": x}, args=[{"$tensor": "x"}, {"$tensor": "y"}])
    assert len(pair.outputs) == 2 and torch.equal(pair.outputs[0], 2 * x) and pair.outputs[1].item() == 15.0
    assert pair.result[1][1] == "text"


def test_the_kit_root_is_not_importable_from_the_submission(session):
    assert session.call(ref("resnet.solutions_visible"), args=[str(paths.ROOT)]).result == [[], None]


REQUEST_ERRORS = {
    "missing file": ({"op": "build", "handle": "v", "target": ref("vit.VisionTransformer")},
                     "vit.py not found in the submission"),
    "not a lab module": ({"op": "call", "target": ref("os.system"), "args": ["echo hi"]}, "'os' is not a lab module"),
    "missing attribute": ({"op": "call", "target": ref("resnet.Nope")}, "resnet.py has no Nope"),
    "unknown op": ({"op": "exec", "code": "print(1)"}, "unknown op 'exec'"),
    "no op": ({"target": ref("resnet.ask")}, "unknown op None"),
    "unknown handle as target": ({"op": "call", "target": handle("ghost")}, "unknown handle 'ghost'"),
    "unknown handle to load": ({"op": "load", "handle": "ghost"}, "unknown handle 'ghost'"),
    "unknown model": ({"op": "call", "target": ref("attention.fine"), "model": "ghost"}, "unknown handle 'ghost'"),
    "build without a handle": ({"op": "build", "target": ref("resnet.Net")}, "needs a handle"),
    "unknown payload tensor": ({"op": "call", "target": ref("resnet.Net"), "args": [{"$tensor": "x9"}]},
                               "no tensor 'x9' in the request's payload"),
    "unknown value tag": ({"op": "call", "target": {"$eval": "1+1"}}, "unknown value tag '$eval'"),
    "gradient of a missing input": ({"op": "call", "target": ref("attention.fine"), "grad_inputs": ["x"]},
                                    "grad_inputs: no floating-point tensor 'x'"),
}


@pytest.mark.parametrize("request_, message", REQUEST_ERRORS.values(), ids=REQUEST_ERRORS.keys())
def test_bad_requests_are_request_errors_and_the_worker_survives(worker, request_, message):
    worker.request({"op": "call", "target": ref("attention.fine")})
    pid = worker.process.pid
    with pytest.raises(SubmissionError) as caught:
        worker.request(request_, timeout=30)
    assert caught.value.kind == "request", caught.value
    assert message in caught.value.message and not caught.value.message.startswith("RequestError")
    reply, _ = worker.request({"op": "call", "target": ref("attention.fine")})
    assert reply["result"] == "attention.py answers"
    assert worker.process.pid == pid


def test_freed_handles_are_gone(worker, session):
    session.build("temporary", ref("resnet.Net"))
    worker.request({"op": "free", "handle": "temporary"})
    with pytest.raises(SubmissionError, match="unknown handle 'temporary'"):
        session.forward("temporary", torch.ones(1, 3))


def test_a_build_without_init_has_zero_weights_and_leaves_later_builds_random(session):
    """Only its own initial weights are zeros: the next build draws its weights as usual."""
    assert session.build("counted", ref("resnet.Net"), init=False).trainable == 3 * 2 + 2 + 3 * 4 + 4
    zeros = session.forward("counted", torch.ones(1, 3)).outputs[0]
    session.build("drawn", ref("resnet.Net"))
    drawn = session.forward("drawn", torch.ones(1, 3)).outputs[0]
    assert torch.equal(zeros, torch.zeros(1, 2)) and drawn.abs().sum() > 0


def test_torch_nn_specs_build_modules_with_the_given_weights(session):
    torch.manual_seed(3)
    inner = nn.Sequential(nn.Linear(3, 3), nn.ReLU())
    tensors = {f"arg0.{k}": v for k, v in inner.state_dict().items()}
    spec = {"$nn": ["Sequential", [["Linear", [3, 3]], ["ReLU"]]], "weights": "arg0"}
    description = session.build("wrapped", ref("resnet.Wrap"), spec, {"$nn_factory": ["Tanh"]}, tensors=tensors)
    assert description.provided == ["inner", "made"]  # the grader knows which submodules it passed in
    assert ("made", "torch.nn.modules.activation.Tanh") in description.modules
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(session.forward("wrapped", x).outputs[0], torch.tanh(inner(x)).detach())


NN_SPECS = {
    "not in torch.nn": ["system", ["echo hi"]],
    "a function": ["functional"],
    "a subpackage": ["init"],
    "a private name": ["_reduction"],
    "a dunder": ["__class__"],
    "not a module class": ["Parameter", [[1.0]]],
    "a name that is not a string": [["Linear"], [3, 3]],
    "not a list": "Linear",
    "args not a list": ["Linear", {"in_features": 3}],
    "a bad child in a Sequential": ["Sequential", [["Linear", [3, 3]], ["system"]]],
}


@pytest.mark.parametrize("spec", NN_SPECS.values(), ids=NN_SPECS.keys())
def test_torch_nn_specs_accept_only_torch_nn_module_classes(worker, spec):
    with pytest.raises(SubmissionError) as caught:
        worker.request({"op": "build", "handle": "bad", "target": ref("resnet.Wrap"), "args": [{"$nn": spec}]})
    assert caught.value.kind == "request"
    assert "torch.nn" in caught.value.message


def test_load_reports_missing_and_unexpected_keys(worker, session):
    session.build("partial", ref("resnet.Net"))
    weight = torch.full((2, 3), 0.5)
    assert session.load("partial", {"lin.weight": weight, "lin.gamma": torch.ones(2)}) == (
        ["lin.bias", "unused.weight", "unused.bias"], ["lin.gamma"])
    assert session.call(ref("resnet.identity"), args=[handle("partial", "lin.weight")]).outputs[0].equal(weight)
    with pytest.raises(SubmissionError, match="Missing key"):  # strict loading, as asked
        worker.request({"op": "load", "handle": "partial", "strict": True}, {"lin.weight": weight})


def test_gradients_of_the_inputs_and_the_parameters_that_get_none(session):
    local, state = net_weights(5)
    session.build("grads", ref("resnet.Net"))
    session.load("grads", state)
    x = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    upstream = torch.randn(4, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    got = session.forward("grads", x, dtype="float64", grad_inputs=("x0",), grad_params=True, upstream=[upstream])
    local = local.double()
    x_local = x.clone().requires_grad_(True)
    (local.lin(x_local) * upstream).sum().backward()
    torch.testing.assert_close(got.input_grads["x0"], x_local.grad, rtol=1e-12, atol=1e-12)
    assert got.missing_grads == ["grad.param.unused.weight", "grad.param.unused.bias"]


def test_gradients_follow_the_upstream_of_each_flattened_output(session):
    x, y = torch.ones(2, 2), torch.ones(3)
    upstream = [None, torch.tensor(5.0)]  # only the second output (nested in a list) gets an upstream
    tensors = {"x": x, "y": y, "upstream.1": upstream[1]}
    got = session.call(ref("resnet.two_outputs"), tensors, args=[{"$tensor": "x"}, {"$tensor": "y"}],
                       grad_inputs=("x", "y"))
    assert torch.equal(got.input_grads["y"], torch.full((3,), 5.0))
    assert got.missing_grads == ["grad.input.x"]  # x only reaches the first output
    # grad_params with no module at all is no error: there is simply nothing to report
    assert session.call(ref("resnet.two_outputs"), tensors, args=[{"$tensor": "x"}, {"$tensor": "y"}],
                        grad_params=True).missing_grads == []


def test_float64_mode_runs_module_and_inputs_in_double(session):
    torch.manual_seed(8)
    local = nn.Module()
    local.head, local.body = nn.Linear(3, 2), nn.Module()
    local.body.inner = nn.Linear(3, 3)
    local.body.scale = nn.Parameter(torch.tensor([0.5, -1.0, 3.0]))
    session.build("outer", ref("resnet.Outer"))
    session.load("outer", local.state_dict())
    x = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(9))

    def run(x):
        return local.head(torch.tanh(local.body.inner(x) * local.body.scale)).detach()

    double = session.forward("outer", x, dtype="float64").outputs[0]
    assert double.dtype == torch.float64
    local.double()
    torch.testing.assert_close(double, run(x), rtol=1e-14, atol=1e-14)
    single = session.forward("outer", x.float()).outputs[0]
    assert single.dtype == torch.float32
    local.float()
    torch.testing.assert_close(single, run(x.float()))


def test_trace_lists_submodule_calls_in_execution_order_with_their_own_parameters(session):
    session.build("traced", ref("resnet.Outer"))
    trace = session.forward("traced", torch.ones(5, 3), trace=True).trace
    assert [(call["name"], call["type"], call["params"], call["output_shape"]) for call in trace] == [
        ("body.inner", "torch.nn.modules.linear.Linear", [["weight", [3, 3]], ["bias", [3]]], [5, 3]),
        ("body", "resnet.Scaled", [["scale", [3]]], [5, 3]),  # a module's hook fires after its children's
        ("act", "torch.nn.modules.activation.Tanh", [], [5, 3]),
        ("head", "torch.nn.modules.linear.Linear", [["weight", [2, 3]], ["bias", [2]]], [5, 2]),
    ]
    assert session.forward("traced", torch.ones(5, 3)).trace == []  # hooks removed afterwards


# -- submissions that exit, crash or hang: workers of their own ---------------------------------------

FRAGILE = '''\
import ctypes
import os

from torch import nn


class Exits(nn.Module):
    def forward(self, x):
        os._exit(7)


class Crashes(nn.Module):
    def forward(self, x):
        return ctypes.string_at(0)


class Spins(nn.Module):
    def forward(self, x):
        child = os.fork()
        if child == 0:  # a child that would spin on after the worker is killed
            while True:
                pass
        while True:
            pass


def fine():
    return "still here"
'''


@pytest.fixture(scope="module", params=["namespaces", "limits"])
def fragile(tmp_path_factory, request):
    """A worker for the misbehaving submission, in namespaces and with limits only."""
    if request.param == "namespaces" and namespaces_unavailable("cpu"):
        pytest.skip(f"no namespaces here: {namespaces_unavailable('cpu')}")
    folder = write(tmp_path_factory.mktemp("fragile") / "submission", resnet=FRAGILE)
    with Worker(folder, sandbox=Sandbox(request.param)) as worker:
        yield worker


def warm(worker: Worker) -> None:
    """Make sure a worker process runs (starting one if the last test left none), and forget the
    functions an earlier test's worker stalled or died in (each test meets them afresh)."""
    if worker.stalled:
        worker.stalled.clear()
        worker.kill()  # the running worker was started refusing them
    worker.request({"op": "call", "target": ref("resnet.fine")}, timeout=30)


def assert_answers_again(worker: Worker, failed_pid: int) -> None:
    """The worker answers again, from a new process."""
    reply, _ = worker.request({"op": "call", "target": ref("resnet.fine")}, timeout=30)
    assert reply["result"] == "still here"
    assert worker.process.pid != failed_pid


@pytest.mark.parametrize("target, reason", [
    ("resnet.Exits", "stopped (exit code 7)"),
    ("resnet.Crashes", "killed by SIGSEGV (exit code -11)"),
])
def test_a_worker_that_dies_in_forward_is_replaced(fragile, target, reason):
    warm(fragile)
    before = fragile.process.pid
    session = Session(fragile, time_limit=30)
    session.build("dies", ref(target))
    with pytest.raises(WorkerFailure, match=reason.replace("(", r"\(").replace(")", r"\)")):
        session.forward("dies", torch.ones(1))
    assert fragile.process.pid == before  # a new worker starts only when the next request comes
    assert_answers_again(fragile, before)


def test_an_infinite_loop_in_forward_times_out_and_its_forked_children_die_too(fragile):
    warm(fragile)
    before = fragile.process.pid
    fragile.request({"op": "build", "handle": "spins", "target": ref("resnet.Spins")})
    start = time.monotonic()
    with pytest.raises(WorkerFailure, match="no answer within 2 s"):
        fragile.request({"op": "call", "target": handle("spins"), "args": [1]}, timeout=2)
    assert 2 <= time.monotonic() - start < 8
    deadline = time.monotonic() + 5  # SIGKILL is sent; the processes' parent (init or a subreaper) reaps them
    while worker_pids(fragile.submission) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert worker_pids(fragile.submission) == []
    assert_answers_again(fragile, before)


def _alive(proc: Path) -> bool:
    """Whether the process of /proc/PID still runs (a zombie or a vanished entry does not)."""
    try:
        state = next(line for line in (proc / "status").read_text().splitlines() if line.startswith("State:"))
        return state.split()[1] not in ("Z", "X")
    except (OSError, StopIteration):
        return False


def test_an_error_at_import_is_a_submission_error_and_the_grader_goes_on(tmp_path):
    resnet = "import sys\n\nprint('leaving')\nsys.exit(3)\n"
    folder = write(tmp_path / "submission", resnet=resnet, attention=ATTENTION)
    with Worker(folder) as worker:
        with pytest.raises(SubmissionError) as caught:
            worker.request({"op": "build", "handle": "b", "target": ref("resnet.BasicBlock")}, timeout=30)
        assert caught.value.kind == "submission" and caught.value.message == "SystemExit: 3"
        assert caught.value.where == "resnet.py:4 in <module>: sys.exit(3)"
        pid = worker.process.pid
        reply, _ = worker.request({"op": "call", "target": ref("attention.fine")}, timeout=30)
        assert reply["result"] == "attention.py answers"
        with pytest.raises(SubmissionError, match="SystemExit: 3"):  # imported afresh, fails the same way
            worker.request({"op": "build", "handle": "b", "target": ref("resnet.BasicBlock")}, timeout=30)
        assert worker.process.pid == pid


def test_an_exit_at_import_is_a_worker_failure_with_the_exit_code_and_the_next_request_works(tmp_path, monkeypatch):
    monkeypatch.delenv("PYTHONUNBUFFERED", raising=False)  # the worker must not rely on the caller's environment
    folder = write(tmp_path / "submission", resnet="import os\nprint('bye now')\nos._exit(1)\n", attention=ATTENTION)
    with Worker(folder) as worker:
        with pytest.raises(WorkerFailure) as caught:
            worker.request({"op": "build", "handle": "b", "target": ref("resnet.BasicBlock")}, timeout=30)
        assert "stopped (exit code 1)" in str(caught.value)
        assert str(caught.value).endswith("bye now")  # the submission's last words, not lost in a buffer
        failed_pid = worker.process.pid
        reply, _ = worker.request({"op": "call", "target": ref("attention.fine")}, timeout=30)
        assert reply["result"] == "attention.py answers" and worker.process.pid != failed_pid


@pytest.mark.parametrize("target, error, incident", [
    ("resnet.Spins", WorkerTimeout, "StalledEarlier"),
    ("resnet.Crashes", WorkerFailure, "CrashedEarlier"),
])
def test_a_function_that_stalled_or_killed_a_worker_fails_at_once_in_the_next(fragile, target, error, incident):
    warm(fragile)
    fragile.request({"op": "build", "handle": "model", "target": ref(target)})
    with pytest.raises(error) as stopped:
        fragile.request({"op": "call", "target": handle("model"), "args": [1]}, timeout=2)
    name = target.split(".")[1]
    assert list(fragile.stalled) == [f"resnet.{name}.forward"]
    assert f"{name}.forward (resnet.py:" in str(fragile.stalled[f"resnet.{name}.forward"]["message"])
    if error is WorkerTimeout:
        assert stopped.value.stall.qualified == "resnet.Spins.forward"
    fragile.request({"op": "build", "handle": "model", "target": ref(target)})  # the constructor still runs
    start = time.monotonic()
    with pytest.raises(SubmissionError, match=f"{incident}: {name}.forward .* so it is not run again"):
        fragile.request({"op": "call", "target": handle("model"), "args": [1]}, timeout=30)
    assert time.monotonic() - start < 1.5


def test_a_check_session_names_its_own_time_limit(fragile):
    warm(fragile)
    before = fragile.process.pid
    session = Session(fragile, time_limit=1.5)
    session.build("spins", ref("resnet.Spins"))
    with pytest.raises(WorkerFailure, match="no answer within the check's time limit of 1.5 s"):
        session.forward("spins", torch.ones(1))
    with pytest.raises(WorkerFailure, match="time limit of 1.5 s ran out"):
        session.call(ref("resnet.fine"))  # the budget is spent: no new request is sent
    assert_answers_again(fragile, before)


def test_the_protocol_pipes_are_private_to_the_worker(worker):
    """stdin of the worker is /dev/null and fd 1 is its stderr: nothing the submission does reaches the grader."""
    worker.request({"op": "call", "target": ref("attention.fine")})
    (pid,) = [p for p in worker_pids(worker.submission)
              if b"autograder.runtime.worker" in Path(f"/proc/{p}/cmdline").read_bytes()
              and b"autograder.runtime.jail" not in Path(f"/proc/{p}/cmdline").read_bytes()]
    fds = Path(f"/proc/{pid}/fd")
    assert os.readlink(fds / "0").endswith("/dev/null")  # seen from outside the sandbox: under its root
    output = os.readlink(fds / "2")
    assert output.startswith("pipe:") and os.readlink(fds / "1") == output
    protocol = {os.readlink(fd) for fd in fds.iterdir() if fd.name not in ("0", "1", "2")}
    assert output not in protocol
