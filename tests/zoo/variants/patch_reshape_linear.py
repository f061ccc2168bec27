"""PatchEmbedding cutting the patches with reshape + permute into (B, N, C * P * P), each patch
flattened channel first (C, P, P), then one nn.Linear named `linear`."""
import torch
from torch import nn


class PatchEmbedding(nn.Module):
    def __init__(self, img_size: int = 224, patch_size: int = 16, in_channels: int = 3, embed_dim: int = 768) -> None:
        super().__init__()
        if img_size % patch_size:
            raise ValueError(f"patch_size {patch_size} must divide img_size {img_size}")
        self.img_size = img_size
        self.patch_size = patch_size
        self.grid = img_size // patch_size
        self.num_patches = self.grid * self.grid
        self.linear = nn.Linear(patch_size * patch_size * in_channels, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        if H != self.img_size or W != self.img_size:
            raise ValueError(f"input is {H}x{W}, but img_size is {self.img_size}")
        P = self.patch_size
        x = x.reshape(B, C, H // P, P, W // P, P)  # (B, C, gh, P, gw, P)
        x = x.permute(0, 2, 4, 1, 3, 5)  # (B, gh, gw, C, P, P)
        x = x.reshape(B, (H // P) * (W // P), C * P * P)
        return self.linear(x)
