"""How a worker is confined: resource limits always, Linux namespaces where the machine allows.

Modes (``--sandbox``):

- ``auto`` (default): namespaces when ``unshare`` can make them here, else limits only, and the
  report says so once;
- ``namespaces``: namespaces or no grading (for a course that must not run without them);
- ``limits``: resource limits only;
- ``off``: a bare worker, as a developer debugging the kit would run it.

In namespaces (``unshare --user --map-root-user --net --pid --mount``, then ``autograder.runtime.jail``) a
worker has no network, its own PID namespace (it cannot see or signal the grader or other
workers), and a read-only view of only the system, Python, its own code and its submission, plus
a private writable working folder and /tmp. The limits (``grading.yml``'s ``sandbox`` section)
cap memory (RLIMIT_DATA, on the CPU only: CUDA maps memory the limit would count), CPU time, the
size of a written file, and, in namespaces, the number of processes and threads.
"""
from __future__ import annotations

import dataclasses
import functools
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from autograder import paths
from autograder.rubric import SandboxLimits

MODES = ("auto", "namespaces", "limits", "off")
UNSHARE = ["unshare", "--user", "--map-root-user", "--net", "--pid", "--mount"]
RUNTIME = paths.ROOT / "autograder" / "runtime"
"""The kit's code a worker runs (``autograder.runtime``, with the package's ``__init__.py``): copied
next to it, so that the kit's folder stays out of its view."""
WORKER_ENVIRONMENT = {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"}
"""Set for every worker: no bytecode files; unbuffered, so its last prints arrive even when it crashes."""
PASSED_ENVIRONMENT = ("PATH", "LANG", "LC_", "TZ", "OMP_", "MKL_", "KMP_", "OPENBLAS_", "CUDA_", "NVIDIA_",
                      "LD_LIBRARY_PATH", "PYTORCH_", "TORCH_", "CUBLAS_", "CUDNN_")
"""Prefixes of the grader's environment variables a confined worker gets: what Python, torch and
the GPU need. Others (an instructor's API keys, tokens) stay out of the submission's reach."""
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/sys")
PROBE_TIMEOUT_S = 60.0


class SandboxUnavailable(RuntimeError):
    """``--sandbox namespaces`` was asked for where namespaces cannot be made."""


@dataclass(frozen=True)
class Limits(SandboxLimits):
    """Per-worker resource limits: ``grading.yml``'s ``sandbox`` section (``SandboxLimits``, which
    declares them and their defaults), enforced. Without namespaces ``processes`` is not set: the
    limit would count every process of the grading user."""

    @classmethod
    def of(cls, settings: SandboxLimits) -> Limits:
        return cls(**dataclasses.asdict(settings))

    def rlimits(self, device: str, isolated: bool) -> dict:
        return {"data": self.memory_mb << 20 if device == "cpu" else None, "cpu": self.cpu_time_s,
                "fsize": self.file_size_mb << 20, "nproc": self.processes if isolated else None}

    def describe(self, device: str, isolated: bool) -> str:
        parts = [f"memory {self.memory_mb} MB" if device == "cpu" else "memory not limited on CUDA",
                 f"CPU {self.cpu_time_s} s", f"files {self.file_size_mb} MB"]
        if isolated:
            parts.append(f"{self.processes} processes and threads")
        return ", ".join(parts)


@dataclass(frozen=True)
class Sandbox:
    """A sandbox mode and its limits; ``command`` wraps a worker's command line in it."""

    mode: str = "auto"
    limits: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"sandbox mode must be one of {', '.join(MODES)}, got {self.mode!r}")

    def isolated(self, device: str) -> bool:
        """Whether workers run in namespaces; SandboxUnavailable if required and impossible."""
        if self.mode in ("limits", "off"):
            return False
        reason = namespaces_unavailable(device)
        if reason and self.mode == "namespaces":
            raise SandboxUnavailable(f"--sandbox namespaces: {reason}")
        return reason is None

    def note(self, device: str) -> str:
        """One line for the report: how the workers were confined."""
        if self.mode == "off":
            return "Sandbox: off (the workers ran without limits or isolation)."
        isolated = self.isolated(device)
        limits = self.limits.describe(device, isolated)
        if isolated:
            return (f"Sandbox: Linux namespaces (no network, own PID namespace, read-only view of the "
                    f"submission); limits: {limits}.")
        if self.mode == "limits":
            return f"Sandbox: resource limits only ({limits}), as asked."
        return (f"Sandbox: Linux namespaces are not available here ({namespaces_unavailable(device)}); "
                f"the workers ran with resource limits only ({limits}): no network or file isolation.")

    def command(self, program: list[str], folder: Path, submission: Path, device: str) -> tuple[list[str], dict]:
        """The command line and environment that run ``program`` (a worker) confined.

        ``folder`` is the worker's own temporary folder: its code is copied to ``folder/runtime``,
        ``folder/work`` is its working folder, ``folder/root`` the new root's mount point.
        """
        if self.mode == "off":
            (folder / "work").mkdir(exist_ok=True)
            return program, {**os.environ, **WORKER_ENVIRONMENT, "PYTHONPATH": str(paths.ROOT)}
        isolated = self.isolated(device)
        return confine(program, folder, [submission], self.limits.rlimits(device, isolated), isolated)


def confine(program: list[str], folder: Path, readable: list[Path], limits: dict,
            isolated: bool) -> tuple[list[str], dict]:
    """``program`` run by the jail (in namespaces when ``isolated``), seeing ``readable`` too."""
    runtime, work = folder / "runtime", folder / "work"
    copy_runtime(runtime)
    work.mkdir(exist_ok=True)
    (folder / "root").mkdir(exist_ok=True)
    passed = {name: value for name, value in os.environ.items() if name.startswith(PASSED_ENVIRONMENT)}
    env = {**passed, **WORKER_ENVIRONMENT, "PYTHONPATH": str(runtime), "HOME": str(work),
           "TMPDIR": "/tmp" if isolated else str(work), "MPLCONFIGDIR": str(work / ".matplotlib"),
           "XDG_CACHE_HOME": str(work / ".cache")}
    visible = visible_paths()
    spec = {"isolate": isolated, "root": str(folder / "root"), "cwd": str(work), "limits": limits,
            "read_only": visible + [str(runtime)] + [str(p) for p in readable],
            "hidden": installed_kit(visible), "writable": [str(work)]}
    jail = [sys.executable, "-m", "autograder.runtime.jail", json.dumps(spec), "--"]
    return (UNSHARE if isolated else []) + jail + program, env


def copy_runtime(runtime: Path) -> None:
    """Copy the worker's code (``RUNTIME``) to ``runtime/autograder``."""
    package = runtime / "autograder"
    package.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(RUNTIME.parent / "__init__.py", package / "__init__.py")
    shutil.copytree(RUNTIME, package / "runtime", ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)


def visible_paths() -> list[str]:
    """What a worker in namespaces may read: the system, and Python with its installed packages.

    The prefixes of the grader's Python and the package folders (``site-packages``,
    ``dist-packages``) on its ``sys.path``, never other entries: ``python -m`` puts the folder
    the grader was started from there, which may hold the class's submissions. Nothing that holds
    the kit's own folder either (a virtual environment inside the kit is fine).
    """
    kit = str(paths.ROOT)
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))}
    packages = {os.path.realpath(p) for p in sys.path if os.path.basename(p) in ("site-packages", "dist-packages")}
    chosen = set(SYSTEM_PATHS)
    for path in prefixes | packages:
        holds_kit = kit == path or kit.startswith(path.rstrip("/") + "/")
        if os.path.exists(path) and not holds_kit:
            chosen.add(path)
    return sorted(chosen)


def installed_kit(visible: list[str]) -> list[str]:
    """Folders of the kit's packages with grading code (``solutions``, ``autograder``) that lie
    inside ``visible`` (what a worker sees), as after a non-editable ``pip install``: the jail
    shows them empty."""
    found = []
    for name in ("solutions", "autograder"):
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        for location in (spec.submodule_search_locations or []) if spec else []:
            location = os.path.realpath(location)
            if any(location.startswith(path.rstrip("/") + "/") for path in visible):
                found.append(location)
    return found


@functools.cache
def namespaces_unavailable(device: str) -> str | None:
    """Why workers cannot run in namespaces here (None when they can): tried once per device.

    The try runs the jail for real around a Python that finds and reads torch (for ``cuda``, one
    that imports it and sees the GPU), so that whatever the worker needs is known to be in its view.
    On the CPU it does not import torch: that takes more than a second, on every grade.
    """
    if sys.platform != "linux":
        return f"namespaces are Linux only (this is {sys.platform})"
    if shutil.which("unshare") is None:
        return "the unshare command (util-linux) is not installed"
    if device == "cuda":
        check = "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 3)"
    else:
        check = ("import importlib.util, sys; spec = importlib.util.find_spec('torch'); "
                 "sys.exit(4) if spec is None else open(spec.origin, 'rb').close()")
    with tempfile.TemporaryDirectory(prefix="lab3-probe-") as scratch:
        argv, env = confine([sys.executable, "-c", check], Path(scratch), [], Limits().rlimits(device, True), True)
        try:
            done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=PROBE_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"unshare could not run: {error}"
    if done.returncode == 0:
        return None
    if done.returncode == 3:
        return "the GPU is not visible inside them"
    if done.returncode == 4:
        return "torch is not in their view of the files"
    last = (done.stderr.decode("utf-8", "replace").strip().splitlines() or [f"exit code {done.returncode}"])[-1]
    return f"unshare failed: {last[:200]}"
