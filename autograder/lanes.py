"""One grading's checks split across workers that run side by side (``grade --lanes``).

A check runs in the same lane as the checks it uses (it may run them first) and as the checks that
share its measuring workers (``CheckSpec.warm_up``), so no two lanes ever share a worker. Lanes are
given whole groups, the most expensive first, each to the lane with the fewest estimated seconds so
far: the split depends on the rubric alone, so each worker answers the same requests in the same
order in every grading, and a grade does not depend on which lane finished first.
"""
from __future__ import annotations

import os

from autograder.checks import CHECKS

ESTIMATED_SECONDS = {
    "part1.basic_block.shapes": 1.3,
    "part1.bottleneck.efficiency": 1.9,
    "part1.resnet.parameters": 0.3,
    "part1.resnet.shapes": 0.6,
    "part1.resnet.numerics": 4.3,
    "part2.se_resnet.numerics": 0.7,
    "part2.cbam_resnet.numerics": 0.7,
    "part3.mha.efficiency": 0.5,
    "part3.encoder_block.efficiency": 0.8,
    "part3.vit.parameters": 0.5,
    "part4.profiler.flops": 1.1,
    "part4.profiler.latency": 0.7,
    "part4.profiler.training": 0.2,
    "part4.training.resnet": 1.4,
    "part4.training.vit": 3.5,
}
"""Seconds the checks that take longest took to grade the reference solutions (``./kit run grade
solutions``, results.json's ``extra_data.seconds``, 2-core Intel Xeon); only their ratios matter."""
OTHER_CHECK_SECONDS = 0.05
"""The estimate for any other check."""


def available_cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def auto_lanes() -> int:
    """Lanes for one grading on this machine: two where there are two cores or more (the grader and
    a worker take turns, so one lane keeps about one core busy), else one."""
    return 2 if available_cores() >= 2 else 1


def groups(check_ids: list[str]) -> list[list[str]]:
    """``check_ids`` in groups that must share a lane, each in the given order, the groups ordered by
    their first check."""
    parent = {check_id: check_id for check_id in check_ids}

    def root(check_id: str) -> str:
        while parent[check_id] != check_id:
            check_id = parent[check_id]
        return check_id

    def join(one: str, other: str) -> None:
        parent.setdefault(other, other)
        parent[root(other)] = root(one)

    by_warm_up: dict[object, str] = {}
    for check_id in list(parent):
        pending = [check_id]
        while pending:  # the checks it uses, and theirs, whether or not the rubric has them
            for used in CHECKS[pending.pop()].uses:
                if used not in parent or root(used) != root(check_id):
                    join(check_id, used)
                    pending.append(used)
        warm_up = CHECKS[check_id].warm_up
        if warm_up is not None:
            join(by_warm_up.setdefault(warm_up, check_id), check_id)
    grouped: dict[str, list[str]] = {}
    for check_id in check_ids:
        grouped.setdefault(root(check_id), []).append(check_id)
    return list(grouped.values())


def split(check_ids: list[str], lanes: int) -> list[list[str]]:
    """``check_ids`` in at most ``lanes`` lists, each in the given order (see the module docstring);
    no empty list."""
    lanes = max(1, lanes)
    loads = [0.0] * lanes
    members: list[list[str]] = [[] for _ in range(lanes)]

    def cost(group: list[str]) -> float:
        return sum(ESTIMATED_SECONDS.get(check_id, OTHER_CHECK_SECONDS) for check_id in group)

    for group in sorted(groups(check_ids), key=cost, reverse=True):  # sorted() is stable: ties keep rubric order
        lane = loads.index(min(loads))
        loads[lane] += cost(group)
        members[lane] += group
    order = {check_id: index for index, check_id in enumerate(check_ids)}
    return [sorted(lane, key=order.__getitem__) for lane in members if lane]
