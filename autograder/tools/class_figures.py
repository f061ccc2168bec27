"""The class report's figures (``autograder.tools.class_report``): matplotlib, Agg, no pyplot.

Each function returns the ``Figure`` it drew (the tests read its bars, lines and labels); ``save``
writes one as a PNG. Every kind of figure has a colour of its own, rare elsewhere on the page, so
a screenshot shows which figures a browser displayed.
"""
from __future__ import annotations

import io
import math
from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

SCORE_COLOUR = "#e6007e"
"""Score histograms' bars (magenta)."""
PASS_COLOUR = "#00a19a"
"""Pass-rate bars (teal)."""
TIME_COLOUR = "#f39200"
"""Time figures' bars (orange)."""
MAX_STYLE = {"color": "black", "linestyle": "--", "linewidth": 1.5}
"""The line marking the rubric's maximum on a score histogram."""
SLOWEST = 15
"""Checks shown in the figure of the slowest checks."""
DPI = 100


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def score_bins(maximum: float) -> np.ndarray:
    """Bin edges from 0 to ``maximum`` (or just past it): at most 30 bins of a round width (0.5, 1, 2, 5, ...)."""
    maximum = max(float(maximum), 0.5)
    width = next((w for w in (0.5, 1, 2, 5, 10, 20, 50, 100) if maximum / w <= 30), maximum / 30)
    return width * np.arange(math.ceil(maximum / width - 1e-9) + 1)


def _histogram(axes, scores: Sequence[float], maximum: float, title: str) -> None:
    edges = score_bins(maximum)
    clipped = np.clip(np.asarray(scores, dtype=float), 0, edges[-1])  # every submission counted, in some bin
    axes.hist(clipped, bins=edges, color=SCORE_COLOUR, edgecolor="white", linewidth=0.5)
    axes.axvline(maximum, **MAX_STYLE, label=f"maximum {maximum:g}")
    axes.set_title(title, fontsize=10, parse_math=False)
    axes.set_xlabel("points", parse_math=False)
    axes.set_ylabel("submissions", parse_math=False)
    axes.set_xlim(0, maximum * 1.04 if maximum else 1)
    axes.yaxis.get_major_locator().set_params(integer=True)


def total_histogram(totals: Sequence[float], maximum: float) -> Figure:
    """Histogram of the submissions' totals, the rubric's maximum marked by a dashed line."""
    figure = _figure(10, 3.6)
    axes = figure.subplots()
    _histogram(axes, totals, maximum, f"Total score of {len(totals)} graded submissions")
    axes.legend(loc="upper left", fontsize=9)
    return figure


def part_histograms(parts: Sequence[tuple[str, Sequence[float], float]]) -> Figure:
    """Small multiples: one histogram per part, given as (title, scores, maximum), each maximum marked."""
    columns = min(len(parts), 2) or 1
    rows = -(-len(parts) // columns) or 1
    figure = _figure(10, 2.9 * rows)
    panels = np.atleast_1d(figure.subplots(rows, columns)).ravel()
    for axes, (title, scores, maximum) in zip(panels, parts):
        _histogram(axes, scores, maximum, f"{title} (maximum {maximum:g})")
    for axes in panels[len(parts):]:
        axes.set_visible(False)
    return figure


def _bars(names: Sequence[str], values: Sequence[float], labels: Sequence[str], colour: str, margin: float,
          row_height: float, fontsize: int) -> tuple[Figure, object]:
    """Horizontal bars, one per name, the first at the top, each labelled; (figure, axes)."""
    figure = _figure(10, margin + row_height * max(len(names), 1))
    axes = figure.subplots()
    positions = np.arange(len(names))
    bars = axes.barh(positions, values, color=colour, height=0.7)
    axes.set_yticks(positions, names, fontsize=fontsize, parse_math=False)
    axes.invert_yaxis()
    axes.bar_label(bars, labels, fontsize=fontsize - 1, padding=2)
    return figure, axes


def pass_rates(checks: Sequence[str], rates: Sequence[float]) -> Figure:
    """Horizontal bars, one per check, the share of submissions passing it; the lowest at the top."""
    order = sorted(range(len(checks)), key=lambda i: (rates[i], checks[i]))
    values = [100 * rates[i] for i in order]
    figure, axes = _bars([checks[i] for i in order], values, [f"{v:.0f}%" for v in values], PASS_COLOUR, 0.8, 0.21, 7)
    axes.set_xlim(0, 110)
    axes.set_xlabel("submissions passing (%)", parse_math=False)
    axes.set_title("Pass rate per check, lowest first", fontsize=10, parse_math=False)
    axes.margins(y=0.01)
    return figure


def execution_times(seconds: Sequence[float]) -> Figure:
    """Histogram of the seconds each submission took to grade."""
    figure = _figure(10, 3.2)
    axes = figure.subplots()
    values = [float(s) for s in seconds]
    bins = min(30, max(5, len(set(np.round(values, 1)))))
    axes.hist(values, bins=bins, color=TIME_COLOUR, edgecolor="white", linewidth=0.5)
    axes.set_title(f"Seconds to grade each of {len(values)} submissions", fontsize=10, parse_math=False)
    axes.set_xlabel("seconds (execution_time)", parse_math=False)
    axes.set_ylabel("submissions", parse_math=False)
    axes.yaxis.get_major_locator().set_params(integer=True)
    return figure


def slowest_checks(checks: Sequence[str], seconds: Sequence[float]) -> Figure:
    """Horizontal bars of the seconds each check took over the whole class, the ``SLOWEST`` longest, longest first."""
    order = sorted(range(len(checks)), key=lambda i: -seconds[i])[:SLOWEST]
    values = [float(seconds[i]) for i in order]
    labels = [f"{v:.0f} s" if v >= 10 else f"{v:.1f} s" for v in values]
    figure, axes = _bars([checks[i] for i in order], values, labels, TIME_COLOUR, 0.9, 0.25, 8)
    axes.set_xlim(0, max(values, default=1) * 1.15 or 1)
    axes.set_xlabel("seconds, summed over the class", parse_math=False)
    axes.set_title(f"The {len(values)} slowest checks", fontsize=10, parse_math=False)
    return figure


def png(figure: Figure) -> bytes:
    """``figure`` as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()
