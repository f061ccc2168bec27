"""Splitting a grading's checks across workers: by the rubric alone, related checks together."""
from __future__ import annotations

from autograder import paths
from autograder.checks import CHECKS
from autograder.lanes import groups, split
from autograder.rubric import load_rubric

RUBRIC = load_rubric(paths.ROOT / "grading.yml", CHECKS)
CHECK_IDS = list(RUBRIC.checks)


def lane_of(lanes: list[list[str]]) -> dict[str, int]:
    return {check_id: index for index, lane in enumerate(lanes) for check_id in lane}


def test_every_check_runs_in_one_lane_in_rubric_order():
    lanes = split(CHECK_IDS, 2)
    assert len(lanes) == 2 and sorted(sum(lanes, [])) == sorted(CHECK_IDS)
    for lane in lanes:
        assert lane == [check_id for check_id in CHECK_IDS if check_id in lane]
    assert split(CHECK_IDS, 1) == [CHECK_IDS]
    assert split(CHECK_IDS, 2) == lanes  # the same split every time


def test_a_check_shares_a_lane_with_the_checks_it_uses_and_with_those_sharing_its_measuring_workers():
    where = lane_of(split(CHECK_IDS, 2))
    related = [(check_id, used) for check_id in CHECK_IDS for used in CHECKS[check_id].uses if used in where]
    assert related, "the rubric has checks that use others"
    assert all(where[check_id] == where[used] for check_id, used in related)
    measuring = [check_id for check_id in CHECK_IDS if CHECKS[check_id].warm_up is not None]
    assert len(measuring) > 1 and len({where[check_id] for check_id in measuring}) == 1


def test_the_lanes_take_about_the_same_estimated_time():
    def seconds(lane: list[str]) -> float:
        return sum(CHECKS[check_id].seconds for check_id in lane)

    first, second = (seconds(lane) for lane in split(CHECK_IDS, 2))
    assert abs(first - second) <= 0.2 * max(first, second)


def test_more_lanes_than_groups_leaves_none_empty():
    few = ["part4.training.vit", "part3.mha.numerics", "part3.vit.numerics"]  # the ViT numerics use the MHA's
    lanes = split(few, 8)
    assert all(lanes) and len(lanes) == len(groups(few)) and sorted(sum(lanes, [])) == sorted(few)


def test_results_from_the_lanes_are_reported_in_rubric_order_and_a_grader_error_is_raised():
    import queue

    import pytest

    from autograder.grade import _in_rubric_order
    from autograder.report import CheckResult

    def result(check_id: str) -> CheckResult:
        return CheckResult(check_id, 1.0, 1.0, "ok", "visible")

    finished: queue.Queue = queue.Queue()
    for check_id in ("c", "a", "b"):  # as two lanes might finish them
        finished.put((check_id, result(check_id)))
    told = []
    results = _in_rubric_order(["a", "b", "c"], finished, lambda r, done, total: told.append((r.id, done, total)))
    assert [r.id for r in results] == ["a", "b", "c"] and told == [("a", 1, 3), ("b", 2, 3), ("c", 3, 3)]
    finished.put(("a", result("a")))
    finished.put(("b", RuntimeError("a bug in the grader")))
    with pytest.raises(RuntimeError, match="a bug in the grader"):
        _in_rubric_order(["a", "b"], finished, None)
