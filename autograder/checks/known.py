"""Known wrong alternatives: the mistakes the checks recognise, by key, as feedback names them.

The code that computes each alternative changes a reference module and lives instructor-side,
in ``autograder.checks.instructor.alternatives`` (a student's copy holds only the alternatives' recorded
outputs, in golden/). Keys start with the component they belong to.
"""
from __future__ import annotations

from autograder.i18n import N_, _

KNOWN: dict[str, str] = {
    "basic_block.no_final_relu": N_("no ReLU after the addition"),
    "bottleneck.no_final_relu": N_("no ReLU after the addition"),
    "bottleneck.stride_on_first_conv": N_("stride on the first 1x1 convolution (ResNet v1; this lab uses v1.5)"),
    "preact_basic.relu_after_addition": N_("a ReLU after the addition (pre-activation blocks end with the addition)"),
    "preact_bottleneck.relu_after_addition": N_("a ReLU after the addition "
                                                "(pre-activation blocks end with the addition)"),
    "preact_bottleneck.stride_on_first_conv": N_("stride on the first 1x1 convolution (ResNet v1; this lab uses v1.5)"),
    "basic_block.attention_after_addition": N_("attention applied after the addition"),
    "bottleneck.attention_after_addition": N_("attention applied after the addition"),
    "preact_basic.attention_after_addition": N_("attention applied after the addition"),
    "preact_bottleneck.attention_after_addition": N_("attention applied after the addition"),
    "se.max_pool_squeeze": N_("max pooling instead of average pooling in the squeeze"),
    "se.gate_only": N_("the gate returned instead of the rescaled input"),
    "se.without_relu": N_("no ReLU between the two layers of the excitation (the slides: s = sigma(W2 delta(W1 z)))"),
    "cbam.spatial_first": N_("spatial attention applied before channel attention (CBAM is channel first)"),
    "cbam.channel_from_average_only": N_("channel attention from average pooling only (plain SE; CBAM adds the "
                                      "max-pooled descriptor)"),
    "patch_embedding.reshaped_not_transposed": N_("(B, D, N) reshaped to (B, N, D) instead of transposed: each token "
                                               "mixes the channels of several patches"),
    "patch_embedding.column_major": N_("patches numbered column by column (W before H); "
                                       "the slides number them row by row"),
    "mha.scale_embed_dim": N_("scores scaled by 1/sqrt(embed_dim) instead of 1/sqrt(head_dim)"),
    "mha.no_scale": N_("scores not scaled (the slides divide by sqrt(d_k))"),
    "mha.scale_head_dim": N_("scores scaled by 1/head_dim instead of 1/sqrt(head_dim)"),
    "mha.softmax_over_queries": N_("softmax over the queries (dim=-2) instead of over the keys: each key's weights "
                                   "sum to 1, not each query's"),
    "encoder_block.post_norm": N_("post-norm (LayerNorm after each residual addition; ViT uses pre-norm)"),
    "encoder_block.tanh_gelu": N_("tanh-approximated GELU (the lab uses the exact GELU)"),
}


def described(key: str) -> str:
    """What the alternative ``key`` does, as feedback says it (in the language spoken now)."""
    return _(KNOWN[key])
