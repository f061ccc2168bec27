"""Grade a class: every submission of a directory, resumable, sharded, into one gradebook.

A submission is a folder laid out like skeletons/ (its id: the folder's name) or a notebook
(``NAME.ipynb``; its id: NAME, or the whole file name when a folder already has that name).
Each submission's results go to ``OUT/<id>/results.json`` (written atomically, so a file that
exists is a finished grade); a rerun grades only what is missing. ``--shard K/N`` takes every
N-th submission in id order starting at the K-th, so N machines split a class with no overlap
and their gradebooks merge by concatenation.
"""
from __future__ import annotations

import csv
import io
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from autograder.engine.client import thread_environment
from autograder.report import PART_TITLES, write_atomically, write_results
from autograder.rubric import Rubric

NOT_GRADED = "not-graded.txt"
"""Written to ``OUT/<id>/`` with the reason when the grader itself failed on a submission (a rerun retries it)."""


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


def submissions(folder: Path) -> dict[str, Path]:
    """Id -> path of every submission in ``folder`` (folders and .ipynb files; hidden entries skipped), by id."""
    entries = sorted(e for e in folder.iterdir() if not e.name.startswith("."))
    found = {e.name: e for e in entries if e.is_dir()}
    for entry in entries:
        if entry.is_file() and entry.suffix == ".ipynb":
            found[entry.stem if entry.stem not in found else entry.name] = entry
    return dict(sorted(found.items()))


def others(folder: Path, found: dict[str, Path]) -> list[str]:
    """Names of the entries of ``folder`` that are not among its submissions ``found`` (listed, then skipped)."""
    taken = set(found.values())
    return sorted(e.name for e in folder.iterdir() if not e.name.startswith(".") and e not in taken)


def read_results(path: Path) -> Optional[dict]:
    """The results.json at ``path``, or None where there is none that can be read."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("tests"), list) else None


def finished(out: Path, name: str) -> bool:
    """Whether ``name`` already has a readable results.json."""
    return read_results(out / name / "results.json") is not None


def graded(out: Path) -> Iterator[tuple[str, dict]]:
    """(id, results) of every submission with a readable results.json in ``out``, by id, each read once."""
    for entry in sorted(e for e in out.iterdir() if e.is_dir() and not e.name.startswith(".")):
        data = read_results(entry / "results.json")
        if data is not None:
            yield entry.name, data


def grade_one(submission: str, results_path: str, rubric: Rubric, device: str,
              sandbox: str, threads: int = 1, reference: str = "auto") -> tuple[float, float, float]:
    """Grade one submission in this process and write its results; (score, max, seconds)."""
    from autograder.grade import grade

    start = time.perf_counter()
    graded = grade(Path(submission), rubric, device, sandbox, reference=reference, threads=threads)
    elapsed = time.perf_counter() - start
    data = graded.results_json(elapsed)
    write_results(results_path, data)
    Path(results_path).with_name(NOT_GRADED).unlink(missing_ok=True)
    return data["score"], data["max_score"], elapsed


def use_threads(threads: int) -> None:
    """Size a grading process's thread pools to ``threads`` (each of the parallel gradings gets
    its own): torch's default of one thread per core in every process makes their spin-waiting
    threads slow each other down several times."""
    import torch

    os.environ.update(thread_environment(threads))
    torch.set_num_threads(threads)


class Progress:
    """Shows how far a batch is: a bar redrawn in place on a terminal, else a line per submission."""

    WIDTH = 30

    def __init__(self, total: int, stream=None) -> None:
        self.total, self.done, self.failed = total, 0, 0
        self.stream = stream if stream is not None else sys.stderr
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.monotonic()

    def update(self, line: str, failed: bool = False) -> None:
        """One more submission is finished; ``line`` says how it went."""
        self.done += 1
        self.failed += failed
        counter = f"[{self.done}/{self.total}]"
        if not self.live:
            print(f"{counter} {line}", file=self.stream, flush=True)
            return
        filled = self.WIDTH * self.done // max(1, self.total)
        elapsed = time.monotonic() - self.start
        eta = elapsed / self.done * (self.total - self.done)
        bar = f"|{'#' * filled}{'.' * (self.WIDTH - filled)}| {counter} {elapsed:.0f} s, about {eta:.0f} s left"
        if self.failed:
            bar += f", {self.failed} not graded"
        print(f"\r\033[K{counter} {line}\n{bar}", end="", file=self.stream, flush=True)
        if self.done == self.total:
            print(file=self.stream, flush=True)


def grade_class(folder: Path, out: Path, rubric: Rubric, device: str, jobs: int = 1,
              shard: Optional[Shard] = None, sandbox: str = "auto", log=print, progress_stream=None,
              threads: int = 1, reference: str = "auto") -> list[str]:
    """Grade every missing submission of ``folder`` (of this shard); returns the ids graded now.

    ``log`` gets the summary lines; the progress (``Progress``) goes to ``progress_stream`` (stderr).
    ``jobs`` submissions are graded at once, each with ``threads`` torch threads. ``reference``:
    where the reference's values come from (``autograder.grade.grade``).
    """
    found = submissions(folder)
    skipped = others(folder, found)
    if skipped:
        what = ("1 entry that is neither a submission folder nor a .ipynb notebook" if len(skipped) == 1 else
                f"{len(skipped)} entries that are neither submission folders nor .ipynb notebooks")
        log(f"skipped {what}: {', '.join(skipped[:5])}{' ...' if len(skipped) > 5 else ''}")
    names = shard.select(list(found)) if shard is not None else list(found)
    todo = [name for name in names if not finished(out, name)]
    log(f"{len(names)} submission(s) in this shard, {len(names) - len(todo)} already graded, {len(todo)} to grade")
    progress = Progress(len(todo), progress_stream)
    done: list[str] = []
    with ProcessPoolExecutor(max_workers=max(1, jobs), initializer=use_threads, initargs=(threads,)) as pool:
        futures = {pool.submit(grade_one, str(found[name]), str(out / name / "results.json"), rubric, device,
                               sandbox, threads, reference): name for name in todo}
        for future in as_completed(futures):
            name = futures[future]
            try:
                score, max_score, seconds = future.result()
                progress.update(f"{name}: {score:g} / {max_score:g} in {seconds:.1f} s")
                done.append(name)
            except Exception as error:  # noqa: BLE001 - one grader failure must not stop the class
                reason = f"{type(error).__name__}: {error}"
                (out / name).mkdir(parents=True, exist_ok=True)
                (out / name / NOT_GRADED).write_text(reason + "\n", encoding="utf-8")
                progress.update(f"{name}: not graded ({reason}); rerun to retry", failed=True)
    return done


def gradebook_rows(out: Path, rubric: Rubric) -> Iterator[list[str]]:
    """Header, then one row per graded submission in ``out``: id, total, max, parts, manual items."""
    parts = list(dict.fromkeys(check_id.split(".", 1)[0] for check_id in rubric.checks))
    manual = list(rubric.manual)
    yield ["id", "total", "max"] + [PART_TITLES.get(p, p) for p in parts] + manual
    for name, data in graded(out):
        by_part = {p: 0.0 for p in parts}
        for test in data["tests"]:
            part = str(test.get("name", "")).split(".", 1)[0]
            if part in by_part:
                by_part[part] += float(test.get("score", 0))
        scores = [f"{data['score']:g}", f"{data['max_score']:g}"] + [f"{by_part[p]:g}" for p in parts]
        yield [name, *scores] + [""] * len(manual)


def write_gradebook(out: Path, rubric: Rubric) -> Path:
    """``OUT/gradebook.csv`` from every results.json in ``out``, written atomically (by temporary files of
    their own, so that the shards of a class finishing at once into one OUT do not trip over each other)."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows(gradebook_rows(out, rubric))
    path = out / "gradebook.csv"
    write_atomically(path, buffer.getvalue())
    return path
