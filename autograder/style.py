"""Clean-code report for the teaching assistant: docstring coverage and ruff findings per lab file.

The slides grade "Código limpio y bien documentado". This module measures two things a TA can
read at a glance, on the submission's lab files (``resnet.py``, ``attention.py``, ...):

- **Docstring coverage** of the public API, read with ``ast`` (the code is never imported or run).
  Counted, each once by name: the module docstring (named ``<module>``), every public class and
  function defined directly in the module body, and every public method defined directly in the
  body of those public classes (``Class.method``). Public means the name does not start with
  ``_``, so ``__init__`` and other dunders are not counted, nor are private classes' methods,
  nested functions or classes, or definitions under ``if``/``try``. A name defined more than once
  (a property and its setter) counts once, documented if any of its definitions is. A docstring
  made only of whitespace does not count.
- **ruff findings**, with a short rule set suited to student code (``SELECT`` minus ``IGNORE``):

  - ``F`` (pyflakes): unused imports and variables, undefined names, redefinitions: real mistakes.
  - ``E`` (pycodestyle errors, stable rules only: no ``--preview``): semicolons, multiple
    statements on a line, bare ``except``, ``== None``, lambda assignment, ambiguous names, and
    lines over ``LINE_LENGTH`` = 120 characters (the skeletons' own limit).
  - ``W191`` and ``W605`` (tab indentation, invalid escape sequences). ``W291``/``W292``/``W293``
    (trailing whitespace, no final newline, whitespace on blank lines) are ignored: they are
    invisible, editors and notebook exports leave them, and one file could have hundreds.
  - ``B`` (bugbear): mutable default arguments, loop variables captured by closures, useless
    expressions, ``assert False``. Ignored: ``B905`` (``zip()`` without ``strict=``, which fires
    on the example submission and is a matter of taste in student code) and ``B028``
    (``stacklevel`` in ``warnings.warn``).
  - ``N801``, ``N802``, ``N805`` (class names in CapWords, function names in lowercase, ``self``
    as a method's first argument). The rest of ``N`` fights the course's own style: ``N812``
    fires on ``import torch.nn.functional as F`` in the solutions, ``N806``/``N803`` would fire on
    the shape names ``B, C, H, W = x.shape`` that the docstrings use.

  On the kit (ruff 0.17.6) the reference solutions give no findings. The skeletons give 13, all
  from their unfinished bodies: ``F401`` for imports the student's code will use and ``F841`` for
  variables prepared for it (``hidden = ...``); a completed submission uses them.

ruff runs once, as a subprocess (the binary pip installed for this Python: see ``ruff_binary``),
on copies of the files in a private temporary folder, with ``--isolated`` (the submission's
``ruff.toml``/``pyproject.toml`` and the user's config are ignored), ``--ignore-noqa`` (a
``# ruff: noqa`` comment cannot hide findings), ``--no-cache``, the rules above and a timeout. A
file that is missing, over ``MAX_BYTES``, not UTF-8 or not valid Python is reported as such with
coverage 0; if ruff is missing, fails or times out, the report says so and still gives coverage.
Nothing here raises because of the files or ruff.

The Gradescope image needs ruff installed for this (``autograder.tools.gradescope_package.REQUIREMENTS``);
without it every report says that ruff could not run.
"""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Union

from autograder.i18n import _

SELECT = ("F", "E", "W", "B", "N801", "N802", "N805")
"""ruff rule codes and prefixes checked (see the module docstring for why)."""
IGNORE = ("W291", "W292", "W293", "B905", "B028")
"""Rules inside ``SELECT`` that are not checked."""
LINE_LENGTH = 120
"""Longest line, in characters, before ``E501``."""
MAX_BYTES = 1_000_000
"""Larger files are reported as too large and not checked (the lab files are 3-20 kB)."""
TIMEOUT_S = 20.0
"""Default limit, in seconds, for the one ruff run that checks all files."""
FINDINGS_FOR_ZERO = 20
"""Findings at which the findings half of ``StyleReport.fraction`` reaches 0."""
SHOWN = 5
"""Undocumented names and findings listed per file in ``StyleReport.text``."""


@dataclass(frozen=True)
class Finding:
    """One ruff finding."""

    file: str
    """The file's name, e.g. ``vit.py``."""
    line: int
    """1-based line."""
    column: int
    """1-based column."""
    code: str
    """Rule code, e.g. ``F401`` (``syntax`` for a syntax error only ruff sees)."""
    message: str
    """ruff's message, e.g. ``\\`math\\` imported but unused``."""

    def text(self) -> str:
        """``file:line:col CODE message``."""
        return f"{self.file}:{self.line}:{self.column} {self.code} {self.message}"


@dataclass(frozen=True)
class FileStyle:
    """Docstring coverage and ruff findings of one file."""

    name: str
    """The file's name (the last component of its path)."""
    documented: int
    """Counted names (the module docstring included) that have a docstring."""
    total: int
    """Names counted: at least 1 (the module) when the file was parsed, 0 when it was not."""
    undocumented: tuple[str, ...]
    """Counted names without a docstring, in source order: ``<module>``, ``func``, ``Class.method``."""
    findings: tuple[Finding, ...] = ()
    """ruff's findings, by line and column (empty when ruff did not run on the file)."""
    problem: Optional[str] = None
    """Why the file could not be checked (missing, too large, not UTF-8, syntax error); None if it was."""

    @property
    def coverage(self) -> float:
        """``documented / total`` in [0, 1]; 0 for a file that could not be parsed."""
        return self.documented / self.total if self.total else 0.0


@dataclass(frozen=True)
class StyleReport:
    """The clean-code report of a submission: one ``FileStyle`` per file given, in that order."""

    files: tuple[FileStyle, ...]
    """Per-file results."""
    ruff_problem: Optional[str] = None
    """Why ruff could not run (missing, failed, timed out); None when it ran or had nothing to check."""

    @property
    def coverage(self) -> float:
        """Mean of the files' coverage in [0, 1]: each file weighs the same, an unchecked one counts 0."""
        return sum(f.coverage for f in self.files) / len(self.files) if self.files else 0.0

    @property
    def checked(self) -> float:
        """Share of the files that could be read and parsed, in [0, 1]."""
        return sum(f.problem is None for f in self.files) / len(self.files) if self.files else 0.0

    @property
    def findings(self) -> int:
        """Number of ruff findings over all files."""
        return sum(len(f.findings) for f in self.files)

    def fraction(self) -> float:
        """A score in [0, 1]: ``0.5 * coverage + 0.5 * checked * max(0, 1 - findings / FINDINGS_FOR_ZERO)``.

        ``checked`` is the share of files read and parsed, so a missing or broken file earns
        neither half. When ruff could not run, the findings are unknown and the score is
        ``coverage`` alone. With no files it is 0.
        """
        if not self.files:
            return 0.0
        if self.ruff_problem is not None:
            return self.coverage
        return 0.5 * self.coverage + 0.5 * self.checked * max(0.0, 1.0 - self.findings / FINDINGS_FOR_ZERO)

    def text(self) -> str:
        """A short multi-line summary: totals, then per file its coverage, missing docstrings and findings."""
        documented = sum(f.documented for f in self.files)
        total = sum(f.total for f in self.files)
        findings = (_("ruff not run") if self.ruff_problem else
                    _count(self.findings, _("no ruff findings"), _("{count} ruff finding"), _("{count} ruff findings")))
        lines = [_("Clean code: docstrings {documented}/{total} (coverage {coverage}, mean over files), "
                   "{findings}, score {score}").format(documented=documented, total=total,
                                                        coverage=f"{self.coverage:.0%}", findings=findings,
                                                        score=f"{self.fraction():.2f}")]
        if self.ruff_problem:
            lines.append("  " + _("ruff could not run: {problem}").format(problem=self.ruff_problem))
        for f in self.files:
            if f.problem:
                lines.append("  " + _("{file}: {problem} (coverage 0)").format(file=f.name, problem=f.problem))
                continue
            found = "" if self.ruff_problem else ", " + _count(len(f.findings), _("no findings"), _("{count} finding"),
                                                               _("{count} findings"))
            lines.append("  " + _("{file}: docstrings {documented}/{total}").format(
                file=f.name, documented=f.documented, total=f.total) + found)
            if f.undocumented:
                more = len(f.undocumented) - SHOWN
                names = ", ".join(f.undocumented[:SHOWN])
                lines.append("    " + (_("no docstring: {names} and {count} more").format(names=names, count=more)
                                       if more > 0 else _("no docstring: {names}").format(names=names)))
            lines.extend(f"    {finding.text()}" for finding in f.findings[:SHOWN])
            if len(f.findings) > SHOWN:
                lines.append("    " + _("... and {count} more findings").format(count=len(f.findings) - SHOWN))
        return "\n".join(lines)


def _count(number: int, none: str, one: str, many: str) -> str:
    """``none`` for 0, else ``one`` (for 1) or ``many`` with ``{count}`` filled: translated messages."""
    return none if number == 0 else (one if number == 1 else many).format(count=number)


def style_report(paths: Iterable[Union[str, os.PathLike]], timeout: float = TIMEOUT_S) -> StyleReport:
    """The clean-code report of the files at ``paths``; nothing about the files or ruff makes it raise."""
    paths = [Path(p) for p in paths]
    sources, files = {}, []
    for index, path in enumerate(paths):
        text, problem = _read(path)
        if text is not None:
            try:
                documented, undocumented = _coverage(ast.parse(text, filename=path.name))
                sources[index] = (path.name, text)
            except SyntaxError as error:
                problem = _("syntax error at line {line}: {message}").format(line=error.lineno, message=error.msg)
            except (ValueError, RecursionError, MemoryError) as error:
                problem = _("cannot be parsed ({kind}: {error})").format(kind=type(error).__name__, error=error)[:200]
        if problem:
            files.append(FileStyle(path.name, 0, 0, (), problem=problem))
        else:
            files.append(FileStyle(path.name, documented, documented + len(undocumented), tuple(undocumented)))
    found, ruff_problem = _ruff(sources, timeout)
    files = [FileStyle(f.name, f.documented, f.total, f.undocumented, tuple(found.get(i, ())), f.problem)
             for i, f in enumerate(files)]
    return StyleReport(tuple(files), ruff_problem)


def _read(path: Path) -> tuple[Optional[str], Optional[str]]:
    """(text, None), or (None, why the file cannot be read)."""
    try:
        if not path.exists():
            # TRANSLATORS: a lab file's state in the clean-code report: "resnet.py: missing (coverage 0)".
            return None, _("missing")
        if not path.is_file():
            return None, _("not a regular file")
        with path.open("rb") as stream:
            data = stream.read(MAX_BYTES + 1)
    except (OSError, ValueError) as error:  # ValueError: a NUL byte in the path
        return None, _("cannot be read: {error}").format(error=getattr(error, "strerror", None) or error)
    if len(data) > MAX_BYTES:
        return None, _("too large (over {limit} bytes), not checked").format(limit=MAX_BYTES)
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as error:
        return None, _("not UTF-8 text (byte {position}: {reason})").format(position=error.start, reason=error.reason)


def _coverage(tree: ast.Module) -> tuple[int, list[str]]:
    """(documented count, undocumented names) over the counted names (see the module docstring)."""
    names = {"<module>": _has_docstring(tree)}
    for node in tree.body:
        if not _public(node):
            continue
        names[node.name] = names.get(node.name, False) or _has_docstring(node)
        if isinstance(node, ast.ClassDef):
            for method in node.body:
                if _public(method) and not isinstance(method, ast.ClassDef):
                    key = f"{node.name}.{method.name}"
                    names[key] = names.get(key, False) or _has_docstring(method)
    return sum(names.values()), [name for name, documented in names.items() if not documented]


def _public(node: ast.AST) -> bool:
    defines = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    return defines and not node.name.startswith("_")


def _has_docstring(node: ast.AST) -> bool:
    return bool((ast.get_docstring(node, clean=False) or "").strip())


def ruff_binary() -> Optional[str]:
    """The ruff executable pip installed for this Python, or None.

    Looked for next to ``sys.executable``, then in this Python's scripts folders (those the ruff
    package's ``find_ruff_bin`` searches: e.g. /usr/local/bin for a Debian system Python, and the
    user scheme's); not on ``PATH``, which may hold another version.
    """
    name = "ruff" + (sysconfig.get_config_var("EXE") or "")
    folders = [str(Path(sys.executable).parent), sysconfig.get_path("scripts"),
               sysconfig.get_path("scripts", vars={"base": sys.base_prefix})]
    try:
        folders.append(sysconfig.get_path("scripts", scheme=sysconfig.get_preferred_scheme("user")))
    except (KeyError, ValueError):  # a Python built without a user scheme
        pass
    for folder in folders:
        if folder and os.path.isfile(os.path.join(folder, name)):
            return os.path.join(folder, name)
    return None


def _ruff(sources: dict[int, tuple[str, str]], timeout: float) -> tuple[dict[int, list[Finding]], Optional[str]]:
    """Findings per file index for ``{index: (name, text)}`` from one ruff run, and why ruff failed (or None)."""
    if not sources:
        return {}, None
    binary = ruff_binary()
    if binary is None:
        return {}, _("ruff is not installed with this Python")
    with tempfile.TemporaryDirectory(prefix="style-") as folder:
        targets = []
        for index, (name, text) in sources.items():
            target = Path(folder) / str(index) / (name if name.endswith(".py") else name + ".py")
            target.parent.mkdir()
            target.write_text(text, encoding="utf-8")
            targets.append(str(target))
        command = [binary, "check", "--isolated", "--no-cache", "--ignore-noqa", "--no-preview",
                   "--output-format", "json", "--select", ",".join(SELECT), "--ignore", ",".join(IGNORE),
                   "--line-length", str(LINE_LENGTH), "--target-version", f"py3{sys.version_info.minor}",
                   "--", *targets]
        try:
            done = subprocess.run(command, capture_output=True, timeout=timeout, cwd=folder,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return {}, _("timed out after {seconds} s").format(seconds=f"{timeout:g}")
        except OSError as error:
            return {}, _("cannot be started: {error}").format(error=error.strerror or error)
    if done.returncode not in (0, 1):  # 1: findings; 2: ruff's own error
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
        return {}, _("exit status {code}").format(code=done.returncode) + (f": {detail[-1][:200]}" if detail else "")
    found: dict[int, list[Finding]] = {}
    try:
        for item in json.loads(done.stdout):
            index = int(Path(item["filename"]).parent.name)
            row, column = int(item["location"]["row"]), int(item["location"]["column"])
            code = item.get("code") or "syntax"
            found.setdefault(index, []).append(Finding(sources[index][0], row, column, code, str(item["message"])))
    except (ValueError, KeyError, TypeError) as error:
        return {}, _("unreadable output ({kind}: {error})").format(kind=type(error).__name__, error=error)[:200]
    for findings in found.values():
        findings.sort(key=lambda f: (f.line, f.column, f.code))
    return found, None
