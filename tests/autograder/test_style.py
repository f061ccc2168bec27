"""The clean-code report (``autograder.style``): docstring coverage and ruff findings per lab file.

Strategy: run the report for real (the pinned ruff binary, no mocks) on the kit's reference
solutions and skeletons, asserting what was measured there (full coverage; no findings on the
solutions; on the skeletons exactly the unused imports and prepared variables of their unfinished
bodies), and on small throwaway files written to ``tmp_path`` whose exact findings and coverage are
known by construction. Broken input (syntax error, missing, non-UTF-8, too large) and a broken ruff
(missing, exiting 2, hanging, printing garbage; a fake binary via ``monkeypatch`` on
``style.ruff_binary``) must each give a report line and never raise. Configuration that a
submission or the user could use to switch rules off (``ruff.toml``, ``pyproject.toml``, a user
config under ``XDG_CONFIG_HOME``, ``# ruff: noqa``) must not change the findings.
"""
from __future__ import annotations

import collections
import shutil
import stat
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

from autograder import paths, style
from autograder.style import FileStyle, Finding, StyleReport, style_report

LAB_FILES = ("resnet.py", "attention.py", "vit.py", "gradcam.py", "profiler.py")

SCRATCH = '''"""A throwaway module."""
import os


class Net:
    """A network."""

    def __init__(self):
        self.scale = 2

    def forward(self, x):
        return undefined_name + x

    def backward(self, grad):
        return grad

    def reset(self):
        """Documented."""

    def _helper(self):
        return 1


def helper():
    return 2


def _private():
    return 3
'''
"""One unused import (line 2), one undefined name (line 12), three public names without docstrings."""
SCRATCH_FINDINGS = [(2, 8, "F401"), (12, 16, "F821")]
SCRATCH_UNDOCUMENTED = ("Net.forward", "Net.backward", "helper")


def write(folder: Path, name: str, content: str | bytes) -> Path:
    """Write a file (text as UTF-8) and return its path."""
    path = folder / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def located(report_file: FileStyle) -> list[tuple[int, int, str]]:
    """(line, column, code) of a file's findings."""
    return [(f.line, f.column, f.code) for f in report_file.findings]


def fake_ruff(folder: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    """Make ``style`` use a shell script as its ruff binary."""
    binary = folder / "fake-ruff"
    binary.write_text("#!/bin/sh\n" + script + "\n")
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(style, "ruff_binary", lambda: str(binary))


def test_the_reference_solutions_are_fully_documented_and_give_no_findings():
    report = style_report([paths.SOLUTIONS / name for name in LAB_FILES])
    assert report.ruff_problem is None
    assert [f.name for f in report.files] == list(LAB_FILES)
    for f in report.files:
        assert f.problem is None and f.total >= 3 and f.documented == f.total and f.undocumented == ()
    assert report.findings == 0 and report.coverage == 1.0 and report.fraction() == 1.0


def test_the_skeletons_are_fully_documented_and_only_their_unfinished_bodies_give_findings():
    report = style_report([paths.SKELETONS / name for name in LAB_FILES])
    assert report.ruff_problem is None and report.coverage == 1.0
    by_file = collections.Counter((f.file, f.code) for file in report.files for f in file.findings)
    assert by_file == {
        ("resnet.py", "F841"): 2,  # preact, final_channels
        ("attention.py", "F841"): 2,  # hidden, twice
        ("vit.py", "F401"): 2,  # math, torch.nn.functional
        ("vit.py", "F841"): 1,  # hidden
        ("gradcam.py", "F401"): 1,  # torch.nn.functional
        ("profiler.py", "F401"): 5,  # copy, statistics, time, torch.nn.functional, FlopCounterMode
    }


def test_a_throwaway_file_gets_exactly_its_findings_and_its_coverage(tmp_path):
    report = style_report([write(tmp_path, "scratch.py", SCRATCH)])
    (scratch,) = report.files
    assert located(scratch) == SCRATCH_FINDINGS
    assert "`os` imported but unused" in scratch.findings[0].message
    assert "undefined_name" in scratch.findings[1].message
    assert (scratch.documented, scratch.total, scratch.undocumented) == (3, 6, SCRATCH_UNDOCUMENTED)
    assert report.fraction() == pytest.approx(0.5 * 0.5 + 0.5 * (1 - 2 / 20))
    text = report.text()
    assert "scratch.py: docstrings 3/6, 2 findings" in text
    assert "no docstring: Net.forward, Net.backward, helper" in text
    assert "scratch.py:2:8 F401 `os` imported but unused" in text
    assert "scratch.py:12:16 F821 Undefined name `undefined_name`" in text


def test_coverage_counts_public_top_level_names_and_public_methods_of_public_classes_only(tmp_path):
    source = '''"""Module."""
import functools


class Shown:
    """Class."""

    @property
    def size(self):
        """Documented once, on the getter."""
        return 1

    @size.setter
    def size(self, value):
        pass

    def blank(self):
        """   """

    async def fetch(self):
        """Async methods count."""

    def __call__(self):
        pass

    class Inner:
        pass


class _Hidden:
    def method(self):
        pass


if True:
    def under_if():
        pass


@functools.cache
def decorated():
    def nested():
        pass
    return nested
'''
    (f,) = style_report([write(tmp_path, "counting.py", source)]).files
    assert (f.documented, f.total) == (4, 6)
    assert f.undocumented == ("Shown.blank", "decorated")


def test_a_file_without_a_module_docstring_names_it_first(tmp_path):
    (f,) = style_report([write(tmp_path, "bare.py", "def f():\n    return 1\n")]).files
    assert (f.documented, f.total, f.undocumented) == (0, 2, ("<module>", "f"))


def test_broken_files_are_reported_not_raised_and_the_good_file_beside_them_is_still_checked(tmp_path):
    files = [
        write(tmp_path, "broken.py", '"""Doc."""\ndef f(:\n    pass\n'),
        tmp_path / "absent.py",
        write(tmp_path, "latin.py", '"""Caf\xe9."""\n'.encode("latin-1")),
        write(tmp_path, "huge.py", b"# padding\n" * (style.MAX_BYTES // 10 + 1)),
        write(tmp_path, "nul.py", b'"""Doc."""\nx = 1\x00\n'),
        tmp_path,
        write(tmp_path, "scratch.py", SCRATCH),
    ]
    report = style_report(files)
    problems = {f.name: f.problem for f in report.files}
    assert problems["broken.py"].startswith("syntax error at line 2")
    assert problems["absent.py"] == "missing"
    assert problems["latin.py"].startswith("not UTF-8 text (byte 6")
    assert problems["huge.py"].startswith("too large")
    assert problems["nul.py"] is not None
    assert problems[tmp_path.name] == "not a regular file"
    assert problems["scratch.py"] is None
    for f in report.files[:-1]:
        assert (f.documented, f.total, f.coverage, f.findings) == (0, 0, 0.0, ())
    assert located(report.files[-1]) == SCRATCH_FINDINGS and report.ruff_problem is None
    assert report.coverage == pytest.approx(0.5 / 7)
    assert report.fraction() == pytest.approx(0.5 * 0.5 / 7 + 0.5 * (1 / 7) * (1 - 2 / 20))
    text = report.text()
    for line in ("broken.py: syntax error at line 2", "absent.py: missing (coverage 0)", "latin.py: not UTF-8",
                 "huge.py: too large"):
        assert line in text


def test_the_submissions_own_configuration_and_noqa_comments_do_not_change_the_findings(tmp_path, monkeypatch):
    plain = tmp_path / "plain"
    plain.mkdir()
    expected = located(style_report([write(plain, "scratch.py", SCRATCH)]).files[0])
    assert expected == SCRATCH_FINDINGS

    configured = tmp_path / "configured"
    configured.mkdir()
    # An explicit --select overrides a config's select/ignore, but not builtins or per-file-ignores.
    hiding = 'builtins = ["undefined_name"]\n[lint]\nignore = ["F", "E"]\n[lint.per-file-ignores]\n"*.py" = ["F"]\n'
    write(configured, "ruff.toml", hiding)
    write(configured, ".ruff.toml", hiding)
    write(configured, "pyproject.toml", "[tool.ruff]\n" + hiding.replace("[lint", "[tool.ruff.lint"))
    user = tmp_path / "user-config" / "ruff"
    user.mkdir(parents=True)
    write(user, "ruff.toml", hiding)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(user.parent))
    assert located(style_report([write(configured, "scratch.py", SCRATCH)]).files[0]) == expected

    suppressed = SCRATCH.replace("import os\n", "import os  # noqa\n")
    suppressed = suppressed.replace("undefined_name + x\n", "undefined_name + x  # noqa: F821\n")
    assert located(style_report([write(configured, "quiet.py", "# ruff: noqa\n" + suppressed)]).files[0]) == [
        (line + 1, column, code) for line, column, code in SCRATCH_FINDINGS]


def test_a_ruff_that_exits_2_gives_a_report_that_says_so_with_coverage(tmp_path, monkeypatch):
    fake_ruff(tmp_path, monkeypatch, 'echo "ruff failed: broken install" >&2\nexit 2')
    report = style_report([paths.SOLUTIONS / "attention.py", write(tmp_path, "scratch.py", SCRATCH)])
    assert report.ruff_problem == "exit status 2: ruff failed: broken install"
    assert report.findings == 0
    assert report.coverage == pytest.approx((1.0 + 0.5) / 2) and report.fraction() == report.coverage
    text = report.text()
    assert "ruff not run" in text and "ruff could not run: exit status 2" in text
    assert "attention.py: docstrings" in text and "scratch.py: docstrings 3/6\n" in text


@pytest.mark.parametrize("script, problem", [
    ("exec sleep 30", "timed out after 0.5 s"),
    ("echo 'not json'; exit 1", "unreadable output"),
    ('echo \'[{"filename": "/elsewhere/x.py"}]\'; exit 1', "unreadable output"),
])
def test_a_ruff_that_hangs_or_prints_garbage_gives_a_report_that_says_so(tmp_path, monkeypatch, script, problem):
    fake_ruff(tmp_path, monkeypatch, script)
    start = time.monotonic()
    report = style_report([write(tmp_path, "scratch.py", SCRATCH)], timeout=0.5)
    assert time.monotonic() - start < 10
    assert report.ruff_problem.startswith(problem)
    assert report.files[0].findings == () and report.files[0].total == 6


def test_a_missing_ruff_gives_a_report_that_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(style, "ruff_binary", lambda: None)
    report = style_report([write(tmp_path, "scratch.py", SCRATCH)])
    assert report.ruff_problem == "ruff is not installed with this Python"
    assert "ruff could not run: ruff is not installed" in report.text()
    monkeypatch.setattr(style, "ruff_binary", lambda: str(tmp_path / "no-such-binary"))
    assert style_report([write(tmp_path, "scratch.py", SCRATCH)]).ruff_problem.startswith("cannot be started")


def test_the_pinned_ruff_is_the_one_found_next_to_this_python():
    binary = style.ruff_binary()
    assert binary is not None and shutil.which(binary)
    pinned = [line for line in (paths.ROOT / "pyproject.toml").read_text().splitlines() if '"ruff==' in line]
    assert len(pinned) == 1
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout.split()[-1]
    assert pinned[0].strip() == f'"ruff=={version}",'


def test_ruff_is_found_in_the_scripts_folder_when_the_python_binary_lives_elsewhere(tmp_path, monkeypatch):
    """As for a Debian system Python: /usr/bin/python3, with pip's scripts in /usr/local/bin."""
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python3"))
    assert style.ruff_binary() == str(Path(sysconfig.get_path("scripts")) / "ruff")


def test_the_submission_is_parsed_never_run(tmp_path):
    marker = tmp_path / "ran"
    source = f'"""Doc."""\nopen({str(marker)!r}, "w").close()\nraise SystemExit(3)\n'
    report = style_report([write(tmp_path, "evil.py", source)])
    assert not marker.exists()
    assert report.files[0].problem is None and report.files[0].coverage == 1.0


def test_the_score_follows_the_documented_formula():
    def file(documented, total, findings=0, problem=None):
        found = tuple(Finding("f.py", 1, 1, "F401", "x") for _ in range(findings))
        return FileStyle("f.py", documented, total, (), found, problem)

    assert StyleReport((file(1, 2, findings=10),)).fraction() == pytest.approx(0.5 * 0.5 + 0.5 * 0.5)
    assert StyleReport((file(2, 2, findings=40),)).fraction() == pytest.approx(0.5)
    assert StyleReport((file(2, 2), file(0, 0, problem="missing"))).fraction() == pytest.approx(0.25 + 0.25)
    assert StyleReport((file(1, 4, findings=3),), ruff_problem="timed out").fraction() == pytest.approx(0.25)
    assert StyleReport(()).fraction() == 0.0 and style_report([]).fraction() == 0.0


def test_the_text_lists_only_the_first_few_names_and_findings(tmp_path):
    imports = "".join(f"import m{i}\n" for i in range(8))
    source = '"""Doc."""\n' + imports + "".join(f"\n\ndef f{i}():\n    pass\n" for i in range(8))
    text = style_report([write(tmp_path, "many.py", source)]).text()
    assert "no docstring: f0, f1, f2, f3, f4 and 3 more" in text
    assert "many.py:6:8 F401 `m4` imported but unused" in text and "many.py:7:8" not in text
    assert "... and 3 more findings" in text
    assert len(text.splitlines()) == 1 + 1 + 1 + style.SHOWN + 1


def test_the_ruff_pinned_for_the_kit_is_the_one_its_rules_were_chosen_with():
    """pyproject.toml pins ruff and torch, and the student bundle and the Gradescope image install those pins."""
    from autograder.tools import gradescope_package, release
    from autograder.tools.requirements import declared

    pins = declared()
    for name in ("ruff", "torch", "torchvision"):
        assert "==" in pins[name], f"pyproject.toml should pin {name}"
        assert pins[name] in release.REQUIREMENTS and pins[name] in gradescope_package.REQUIREMENTS
