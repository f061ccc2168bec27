"""The sandbox: resource limits in every mode, and in namespaces a private view, no network, own PIDs.

Each test talks to a worker (``autograder.engine.client.Worker``) running a throwaway submission whose
functions try something the sandbox must stop, and checks what the grader hears back.
"""
from __future__ import annotations

import os
import re
import socket
import textwrap
from pathlib import Path

import pytest

from autograder import paths
from autograder.__main__ import main
from autograder.engine.client import OUTPUT_KEPT_BYTES, STDERR_TAIL_BYTES, SubmissionError, Worker, WorkerFailure
from autograder.engine.sandbox import Limits, Sandbox, namespaces_unavailable
from autograder.runtime.values import ref

PROBES = '''\
import os
import socket
import threading
import time


def allocate(megabytes):
    return len(bytearray(megabytes << 20))


def spin():
    while True:
        pass


def write(path, megabytes):
    with open(path, "wb") as f:
        f.write(b"x" * (megabytes << 20))
    return os.path.getsize(path)


def threads(count):
    threading.stack_size(256 << 10)  # small stacks: the memory limit must not be what stops them
    started = []
    for _ in range(count):
        thread = threading.Thread(target=time.sleep, args=(5,), daemon=True)
        thread.start()
        started.append(thread)
    return len(started)


def exists(paths):
    return [os.path.exists(p) for p in paths]


def can_write(paths):
    done = []
    for path in paths:
        try:
            with open(path, "w") as f:
                f.write("written by the submission")
            done.append(True)
        except OSError:
            done.append(False)
    return done


def connect(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=3).close()
        return "connected"
    except OSError as error:
        return type(error).__name__ + ": " + str(error)


def parent():
    return os.getppid()


def pids():
    return sorted(int(p) for p in os.listdir("/proc") if p.isdigit())


def environment(name):
    return os.environ.get(name)


def shout(megabytes):
    line = "x" * 1023
    for _ in range(megabytes * 1024):
        print(line)
    print("the last words")
    return "done"
'''

LIMITS = Limits(memory_mb=1536, cpu_time_s=30, file_size_mb=1, processes=64)
MODES = ["namespaces", "limits"]


def call(worker: Worker, name: str, *args, timeout: float = 60):
    reply, _ = worker.request({"op": "call", "target": ref(f"resnet.{name}"), "args": list(args)}, timeout=timeout)
    return reply["result"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Path:
    """A class folder holding the probing submission and another student's."""
    folder = tmp_path_factory.mktemp("class")
    for name, text in (("probe", PROBES), ("other", "SECRET = 'the other student'\n")):
        (folder / name).mkdir()
        (folder / name / "resnet.py").write_text(textwrap.dedent(text))
    return folder


def needs_namespaces(mode: str) -> None:
    if mode == "namespaces" and namespaces_unavailable("cpu"):
        pytest.skip(f"no namespaces here: {namespaces_unavailable('cpu')}")


@pytest.fixture(scope="module", params=MODES)
def worker(lab, request):
    needs_namespaces(request.param)
    with pytest.MonkeyPatch.context() as patch, \
            Worker(lab / "probe", sandbox=Sandbox(request.param, LIMITS)) as confined:
        patch.setenv("LAB3_TEST_API_KEY", "secret")  # as an instructor's shell may hold; read when a worker starts
        patch.setenv("OMP_WAIT_POLICY", "PASSIVE")
        patch.setenv("OMP_NUM_THREADS", "2")
        yield confined


@pytest.fixture(scope="module")
def isolated(lab):
    needs_namespaces("namespaces")
    with Worker(lab / "probe", sandbox=Sandbox("namespaces", LIMITS)) as confined:
        yield confined


def test_the_grader_environment_is_passed_on_only_where_python_and_torch_need_it(worker):
    assert call(worker, "environment", "LAB3_TEST_API_KEY") is None
    assert call(worker, "environment", "OMP_WAIT_POLICY") == os.environ["OMP_WAIT_POLICY"]
    assert call(worker, "environment", "PATH") == os.environ["PATH"]
    assert call(worker, "environment", "OMP_NUM_THREADS") == "1"  # the worker's own threads, whatever the grader's


def test_memory_beyond_the_limit_is_a_memory_error_and_the_worker_goes_on(worker):
    assert call(worker, "allocate", 128) == 128 << 20
    with pytest.raises(SubmissionError, match="MemoryError"):
        call(worker, "allocate", 2048)
    assert call(worker, "allocate", 128) == 128 << 20


def test_a_file_beyond_the_size_limit_cannot_be_written(worker):
    with pytest.raises(SubmissionError, match="File too large"):
        call(worker, "write", "big.bin", 2)


def test_megabytes_of_output_are_drained_and_only_the_end_is_kept(worker):
    assert call(worker, "shout", 8) == "done"
    worker.output_since(worker.output_mark())  # as grading reads prints: once the pipe holds nothing more
    assert worker._output.total > 8 << 20
    kept = worker._output.tail(OUTPUT_KEPT_BYTES)
    assert len(kept) <= OUTPUT_KEPT_BYTES and kept.endswith("the last words")
    assert len(worker.stderr_tail()) <= STDERR_TAIL_BYTES


@pytest.mark.slow
def test_cpu_time_beyond_the_limit_kills_the_worker_with_sigxcpu(lab):
    for mode in MODES:
        if mode == "namespaces" and namespaces_unavailable("cpu"):
            continue
        with Worker(lab / "probe", sandbox=Sandbox(mode, Limits(cpu_time_s=4))) as worker:
            with pytest.raises(WorkerFailure, match="SIGXCPU.*CPU time limit"):
                call(worker, "spin", timeout=60)


def test_in_namespaces_processes_and_threads_are_limited(isolated):
    """RLIMIT_NPROC refuses the thread where it binds (not for root); else the sandbox's init stops
    the worker, or the worker counts them before it replies: either way the request that started
    them fails, and the next one gets a fresh worker."""
    assert call(isolated, "threads", 8) == 8
    first = isolated.process.pid
    with pytest.raises((SubmissionError, WorkerFailure)) as raised:
        call(isolated, "threads", 200)
    assert re.search("can't start new thread|ran more than 64 processes and threads", str(raised.value))
    assert call(isolated, "threads", 8) == 8
    if "ran more than" in str(raised.value):
        assert isolated.process.pid != first


def test_in_namespaces_the_kit_installed_among_the_packages_is_shown_empty(tmp_path, monkeypatch):
    """Where pip copied the kit into site-packages, its solutions and checks lie in visible paths: hidden."""
    needs_namespaces("namespaces")
    submission = tmp_path / "submission"
    (submission / "kit_package").mkdir(parents=True)
    (submission / "resnet.py").write_text(PROBES)
    (submission / "kit_package" / "reference.py").write_text("ANSWER = 42\n")
    monkeypatch.setattr("autograder.engine.sandbox.installed_kit", lambda visible: [str(submission / "kit_package")])
    with Worker(submission, sandbox=Sandbox("namespaces", LIMITS)) as worker:
        seen = call(worker, "exists", [str(submission / "resnet.py"), str(submission / "kit_package"),
                                       str(submission / "kit_package" / "reference.py")])
    assert seen == [True, True, False]


def test_in_namespaces_the_kit_other_submissions_and_the_machine_are_out_of_sight(isolated, lab):
    hidden = [paths.ROOT / "solutions" / "resnet.py", paths.ROOT / "grading.yml", paths.ROOT / "autograder" / "checks",
              lab / "other" / "resnet.py", lab / "other"]
    assert call(isolated, "exists", [str(p) for p in hidden]) == [False] * len(hidden)
    assert all(p.exists() for p in hidden)
    assert call(isolated, "exists", [str(lab / "probe" / "resnet.py")]) == [True]  # its own files it can read


def test_in_namespaces_only_the_working_folder_and_tmp_are_writable(isolated, lab):
    targets = [lab / "probe" / "new.py", lab / "other" / "resnet.py", "/tmp/scratch", "here.txt"]
    assert call(isolated, "can_write", [str(p) for p in targets]) == [False, False, True, True]
    assert not (lab / "probe" / "new.py").exists()
    # A kit under /tmp has its path in the worker's private /tmp (on the way to a .venv inside the
    # kit): a write there may succeed, but it never reaches the kit.
    call(isolated, "can_write", [str(paths.ROOT / "HACKED")])
    assert not (paths.ROOT / "HACKED").exists()
    assert (lab / "other" / "resnet.py").read_text() == "SECRET = 'the other student'\n"


def test_in_namespaces_there_is_no_network(isolated):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.setblocking(False)
    try:
        answer = call(isolated, "connect", server.getsockname()[1])
        assert answer.startswith(("OSError", "ConnectionRefusedError")) and "connected" not in answer
        with pytest.raises(BlockingIOError):
            server.accept()
    finally:
        server.close()


def test_in_namespaces_the_worker_sees_only_its_own_processes(isolated):
    assert call(isolated, "parent") == 1  # the sandbox's init; the grader is outside its PID namespace
    assert call(isolated, "pids") == [1, 2]


def test_the_fallback_without_namespaces_is_said_once_in_the_note(monkeypatch):
    monkeypatch.setattr("autograder.engine.sandbox.namespaces_unavailable", lambda device: "unshare failed: EPERM")
    auto = Sandbox("auto", LIMITS)
    assert not auto.isolated("cpu")
    assert "namespaces are not available here (unshare failed: EPERM)" in auto.note("cpu")
    assert "resource limits only" in auto.note("cpu") and "1536 MB" in auto.note("cpu")
    assert "processes" not in auto.note("cpu")  # not limited without a namespace of its own
    assert "memory not limited on CUDA" in auto.note("cuda")


def test_grading_that_requires_namespaces_stops_where_there_are_none(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr("autograder.engine.sandbox.namespaces_unavailable", lambda device: "unshare failed: EPERM")
    results = tmp_path / "results.json"
    code = main(["grade", str(paths.SKELETONS), "--results", str(results), "--device", "cpu",
                 "--sandbox", "namespaces"])
    assert code == 2 and not results.exists()
    assert "--sandbox namespaces: unshare failed: EPERM" in capsys.readouterr().err


def test_sandbox_modes_are_checked():
    with pytest.raises(ValueError, match="sandbox mode must be one of"):
        Sandbox("docker")
