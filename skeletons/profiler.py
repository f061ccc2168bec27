"""Model profiler: FLOPs, training-step memory, latency and a training benchmark (Lab 3, Part 4).

Conventions: one multiply-add counts as 2 FLOPs; FLOPs are those of matrix products and
convolutions (including attention's Q K^T and A V), for one image in eval mode. Latency is in
milliseconds after warm-up, synchronised on CUDA. Memory is in bytes.
"""
from __future__ import annotations

import copy
import statistics
import time
from contextlib import contextmanager
from typing import Iterable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def _attention_flops(query_shape, key_shape, value_shape, *args, **kwargs) -> int:
    """FLOPs of softmax(Q K^T) V for q (B, H, N, d), k (B, H, M, d), v (B, H, M, e)."""
    batch, heads, queries, dim = query_shape
    keys, value_dim = key_shape[-2], value_shape[-1]
    return 2 * batch * heads * queries * keys * (dim + value_dim)


def _cpu_fused_attention_ops() -> dict:
    """Counters for the fused attention kernels torch's FlopCounterMode leaves out.

    It counts the CUDA fused attention kernels but not the CPU one, nor ``nn.MultiheadAttention``'s
    fast path (eval mode without autograd, on any device), whose projections and attention products
    run inside one kernel it cannot see into. Ops this torch lacks are left out.
    """

    def multi_head_attention_flops(query_shape, key_shape, *args, **kwargs) -> int:
        """FLOPs of aten._native_multi_head_attention for query (B, L, E), key and value (B, S, E):
        q, k, v projections 2 B (L + 2 S) E^2, Q K^T and A V 2 B L S E each (all heads together),
        output projection 2 B L E^2."""
        batch, queries, dim = query_shape
        keys = key_shape[1]
        return 2 * batch * dim * ((queries + 2 * keys) * dim + 2 * queries * keys + queries * dim)

    # FlopCounterMode hands custom counters the shapes of tensor arguments, other arguments as they are.
    counters = {
        "_scaled_dot_product_flash_attention_for_cpu": _attention_flops,
        "_native_multi_head_attention": multi_head_attention_flops,
    }
    ops = {}
    for name, count in counters.items():
        op = getattr(torch.ops.aten, name, None)
        if op is not None:
            ops[op] = count
    return ops


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _tensor_bytes(tensors: Iterable[torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


class ModelProfiler:
    """Measure a model's cost on ``device`` ("cpu", "cuda", "cuda:1", or a torch.device).

    The model is moved to ``device``. ``measure_flops`` and ``measure_latency`` run it in eval mode
    and restore its mode afterwards; ``measure_memory`` trains a copy, so the model is unchanged;
    ``benchmark_training`` trains the model itself.
    """

    def __init__(self, model: nn.Module, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device)

    def measure_flops(self, input_size: Sequence[int]) -> int:
        """FLOPs of one forward pass on one image of shape ``input_size`` = (C, H, W)."""
        # TODO: count the FLOPs of a forward pass on a (1, C, H, W) input.
        # YOUR CODE HERE
        raise NotImplementedError()

    def measure_memory(self, batch_size: int, input_size: Sequence[int]) -> int:
        """Peak bytes held during one training step of a copy of the model.

        The step: forward on a random (batch_size, C, H, W) batch, cross-entropy against random
        labels, backward, SGD (momentum 0.9) update. The peak counts every live tensor: weights,
        buffers, gradients, momentum, activations kept for backward and temporaries. On CUDA it is
        read from the caching allocator's statistics, on the CPU from the profiler's allocation
        events.
        """
        # TODO: run one training step on a copy and report its peak memory.
        # YOUR CODE HERE
        raise NotImplementedError()

    @torch.no_grad()
    def measure_latency(self, input_tensor: torch.Tensor, num_runs: int = 100) -> dict[str, float]:
        """Forward latency for ``input_tensor`` (B, C, H, W) after 10 warm-up runs.

        Returns ``{"mean_ms", "median_ms", "p95_ms"}`` over ``num_runs`` timed runs, each timed
        alone and, on CUDA, synchronised before the clock is read.

        Raises:
            ValueError: naming ``num_runs`` when it is below 1.
        """
        # TODO: warm up, then time each run.
        # YOUR CODE HERE
        raise NotImplementedError()

    def benchmark_training(self, dataloader: Iterable, epochs: int = 5, lr: float = 1e-3) -> dict:
        """Train the model with Adam (``lr``) and cross-entropy for ``epochs`` passes.

        ``dataloader`` yields ``(images (B, C, H, W), labels (B,))``. Returns
        ``{"epochs": [{"epoch", "loss", "accuracy", "seconds", "images_per_second"}, ...]}``:
        the mean training loss, training accuracy in [0, 1], and wall time of each epoch.

        Raises:
            ValueError: naming the ``dataloader`` when it yields no batches.
        """
        # TODO: a plain training loop that records loss, accuracy and time per epoch.
        # YOUR CODE HERE
        raise NotImplementedError()
