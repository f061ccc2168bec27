"""The lab's experiments: data, one training loop, and one module per experiment (``python -m experiments``)."""
