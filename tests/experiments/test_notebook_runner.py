"""The notebook's way to run an experiment: its own definitions, its figures and tables shown, and the
cost columns left empty until the profiler of Part 4 is written."""
from __future__ import annotations

import json

import pytest
import torch

import solutions.attention
import solutions.gradcam
import solutions.profiler
import solutions.resnet
import solutions.vit
from experiments import attention_study, vit_study
from experiments.in_notebook import run_experiment, table_html
from experiments.lab import PROFILER_NOT_WRITTEN, lab_from_namespace, profile_if_written


def notebook_namespace(with_profiler: bool) -> dict:
    """What a notebook's globals() hold after Part 3 (``with_profiler``: after Part 4)."""
    modules = [solutions.resnet, solutions.attention, solutions.gradcam, solutions.vit]
    modules += [solutions.profiler] if with_profiler else []
    return {name: value for module in modules for name, value in vars(module).items() if not name.startswith("__")}


@pytest.fixture
def shown(monkeypatch) -> list:
    """What the runner displays, in order (instead of a notebook's output)."""
    import IPython.display

    displayed = []
    monkeypatch.setattr(IPython.display, "display", displayed.append)
    return displayed


def test_the_profiler_is_used_only_once_written():
    class Unwritten:
        def __init__(self, model, device):
            pass

        def measure_flops(self, shape):
            raise NotImplementedError

    class Broken(Unwritten):
        def measure_flops(self, shape):
            raise ValueError("a bug in the student's profiler")

    model, measure = torch.nn.Linear(2, 2), (lambda profiler: profiler.measure_flops((2,)))
    assert profile_if_written(lab_from_namespace({}), model, "cpu", measure) is None
    assert profile_if_written(lab_from_namespace({"ModelProfiler": Unwritten}), model, "cpu", measure) is None
    with pytest.raises(ValueError, match="a bug"):  # only "not written yet" is forgiven
        profile_if_written(lab_from_namespace({"ModelProfiler": Broken}), model, "cpu", measure)
    written = lab_from_namespace(vars(solutions.profiler))
    assert profile_if_written(written, model, torch.device("cpu"), measure) == 8  # 2 x 2 multiply-adds


@pytest.mark.slow
def test_a_notebook_before_part_4_runs_the_vit_study_and_sees_its_figures(tmp_path, shown, capsys, monkeypatch):
    # A few steps show the runner's work; what the smoke ViTs learn is tests/notebooks/test_nbgrader.py's.
    monkeypatch.setattr(vit_study, "SMOKE_TRAINING", {"epochs": 1, "max_steps_per_epoch": 3})
    summary = run_experiment("vit", notebook_namespace(with_profiler=False), "cpu", smoke=True, results=tmp_path)
    folder = tmp_path / "vit-digits-smoke"
    figures = [item for item in shown if type(item).__name__ == "Image"]
    tables = [item for item in shown if type(item).__name__ == "HTML"]
    assert [f.filename for f in figures] == [str(folder / "vit_hyperparameters.png"), str(folder / "vit_attention.png")]
    assert len(tables) == 1 and "<caption>vit</caption>" in tables[0].data
    rows = json.loads((folder / "vit.json").read_text())
    assert rows == summary["configurations"] and all(row["flops"] is None for row in rows)
    assert all(0 <= row["top1"] <= 1 for row in rows)
    assert summary["note"] == PROFILER_NOT_WRITTEN and PROFILER_NOT_WRITTEN in capsys.readouterr().out

    run_experiment("vit", notebook_namespace(with_profiler=False), "cpu", smoke=True, results=tmp_path)
    again = capsys.readouterr().out
    assert "Taken from earlier runs" in again and "rerun=True" in again


@pytest.mark.slow
def test_rerun_starts_afresh_and_unknown_names_are_refused(tmp_path, shown, capsys):
    stale = tmp_path / "profiling-digits-smoke" / "runs" / "stale.json"
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")
    summary = run_experiment("profiling", notebook_namespace(with_profiler=True), "cpu", smoke=True,
                             results=tmp_path, rerun=True)
    assert not stale.exists() and "note" not in summary
    assert "Taken from earlier runs" not in capsys.readouterr().out
    assert any(type(item).__name__ == "Image" for item in shown)
    with pytest.raises(ValueError, match="no experiment 'depht'; the experiments are depth, gradient-flow"):
        run_experiment("depht", {}, "cpu", smoke=True, results=tmp_path)


def test_tables_show_numbers_to_four_digits_and_nothing_for_none():
    html = table_html("costs <1>", [{"network": "se<b>", "flops": 1234567.0, "latency_ms": None, "parameters": 11}])
    assert "<caption>costs &lt;1&gt;</caption>" in html
    assert "<td>se&lt;b&gt;</td><td>1.235e+06</td><td></td><td>11</td>" in html


def test_the_attention_cost_figure_leaves_out_what_was_not_measured():
    rows = [{"network": name, "top1": 0.9, "parameters": 1e6, "flops": None, "latency_ms": None,
             "train_step_memory_mb": None} for name in attention_study.NETWORKS]
    assert len(attention_study.cost_figure(rows).axes) == 2
    measured = [{**row, "flops": 1e9, "latency_ms": 2.0, "train_step_memory_mb": 50.0} for row in rows]
    assert len(attention_study.cost_figure(measured).axes) == 5
