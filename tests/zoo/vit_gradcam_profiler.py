"""Bug zoo and correct variants for vit.py, gradcam.py and profiler.py (Parts 2 to 4), as data.

Each mutation is one realistic student mistake, a small patch of the reference solution; each
variant is a correct implementation written differently. The checks' ids are graded by prefix,
so an entry grades only the component it touches. Left out: measure_latency without warm-up,
which timing on a shared machine cannot tell from noise.
"""
from mutations import Mutation, Variant

PATCH = ("part3.patch_embedding.",)
MHA = ("part3.mha.",)
BLOCK = ("part3.encoder_block.",)
VIT = ("part3.vit.",)
POSITIONS = ("part3.positions.",)
GRADCAM = ("part2.gradcam.numerics",)
FLOPS = ("part4.profiler.flops",)
LATENCY = ("part4.profiler.latency",)
MEMORY = ("part4.profiler.memory",)
BENCHMARK = ("part4.profiler.training",)

# Snippets of solutions/vit.py that pin down one spot (several lines repeat across classes).
SCALE = "self.scale = self.head_dim**-0.5"
ATTENTION_CORE = """\
        if return_attention:
            weights = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)  # (B, H, T, T)
            out = self.attn_drop(weights) @ v  # (B, H, T, d)
        else:
            # The same computation, fused: faster and without the (B, H, T, T) matrix in memory.
            drop = self.dropout if self.training else 0.0
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, scale=self.scale)
"""
EXPLICIT_ATTENTION = """\
        weights = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)  # (B, H, T, T)
        out = self.attn_drop(weights) @ v  # (B, H, T, d)
"""
MERGE_HEADS = "out = self.proj(out.transpose(1, 2).reshape(batch, tokens, dim))"
BLOCK_NORM1 = "self.norm1 = nn.LayerNorm(embed_dim, eps=1e-6)\n"
BLOCK_RESIDUALS = """\
        attended = self.attn(self.norm1(x), return_attention=return_attention)
        if return_attention:
            attended, weights = attended
        x = x + self.drop(attended)
        x = x + self.mlp(self.norm2(x))
"""
POST_NORM_RESIDUALS = """\
        attended = self.attn(x, return_attention=return_attention)
        if return_attention:
            attended, weights = attended
        x = self.norm1(x + self.drop(attended))
        x = self.norm2(x + self.mlp(x))
"""
TOKENS = "return self.pos_drop(torch.cat([cls, patches], dim=1) + self.pos_embed)  # (B, T, D)"
HEAD = "return self.head(self.norm(x)[:, 0])"
SIN_COS = "table[:, 0::2] = torch.sin(angles)\n    table[:, 1::2] = torch.cos(angles)"
INV_FREQ = "torch.arange(0, dim, 2, dtype=torch.float64) / dim"
PATCH_FLATTEN = "return x.flatten(2).transpose(1, 2)  # (B, D, N) -> (B, N, D)"
FIXED_POSITIONS = 'self.register_buffer("pos_embed", sinusoidal_position_table(num_tokens, embed_dim)[None])'

VIT_MUTATIONS = [
    Mutation("mha_scores_not_scaled", "vit.py", SCALE, "self.scale = 1.0", MHA, ("part3.mha.numerics",),
             "MultiHeadAttention", "scores not scaled (the slides divide by sqrt(d_k))"),
    Mutation("mha_scaled_by_embed_dim", "vit.py", SCALE, "self.scale = self.embed_dim**-0.5", MHA,
             ("part3.mha.numerics",), "MultiHeadAttention", "scores scaled by 1/sqrt(embed_dim) instead of 1/sqrt(head_dim)"),
    # Written without the fused path, as most students do: one explicit softmax, over the queries.
    Mutation("mha_softmax_over_queries", "vit.py", ATTENTION_CORE, EXPLICIT_ATTENTION.replace("softmax(dim=-1)", "softmax(dim=-2)"),
             MHA, ("part3.mha.numerics", "part3.mha.attention_weights"), "MultiHeadAttention"),
    # (B, H, T, d) viewed straight as (B, T, D): heads and tokens interleave.
    Mutation("mha_heads_merged_without_transpose", "vit.py", MERGE_HEADS, "out = self.proj(out.reshape(batch, tokens, dim))",
             MHA, ("part3.mha.numerics", "part3.mha.permutation"), "MultiHeadAttention"),
    Mutation("block_post_norm", "vit.py", BLOCK_RESIDUALS, POST_NORM_RESIDUALS, BLOCK, ("part3.encoder_block.numerics",),
             "TransformerEncoderBlock", "post-norm (LayerNorm after each residual addition; ViT uses pre-norm)"),
    Mutation("block_tanh_gelu", "vit.py", "nn.GELU(),", 'nn.GELU(approximate="tanh"),', ("part3.encoder_block.numerics",),
             ("part3.encoder_block.numerics",), "TransformerEncoderBlock",
             "tanh-approximated GELU (the lab uses the exact GELU)"),
    # nn.LayerNorm's default eps 1e-5: off by some 3e-6, under float32's tolerance (1e-4) but not float64's (1e-9).
    Mutation("block_layernorm_default_eps", "vit.py", BLOCK_NORM1, "self.norm1 = nn.LayerNorm(embed_dim)\n",
             ("part3.encoder_block.numerics",), ("part3.encoder_block.numerics",), "TransformerEncoderBlock"),
    Mutation("block_mlp_without_norm2", "vit.py", "x = x + self.mlp(self.norm2(x))", "x = x + self.mlp(x)",
             ("part3.encoder_block.numerics", "part3.encoder_block.gradients"), BLOCK, "TransformerEncoderBlock"),
    Mutation("vit_cls_token_appended", "vit.py", TOKENS, TOKENS.replace("[cls, patches]", "[patches, cls]"),
             ("part3.vit.numerics",), ("part3.vit.numerics",), "VisionTransformer"),
    Mutation("vit_mean_of_tokens_classified", "vit.py", HEAD, "return self.head(self.norm(x).mean(dim=1))",
             ("part3.vit.numerics",), ("part3.vit.numerics",), "VisionTransformer"),
    Mutation("vit_no_final_norm", "vit.py", HEAD, "return self.head(x[:, 0])",
             ("part3.vit.numerics", "part3.vit.gradients"), VIT, "VisionTransformer"),
    Mutation("vit_positions_not_added", "vit.py", TOKENS, TOKENS.replace(" + self.pos_embed", ""),
             ("part3.vit.numerics",), ("part3.vit.numerics",), "VisionTransformer"),
    # Positions for the N patches only, added before the CLS token is prepended: pos_embed (1, N, D).
    Mutation("vit_cls_token_without_position", "vit.py", "num_tokens = self.patch_embed.num_patches + 1",
             "num_tokens = self.patch_embed.num_patches", ("part3.vit.parameters",), ("part3.vit.parameters",),
             "VisionTransformer", more=((TOKENS, "return self.pos_drop(torch.cat([cls, patches + self.pos_embed], dim=1))"),)),
    Mutation("vit_fixed_positions_trained", "vit.py", FIXED_POSITIONS,
             "self.pos_embed = nn.Parameter(sinusoidal_position_table(num_tokens, embed_dim)[None])",
             ("part3.vit.parameters",), ("part3.vit.parameters",), "VisionTransformer"),
    Mutation("sinusoidal_sin_cos_swapped", "vit.py", SIN_COS,
             "table[:, 0::2] = torch.cos(angles)\n    table[:, 1::2] = torch.sin(angles)",
             POSITIONS, ("part3.positions.sinusoidal",), "sinusoidal_position_table"),
    # Frequencies 10000 ** (-i / dim) instead of 10000 ** (-2i / dim).
    Mutation("sinusoidal_exponent_i_over_dim", "vit.py", INV_FREQ, "torch.arange(dim // 2, dtype=torch.float64) / dim",
             POSITIONS, ("part3.positions.sinusoidal",), "sinusoidal_position_table"),
    Mutation("patch_tokens_left_channel_first", "vit.py", PATCH_FLATTEN, "return x.flatten(2)  # (B, D, N)",
             ("part3.patch_embedding.shapes",), ("part3.patch_embedding.shapes",), "PatchEmbedding"),
    # The right shape from the wrong axes: (B, D, N) viewed as (B, N, D) mixes patches and channels.
    Mutation("patch_tokens_reshaped_not_transposed", "vit.py", PATCH_FLATTEN,
             "return x.flatten(2).reshape(x.shape[0], -1, x.shape[1])  # (B, D, N) viewed as (B, N, D)",
             PATCH, ("part3.patch_embedding.numerics",), "PatchEmbedding"),
]

# Snippets of solutions/gradcam.py.
GRADCAM_UPSAMPLE = 'mode="bilinear", align_corners=False'
GRADCAM_GRADIENTS = "(gradients,) = torch.autograd.grad(score, activations)  # (B, K, h, w)"

GRADCAM_MUTATIONS = [
    Mutation("gradcam_max_of_gradients", "gradcam.py", "weights = gradients.mean(dim=(2, 3), keepdim=True)",
             "weights = gradients.amax(dim=(2, 3), keepdim=True)", GRADCAM, GRADCAM, "GradCAM",
             "channel weights from the maximum of the gradients (Grad-CAM uses their spatial mean)"),
    Mutation("gradcam_no_relu", "gradcam.py", "cam = F.relu((weights * activations.detach()).sum(dim=1, keepdim=True))",
             "cam = (weights * activations.detach()).sum(dim=1, keepdim=True)", GRADCAM, GRADCAM, "GradCAM",
             "no ReLU on the weighted sum (Grad-CAM keeps only positive evidence)"),
    Mutation("gradcam_align_corners", "gradcam.py", GRADCAM_UPSAMPLE, 'mode="bilinear", align_corners=True',
             GRADCAM, GRADCAM, "GradCAM", "upsampling with align_corners=True (the lab uses align_corners=False)"),
    Mutation("gradcam_nearest_upsampling", "gradcam.py", GRADCAM_UPSAMPLE, 'mode="nearest"', GRADCAM, GRADCAM, "GradCAM"),
    # One min-max over the whole batch instead of one per image.
    Mutation("gradcam_batch_wide_min_max", "gradcam.py",
             "low = cam.amin(dim=(1, 2), keepdim=True)\n        high = cam.amax(dim=(1, 2), keepdim=True)",
             "low, high = cam.min(), cam.max()", GRADCAM, GRADCAM, "GradCAM"),
    Mutation("gradcam_class_idx_ignored", "gradcam.py", "targets = self._target_classes(logits, class_idx)",
             "targets = logits.argmax(dim=1)", GRADCAM, GRADCAM, "GradCAM"),
    # The gradient of the class probability instead of the logit y_c.
    Mutation("gradcam_softmax_score", "gradcam.py", "score = logits.gather(1, targets[:, None]).sum()",
             "score = logits.softmax(dim=1).gather(1, targets[:, None]).sum()", GRADCAM, GRADCAM, "GradCAM"),
    Mutation("gradcam_activations_detached_in_hook", "gradcam.py", "self.activations = output",
             "self.activations = output.detach()", GRADCAM, GRADCAM, "GradCAM"),
    # The tutorials' way: zero_grad() wipes and backward() fills the model's parameter gradients.
    Mutation("gradcam_backward_into_model", "gradcam.py", GRADCAM_GRADIENTS,
             "activations.retain_grad()\n"
             "            self.model.zero_grad()\n"
             "            score.backward()\n"
             "            gradients = activations.grad",
             ("part2.gradcam.",), ("part2.gradcam.no_side_effects",), "GradCAM"),
]

# Snippets of solutions/profiler.py.
TRAINING_STEP = "F.cross_entropy(logits, labels).backward()\n            optimizer.step()\n"

PROFILER_MUTATIONS = [
    Mutation("flops_multiply_add_counted_once", "profiler.py", "return int(counter.get_total_flops())",
             "return int(counter.get_total_flops()) // 2", FLOPS, FLOPS, "measure_flops", "count a multiply-add once"),
    # torch's FlopCounterMode alone does not count the CPU fused attention kernel, so ViTs lose Q K^T and A V.
    Mutation("flops_fused_attention_not_counted", "profiler.py",
             "counter = FlopCounterMode(display=False, custom_mapping=_cpu_fused_attention_ops())",
             "counter = FlopCounterMode(display=False)", FLOPS, FLOPS, "measure_flops",
             gap="the flops check profiles only a CNN and an MLP: no attention, so attention's matrix products "
                 "(Q K^T, A V) left out of the count go unseen. Every torch.nn attention layer is on the rubric's "
                 "forbidden list (and TransformerEncoderLayer's fast path counts 0 FLOPs even for the reference), "
                 "so a probe needs the submission's own MultiHeadAttention, which couples the profiler's points to vit.py"),
    Mutation("latency_in_seconds", "profiler.py", "times_ms.append((time.perf_counter() - start) * 1000.0)",
             "times_ms.append(time.perf_counter() - start)", LATENCY, LATENCY, "measure_latency", "in milliseconds"),
    Mutation("memory_in_megabytes", "profiler.py", "return resident + peak", "return (resident + peak) / 2**20",
             MEMORY, MEMORY, "measure_memory"),
    Mutation("memory_weights_only", "profiler.py", "model = copy.deepcopy(self.model).train()\n",
             "model = copy.deepcopy(self.model).train()\n"
             "        return _tensor_bytes(list(model.parameters()) + list(model.buffers()))\n",
             MEMORY, MEMORY, "measure_memory"),
    # The peak of a forward pass (and the loss) only: about 0.65 of the training step's.
    Mutation("memory_forward_only", "profiler.py", TRAINING_STEP, "F.cross_entropy(logits, labels)\n",
             MEMORY, MEMORY, "measure_memory",
             gap="the memory check accepts 1/4 to 4 times the reference's peak, since honest CPU measurements differ "
                 "(allocator events, summed tensor sizes, process RSS); a forward-only peak is 0.65 of it"),
    Mutation("benchmark_without_optimizer_step", "profiler.py", "loss.backward()\n                optimizer.step()\n",
             "loss.backward()\n", BENCHMARK, BENCHMARK, "benchmark_training"),
    Mutation("benchmark_accuracy_in_percent", "profiler.py", '"accuracy": correct / seen,',
             '"accuracy": 100.0 * correct / seen,', BENCHMARK, BENCHMARK, "benchmark_training"),
]

MUTATIONS = VIT_MUTATIONS + GRADCAM_MUTATIONS + PROFILER_MUTATIONS

VARIANTS = [
    # No fused path: the explicit softmax(Q K^T / sqrt(d)) V for both calls.
    Variant("mha_explicit_attention", "vit.py", MHA + BLOCK, patches=((ATTENTION_CORE, EXPLICIT_ATTENTION),)),
    # The table computed in float32 with a power instead of exp/log in float64.
    Variant("sinusoidal_float32_power", "vit.py", POSITIONS,
            patches=((INV_FREQ.join(["inv_freq = torch.exp(-math.log(10000.0) * ", ")  # (dim/2,)"]),
                      "inv_freq = 10000.0 ** (-torch.arange(0, dim, 2) / dim)  # (dim/2,)"),
                     ("positions = torch.arange(num_positions, dtype=torch.float64)[:, None]",
                      "positions = torch.arange(num_positions)[:, None]"),
                     ("table = torch.zeros(num_positions, dim, dtype=torch.float64)", "table = torch.zeros(num_positions, dim)"))),
    # backward() restricted to the activations leaves the parameters' gradients alone.
    Variant("gradcam_backward_into_activations", "gradcam.py", ("part2.gradcam.",),
            patches=((GRADCAM_GRADIENTS, "activations.retain_grad()\n"
                                         "            score.backward(inputs=[activations])\n"
                                         "            gradients = activations.grad"),)),
]
