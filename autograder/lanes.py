"""One grading's checks split across workers that run side by side (``grade --lanes``).

A check runs in the same lane as the checks it uses (it may run them first) and as the checks that
share its measuring workers (``CheckSpec.warm_up``), so no two lanes ever share a worker. Lanes are
given whole groups, the most expensive first (``CheckSpec.seconds``), each to the lane with the
fewest estimated seconds so far: the split depends on the rubric alone, so each worker answers the
same requests in the same order in every grading, and a grade does not depend on which lane
finished first.
"""
from __future__ import annotations

import os

from autograder.checks import CHECKS


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
        return sum(CHECKS[check_id].seconds for check_id in group)

    for group in sorted(groups(check_ids), key=cost, reverse=True):  # sorted() is stable: ties keep rubric order
        lane = loads.index(min(loads))
        loads[lane] += cost(group)
        members[lane] += group
    order = {check_id: index for index, check_id in enumerate(check_ids)}
    return [sorted(lane, key=order.__getitem__) for lane in members if lane]
