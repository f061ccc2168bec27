"""Running an experiment from the lab notebook, with the notebook's own definitions, and showing it.

    run_experiment("depth", globals(), DEVICE, SMOKE)

The experiment is the one ``python -m experiments NAME`` runs. Its outputs go to
``lab3-results/NAME-DATASET[-smoke]/`` (the command line's folder names, so ``selection`` finds the
tables of ``regimes`` and ``profiling`` beside it). Finished runs are taken from there when the cell
runs again, which resumes an interrupted experiment; ``rerun=True`` deletes them first, for after the
code has changed.
"""
from __future__ import annotations

import html
import importlib
import json
import shutil
from pathlib import Path
from typing import Optional

import torch

from experiments.__main__ import EXPERIMENTS
from experiments.context import Context
from experiments.lab import lab_from_namespace
from experiments.outputs import Output, columns

RESULTS = Path("lab3-results")


def run_experiment(name: str, namespace: dict, device: str | torch.device, smoke: bool,
                   dataset: Optional[str] = None, rerun: bool = False, results: str | Path = RESULTS,
                   data_root: str | Path = "data") -> dict:
    """Run experiment ``name`` on the definitions in ``namespace`` (a notebook's ``globals()``), show
    its figures and tables, and return its summary.

    ``dataset``: ``digits``, ``cifar10`` or ``cifar100`` (default: digits at smoke size, else
    CIFAR-10); CIFAR is downloaded into ``data_root`` when it is not there.
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"no experiment {name!r}; the experiments are {', '.join(EXPERIMENTS)}")
    # Progress bars for the long full-size runs only: at smoke size they would bury the figures.
    context = Context(lab_from_namespace(namespace), None, torch.device(device), smoke, dataset, Path(data_root),
                      download=True, progress=not smoke)
    folder = Path(results) / context.output_name(name)
    if rerun and folder.exists():
        shutil.rmtree(folder)
    out = context.out = Output(folder)
    summary = importlib.import_module(EXPERIMENTS[name][0]).run(context)
    show(out)
    if out.resumed:
        print(f"Taken from earlier runs in {folder}: {', '.join(out.resumed)}. "
              f"After changing your code, run the experiment with rerun=True.")
    if "note" in summary:
        print(f"Note: {summary['note']}.")
    print(f"Figures and tables in {folder}")
    return summary


def show(out: Output) -> None:
    """Display the figures and then the tables that ``out`` was given, in order."""
    from IPython.display import HTML, Image, display

    for path in out.figures:
        display(Image(filename=str(path)))
    for name in out.tables:
        rows = json.loads(out.path(f"{name}.json").read_text(encoding="utf-8"))
        display(HTML(table_html(name, rows)))


def table_html(name: str, rows: list[dict]) -> str:
    """``rows`` as an HTML table captioned ``name``: numbers to 4 significant digits, None empty."""
    fields = columns(rows)

    def cell(value) -> str:
        if value is None:
            return ""
        return html.escape(f"{value:.4g}" if isinstance(value, float) else str(value))

    header = "".join(f"<th>{html.escape(column)}</th>" for column in fields)
    body = "".join("<tr>" + "".join(f"<td>{cell(row.get(column))}</td>" for column in fields) + "</tr>"
                   for row in rows)
    return f"<table><caption>{html.escape(name)}</caption><tr>{header}</tr>{body}</table>"
