"""Checks for vit.py: patch embedding, multi-head attention, encoder block, positions, ViT (Part 3)."""
from __future__ import annotations

import torch
from hypothesis import strategies as st

from autograder.checks import golden, slides
from autograder.checks.common import (
    Case,
    Outcome,
    all_of,
    check_gradients,
    check_numerics,
    check_output_shapes,
    check_parameter_counts,
    close,
    failed,
    generated,
    max_error,
    passed,
    reference_attr,
    transplanted,
)
from autograder.checks.registry import Registry
from autograder.checks.robustness import Misuse, check_errors
from autograder.engine.remote import Session
from autograder.i18n import _
from autograder.runtime.values import ref

registry = Registry()

PATCH_SLIDE = slides.PATCHES
MHA_SLIDE = slides.ATTENTION
BLOCK_SLIDE = slides.ENCODER_BLOCK
VIT_SLIDE = slides.VIT



# ---------------------------------------------------------------------------- patch embedding
PATCH_CONFIGS = st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 6), st.integers(1, 5),
                          st.integers(2, 24))


def patch_cases(count: int) -> list[Case]:
    return [Case("vit.PatchEmbedding", (p * g, p, c, d), {}, (b, c, p * g, p * g))
            for b, c, p, g, d in generated(PATCH_CONFIGS, count)]


PATCH_NUMERIC = [Case("vit.PatchEmbedding", (12, 4, 3, 16), {}, (2, 3, 12, 12)),
                 Case("vit.PatchEmbedding", (10, 5, 2, 8), {}, (1, 2, 10, 10))]


@registry.check("part3.patch_embedding.shapes", "vit", "PatchEmbedding", PATCH_SLIDE)
def patch_shapes(session: Session, rule) -> Outcome:
    return check_output_shapes(session, patch_cases(8))


@registry.check("part3.patch_embedding.parameters", "vit", "PatchEmbedding", PATCH_SLIDE)
def patch_parameters(session: Session, rule) -> Outcome:
    return check_parameter_counts(session, patch_cases(5))


PATCH_VARIANTS = ("patch_embedding.reshaped_not_transposed", "patch_embedding.column_major")
"""Known alternatives (``autograder.checks.known``) the numerics check recognises."""


@registry.check("part3.patch_embedding.numerics", "vit", "PatchEmbedding", PATCH_SLIDE,
                alternatives=PATCH_VARIANTS)
def patch_numerics(session: Session, rule) -> Outcome:
    return all_of([check_numerics(session, case, rule.tolerance, PATCH_VARIANTS) for case in PATCH_NUMERIC])


# ---------------------------------------------------------------------------- attention
MHA_CONFIGS = st.tuples(st.integers(1, 3), st.integers(1, 9), st.integers(1, 4), st.integers(1, 8))


def mha_cases(count: int) -> list[Case]:
    return [Case("vit.MultiHeadAttention", (h * d, h), {}, (b, t, h * d))
            for b, t, h, d in generated(MHA_CONFIGS, count)]


# Several heads in each: with one, head_dim is embed_dim and their scales cannot be told apart.
MHA_NUMERIC = [Case("vit.MultiHeadAttention", (24, 4), {}, (2, 7, 24)),
               Case("vit.MultiHeadAttention", (18, 3), {}, (1, 5, 18))]


MHA_VARIANTS = ("mha.scale_embed_dim", "mha.no_scale", "mha.scale_head_dim", "mha.softmax_over_queries")
"""Known alternatives (``autograder.checks.known``) the numerics check recognises."""


@registry.check("part3.mha.shapes", "vit", "MultiHeadAttention", MHA_SLIDE)
def mha_shapes(session: Session, rule) -> Outcome:
    return check_output_shapes(session, mha_cases(8))


@registry.check("part3.mha.parameters", "vit", "MultiHeadAttention", MHA_SLIDE)
def mha_parameters(session: Session, rule) -> Outcome:
    return check_parameter_counts(session, mha_cases(5))


@registry.check("part3.mha.numerics", "vit", "MultiHeadAttention", MHA_SLIDE, alternatives=MHA_VARIANTS)
def mha_numerics(session: Session, rule) -> Outcome:
    return all_of([check_numerics(session, case, rule.tolerance, MHA_VARIANTS) for case in MHA_NUMERIC])


@registry.check("part3.mha.attention_weights", "vit", "MultiHeadAttention",
                slides.section("3.2", "Autoatención Multi-Cabeza",
                               "visualización e interpretación de pesos de atención"),
                uses=("part3.mha.numerics",))
def mha_weights(session: Session, rule) -> Outcome:
    """With return_attention=True: weights (B, H, T, T), rows summing to 1, equal to the reference's."""
    case = MHA_NUMERIC[0]
    pair = transplanted(session, case, "mha")
    x = case.make_input(4).double()
    result = session.forward(pair.name, x, dtype="float64", kwargs={"return_attention": True},
                             returns=(torch.Tensor, torch.Tensor))
    want_out, want_weights = pair.computed("output and attention weights",
                                           lambda reference: tuple(reference.double()(x, return_attention=True)))
    pair.restore()
    if len(result.outputs) != 2:
        return failed(_("{case}: {call} should return (output, weights); got {count} tensor(s)").format(
            case=case.label(), call="forward(x, return_attention=True)", count=len(result.outputs)))
    out, weights = result.outputs
    if weights.shape != want_weights.shape:
        return failed(_("{case}: attention weights should have shape (B, H, T, T) = {expected}, got {got}").format(
            case=case.label(), expected=tuple(want_weights.shape), got=tuple(weights.shape)))
    row_error = float((weights.sum(-1) - 1).abs().max())
    if row_error > 1e-6:
        return failed(_("{case}: each row of the attention weights should sum to 1 (softmax over the keys); "
                        "off by up to {error}").format(case=case.label(), error=f"{row_error:.3g}"))
    tol = rule.tolerance["float64"]
    if not close(weights, want_weights, tol.atol, tol.rtol) or not close(out, want_out, tol.atol, tol.rtol):
        return failed(_("{case}: attention weights differ from the reference's with the same weights "
                        "(max abs error {error})").format(case=case.label(),
                                                          error=f"{max_error(weights, want_weights):.3g}"))
    return passed(_("attention weights have shape (B, H, T, T), rows sum to 1 and equal the reference's"))


@registry.check("part3.mha.permutation", "vit", "MultiHeadAttention", MHA_SLIDE)
def mha_permutation(session: Session, rule) -> Outcome:
    """Permuting the tokens permutes the output: self-attention is permutation-equivariant."""
    session.build("perm", ref("vit.MultiHeadAttention"), 16, 4)
    x = torch.randn(2, 6, 16, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    order = torch.tensor([3, 0, 5, 1, 4, 2])
    plain = session.forward("perm", x, dtype="float64").outputs
    permuted = session.forward("perm", x[:, order], dtype="float64").outputs
    if not plain or not permuted:
        return failed(_("{call} returned no tensor").format(call="MultiHeadAttention(16, 4)"))
    if close(permuted[0], plain[0][:, order], 1e-9, 1e-7):
        return passed(_("permuting the input tokens permutes the output the same way"))
    return failed(_("{call}: permuting the input tokens should permute the output the same way "
                    "(max abs difference {error}); "
                    "does something mix tokens by position (a mask, a position term, a wrong reshape)?").format(
        call="MultiHeadAttention(16, 4)", error=f"{max_error(permuted[0], plain[0][:, order]):.3g}"))


# ---------------------------------------------------------------------------- encoder block
BLOCK_CONFIGS = st.tuples(st.integers(1, 3), st.integers(1, 8), st.integers(1, 4), st.integers(1, 6),
                          st.sampled_from([1.0, 2.0, 4.0]))


def block_cases(count: int) -> list[Case]:
    return [Case("vit.TransformerEncoderBlock", (h * d, h, r), {}, (b, t, h * d))
            for b, t, h, d, r in generated(BLOCK_CONFIGS, count)]


BLOCK_NUMERIC = [Case("vit.TransformerEncoderBlock", (24, 4), {}, (2, 7, 24)),
                 Case("vit.TransformerEncoderBlock", (16, 2, 2.0), {}, (1, 5, 16))]


BLOCK_VARIANTS = ("encoder_block.post_norm", "encoder_block.tanh_gelu")
"""Known alternatives (``autograder.checks.known``) the numerics check recognises."""


@registry.check("part3.encoder_block.shapes", "vit", "TransformerEncoderBlock", BLOCK_SLIDE)
def block_shapes(session: Session, rule) -> Outcome:
    return check_output_shapes(session, block_cases(8))


@registry.check("part3.encoder_block.parameters", "vit", "TransformerEncoderBlock", BLOCK_SLIDE)
def block_parameters(session: Session, rule) -> Outcome:
    return check_parameter_counts(session, block_cases(5))


@registry.check("part3.encoder_block.numerics", "vit", "TransformerEncoderBlock", slides.PRE_NORM,
                uses=("part3.mha.numerics",), alternatives=BLOCK_VARIANTS)
def block_numerics(session: Session, rule) -> Outcome:
    return all_of([check_numerics(session, case, rule.tolerance, BLOCK_VARIANTS) for case in BLOCK_NUMERIC])


@registry.check("part3.encoder_block.gradients", "vit", "TransformerEncoderBlock", BLOCK_SLIDE,
                uses=("part3.mha.numerics", "part3.encoder_block.numerics"))
def block_gradients(session: Session, rule) -> Outcome:
    return check_gradients(session, BLOCK_NUMERIC[0], rule.tolerance)


# ---------------------------------------------------------------------------- positions and the ViT
@registry.check("part3.positions.sinusoidal", "vit", "sinusoidal_position_table", slides.POSITIONS)
def sinusoidal(session: Session, rule) -> Outcome:
    """The fixed table of Vaswani et al. for a few sizes."""
    problems = []
    for positions, dim in ((5, 8), (17, 32), (50, 6)):
        result = session.call(ref("vit.sinusoidal_position_table"), args=[positions, dim], mode=None)
        want = golden.reference(f"sinusoidal_position_table({positions}, {dim})",
                                lambda: reference_attr("vit.sinusoidal_position_table")(positions, dim))
        got = result.outputs[0] if result.outputs else None
        if got is None or got.shape != want.shape:
            problems.append(_("{call}: expected shape {expected}, got {got}").format(
                call=f"sinusoidal_position_table({positions}, {dim})", expected=tuple(want.shape),
                got=None if got is None else tuple(got.shape)))
        elif not close(got, want, 1e-5, 1e-5):
            problems.append(_("{call}: max abs error {error} "
                              "(sin on even dimensions, cos on odd ones, base 10000)").format(
                call=f"sinusoidal_position_table({positions}, {dim})", error=f"{max_error(got, want):.3g}"))
    if problems:
        return Outcome((3 - len(problems)) / 3, "\n".join(problems))
    return passed(_("the sinusoidal table matches Vaswani et al. for {count} sizes").format(count=3))


VIT_CONFIGS = st.tuples(st.integers(1, 2), st.sampled_from([1, 3]), st.integers(2, 4), st.integers(1, 3),
                        st.integers(1, 3), st.integers(1, 3), st.integers(2, 6),
                        st.sampled_from(["learnable", "sinusoidal"]))


def vit_cases(count: int) -> list[Case]:
    cases = []
    for b, c, p, g, h, depth, classes, pos in generated(VIT_CONFIGS, count):
        kwargs = {"img_size": p * g, "patch_size": p, "in_channels": c, "num_classes": classes, "embed_dim": 4 * h,
                  "depth": depth, "num_heads": h, "pos_encoding": pos}
        cases.append(Case("vit.VisionTransformer", (), kwargs, (b, c, p * g, p * g)))
    return cases


SMALL_VIT = {"img_size": 16, "patch_size": 4, "num_classes": 5, "embed_dim": 32, "depth": 2, "num_heads": 4}
VIT_NUMERIC = [Case("vit.VisionTransformer", (), SMALL_VIT, (2, 3, 16, 16)),
               Case("vit.VisionTransformer", (), {**SMALL_VIT, "pos_encoding": "sinusoidal", "in_channels": 1},
                    (2, 1, 16, 16))]


@registry.check("part3.vit.parameters", "vit", "VisionTransformer", VIT_SLIDE, seconds=0.5)
def vit_parameters(session: Session, rule) -> Outcome:
    """ViT-B/16 at the defaults has 86,567,656 parameters; small configurations match the reference."""
    got = session.build("count", ref("vit.VisionTransformer"), init=False).trainable  # replaced by the next build
    small = check_parameter_counts(session, vit_cases(4))
    if got != 86_567_656:
        return Outcome(0.5 * small.fraction, _("{call} should have {expected} parameters (ViT-B/16), got {got}").format(
            call="VisionTransformer()", expected=f"{86_567_656:,}", got=f"{got:,}") + "\n" + small.message)
    return Outcome(small.fraction, small.message if small.fraction < 1 else
                   _("ViT-B/16 has {count} parameters; small configurations match").format(count=f"{86_567_656:,}"))


@registry.check("part3.vit.shapes", "vit", "VisionTransformer", VIT_SLIDE)
def vit_shapes(session: Session, rule) -> Outcome:
    return check_output_shapes(session, vit_cases(6))


VIT_USES = ("part3.patch_embedding.numerics", "part3.mha.numerics", "part3.encoder_block.numerics")
"""The numerics checks of the parts a VisionTransformer is made of."""


@registry.check("part3.vit.numerics", "vit", "VisionTransformer", VIT_SLIDE, uses=VIT_USES)
def vit_numerics(session: Session, rule) -> Outcome:
    return all_of([check_numerics(session, case, rule.tolerance) for case in VIT_NUMERIC])


TINY_VIT = {"img_size": 32, "patch_size": 16, "num_classes": 4, "embed_dim": 8, "depth": 1, "num_heads": 2}


def _built(target: str, *args, **kwargs):
    return lambda session: session.build("bad", ref(target), *args, **kwargs)


def _run_on(target: str, shape: tuple[int, ...], *args, **kwargs):
    def attempt(session: Session):
        session.build("bad", ref(target), *args, **kwargs)
        session.forward("bad", torch.randn(shape, generator=torch.Generator().manual_seed(9)))
    return attempt


def vit_misuses() -> list[Misuse]:
    """The invalid uses, made when the check runs: their labels speak the language spoken then."""
    on_image = _("{call} on a {size} image")
    return [
        Misuse("MultiHeadAttention(10, 3)", _built("vit.MultiHeadAttention", 10, 3), ("embed_dim", "num_heads")),
        Misuse("TransformerEncoderBlock(10, 3)", _built("vit.TransformerEncoderBlock", 10, 3),
               ("embed_dim", "num_heads")),
        Misuse("PatchEmbedding(30, 8)", _built("vit.PatchEmbedding", 30, 8), ("img_size", "patch_size")),
        Misuse(on_image.format(call="PatchEmbedding(32, 16, 3, 8)", size="48x48"),
               _run_on("vit.PatchEmbedding", (1, 3, 48, 48), 32, 16, 3, 8), ("img_size", "48")),
        Misuse(on_image.format(call="VisionTransformer(img_size=32, patch_size=16, ...)", size="32x48"),
               _run_on("vit.VisionTransformer", (1, 3, 32, 48), **TINY_VIT), ("img_size", "48")),
        Misuse("VisionTransformer(..., pos_encoding='rotary')",
               _built("vit.VisionTransformer", **TINY_VIT, pos_encoding="rotary"),
               ("pos_encoding",)),
        Misuse("sinusoidal_position_table(5, 7)",
               lambda session: session.call(ref("vit.sinusoidal_position_table"), args=[5, 7], mode=None), ("dim",)),
    ]


VIT_EDGE_CASES = [
    Case("vit.MultiHeadAttention", (16, 4), {}, (1, 5, 16)),
    Case("vit.MultiHeadAttention", (16, 2), {}, (2, 1, 16)),
    Case("vit.TransformerEncoderBlock", (16, 4), {}, (1, 3, 16)),
    Case("vit.VisionTransformer", (), TINY_VIT, (1, 3, 32, 32)),
]
"""Batch size 1 and a single token, which attention and the ViT must take."""


@registry.check("part3.errors", "vit", "Vision Transformer parts (arguments and edge cases)",
                slides.PATCHES + "; " + slides.ATTENTION + "; " + slides.ERRORS)
def vit_errors(session: Session, rule) -> Outcome:
    """Heads that do not split embed_dim, an img_size that patches do not tile, an image of the
    wrong size, an unknown pos_encoding and an odd sinusoidal dim each raise a ValueError naming
    it; batch size 1 and a single token work."""
    return check_errors(session, _("the Vision Transformer's parts"), vit_misuses(), VIT_EDGE_CASES)
