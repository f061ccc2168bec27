"""Lab 3, Part 4: a model profiler (example submission).

FLOPs: a multiply-add counts 2. Counted with forward hooks on nn.Conv1d/2d/3d and nn.Linear
layers, plus a torch-function mode that sees the matrix products a forward calls directly
(``@``, matmul, bmm, einsum, scaled_dot_product_attention: attention's Q K^T and A V). Biases,
norms and activations are not counted. Memory is in bytes, latency in milliseconds.
"""
from __future__ import annotations

import copy
import math
import time
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode


def _layer_flops(module: nn.Module, inputs, output: torch.Tensor) -> int:
    """A convolution or linear layer: 2 x outputs x (multiply-adds per output)."""
    if isinstance(module, nn.Linear):
        return 2 * output.numel() * module.in_features
    return 2 * output.numel() * (module.in_channels // module.groups) * math.prod(module.kernel_size)


def _einsum_flops(equation: str, *operands) -> int:
    """Two-operand einsum: 2 x the product of the sizes of all its index letters (one operand: 0)."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if len(operands) == 1:
        return 0  # a sum or a transpose: no multiply-adds
    letters = equation.replace(" ", "").split("->")[0].split(",")
    if len(operands) != 2 or "..." in equation:
        raise NotImplementedError(f"FLOPs of einsum {equation!r} with {len(operands)} operands")
    sizes = {}
    for names, operand in zip(letters, operands):
        sizes.update(zip(names, operand.shape))
    return 2 * math.prod(sizes.values())


def _matmul_flops(a: torch.Tensor, b: torch.Tensor, *args, out: torch.Tensor, **kwargs) -> int:
    return 2 * out.numel() * a.shape[-1]


def _attention_flops(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *args, out: torch.Tensor, **kwargs) -> int:
    """q (..., L, E), k (..., S, E), v (..., S, Ev): Q K^T and A V."""
    return 2 * (q.numel() // q.shape[-1]) * k.shape[-2] * (q.shape[-1] + v.shape[-1])


class _MatmulCounter(TorchFunctionMode):
    """Adds up the FLOPs of the matrix products called while it is active."""

    COUNTERS: dict[Callable, Callable] = {
        torch.matmul: _matmul_flops,
        torch.Tensor.matmul: _matmul_flops,
        torch.Tensor.__matmul__: _matmul_flops,
        torch.bmm: _matmul_flops,
        torch.Tensor.bmm: _matmul_flops,
        F.scaled_dot_product_attention: _attention_flops,
    }

    def __init__(self) -> None:
        super().__init__()
        self.flops = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func is torch.einsum:
            self.flops += _einsum_flops(*args)
        elif func in self.COUNTERS:
            self.flops += self.COUNTERS[func](*args, out=out, **kwargs)
        return out


@contextmanager
def _eval(model: nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


class ModelProfiler:
    """Profile ``model`` on ``device``; the model is moved there.

    measure_flops / measure_latency run in eval mode and restore the mode; measure_memory trains
    a copy; benchmark_training trains the model itself.
    """

    def __init__(self, model: nn.Module, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device)

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @torch.no_grad()
    def measure_flops(self, input_size: Sequence[int]) -> int:
        """FLOPs of one forward pass on one (C, H, W) image."""
        total = 0

        def count(module, inputs, output):
            nonlocal total
            total += _layer_flops(module, inputs, output)

        layers = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
        hooks = [m.register_forward_hook(count) for m in self.model.modules() if isinstance(m, layers)]
        try:
            with _eval(self.model), _MatmulCounter() as matmuls:
                self.model(torch.zeros(1, *input_size, device=self.device))
        finally:
            for hook in hooks:
                hook.remove()
        return total + matmuls.flops

    def measure_memory(self, batch_size: int, input_size: Sequence[int]) -> int:
        """Peak bytes of one SGD (momentum 0.9) training step of a copy, on a random batch.

        CUDA: the allocator's peak from before the copy is made, less what was allocated then. CPU
        keeps no allocator statistics, so the peak is estimated as weights, buffers, gradients,
        momentum, the input, and every activation autograd saved for the backward pass.
        """
        cuda = self.device.type == "cuda"
        if cuda:
            self._sync()
            torch.cuda.reset_peak_memory_stats(self.device)
            already_allocated = torch.cuda.memory_allocated(self.device)
        trainee = copy.deepcopy(self.model)
        trainee.train()
        sgd = torch.optim.SGD(trainee.parameters(), lr=0.01, momentum=0.9)
        images = torch.randn(batch_size, *input_size, device=self.device)
        saved: dict[int, int] = {}  # storage address -> bytes, each storage counted once

        def keep(tensor: torch.Tensor) -> torch.Tensor:
            storage = tensor.untyped_storage()
            saved[storage.data_ptr()] = storage.nbytes()
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(keep, lambda tensor: tensor):
            logits = trainee(images)  # (B, classes)
            targets = torch.randint(logits.shape[-1], (batch_size,), device=self.device)
            loss = F.cross_entropy(logits, targets)
        loss.backward()
        sgd.step()
        if cuda:
            self._sync()
            return torch.cuda.max_memory_allocated(self.device) - already_allocated
        tensors = list(trainee.parameters()) + list(trainee.buffers()) + [images]
        tensors += [p.grad for p in trainee.parameters() if p.grad is not None]
        tensors += [s["momentum_buffer"] for s in sgd.state.values() if "momentum_buffer" in s]
        resident = sum(t.numel() * t.element_size() for t in tensors)
        return resident + sum(nbytes for address, nbytes in saved.items() if address != images.data_ptr())

    @torch.no_grad()
    def measure_latency(self, input_tensor: torch.Tensor, num_runs: int = 100) -> dict[str, float]:
        """Forward times of ``input_tensor`` (B, C, H, W) after 10 warm-up runs, in milliseconds:
        ``{"mean_ms", "median_ms", "p95_ms"}``."""
        if num_runs < 1:
            raise ValueError(f"need at least one timed run, got num_runs={num_runs}")
        batch = input_tensor.to(self.device)
        times = []
        with _eval(self.model):
            for _ in range(10):
                self.model(batch)
            for _ in range(num_runs):
                self._sync()
                start = time.perf_counter()
                self.model(batch)
                self._sync()
                times.append(1000.0 * (time.perf_counter() - start))
        ms = torch.tensor(times, dtype=torch.float64)
        return {"mean_ms": ms.mean().item(), "median_ms": ms.median().item(), "p95_ms": ms.quantile(0.95).item()}

    def benchmark_training(self, dataloader: Iterable, epochs: int = 5, lr: float = 1e-3) -> dict:
        """Adam + cross-entropy on ``(images (B, C, H, W), labels (B,))`` batches, ``epochs`` times.

        Returns ``{"epochs": [{"epoch", "loss", "accuracy", "seconds", "images_per_second"}, ...]}``.
        """
        adam = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.model.train()
        history = []
        for epoch in range(epochs):
            loss_sum, correct, count = 0.0, 0, 0
            self._sync()
            started = time.perf_counter()
            for inputs, targets in dataloader:
                inputs, targets = inputs.to(self.device), targets.to(self.device)
                adam.zero_grad()
                logits = self.model(inputs)  # (B, classes)
                loss = F.cross_entropy(logits, targets)
                loss.backward()
                adam.step()
                loss_sum += loss.item() * len(targets)
                correct += (logits.argmax(dim=1) == targets).sum().item()
                count += len(targets)
            self._sync()
            elapsed = time.perf_counter() - started
            if count == 0:
                raise ValueError("the dataloader gave no batches")
            history.append({"epoch": epoch + 1, "loss": loss_sum / count, "accuracy": correct / count,
                            "seconds": elapsed, "images_per_second": count / elapsed})
        return {"epochs": history}
