"""Grade a class of submissions with ``batch``, once per sandbox mode, side by side.

    python benchmarks/batch_grading.py [--count 30] [--jobs 2] [--modes off,auto] [--device cpu]
                                       [--work DIR]

The class is made of the kit's own material, in turn: the reference solutions, the example
submission (three mistakes), the skeletons (nothing implemented), and the reference solutions as
one notebook. Each mode grades the same class into its own output folder with the real
grading.yml; the script prints a Markdown table (wall time, seconds per submission, total score
of the class, which must be the same in every mode) naming the machine and the torch version, then
where the time went: each check's seconds summed over the class (``extra_data.seconds`` of every
results.json), the slowest first, and the seconds per kind of submission.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from autograder.batch import grade_class, write_gradebook  # noqa: E402
from autograder.checks import CHECKS  # noqa: E402
from autograder.engine.sandbox import Limits, Sandbox  # noqa: E402
from autograder.rubric import load_rubric  # noqa: E402

NOTEBOOK_ORDER = ("attention", "resnet", "vit", "gradcam", "profiler")
"""Modules in the order their cells go into the notebook (resnet.py uses attention's classes)."""


def notebook(path: Path) -> None:
    """The reference solutions as a notebook: a markdown cell, a cell per module, an experiment cell."""
    code = [(ROOT / "solutions" / f"{name}.py").read_text() for name in NOTEBOOK_ORDER]
    code.append("model = resnet18(num_classes=10)\nfor epoch in range(200):\n    pass  # the student's training\n")
    cells = [{"cell_type": "markdown", "metadata": {}, "source": "# Lab 3"}]
    cells += [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": text}
              for text in code]
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))


def make_class(folder: Path, count: int) -> None:
    """``count`` submissions cycling through the four kinds in the module docstring."""
    folder.mkdir(parents=True)
    for index in range(count):
        name = f"student{index:03d}"
        kind = index % 4
        if kind == 0:
            shutil.copytree(ROOT / "solutions", folder / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif kind == 1:
            shutil.copytree(ROOT / "examples" / "submission", folder / name,
                            ignore=shutil.ignore_patterns("__pycache__"))
        elif kind == 2:
            shutil.copytree(ROOT / "skeletons", folder / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            notebook(folder / f"{name}.ipynb")


KINDS = ("reference", "example", "skeletons", "notebook")
"""The kinds of submission ``make_class`` cycles through, by index modulo 4."""


def class_total(out: Path) -> float:
    return sum(json.loads(p.read_text())["score"] for p in sorted(out.glob("*/results.json")))


def time_breakdown(out: Path, shown: int = 15) -> str:
    """Markdown tables: the ``shown`` checks that took longest summed over the class, and the
    seconds per submission of each kind (the whole grading, ``execution_time``)."""
    per_check: dict[str, float] = {}
    per_kind: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for path in sorted(out.glob("*/results.json")):
        data = json.loads(path.read_text())
        per_kind[KINDS[int(path.parent.name.removeprefix("student")) % 4]].append(data["execution_time"])
        for test in data["tests"]:
            per_check[test["name"]] = per_check.get(test["name"], 0.0) + test.get("extra_data", {}).get("seconds", 0.0)
    total = sum(per_check.values())
    lines = [f"Checks' seconds summed over the class ({total:.0f} s in all; the rest of the wall time is starting "
             "processes, the sandbox and writing results):", "", "| check | seconds | share |", "|---|---|---|"]
    for name, seconds in sorted(per_check.items(), key=lambda item: -item[1])[:shown]:
        lines.append(f"| {name} | {seconds:.1f} | {seconds / max(total, 1e-9):.0%} |")
    lines += ["", "| submission kind | count | mean s per grading | max s |", "|---|---|---|---|"]
    for kind, seconds in per_kind.items():
        if seconds:
            lines.append(f"| {kind} | {len(seconds)} | {sum(seconds) / len(seconds):.1f} | {max(seconds):.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--modes", default="off,auto", help="sandbox modes to compare, comma-separated")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--work", help="folder for the class and the results (default: a temporary one)")
    args = parser.parse_args()
    rubric = load_rubric(ROOT / "grading.yml", CHECKS)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="lab3-batch-bench-"))
    make_class(work / "class", args.count)
    rows = []
    for mode in args.modes.split(","):
        out = work / f"out-{mode}"
        note = Sandbox(mode, Limits.of(rubric.sandbox)).note(args.device)
        start = time.perf_counter()
        graded = grade_class(work / "class", out, rubric, args.device, args.jobs, sandbox=mode, log=lambda line: None)
        wall = time.perf_counter() - start
        write_gradebook(out, rubric)
        rows.append((mode, len(graded), wall, class_total(out), note))
        print(f"{mode}: {len(graded)} graded in {wall:.1f} s", file=sys.stderr, flush=True)
    print(f"{args.count} submissions, --jobs {args.jobs}, {args.device}; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, torch {torch.__version__}; class and results in {work}\n")
    print("| sandbox | graded | wall time (s) | s per submission | class total |")
    print("|---|---|---|---|---|")
    for mode, graded, wall, total, _ in rows:
        print(f"| {mode} | {graded} | {wall:.1f} | {wall / max(1, graded):.2f} | {total:g} |")
    print()
    for mode, *_, note in rows:
        print(f"- {mode}: {note}")
    for mode, *_ in rows:
        print(f"\n### Where the time went ({mode})\n")
        print(time_breakdown(work / f"out-{mode}"))


if __name__ == "__main__":
    main()
