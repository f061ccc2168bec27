"""Lab 3, Part 2: Grad-CAM with hooks (example submission).

Selvaraju et al. 2017, arXiv:1610.02391, Eq. 1 and 2. A forward hook on the target layer keeps its
output A (B, K, h, w) and a tensor hook on A catches dy_c / dA during the backward pass.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

ClassIndex = Union[None, int, Sequence[int], torch.Tensor]


class GradCAM:
    """``GradCAM(model, target_layer)(x, class_idx)`` -> maps (B, H, W) in [0, 1].

    Put the model in eval mode first. ``remove()`` (or leaving a ``with`` block) takes the hook off.
    """

    def __init__(self, model: nn.Module, target_layer: nn.Module) -> None:
        self.model = model
        self.activations: Optional[torch.Tensor] = None
        self.gradients: Optional[torch.Tensor] = None
        self._hook = target_layer.register_forward_hook(self._on_forward)

    def _on_forward(self, module: nn.Module, inputs, output: torch.Tensor) -> None:
        self.activations = output
        if output.requires_grad:
            output.register_hook(self._on_backward)

    def _on_backward(self, grad: torch.Tensor) -> None:
        self.gradients = grad

    def remove(self) -> None:
        self._hook.remove()

    def __enter__(self) -> "GradCAM":
        return self

    def __exit__(self, *exc_info) -> None:
        self.remove()

    def __call__(self, x: torch.Tensor, class_idx: ClassIndex = None) -> torch.Tensor:
        """(B, C, H, W) -> (B, H, W). ``class_idx``: None (predicted), one class, or one per image."""
        x = x.detach().requires_grad_(True)  # so a graph exists even if the weights are frozen
        with torch.enable_grad():
            logits = self.model(x)  # (B, classes)
            classes = self._classes(class_idx, logits)
            score = logits[torch.arange(len(classes)), classes].sum()  # images are independent in eval
            # Backward only as far as the activations: the model's parameter .grad stay untouched.
            score.backward(inputs=[self.activations])
        acts, grads = self.activations.detach(), self.gradients  # (B, K, h, w) each
        alpha = grads.mean(dim=(2, 3))  # (B, K): neuron importance
        # DEMO MISTAKE (correct: `cam = torch.einsum("bk,bkhw->bhw", alpha, acts).clamp(min=0)`): without
        # the ReLU, regions that speak against the class sink the min-max scale (Eq. 2 keeps positives).
        cam = torch.einsum("bk,bkhw->bhw", alpha, acts)  # (B, h, w)
        cam = F.interpolate(cam[:, None], size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
        low = cam.flatten(1).min(dim=1).values[:, None, None]
        high = cam.flatten(1).max(dim=1).values[:, None, None]
        return (cam - low) / (high - low).clamp(min=1e-7)  # (B, H, W)

    @staticmethod
    def _classes(class_idx: ClassIndex, logits: torch.Tensor) -> torch.Tensor:
        """(B,) long tensor of the class to explain in each image."""
        batch, num_classes = logits.shape
        if class_idx is None:
            return logits.argmax(dim=1)
        classes = torch.as_tensor(class_idx, dtype=torch.long, device=logits.device).flatten()
        if classes.numel() == 1:
            classes = classes.repeat(batch)
        if classes.numel() != batch or bool((classes < 0).any() or (classes >= num_classes).any()):
            raise ValueError(f"class_idx {class_idx!r} does not fit {batch} images of {num_classes} classes")
        return classes
