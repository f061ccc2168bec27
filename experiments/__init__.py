"""The lab's experiments: data, one training loop, and one module per experiment (``python -m experiments``)."""
import os

# As in autograder/__init__.py: keep torch's profiler from printing USDT and ERROR lines on a CPU.
os.environ.setdefault("KINETO_LOG_LEVEL", "6")
