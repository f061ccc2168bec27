"""Batch grading: every submission graded once, resumable, sharded, into a gradebook."""
from __future__ import annotations

import csv
import dataclasses
import json
import shutil

import pytest

from autograder import paths
from autograder.__main__ import main
from autograder.batch import Shard, run_batch, write_gradebook
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


def test_batch_grades_each_submission_once_and_resumes(classroom, tmp_path, monkeypatch):
    """A second run grades nothing; deleting one result regrades only that one; the gradebook is the same."""
    monkeypatch.setattr("autograder.batch.ProcessPoolExecutor", _InlineExecutor)
    rubric = small_rubric()
    out = tmp_path / "out"
    lines: list[str] = []
    assert sorted(run_batch(classroom, out, rubric, "cpu", log=lines.append)) == ["alice", "bob", "carol"]
    first = write_gradebook(out, rubric).read_text()
    assert run_batch(classroom, out, rubric, "cpu", log=lines.append) == []
    (out / "bob" / "results.json").unlink()
    assert run_batch(classroom, out, rubric, "cpu", log=lines.append) == ["bob"]
    assert write_gradebook(out, rubric).read_text() == first
    rows = list(csv.reader(first.splitlines()))
    assert rows[0] == ["id", "total", "max", "Part 2: Attention", "report", "demo", "bonus"]
    assert {row[0]: row[1:4] for row in rows[1:]} == {"alice": ["2", "2", "2"], "bob": ["0", "2", "0"],
                                                        "carol": ["0", "2", "0"]}
    carol = json.loads((out / "carol" / "results.json").read_text())
    assert "attention.py not found" in carol["tests"][0]["output"]


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


class _InlineExecutor:
    """A stand-in for ProcessPoolExecutor that runs jobs in this process (faster to test)."""

    def __init__(self, max_workers: int = 1) -> None:
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
