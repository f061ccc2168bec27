"""Bug zoo for vit.py, gradcam.py and profiler.py (Parts 2 to 4), as data.

Each mutation is one realistic student mistake, a small patch of the reference solution. The
checks' ids are graded by prefix, so an entry grades only the component it touches; the slow
ones (the whole ViT, the training benchmark) only where the mistake lives there.
"""
from mutations import Mutation

PATCH = ("part3.patch_embedding.",)
MHA = ("part3.mha.",)
BLOCK = ("part3.encoder_block.",)
VIT = ("part3.vit.",)
GRADCAM = ("part2.gradcam.numerics",)

NO_SCALING = "scores not scaled (the slides divide by sqrt(d_k))"
POST_NORM = "post-norm (LayerNorm after each residual addition; ViT uses pre-norm)"
TANH_GELU = "tanh-approximated GELU (the lab uses the exact GELU)"

# Snippets of solutions/vit.py that pin down one spot (several lines repeat across classes).
ATTENTION_CORE = """\
        if return_attention:
            weights = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)  # (B, H, T, T)
            out = self.attn_drop(weights) @ v  # (B, H, T, d)
        else:
            # The same computation, fused: faster and without the (B, H, T, T) matrix in memory.
            drop = self.dropout if self.training else 0.0
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, scale=self.scale)
"""
MERGE_HEADS = "out = self.proj(out.transpose(1, 2).reshape(batch, tokens, dim))"
BLOCK_NORM1 = "self.norm1 = nn.LayerNorm(embed_dim, eps=1e-6)"
BLOCK_NORM2 = "self.norm2 = nn.LayerNorm(embed_dim, eps=1e-6)"
BLOCK_RESIDUALS = """\
        attended = self.attn(self.norm1(x), return_attention=return_attention)
        if return_attention:
            attended, weights = attended
        x = x + self.drop(attended)
        x = x + self.mlp(self.norm2(x))
"""
TOKENS = "return self.pos_drop(torch.cat([cls, patches], dim=1) + self.pos_embed)  # (B, T, D)"
HEAD = "return self.head(self.norm(x)[:, 0])"
SIN_COS = "table[:, 0::2] = torch.sin(angles)\n    table[:, 1::2] = torch.cos(angles)"
PATCH_FLATTEN = "return x.flatten(2).transpose(1, 2)  # (B, D, N) -> (B, N, D)"
FIXED_POSITIONS = 'self.register_buffer("pos_embed", sinusoidal_position_table(num_tokens, embed_dim)[None])'

VIT_MUTATIONS = [
    Mutation("mha_scores_not_scaled", "vit.py", "self.scale = self.head_dim**-0.5", "self.scale = 1.0",
             MHA, ("part3.mha.numerics",), "MultiHeadAttention", NO_SCALING),
    Mutation("mha_scaled_by_embed_dim", "vit.py", "self.scale = self.head_dim**-0.5", "self.scale = self.embed_dim**-0.5",
             MHA, ("part3.mha.numerics",), "MultiHeadAttention",
             "scores scaled by 1/sqrt(embed_dim) instead of 1/sqrt(head_dim)"),
    # Without the fused path, as most students write it: one explicit softmax, over the queries.
    Mutation("mha_softmax_over_queries", "vit.py", ATTENTION_CORE,
             "        weights = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-2)  # (B, H, T, T)\n"
             "        out = self.attn_drop(weights) @ v  # (B, H, T, d)\n",
             MHA, ("part3.mha.numerics", "part3.mha.attention_weights"), "MultiHeadAttention",
             "softmax over the queries (dim=-2) instead of the keys"),
    # (B, H, T, d) reshaped straight to (B, T, D): heads and tokens interleave.
    Mutation("mha_heads_merged_without_transpose", "vit.py", MERGE_HEADS,
             "out = self.proj(out.reshape(batch, tokens, dim))",
             MHA, ("part3.mha.numerics", "part3.mha.permutation"), "MultiHeadAttention",
             "heads merged without moving the head axis next to the head dimension"),
    Mutation("block_post_norm", "vit.py", BLOCK_RESIDUALS,
             "        attended = self.attn(x, return_attention=return_attention)\n"
             "        if return_attention:\n"
             "            attended, weights = attended\n"
             "        x = self.norm1(x + self.drop(attended))\n"
             "        x = self.norm2(x + self.mlp(x))\n",
             BLOCK, ("part3.encoder_block.numerics",), "TransformerEncoderBlock", POST_NORM),
    Mutation("block_tanh_gelu", "vit.py", "nn.GELU(),", 'nn.GELU(approximate="tanh"),',
             ("part3.encoder_block.numerics",), ("part3.encoder_block.numerics",), "TransformerEncoderBlock", TANH_GELU),
    # nn.LayerNorm's default eps is 1e-5; the float64 comparison (atol 1e-9) tells it from 1e-6.
    Mutation("block_layernorm_default_eps", "vit.py", BLOCK_NORM1 + "\n", "self.norm1 = nn.LayerNorm(embed_dim)\n",
             ("part3.encoder_block.numerics",), ("part3.encoder_block.numerics",), "TransformerEncoderBlock"),
    Mutation("block_mlp_without_norm2", "vit.py", "x = x + self.mlp(self.norm2(x))", "x = x + self.mlp(x)",
             ("part3.encoder_block.numerics", "part3.encoder_block.gradients"), ("part3.encoder_block.",),
             "TransformerEncoderBlock"),
    Mutation("vit_cls_token_appended", "vit.py", TOKENS,
             TOKENS.replace("torch.cat([cls, patches], dim=1)", "torch.cat([patches, cls], dim=1)"),
             ("part3.vit.numerics",), ("part3.vit.numerics",), "VisionTransformer"),
    Mutation("vit_mean_of_tokens_classified", "vit.py", HEAD, "return self.head(self.norm(x).mean(dim=1))",
             ("part3.vit.numerics",), ("part3.vit.numerics",), "VisionTransformer"),
    Mutation("vit_no_final_norm", "vit.py", HEAD, "return self.head(x[:, 0])",
             ("part3.vit.numerics", "part3.vit.gradients"), VIT, "VisionTransformer"),
    Mutation("vit_positions_not_added", "vit.py", TOKENS, TOKENS.replace(" + self.pos_embed", ""),
             ("part3.vit.numerics",), ("part3.vit.numerics",), "VisionTransformer"),
    Mutation("vit_fixed_positions_trained", "vit.py", FIXED_POSITIONS,
             "self.pos_embed = nn.Parameter(sinusoidal_position_table(num_tokens, embed_dim)[None])",
             ("part3.vit.parameters",), ("part3.vit.parameters",), "VisionTransformer"),
    Mutation("sinusoidal_sin_cos_swapped", "vit.py", SIN_COS,
             "table[:, 0::2] = torch.cos(angles)\n    table[:, 1::2] = torch.sin(angles)",
             ("part3.positions.",), ("part3.positions.sinusoidal",), "sinusoidal_position_table"),
    Mutation("patch_tokens_left_channel_first", "vit.py", PATCH_FLATTEN, "return x.flatten(2)  # (B, D, N)",
             ("part3.patch_embedding.shapes",), ("part3.patch_embedding.shapes",), "PatchEmbedding"),
    # The right shape from the wrong axes: (B, D, N) viewed as (B, N, D) mixes patches and channels.
    Mutation("patch_tokens_reshaped_not_transposed", "vit.py", PATCH_FLATTEN,
             "return x.flatten(2).reshape(x.shape[0], -1, x.shape[1])  # (B, D, N) viewed as (B, N, D)",
             PATCH, ("part3.patch_embedding.numerics",), "PatchEmbedding"),
]

# solutions/gradcam.py
GRADCAM_WEIGHTS = "weights = gradients.mean(dim=(2, 3), keepdim=True)"
GRADCAM_CAM = "cam = F.relu((weights * activations.detach()).sum(dim=1, keepdim=True))"
GRADCAM_UPSAMPLE = 'mode="bilinear", align_corners=False'
GRADCAM_RANGE = "low = cam.amin(dim=(1, 2), keepdim=True)\n        high = cam.amax(dim=(1, 2), keepdim=True)"
GRADCAM_SCORE = "score = logits.gather(1, targets[:, None]).sum()"

GRADCAM_MUTATIONS = [
    Mutation("gradcam_max_of_gradients", "gradcam.py", GRADCAM_WEIGHTS,
             "weights = gradients.amax(dim=(2, 3), keepdim=True)", GRADCAM, GRADCAM, "Grad-CAM",
             "channel weights from the maximum of the gradients"),
    Mutation("gradcam_no_relu", "gradcam.py", GRADCAM_CAM,
             "cam = (weights * activations.detach()).sum(dim=1, keepdim=True)", GRADCAM, GRADCAM, "Grad-CAM",
             "no ReLU on the weighted sum"),
    Mutation("gradcam_align_corners", "gradcam.py", GRADCAM_UPSAMPLE, 'mode="bilinear", align_corners=True',
             GRADCAM, GRADCAM, "Grad-CAM", "upsampling with align_corners=True"),
    Mutation("gradcam_nearest_upsampling", "gradcam.py", GRADCAM_UPSAMPLE, 'mode="nearest"',
             GRADCAM, GRADCAM, "Grad-CAM"),
    Mutation("gradcam_batch_wide_min_max", "gradcam.py", GRADCAM_RANGE, "low, high = cam.min(), cam.max()",
             GRADCAM, GRADCAM, "Grad-CAM"),
    Mutation("gradcam_class_idx_ignored", "gradcam.py", "targets = self._target_classes(logits, class_idx)",
             "targets = logits.argmax(dim=1)", GRADCAM, GRADCAM, "Grad-CAM"),
    Mutation("gradcam_softmax_score", "gradcam.py", GRADCAM_SCORE,
             "score = logits.softmax(dim=1).gather(1, targets[:, None]).sum()", GRADCAM, GRADCAM, "Grad-CAM"),
    Mutation("gradcam_activations_detached_in_hook", "gradcam.py", "self.activations = output",
             "self.activations = output.detach()", GRADCAM, GRADCAM, "GradCAM"),
]

# solutions/profiler.py
PROFILER_MUTATIONS = [
    Mutation("flops_counts_multiply_adds", "profiler.py", "return int(counter.get_total_flops())",
             "return int(counter.get_total_flops()) // 2",
             ("part4.profiler.flops",), ("part4.profiler.flops",), "measure_flops", "count a multiply-add once"),
    Mutation("flops_attention_not_counted", "profiler.py",
             "counter = FlopCounterMode(display=False, custom_mapping=_cpu_fused_attention_ops())",
             "counter = FlopCounterMode(display=False)",
             ("part4.profiler.flops",), ("part4.profiler.flops",), "measure_flops"),
    Mutation("latency_in_seconds", "profiler.py", "times_ms.append((time.perf_counter() - start) * 1000.0)",
             "times_ms.append(time.perf_counter() - start)",
             ("part4.profiler.latency",), ("part4.profiler.latency",), "measure_latency", "milliseconds"),
    Mutation("memory_in_megabytes", "profiler.py", "return resident + peak", "return (resident + peak) / 2**20",
             ("part4.profiler.memory",), ("part4.profiler.memory",), "measure_memory"),
    Mutation("memory_weights_only", "profiler.py", "model = copy.deepcopy(self.model).train()\n",
             "model = copy.deepcopy(self.model).train()\n"
             "        return _tensor_bytes(list(model.parameters()) + list(model.buffers()))\n",
             ("part4.profiler.memory",), ("part4.profiler.memory",), "measure_memory"),
    Mutation("benchmark_without_optimizer_step", "profiler.py", "loss.backward()\n                optimizer.step()\n",
             "loss.backward()\n",
             ("part4.profiler.training",), ("part4.profiler.training",), "benchmark_training"),
    Mutation("benchmark_accuracy_in_percent", "profiler.py", '"accuracy": correct / seen,',
             '"accuracy": 100.0 * correct / seen,',
             ("part4.profiler.training",), ("part4.profiler.training",), "benchmark_training"),
]

MUTATIONS = VIT_MUTATIONS + GRADCAM_MUTATIONS + PROFILER_MUTATIONS
