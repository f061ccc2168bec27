"""MultiHeadAttention with separate projections named query, key and value, computed key first, the
heads split with reshape + permute, F.softmax, and the weights returned only when asked for."""
import torch
import torch.nn.functional as F
from torch import nn


class MultiHeadAttention(nn.Module):
    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim={embed_dim} must be divisible by num_heads={num_heads}")
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.query = nn.Linear(embed_dim, embed_dim)
        self.key = nn.Linear(embed_dim, embed_dim)
        self.value = nn.Linear(embed_dim, embed_dim)
        self.proj = nn.Linear(embed_dim, embed_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        B, T, D = x.shape
        H, d = self.num_heads, self.head_dim
        k = self.key(x).reshape(B, T, H, d).permute(0, 2, 3, 1)  # (B, H, d, T), already transposed
        q = self.query(x).reshape(B, T, H, d).permute(0, 2, 1, 3)  # (B, H, T, d)
        v = self.value(x).reshape(B, T, H, d).permute(0, 2, 1, 3)
        weights = F.softmax(q @ k / d**0.5, dim=-1)
        out = (self.dropout(weights) @ v).permute(0, 2, 1, 3).reshape(B, T, D)
        out = self.proj(out)
        return (out, weights) if return_attention else out
