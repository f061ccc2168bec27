"""The training smoke tests' stopping rule: steps, a validation split and a separate test split.

Training stops when the validation split reaches the target or at the step limit, both counted in
steps; the score comes from the test split, which the stopping rule never sees; the CPU budget
stops runaway code only. Each rule is shown on the reference's BasicBlocks with settings that make
it decide.
"""
from __future__ import annotations

import re

import pytest
import torch

from autograder import paths
from autograder.checks.training import HELD_OUT, digit_splits
from autograder.grade import grade
from autograder.rubric import CheckRule, Rubric, Tolerance, TrainingSettings

TOLERANCES = {"float32": Tolerance(1e-4, 1e-3), "float64": Tolerance(1e-9, 1e-7)}


def smoke_test(settings: TrainingSettings):
    checks = {"part4.training.resnet": CheckRule(1.0, "visible", 150, TOLERANCES)}
    rubric = Rubric(1.0, 1.0, checks, {}, TOLERANCES, (), settings)
    (result,) = grade(paths.SOLUTIONS, rubric, "cpu", sandbox="off").results
    return result


def test_the_three_splits_are_disjoint_and_standardised_by_the_training_split():
    data = digit_splits()
    assert len(data.test_labels) == len(data.validation_labels) == HELD_OUT
    assert len(data.train_labels) + 2 * HELD_OUT == 1797
    assert abs(float(data.train_images.mean())) < 1e-5 and abs(float(data.train_images.std()) - 1) < 1e-5
    flat = {split: images.flatten(1) for split, images in
            (("train", data.train_images), ("validation", data.validation_images), ("test", data.test_images))}
    for one, other in (("train", "test"), ("validation", "test"), ("train", "validation")):
        distances = torch.cdist(flat[one], flat[other])
        assert int((distances < 1e-6).sum()) <= 2, (one, other)  # digits holds a couple of exact duplicates


def test_training_stops_when_the_validation_split_reaches_the_target():
    result = smoke_test(TrainingSettings(target_accuracy=0.5, min_accuracy=0.3, validate_every=10))
    steps = int(re.search(r"after (\d+) steps", result.output).group(1))
    assert result.passed and steps % 10 == 0 and steps < 100, result.output


def test_training_runs_to_the_step_limit_when_the_target_is_out_of_reach():
    result = smoke_test(TrainingSettings(max_steps=30, target_accuracy=1.0, min_accuracy=0.2, validate_every=10))
    assert "stopped at the limit of 30 steps" in result.output, result.output


def test_the_cpu_budget_stops_training_that_takes_too_long():
    result = smoke_test(TrainingSettings(target_accuracy=1.0, cpu_budget_s=0.01, validate_every=5))
    assert result.score == 0 and "more than the 0.01 CPU seconds" in result.output, result.output


@pytest.mark.slow
def test_the_same_settings_give_the_same_feedback_every_time():
    """A long run (a high target, reached late or not at all), where a difference would show."""
    settings = TrainingSettings(target_accuracy=0.95, min_accuracy=0.5)
    assert smoke_test(settings).output == smoke_test(settings).output


def test_the_digits_read_from_scikit_learns_file_are_what_load_digits_gives():
    from sklearn.datasets import load_digits

    from autograder.checks.common import digits

    images, labels, order = digits()
    expected = load_digits()
    assert images.shape == (1797, 1, 8, 8) and labels.dtype == torch.long
    assert torch.equal(images, torch.tensor(expected.images, dtype=torch.float32)[:, None] / 16.0)
    assert torch.equal(labels, torch.tensor(expected.target))
    assert sorted(order.tolist()) == list(range(1797))
