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
    # The attention weights returned always, as the slides' code does when asked for them: the
    # encoder block built on it then fails with a TypeError, so the MHA's checks must say so first.
    Mutation("mha_always_returns_weights", "vit.py", "return (out, weights) if return_attention else out",
             "return out, weights", MHA, ("part3.mha.shapes", "part3.mha.numerics"),
             "forward should return a tensor; yours returns 2 values (a tensor, a tensor)",
             more=(("        if return_attention:\n            weights = ",
                    "        if True:\n            weights = "),)),
    Mutation("mha_scores_not_scaled", "vit.py", SCALE, "self.scale = 1.0", MHA, ("part3.mha.numerics",),
             "MultiHeadAttention", "scores not scaled (the slides divide by sqrt(d_k))"),
    Mutation("mha_scaled_by_embed_dim", "vit.py", SCALE, "self.scale = self.embed_dim**-0.5", MHA,
             ("part3.mha.numerics",), "MultiHeadAttention",
             "scores scaled by 1/sqrt(embed_dim) instead of 1/sqrt(head_dim)"),
    # Written without the fused path, as most students do: one explicit softmax, over the queries.
    Mutation("mha_softmax_over_queries", "vit.py", ATTENTION_CORE,
             EXPLICIT_ATTENTION.replace("softmax(dim=-1)", "softmax(dim=-2)"),
             MHA, ("part3.mha.numerics", "part3.mha.attention_weights"), "MultiHeadAttention",
             "softmax over the queries (dim=-2) instead of over the keys"),
    # (B, H, T, d) viewed straight as (B, T, D): heads and tokens interleave.
    Mutation("mha_heads_merged_without_transpose", "vit.py", MERGE_HEADS,
             "out = self.proj(out.reshape(batch, tokens, dim))",
             MHA, ("part3.mha.numerics", "part3.mha.permutation"), "MultiHeadAttention"),
    Mutation("block_post_norm", "vit.py", BLOCK_RESIDUALS, POST_NORM_RESIDUALS, BLOCK,
             ("part3.encoder_block.numerics",),
             "TransformerEncoderBlock", "post-norm (LayerNorm after each residual addition; ViT uses pre-norm)"),
    Mutation("block_tanh_gelu", "vit.py", "nn.GELU(),", 'nn.GELU(approximate="tanh"),',
             ("part3.encoder_block.numerics",), ("part3.encoder_block.numerics",), "TransformerEncoderBlock",
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
             "VisionTransformer",
             more=((TOKENS, "return self.pos_drop(torch.cat([cls, patches + self.pos_embed], dim=1))"),)),
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
             PATCH, ("part3.patch_embedding.numerics",), "PatchEmbedding",
             "(B, D, N) reshaped to (B, N, D) instead of transposed"),
    # The patch grid read column by column: x.transpose(2, 3) before flattening (W before H).
    Mutation("patch_tokens_column_major", "vit.py", PATCH_FLATTEN,
             "return x.transpose(2, 3).flatten(2).transpose(1, 2)  # (B, D, N), N column-major",
             PATCH, ("part3.patch_embedding.numerics",), "PatchEmbedding", "patches numbered column by column"),
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
    Mutation("gradcam_nearest_upsampling", "gradcam.py", GRADCAM_UPSAMPLE, 'mode="nearest"', GRADCAM, GRADCAM,
             "GradCAM"),
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
             "are attention's matrix products Q K^T and A V counted"),
    Mutation("latency_in_seconds", "profiler.py", "times_ms.append((time.perf_counter() - start) * 1000.0)",
             "times_ms.append(time.perf_counter() - start)", LATENCY, LATENCY, "measure_latency", "in milliseconds"),
    Mutation("memory_in_megabytes", "profiler.py", "return resident + peak", "return (resident + peak) / 2**20",
             MEMORY, MEMORY, "measure_memory"),
    Mutation("memory_weights_only", "profiler.py", "model = copy.deepcopy(self.model).train()\n",
             "model = copy.deepcopy(self.model).train()\n"
             "        return _tensor_bytes(list(model.parameters()) + list(model.buffers()))\n",
             MEMORY, MEMORY, "measure_memory"),
    # The peak of a forward pass (and the loss) only: about a third of the training step's on the weight-heavy probe.
    Mutation("memory_forward_only", "profiler.py", TRAINING_STEP, "F.cross_entropy(logits, labels)\n",
             MEMORY, MEMORY, "measure_memory"),
    Mutation("benchmark_without_optimizer_step", "profiler.py", "loss.backward()\n                optimizer.step()\n",
             "loss.backward()\n", BENCHMARK, BENCHMARK, "benchmark_training"),
    Mutation("benchmark_accuracy_in_percent", "profiler.py", '"accuracy": correct / seen,',
             '"accuracy": 100.0 * correct / seen,', BENCHMARK, BENCHMARK, "benchmark_training"),
]

ERRORS = ("part3.errors",)

# Errors and edge cases (the slides' "Manejo adecuado de errores y casos límite"), and efficiency.
ROBUSTNESS_MUTATIONS = [
    # An assert instead of a ValueError: python -O skips it, and it names nothing.
    Mutation("mha_assert_instead_of_value_error", "vit.py",
             'if embed_dim % num_heads != 0:\n            raise ValueError(f"embed_dim {embed_dim} is not divisible by '
             'num_heads {num_heads}")',
             "assert embed_dim % num_heads == 0", ERRORS, ERRORS, "MultiHeadAttention(10, 3)"),
    # A 48x48 image cut into 3x3 patches by a PatchEmbedding(32, 16): the ViT then fails on a broadcast.
    Mutation("patch_embedding_takes_any_image_size", "vit.py",
             "        height, width = x.shape[-2:]\n        if (height, width) != (self.img_size, self.img_size):\n"
             '            raise ValueError(f"expected images of img_size {self.img_size}x{self.img_size}, '
             'got {height}x{width}")\n', "", ERRORS, ERRORS, "PatchEmbedding(32, 16, 3, 8) on a 48x48 image"),
    Mutation("gradcam_class_idx_unchecked", "gradcam.py",
             "        if bool(((targets < 0) | (targets >= logits.shape[1])).any()):\n"
             '            raise ValueError(f"class_idx {targets.tolist()} out of range '
             'for {logits.shape[1]} classes")\n',
             "", ("part2.gradcam.errors",), ("part2.gradcam.errors",), "GradCAM"),
    Mutation("latency_num_runs_unchecked", "profiler.py",
             '        if num_runs < 1:\n            raise ValueError(f"num_runs must be at least 1, got {num_runs}")\n',
             "", ("part4.profiler.errors",), ("part4.profiler.errors",), "ModelProfiler"),
    # One query token at a time in a Python loop: right, but several times slower and hungrier.
    Mutation("mha_python_loop_over_tokens", "vit.py", ATTENTION_CORE,
             "        rows = []\n"
             "        for t in range(tokens):  # one query token at a time\n"
             "            row = ((q[:, :, t:t + 1] @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)"
             "  # (B, H, 1, T)\n"
             "            rows.append((self.attn_drop(row) @ v, row))\n"
             "        out = torch.cat([r[0] for r in rows], dim=2)  # (B, H, T, d)\n"
             "        weights = torch.cat([r[1] for r in rows], dim=2)  # (B, H, T, T)\n",
             ("part3.mha.",), ("part3.mha.efficiency",), "MultiHeadAttention"),
]

MUTATIONS = VIT_MUTATIONS + GRADCAM_MUTATIONS + PROFILER_MUTATIONS + ROBUSTNESS_MUTATIONS

EINSUM_ATTENTION = """\
        weights = (torch.einsum("bhqd,bhkd->bhqk", q, k) * self.scale).softmax(dim=-1)  # (B, H, T, T)
        out = torch.einsum("bhqk,bhkd->bhqd", self.attn_drop(weights), v)  # (B, H, T, d)
"""
SINUSOIDAL_BODY = """\
    positions = torch.arange(num_positions, dtype=torch.float64)[:, None]  # (T, 1)
    inv_freq = torch.exp(-math.log(10000.0) * torch.arange(0, dim, 2, dtype=torch.float64) / dim)  # (dim/2,)
    angles = positions * inv_freq  # (T, dim/2)
    table = torch.zeros(num_positions, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angles)
    table[:, 1::2] = torch.cos(angles)
    return table.float()
"""
STACKED_SINUSOIDAL = """\
    positions = torch.arange(num_positions, dtype=torch.float32)[:, None]  # (T, 1)
    freqs = torch.pow(10000.0, -torch.arange(0, dim, 2, dtype=torch.float32) / dim)  # (dim/2,)
    angles = positions * freqs  # (T, dim/2)
    return torch.stack([angles.sin(), angles.cos()], dim=-1).reshape(num_positions, dim)  # sin, cos, sin, ...
"""
GRADCAM_NORMALISE = "return (cam - low) / (high - low).clamp_min(1e-7)"
GRADCAM_MIN_MAX = ("low = cam.amin(dim=(1, 2), keepdim=True)\n"
                   "        high = cam.amax(dim=(1, 2), keepdim=True)\n"
                   "        return (cam - low) / (high - low).clamp_min(1e-7)")
GRADCAM_SCORE_AND_GRADIENTS = ("score = logits.gather(1, targets[:, None]).sum()"
                               "  # images are independent in eval mode\n"
                               "            " + GRADCAM_GRADIENTS)
LATENCY_TIMING = ("start = time.perf_counter()\n"
                  "                self.model(x)\n"
                  "                _synchronize(self.device)\n"
                  "                times_ms.append((time.perf_counter() - start) * 1000.0)")
BENCHMARK_STEP = ("logits = self.model(images)\n"
                  "                loss = F.cross_entropy(logits, labels)\n"
                  "                optimizer.zero_grad(set_to_none=True)\n"
                  "                loss.backward()\n")
MEMORY_BODY = """\
        model = copy.deepcopy(self.model).train()
        resident = _tensor_bytes(list(model.parameters()) + list(model.buffers()))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        inputs = torch.randn(batch_size, *input_size, device=self.device)
        resident += _tensor_bytes([inputs])

        def step() -> None:
            logits = model(inputs)
            labels = torch.randint(0, logits.shape[1], (batch_size,), device=self.device)
            F.cross_entropy(logits, labels).backward()
            optimizer.step()

        if self.device.type == "cuda":
            _synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            before = torch.cuda.memory_allocated(self.device)
            step()
            _synchronize(self.device)
            return resident + torch.cuda.max_memory_allocated(self.device) - before
        activities = [torch.profiler.ProfilerActivity.CPU]
        with torch.profiler.profile(activities=activities, profile_memory=True) as prof:
            step()
        live = peak = 0
        records = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
        for record in sorted(records, key=lambda e: e.start_ns()):
            live += record.nbytes()
            peak = max(peak, live)
        return resident + peak
"""
COUNTED_MEMORY = """\
        model = copy.deepcopy(self.model).train()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        inputs = torch.randn(batch_size, *input_size, device=self.device)
        params = list(model.parameters())
        held = params + list(model.buffers()) + [inputs]
        counted = {t.data_ptr() for t in held}
        saved = 0

        def pack(tensor):  # every tensor autograd keeps for the backward pass
            nonlocal saved
            if tensor.data_ptr() not in counted:  # weights and the input are counted once, below
                counted.add(tensor.data_ptr())
                saved += tensor.numel() * tensor.element_size()
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            logits = model(inputs)
            labels = torch.randint(0, logits.shape[1], (batch_size,), device=self.device)
            loss = F.cross_entropy(logits, labels)
        loss.backward()
        optimizer.step()
        gradients = _tensor_bytes([p.grad for p in params if p.grad is not None])
        momentum = _tensor_bytes([s["momentum_buffer"] for s in optimizer.state.values() if "momentum_buffer" in s])
        return _tensor_bytes(held) + gradients + momentum + saved
"""

VARIANTS = [
    # No fused path: the explicit softmax(Q K^T / sqrt(d)) V for both calls.
    Variant("mha_explicit_attention", "vit.py", MHA + BLOCK, patches=((ATTENTION_CORE, EXPLICIT_ATTENTION),)),
    # The table computed in float32 with a power instead of exp/log in float64.
    Variant("sinusoidal_float32_power", "vit.py", POSITIONS,
            patches=((INV_FREQ.join(["inv_freq = torch.exp(-math.log(10000.0) * ", ")  # (dim/2,)"]),
                      "inv_freq = 10000.0 ** (-torch.arange(0, dim, 2) / dim)  # (dim/2,)"),
                     ("positions = torch.arange(num_positions, dtype=torch.float64)[:, None]",
                      "positions = torch.arange(num_positions)[:, None]"),
                     ("table = torch.zeros(num_positions, dim, dtype=torch.float64)",
                      "table = torch.zeros(num_positions, dim)"))),
    # backward() restricted to the activations leaves the parameters' gradients alone.
    Variant("gradcam_backward_into_activations", "gradcam.py", ("part2.gradcam.",),
            patches=((GRADCAM_GRADIENTS, "activations.retain_grad()\n"
                                         "            score.backward(inputs=[activations])\n"
                                         "            gradients = activations.grad"),)),

    # einsum for Q K^T and A V, for both return_attention paths (no fused kernel).
    Variant("mha_einsum", "vit.py", MHA + BLOCK, patches=((ATTENTION_CORE, EINSUM_ATTENTION),)),
    # Three nn.Linear q_proj, k_proj, v_proj instead of the fused qkv; the output projection named out_proj.
    Variant("mha_separate_q_k_v_proj", "vit.py", MHA + BLOCK, "mha_separate_projections.py"),
    # Separate projections named query, key, value, key computed first, F.softmax(q @ k / sqrt(d)).
    Variant("mha_query_key_value_names", "vit.py", MHA + BLOCK + VIT, "mha_query_key_value.py"),
    # A LayerNorm class written by hand (mean, var(unbiased=False), eps 1e-6, own weight and bias).
    Variant("block_layernorm_by_hand", "vit.py", BLOCK + VIT, "block_layernorm_by_hand.py"),
    # The MLP as fc1 / fc2 attributes with F.gelu and F.dropout, the residual dropout functional too.
    Variant("block_functional_mlp", "vit.py", BLOCK + VIT, "block_functional_mlp.py"),
    # nn.Unfold + nn.Linear over (C, P, P)-flattened patches instead of a Conv2d.
    Variant("patch_unfold_linear", "vit.py", PATCH + VIT, "patch_unfold_linear.py"),
    # reshape / permute into (B, N, C*P*P) patches, then nn.Linear.
    Variant("patch_reshape_permute_linear", "vit.py", PATCH + VIT, "patch_reshape_linear.py"),
    # Blocks in an nn.Sequential, the CLS token registered after pos_embed, the sinusoidal table in float32.
    Variant("vit_sequential_float32_positions", "vit.py", VIT + POSITIONS, "vit_sequential_float32_positions.py"),
    # The final LayerNorm applied to the CLS token only (LayerNorm acts on each token alone).
    Variant("vit_norm_cls_token_only", "vit.py", VIT, patches=((HEAD, "return self.head(self.norm(x[:, 0]))"),)),
    # The table as sin and cos stacked on a last axis and flattened (interleaved), in float32 with torch.pow.
    Variant("sinusoidal_stack_interleave", "vit.py", POSITIONS + VIT, patches=((SINUSOIDAL_BODY, STACKED_SINUSOIDAL),)),
    # The grad-cam package's normalisation: (cam - lo) / (hi - lo + 1e-7).
    Variant("gradcam_eps_in_denominator", "gradcam.py", ("part2.gradcam.",),
            patches=((GRADCAM_NORMALISE, "return (cam - low) / (high - low + 1e-7)"),)),
    # The range clamped at 1e-6 instead of 1e-7.
    Variant("gradcam_clamp_1e6", "gradcam.py", ("part2.gradcam.",),
            patches=((GRADCAM_NORMALISE, "return (cam - low) / (high - low).clamp_min(1e-6)"),)),
    # Forward hook (detached activations) + full backward hook (grad_output), backward to the input only.
    Variant("gradcam_full_backward_hook", "gradcam.py", ("part2.gradcam.",), "gradcam_full_backward_hook.py"),
    # dy_c/dA as the vector-Jacobian product of the logits with a one-hot grad_outputs.
    Variant("gradcam_one_hot_grad_outputs", "gradcam.py", ("part2.gradcam.",),
            patches=((GRADCAM_SCORE_AND_GRADIENTS,
                      "one_hot = F.one_hot(targets, logits.shape[1]).to(logits.dtype)  # (B, classes)\n"
                      "            (gradients,) = torch.autograd.grad(logits, activations, grad_outputs=one_hot)"),)),
    # Min-max scaling image by image in a Python loop, dividing only when the map is not constant.
    Variant("gradcam_per_image_loop", "gradcam.py", ("part2.gradcam.",),
            patches=((GRADCAM_MIN_MAX, "maps = []\n"
                                       "        for m in cam:  # one (H, W) map per image\n"
                                       "            m = m - m.min()\n"
                                       "            if m.max() > 0:\n"
                                       "                m = m / m.max()\n"
                                       "            maps.append(m)\n"
                                       "        return torch.stack(maps)"),)),
    # Times read with time.perf_counter_ns(), converted to milliseconds.
    Variant("latency_perf_counter_ns", "profiler.py", LATENCY,
            patches=((LATENCY_TIMING, "start = time.perf_counter_ns()\n"
                                      "                self.model(x)\n"
                                      "                _synchronize(self.device)\n"
                                      "                times_ms.append((time.perf_counter_ns() - start) / 1e6)"),)),
    # Bytes counted instead of the allocator's events: weights, gradients, momentum, the tensors saved
    # for backward (saved_tensors_hooks) and the input.
    Variant("memory_counted_bytes", "profiler.py", MEMORY, patches=((MEMORY_BODY, COUNTED_MEMORY),)),
    # Gradients zeroed explicitly (set_to_none=False) at the start of each step.
    Variant("benchmark_explicit_zero_grad", "profiler.py", BENCHMARK,
            patches=((BENCHMARK_STEP, "optimizer.zero_grad(set_to_none=False)\n"
                                      "                logits = self.model(images)\n"
                                      "                loss = F.cross_entropy(logits, labels)\n"
                                      "                loss.backward()\n"),)),
    # FLOPs counted under torch.inference_mode() instead of torch.no_grad().
    Variant("flops_inference_mode", "profiler.py", FLOPS,
            patches=(("with _eval_mode(self.model), torch.no_grad(), counter:",
                      "with _eval_mode(self.model), torch.inference_mode(), counter:"),)),
]
