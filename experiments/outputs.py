"""An experiment's output folder: its figures (PNG), its tables (CSV and JSON), and its finished runs.

A run's result is kept as ``runs/<key>.json`` the moment it ends, so an interrupted experiment run
again takes the finished runs from disk and goes on with the others (``Output.run``).
"""
from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path
from typing import Callable


def columns(rows: list[dict]) -> list[str]:
    """Every key of ``rows``, in order of first appearance: a table's columns."""
    return list(dict.fromkeys(key for row in rows for key in row))


def scalars(record: dict) -> dict:
    """``record`` without its lists (per-epoch histories): a table row."""
    return {key: value for key, value in record.items() if not isinstance(value, list)}


class Output:
    """The folder an experiment writes to."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.resumed: list[str] = []
        """Keys of the runs taken from disk."""
        self.tables: list[str] = []
        """Names of the tables written, in order."""
        self.figures: list[Path] = []
        """Paths of the figures written, in order."""

    def path(self, name: str) -> Path:
        return self.folder / name

    def run(self, key: str, compute: Callable[[], dict]) -> dict:
        """``compute()``'s result (a JSON-able dict), or the one kept from an earlier, finished run."""
        if not re.fullmatch(r"[A-Za-z0-9._-]+", key):
            raise ValueError(f"run key {key!r}: letters, digits, '.', '_' and '-' only")
        path = self.folder / "runs" / f"{key}.json"
        if path.is_file():
            self.resumed.append(key)
            return json.loads(path.read_text(encoding="utf-8"))
        result = compute()
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".json.partial")
        partial.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        os.replace(partial, path)  # atomic: a killed experiment never leaves half a result
        return result

    def table(self, name: str, rows: list[dict]) -> Path:
        """``rows`` as ``name.csv`` and ``name.json``; returns the CSV's path."""
        if not rows:
            raise ValueError(f"table {name!r} has no rows")
        with open(self.folder / f"{name}.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns(rows))
            writer.writeheader()
            writer.writerows(rows)
        (self.folder / f"{name}.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
        self.tables.append(name)
        return self.folder / f"{name}.csv"

    def figure(self, name: str, figure) -> Path:
        """Save a matplotlib figure as ``name.png`` and close it."""
        import matplotlib.pyplot as plt

        path = self.folder / f"{name}.png"
        figure.savefig(path, dpi=120, bbox_inches="tight")
        plt.close(figure)
        self.figures.append(path)
        return path
