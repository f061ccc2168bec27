"""PatchEmbedding as nn.Unfold (kernel = stride = P) and one nn.Linear (C * P * P -> D): Unfold
flattens each patch in (C, P, P) order, the layout of a Conv2d's weight."""
import torch
from torch import nn


class PatchEmbedding(nn.Module):
    def __init__(self, img_size: int = 224, patch_size: int = 16, in_channels: int = 3, embed_dim: int = 768) -> None:
        super().__init__()
        if img_size % patch_size != 0:
            raise ValueError(f"img_size {img_size} is not a multiple of patch_size {patch_size}")
        self.img_size = img_size
        self.patch_size = patch_size
        self.num_patches = (img_size // patch_size) ** 2
        self.unfold = nn.Unfold(kernel_size=patch_size, stride=patch_size)
        self.proj = nn.Linear(in_channels * patch_size * patch_size, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.img_size or x.shape[-2] != self.img_size:
            raise ValueError(f"PatchEmbedding expects {self.img_size}x{self.img_size} images (img_size), "
                             f"got {tuple(x.shape[-2:])}")
        patches = self.unfold(x).transpose(1, 2)  # (B, C*P*P, N) -> (B, N, C*P*P)
        return self.proj(patches)
