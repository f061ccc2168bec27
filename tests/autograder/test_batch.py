"""Batch grading: every submission graded once, resumable, sharded, into a gradebook."""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from autograder import paths
from autograder.__main__ import main
from autograder.batch import Progress, Shard, grade_class, submissions, write_gradebook
from autograder.checks import CHECKS
from autograder.rubric import Rubric, load_rubric

CHECK_IDS = ("part2.se.shapes", "part2.se.gate")


def small_rubric() -> Rubric:
    """The real rubric's rules for two SE checks only (fast to grade)."""
    real = load_rubric(paths.ROOT / "grading.yml", CHECKS)
    checks = {check_id: dataclasses.replace(real.checks[check_id], points=1.0) for check_id in CHECK_IDS}
    return dataclasses.replace(real, checks=checks, code_points=2.0, total=2.0 + 40.0)


@pytest.fixture()
def classroom(tmp_path):
    """Three submissions: the reference, the skeletons, and the reference without attention.py."""
    folder = tmp_path / "class"
    shutil.copytree(paths.SOLUTIONS, folder / "alice")
    shutil.copytree(paths.SKELETONS, folder / "bob")
    shutil.copytree(paths.SOLUTIONS, folder / "carol")
    (folder / "carol" / "attention.py").unlink()
    return folder


def test_shards_split_the_class_without_overlap():
    """K/N slices of a sorted class are disjoint and together cover it."""
    names = [f"s{i:02d}" for i in range(10)]
    slices = [Shard(k, 3).select(names) for k in (1, 2, 3)]
    assert sorted(sum(slices, [])) == names
    assert slices[0] == ["s00", "s03", "s06", "s09"]
    for bad in ("0/3", "4/3", "a/b", "3"):
        with pytest.raises(ValueError):
            Shard.parse(bad)


@pytest.mark.slow
def test_batch_grades_each_submission_once_and_resumes(classroom, tmp_path, monkeypatch):
    """A second run grades nothing; deleting one result regrades only that one; the gradebook is the same."""
    monkeypatch.setattr("autograder.batch.ProcessPoolExecutor", _InlineExecutor)
    rubric = small_rubric()
    out = tmp_path / "out"
    lines: list[str] = []
    assert sorted(grade_class(classroom, out, rubric, "cpu", log=lines.append)) == ["alice", "bob", "carol"]
    first = write_gradebook(out, rubric).read_text()
    assert grade_class(classroom, out, rubric, "cpu", log=lines.append) == []
    (out / "bob" / "results.json").unlink()
    assert grade_class(classroom, out, rubric, "cpu", log=lines.append) == ["bob"]
    assert write_gradebook(out, rubric).read_text() == first
    assert lines[0] == "3 submission(s) in this shard, 0 already graded, 3 to grade"
    rows = list(csv.reader(first.splitlines()))
    assert rows[0] == ["id", "total", "max", "Part 2: Attention", "report", "demo", "bonus"]
    assert {row[0]: row[1:4] for row in rows[1:]} == {"alice": ["2", "2", "2"], "bob": ["0", "2", "0"],
                                                        "carol": ["0", "2", "0"]}
    carol = json.loads((out / "carol" / "results.json").read_text())
    assert "attention.py not found" in carol["tests"][0]["output"]


@pytest.mark.slow
def test_cli_batch_writes_a_gradebook_and_refuses_bad_input(tmp_path, capsys):
    """`python -m autograder batch` with the real rubric, --jobs 2 and a shard; exit 2 for bad input."""
    folder = tmp_path / "class"
    for name in ("ann", "ben", "cid"):
        shutil.copytree(paths.SKELETONS, folder / name)  # untouched skeletons grade fast (0 points)
    out = tmp_path / "out"
    assert main(["batch", str(folder), "--out", str(out), "--jobs", "2", "--shard", "1/2", "--device", "cpu"]) == 0
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["ann", "cid"]  # the 1st and 3rd of 3
    rows = list(csv.reader((out / "gradebook.csv").read_text().splitlines()))
    assert [row[:3] for row in rows[1:]] == [["ann", "0", "60"], ["cid", "0", "60"]]
    assert main(["batch", str(folder), "--out", str(out), "--shard", "3/2"]) == 2
    assert main(["batch", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.slow
def test_notebooks_are_graded_beside_folders_under_ids_that_do_not_clash(classroom, tmp_path, monkeypatch):
    """dave.ipynb -> id dave; alice.ipynb next to the folder alice -> id alice.ipynb; other files are skipped."""
    monkeypatch.setattr("autograder.batch.ProcessPoolExecutor", _InlineExecutor)
    cell = {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
            "source": (paths.SOLUTIONS / "attention.py").read_text()}
    (classroom / "dave.ipynb").write_text(json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4,
                                                      "nbformat_minor": 5}))
    (classroom / "alice.ipynb").write_text("not a notebook")
    (classroom / "notes.txt").write_text("the instructor's notes")
    assert list(submissions(classroom)) == ["alice", "alice.ipynb", "bob", "carol", "dave"]
    rubric, out, lines = small_rubric(), tmp_path / "out", []
    assert sorted(grade_class(classroom, out, rubric, "cpu", log=lines.append)) == [
        "alice", "alice.ipynb", "bob", "carol", "dave"]
    assert "skipped 1 entry that is neither a submission folder nor a .ipynb notebook: notes.txt" in lines[0]
    rows = {row[0]: row[1] for row in csv.reader(write_gradebook(out, rubric).read_text().splitlines()[1:])}
    assert rows == {"alice": "2", "alice.ipynb": "0", "bob": "0", "carol": "0", "dave": "2"}
    broken = json.loads((out / "alice.ipynb" / "results.json").read_text())
    assert "alice.ipynb is not valid JSON" in broken["tests"][0]["output"]
    assert "Sandbox:" in broken["output"]


@pytest.mark.slow
def test_a_batch_killed_with_sigkill_resumes_to_the_same_gradebook(tmp_path):
    """kill -9 once the first grade is written; no partial results file is left, and the rerun
    grades only what is missing, to the gradebook of an uninterrupted run."""
    folder = tmp_path / "class"
    for name in ("ann", "ben", "cid"):  # attention.py alone: every other check fails at once, a grade takes seconds
        (folder / name).mkdir(parents=True)
        shutil.copyfile(paths.SOLUTIONS / "attention.py", folder / name / "attention.py")
    command = [sys.executable, "-m", "autograder", "batch", str(folder), "--device", "cpu", "--out"]
    interrupted = subprocess.Popen(command + [str(tmp_path / "out")], cwd=paths.ROOT, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while not list((tmp_path / "out").glob("*/results.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(interrupted.pid, signal.SIGKILL)
    interrupted.wait()
    written = list((tmp_path / "out").glob("*/results.json"))
    assert 1 <= len(written) < 3
    for path in written:
        assert json.loads(path.read_text())["max_score"] == 60
    resumed = subprocess.run(command + [str(tmp_path / "out")], cwd=paths.ROOT, capture_output=True, text=True,
                             timeout=300)
    assert f"{len(written)} already graded, {3 - len(written)} to grade" in resumed.stdout
    whole = subprocess.run(command + [str(tmp_path / "whole")], cwd=paths.ROOT, capture_output=True, text=True,
                           timeout=300)
    assert whole.returncode == resumed.returncode == 0
    assert (tmp_path / "out" / "gradebook.csv").read_text() == (tmp_path / "whole" / "gradebook.csv").read_text()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_bar_on_a_terminal_and_a_line_per_submission_in_a_log():
    log = io.StringIO()
    progress = Progress(2, log)
    progress.update("ann: 60 / 60 in 20.0 s")
    progress.update("ben: not graded (OSError: disk full); rerun to retry", failed=True)
    assert log.getvalue().splitlines() == ["[1/2] ann: 60 / 60 in 20.0 s",
                                           "[2/2] ben: not graded (OSError: disk full); rerun to retry"]
    terminal = _Terminal()
    progress = Progress(2, terminal)
    progress.update("ann: 60 / 60 in 20.0 s")
    assert terminal.getvalue().endswith("[1/2] ann: 60 / 60 in 20.0 s\n|" + "#" * 15 + "." * 15 + "| [1/2] " +
                                        terminal.getvalue().split("| [1/2] ")[-1])
    progress.update("ben: not graded", failed=True)
    last = terminal.getvalue().split("\r")[-1]
    assert last.startswith("\033[K[2/2] ben: not graded\n|" + "#" * 30 + "|") and "1 not graded" in last
    assert last.endswith("\n")


class _InlineExecutor:
    """A stand-in for ProcessPoolExecutor that runs jobs in this process (faster to test)."""

    def __init__(self, max_workers: int = 1, initializer=None, initargs=()) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        pass

    def submit(self, fn, *args):
        from concurrent.futures import Future

        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except Exception as error:  # noqa: BLE001
            future.set_exception(error)
        return future
