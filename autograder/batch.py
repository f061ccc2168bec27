"""Grade a class: every submission folder of a directory, resumable, sharded, into one gradebook.

Each submission's results go to ``OUT/<name>/results.json`` (written atomically, so a file that
exists is a finished grade); a rerun grades only what is missing. ``--shard K/N`` takes every
N-th submission in name order starting at the K-th, so N machines split a class with no overlap
and their gradebooks merge by concatenation.
"""
from __future__ import annotations

import csv
import io
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from autograder.report import PART_TITLES, results_json, write_results
from autograder.rubric import Rubric


@dataclass(frozen=True)
class Shard:
    """Which slice of the class this run grades: the ``index``-th of ``count`` (1-based)."""

    index: int
    count: int

    @staticmethod
    def parse(text: str) -> "Shard":
        """``"K/N"`` with 1 <= K <= N; ValueError otherwise."""
        try:
            index, count = (int(part) for part in text.split("/"))
        except ValueError:
            raise ValueError(f"--shard takes K/N (e.g. 2/4), got {text!r}") from None
        if not 1 <= index <= count:
            raise ValueError(f"--shard {text}: K must be from 1 to N")
        return Shard(index, count)

    def select(self, names: list[str]) -> list[str]:
        return [name for position, name in enumerate(sorted(names)) if position % self.count == self.index - 1]


def submissions(folder: Path) -> list[str]:
    """Names of the submission folders in ``folder``, sorted (hidden entries skipped)."""
    return sorted(entry.name for entry in folder.iterdir() if entry.is_dir() and not entry.name.startswith("."))


def finished(out: Path, name: str) -> bool:
    """Whether ``name`` already has a readable results.json."""
    try:
        data = json.loads((out / name / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and isinstance(data.get("tests"), list)


def grade_one(submission: str, results_path: str, rubric: Rubric, device: str) -> tuple[str, float, float, float]:
    """Grade one folder in this process and write its results; (name, score, max, seconds)."""
    from autograder.grade import grade

    start = time.perf_counter()
    results = grade(Path(submission), rubric, device)
    elapsed = time.perf_counter() - start
    data = results_json(results, elapsed)
    write_results(results_path, data)
    return Path(submission).name, data["score"], data["max_score"], elapsed


def run_batch(folder: Path, out: Path, rubric: Rubric, device: str, jobs: int = 1,
              shard: Optional[Shard] = None, log=print) -> list[str]:
    """Grade every missing submission of ``folder`` (of this shard); returns the names graded now."""
    names = submissions(folder)
    others = sorted(e.name for e in folder.iterdir() if not e.is_dir() and not e.name.startswith("."))
    if others:
        log(f"skipped {len(others)} entr{'y' if len(others) == 1 else 'ies'} that are not submission folders: "
            f"{', '.join(others[:5])}{' ...' if len(others) > 5 else ''}")
    if shard is not None:
        names = shard.select(names)
    todo = [name for name in names if not finished(out, name)]
    log(f"{len(names)} submission(s) in this shard, {len(names) - len(todo)} already graded, {len(todo)} to grade")
    done: list[str] = []
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(grade_one, str(folder / name), str(out / name / "results.json"), rubric, device): name
                   for name in todo}
        for count, future in enumerate(as_completed(futures), start=1):
            name = futures[future]
            try:
                _, score, max_score, seconds = future.result()
                log(f"[{count}/{len(todo)}] {name}: {score:g} / {max_score:g} in {seconds:.1f} s")
                done.append(name)
            except Exception as error:  # noqa: BLE001 - one grader failure must not stop the class
                log(f"[{count}/{len(todo)}] {name}: not graded ({type(error).__name__}: {error}); rerun to retry")
    return done


def gradebook_rows(out: Path, rubric: Rubric) -> Iterator[list[str]]:
    """Header, then one row per graded submission in ``out``: id, total, max, parts, manual items."""
    parts = list(dict.fromkeys(check_id.split(".", 1)[0] for check_id in rubric.checks))
    manual = list(rubric.manual)
    yield ["id", "total", "max"] + [PART_TITLES.get(p, p) for p in parts] + manual
    for name in submissions(out):
        if not finished(out, name):
            continue
        data = json.loads((out / name / "results.json").read_text(encoding="utf-8"))
        by_part = {p: 0.0 for p in parts}
        for test in data["tests"]:
            part = str(test.get("name", "")).split(".", 1)[0]
            if part in by_part:
                by_part[part] += float(test.get("score", 0))
        yield [name, f"{data['score']:g}", f"{data['max_score']:g}"] + [f"{by_part[p]:g}" for p in parts] + [""] * len(manual)


def write_gradebook(out: Path, rubric: Rubric) -> Path:
    """``OUT/gradebook.csv`` from every results.json in ``out``, written atomically."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows(gradebook_rows(out, rubric))
    path = out / "gradebook.csv"
    temporary = path.with_suffix(".csv.tmp")
    temporary.write_text(buffer.getvalue(), encoding="utf-8")
    os.replace(temporary, path)
    return path
