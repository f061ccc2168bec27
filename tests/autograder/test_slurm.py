"""The Slurm job array (autograder/tools/slurm/grade_class.sbatch), its tasks run as local processes with
the environment Slurm gives them: bash, not Slurm."""
from __future__ import annotations

import csv
import os
import subprocess
import sys

import pytest

from autograder import paths

SCRIPT = paths.TOOLS / "slurm" / "grade_class.sbatch"


def array_task(task: int, count: int, job: str, extra: dict[str, str]) -> dict[str, str]:
    """The environment of array task ``task`` of ``sbatch --array=1-count``, as Slurm sets it."""
    return {**os.environ, "SLURM_ARRAY_JOB_ID": job, "SLURM_JOB_ID": f"{job}{task}", "SLURM_ARRAY_TASK_ID": str(task),
            "SLURM_ARRAY_TASK_COUNT": str(count), "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": str(count),
            "SLURM_ARRAY_TASK_STEP": "1", "SLURM_CPUS_PER_TASK": "2", **extra}


@pytest.mark.slow
def test_array_tasks_run_at_once_leave_one_complete_gradebook(tmp_path):
    """Three shards at once into one OUT: each grades its own submission, and the last to finish writes the
    gradebook and the exports with all three, exactly once each."""
    folder, out = tmp_path / "class", tmp_path / "out"
    names = ["ann", "ben", "cid"]
    for name in names:  # no lab files: every check fails at once, a grade takes about a second
        (folder / name).mkdir(parents=True)
    calls = tmp_path / "calls.log"
    python = tmp_path / "python"  # records how each task runs python, then runs it
    python.write_text(f'#!/bin/bash\necho "OMP_NUM_THREADS=$OMP_NUM_THREADS $*" >>{calls}\n'
                      f'exec {sys.executable} "$@"\n')
    python.chmod(0o755)
    tasks = [subprocess.Popen(["bash", str(SCRIPT), str(folder), str(out), "--device", "cpu"], cwd=tmp_path,
                              env=array_task(task, 3, "4242", {"LAB3_PYTHON": str(python)}),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for task in (1, 2, 3)]
    logs = [task.communicate(timeout=300)[0] for task in tasks]
    assert [task.returncode for task in tasks] == [0, 0, 0], logs
    assert sum("the last of 3 shards to finish" in log for log in logs) == 1, logs
    ran = calls.read_text().splitlines()
    shards = sorted(line for line in ran if "--shard" in line)
    assert [line.split("--shard ")[1].split()[0] for line in shards] == ["1/3", "2/3", "3/3"]
    assert all(line.startswith("OMP_NUM_THREADS=2 ") and "--threads 2" in line for line in ran)
    assert len(ran) == 4  # the three shards, then the last one's batch over the whole class
    gradebook = list(csv.reader((out / "gradebook.csv").read_text().splitlines()))
    assert sorted(row[0] for row in gradebook[1:]) == names
    moodle = list(csv.reader((out / "moodle.csv").read_text().splitlines()))
    assert sorted(row[0] for row in moodle[1:]) == names
    assert sorted((out / ".slurm" / "4242" / "finished").read_text().split()) == ["1", "2", "3"]
    assert not (out / ".slurm" / "4242" / "lock").exists()


def test_an_array_that_does_not_map_onto_shards_is_refused(tmp_path):
    """--array=1-5:2 is shards 1, 2, 3 of 3; a task off that range is refused before anything runs."""
    base = {"SLURM_ARRAY_TASK_STEP": "2", "LAB3_PYTHON": "false"}
    wrong = subprocess.run(["bash", str(SCRIPT), str(tmp_path), str(tmp_path / "out")], capture_output=True,
                           text=True, env=array_task(2, 3, "7", base))
    assert wrong.returncode == 2 and "submit with --array=1-N" in wrong.stderr
    stepped = subprocess.run(["bash", str(SCRIPT), str(tmp_path), str(tmp_path / "out")], capture_output=True,
                             text=True, env=array_task(5, 3, "7", base))
    assert "shard 3/3" in stepped.stdout and stepped.returncode != 0  # LAB3_PYTHON=false: the batch "fails"
    usage = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True)
    assert usage.returncode == 2 and "usage: sbatch --array=1-N" in usage.stderr
