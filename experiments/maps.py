"""Attention maps: a ViT's CLS attention and attention rollout, and any map drawn over its image.

Shape letters: B images, H heads, T = N + 1 tokens (the CLS token first), N = g * g patches,
C x S x S images. A map is only meaningful up to scale, so ``overlay`` rescales it to [0, 1].
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def attention_rollout(attentions: list[torch.Tensor]) -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema 2020, arXiv:2005.00928): (B, T, T), rows summing to 1.

    ``attentions``: every block's weights, first block first, each (B, H, T, T). Per block the heads
    are averaged and the residual connection is accounted for by adding the identity and
    renormalising the rows, ``A' = (A + I) / 2``; the rollout is ``A'_L ... A'_2 A'_1``, whose row t
    says how much token t's final representation draws on each input token.
    """
    if not attentions:
        raise ValueError("attention rollout needs the weights of at least one block")
    rollout = None
    for attention in attentions:
        mixed = attention.double().mean(dim=1)  # (B, H, T, T) -> (B, T, T)
        mixed = mixed + torch.eye(mixed.shape[-1], dtype=mixed.dtype, device=mixed.device)
        mixed = mixed / mixed.sum(dim=-1, keepdim=True)
        rollout = mixed if rollout is None else mixed @ rollout
    return rollout.float()


def cls_to_patches(matrix: torch.Tensor) -> torch.Tensor:
    """The CLS row of a token matrix (B, T, T) over the patches only, renormalised: (B, N), rows sum to 1."""
    row = matrix[:, 0, 1:]  # the CLS token's share of itself is dropped: it is not a place in the image
    return row / row.sum(dim=-1, keepdim=True).clamp_min(1e-12)


def cls_attention(attention: torch.Tensor) -> torch.Tensor:
    """One block's attention of the CLS token to the patches, mean over heads: (B, H, T, T) -> (B, N)."""
    return cls_to_patches(attention.float().mean(dim=1))


def patch_grid(weights: torch.Tensor) -> torch.Tensor:
    """Per-patch weights (B, N) laid out as the image's patch grid (B, g, g), row by row."""
    side = math.isqrt(weights.shape[-1])
    if side * side != weights.shape[-1]:
        raise ValueError(f"{weights.shape[-1]} patches do not form a square grid")
    return weights.reshape(weights.shape[0], side, side)


def resize(maps: torch.Tensor, size: tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """Maps (B, h, w) resized to (B, *size); ``nearest`` keeps patch maps blocky, as the model sees them."""
    options = {"align_corners": False} if mode == "bilinear" else {}
    return F.interpolate(maps[:, None].float(), size=size, mode=mode, **options)[:, 0]


def display_image(image: torch.Tensor) -> np.ndarray:
    """A normalised image (C, S, S) as an array in [0, 1] for ``imshow``: (S, S) for one channel, else (S, S, C)."""
    low, high = image.min(), image.max()
    scaled = ((image - low) / (high - low).clamp_min(1e-12)).cpu()
    return scaled[0].numpy() if scaled.shape[0] == 1 else scaled.permute(1, 2, 0).numpy()


def show_image(axis, image: torch.Tensor, title: str | None = None) -> None:
    """Draw ``image`` (C, S, S) alone, without axes."""
    axis.imshow(display_image(image), cmap="gray")
    axis.set_axis_off()
    if title:
        axis.set_title(title, fontsize=8)


def overlay(axis, image: torch.Tensor, heat: torch.Tensor, title: str | None = None, mode: str = "bilinear",
            alpha: float = 0.5) -> None:
    """Draw ``image`` (C, S, S) with ``heat`` (h, w), resized to S x S and scaled to [0, 1], over it."""
    heat = resize(heat[None], tuple(image.shape[-2:]), mode)[0]
    low, high = heat.min(), heat.max()
    heat = (heat - low) / (high - low).clamp_min(1e-12)
    show_image(axis, image, title)
    axis.imshow(heat.cpu().numpy(), cmap="jet", alpha=alpha, vmin=0.0, vmax=1.0)
