# Template of the Lab 3 notebook. autograder/lab_notebook.py builds notebooks/source/lab3/lab3.ipynb
# from it, from solutions/ and from grading.yml; its docstring describes the '# %%' directives.

# %% [markdown]
# # Lab 3: Architecture Implementation Mastery, from ResNet to Vision Transformers
#
# You will implement, from scratch and in this one notebook:
#
# 1. **ResNet**: residual blocks (basic, bottleneck, pre-activation) and the network, then measure
#    how depth changes its cost and how the shortcut keeps gradients alive.
# 2. **Attention**: Squeeze-and-Excitation and CBAM inside residual blocks, and Grad-CAM to see where
#    a network looks.
# 3. **Vision Transformer**: patch embedding, multi-head self-attention, the encoder block and the
#    whole ViT, and how its hyperparameters change what it learns.
# 4. **CNN vs ViT**: a model profiler, both families trained with little and with more data, and the
#    choice of an architecture for a deployment.
#
# Write your code where a cell says `# YOUR CODE HERE` and remove the `raise NotImplementedError()`
# line. Keep the names and signatures: the test cells, and the grader, call them. Each test cell checks
# the component above it against the reference implementation (shapes, parameter counts, outputs,
# gradients); when one fails, its message says what was expected and where in the slides to look. More
# checks run when the lab is graded. The analysis answers are graded by hand.
#
# Points:

# %% points

# %% [markdown]
# ## Set-up
#
# Run the next two cells first. On Google Colab the first installs the lab kit (it holds the test
# cells' checks); choose a GPU runtime there (Runtime, Change runtime type) to run the experiments at
# full size quickly. With the environment variable `LAB3_SMOKE=1` every experiment runs at a tiny size,
# as when the notebook is graded; its plots then show that the code runs, not the effects to analyse.

# %%
# Set-up: on Google Colab, fetch the lab kit; everywhere, pick the device.
KIT_URL = ""  # on Colab: the link to the lab kit's student bundle (a .zip), from your instructor

import os
import subprocess
import sys

import torch

try:
    import google.colab  # noqa: F401 (only Colab has it)

    ON_COLAB = True
except ImportError:
    ON_COLAB = False
if ON_COLAB and KIT_URL:
    import io
    import urllib.request
    import zipfile
    from pathlib import Path

    zipfile.ZipFile(io.BytesIO(urllib.request.urlopen(KIT_URL).read())).extractall("/content/lab3-kit")
    kit = next(Path("/content/lab3-kit").glob("**/autograder/selfcheck.py")).parents[1]
    sys.path.insert(0, str(kit))  # the test cells import the kit's checks from there
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "hypothesis", "nbformat", "safetensors"],
                   check=True)  # Colab has torch, torchvision, scikit-learn and matplotlib already
elif ON_COLAB:
    print("KIT_URL is empty: paste the link to the lab kit from your instructor between its quotes at the top "
          "of this cell and run it again (the test cells need the kit).")

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
SMOKE = os.environ.get("LAB3_SMOKE", "0") == "1"
print(f"device: {DEVICE}; experiments at {'smoke-test' if SMOKE else 'full'} size")

# %%
# Helpers for the experiments: the data, a training loop, parameter counts, timing, and map overlays.
import math
import time

import matplotlib.pyplot as plt
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

IMAGE_SIZE = 16  # scikit-learn's 8x8 digits, upsampled so that strides and patches have room
BATCH = 16 if SMOKE else 64  # mini-batch size of the training runs


def digits_split(test_fraction: float = 0.2, seed: int = 0):
    """scikit-learn's 1,797 handwritten digits, shuffled and split: ((x_train, y_train), (x_test, y_test)).

    x: (N, 1, 16, 16) in [0, 1]; y: (N,) labels 0-9. Only offline data is needed.
    """
    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32)[:, None] / 16.0  # (N, 1, 8, 8)
    x = F.interpolate(x, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
    y = torch.tensor(digits.target)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    cut = int(test_fraction * len(y))
    return (x[order[cut:]], y[order[cut:]]), (x[order[:cut]], y[order[:cut]])


(X_TRAIN, Y_TRAIN), (X_TEST, Y_TEST) = digits_split()


def fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, batch_size: int = BATCH, lr: float = 1e-3):
    """Train with Adam on cross-entropy for ``steps`` random mini-batches of (x (N, C, H, W), y (N,)).

    Returns the loss of every step.
    """
    model.to(DEVICE).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(steps):
        index = torch.randint(len(y), (min(batch_size, len(y)),), generator=generator)
        loss = F.cross_entropy(model(x[index].to(DEVICE)), y[index].to(DEVICE))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of ``x`` (N, C, H, W) classified as ``y`` (N,), in eval mode."""
    model.to(DEVICE).eval()
    return (model(x.to(DEVICE)).argmax(dim=1).cpu() == y).float().mean().item()


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameter elements."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@torch.no_grad()
def forward_ms(model: nn.Module, images: torch.Tensor, repeats: int = 3) -> float:
    """Median time of ``model(images)`` in ms, in eval mode, after one warm-up run (synchronised on CUDA)."""
    model.to(DEVICE).eval()
    images = images.to(DEVICE)
    model(images)
    times = []
    for _ in range(repeats):
        if DEVICE.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        model(images)
        if DEVICE.type == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1000.0)
    return sorted(times)[len(times) // 2]


def show_costs(rows: list[tuple[str, float, float]], timing: str, title: str) -> None:
    """Two bar charts of (name, millions of parameters, forward ms) rows; ``timing`` says what was timed."""
    names, millions, milliseconds = zip(*rows)
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    left.bar(names, millions)
    left.set_ylabel("parameters (millions)")
    right.bar(names, milliseconds, color="tab:orange")
    right.set_ylabel(f"forward time (ms), {timing}")
    figure.suptitle(title)
    figure.tight_layout()
    plt.show()


def show_maps(images: torch.Tensor, labels: torch.Tensor, maps: dict[str, torch.Tensor], title: str) -> None:
    """Overlay maps on images (B, 1, H, W): one row per entry of ``maps``, each (B, H, W)."""
    figure, axes = plt.subplots(len(maps), len(images), figsize=(1.8 * len(images), 1.9 * len(maps)), squeeze=False)
    for row, (name, batch_maps) in enumerate(maps.items()):
        for column, axis in enumerate(axes[row]):
            axis.imshow(images[column, 0], cmap="gray")
            axis.imshow(batch_maps[column], cmap="jet", alpha=0.45)
            axis.set_xticks([])
            axis.set_yticks([])
            axis.set_title(f"{name}: {labels[column].item()}", fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    plt.show()


print(f"digits: {len(Y_TRAIN)} training and {len(Y_TEST)} test images of {tuple(X_TRAIN.shape[1:])}")

# %% [markdown]
# ## Part 1: ResNet
#
# ### Residual learning
#
# A plain stack of layers must learn the mapping H(x) it is asked for. A residual block learns only
# the residual F(x) = H(x) - x and adds its input back through a shortcut: y = F(x) + x. Two things
# follow. Learning "change nothing" only needs F = 0, so extra depth no longer makes training worse;
# and the gradient reaching x is dL/dy (dF/dx + I): the identity term carries it back through any
# number of blocks, where a plain stack multiplies it by one Jacobian per layer.
#
# The imports and two convolution helpers are given.

# %% solution resnet.imports resnet.AttentionFactory

# %% solution resnet.conv3x3 resnet.conv1x1

# %% [markdown]
# ### BasicBlock
#
# The block of ResNet-18/34: conv3x3-BN-ReLU, conv3x3-BN, add the shortcut, ReLU. The first
# convolution carries the stride; when the shape changes, `downsample` (built by the network) maps the
# shortcut to the branch's shape. `attention`, when given, acts on the residual branch before the
# addition (Part 2).

# %% solution resnet.BasicBlock

# %% tests part1.basic_block

# %% [markdown]
# ### Bottleneck block
#
# ResNet-50/101 replace the two 3x3 convolutions by 1x1 (reduce), 3x3, 1x1 (expand by 4): four times
# the width for about the cost of a basic block. The stride sits on the 3x3 convolution, as in
# torchvision (read the class docstring for the original paper's choice).

# %% solution resnet.BottleneckBlock

# %% tests part1.bottleneck

# %% [markdown]
# ### Pre-activation blocks
#
# He et al.'s second paper moves BatchNorm and ReLU before each convolution (BN-ReLU-conv) and leaves
# nothing after the addition, so the shortcut is a clean identity from the input of the network to
# its end.

# %% solution resnet.PreActBasicBlock

# %% tests part1.preact_basic

# %% solution resnet.PreActBottleneckBlock

# %% tests part1.preact_bottleneck

# %% [markdown]
# ### Building ResNet
#
# A stem, four stages of blocks (widths 64, 128, 256, 512; stages 2-4 halve the resolution), global
# average pooling and a classifier. `_make_layer` builds one stage and the first block's `downsample`.
# The factories below give the networks of the paper.

# %% solution resnet.Block resnet.STEMS resnet.ResNet

# %% solution resnet.ARCHITECTURES resnet._resnet resnet.resnet18 resnet.resnet34 resnet.resnet50 resnet.resnet101

# %% tests part1.resnet

# %% [markdown]
# ### Experiment: depth scaling
#
# Parameters and forward time of ResNet-18, 34, 50 and 101 (ImageNet stem, 1,000 classes).

# %%
# Depth scaling: parameters and forward time of ResNet-18/34/50/101.
side = 64 if SMOKE else 224
images = torch.randn(1 if SMOKE else 8, 3, side, side)
depth_rows = []
for name, factory in {"ResNet-18": resnet18, "ResNet-34": resnet34, "ResNet-50": resnet50,
                      "ResNet-101": resnet101}.items():
    model = factory()
    depth_rows.append((name, count_parameters(model) / 1e6, forward_ms(model, images, repeats=1 if SMOKE else 5)))
    print(f"{name:>10}: {depth_rows[-1][1]:6.2f} M parameters, {depth_rows[-1][2]:8.1f} ms "
          f"per forward pass of {tuple(images.shape)}")
del model

show_costs(depth_rows, f"batch {images.shape[0]}, {side}x{side}", "Depth scaling")

# %% [markdown]
# ### Experiment: gradient flow
#
# The same deep network twice at initialisation, with and without shortcuts: one backward pass of a
# cross-entropy loss, and the gradient norm reaching the first convolution of every block, from the
# input side (block 1) to the output side.

# %%
# Gradient flow at initialisation: plain vs residual blocks.
class PlainBasicBlock(BasicBlock):
    """A BasicBlock without its shortcut: conv-BN-ReLU-conv-BN-ReLU (``downsample`` is left unused)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))))


def block_gradient_norms(block: type, blocks_per_stage: int, batch: int, side: int) -> list[float]:
    """Norm of the loss gradient w.r.t. each block's ``conv1.weight``, in forward order."""
    torch.manual_seed(0)
    network = ResNet(block, [blocks_per_stage] * 4, num_classes=10, stem="cifar").to(DEVICE)
    images = torch.randn(batch, 3, side, side, device=DEVICE)
    labels = torch.randint(0, 10, (batch,), device=DEVICE)
    F.cross_entropy(network(images), labels).backward()
    stages = (network.layer1, network.layer2, network.layer3, network.layer4)
    return [b.conv1.weight.grad.norm().item() for stage in stages for b in stage]


blocks_per_stage, batch, side = (2, 4, 16) if SMOKE else (8, 32, 32)
flow = {"plain": block_gradient_norms(PlainBasicBlock, blocks_per_stage, batch, side),
        "residual": block_gradient_norms(BasicBlock, blocks_per_stage, batch, side)}
for name, norms in flow.items():
    print(f"{name:>8}: first block {norms[0]:.2e}, last block {norms[-1]:.2e}, ratio {norms[0] / norms[-1]:.2e}")

plt.figure(figsize=(7, 3.5))
for name, norms in flow.items():
    plt.semilogy(range(1, len(norms) + 1), norms, marker="o", label=name)
plt.xlabel("block (1 = nearest the input)")
plt.ylabel("gradient norm of conv1")
plt.title(f"Gradient flow at initialisation, {8 * blocks_per_stage + 2} layers")
plt.legend()
plt.tight_layout()
plt.show()

# %% manual report depth_scaling
# ### Analysis 1: depth scaling and gradient flow
#
# From the two experiments above: how do parameters and forward time grow from ResNet-18 to
# ResNet-101, and why does ResNet-50 have only about 17 % more parameters than ResNet-34 while being
# much deeper (what does the bottleneck change)? How do the gradient norms differ between the plain
# and the residual network, from the input side to the output side, and which term of the block's
# gradient explains it? What would you expect for the plain network at 1,000 layers?

# %% [markdown]
# ## Part 2: Attention
#
# ### Squeeze-and-Excitation
#
# SE recalibrates channels: squeeze each channel to one number (global average pooling), excite
# through a small MLP (reduce by `reduction`, ReLU, expand, sigmoid), and scale every position of the
# channel by its gate.

# %% solution attention.imports

# %% solution attention.reduced_channels

# %% solution attention.SEModule

# %% tests part2.se

# %% [markdown]
# ### CBAM: channel and spatial attention
#
# CBAM applies channel attention (one shared MLP on the average- and the max-pooled descriptors,
# summed), then spatial attention (a k x k convolution over the channel-wise average and maximum
# maps, sigmoid) that says where to look.

# %% solution attention.ChannelAttention

# %% solution attention.SpatialAttention

# %% solution attention.CBAM

# %% tests part2.cbam

# %% [markdown]
# ### Integrating attention in ResNet blocks
#
# Every block takes `attention`, a callable from a channel count to a module: `resnet18(attention=SEModule)`
# is SE-ResNet-18, `resnet50(attention=CBAM)` is CBAM-ResNet-50. The module acts on the residual branch
# before the addition, so the shortcut stays untouched. Your blocks from Part 1 already do this.

# %% tests part2.se_resnet part2.cbam_resnet

# %% [markdown]
# ### Experiment: what attention costs
#
# ResNet-50 without attention, with SE and with CBAM: parameters and forward time.

# %%
# Benchmarking SE and CBAM: parameters and forward time of ResNet-50 with each.
side = 32 if SMOKE else 224
images = torch.randn(1 if SMOKE else 8, 3, side, side)
attention_rows = []
for name, attention in {"ResNet-50": None, "SE-ResNet-50": SEModule, "CBAM-ResNet-50": CBAM}.items():
    model = resnet50(attention=attention)
    attention_rows.append((name, count_parameters(model) / 1e6, forward_ms(model, images, repeats=1 if SMOKE else 5)))
del model
for name, millions, ms in attention_rows:
    _, base_millions, base_ms = attention_rows[0]
    print(f"{name:>15}: {millions:6.2f} M parameters ({100 * (millions / base_millions - 1):+5.1f} %), "
          f"{ms:8.1f} ms ({100 * (ms / base_ms - 1):+5.1f} %)")

show_costs(attention_rows, f"batch {images.shape[0]}, {side}x{side}", "The cost of attention")

# %% [markdown]
# ### Grad-CAM
#
# Grad-CAM shows which parts of an image a class score depends on: the gradients of the score with
# respect to a layer's feature maps, averaged over space, weight those maps; their ReLU'd sum,
# upsampled to the image, is the class activation map.

# %% solution gradcam.imports gradcam.ClassIndex

# %% solution gradcam.GradCAM

# %% tests part2.gradcam

# %% [markdown]
# ### Experiment: attention maps
#
# Three small CNNs of your BasicBlocks, without attention, with SE and with CBAM, trained on the
# digits; then Grad-CAM at their last block for six test digits and their true class.

# %%
# Attention maps with Grad-CAM: small CNNs of BasicBlocks, with and without attention, on the digits.
def small_cnn(attention=None, width: int = 32) -> nn.Sequential:
    """A CNN of two BasicBlocks for the digits: (B, 1, 16, 16) -> (B, 10); index 4 is the last block."""
    downsample = nn.Sequential(conv1x1(width, 2 * width, stride=2), nn.BatchNorm2d(2 * width))
    return nn.Sequential(
        nn.Conv2d(1, width, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(inplace=True),
        BasicBlock(width, width, attention=attention),
        BasicBlock(width, 2 * width, stride=2, downsample=downsample, attention=attention),  # (B, 2w, 8, 8)
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2 * width, 10),
    )


cam_models = {}
for name, attention in {"CNN": None, "SE-CNN": SEModule, "CBAM-CNN": CBAM}.items():
    torch.manual_seed(0)
    cam_models[name] = small_cnn(attention)
    fit(cam_models[name], X_TRAIN, Y_TRAIN, steps=10 if SMOKE else 300)
    print(f"{name:>8}: test accuracy {accuracy(cam_models[name], X_TEST, Y_TEST):.3f}")

cam_maps = {}
for name, model in cam_models.items():
    with GradCAM(model.eval(), model[4]) as cam:
        cam_maps[name] = cam(X_TEST[:6].to(DEVICE), Y_TEST[:6]).cpu()  # (6, 16, 16) in [0, 1]
show_maps(X_TEST[:6], Y_TEST[:6], cam_maps, "Grad-CAM at the last block, for the true class")

# %% manual report attention
# ### Analysis 2: attention
#
# How many parameters and how much time do SE and CBAM add to ResNet-50, and which parts of each
# module account for it? Why do both act on the residual branch before the addition rather than after
# it? From the Grad-CAM maps: where do the networks look, do SE or CBAM change the maps, and how far can
# a Grad-CAM map at an 8x8 feature map be trusted?

# %% [markdown]
# ## Part 3: Vision Transformer
#
# ### Patch embedding
#
# A ViT reads an image as a sequence: non-overlapping P x P patches, each flattened and projected to
# D dimensions. A convolution with kernel and stride P computes exactly that projection.

# %% solution vit.imports vit.POS_ENCODINGS

# %% solution vit.PatchEmbedding

# %% tests part3.patch_embedding

# %% [markdown]
# ### Multi-head self-attention
#
# Every token attends to every token: softmax(Q K^T / sqrt(d)) V in H heads of size d = D / H, whose
# outputs are concatenated and projected. `return_attention=True` also returns the weights, for the
# attention maps below.

# %% solution vit.MultiHeadAttention

# %% tests part3.mha

# %% [markdown]
# ### Transformer encoder block
#
# Pre-norm: x + MSA(LN(x)), then x + MLP(LN(x)), with a GELU MLP of width `mlp_ratio` x D. The
# residual connections play the role they play in ResNet.

# %% solution vit.TransformerEncoderBlock

# %% tests part3.encoder_block

# %% [markdown]
# ### Position embeddings
#
# Attention does not know where a token comes from. The ViT learns a position table; the fixed
# sinusoidal table of the original Transformer is the alternative.

# %% solution vit.sinusoidal_position_table

# %% tests part3.positions

# %% [markdown]
# ### Vision Transformer: CLS token, positions, head
#
# Patch embedding, a learned CLS token in front of the patches, positions, `depth` encoder blocks, a
# final LayerNorm, and a linear head on the CLS token.

# %% solution vit.VisionTransformer

# %% tests part3.vit

# %% [markdown]
# ### Experiment: ViT hyperparameters
#
# Small ViTs (4 blocks, 4 heads) on the 16x16 digits with different patch sizes and widths, trained
# for the same number of steps: tokens, parameters, forward time and test accuracy.

# %%
# ViT hyperparameters: patch size and width.
def small_vit(patch_size: int = 4, embed_dim: int = 64) -> VisionTransformer:
    """A ViT of 4 blocks and 4 heads for the digits: (B, 1, 16, 16) -> (B, 10)."""
    return VisionTransformer(img_size=IMAGE_SIZE, patch_size=patch_size, in_channels=1, num_classes=10,
                             embed_dim=embed_dim, depth=4, num_heads=4, mlp_ratio=2.0)


vit_configs = [(4, 32), (8, 32)] if SMOKE else [(2, 64), (4, 64), (8, 64), (4, 32), (4, 128)]
vit_models, vit_rows = {}, []
for patch, width in vit_configs:
    torch.manual_seed(0)
    model = vit_models[patch, width] = small_vit(patch, width)
    fit(model, X_TRAIN, Y_TRAIN, steps=10 if SMOKE else 400)
    vit_rows.append((f"P={patch}, D={width}", model.patch_embed.num_patches + 1, count_parameters(model) / 1e3,
                     forward_ms(model, X_TEST[:64]), accuracy(model, X_TEST, Y_TEST)))
    print("{:>12}: {:3d} tokens, {:7.1f} k parameters, {:6.2f} ms per 64 images, test accuracy {:.3f}".format(
        *vit_rows[-1]))

configs, tokens, thousands, milliseconds, accuracies = zip(*vit_rows)
figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
left.bar(configs, accuracies)
left.set_ylabel("test accuracy")
left.set_ylim(0, 1)
right.scatter(milliseconds, accuracies)
for label, x, y in zip(configs, milliseconds, accuracies):
    right.annotate(label, (x, y), fontsize=8)
right.set_xlabel("forward time per 64 images (ms)")
right.set_ylabel("test accuracy")
figure.suptitle("ViT patch size and width")
figure.tight_layout()
plt.show()

# %% [markdown]
# ### Experiment: attention maps
#
# Where the CLS token looks, for the ViT with 4x4 patches: its attention to each patch in the last
# block (averaged over heads), and the attention rollout through all blocks (Abnar and Zuidema 2020:
# the product of the head-averaged attention matrices, each mixed half and half with the identity for
# the residual connection).

# %%
# ViT attention maps: last block and rollout, CLS token to patches.
def cls_attention(model: VisionTransformer, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """The CLS token's attention to each patch, (B, N), in the last block and rolled out through all blocks."""
    weights = [w.mean(dim=1) for w in model.attention_maps(images)]  # depth x (B, T, T), heads averaged
    eye = torch.eye(weights[0].shape[-1], device=weights[0].device)
    rollout = eye.expand_as(weights[0])
    for w in weights:
        rollout = (0.5 * w + 0.5 * eye) @ rollout  # the residual connection carries half of each token on
    return {"last block": weights[-1][:, 0, 1:], "rollout": rollout[:, 0, 1:]}  # CLS row, patch columns


patch, width = 4, 32 if SMOKE else 64
grid = IMAGE_SIZE // patch
vit_maps = {}
for name, to_patches in cls_attention(vit_models[patch, width].eval(), X_TEST[:6].to(DEVICE)).items():
    vit_maps[name] = F.interpolate(to_patches.reshape(-1, 1, grid, grid).cpu(), size=(IMAGE_SIZE, IMAGE_SIZE),
                                   mode="nearest")[:, 0]  # (B, N) -> (B, 16, 16)
show_maps(X_TEST[:6], Y_TEST[:6], vit_maps, f"CLS attention of the ViT with {patch}x{patch} patches, D={width}")

# %% manual report vit
# ### Analysis 3: ViT hyperparameters and attention maps
#
# How do the patch size and the width change the number of tokens, the parameters, the forward time
# and the accuracy, and why does halving the patch size cost more time than doubling the width? Which
# configuration would you keep for these images? What do the attention maps show: does the CLS token
# attend to the strokes of the digit, and how does the last block's map differ from the rollout?

# %% [markdown]
# ## Part 4: CNN vs ViT
#
# ### Profiling: FLOPs, memory, latency
#
# A fair comparison needs the cost of each model measured the same way: FLOPs of a forward pass on one
# image (a multiply-add counts 2), peak memory of a training step, forward latency after warm-up, and
# a training benchmark.

# %% solution profiler.imports

# %% solution profiler._attention_flops profiler._cpu_fused_attention_ops profiler._eval_mode profiler._synchronize profiler._tensor_bytes

# %% solution profiler.ModelProfiler

# %% tests part4.profiler

# %% [markdown]
# ### Training your models
#
# The grader trains a small CNN of your BasicBlocks and a small ViT of your parts on the digits: the
# loss must fall and the held-out accuracy must reach the rubric's threshold.

# %% tests part4.training

# %% [markdown]
# ### Experiment: CNN vs ViT across data regimes
#
# The slides compare a ResNet and a ViT trained on 1K, 10K and all 50K CIFAR-10 images. Only offline
# data is used here, so the same question is asked of the digits: the small CNN of Part 2 and the small
# ViT of Part 3 (4x4 patches, D=64), trained with your `ModelProfiler.benchmark_training` on 100, 400
# and all training images, for about the same number of steps each.

# %%
# CNN vs ViT across data regimes, trained with ModelProfiler.benchmark_training.
from torch.utils.data import DataLoader, TensorDataset

steps = 3 if SMOKE else 400
regimes = (32, 64, 128) if SMOKE else (100, 400, len(Y_TRAIN))
families = {"CNN": small_cnn, "ViT": lambda: small_vit(4, 32 if SMOKE else 64)}
regime_accuracy = {name: [] for name in families}
regime_models = {}
for size in regimes:
    data = TensorDataset(X_TRAIN[:size], Y_TRAIN[:size])
    epochs = max(1, math.ceil(steps * BATCH / size))
    for name, make in families.items():
        torch.manual_seed(0)
        model = regime_models[name, size] = make()
        loader = DataLoader(data, batch_size=BATCH, shuffle=True, generator=torch.Generator().manual_seed(0))
        history = ModelProfiler(model, DEVICE).benchmark_training(loader, epochs=epochs)["epochs"]
        regime_accuracy[name].append(accuracy(model, X_TEST, Y_TEST))
        print(f"{name} on {size:4d} images: {epochs:3d} epochs, final training loss {history[-1]['loss']:.3f}, "
              f"{sum(e['seconds'] for e in history):6.1f} s, test accuracy {regime_accuracy[name][-1]:.3f}")

plt.figure(figsize=(6, 3.5))
for name, accuracies in regime_accuracy.items():
    plt.plot(regimes, accuracies, marker="o", label=name)
plt.xscale("log")
plt.xlabel("training images")
plt.ylabel("test accuracy")
plt.ylim(0, 1)
plt.title("CNN vs ViT across data regimes (digits)")
plt.legend()
plt.tight_layout()
plt.show()

# %% manual report cnn_vs_vit
# ### Analysis 4: CNN vs ViT across data regimes
#
# How does the gap between the CNN and the ViT change from 100 images to the full training set? Which
# inductive biases of convolutions (locality, weight sharing, translation equivariance) explain it,
# and what does the ViT have to learn from data instead? Relate your curves to the slides' CIFAR-10
# regimes (1K, 10K, 50K) and to what the ViT paper reports for very large datasets.

# %% [markdown]
# ### Experiment: profiling
#
# The CNN and the ViT trained on all images, profiled with your `ModelProfiler` at batch sizes 1, 32
# and 128: FLOPs per image, peak training memory and forward latency.

# %%
# Profiling at batch 1, 32 and 128 with ModelProfiler.
batches = (1, 8) if SMOKE else (1, 32, 128)
profile = {}
for name in families:
    profiler = ModelProfiler(regime_models[name, regimes[-1]], DEVICE)
    flops = profiler.measure_flops((1, IMAGE_SIZE, IMAGE_SIZE))
    for batch in batches:
        latency = profiler.measure_latency(torch.randn(batch, 1, IMAGE_SIZE, IMAGE_SIZE), num_runs=3 if SMOKE else 50)
        memory = profiler.measure_memory(batch, (1, IMAGE_SIZE, IMAGE_SIZE))
        profile[name, batch] = {"flops": flops, "latency_ms": latency["median_ms"], "memory_mb": memory / 2**20}
        print(f"{name} batch {batch:3d}: {flops / 1e6:6.1f} MFLOPs per image, median latency "
              f"{latency['median_ms']:7.2f} ms ({batch / latency['median_ms'] * 1000:8.0f} images/s), "
              f"training-step memory {memory / 2**20:7.1f} MB")

figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
for name in families:
    left.plot(batches, [profile[name, b]["latency_ms"] for b in batches], marker="o", label=name)
    right.plot(batches, [profile[name, b]["memory_mb"] for b in batches], marker="o", label=name)
for axis, label in ((left, "median forward latency (ms)"), (right, "training-step memory (MB)")):
    axis.set_xscale("log")
    axis.set_xlabel("batch size")
    axis.set_ylabel(label)
    axis.legend()
figure.suptitle("Profiling the CNN and the ViT")
figure.tight_layout()
plt.show()

# %% [markdown]
# ### Architecture selection
#
# Everything measured for the two models, side by side.

# %%
# Architecture selection: accuracy against cost.
largest = batches[-1]
print(f"{'model':>5} {'params':>9} {'MFLOPs':>7} {'acc. 100':>9} {'acc. all':>9} {'ms @1':>7} "
      f"{'ms @' + str(largest):>8} {'MB @' + str(largest):>8}")
for name in families:
    model = regime_models[name, regimes[-1]]
    print(f"{name:>5} {count_parameters(model):9,d} {profile[name, 1]['flops'] / 1e6:7.1f} "
          f"{regime_accuracy[name][0]:9.3f} {regime_accuracy[name][-1]:9.3f} {profile[name, 1]['latency_ms']:7.2f} "
          f"{profile[name, largest]['latency_ms']:8.2f} {profile[name, largest]['memory_mb']:8.1f}")

plt.figure(figsize=(6, 3.5))
for name in families:
    plt.scatter(profile[name, 1]["latency_ms"], regime_accuracy[name][-1], s=80, label=name)
plt.xlabel("latency at batch 1 (ms)")
plt.ylabel("test accuracy (all images)")
plt.title("Accuracy against latency")
plt.legend()
plt.tight_layout()
plt.show()

# %% manual report profiling
# ### Analysis 5: profiling and architecture selection
#
# Do FLOPs predict latency for these two models, at batch 1 and at the largest batch? Why does
# throughput grow with the batch size, and what limits it? Which part of the training-step memory
# grows with the batch, and which does not? Then choose, and justify with your numbers, an
# architecture for (a) a phone app classifying one image at a time, (b) a server classifying large
# batches, and (c) a task with only a thousand labelled images.

# %% manual demo
# ## Demo
#
# In the live demo you run this notebook, show your trained models and walk through one experiment of
# your choice and its analysis. Note here what you will show and in what order.

# %% [markdown]
# ## Going further
#
# The experiments here are sized to run in minutes on a laptop CPU and use only offline data. A fuller
# experiment toolkit comes with the kit's experiments, for when you want to go further (the bonus
# rewards extensions beyond the requirements).
