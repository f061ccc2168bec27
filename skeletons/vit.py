"""Vision Transformer parts (Lab 3, Part 3).

Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words: Transformers for Image Recognition at
Scale" (arXiv:2010.11929); attention from Vaswani et al. 2017, "Attention Is All You Need"
(arXiv:1706.03762). Shape letters: B batch, C image channels, N patches, T = N + 1 tokens
(with CLS), D embedding dim, H heads, d = D / H head dim.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

POS_ENCODINGS = ("learnable", "sinusoidal")


class PatchEmbedding(nn.Module):
    """Split an image into non-overlapping P x P patches and project each to D dimensions.

    A Conv2d with kernel and stride P is the same linear map as flattening each patch and
    applying one nn.Linear (P * P * C -> D), computed in one call.
    Shapes: (B, C, S, S) -> (B, N, D) with N = (S / P) ** 2 (attribute ``num_patches``).

    Raises:
        ValueError: naming ``img_size`` and ``patch_size`` when ``img_size`` is not a multiple
            of ``patch_size``; in ``forward``, naming ``img_size`` when an image is not
            ``img_size`` x ``img_size`` (a convolution would silently cut it into another number
            of patches).
    """

    def __init__(self, img_size: int = 224, patch_size: int = 16, in_channels: int = 3, embed_dim: int = 768) -> None:
        super().__init__()
        # TODO: raise a ValueError naming img_size and patch_size when img_size is not a multiple of patch_size.
        # YOUR CODE HERE
        raise NotImplementedError()
        self.img_size = img_size
        self.patch_size = patch_size
        self.num_patches = (img_size // patch_size) ** 2
        # TODO: define proj, a Conv2d from in_channels to embed_dim with kernel = stride = patch_size.
        # YOUR CODE HERE
        raise NotImplementedError()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, S, S) -> (B, N, D)."""
        # TODO: check the image size, project, flatten the patch grid, put the patch axis before the channel axis.
        # YOUR CODE HERE
        raise NotImplementedError()


class MultiHeadAttention(nn.Module):
    """Multi-head self-attention: ``softmax(Q K^T / sqrt(d)) V`` in H heads, then a projection.

    ``qkv`` is one nn.Linear (D -> 3D, with bias) whose output splits as [Q | K | V], each split
    into H contiguous heads of size d; ``proj`` (D -> D, with bias) mixes the heads. ``dropout``
    acts on the attention weights, as in nn.MultiheadAttention.

    ``forward(x)`` returns (B, T, D); ``forward(x, return_attention=True)`` returns that and the
    attention weights (B, H, T, T), whose rows sum to 1 (taken before dropout).

    Raises:
        ValueError: naming ``embed_dim`` and ``num_heads`` when the heads cannot split
            ``embed_dim`` evenly.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        # TODO: raise a ValueError naming embed_dim and num_heads when embed_dim is not divisible by num_heads.
        # YOUR CODE HERE
        raise NotImplementedError()
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = dropout
        # TODO: define self.scale, the factor the attention scores are multiplied by (the slides' formula),
        # then qkv (D -> 3D), attn_drop (nn.Dropout) and proj (D -> D).
        # YOUR CODE HERE
        raise NotImplementedError()

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        """(B, T, D) -> (B, T, D), or ((B, T, D), (B, H, T, T)) with ``return_attention``."""
        # TODO: project to q, k, v per head, scaled dot-product attention, merge heads, project.
        # YOUR CODE HERE
        raise NotImplementedError()


class TransformerEncoderBlock(nn.Module):
    """Pre-norm encoder block: ``x + MSA(LN(x))``, then ``x + MLP(LN(x))``.

    LayerNorms use eps 1e-6 (as the ViT paper's code). The MLP is Linear (D -> mlp_ratio * D),
    exact (erf) GELU, Dropout, Linear (-> D), Dropout; another Dropout follows the attention.
    Shapes: (B, T, D) -> (B, T, D).
    """

    def __init__(self, embed_dim: int, num_heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0) -> None:
        super().__init__()
        hidden = int(embed_dim * mlp_ratio)
        # TODO: define norm1, attn (MultiHeadAttention), drop, norm2 and mlp (nn.Sequential).
        # YOUR CODE HERE
        raise NotImplementedError()

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        """(B, T, D) -> (B, T, D), or that and the attention weights (B, H, T, T)."""
        # TODO: the two pre-norm residual sub-layers.
        # YOUR CODE HERE
        raise NotImplementedError()


def sinusoidal_position_table(num_positions: int, dim: int) -> torch.Tensor:
    """Fixed positions of Vaswani et al. 2017, Sec. 3.5: (num_positions, dim).

    ``PE[p, 2i] = sin(p / 10000 ** (2i / dim))`` and ``PE[p, 2i + 1] = cos(...)`` (same angle).

    Raises:
        ValueError: naming ``dim`` when it is odd (sin and cos come in pairs).
    """
    # TODO: check dim, then build the table.
    # YOUR CODE HERE
    raise NotImplementedError()


class VisionTransformer(nn.Module):
    """ViT classifier: patches, a learned CLS token, positions, encoder blocks, LayerNorm, head.

    Tokens: the CLS token is prepended to the N patch embeddings, then a position table for all
    T = N + 1 tokens is added: a learned parameter ``pos_embed`` (1, T, D) with
    ``pos_encoding="learnable"``, or a fixed buffer of the same name and shape with
    ``"sinusoidal"``. After ``depth`` blocks a final LayerNorm (eps 1e-6) normalises the tokens
    and ``head`` classifies the CLS token. At the defaults (ViT-B/16) there are 86,567,656
    parameters. Shapes: (B, C, S, S) -> (B, num_classes).

    Raises:
        ValueError: naming ``pos_encoding`` when it is not one of ``POS_ENCODINGS``; the parts
            raise for their own arguments (``img_size``, ``patch_size``, ``embed_dim``,
            ``num_heads``) and for images of another size.
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
        # TODO: raise a ValueError naming pos_encoding when it is not one of POS_ENCODINGS.
        # YOUR CODE HERE
        raise NotImplementedError()
        # TODO: define patch_embed, cls_token (nn.Parameter (1, 1, D)), pos_embed (see the class
        # docstring), pos_drop (nn.Dropout), blocks (nn.ModuleList), norm and head.
        # YOUR CODE HERE
        raise NotImplementedError()
        self._init_weights()

    def _init_weights(self) -> None:
        """Truncated-normal (std 0.02) linear weights with zero biases, as the ViT reference code."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Embedded input tokens with CLS and positions: (B, C, S, S) -> (B, T, D)."""
        # TODO: patch-embed, prepend the CLS token (expanded to the batch), add positions, dropout.
        # YOUR CODE HERE
        raise NotImplementedError()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, S, S) -> (B, num_classes)."""
        # TODO: tokens, blocks, final norm, head on the CLS token.
        # YOUR CODE HERE
        raise NotImplementedError()

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Attention weights of every block, in order: a list of ``depth`` (B, H, T, T) tensors."""
        maps = []
        tokens = self.tokens(x)
        for block in self.blocks:
            tokens, weights = block(tokens, return_attention=True)
            maps.append(weights)
        return maps
