"""Lab 3, Part 3: a Vision Transformer (example submission).

Dosovitskiy et al. 2021, arXiv:2010.11929; attention from Vaswani et al. 2017, arXiv:1706.03762.
Shapes: B batch, C image channels, S image side, P patch side, N = (S / P) ** 2 patches,
T = N + 1 tokens, D embedding dim, H heads, d = D / H.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class PatchEmbedding(nn.Module):
    """Cut P x P patches with nn.Unfold and project each flattened patch with one nn.Linear.

    (B, C, S, S) -> (B, N, D), patches in row-major order; ``num_patches`` is N.
    """

    def __init__(self, img_size: int = 224, patch_size: int = 16, in_channels: int = 3, embed_dim: int = 768) -> None:
        super().__init__()
        if img_size % patch_size:
            raise ValueError(f"patch_size {patch_size} does not divide img_size {img_size}")
        self.img_size = img_size
        grid = img_size // patch_size
        self.num_patches = grid * grid
        self.unfold = nn.Unfold(kernel_size=patch_size, stride=patch_size)
        self.linear = nn.Linear(in_channels * patch_size * patch_size, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, S, S) -> (B, N, D)."""
        if x.shape[-1] != self.img_size or x.shape[-2] != self.img_size:
            raise ValueError(f"images must be {self.img_size}x{self.img_size} (img_size), got {tuple(x.shape[-2:])}")
        patches = self.unfold(x).transpose(1, 2)  # (B, C*P*P, N) -> (B, N, C*P*P)
        return self.linear(patches)


class MultiHeadAttention(nn.Module):
    """Self-attention with separate query, key and value projections, H heads, output projection.

    ``forward(x)``: (B, T, D) -> (B, T, D); with ``return_attention=True`` also the weights
    (B, H, T, T) (before dropout; each row sums to 1).
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"{num_heads} heads cannot split embed_dim {embed_dim} evenly")
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.query = nn.Linear(embed_dim, embed_dim)
        self.key = nn.Linear(embed_dim, embed_dim)
        self.value = nn.Linear(embed_dim, embed_dim)
        self.weights_dropout = nn.Dropout(dropout)
        self.output = nn.Linear(embed_dim, embed_dim)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, _ = x.shape
        return x.view(batch, tokens, self.num_heads, self.head_dim)  # (B, T, D) -> (B, T, H, d)

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        """(B, T, D) -> (B, T, D), or ((B, T, D), (B, H, T, T)) with ``return_attention``."""
        q, k, v = self._heads(self.query(x)), self._heads(self.key(x)), self._heads(self.value(x))
        # DEMO MISTAKE (correct: `scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(self.head_dim)`):
        # each head takes dot products of d-dimensional vectors, so the scale is 1/sqrt(d), not 1/sqrt(D).
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(self.embed_dim)  # (B, H, T, T)
        weights = scores.softmax(dim=-1)
        context = torch.einsum("bhqk,bkhd->bqhd", self.weights_dropout(weights), v)  # (B, T, H, d)
        out = self.output(context.reshape(x.shape))  # (B, T, H, d) -> (B, T, D) -> (B, T, D)
        if return_attention:
            return out, weights
        return out


class TransformerEncoderBlock(nn.Module):
    """Pre-norm block: x + MSA(LN(x)), then x + MLP(LN(x)); exact GELU, LayerNorm eps 1e-6.

    (B, T, D) -> (B, T, D); ``return_attention=True`` also returns the weights (B, H, T, T).
    """

    def __init__(self, embed_dim: int, num_heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0) -> None:
        super().__init__()
        mlp_width = int(mlp_ratio * embed_dim)
        self.attention_norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.attention = MultiHeadAttention(embed_dim, num_heads, dropout)
        self.mlp_norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.fc_in = nn.Linear(embed_dim, mlp_width)
        self.fc_out = nn.Linear(mlp_width, embed_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        """(B, T, D) -> (B, T, D), or that and (B, H, T, T)."""
        attended, weights = self.attention(self.attention_norm(x), return_attention=True)
        x = x + self.dropout(attended)
        hidden = self.dropout(F.gelu(self.fc_in(self.mlp_norm(x))))  # (B, T, mlp_width)
        x = x + self.dropout(self.fc_out(hidden))
        return (x, weights) if return_attention else x


def sinusoidal_position_table(num_positions: int, dim: int) -> torch.Tensor:
    """(num_positions, dim): sin(p / 10000^(2i/dim)) at column 2i, cos of the same angle at 2i + 1."""
    if dim % 2:
        raise ValueError(f"dim must be even, got {dim}")
    pos = torch.arange(num_positions, dtype=torch.float64).unsqueeze(1)  # (T, 1)
    frequencies = 10000.0 ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)  # (dim / 2,)
    angles = pos * frequencies  # (T, dim / 2)
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(1).float()  # interleave -> (T, dim)


class VisionTransformer(nn.Module):
    """Patches, CLS token, positions for all T tokens, encoder blocks, LayerNorm, head on CLS.

    ``pos_encoding``: "learnable" (a parameter) or "sinusoidal" (a fixed buffer), (1, T, D).
    (B, C, S, S) -> (B, num_classes).
    """

    def __init__(
        self,
        img_size: int = 224,
        patch_size: int = 16,
        in_channels: int = 3,
        num_classes: int = 1000,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        pos_encoding: str = "learnable",
    ) -> None:
        super().__init__()
        if pos_encoding not in ("learnable", "sinusoidal"):
            raise ValueError(f"pos_encoding must be 'learnable' or 'sinusoidal', got {pos_encoding!r}")
        self.patch_embedding = PatchEmbedding(img_size, patch_size, in_channels, embed_dim)
        tokens = self.patch_embedding.num_patches + 1
        self.cls = nn.Parameter(torch.zeros(1, 1, embed_dim))
        if pos_encoding == "sinusoidal":  # fixed: a buffer, not trained
            self.register_buffer("positions", sinusoidal_position_table(tokens, embed_dim)[None])
        else:
            self.positions = nn.Parameter(nn.init.trunc_normal_(torch.empty(1, tokens, embed_dim), std=0.02))
        self.embedding_dropout = nn.Dropout(dropout)
        self.encoder = nn.ModuleList(
            TransformerEncoderBlock(embed_dim, num_heads, mlp_ratio, dropout) for _ in range(depth)
        )
        self.final_norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.classifier = nn.Linear(embed_dim, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, S, S) -> tokens (B, T, D): CLS first, positions added."""
        patches = self.patch_embedding(x)  # (B, N, D)
        cls = self.cls.expand(len(patches), -1, -1)  # (B, 1, D)
        return self.embedding_dropout(torch.cat([cls, patches], dim=1) + self.positions)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, S, S) -> (B, num_classes)."""
        tokens = self.embed(x)
        for block in self.encoder:
            tokens = block(tokens)
        return self.classifier(self.final_norm(tokens[:, 0]))  # CLS token (B, D)

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """One (B, H, T, T) tensor per block, in order."""
        tokens, maps = self.embed(x), []
        for block in self.encoder:
            tokens, weights = block(tokens, return_attention=True)
            maps.append(weights)
        return maps
