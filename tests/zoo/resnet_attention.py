"""Bug zoo and correct variants for resnet.py and attention.py (Parts 1 and 2), as data.

Each mutation is one realistic student mistake, a small patch of the reference solution; each
variant is a correct implementation written differently (definitions in ``variants/``).
The checks' ids are graded by prefix, so an entry grades only the component it touches.
"""
from mutations import Mutation, Variant

BASIC = ("part1.basic_block.",)
BOTTLENECK = ("part1.bottleneck.",)
PREACT_BASIC = ("part1.preact_basic.",)
PREACT_BOTTLENECK = ("part1.preact_bottleneck.",)
NETWORK = ("part1.resnet.",)
SE = ("part2.se.",)
CBAM = ("part2.cbam.",)

NO_FINAL_RELU = "no ReLU after the addition"
RELU_AFTER_ADD = "a ReLU after the addition (pre-activation blocks end with the addition)"
STRIDE_ON_1X1 = "stride on the first 1x1 convolution (ResNet v1; this lab uses v1.5)"
ATTENTION_AFTER_ADD = "attention applied after the addition"

# Snippets of solutions/resnet.py that pin down one block's forward (several lines repeat across blocks).
BASIC_TAIL = """\
        out = self.bn2(self.conv2(out))
        if self.attention is not None:
            out = self.attention(out)
        out += identity
        return self.relu(out)
"""
BOTTLENECK_TAIL = """\
        out = self.bn3(self.conv3(out))
        if self.attention is not None:
            out = self.attention(out)
        out += identity
        return self.relu(out)
"""
PREACT_BASIC_TAIL = """\
        out = self.conv2(self.relu(self.bn2(out)))
        if self.attention is not None:
            out = self.attention(out)
        return out + shortcut
"""
PREACT_BOTTLENECK_TAIL = """\
        out = self.conv3(self.relu(self.bn3(out)))
        if self.attention is not None:
            out = self.attention(out)
        return out + shortcut
"""

RESNET_MUTATIONS = [
    Mutation("basic_no_final_relu", "resnet.py", BASIC_TAIL, BASIC_TAIL.replace("return self.relu(out)", "return out"),
             BASIC, ("part1.basic_block.numerics",), "BasicBlock", NO_FINAL_RELU),
    Mutation("bottleneck_no_final_relu", "resnet.py", BOTTLENECK_TAIL,
             BOTTLENECK_TAIL.replace("return self.relu(out)", "return out"),
             BOTTLENECK, ("part1.bottleneck.numerics",), "BottleneckBlock", NO_FINAL_RELU),
    Mutation("preact_basic_relu_after_add", "resnet.py", PREACT_BASIC_TAIL,
             PREACT_BASIC_TAIL.replace("return out + shortcut", "return self.relu(out + shortcut)"),
             PREACT_BASIC, ("part1.preact_basic.numerics",), "PreActBasicBlock", RELU_AFTER_ADD),
    Mutation("preact_bottleneck_relu_after_add", "resnet.py", PREACT_BOTTLENECK_TAIL,
             PREACT_BOTTLENECK_TAIL.replace("return out + shortcut", "return self.relu(out + shortcut)"),
             PREACT_BOTTLENECK, ("part1.preact_bottleneck.numerics",), "PreActBottleneckBlock", RELU_AFTER_ADD),
    Mutation("bottleneck_stride_on_first_1x1", "resnet.py",
             "self.conv1 = conv1x1(in_channels, out_channels)\n"
             "        self.bn1 = nn.BatchNorm2d(out_channels)\n"
             "        self.conv2 = conv3x3(out_channels, out_channels, stride)\n",
             "self.conv1 = conv1x1(in_channels, out_channels, stride)\n"
             "        self.bn1 = nn.BatchNorm2d(out_channels)\n"
             "        self.conv2 = conv3x3(out_channels, out_channels)\n",
             BOTTLENECK, ("part1.bottleneck.numerics",), "BottleneckBlock", STRIDE_ON_1X1),
    Mutation("preact_bottleneck_stride_on_first_1x1", "resnet.py",
             "self.conv1 = conv1x1(in_channels, out_channels)\n"
             "        self.bn2 = nn.BatchNorm2d(out_channels)\n"
             "        self.conv2 = conv3x3(out_channels, out_channels, stride)\n",
             "self.conv1 = conv1x1(in_channels, out_channels, stride)\n"
             "        self.bn2 = nn.BatchNorm2d(out_channels)\n"
             "        self.conv2 = conv3x3(out_channels, out_channels)\n",
             PREACT_BOTTLENECK, ("part1.preact_bottleneck.numerics",), "PreActBottleneckBlock", STRIDE_ON_1X1),
    Mutation("basic_shortcut_added_before_bn2", "resnet.py", BASIC_TAIL,
             "        out = self.bn2(self.conv2(out) + identity)\n"
             "        if self.attention is not None:\n"
             "            out = self.attention(out)\n"
             "        return self.relu(out)\n",
             BASIC, ("part1.basic_block.skip_path",), "BasicBlock"),
    Mutation("preact_basic_downsample_on_raw_input", "resnet.py",
             "shortcut = x if self.downsample is None else self.downsample(preact)\n"
             "        out = self.conv1(preact)\n"
             "        out = self.conv2(self.relu(self.bn2(out)))\n"
             "        if self.attention",
             "shortcut = x if self.downsample is None else self.downsample(x)\n"
             "        out = self.conv1(preact)\n"
             "        out = self.conv2(self.relu(self.bn2(out)))\n"
             "        if self.attention",
             PREACT_BASIC, ("part1.preact_basic.numerics",), "PreActBasicBlock"),
    Mutation("preact_bottleneck_downsample_on_raw_input", "resnet.py",
             "shortcut = x if self.downsample is None else self.downsample(preact)\n"
             "        out = self.conv1(preact)\n"
             "        out = self.conv2(self.relu(self.bn2(out)))\n"
             "        out = self.conv3",
             "shortcut = x if self.downsample is None else self.downsample(x)\n"
             "        out = self.conv1(preact)\n"
             "        out = self.conv2(self.relu(self.bn2(out)))\n"
             "        out = self.conv3",
             PREACT_BOTTLENECK, ("part1.preact_bottleneck.numerics",), "PreActBottleneckBlock"),
    Mutation("basic_attention_after_add", "resnet.py", BASIC_TAIL,
             "        out = self.bn2(self.conv2(out))\n"
             "        out = self.relu(out + identity)\n"
             "        if self.attention is not None:\n"
             "            out = self.attention(out)\n"
             "        return out\n",
             ("part1.basic_block.attention_placement",), ("part1.basic_block.attention_placement",), "BasicBlock",
             ATTENTION_AFTER_ADD),
    Mutation("preact_bottleneck_attention_after_add", "resnet.py", PREACT_BOTTLENECK_TAIL,
             "        out = self.conv3(self.relu(self.bn3(out)))\n"
             "        out = out + shortcut\n"
             "        if self.attention is not None:\n"
             "            out = self.attention(out)\n"
             "        return out\n",
             ("part1.preact_bottleneck.attention_placement",), ("part1.preact_bottleneck.attention_placement",),
             "PreActBottleneckBlock", ATTENTION_AFTER_ADD),
    Mutation("bottleneck_attention_ignored", "resnet.py", BOTTLENECK_TAIL,
             "        out = self.bn3(self.conv3(out))\n"
             "        out += identity\n"
             "        return self.relu(out)\n",
             ("part1.bottleneck.attention_placement",), ("part1.bottleneck.attention_placement",), "BottleneckBlock"),
    Mutation("basic_bn2_not_applied", "resnet.py", BASIC_TAIL,
             BASIC_TAIL.replace("self.bn2(self.conv2(out))", "self.conv2(out)"),
             BASIC, ("part1.basic_block.numerics", "part1.basic_block.gradients"), "BasicBlock"),
    Mutation("bottleneck_expansion_2", "resnet.py", "expansion = 4\n    preactivation = False\n",
             "expansion = 2\n    preactivation = False\n",
             BOTTLENECK, ("part1.bottleneck.shapes", "part1.bottleneck.parameters"), "BottleneckBlock"),
    Mutation("basic_branch_input_detached", "resnet.py",
             "out = self.relu(self.bn1(self.conv1(x)))\n        out = self.bn2(self.conv2(out))\n",
             "out = self.relu(self.bn1(self.conv1(x.detach())))\n        out = self.bn2(self.conv2(out))\n",
             ("part1.basic_block.gradients",), ("part1.basic_block.gradients",), "BasicBlock"),
    Mutation("basic_inplace_add_into_input", "resnet.py", BASIC_TAIL,
             BASIC_TAIL.replace("out += identity\n        return self.relu(out)",
                                "identity += out  # overwrites x itself when the shortcut is the identity\n"
                                "        return self.relu(identity)"),
             ("part1.basic_block.gradients", "part1.basic_block.skip_path"), ("part1.basic_block.",), "BasicBlock"),
    Mutation("resnet_cifar_stem_keeps_maxpool", "resnet.py",
             "self.conv1 = conv3x3(in_channels, 64)\n            self.maxpool = nn.Identity()",
             "self.conv1 = conv3x3(in_channels, 64)\n"
             "            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)",
             ("part1.resnet.numerics",), ("part1.resnet.numerics",), "resnet18"),
    Mutation("resnet_only_layer2_strided", "resnet.py",
             "self.layer3 = self._make_layer(block, 256, layers[2], stride=2)\n"
             "        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)",
             "self.layer3 = self._make_layer(block, 256, layers[2])\n"
             "        self.layer4 = self._make_layer(block, 512, layers[3])",
             ("part1.resnet.numerics",), ("part1.resnet.numerics",), "resnet18"),
    Mutation("resnet_wrong_stage_width", "resnet.py",
             "self.layer3 = self._make_layer(block, 256, layers[2], stride=2)",
             "self.layer3 = self._make_layer(block, 128, layers[2], stride=2)",
             ("part1.resnet.parameters",), ("part1.resnet.parameters",), "resnet18"),
    Mutation("resnet_fc_on_wrong_width", "resnet.py",
             "self.fc = nn.Linear(final_channels, num_classes)",
             "self.fc = nn.Linear(512, num_classes)",
             ("part1.resnet.parameters", "part1.resnet.shapes"), ("part1.resnet.parameters",), "resnet50"),
    Mutation("resnet_make_layer_strides_every_block", "resnet.py",
             "blocks += [block(out_planes, planes, attention=self.attention) for _ in range(1, num_blocks)]",
             "blocks += [block(out_planes, planes, stride, attention=self.attention) for _ in range(1, num_blocks)]",
             ("part1.resnet.shapes",), ("part1.resnet.shapes",), "ResNet"),
    Mutation("resnet_preact_without_final_norm", "resnet.py",
             "self.norm = nn.Sequential(nn.BatchNorm2d(final_channels), nn.ReLU(inplace=True))",
             "self.norm = nn.Identity()",
             ("part1.resnet.numerics",), ("part1.resnet.numerics",), "preact=True"),
    Mutation("resnet_downsample_without_bn", "resnet.py",
             "downsample = nn.Sequential(conv1x1(self.in_planes, out_planes, stride), nn.BatchNorm2d(out_planes))",
             "downsample = conv1x1(self.in_planes, out_planes, stride)",
             ("part1.resnet.parameters",), ("part1.resnet.parameters",), "resnet18"),
]

SE_SQUEEZE = "squeezed = x.mean(dim=(2, 3))  # (B, C, H, W) -> (B, C)"
SE_GATE = "gate = torch.sigmoid(self.fc2(self.relu(self.fc1(squeezed))))"
SE_HIDDEN = "hidden = reduced_channels(channels, reduction)\n        # TODO: define fc1 (channels -> hidden), fc2"
CHANNEL_GATE = "return x * torch.sigmoid(avg + mx)[:, :, None, None]"
SPATIAL_POOL = "torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)"

ATTENTION_MUTATIONS = [
    Mutation("se_max_pool_squeeze", "attention.py", SE_SQUEEZE, SE_SQUEEZE.replace("x.mean", "x.amax"),
             SE, ("part2.se.numerics",), "SEModule", "max pooling instead of average pooling in the squeeze"),
    Mutation("se_without_relu", "attention.py", SE_GATE, "gate = torch.sigmoid(self.fc2(self.fc1(squeezed)))",
             SE, ("part2.se.numerics",), "SEModule", "no ReLU between the two layers of the excitation"),
    Mutation("se_gate_without_sigmoid", "attention.py", SE_GATE, "gate = self.fc2(self.relu(self.fc1(squeezed)))",
             SE, ("part2.se.numerics", "part2.se.gate"), "SEModule"),
    Mutation("se_returns_gate", "attention.py", "return x * gate[:, :, None, None]",
             "return gate[:, :, None, None].expand_as(x)",
             SE, ("part2.se.numerics",), "SEModule", "the gate returned instead of the rescaled input"),
    Mutation("se_returns_the_gate_too", "attention.py", "return x * gate[:, :, None, None]",
             "return x * gate[:, :, None, None], gate", SE, ("part2.se.shapes", "part2.se.numerics"),
             "forward should return a tensor; yours returns 2 values (a tensor, a tensor)"),
    Mutation("se_hidden_channels_times_reduction", "attention.py", SE_HIDDEN,
             SE_HIDDEN.replace("reduced_channels(channels, reduction)", "channels * reduction"),
             ("part2.se.parameters",), ("part2.se.parameters",), "SEModule"),
    Mutation("se_hidden_rounded_up", "attention.py", SE_HIDDEN,
             SE_HIDDEN.replace("reduced_channels(channels, reduction)", "-(-channels // reduction)"),
             ("part2.se.parameters",), ("part2.se.parameters",), "SEModule"),
    Mutation("cbam_spatial_first", "attention.py", "return self.spatial_attention(self.channel_attention(x))",
             "return self.channel_attention(self.spatial_attention(x))",
             ("part2.cbam.numerics",), ("part2.cbam.numerics",), "CBAM",
             "spatial attention applied before channel attention"),
    Mutation("cbam_channel_average_only", "attention.py", CHANNEL_GATE,
             "return x * torch.sigmoid(avg)[:, :, None, None]",
             ("part2.cbam.numerics",), ("part2.cbam.numerics",), "CBAM", "channel attention from average pooling only"),
    Mutation("cbam_spatial_max_then_avg", "attention.py", SPATIAL_POOL,
             "torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)",
             ("part2.cbam.numerics",), ("part2.cbam.numerics",), "CBAM"),
    Mutation("cbam_spatial_conv_without_padding", "attention.py",
             "self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=True)",
             "self.conv = nn.Conv2d(2, 1, kernel_size, bias=True)",
             ("part2.cbam.shapes", "part2.cbam.numerics"), ("part2.cbam.",), "CBAM"),
    # Known gaps: Part 2 has no gradient check, so a gate cut off from autograd keeps full marks.
    Mutation("se_gate_detached", "attention.py", "return x * gate[:, :, None, None]",
             "return x * gate.detach()[:, :, None, None]", SE + ("part2.se_resnet.",), ("part2.se.gradients",),
             "SEModule"),
    Mutation("cbam_spatial_gate_data", "attention.py", "return x * torch.sigmoid(self.conv(pooled))",
             "return x * torch.sigmoid(self.conv(pooled)).data", CBAM + ("part2.cbam_resnet.",),
             ("part2.cbam.gradients",), "CBAM"),
]

ROBUSTNESS_MUTATIONS = [
    Mutation("resnet_unknown_stem_taken_as_cifar", "resnet.py",
             '        if stem not in STEMS:\n'
             '            raise ValueError(f"stem must be one of {STEMS}, got {stem!r}")\n',
             "", ("part1.errors",), ("part1.errors",), "ResNet"),
    Mutation("se_reduction_unchecked", "attention.py",
             '    if reduction < 1:\n        raise ValueError(f"reduction must be positive, got {reduction}")\n',
             "", ("part2.errors",), ("part2.errors",), "SEModule(16, 0)"),
]

MUTATIONS = RESNET_MUTATIONS + ATTENTION_MUTATIONS + ROBUSTNESS_MUTATIONS

PART1 = ("part1.",)
SE_RESNET = ("part2.se_resnet.",)
CBAM_RESNET = ("part2.cbam_resnet.",)

# The shortcut moved after the residual branch in each block's forward.
SHORTCUT_AFTER_BRANCH = (
    ("identity = x if self.downsample is None else self.downsample(x)\n"
     "        out = self.relu(self.bn1(self.conv1(x)))\n"
     "        out = self.bn2(self.conv2(out))\n",
     "out = self.relu(self.bn1(self.conv1(x)))\n"
     "        out = self.bn2(self.conv2(out))\n"
     "        identity = x if self.downsample is None else self.downsample(x)\n"),
    ("identity = x if self.downsample is None else self.downsample(x)\n"
     "        out = self.relu(self.bn1(self.conv1(x)))\n"
     "        out = self.relu(self.bn2(self.conv2(out)))\n"
     "        out = self.bn3(self.conv3(out))\n",
     "out = self.relu(self.bn1(self.conv1(x)))\n"
     "        out = self.relu(self.bn2(self.conv2(out)))\n"
     "        out = self.bn3(self.conv3(out))\n"
     "        identity = x if self.downsample is None else self.downsample(x)\n"),
    ("shortcut = x if self.downsample is None else self.downsample(preact)\n"
     "        out = self.conv1(preact)\n"
     "        out = self.conv2(self.relu(self.bn2(out)))\n"
     "        if",
     "out = self.conv1(preact)\n"
     "        out = self.conv2(self.relu(self.bn2(out)))\n"
     "        shortcut = x if self.downsample is None else self.downsample(preact)\n"
     "        if"),
    ("shortcut = x if self.downsample is None else self.downsample(preact)\n"
     "        out = self.conv1(preact)\n"
     "        out = self.conv2(self.relu(self.bn2(out)))\n"
     "        out = self.conv3(self.relu(self.bn3(out)))\n",
     "out = self.conv1(preact)\n"
     "        out = self.conv2(self.relu(self.bn2(out)))\n"
     "        out = self.conv3(self.relu(self.bn3(out)))\n"
     "        shortcut = x if self.downsample is None else self.downsample(preact)\n"),
)

VARIANTS = [
    Variant("basic_block_other_names", "resnet.py", BASIC, "basic_block_other_names.py"),
    Variant("basic_block_branch_sequential", "resnet.py", BASIC + ("part1.resnet.numerics",) + SE_RESNET + CBAM_RESNET,
            "basic_block_branch_sequential.py"),
    Variant("bottleneck_registration_order", "resnet.py", BOTTLENECK, "bottleneck_registration_order.py"),
    Variant("shortcut_after_branch", "resnet.py", PART1, patches=SHORTCUT_AFTER_BRANCH),
    Variant("bottleneck_shortcut_renamed", "resnet.py", BOTTLENECK + ("part1.resnet.numerics",),
            "bottleneck_shortcut_renamed.py"),
    Variant("preact_functional_relu", "resnet.py", PREACT_BASIC + PREACT_BOTTLENECK, "preact_functional.py"),
    Variant("resnet_stem_sequential", "resnet.py", NETWORK, "resnet_stem_sequential.py"),
    Variant("se_conv1x1", "attention.py", SE + SE_RESNET, "se_conv1x1.py"),
    Variant("se_pool_module", "attention.py", SE, "se_pool_module.py"),
    Variant("cbam_single_class", "attention.py", CBAM + CBAM_RESNET, "cbam_single_class.py"),
    Variant("cbam_conv_mlp_batched", "attention.py", CBAM, "cbam_conv_mlp_batched.py"),
    Variant("cbam_stack_descriptor", "attention.py", CBAM,
            patches=((SPATIAL_POOL, "torch.stack([x.mean(dim=1), x.amax(dim=1)], dim=1)"),)),
    # In-place F.relu(..., inplace=True) on the BN outputs, torch.relu_ on the sum, the shortcut after the branch.
    Variant("bottleneck_inplace_relu", "resnet.py", BOTTLENECK, "bottleneck_inplace_relu.py"),
    # The attention module registered first, then an nn.Identity shortcut, then the convolutions.
    Variant("basic_block_attention_registered_first", "resnet.py", BASIC + SE_RESNET + CBAM_RESNET,
            "basic_block_attention_first.py"),
    # The shortcut projection registered before the branch layers and run after them.
    Variant("preact_basic_shortcut_registered_first", "resnet.py", PREACT_BASIC, "preact_basic_shortcut_first.py"),
    # `preact` (BN-ReLU) and `branch` (nn.Sequential) submodules, the shortcut computed after the branch;
    # graded inside the pre-activation ResNet-50 too.
    Variant("preact_bottleneck_preact_and_branch", "resnet.py", PREACT_BOTTLENECK + ("part1.resnet.numerics",),
            "preact_bottleneck_preact_branch.py"),
    # Stages built in a loop into an nn.ModuleList, forward flattening with x.view(x.size(0), -1).
    Variant("resnet_stages_modulelist_view", "resnet.py", NETWORK + SE_RESNET, "resnet_stages_modulelist.py"),
    # F.adaptive_avg_pool2d and .view instead of a mean and indexing.
    Variant("se_functional_pool_view", "attention.py", SE + SE_RESNET, "se_functional_pool_view.py"),
    # torch.max(x, dim=1, keepdim=True)[0] (and torch.mean) for the spatial descriptor.
    Variant("cbam_torch_max_indexing", "attention.py", CBAM + CBAM_RESNET,
            patches=((SPATIAL_POOL, "torch.cat([torch.mean(x, dim=1, keepdim=True), "
                                    "torch.max(x, dim=1, keepdim=True)[0]], dim=1)"),)),
    # Channel descriptors from F.adaptive_avg_pool2d / F.adaptive_max_pool2d, flattened.
    Variant("cbam_adaptive_pools", "attention.py", CBAM,
            patches=(("from torch import nn\n", "import torch.nn.functional as F\nfrom torch import nn\n"),
                     ("avg = self.fc2(self.relu(self.fc1(x.mean(dim=(2, 3)))))  # (B, C)\n"
                      "        mx = self.fc2(self.relu(self.fc1(x.amax(dim=(2, 3)))))  # (B, C)\n",
                      "avg = self.fc2(self.relu(self.fc1(F.adaptive_avg_pool2d(x, 1).flatten(1))))\n"
                      "        mx = self.fc2(self.relu(self.fc1(F.adaptive_max_pool2d(x, 1).flatten(1))))\n"))),
]
