"""TransformerEncoderBlock with the MLP as two nn.Linear attributes (fc1, fc2) and functional
F.gelu / F.dropout calls instead of nn.GELU / nn.Dropout modules."""
import torch
import torch.nn.functional as F
from torch import nn


class TransformerEncoderBlock(nn.Module):
    def __init__(self, embed_dim: int, num_heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0) -> None:
        super().__init__()
        self.p = dropout
        self.norm1 = nn.LayerNorm(embed_dim, eps=1e-6)
        self.attn = MultiHeadAttention(embed_dim, num_heads, dropout)
        self.norm2 = nn.LayerNorm(embed_dim, eps=1e-6)
        self.fc1 = nn.Linear(embed_dim, int(embed_dim * mlp_ratio))
        self.fc2 = nn.Linear(int(embed_dim * mlp_ratio), embed_dim)

    def mlp(self, x: torch.Tensor) -> torch.Tensor:
        x = F.dropout(F.gelu(self.fc1(x)), self.p, self.training)
        return F.dropout(self.fc2(x), self.p, self.training)

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        out = self.attn(self.norm1(x), return_attention=return_attention)
        weights = None
        if return_attention:
            out, weights = out
        x = x + F.dropout(out, self.p, self.training)
        x = x + self.mlp(self.norm2(x))
        return (x, weights) if return_attention else x
