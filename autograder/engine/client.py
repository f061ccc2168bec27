"""The grader's side of a worker: start it, send requests with a time limit, replace it when it dies."""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import torch

from autograder.engine.sandbox import Sandbox
from autograder.engine.stalls import Stall, stalled_function
from autograder.i18n import _
from autograder.runtime.protocol import ProtocolError, read_message, write_message
from autograder.runtime.worker import LAB_MODULES

STDERR_TAIL_BYTES = 2000
"""Bytes of the worker's last output quoted in feedback."""
OUTPUT_KEPT_BYTES = 64 * 1024
"""Bytes of the worker's output kept in memory; the rest is counted and dropped."""
PRINTS_SETTLE_S = 0.2
"""How long reading a check's prints waits for the output pipe to be drained."""
WATCHDOG_LEAD_S = 1.0
"""How long before a request's time limit the worker writes its stack (``autograder.engine.stalls``)."""
DUMP_WAIT_S = 1.0
"""How long a timed-out request waits for that stack to arrive before the worker is killed."""
EXIT_GRACE_S = 2.0
"""How long a worker whose pipe closed may take to finish exiting, so that its own exit code is seen."""


def thread_environment(threads: int) -> dict[str, str]:
    """Environment variables that size a process's OpenMP and BLAS thread pools to ``threads``."""
    return {name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}


class WorkerFailure(Exception):
    """The worker could not answer: it timed out, crashed, exited or sent garbage."""


class WorkerTimeout(WorkerFailure):
    """The worker did not answer within the request's time limit (it is then killed)."""

    def __init__(self, message: str, stall: Stall | None = None) -> None:
        super().__init__(message)
        self.stall = stall
        """The submission's function the worker was stuck in, where its stack said."""


class SubmissionError(Exception):
    """The submission's code raised while answering (including NotImplementedError)."""

    def __init__(self, message: str, where: str = "", kind: str = "submission", classes: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.kind = kind
        self.classes = classes
        """Names of the exception's class and its bases (``ValueError``, ``Exception``, ...)."""

    @classmethod
    def from_reply(cls, reply: dict) -> "SubmissionError":
        """The error a worker's reply with ``ok`` false describes."""
        classes = reply.get("classes")
        return cls(str(reply.get("error", _("unknown error"))), str(reply.get("where", "")), str(reply.get("kind", "")),
                   tuple(str(c) for c in classes) if isinstance(classes, list) else ())

    def __str__(self) -> str:
        if not self.where:
            return self.message
        return _("{message} (at {where})").format(message=self.message, where=self.where)


class OutputTail:
    """Drains a worker's output pipe in a thread, keeping only its last ``OUTPUT_KEPT_BYTES``.

    Megabytes of prints neither fill the grader's memory or disk nor block the worker.
    """

    def __init__(self, stream) -> None:
        self._stream = stream
        self._kept = bytearray()
        self._lock = threading.Lock()
        self.total = 0
        """Bytes read so far."""
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self._stream.fileno(), 65536)
            except (OSError, ValueError):
                return
            if not chunk:
                return
            with self._lock:
                self.total += len(chunk)
                self._kept += chunk
                del self._kept[:-OUTPUT_KEPT_BYTES]

    def tail(self, size: int, wait_s: float = 0.0) -> str:
        """The last ``size`` bytes as text; first waits up to ``wait_s`` for the pipe to close."""
        self._thread.join(wait_s)
        with self._lock:
            return bytes(self._kept[-size:]).decode("utf-8", "replace").strip()

    def since(self, offset: int) -> str:
        """What arrived after the first ``offset`` bytes (as much of it as is kept), once the pipe
        holds nothing more: output written before a reply is read before the reply's caller asks."""
        deadline = time.monotonic() + PRINTS_SETTLE_S
        while time.monotonic() < deadline and self._thread.is_alive() and self._pending():
            time.sleep(0.002)
        with self._lock:
            new = min(self.total - offset, len(self._kept))
            return bytes(self._kept[len(self._kept) - new:]).decode("utf-8", "replace") if new > 0 else ""

    def _pending(self) -> bool:
        try:
            return bool(select.select([self._stream], [], [], 0)[0])
        except (OSError, ValueError):
            return False

    def close(self) -> None:
        self._thread.join(1.0)
        try:
            self._stream.close()
        except OSError:
            pass


class Worker:
    """A worker subprocess for one submission, confined by ``sandbox``; restarted on demand after a failure.

    ``threads``: torch's (and OpenMP's) threads in the worker. The checks' models are small, so one
    thread is about as fast as several, and gradings run side by side do not fight over the cores.
    """

    def __init__(self, submission: Path, device: str = "cpu", sandbox: Sandbox | None = None, threads: int = 1,
                 environment: dict[str, str] | None = None) -> None:
        self.submission = Path(submission).resolve()
        self.device = device
        self.sandbox = sandbox if sandbox is not None else Sandbox()
        self.threads = threads
        self.environment = dict(environment or {})
        """Variables added to the worker's environment."""
        self.companions: dict[str, Worker] = {}
        """Other workers kept for as long as this one (``companion``)."""
        self.process: subprocess.Popen | None = None
        self._folder = tempfile.TemporaryDirectory(prefix="lab3-worker-")
        self._output: OutputTail | None = None
        self.stalled: dict[str, dict] = {}
        """Submission functions that never returned or killed a worker (``module.Class.method`` ->
        {"message", "crashed"}): every later worker replaces them by ones that raise at once."""

    def __enter__(self) -> "Worker":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _start(self) -> None:
        if self.process is not None:
            self.kill()
            self._release()
        folder = Path(self._folder.name)
        # Unbuffered (the sandbox's environment): the submission's last prints arrive even when it then crashes.
        program = [sys.executable, "-m", "autograder.runtime.worker", str(self.submission), self.device,
                   str(self.threads), json.dumps(self.stalled)]
        command, env = self.sandbox.command(program, folder, self.submission, self.device)
        env = {**env, **thread_environment(self.threads), **self.environment}
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=folder / "work",
            env=env,
            start_new_session=True,  # its own process group: kill() also ends processes it forked
        )
        self._output = OutputTail(self.process.stderr)

    def output_mark(self) -> tuple[int, int]:
        """Where the worker's output stands now, for ``output_since``."""
        return (id(self._output), self._output.total) if self._output is not None else (0, 0)

    def output_since(self, mark: tuple[int, int]) -> str:
        """What the worker (the submission's prints, mostly) wrote after ``mark``; after a restart,
        what the new worker wrote."""
        if self._output is None:
            return ""
        return self._output.since(mark[1] if mark[0] == id(self._output) else 0)

    def stderr_tail(self, wait_s: float = 0.0) -> str:
        """The last bytes the worker (and the submission's prints) wrote to stderr."""
        return self._output.tail(STDERR_TAIL_BYTES, wait_s) if self._output is not None else ""

    def kill(self) -> None:
        """End the worker and every process it started (they share its process group)."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # the group outlives an exited leader's children
        except (ProcessLookupError, PermissionError):
            pass
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def _release(self) -> None:
        """Close the pipes of the last worker (after kill)."""
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except (OSError, ValueError):
                pass
        if self._output is not None:
            self._output.close()
            self._output = None

    def start(self) -> None:
        """Start the worker process now, where none runs (a request starts one otherwise): it loads
        while the grader does something else."""
        if self.process is None or self.process.poll() is not None:
            self._start()

    def companion(self, key: str, submission: Path, device: str = "cpu",
                  environment: dict[str, str] | None = None) -> "Worker":
        """The worker kept under ``key`` beside this one, for ``submission`` (made on first use, confined
        alike, closed with this one). One for this worker's own submission refuses the functions this
        one found stalled, and the other way round."""
        if key not in self.companions:
            other = Worker(submission, device, self.sandbox, self.threads, environment)
            if other.submission == self.submission:
                other.stalled = self.stalled
            self.companions[key] = other
        return self.companions[key]

    def close(self) -> None:
        for other in self.companions.values():
            other.close()
        self.kill()
        if self.process is not None:
            self._release()
        self._folder.cleanup()

    def _stopped(self, error: Exception) -> str:
        """Why the worker stopped answering (``error``: what reading its reply raised): exit code or
        signal, and its last output."""
        try:
            self.process.wait(timeout=EXIT_GRACE_S)
        except subprocess.TimeoutExpired:
            pass
        code = self.process.poll()
        self.kill()
        if code is None:
            how = _("the worker broke the protocol ({error}) and was stopped").format(error=error)
        elif code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = _("signal {number}").format(number=-code)
            how = _("the worker running your code was killed by {signal} (exit code {code})").format(
                signal=name, code=code)
            if -code == signal.SIGKILL:
                how += " " + _("(the machine ran out of memory, a sandbox limit was reached, "
                               "or your code killed itself)")
            elif -code == signal.SIGXCPU:
                how += "; " + _("it used up the sandbox's CPU time limit")
        else:
            how = _("the worker running your code stopped (exit code {code}); "
                    "does it call exit() or os._exit()?").format(code=code)
        tail = [line[:200] for line in self.stderr_tail(wait_s=1.0).splitlines()[-3:]]
        return how + ("; " + _("last output: {output}").format(output=" | ".join(tail)) if tail else "")

    def _stall(self, mark: tuple[int, int], wait_s: float = 0.0) -> Stall | None:
        """The submission's function named by the stack the worker wrote since ``mark``, if any."""
        deadline = time.monotonic() + wait_s
        while True:
            stall = stalled_function(self.output_since(mark), self.submission, LAB_MODULES)
            if stall is not None or time.monotonic() >= deadline:
                return stall
            time.sleep(0.05)

    def _remember(self, stall: Stall, message: str, crashed: bool = False) -> None:
        """Make every later worker refuse ``stall``'s function at once, saying ``message``."""
        self.stalled[stall.qualified] = {"message": _("{message}, so it is not run again").format(message=message),
                                         "crashed": crashed}

    def request(self, header: dict, tensors: dict[str, torch.Tensor] | None = None, timeout: float = 60.0):
        """Send one request; returns (reply header, reply tensors).

        Raises SubmissionError when the submission's code raised, WorkerFailure when the worker
        timed out or died (it is then killed, and the next request starts a fresh one).
        """
        self.start()
        box: dict[str, Any] = {}
        mark = self.output_mark()
        header = {**header, "watchdog_s": max(timeout / 2, timeout - WATCHDOG_LEAD_S)}

        def exchange() -> None:
            try:
                write_message(self.process.stdin, header, tensors)
                box["reply"] = read_message(self.process.stdout)
            except (ProtocolError, OSError, ValueError) as error:
                box["error"] = error

        thread = threading.Thread(target=exchange, daemon=True)
        thread.start()
        thread.join(timeout)
        if thread.is_alive():
            stall = self._stall(mark, wait_s=DUMP_WAIT_S)
            self.kill()
            thread.join(5)
            if stall is not None:
                self._remember(stall, _("{function} did not return within its time limit earlier in this grading (an "
                                        "infinite loop or a very slow step?)").format(function=stall.where))
            raise WorkerTimeout(_("no answer within {seconds} s (an infinite loop or a very slow step?)").format(
                seconds=f"{timeout:.3g}"), stall)
        if "error" in box:
            message = self._stopped(box["error"])
            stall = self._stall(mark)
            if stall is not None:
                message = _("{where}: {message}").format(where=stall.where, message=message)
                self._remember(stall, _("{function} stopped the worker earlier in this grading ({reason})").format(
                    function=stall.where, reason=message), crashed=True)
            raise WorkerFailure(message)
        reply, reply_tensors = box["reply"]
        if not reply.get("ok"):
            if reply.get("stop"):
                self.kill()  # the next request starts a fresh worker
            raise SubmissionError.from_reply(reply)
        return reply, reply_tensors
