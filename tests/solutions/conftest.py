"""Shared fixtures for the tests of the reference solutions."""
import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """Run a module's small tensors on one intra-op thread (restored afterwards): on a shared
    2-core machine OpenMP threads spin-waiting for each other make such tests several times slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
