"""VisionTransformer with its blocks in an nn.Sequential, the CLS token registered after the
positions, and a sinusoidal table computed in float32 (torch.arange without a dtype)."""
import math

import torch
from torch import nn


def sinusoidal_position_table(num_positions: int, dim: int) -> torch.Tensor:
    if dim % 2 != 0:
        raise ValueError(f"sinusoidal positions need an even dimension, got {dim}")
    position = torch.arange(num_positions).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, dim, 2) * (-math.log(10000.0) / dim))
    pe = torch.zeros(num_positions, dim)
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term)
    return pe


class VisionTransformer(nn.Module):
    def __init__(self, img_size=224, patch_size=16, in_channels=3, num_classes=1000, embed_dim=768, depth=12,
                 num_heads=12, mlp_ratio=4.0, dropout=0.0, pos_encoding="learnable"):
        super().__init__()
        if pos_encoding not in POS_ENCODINGS:
            raise ValueError(f"pos_encoding must be one of {POS_ENCODINGS}, got {pos_encoding!r}")
        self.patch_embed = PatchEmbedding(img_size, patch_size, in_channels, embed_dim)
        n = self.patch_embed.num_patches + 1
        if pos_encoding == "learnable":
            self.pos_embed = nn.Parameter(torch.zeros(1, n, embed_dim))
            nn.init.trunc_normal_(self.pos_embed, std=0.02)
        else:
            self.register_buffer("pos_embed", sinusoidal_position_table(n, embed_dim).unsqueeze(0))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_drop = nn.Dropout(dropout)
        self.blocks = nn.Sequential(*[TransformerEncoderBlock(embed_dim, num_heads, mlp_ratio, dropout)
                                      for _ in range(depth)])
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head = nn.Linear(embed_dim, num_classes)
        self._init_weights()

    def _init_weights(self):
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def tokens(self, x):
        x = self.patch_embed(x)
        cls = self.cls_token.expand(x.size(0), -1, -1)
        x = torch.cat((cls, x), dim=1)
        return self.pos_drop(x + self.pos_embed)

    def forward(self, x):
        x = self.blocks(self.tokens(x))
        x = self.norm(x)
        return self.head(x[:, 0])

    @torch.no_grad()
    def attention_maps(self, x):
        maps = []
        x = self.tokens(x)
        for blk in self.blocks:
            x, attn = blk(x, return_attention=True)
            maps.append(attn)
        return maps
