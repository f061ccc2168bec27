"""Where a training run's per-epoch log goes: plain files always, Weights & Biases when asked.

    tracker = make_tracker(folder, "depth-resnet18", config, wandb_mode=None)
    tracker.log({"epoch": 1, "train_loss": ...}); tracker.finish({"best_top1": ...})

Files: ``history.csv`` and ``history.jsonl`` (one row per epoch) and ``summary.json``. W&B (``wandb_mode``
``offline`` or ``online``, or the environment variable ``LAB3_WANDB``) logs the same rows when the
``wandb`` package is installed; offline runs land in ``folder/wandb`` for ``wandb sync`` later.
"""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Optional


class FileTracker:
    """Per-epoch rows to CSV and JSON lines, the summary to JSON, in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.rows: list[dict] = []
        for name in ("history.csv", "history.jsonl", "summary.json"):
            (self.folder / name).unlink(missing_ok=True)  # a rerun starts its log afresh

    def log(self, row: dict) -> None:
        self.rows.append(dict(row))
        with open(self.folder / "history.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
        with open(self.folder / "history.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(self.rows[0]))
            writer.writeheader()
            writer.writerows(self.rows)

    def finish(self, summary: dict) -> None:
        (self.folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


class WandbTracker:
    """The same rows in a Weights & Biases run."""

    def __init__(self, folder: Path, name: str, config: dict, mode: str) -> None:
        import wandb

        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "lab3"), name=name, config=config, mode=mode,
                              dir=str(folder), reinit=True)

    def log(self, row: dict) -> None:
        self.run.log(row)

    def finish(self, summary: dict) -> None:
        self.run.summary.update(summary)
        self.run.finish()


class Trackers:
    """Several trackers as one."""

    def __init__(self, trackers: list) -> None:
        self.trackers = trackers
        self.notes: list[str] = []

    def log(self, row: dict) -> None:
        for tracker in self.trackers:
            tracker.log(row)

    def finish(self, summary: dict) -> None:
        for tracker in self.trackers:
            tracker.finish(summary)


def make_tracker(folder: Path, name: str, config: dict, wandb_mode: Optional[str] = None) -> Trackers:
    """Files in ``folder``, plus W&B when ``wandb_mode`` (or ``LAB3_WANDB``) is offline/online and wandb is
    installed."""
    trackers = Trackers([FileTracker(folder)])
    mode = wandb_mode or os.environ.get("LAB3_WANDB") or None
    if mode not in (None, "", "off", "offline", "online"):
        raise ValueError(f"unknown W&B mode {mode!r}; expected off, offline or online")
    if mode in ("offline", "online"):
        try:
            trackers.trackers.append(WandbTracker(folder, name, config, mode))
        except ImportError:
            trackers.notes.append("W&B was asked for, but the wandb package is not installed: plain files only")
    return trackers
