# Template of the Lab 3 notebook. autograder/tools/lab_notebook.py builds notebooks/source/lab3/lab3.ipynb
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
# cells' checks and the experiments); choose a GPU runtime there (Runtime, Change runtime type).
#
# The experiments are the kit's (`python -m experiments NAME` runs the same ones outside the notebook),
# built from the classes and functions you write here. They come in two sizes:
#
# - **full** (the default on a GPU): CIFAR-10, downloaded into `data/` on first use, 30 epochs per
#   model on 50,000 images: the size your analysis is about, too long for a laptop CPU, so run it on a
#   GPU. An interrupted experiment picks up where it stopped when its cell runs again.
# - **smoke** (the default without a GPU, and when the notebook is graded): scikit-learn's digits at
#   16x16 and a few dozen training steps per model, minutes on a laptop CPU. Its plots show that your
#   code runs, not the effects to analyse.
#
# The environment variable `LAB3_SMOKE` (`1` or `0`) overrides the default; `DATASET` in the second cell
# picks the full-size dataset.

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
    import re
    import urllib.request
    import zipfile
    from pathlib import Path

    zipfile.ZipFile(io.BytesIO(urllib.request.urlopen(KIT_URL).read())).extractall("lab3-kit")
    kit = next(Path("lab3-kit").resolve().glob("**/autograder/selfcheck.py")).parents[1]
    sys.path.insert(0, str(kit))  # the test cells import the kit's checks from there
    # The kit's requirements, but for what Colab has: its torch and torchvision are built for its GPU.
    colab_has = ("torch", "torchvision", "jupyterlab", "ipywidgets")
    wanted = [line.strip() for line in (kit / "requirements.txt").read_text().splitlines()
              if line.strip() and re.split(r"[=<>~!\[ ]", line.strip())[0] not in colab_has]
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *wanted], check=True)
elif ON_COLAB:
    print("KIT_URL is empty: paste the link to the lab kit from your instructor between its quotes at the top "
          "of this cell and run it again (the test cells need the kit).")

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
SMOKE = os.environ.get("LAB3_SMOKE", "0" if DEVICE.type == "cuda" else "1") == "1"
print(f"device: {DEVICE}; experiments at {'smoke-test' if SMOKE else 'full'} size")

# %%
# The experiments: each cell below calls experiment(NAME), which runs the kit's experiment NAME with the
# classes and functions defined in this notebook, then shows its figures and tables. They are also
# saved in lab3-results/ for your report.
from experiments.in_notebook import run_experiment

DATASET = "cifar10"  # at full size: "cifar10" or "cifar100" (downloaded), or "digits" (offline, small)


def experiment(name: str, rerun: bool = False) -> dict:
    """Run experiment ``name`` on this notebook's definitions; returns its summary (the numbers it drew).

    Finished training runs are kept in lab3-results/ and reused when the cell runs again; after you
    change your code, pass ``rerun=True`` to train afresh.
    """
    return run_experiment(name, globals(), DEVICE, SMOKE, None if SMOKE else DATASET, rerun=rerun)

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

# %% tests part1.resnet part1.errors

# %% [markdown]
# ### Experiment: depth scaling
#
# ResNet-18, 34, 50 and 101 (CIFAR stem: a 3x3 convolution, no max-pool) trained with the same loop on
# the same data: training time, peak memory, test accuracy against depth, and how many epochs (and
# seconds) each needs to reach a target accuracy. At smoke size only ResNet-18 trains long enough for
# its accuracy to mean something; the deeper ones are timed.

# %%
depth_results = experiment("depth")

# %% [markdown]
# ### Experiment: gradient flow
#
# The norm of the loss gradient reaching every convolution, from the input side to the output side, at
# initialisation and during training, for four deep networks built from your blocks: plain (a block
# whose shortcut is replaced by zero) and residual, each with post-activation (`BasicBlock`) and
# pre-activation (`PreActBasicBlock`) blocks.

# %%
gradient_flow_results = experiment("gradient-flow")

# %% manual report depth_scaling
# ### Analysis 1: depth scaling and gradient flow
#
# From the two experiments above: how do parameters, training time, memory and accuracy change from
# ResNet-18 to ResNet-101, and why does ResNet-50 have only slightly more parameters than ResNet-34
# while being much deeper (what does the bottleneck change)? Does more depth reach the target accuracy
# in fewer epochs, and in less time? How do the gradient norms differ between the plain and the
# residual networks, from the input side to the output side, at initialisation and after training,
# and which term of the block's gradient explains it? What does pre-activation change? What would you
# expect for the plain network at 1,000 layers?

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

# %% tests part2.cbam part2.errors

# %% [markdown]
# ### Integrating attention in ResNet blocks
#
# Every block takes `attention`, a callable from a channel count to a module: `resnet18(attention=SEModule)`
# is SE-ResNet-18, `resnet50(attention=CBAM)` is CBAM-ResNet-50. The module acts on the residual branch
# before the addition, so the shortcut stays untouched. Your blocks from Part 1 already do this.

# %% tests part2.se_resnet part2.cbam_resnet

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
# ### Experiment: what attention costs, what it does, where the networks look
#
# ResNet-18 three times (CIFAR stem), without attention, with SE and with CBAM on every block's residual
# branch, trained with the same loop. The experiment reports:
#
# - what the modules cost: accuracy, parameters, and, once your `ModelProfiler` of Part 4 is written,
#   FLOPs, latency and training-step memory (run this cell again then, with `rerun=True`);
# - what SE does: its channel gates on test images, block by block, and how much they differ between
#   classes;
# - where CBAM's spatial attention looks, and Grad-CAM of each network for the true class, on one test
#   image of each of 8 classes.

# %%
attention_results = experiment("attention")

# %% manual report attention
# ### Analysis 2: attention
#
# How many parameters, FLOPs and how much time do SE and CBAM add to ResNet-18, which parts of each
# module account for it, and what do they buy in accuracy? Why do both act on the residual branch
# before the addition rather than after it? What do the SE gates show from the first block to the
# last: where do they differ between classes, and where are they nearly the same for every image?
# From the CBAM and Grad-CAM maps: where do the networks look, do SE or CBAM change the maps, and how far
# can a Grad-CAM map at a 4x4 feature map be trusted?

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

# %% tests part3.vit part3.errors

# %% [markdown]
# ### Experiment: ViT hyperparameters and attention maps
#
# ViTs trained with the same loop, varying one hyperparameter at a time around a base configuration:
# the patch size, the embedding dimension and the number of heads. For the base configuration, where
# the CLS token looks on one test image of each of 8 classes: its attention to the patches in the last
# block (averaged over heads), and the attention rollout through all blocks (Abnar and Zuidema 2020: the
# product of the head-averaged attention matrices, each mixed half and half with the identity for the
# residual connection). The FLOPs column needs your `ModelProfiler` of Part 4.

# %%
vit_results = experiment("vit")

# %% manual report vit
# ### Analysis 3: ViT hyperparameters and attention maps
#
# How do the patch size, the width and the number of heads change the number of tokens, the
# parameters, the FLOPs, the training time and the accuracy, and why does halving the patch size cost
# more than doubling the width? Which configuration would you keep for these images? What do the
# attention maps show: does the CLS token attend to the object, and how does the last block's map
# differ from the rollout?

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
# The grader trains a small CNN of your BasicBlocks and a small ViT of your parts on the digits until a
# validation split reaches the rubric's target (or a step limit): the loss must fall and a separate
# held-out split must reach the rubric's threshold. Everything is counted in steps, so the result does
# not depend on how fast or busy your machine is.

# %% tests part4.training

# %% [markdown]
# ### Experiment: CNN vs ViT across data regimes
#
# The slides compare a ResNet and a ViT trained on 1K, 10K and all 50K CIFAR-10 images. Here ResNet-18
# and a small ViT (4x4 patches) are trained with the same loop on each regime: learning curves, final
# top-1 and top-5 accuracy, and the training time until a target accuracy. (At smoke size the digits
# have 1,437 training images, so "10k" and "full" are the same set.)

# %%
regimes_results = experiment("regimes")

# %% manual report cnn_vs_vit
# ### Analysis 4: CNN vs ViT across data regimes
#
# How does the gap between the CNN and the ViT change from 1K images to the full training set? Which
# inductive biases of convolutions (locality, weight sharing, translation equivariance) explain it,
# and what does the ViT have to learn from data instead? Relate your curves to the slides' CIFAR-10
# regimes and to what the ViT paper reports for very large datasets.

# %% [markdown]
# ### Experiment: profiling
#
# The same CNN and ViT (and ResNet-50 at full size), profiled at batch sizes 1, 32 and 128 (1, 8 and 32
# at smoke size) with your `ModelProfiler`: latency, throughput and peak memory, FLOPs per image counted
# three ways (the analytic count, your profiler, torch's `FlopCounterMode`), and on a GPU the energy per
# image read through NVML.

# %%
profiling_results = experiment("profiling")

# %% [markdown]
# ### Architecture selection
#
# A decision tree built from the two tables above: the data size picks the accuracies that apply, the
# compute budget (ample, or tight: within 1.5x the cheapest model's batch-1 latency and memory) keeps
# the models that fit, and the task's need (accuracy, or throughput within 2 points of the best
# accuracy) picks one. Every leaf says why.

# %%
selection_results = experiment("selection")

# %% manual report profiling
# ### Analysis 5: profiling and architecture selection
#
# Do FLOPs predict latency for these two models, at batch 1 and at the largest batch? Why does
# throughput grow with the batch size, and what limits it? Which part of the training-step memory
# grows with the batch, and which does not? How close do the three FLOP counts come, and why might they
# differ? Then choose, and justify with your numbers, an architecture for (a) a phone app classifying
# one image at a time, (b) a server classifying large batches, and (c) a task with only a thousand
# labelled images. Where does the decision tree agree with you, and where would you overrule it?

# %% manual demo
# ## Demo
#
# In the live demo you run this notebook, show your trained models and walk through one experiment of
# your choice and its analysis. Note here what you will show and in what order.

# %% [markdown]
# ## Going further
#
# Every experiment also runs outside the notebook, on your files or this notebook, at either size:
# `python -m experiments --help` lists them and their options (other datasets, a seed, Weights & Biases
# logging). The bonus rewards extensions beyond the requirements.
