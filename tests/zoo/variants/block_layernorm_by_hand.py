"""TransformerEncoderBlock with a LayerNorm written out by hand (own weight and bias parameters,
mean and biased variance over the last dimension, eps 1e-6)."""
import torch
from torch import nn


class LayerNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=-1, keepdim=True)
        var = x.var(dim=-1, keepdim=True, unbiased=False)
        return (x - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias


class TransformerEncoderBlock(nn.Module):
    def __init__(self, embed_dim: int, num_heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0) -> None:
        super().__init__()
        hidden = int(embed_dim * mlp_ratio)
        self.norm1 = LayerNorm(embed_dim)
        self.attn = MultiHeadAttention(embed_dim, num_heads, dropout)
        self.drop = nn.Dropout(dropout)
        self.norm2 = LayerNorm(embed_dim)
        self.mlp = nn.Sequential(nn.Linear(embed_dim, hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, embed_dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        if return_attention:
            attended, weights = self.attn(self.norm1(x), return_attention=True)
        else:
            attended = self.attn(self.norm1(x))
        x = x + self.drop(attended)
        x = x + self.mlp(self.norm2(x))
        if return_attention:
            return x, weights
        return x
