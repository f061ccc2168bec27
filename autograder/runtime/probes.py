"""Modules of the grader's probe models that torch.nn lacks, built on both sides of a worker.

A probe spec names one as ``"probe:NAME"`` (``["probe:TokenAttention"]``). The worker's copy of
this file runs inside its sandbox, so it imports torch alone.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

PREFIX = "probe:"
"""Spec names starting with this build a module of ``PROBES``."""


class TokenAttention(nn.Module):
    """Tokens attending to themselves, without projections: ``softmax(x x^T / sqrt(D)) x``.

    Shapes: (B, H, N, D) -> (B, H, N, D). Not the lab's MultiHeadAttention (no learned
    projections, no heads to split): it puts attention's two matrix products into a profiler
    probe without the student's vit.py and without a torch.nn attention layer (those are on the
    rubric's forbidden list).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(x, x, x)


PROBES: dict[str, type[nn.Module]] = {"TokenAttention": TokenAttention}
