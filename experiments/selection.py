"""Part 4: the architecture-selection decision tree, built from the measured tables.

    python -m experiments selection [--smoke]

The tree asks three questions in turn, and every answer it gives comes from the numbers:

1. **Data size** (``regimes.json``): 1K, 10K or all training images. The candidates are the models
   of both tables, with their final test top-1 at that data size.
2. **Compute budget** (``profiling.json``, at the smallest batch): *ample* keeps every candidate;
   *tight* keeps those whose batch-1 median latency and peak memory are both within ``SLACK`` times
   the cheapest candidate's (if none is, the one nearest to that).
3. **Task needs**: *accuracy* recommends the candidate with the best test top-1 (then top-5);
   *throughput* the one with the most images/s at the largest batch among those within
   ``TOLERANCE`` of the best top-1.

The tables come from ``run``'s arguments, else from the sibling output folders (``selection`` in
this folder's name replaced by ``regimes`` and ``profiling``: ``regimes-digits-smoke`` beside
``selection-digits-smoke``) when they hold tables of the same dataset and size (smoke or full),
else the two experiments are run into ``regimes/`` and ``profiling/`` inside this folder. Written: ``selection.csv`` /
``.json`` (one row per leaf), ``decision_tree.json`` (the nested tree) and ``decision_tree.png``.

Columns read: regimes: ``dataset, size, model, family, regime, train_images, final_top1,
final_top5``; profiling: ``dataset, size, model, batch_size, median_ms, peak_memory_mb,
throughput_ips, memory_measured``.
Smoke size: the smoke tables of the two experiments; about 3 s when the sibling folders hold
them, about 25 s on one CPU thread when it runs them.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import textwrap
from pathlib import Path
from typing import Optional

from experiments.context import Context
from experiments.data import REGIMES
from experiments.outputs import Output
from experiments.regimes import FAMILY_COLORS

SLACK = 1.5
"""A tight budget admits models within 1.5x the cheapest model's batch-1 latency and memory."""
TOLERANCE = 0.02
"""Throughput may cost at most 2 points of test top-1."""
BUDGETS = ("ample", "tight")
NEEDS = ("accuracy", "throughput")


# ---------------------------------------------------------------- the tables


def load_tables(context: Context) -> tuple[list[dict], list[dict], dict[str, str]]:
    """The regimes and profiling rows for ``context``'s dataset, and where each came from."""
    tables, sources = {}, {}
    for name in ("regimes", "profiling"):
        path = sibling(context.out.folder, name) / f"{name}.json"
        rows = _rows_of(path, context.dataset_id, context.size)
        if rows is None:
            rows, path = _run_experiment(context, name), context.out.folder / name / f"{name}.json"
        tables[name], sources[name] = rows, str(path)
    return tables["regimes"], tables["profiling"], sources


def sibling(folder: Path, name: str) -> Path:
    """Where experiment ``name`` writes beside this one: ``selection`` in the folder's name replaced by
    ``name`` (``selection-digits-smoke`` -> ``regimes-digits-smoke``, the CLI's default), else ``../name``."""
    own = folder.name
    return folder.parent / (own.replace("selection", name, 1) if "selection" in own else name)


def _rows_of(path: Path, dataset: str, size: str) -> Optional[list[dict]]:
    """The rows of a table file when it exists and all of them are of ``dataset`` at ``size``."""
    if not path.is_file():
        return None
    rows = json.loads(path.read_text(encoding="utf-8"))
    wanted = all(row.get("dataset") == dataset and row.get("size") == size for row in rows)
    return rows if rows and wanted else None


def _run_experiment(context: Context, name: str) -> list[dict]:
    """Run ``experiments.<name>`` into a subfolder of this experiment's output; its table's rows."""
    out = Output(context.out.folder / name)
    importlib.import_module(f"experiments.{name}").run(dataclasses.replace(context, out=out))
    context.out.resumed.extend(f"{name}/{key}" for key in out.resumed)
    return json.loads((out.folder / f"{name}.json").read_text(encoding="utf-8"))


# ---------------------------------------------------------------- the tree


def candidates(regimes: list[dict], profiling: list[dict], regime: str) -> list[dict]:
    """Every model in both tables, with its accuracy at ``regime`` and its costs from profiling."""
    found = []
    for row in (r for r in regimes if r["regime"] == regime):
        timings = sorted((p for p in profiling if p["model"] == row["model"]), key=lambda p: p["batch_size"])
        if not timings:
            continue
        smallest, largest = timings[0], timings[-1]
        found.append({"model": row["model"], "family": row["family"], "top1": row["final_top1"],
                      "top5": row["final_top5"], "latency_ms": smallest["median_ms"],
                      "memory_mb": smallest["peak_memory_mb"], "cost_batch": smallest["batch_size"],
                      "throughput_ips": largest["throughput_ips"], "throughput_batch": largest["batch_size"]})
    return found


def within_budget(models: list[dict], budget: str, slack: float = SLACK) -> list[dict]:
    """``models`` that fit ``budget``: all when ample; when tight, those within ``slack`` of the cheapest."""
    if budget == "ample":
        return list(models)
    cheapest_latency = min(m["latency_ms"] for m in models)
    cheapest_memory = min(m["memory_mb"] for m in models)
    ratio = {m["model"]: max(m["latency_ms"] / cheapest_latency, m["memory_mb"] / cheapest_memory) for m in models}
    limit = max(slack, min(ratio.values()))  # nothing fits: keep the nearest
    return [m for m in models if ratio[m["model"]] <= limit]


def choose(models: list[dict], need: str, tolerance: float = TOLERANCE) -> dict:
    """The model that best serves ``need`` (``accuracy`` or ``throughput``) among ``models``."""
    if need == "accuracy":
        return max(models, key=lambda m: (m["top1"], m["top5"], -m["latency_ms"]))
    best = max(m["top1"] for m in models)
    return max((m for m in models if m["top1"] >= best - tolerance), key=lambda m: m["throughput_ips"])


def _why(chosen: dict, fitting: list[dict], every: list[dict], need: str, tolerance: float) -> str:
    """The numbers behind a leaf: what it beat and what the budget excluded."""
    others = [m for m in fitting if m is not chosen]
    if not others:
        reason = "the only model within budget"
    elif need == "accuracy":
        reason = "; ".join(f"top-1 {chosen['top1']:.3f} vs {m['model']} {m['top1']:.3f}" for m in others)
    else:
        floor = max(m["top1"] for m in fitting) - tolerance
        reason = "; ".join(
            f"{chosen['throughput_ips']:,.0f} vs {m['model']} {m['throughput_ips']:,.0f} img/s" if m["top1"] >= floor
            else f"{m['model']} has top-1 {m['top1']:.3f}, below {floor:.3f}" for m in others)
    excluded = [m["model"] for m in every if m not in fitting]
    return reason + (f"; over budget: {', '.join(excluded)}" if excluded else "")


def decision_tree(regimes: list[dict], profiling: list[dict], slack: float = SLACK,
                  tolerance: float = TOLERANCE) -> dict:
    """The tree as nested ``{"question", "branches": [{"answer", "node" | "leaf"}]}`` dictionaries."""
    present = [name for name in REGIMES if any(r["regime"] == name for r in regimes)]
    branches = []
    for regime in present:
        every = candidates(regimes, profiling, regime)
        if not every:
            raise ValueError(f"no model of the regimes table at {regime} is in the profiling table")
        best = choose(every, "accuracy")
        budget_branches = []
        for budget in BUDGETS:
            fitting = within_budget(every, budget, slack)
            need_branches = []
            for need in NEEDS:
                chosen = choose(fitting, need, tolerance)
                need_branches.append({"answer": need, "leaf": {**chosen, "regime": regime, "budget": budget,
                                                        "need": need,
                                                        "why": _why(chosen, fitting, every, need, tolerance)}})
            budget_branches.append({"answer": budget, "fits": [m["model"] for m in fitting],
                                    "node": {"question": "What does the task need most?", "branches": need_branches}})
        images = next(r["train_images"] for r in regimes if r["regime"] == regime)
        branches.append({"answer": regime, "train_images": images, "best_top1": {best["model"]: best["top1"]},
                         "node": {"question": "Compute budget at batch 1?", "branches": budget_branches}})
    return {"question": "How much labelled training data?", "slack": slack, "tolerance": tolerance,
            "branches": branches}


def leaves(tree: dict) -> list[dict]:
    """The tree's leaves, in order (data size, then budget, then need)."""
    found = []
    for branch in tree["branches"]:
        if "leaf" in branch:
            found.append(branch["leaf"])
        else:
            found.extend(leaves(branch["node"]))
    return found


def leaf_row(leaf: dict) -> dict:
    """One row of ``selection.csv``."""
    return {"regime": leaf["regime"], "budget": leaf["budget"], "need": leaf["need"], "recommended": leaf["model"],
            "family": leaf["family"], "top1": leaf["top1"], "top5": leaf["top5"],
            "latency_ms": leaf["latency_ms"], "memory_mb": leaf["memory_mb"], "cost_batch": leaf["cost_batch"],
            "throughput_ips": leaf["throughput_ips"], "throughput_batch": leaf["throughput_batch"], "why": leaf["why"]}


# ---------------------------------------------------------------- the figure


def draw(tree: dict, memory_measured: str = ""):
    """The tree left to right: questions in grey boxes, answers on the arrows, leaves coloured by family."""
    import matplotlib.pyplot as plt

    found = leaves(tree)
    figure, axis = plt.subplots(figsize=(17, 1.2 * len(found) + 1.5))
    axis.set_xlim(-0.1, 3.9)
    axis.set_ylim(len(found) - 0.4, -0.9)
    axis.axis("off")
    question = {"boxstyle": "round,pad=0.4", "facecolor": "#eeeeee", "edgecolor": "#555555"}

    def place(node: dict, depth: int, first: int) -> tuple[float, int]:
        """Draw ``node`` and its subtree from leaf row ``first``; its y and the next free row."""
        ends, row = [], first  # (y, answer) of each branch
        for branch in node["branches"]:
            if "leaf" in branch:
                y, row = row, row + 1
                leaf = branch["leaf"]
                text = (f"{leaf['model']} ({leaf['family']})\ntop-1 {leaf['top1']:.3f}, top-5 {leaf['top5']:.3f}\n"
                        f"batch {leaf['cost_batch']}: {leaf['latency_ms']:.2f} ms, {leaf['memory_mb']:.0f} MB; "
                        f"{leaf['throughput_ips']:,.0f} img/s at {leaf['throughput_batch']}\n"
                        + textwrap.shorten(leaf["why"], 70, placeholder=" ..."))
                box = {"boxstyle": "round,pad=0.4", "facecolor": FAMILY_COLORS.get(leaf["family"], "white"),
                       "alpha": 0.35}
                axis.text(depth + 1, y, text, ha="left", va="center", fontsize=8, bbox=box)
            else:
                y, row = place(branch["node"], depth + 1, row)
            answer = branch["answer"]
            if "train_images" in branch:
                answer += f" ({branch['train_images']:,} images)"
            if "fits" in branch:
                answer += f": {', '.join(branch['fits'])}"
            ends.append((y, answer))
        center = sum(y for y, _ in ends) / len(ends)
        for y, answer in ends:
            axis.annotate("", xy=(depth + 0.98, y), xytext=(depth + 0.45, center),
                          arrowprops={"arrowstyle": "-|>", "color": "#777777", "shrinkA": 0, "shrinkB": 2})
            axis.text(depth + 0.72, (y + center) / 2, answer, ha="center", va="bottom", fontsize=8, color="#333333")
        axis.text(depth, center, textwrap.fill(node["question"], 18), ha="left", va="center", fontsize=9,
                  bbox=question)
        return center, row

    place(tree, 0, 0)
    note = f"tight budget: batch-1 latency and memory within {tree['slack']}x of the cheapest model"
    note += f"; throughput: most images/s within {tree['tolerance']:.2f} top-1 of the best"
    if memory_measured:
        note += f"; memory: {memory_measured}"
    axis.set_title("Architecture selection from the measured tables\n" + note, fontsize=10)
    return figure


def run(context: Context, regimes: Optional[list[dict]] = None, profiling: Optional[list[dict]] = None) -> dict:
    """Build the tree from the given tables (else the siblings', else fresh runs); write and draw it."""
    sources = {"regimes": "given", "profiling": "given"}
    if regimes is None or profiling is None:
        regimes, profiling, sources = load_tables(context)
    tree = decision_tree(regimes, profiling)
    rows = [leaf_row(leaf) for leaf in leaves(tree)]
    context.out.table("selection", rows)
    context.out.path("decision_tree.json").write_text(json.dumps(tree, indent=2) + "\n", encoding="utf-8")
    context.out.figure("decision_tree", draw(tree, profiling[0].get("memory_measured", "")))
    return {"tables": sources,
            "recommendations": {f"{r['regime']}/{r['budget']}/{r['need']}": r["recommended"] for r in rows}}
