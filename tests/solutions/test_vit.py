"""Tests for the reference Vision Transformer in ``solutions/vit.py``.

The reference is checked against independent implementations: torchvision's VisionTransformer
and nn.MultiheadAttention, timm's ViT-B/16 (parameter count), and explicit functional
computations written here (per-head attention, pre-norm block, patch unfolding, the sinusoidal
table of Vaswani et al.).

Tolerances: the unit tests (attention, block, patches) run in float64, where the independent
computations agree to rounding (about 1e-14 on values of order 1), so ``DOUBLE_TOL`` is tight.
The torchvision model comparisons run in float32 as the models are used; see the comments there.
"""
from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn.functional as F
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.testing import assert_close

from solutions.vit import (
    MultiHeadAttention,
    PatchEmbedding,
    TransformerEncoderBlock,
    VisionTransformer,
    sinusoidal_position_table,
)

VIT_B16_PARAMS = 86_567_656  # Dosovitskiy et al. 2021, Table 1 ("86M"); exact count of ViT-B/16 with a 1000-class head
DOUBLE_TOL = dict(atol=1e-10, rtol=1e-8)
SMALL_TOL = dict(atol=1e-5, rtol=1e-4)
PROPERTY = settings(derandomize=True, deadline=None, max_examples=20)


# --------------------------------------------------------------------------------------------
# Independent helpers
# --------------------------------------------------------------------------------------------


def _randomise_(module: nn.Module, seed: int) -> None:
    """Overwrite every parameter with random values so no term is trivially zero or one."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=p.dtype)
            if name.endswith(("class_token", "pos_embedding", "cls_token", "pos_embed")):
                p.copy_(0.5 * noise)
            elif p.dim() == 1 and re.search(r"(ln|norm)[^.]*\.weight$", name):
                p.copy_(1.0 + 0.2 * noise)  # LayerNorm gains around 1
            elif p.dim() == 1:
                p.copy_(0.1 * noise)  # biases
            else:
                p.copy_(noise / math.sqrt(p.shape[1:].numel()))  # weights, unit gain per layer


def _explicit_attention(x, qkv_weight, qkv_bias, proj_weight, proj_bias, num_heads):
    """Multi-head self-attention head by head (Vaswani et al. 2017, Eq. 1 and Sec. 3.2.2).

    Returns the output (B, T, D) computed with F.scaled_dot_product_attention per head, and the
    weights (B, H, T, T) computed as softmax(q k^T / sqrt(d)).
    """
    dim = x.shape[-1]
    head_dim = dim // num_heads
    w_q, w_k, w_v = qkv_weight.split(dim, dim=0)
    b_q, b_k, b_v = qkv_bias.split(dim, dim=0)
    outputs, weights = [], []
    for h in range(num_heads):
        rows = slice(h * head_dim, (h + 1) * head_dim)
        q = F.linear(x, w_q[rows], b_q[rows])  # (B, T, d)
        k = F.linear(x, w_k[rows], b_k[rows])
        v = F.linear(x, w_v[rows], b_v[rows])
        outputs.append(F.scaled_dot_product_attention(q, k, v))  # default scale 1/sqrt(d)
        weights.append(torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(head_dim), dim=-1))
    out = F.linear(torch.cat(outputs, dim=-1), proj_weight, proj_bias)
    return out, torch.stack(weights, dim=1)


def _mha_reference(mha: MultiHeadAttention, x):
    return _explicit_attention(
        x, mha.qkv.weight, mha.qkv.bias, mha.proj.weight, mha.proj.bias, mha.num_heads
    )


def _layer_norm(x, ln: nn.LayerNorm):
    return F.layer_norm(x, (x.shape[-1],), ln.weight, ln.bias, eps=1e-6)


def _mlp(x, block: TransformerEncoderBlock):
    hidden = F.gelu(F.linear(x, block.mlp[0].weight, block.mlp[0].bias), approximate="none")
    return F.linear(hidden, block.mlp[3].weight, block.mlp[3].bias)


def _torchvision_to_solution(state: dict) -> dict:
    """Rename a torchvision VisionTransformer state dict to the solution's parameter names."""
    renames = [
        (r"^conv_proj\.", "patch_embed.proj."),
        (r"^class_token$", "cls_token"),
        (r"^encoder\.pos_embedding$", "pos_embed"),
        (r"^encoder\.layers\.encoder_layer_(\d+)\.ln_1\.", r"blocks.\1.norm1."),
        (r"^encoder\.layers\.encoder_layer_(\d+)\.self_attention\.in_proj_weight$", r"blocks.\1.attn.qkv.weight"),
        (r"^encoder\.layers\.encoder_layer_(\d+)\.self_attention\.in_proj_bias$", r"blocks.\1.attn.qkv.bias"),
        (r"^encoder\.layers\.encoder_layer_(\d+)\.self_attention\.out_proj\.", r"blocks.\1.attn.proj."),
        (r"^encoder\.layers\.encoder_layer_(\d+)\.ln_2\.", r"blocks.\1.norm2."),
        (r"^encoder\.layers\.encoder_layer_(\d+)\.mlp\.(0|3)\.", r"blocks.\1.mlp.\2."),
        (r"^encoder\.ln\.", "norm."),
        (r"^heads\.head\.", "head."),
    ]
    mapped = {}
    for key, value in state.items():
        for pattern, replacement in renames:
            new_key, hits = re.subn(pattern, replacement, key)
            if hits:
                mapped[new_key] = value
                break
        else:
            raise KeyError(f"no mapping for torchvision key {key}")
    return mapped


def _compare_with_torchvision(reference: nn.Module, ours: VisionTransformer, image, seed, **tol):
    _randomise_(reference, seed)
    ours.load_state_dict(_torchvision_to_solution(reference.state_dict()), strict=True)
    reference.eval()
    ours.eval()
    with torch.no_grad():
        expected = reference(image)
        actual = ours(image)
    assert actual.abs().max() > 1e-2  # random head: logits are far from zero
    assert_close(actual, expected, **tol)


# --------------------------------------------------------------------------------------------
# Parameter count and torchvision equivalence
# --------------------------------------------------------------------------------------------


def test_default_parameter_count_matches_vit_b16():
    """Defaults are ViT-B/16: 86,567,656 parameters, as torchvision's and timm's ViT-B/16."""
    import timm  # a test dependency (pyproject's "test" extra): missing it is an error, not a skip

    torch.manual_seed(0)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    ours = count(VisionTransformer())
    assert ours == VIT_B16_PARAMS
    assert ours == count(torchvision.models.vit_b_16())
    assert ours == count(timm.create_model("vit_base_patch16_224", pretrained=False))


def test_matches_torchvision_small_vit():
    """A small ViT with torchvision's weights gives torchvision's logits."""
    torch.manual_seed(1)
    reference = torchvision.models.VisionTransformer(
        image_size=32, patch_size=8, num_layers=2, num_heads=4, hidden_dim=64, mlp_dim=256, num_classes=10
    )
    ours = VisionTransformer(img_size=32, patch_size=8, num_classes=10, embed_dim=64, depth=2, num_heads=4)
    image = torch.randn(3, 3, 32, 32)
    # float32 with O(1) logits through 2 blocks: the difference is reduction-order rounding
    # (measured ~8e-7), so atol 1e-5 / rtol 1e-4 is tight yet robust to BLAS differences.
    _compare_with_torchvision(reference, ours, image, seed=11, **SMALL_TOL)


def test_matches_torchvision_vit_b16():
    """ViT-B/16 with torchvision's vit_b_16 weights gives the same 1000 logits for a 224px image."""
    torch.manual_seed(2)
    reference = torchvision.models.vit_b_16()
    ours = VisionTransformer()
    image = torch.randn(1, 3, 224, 224)
    # Same tolerance as the small model: through 12 blocks of width 768 in float32 (torchvision
    # takes nn.MultiheadAttention's fused native kernel in eval mode) the measured difference is
    # ~2.4e-6 on logits of std ~1, so atol 1e-5 / rtol 1e-4 still leaves a 4x margin.
    _compare_with_torchvision(reference, ours, image, seed=12, **SMALL_TOL)


# --------------------------------------------------------------------------------------------
# MultiHeadAttention
# --------------------------------------------------------------------------------------------

mha_shapes = st.tuples(
    st.integers(1, 3),  # batch
    st.integers(1, 9),  # tokens
    st.integers(1, 4),  # heads
    st.integers(1, 8),  # head dim
)


def _random_mha(heads, head_dim, seed, dropout=0.0):
    torch.manual_seed(seed)
    mha = MultiHeadAttention(heads * head_dim, heads, dropout=dropout).double()
    _randomise_(mha, seed)
    return mha


@PROPERTY
@given(mha_shapes)
def test_attention_matches_nn_multihead_attention(shape):
    """Outputs and per-head weights equal nn.MultiheadAttention's with the same weights."""
    batch, tokens, heads, head_dim = shape
    mha = _random_mha(heads, head_dim, seed=3).eval()
    dim = heads * head_dim
    reference = nn.MultiheadAttention(dim, heads, batch_first=True).double().eval()
    with torch.no_grad():
        reference.in_proj_weight.copy_(mha.qkv.weight)
        reference.in_proj_bias.copy_(mha.qkv.bias)
        reference.out_proj.weight.copy_(mha.proj.weight)
        reference.out_proj.bias.copy_(mha.proj.bias)
    x = torch.randn(batch, tokens, dim, dtype=torch.float64)
    with torch.no_grad():
        expected, expected_weights = reference(x, x, x, need_weights=True, average_attn_weights=False)
        out = mha(x)
        out_explicit, weights = mha(x, return_attention=True)
    assert_close(out, expected, **DOUBLE_TOL)
    assert_close(out_explicit, expected, **DOUBLE_TOL)
    assert_close(weights, expected_weights, **DOUBLE_TOL)


@PROPERTY
@given(mha_shapes)
def test_attention_matches_explicit_per_head_computation(shape):
    """Both paths equal a head-by-head scaled_dot_product_attention; weights are (B,H,T,T), rows sum to 1."""
    batch, tokens, heads, head_dim = shape
    mha = _random_mha(heads, head_dim, seed=4).eval()
    x = torch.randn(batch, tokens, heads * head_dim, dtype=torch.float64)
    with torch.no_grad():
        expected, expected_weights = _mha_reference(mha, x)
        fused = mha(x)
        explicit, weights = mha(x, return_attention=True)
    assert fused.shape == (batch, tokens, heads * head_dim)
    assert weights.shape == (batch, heads, tokens, tokens)
    assert_close(fused, expected, **DOUBLE_TOL)
    assert_close(explicit, expected, **DOUBLE_TOL)
    assert_close(fused, explicit, **DOUBLE_TOL)
    assert_close(weights, expected_weights, **DOUBLE_TOL)
    assert_close(weights.sum(-1), torch.ones(batch, heads, tokens, dtype=torch.float64), **DOUBLE_TOL)


@PROPERTY
@given(mha_shapes)
def test_attention_is_permutation_equivariant(shape):
    """Permuting the tokens permutes the outputs and both axes of the attention weights."""
    batch, tokens, heads, head_dim = shape
    mha = _random_mha(heads, head_dim, seed=5).eval()
    x = torch.randn(batch, tokens, heads * head_dim, dtype=torch.float64)
    perm = torch.randperm(tokens)
    with torch.no_grad():
        out, weights = mha(x, return_attention=True)
        out_perm, weights_perm = mha(x[:, perm], return_attention=True)
        fused_perm = mha(x[:, perm])
    assert_close(out_perm, out[:, perm], **DOUBLE_TOL)
    assert_close(fused_perm, out[:, perm], **DOUBLE_TOL)
    assert_close(weights_perm, weights[:, :, perm][:, :, :, perm], **DOUBLE_TOL)


def test_attention_scale_is_inverse_sqrt_head_dim():
    """Weights are softmax(q k^T / sqrt(d)) from the qkv layer, not another scaling."""
    torch.manual_seed(6)
    batch, tokens, heads, head_dim = 2, 7, 3, 16
    mha = _random_mha(heads, head_dim, seed=6).eval()
    dim = heads * head_dim
    x = 2.0 * torch.randn(batch, tokens, dim, dtype=torch.float64)
    with torch.no_grad():
        _, weights = mha(x, return_attention=True)
        q, k, _ = mha.qkv(x).split(dim, dim=-1)
    q = q.reshape(batch, tokens, heads, head_dim).transpose(1, 2)
    k = k.reshape(batch, tokens, heads, head_dim).transpose(1, 2)
    logits = q @ k.transpose(-2, -1)
    assert_close(weights, torch.softmax(logits / math.sqrt(head_dim), dim=-1), **DOUBLE_TOL)
    # The check can tell scalings apart: 1/d or no scaling give other weights here.
    for wrong in (torch.softmax(logits / head_dim, dim=-1), torch.softmax(logits, dim=-1)):
        assert (weights - wrong).abs().max() > 1e-3


def test_attention_rejects_indivisible_embed_dim():
    """embed_dim not divisible by num_heads raises ValueError."""
    torch.manual_seed(0)
    with pytest.raises(ValueError):
        MultiHeadAttention(10, 4)
    with pytest.raises(ValueError):
        MultiHeadAttention(64, 3)


def test_attention_dropout_only_in_training():
    """With dropout > 0, two training calls differ (both paths), two eval calls are identical."""
    mha = _random_mha(4, 8, seed=7, dropout=0.5)
    x = torch.randn(2, 9, 32, dtype=torch.float64)
    mha.train()
    with torch.no_grad():
        assert not torch.allclose(mha(x), mha(x))
        (out_a, weights_a), (out_b, weights_b) = mha(x, return_attention=True), mha(x, return_attention=True)
    assert not torch.allclose(out_a, out_b)
    # The returned weights are taken before dropout: deterministic and rows sum to 1.
    assert_close(weights_a, weights_b, **DOUBLE_TOL)
    assert_close(weights_a.sum(-1), torch.ones(2, 4, 9, dtype=torch.float64), **DOUBLE_TOL)
    mha.eval()
    with torch.no_grad():
        assert_close(mha(x), mha(x), rtol=0, atol=0)
        assert_close(mha(x, return_attention=True)[0], mha(x), **DOUBLE_TOL)
        assert_close(mha(x), _mha_reference(mha, x)[0], **DOUBLE_TOL)


# --------------------------------------------------------------------------------------------
# TransformerEncoderBlock
# --------------------------------------------------------------------------------------------


def _random_block(heads, head_dim, seed, mlp_ratio=4.0):
    torch.manual_seed(seed)
    block = TransformerEncoderBlock(heads * head_dim, heads, mlp_ratio=mlp_ratio).double().eval()
    _randomise_(block, seed)
    return block


def test_block_is_pre_norm():
    """The block computes x + MSA(LN(x)), then + MLP(LN(.)) with exact GELU and eps 1e-6; not post-norm."""
    torch.manual_seed(8)
    block = _random_block(heads=4, head_dim=8, seed=8)
    x = 3.0 * torch.randn(2, 10, 32, dtype=torch.float64) + 1.0
    with torch.no_grad():
        out = block(x)
        out_with_weights, weights = block(x, return_attention=True)
        normed = _layer_norm(x, block.norm1)
        attended, expected_weights = _mha_reference(block.attn, normed)
        h = x + attended
        expected = h + _mlp(_layer_norm(h, block.norm2), block)
        # Post-norm (Vaswani et al. 2017): LN(x + MSA(x)), then LN(h + MLP(h)).
        post_h = _layer_norm(x + _mha_reference(block.attn, x)[0], block.norm1)
        post_norm = _layer_norm(post_h + _mlp(post_h, block), block.norm2)
        # The approximate (tanh) GELU also gives a measurably different block.
        tanh_hidden = F.gelu(F.linear(_layer_norm(h, block.norm2), block.mlp[0].weight, block.mlp[0].bias),
                             approximate="tanh")
        tanh_gelu = h + F.linear(tanh_hidden, block.mlp[3].weight, block.mlp[3].bias)
    assert_close(out, expected, **DOUBLE_TOL)
    assert_close(out_with_weights, expected, **DOUBLE_TOL)
    assert_close(weights, expected_weights, **DOUBLE_TOL)
    assert (out - post_norm).abs().max() > 1e-2
    assert (out - tanh_gelu).abs().max() > 1e-6


def test_layer_norm_eps_is_1e_minus_6():
    """The block's two LayerNorms and the ViT's final one use eps 1e-6 (visible at tiny variance)."""
    torch.manual_seed(9)
    block = _random_block(heads=2, head_dim=4, seed=9)
    model = VisionTransformer(img_size=8, patch_size=4, num_classes=3, embed_dim=8, depth=1, num_heads=2).double()
    _randomise_(model, 9)
    # Variance 1e-6: with eps 1e-5 instead, LayerNorm outputs would shrink by about 3x.
    x = 1e-3 * torch.randn(1, 4, 8, dtype=torch.float64)
    with torch.no_grad():
        h = x + _mha_reference(block.attn, _layer_norm(x, block.norm1))[0]
        assert_close(block(x), h + _mlp(_layer_norm(h, block.norm2), block), **DOUBLE_TOL)
        # h no longer has tiny variance, so check the second and the final LayerNorm directly.
        assert_close(block.norm2(x), _layer_norm(x, block.norm2), **DOUBLE_TOL)
        assert_close(model.norm(x), _layer_norm(x, model.norm), **DOUBLE_TOL)


@PROPERTY
@given(mha_shapes, st.sampled_from([1.0, 2.0, 4.0]))
def test_block_preserves_shape_and_matches_reference(shape, mlp_ratio):
    """(B, T, D) -> (B, T, D) over shapes and MLP ratios, equal to the functional pre-norm block."""
    batch, tokens, heads, head_dim = shape
    block = _random_block(heads, head_dim, seed=10, mlp_ratio=mlp_ratio)
    dim = heads * head_dim
    assert block.mlp[0].out_features == int(dim * mlp_ratio)
    x = torch.randn(batch, tokens, dim, dtype=torch.float64)
    with torch.no_grad():
        out = block(x)
        h = x + _mha_reference(block.attn, _layer_norm(x, block.norm1))[0]
        expected = h + _mlp(_layer_norm(h, block.norm2), block)
    assert out.shape == (batch, tokens, dim)
    assert_close(out, expected, **DOUBLE_TOL)


# --------------------------------------------------------------------------------------------
# PatchEmbedding
# --------------------------------------------------------------------------------------------


@PROPERTY
@given(
    st.integers(1, 3),  # batch
    st.integers(1, 4),  # channels
    st.integers(1, 5),  # patch size
    st.integers(1, 5),  # grid size
    st.integers(1, 16),  # embed dim
)
def test_patch_embedding_equals_unfold_and_linear(batch, channels, patch, grid, dim):
    """(B,C,S,S) -> (B,(S/P)^2,D) equal to unfolding the patches and one Linear with the conv weight."""
    torch.manual_seed(13)
    size = patch * grid
    embed = PatchEmbedding(size, patch, channels, dim).double()
    _randomise_(embed, 13)
    x = torch.randn(batch, channels, size, size, dtype=torch.float64)
    with torch.no_grad():
        out = embed(x)
        patches = F.unfold(x, kernel_size=patch, stride=patch).transpose(1, 2)  # (B, N, C*P*P)
        expected = F.linear(patches, embed.proj.weight.reshape(dim, -1), embed.proj.bias)
    assert embed.num_patches == grid**2
    assert out.shape == (batch, grid**2, dim)
    assert_close(out, expected, **DOUBLE_TOL)


def test_patch_embedding_orders_patches_row_major():
    """Token n is the patch at grid row n // g, column n % g (rows first), channel-major inside."""
    torch.manual_seed(14)
    channels, patch, grid, dim = 3, 4, 3, 5
    embed = PatchEmbedding(patch * grid, patch, channels, dim).double()
    _randomise_(embed, 14)
    x = torch.randn(2, channels, patch * grid, patch * grid, dtype=torch.float64)
    weight = embed.proj.weight.reshape(dim, channels * patch * patch)
    with torch.no_grad():
        out = embed(x)
    for n in range(grid * grid):
        row, col = divmod(n, grid)
        pixels = x[:, :, row * patch:(row + 1) * patch, col * patch:(col + 1) * patch].reshape(2, -1)
        assert_close(out[:, n], pixels @ weight.T + embed.proj.bias, **DOUBLE_TOL)
    # A patch-local change moves exactly one token: the one at (row 0, column 1) is token 1.
    x2 = x.clone()
    x2[:, :, 0:patch, patch:2 * patch] += 1.0
    with torch.no_grad():
        changed = (embed(x2) - out).abs().amax(dim=(0, 2)) > 1e-9
    assert changed.tolist() == [n == 1 for n in range(grid * grid)]


def test_patch_embedding_rejects_non_multiple_size():
    """img_size not a multiple of patch_size raises ValueError."""
    torch.manual_seed(0)
    with pytest.raises(ValueError):
        PatchEmbedding(img_size=30, patch_size=8)
    with pytest.raises(ValueError):
        VisionTransformer(img_size=225, patch_size=16)


# --------------------------------------------------------------------------------------------
# Sinusoidal positions
# --------------------------------------------------------------------------------------------


def _vaswani_table(num_positions, dim):
    table = torch.empty(num_positions, dim, dtype=torch.float64)
    for p in range(num_positions):
        for i in range(dim // 2):
            angle = p / 10000 ** (2 * i / dim)
            table[p, 2 * i] = math.sin(angle)
            table[p, 2 * i + 1] = math.cos(angle)
    return table


@PROPERTY
@given(st.integers(1, 200), st.integers(1, 64).map(lambda h: 2 * h))
def test_sinusoidal_table_matches_vaswani(num_positions, dim):
    """The table equals PE[p,2i]=sin(p/10000^(2i/dim)), PE[p,2i+1]=cos(same), computed by loops."""
    torch.manual_seed(15)
    table = sinusoidal_position_table(num_positions, dim)
    assert table.shape == (num_positions, dim)
    assert table.dtype == torch.float32
    # float32 rounding of values in [-1, 1] is below 6e-8.
    assert_close(table.double(), _vaswani_table(num_positions, dim), atol=1e-6, rtol=0)


def test_sinusoidal_table_rejects_odd_dim():
    """An odd dimension raises ValueError."""
    torch.manual_seed(0)
    with pytest.raises(ValueError):
        sinusoidal_position_table(10, 7)


def test_vit_sinusoidal_positions_are_a_fixed_buffer():
    """pos_encoding="sinusoidal" stores the table as a buffer: not trained, T*D fewer parameters."""
    torch.manual_seed(16)
    config = dict(img_size=32, patch_size=8, num_classes=10, embed_dim=64, depth=2, num_heads=4)
    learned = VisionTransformer(**config)
    fixed = VisionTransformer(**config, pos_encoding="sinusoidal")
    tokens, dim = 17, 64
    assert "pos_embed" in dict(learned.named_parameters())
    assert "pos_embed" not in dict(fixed.named_parameters())
    assert "pos_embed" in dict(fixed.named_buffers())
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(learned) - count(fixed) == tokens * dim
    assert fixed.pos_embed.shape == learned.pos_embed.shape == (1, tokens, dim)
    assert_close(fixed.pos_embed[0].double(), _vaswani_table(tokens, dim), atol=1e-6, rtol=0)
    # The table is what is added to the tokens.
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = torch.cat([fixed.cls_token.expand(2, -1, -1), fixed.patch_embed(x)], dim=1) + fixed.pos_embed
        assert_close(fixed.tokens(x), expected, **SMALL_TOL)


def test_vit_rejects_unknown_pos_encoding():
    """An unknown pos_encoding raises ValueError."""
    torch.manual_seed(0)
    with pytest.raises(ValueError):
        VisionTransformer(img_size=32, patch_size=8, embed_dim=16, depth=1, num_heads=2, pos_encoding="rotary")


# --------------------------------------------------------------------------------------------
# VisionTransformer
# --------------------------------------------------------------------------------------------

vit_configs = st.fixed_dictionaries(
    dict(
        batch=st.integers(1, 3),
        in_channels=st.integers(1, 3),
        patch_size=st.sampled_from([2, 4, 8]),
        grid=st.integers(1, 4),
        num_heads=st.integers(1, 4),
        head_dim=st.integers(2, 8),
        depth=st.integers(1, 3),
        num_classes=st.integers(1, 10),
        pos_encoding=st.sampled_from(["learnable", "sinusoidal"]),
    )
).filter(lambda c: c["pos_encoding"] == "learnable" or c["num_heads"] * c["head_dim"] % 2 == 0)  # sin/cos pairs


def _vit_from(config, seed):
    torch.manual_seed(seed)
    model = VisionTransformer(
        img_size=config["patch_size"] * config["grid"],
        patch_size=config["patch_size"],
        in_channels=config["in_channels"],
        num_classes=config["num_classes"],
        embed_dim=config["num_heads"] * config["head_dim"],
        depth=config["depth"],
        num_heads=config["num_heads"],
        pos_encoding=config["pos_encoding"],
    )
    _randomise_(model, seed)
    image = torch.randn(config["batch"], config["in_channels"], model.patch_embed.img_size, model.patch_embed.img_size)
    return model.eval(), image


@PROPERTY
@given(vit_configs)
def test_vit_output_shape_and_attention_maps(config):
    """Logits are (B, num_classes); attention_maps gives depth (B,H,T,T) maps, each block's own weights."""
    model, image = _vit_from(config, seed=17)
    batch, heads, tokens = config["batch"], config["num_heads"], config["grid"] ** 2 + 1
    with torch.no_grad():
        logits = model(image)
    assert logits.shape == (batch, config["num_classes"])
    maps = model.attention_maps(image)
    assert len(maps) == config["depth"]
    with torch.no_grad():
        x = model.tokens(image)
        for block, weights in zip(model.blocks, maps):
            assert weights.shape == (batch, heads, tokens, tokens)
            assert_close(weights.sum(-1), torch.ones(batch, heads, tokens), **SMALL_TOL)
            _, expected = _mha_reference(block.attn, _layer_norm(x, block.norm1))
            assert_close(weights, expected, **SMALL_TOL)
            x = block(x)


@PROPERTY
@given(vit_configs)
def test_vit_classifies_the_normalised_cls_token(config):
    """The head's input is norm(x)[:, 0], the CLS token after the final LayerNorm."""
    model, image = _vit_from(config, seed=18)
    seen = {}
    model.norm.register_forward_hook(lambda m, args, out: seen.__setitem__("norm", out))
    model.head.register_forward_hook(lambda m, args, out: seen.__setitem__("head", (args[0], out)))
    with torch.no_grad():
        logits = model(image)
        x = model.tokens(image)
        for block in model.blocks:
            x = block(x)
        expected = F.linear(_layer_norm(x, model.norm)[:, 0], model.head.weight, model.head.bias)
    head_input, head_output = seen["head"]
    assert seen["norm"].shape == (config["batch"], config["grid"] ** 2 + 1, config["num_heads"] * config["head_dim"])
    assert_close(head_input, seen["norm"][:, 0], rtol=0, atol=0)
    assert_close(head_output, logits, rtol=0, atol=0)
    assert_close(logits, expected, **SMALL_TOL)


def test_vit_tokens_put_cls_first():
    """tokens() is [CLS, patches...] + positions, and changing cls_token changes the logits."""
    torch.manual_seed(19)
    model = VisionTransformer(img_size=16, patch_size=4, num_classes=5, embed_dim=32, depth=2, num_heads=4)
    _randomise_(model, 19)
    model.eval()
    image = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        tokens = model.tokens(image)
        assert tokens.shape == (2, 17, 32)
        assert_close(tokens[:, 0], (model.cls_token + model.pos_embed[:, :1])[:, 0].expand(2, -1), **SMALL_TOL)
        assert_close(tokens[:, 1:], model.patch_embed(image) + model.pos_embed[:, 1:], **SMALL_TOL)
        before = model(image)
        model.cls_token.add_(torch.randn_like(model.cls_token))
        after = model(image)
    assert (before - after).abs().max() > 1e-3


def test_vit_every_parameter_gets_a_gradient():
    """After backward on a classification loss, every parameter has a finite, non-zero gradient."""
    torch.manual_seed(20)
    model = VisionTransformer(img_size=16, patch_size=4, num_classes=5, embed_dim=32, depth=2, num_heads=4)
    model.train()  # default initialisation: zero CLS token and zero biases must still be trained
    image = torch.randn(4, 3, 16, 16)
    loss = F.cross_entropy(model(image), torch.randint(0, 5, (4,)))
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().max() > 0, name
