"""GradCAM in the pytorch-grad-cam style: a forward hook keeps the (detached) activations and a full
backward hook keeps the gradient of the layer's output. The backward pass is asked for the gradient
of the input only (torch.autograd.grad), which runs the hook and leaves the parameters' .grad alone."""
import torch
import torch.nn.functional as F
from torch import nn


class GradCAM:
    def __init__(self, model: nn.Module, target_layer: nn.Module) -> None:
        self.model = model
        self.target_layer = target_layer
        self.activations = None
        self.gradients = None
        self._handles = [
            target_layer.register_forward_hook(self._save_activations),
            target_layer.register_full_backward_hook(self._save_gradients),
        ]

    def _save_activations(self, module, inputs, output):
        self.activations = output.detach()

    def _save_gradients(self, module, grad_input, grad_output):
        self.gradients = grad_output[0].detach()

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.remove()

    def __call__(self, x: torch.Tensor, class_idx=None) -> torch.Tensor:
        x = x.detach().requires_grad_(True)  # the backward pass must run through the target layer
        with torch.enable_grad():
            logits = self.model(x)
            batch = logits.shape[0]
            if class_idx is None:
                targets = logits.argmax(dim=1)
            else:
                targets = torch.as_tensor(class_idx, dtype=torch.long, device=logits.device).reshape(-1)
                if targets.numel() == 1:
                    targets = targets.expand(batch)
                if targets.numel() != batch:
                    raise ValueError(f"class_idx has {targets.numel()} entries for {batch} images")
                if targets.min() < 0 or targets.max() >= logits.shape[1]:
                    raise ValueError(f"class_idx {targets.tolist()} outside [0, {logits.shape[1]})")
            score = logits[torch.arange(batch, device=logits.device), targets].sum()
            torch.autograd.grad(score, x)  # fires the backward hook; nothing accumulates in .grad
        weights = self.gradients.mean(dim=(2, 3), keepdim=True)
        cam = F.relu((weights * self.activations).sum(dim=1, keepdim=True))
        cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
        low = cam.amin(dim=(1, 2), keepdim=True)
        high = cam.amax(dim=(1, 2), keepdim=True)
        return (cam - low) / (high - low).clamp_min(1e-7)
