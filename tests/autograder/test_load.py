"""A grade is a property of the code alone: the same on an idle machine and on a busy one.

The failure this guards against: two gradings started at once on a 2-core machine, each sizing
torch's thread pools to every core, slowed each other down several times over, and a training
smoke test cut short by a time limit then lost points even for the reference solutions. Here a
grading runs alone, then two run at once with their default settings and nothing in the
environment sizing their threads (each splitting its checks across two workers, as the command line
does on two cores); every check's score and feedback must come out the same. The
checks graded are those whose work takes the longest or measures time: the two training smoke
tests, the latency and the training benchmark of the profiler.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder import paths

CHECKS = ("part4.training.resnet", "part4.training.vit", "part4.profiler.latency", "part4.profiler.training")


GRADE = """
import dataclasses, json, sys, time
from pathlib import Path
from autograder import paths
from autograder.checks import CHECKS
from autograder.grade import grade
from autograder.lanes import auto_lanes
from autograder.rubric import load_rubric

full = load_rubric(paths.ROOT / "grading.yml", CHECKS)
checks = {check_id: full.checks[check_id] for check_id in sys.argv[1].split(",")}
points = sum(rule.points for rule in checks.values())
rubric = dataclasses.replace(full, checks=checks, total=points, code_points=points, manual={})
start = time.perf_counter()
graded = grade(paths.SOLUTIONS, rubric, "cpu", sandbox="off", lanes=auto_lanes())  # as the command line grades
Path(sys.argv[2]).write_text(json.dumps(graded.results_json(time.perf_counter() - start)))
"""
"""Grades the reference solutions with the real rubric's rules for the checks named in argv[1]."""


def start(results: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}  # as a user's shell would
    return subprocess.Popen([sys.executable, "-c", GRADE, ",".join(CHECKS), str(results)], cwd=paths.ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(process: subprocess.Popen, results: Path) -> dict:
    output, _ = process.communicate(timeout=900)
    assert process.returncode == 0, output[-3000:]
    return json.loads(results.read_text())


def comparable(data: dict) -> list[tuple]:
    return [(test["name"], test["score"], test["output"]) for test in data["tests"]]


@pytest.mark.alone
@pytest.mark.slow
def test_two_gradings_at_once_grade_exactly_as_one_alone(tmp_path):
    alone = finish(start(tmp_path / "alone.json"), tmp_path / "alone.json")
    began = time.monotonic()
    together = [start(tmp_path / f"together{i}.json") for i in range(2)]
    busy = [finish(process, tmp_path / f"together{i}.json") for i, process in enumerate(together)]
    overlapped = time.monotonic() - began < sum(data["execution_time"] for data in busy)
    assert overlapped, "the two gradings did not run at the same time"
    assert alone["score"] == alone["max_score"] and [t["name"] for t in alone["tests"]] == list(CHECKS) + ["code.style"]
    for data in busy:
        assert comparable(data) == comparable(alone)
