"""Grad-CAM: class activation maps from gradients (Lab 3, Part 2: attention maps).

Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
Localization" (arXiv:1610.02391), Eq. 1 and 2.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

ClassIndex = Union[None, int, Sequence[int], torch.Tensor]


class GradCAM:
    """Grad-CAM for a classifier ``model`` at the output of ``target_layer`` (B, K, h, w).

    For class c with score y_c (the logit): weights ``a_k = mean_{i,j} dy_c / dA_k[i, j]``
    (the spatial mean of the gradients), map ``ReLU(sum_k a_k A_k)`` (B, h, w), upsampled
    bilinearly (align_corners=False) to the input size, then min-max scaled per image to
    [0, 1] (an all-zero map stays zero).

    Put the model in eval mode first: in train mode BatchNorm mixes the images of a batch.
    The model's parameter gradients are left untouched. Use as a context manager, or call
    ``remove()``, to take the forward hook off the layer.
    """

    def __init__(self, model: nn.Module, target_layer: nn.Module) -> None:
        self.model = model
        self.target_layer = target_layer
        self.activations: Optional[torch.Tensor] = None
        self._handle = target_layer.register_forward_hook(self._keep_activations)

    def _keep_activations(self, module: nn.Module, inputs, output: torch.Tensor) -> None:
        self.activations = output

    def remove(self) -> None:
        """Take the forward hook off ``target_layer``."""
        self._handle.remove()

    def __enter__(self) -> "GradCAM":
        return self

    def __exit__(self, *exc_info) -> None:
        self.remove()

    def __call__(self, x: torch.Tensor, class_idx: ClassIndex = None) -> torch.Tensor:
        """(B, C, H, W) -> (B, H, W) maps in [0, 1].

        ``class_idx``: None for each image's predicted class, an int (or 0-d tensor) for the same
        class in every image, or a sequence / tensor of B class indices, one per image.

        Raises:
            ValueError: naming ``class_idx`` when it does not give one class per image, or names
                a class the model does not have.
        """
        # TODO: forward pass (the hook keeps the activations), pick the target class scores,
        # take their gradient w.r.t. the activations, weight, sum, ReLU, upsample, normalise.
        # YOUR CODE HERE
        raise NotImplementedError()

    @staticmethod
    def _target_classes(logits: torch.Tensor, class_idx: ClassIndex) -> torch.Tensor:
        """The class to explain for each image: (B,) int64 on the logits' device."""
        batch = logits.shape[0]
        if class_idx is None:
            return logits.argmax(dim=1)
        targets = torch.as_tensor(class_idx, dtype=torch.long)
        # One class (an int, a numpy integer, a 0-d tensor) is explained in every image.
        targets = targets.expand(batch) if targets.dim() == 0 else targets.reshape(-1)
        # TODO: raise a ValueError naming class_idx when it gives another number of classes than
        # images, or a class outside [0, number of classes).
        # YOUR CODE HERE
        raise NotImplementedError()
        return targets.to(logits.device)
