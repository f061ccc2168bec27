"""What every test runs with.

- English: ``LAB3_LANG=en`` overrides the rubric's language (Spanish, the course's) here and in every
  process the tests start. The tests of the Spanish texts ask for Spanish themselves (``autograder/i18n.py``).
- One thread: torch here and in every worker the tests start (``OMP_NUM_THREADS``, read by each
  process's torch when it starts) uses one intra-op thread. The tests' models are small, and the
  suite runs one pytest process per core (pytest-xdist): on a 2-core machine, threads spin-waiting
  for each other across processes make grading several times slower.
- Alone: a test marked ``alone`` (the load test, which measures how gradings share the machine) must
  run while no other test runs: ``./kit test`` runs those in a pytest session of their own, after the
  others.
"""
import os

os.environ["OMP_NUM_THREADS"] = "1"  # before torch is imported, here and in the processes started from here

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def english():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAB3_LANG", "en")
        yield


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    torch.set_num_threads(1)
    yield


def pytest_collection_modifyitems(session, config, items):
    """The files whose every test is slow first, then those with some slow tests, then the rest (each
    file's tests kept together, in their order): with one file per pytest-xdist worker at a time, the
    longest work starts first and the cores finish at about the same time."""
    slow: dict = {}
    for item in items:
        slow.setdefault(item.path, []).append(item.get_closest_marker("slow") is not None)
    rank = {path: 0 if all(marks) else 1 if any(marks) else 2 for path, marks in slow.items()}
    items.sort(key=lambda item: rank[item.path])
