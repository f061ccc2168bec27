"""A made-up class for the similarity report's tests: ten students who wrote their own code.

Each student fills the same nine regions of the skeletons (``REGIONS``: reduced_channels and SEModule,
BasicBlock, MultiHeadAttention, the sinusoidal table), each in their own way, and leaves the other
regions as given. Every implementation here passes the grader's visible checks of its component
(``python -m autograder check --only part1.basic_block --only part2.se --only part3.mha --only
part3.positions`` on each student's folder). ``copied`` makes a plagiarised copy: names renamed and
comments rewritten, the code kept.
"""
from __future__ import annotations

import ast
import json
import re
import textwrap
from pathlib import Path

from autograder import paths

LAB_FILES = ("resnet.py", "attention.py", "vit.py", "gradcam.py", "profiler.py")
REGIONS = ("attention:reduced_channels", "attention:SEModule.__init__", "attention:SEModule.forward",
           "resnet:BasicBlock.__init__", "resnet:BasicBlock.forward", "vit:MultiHeadAttention.__init__",
           "vit:MultiHeadAttention.__init__#2", "vit:MultiHeadAttention.forward", "vit:sinusoidal_position_table")
"""``file:function`` (``#2``: the function's second region) of the regions every student fills."""

STUDENTS: dict[str, dict[str, str]] = {}

STUDENTS["ana"] = {
    "attention:reduced_channels": """
        if channels <= 0:
            raise ValueError(f"channels must be positive, got {channels}")
        if reduction <= 0:
            raise ValueError(f"reduction must be positive, got {reduction}")
    """,
    "attention:SEModule.__init__": """
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)
        self.act = nn.ReLU()
    """,
    "attention:SEModule.forward": """
        b, c = x.shape[:2]
        s = x.mean(dim=(2, 3))
        s = torch.sigmoid(self.fc2(self.act(self.fc1(s))))
        return x * s.view(b, c, 1, 1)
    """,
    "resnet:BasicBlock.__init__": """
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
    """,
    "resnet:BasicBlock.forward": """
        shortcut = x
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        if self.attention is not None:
            y = self.attention(y)
        if self.downsample is not None:
            shortcut = self.downsample(x)
        return self.relu(y + shortcut)
    """,
    "vit:MultiHeadAttention.__init__": """
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim={embed_dim} must be divisible by num_heads={num_heads}")
    """,
    "vit:MultiHeadAttention.__init__#2": """
        self.scale = 1.0 / math.sqrt(self.head_dim)
        self.qkv = nn.Linear(embed_dim, embed_dim * 3)
        self.attn_drop = nn.Dropout(dropout)
        self.proj = nn.Linear(embed_dim, embed_dim)
    """,
    "vit:MultiHeadAttention.forward": """
        B, T, D = x.shape
        q, k, v = self.qkv(x).split(D, dim=-1)
        q = q.view(B, T, self.num_heads, self.head_dim).transpose(1, 2)
        k = k.view(B, T, self.num_heads, self.head_dim).transpose(1, 2)
        v = v.view(B, T, self.num_heads, self.head_dim).transpose(1, 2)
        attn = torch.softmax(q @ k.transpose(-1, -2) * self.scale, dim=-1)
        out = self.attn_drop(attn) @ v
        out = out.transpose(1, 2).reshape(B, T, D)
        out = self.proj(out)
        if return_attention:
            return out, attn
        return out
    """,
    "vit:sinusoidal_position_table": """
        if dim % 2 == 1:
            raise ValueError(f"dim must be even, got {dim}")
        pe = torch.zeros(num_positions, dim)
        pos = torch.arange(num_positions).unsqueeze(1).float()
        div = torch.pow(10000.0, torch.arange(0, dim, 2).float() / dim)
        pe[:, 0::2] = torch.sin(pos / div)
        pe[:, 1::2] = torch.cos(pos / div)
        return pe
    """,
}

STUDENTS["bruno"] = {
    "attention:reduced_channels": """
        for name, value in (("channels", channels), ("reduction", reduction)):
            if value <= 0:
                raise ValueError(f"{name} has to be a positive number, not {value}")
    """,
    "attention:SEModule.__init__": """
        self.fc1 = nn.Linear(channels, hidden, bias=True)
        self.fc2 = nn.Linear(hidden, channels, bias=True)
    """,
    "attention:SEModule.forward": """
        z = torch.relu(self.fc1(x.mean((-2, -1))))
        g = self.fc2(z).sigmoid()
        return x * g.unsqueeze(-1).unsqueeze(-1)
    """,
    "resnet:BasicBlock.__init__": """
        self.conv1, self.bn1 = conv3x3(in_channels, out_channels, stride), nn.BatchNorm2d(out_channels)
        self.conv2, self.bn2 = conv3x3(out_channels, out_channels, 1), nn.BatchNorm2d(out_channels)
    """,
    "resnet:BasicBlock.forward": """
        branch = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        branch = branch if self.attention is None else self.attention(branch)
        skip = x if self.downsample is None else self.downsample(x)
        return torch.relu(branch + skip)
    """,
    "vit:MultiHeadAttention.__init__": """
        if embed_dim % num_heads != 0:
            raise ValueError("num_heads (%d) does not divide embed_dim (%d)" % (num_heads, embed_dim))
    """,
    "vit:MultiHeadAttention.__init__#2": """
        self.scale = self.head_dim ** (-0.5)
        self.qkv = nn.Linear(embed_dim, 3 * embed_dim, bias=True)
        self.proj = nn.Linear(embed_dim, embed_dim, bias=True)
        self.attn_drop = nn.Dropout(p=dropout)
    """,
    "vit:MultiHeadAttention.forward": """
        n_batch, n_tok, _ = x.shape
        h, d = self.num_heads, self.head_dim
        qkv = self.qkv(x).view(n_batch, n_tok, 3, h, d)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]  # (B, T, H, d)
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) * self.scale
        weights = scores.softmax(-1)
        mixed = torch.einsum("bhqk,bkhd->bqhd", self.attn_drop(weights), v)
        y = self.proj(mixed.reshape(n_batch, n_tok, h * d))
        return (y, weights) if return_attention else y
    """,
    "vit:sinusoidal_position_table": """
        if dim % 2:
            raise ValueError(f"dim has to be even for sin/cos pairs, got dim={dim}")
        table = torch.empty(num_positions, dim)
        for i in range(dim // 2):
            freq = 1.0 / (10000 ** (2 * i / dim))
            angle = torch.arange(num_positions, dtype=torch.float64) * freq
            table[:, 2 * i] = torch.sin(angle)
            table[:, 2 * i + 1] = torch.cos(angle)
        return table
    """,
}

STUDENTS["carla"] = {
    "attention:reduced_channels": """
        bad = [n for n, v in {"channels": channels, "reduction": reduction}.items() if v <= 0]
        if bad:
            raise ValueError("must be positive: " + ", ".join(bad))
    """,
    "attention:SEModule.__init__": """
        self.fc1 = nn.Linear(in_features=channels, out_features=hidden)
        self.fc2 = nn.Linear(in_features=hidden, out_features=channels)
    """,
    "attention:SEModule.forward": """
        pooled = torch.mean(x, dim=[2, 3])
        hidden = torch.clamp(self.fc1(pooled), min=0)
        scale = torch.sigmoid(self.fc2(hidden))
        return x * scale[..., None, None]
    """,
    "resnet:BasicBlock.__init__": """
        self.conv_a = conv3x3(in_channels, out_channels, stride=stride)
        self.norm_a = nn.BatchNorm2d(out_channels)
        self.conv_b = conv3x3(out_channels, out_channels)
        self.norm_b = nn.BatchNorm2d(out_channels)
        self.activation = nn.ReLU(inplace=False)
    """,
    "resnet:BasicBlock.forward": """
        identity = self.downsample(x) if self.downsample is not None else x
        h = self.activation(self.norm_a(self.conv_a(x)))
        h = self.norm_b(self.conv_b(h))
        if self.attention is not None:
            h = self.attention(h)
        h = h + identity
        return self.activation(h)
    """,
    "vit:MultiHeadAttention.__init__": """
        if embed_dim % num_heads != 0:
            raise ValueError(
                "embed_dim must be a multiple of num_heads "
                f"(embed_dim={embed_dim}, num_heads={num_heads})"
            )
    """,
    "vit:MultiHeadAttention.__init__#2": """
        self.scale = float(self.head_dim) ** -0.5
        self.qkv = nn.Linear(self.embed_dim, 3 * self.embed_dim)
        self.attn_drop = nn.Dropout(self.dropout)
        self.proj = nn.Linear(self.embed_dim, self.embed_dim)
    """,
    "vit:MultiHeadAttention.forward": """
        q, k, v = self.qkv(x).chunk(3, dim=-1)

        def heads(t):
            return t.unflatten(-1, (self.num_heads, self.head_dim)).permute(0, 2, 1, 3)

        q, k, v = heads(q), heads(k), heads(v)
        logits = torch.matmul(q, k.permute(0, 1, 3, 2)) * self.scale
        probs = F.softmax(logits, dim=-1)
        context = torch.matmul(self.attn_drop(probs), v)
        context = context.permute(0, 2, 1, 3).flatten(2)
        result = self.proj(context)
        if return_attention:
            return result, probs
        return result
    """,
    "vit:sinusoidal_position_table": """
        if dim % 2 != 0:
            raise ValueError(f"dim={dim} is odd; the table needs an even dim")
        position = torch.arange(0, num_positions, dtype=torch.float32)[:, None]
        rates = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
        table = torch.zeros((num_positions, dim), dtype=torch.float32)
        table[:, 0::2] = torch.sin(position * rates)
        table[:, 1::2] = torch.cos(position * rates)
        return table
    """,
}

STUDENTS["diego"] = {
    "attention:reduced_channels": """
        if not channels > 0:
            raise ValueError("channels should be > 0 but is " + str(channels))
        if not reduction > 0:
            raise ValueError("reduction should be > 0 but is " + str(reduction))
    """,
    "attention:SEModule.__init__": """
        self.squeeze_fc = nn.Linear(channels, hidden)
        self.excite_fc = nn.Linear(hidden, channels)
        self.relu = nn.ReLU(inplace=True)
        self.gate = nn.Sigmoid()
    """,
    "attention:SEModule.forward": """
        batch_size, num_channels, height, width = x.size()
        descriptor = x.reshape(batch_size, num_channels, height * width).mean(dim=2)
        weights = self.gate(self.excite_fc(self.relu(self.squeeze_fc(descriptor))))
        weights = weights.view(batch_size, num_channels, 1, 1)
        return x * weights.expand_as(x)
    """,
    "resnet:BasicBlock.__init__": """
        self.branch = nn.Sequential(
            conv3x3(in_channels, out_channels, stride),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            conv3x3(out_channels, out_channels),
            nn.BatchNorm2d(out_channels),
        )
        self.final_relu = nn.ReLU(inplace=True)
    """,
    "resnet:BasicBlock.forward": """
        out = self.branch(x)
        if self.attention is not None:
            out = self.attention(out)
        if self.downsample is None:
            out = out + x
        else:
            out = out + self.downsample(x)
        return self.final_relu(out)
    """,
    "vit:MultiHeadAttention.__init__": """
        remainder = embed_dim % num_heads
        if remainder != 0:
            raise ValueError(f"cannot split embed_dim {embed_dim} into num_heads {num_heads} equal heads")
    """,
    "vit:MultiHeadAttention.__init__#2": """
        self.scale = 1 / (self.head_dim ** 0.5)
        self.qkv = nn.Linear(embed_dim, embed_dim + embed_dim + embed_dim)
        self.attn_drop = nn.Dropout(dropout)
        self.proj = nn.Linear(embed_dim, embed_dim)
    """,
    "vit:MultiHeadAttention.forward": """
        projected = self.qkv(x)
        queries = projected[..., : self.embed_dim]
        keys = projected[..., self.embed_dim : 2 * self.embed_dim]
        values = projected[..., 2 * self.embed_dim :]
        head_outputs, head_weights = [], []
        for h in range(self.num_heads):
            lo, hi = h * self.head_dim, (h + 1) * self.head_dim
            scores = queries[..., lo:hi] @ keys[..., lo:hi].transpose(1, 2) * self.scale
            w = torch.softmax(scores, dim=-1)
            head_weights.append(w)
            head_outputs.append(self.attn_drop(w) @ values[..., lo:hi])
        output = self.proj(torch.cat(head_outputs, dim=-1))
        if return_attention:
            return output, torch.stack(head_weights, dim=1)
        return output
    """,
    "vit:sinusoidal_position_table": """
        if dim % 2 != 0:
            raise ValueError("dim must be even, but dim = " + str(dim))
        rows = []
        for p in range(num_positions):
            row = []
            for i in range(0, dim, 2):
                angle = p / (10000 ** (i / dim))
                row += [math.sin(angle), math.cos(angle)]
            rows.append(row)
        return torch.tensor(rows, dtype=torch.float32).reshape(num_positions, dim)
    """,
}

STUDENTS["elena"] = {
    "attention:reduced_channels": """
        if channels <= 0 or reduction <= 0:
            which = "channels" if channels <= 0 else "reduction"
            raise ValueError(f"{which} must be a positive number, got {channels if which == 'channels' else reduction}")
    """,
    "attention:SEModule.__init__": """
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)
    """,
    "attention:SEModule.forward": """
        w = x.flatten(2).mean(-1)
        w = self.fc2(self.fc1(w).relu()).sigmoid()
        return w.reshape(*w.shape, 1, 1) * x
    """,
    "resnet:BasicBlock.__init__": """
        self.c1 = conv3x3(in_channels, out_channels, stride)
        self.b1 = nn.BatchNorm2d(out_channels)
        self.c2 = conv3x3(out_channels, out_channels)
        self.b2 = nn.BatchNorm2d(out_channels)
    """,
    "resnet:BasicBlock.forward": """
        o = nn.functional.relu(self.b1(self.c1(x)))
        o = self.b2(self.c2(o))
        o = o if self.attention is None else self.attention(o)
        s = x if self.downsample is None else self.downsample(x)
        return nn.functional.relu(o + s)
    """,
    "vit:MultiHeadAttention.__init__": """
        if num_heads <= 0 or embed_dim % num_heads:
            raise ValueError(f"num_heads={num_heads} must divide embed_dim={embed_dim}")
    """,
    "vit:MultiHeadAttention.__init__#2": """
        self.scale = math.pow(self.head_dim, -0.5)
        self.qkv = nn.Linear(embed_dim, 3 * embed_dim)
        self.attn_drop = nn.Dropout(dropout)
        self.proj = nn.Linear(embed_dim, embed_dim)
    """,
    "vit:MultiHeadAttention.forward": """
        b, t, _ = x.shape
        qkv = self.qkv(x).reshape(b, t, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        a = (q * self.scale) @ k.transpose(-2, -1)
        a = a - a.amax(dim=-1, keepdim=True)
        a = a.exp()
        a = a / a.sum(dim=-1, keepdim=True)
        y = (self.attn_drop(a) @ v).permute(0, 2, 1, 3).reshape(b, t, self.embed_dim)
        y = self.proj(y)
        return (y, a) if return_attention else y
    """,
    "vit:sinusoidal_position_table": """
        if dim % 2:
            raise ValueError(f"an odd dim ({dim}) cannot hold sin/cos pairs")
        half = torch.arange(dim // 2, dtype=torch.float64)
        freqs = 10000.0 ** (-2.0 * half / dim)
        ang = torch.outer(torch.arange(num_positions, dtype=torch.float64), freqs)
        return torch.stack((ang.sin(), ang.cos()), dim=-1).reshape(num_positions, dim).float()
    """,
}

STUDENTS["farid"] = {
    "attention:reduced_channels": """
        if channels <= 0:
            raise ValueError("reduced_channels: channels must be > 0")
        elif reduction <= 0:
            raise ValueError("reduced_channels: reduction must be > 0")
    """,
    "attention:SEModule.__init__": """
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)
        self.relu = nn.ReLU()
        self.sigmoid = nn.Sigmoid()
    """,
    "attention:SEModule.forward": """
        n, c, _, _ = x.shape
        y = self.pool(x).view(n, c)
        y = self.relu(self.fc1(y))
        y = self.sigmoid(self.fc2(y)).view(n, c, 1, 1)
        return x * y
    """,
    "resnet:BasicBlock.__init__": """
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
    """,
    "resnet:BasicBlock.forward": """
        if self.downsample is not None:
            identity = self.downsample(x)
        else:
            identity = x
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.relu(x)
        x = self.conv2(x)
        x = self.bn2(x)
        if self.attention is not None:
            x = self.attention(x)
        x += identity
        x = self.relu(x)
        return x
    """,
    "vit:MultiHeadAttention.__init__": """
        if embed_dim % num_heads != 0:
            raise ValueError("embed_dim (%d) is not a multiple of num_heads (%d)" % (embed_dim, num_heads))
    """,
    "vit:MultiHeadAttention.__init__#2": """
        self.qkv = nn.Linear(embed_dim, embed_dim * 3)
        self.proj = nn.Linear(embed_dim, embed_dim)
        self.attn_drop = nn.Dropout(dropout)
        self.scale = self.head_dim ** -0.5
    """,
    "vit:MultiHeadAttention.forward": """
        B, N, C = x.shape
        H, Dh = self.num_heads, self.head_dim
        qkv = self.qkv(x).view(B, N, 3, H, Dh)
        q = qkv[:, :, 0].transpose(1, 2).reshape(B * H, N, Dh)
        k = qkv[:, :, 1].transpose(1, 2).reshape(B * H, N, Dh)
        v = qkv[:, :, 2].transpose(1, 2).reshape(B * H, N, Dh)
        attn = torch.bmm(q, k.transpose(1, 2)).mul(self.scale).softmax(dim=-1)
        ctx = torch.bmm(self.attn_drop(attn), v).view(B, H, N, Dh)
        ctx = ctx.transpose(1, 2).reshape(B, N, C)
        out = self.proj(ctx)
        if not return_attention:
            return out
        return out, attn.view(B, H, N, N)
    """,
    "vit:sinusoidal_position_table": """
        if dim % 2 != 0:
            raise ValueError(f"sinusoidal_position_table: dim must be even (got dim={dim})")
        idx = torch.arange(dim)
        exponent = (idx - idx % 2).double() / dim
        angle = torch.arange(num_positions).double().unsqueeze(-1) / (10000.0 ** exponent)
        table = torch.where(idx % 2 == 0, torch.sin(angle), torch.cos(angle))
        return table.to(torch.float32)
    """,
}

STUDENTS["gabi"] = {
    "attention:reduced_channels": """
        for arg, val in [("channels", channels), ("reduction", reduction)]:
            if val <= 0:
                raise ValueError(arg + " must be a positive number, got " + repr(val))
    """,
    "attention:SEModule.__init__": """
        self.excitation = nn.Sequential(
            nn.Linear(channels, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, channels),
            nn.Sigmoid(),
        )
    """,
    "attention:SEModule.forward": """
        gate = self.excitation(x.mean(dim=3).mean(dim=2))
        return x * gate.unsqueeze(2).unsqueeze(3)
    """,
    "resnet:BasicBlock.__init__": """
        layers = [
            conv3x3(in_channels, out_channels, stride),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
            conv3x3(out_channels, out_channels),
            nn.BatchNorm2d(out_channels),
        ]
        self.residual = nn.Sequential(*layers)
    """,
    "resnet:BasicBlock.forward": """
        r = self.residual(x)
        if self.attention is not None:
            r = self.attention(r)
        s = self.downsample(x) if self.downsample is not None else x
        return torch.relu(r + s)
    """,
    "vit:MultiHeadAttention.__init__": """
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim ({embed_dim}) % num_heads ({num_heads}) != 0")
    """,
    "vit:MultiHeadAttention.__init__#2": """
        self.scale = 1.0 / self.head_dim ** 0.5
        self.qkv = nn.Linear(embed_dim, 3 * embed_dim)
        self.attn_drop = nn.Dropout(dropout)
        self.proj = nn.Linear(embed_dim, embed_dim)
    """,
    "vit:MultiHeadAttention.forward": """
        bsz, ntok, width = x.shape
        proj = self.qkv(x).view(bsz, ntok, 3, self.num_heads, self.head_dim)
        q, k, v = (proj.select(2, i).transpose(1, 2) for i in range(3))
        if not return_attention:
            p = self.dropout if self.training else 0.0
            o = F.scaled_dot_product_attention(q, k, v, dropout_p=p, scale=self.scale)
            return self.proj(o.transpose(1, 2).reshape(bsz, ntok, width))
        attn_weights = torch.softmax(torch.matmul(q, k.transpose(2, 3)) * self.scale, dim=3)
        o = torch.matmul(self.attn_drop(attn_weights), v)
        return self.proj(o.transpose(1, 2).reshape(bsz, ntok, width)), attn_weights
    """,
    "vit:sinusoidal_position_table": """
        if dim % 2 == 1:
            raise ValueError("dim should be even; got an odd dim of %d" % dim)
        i = torch.arange(0, dim, 2, dtype=torch.float64)
        pos = torch.arange(num_positions, dtype=torch.float64).reshape(-1, 1)
        theta = pos * torch.pow(torch.tensor(10000.0, dtype=torch.float64), -i / dim)
        out = torch.empty(num_positions, dim, dtype=torch.float64)
        out[:, ::2], out[:, 1::2] = theta.sin(), theta.cos()
        return out.float()
    """,
}

STUDENTS["hugo"] = {
    "attention:reduced_channels": """
        problems = []
        if channels <= 0:
            problems.append(f"channels={channels}")
        if reduction <= 0:
            problems.append(f"reduction={reduction}")
        if problems:
            raise ValueError("not positive: " + " and ".join(problems))
    """,
    "attention:SEModule.__init__": """
        self.down = nn.Linear(channels, hidden)
        self.up = nn.Linear(hidden, channels)
    """,
    "attention:SEModule.forward": """
        s = torch.sigmoid(self.up(torch.relu(self.down(x.mean(dim=(-1, -2))))))
        return torch.einsum("bchw,bc->bchw", x, s)
    """,
    "resnet:BasicBlock.__init__": """
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu2 = nn.ReLU(inplace=True)
    """,
    "resnet:BasicBlock.forward": """
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.attention is not None:
            out = self.attention(out)
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu2(out + shortcut)
    """,
    "vit:MultiHeadAttention.__init__": """
        if embed_dim % num_heads != 0:
            raise ValueError(f"{embed_dim=} is not divisible by {num_heads=}")
    """,
    "vit:MultiHeadAttention.__init__#2": """
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(embed_dim, 3 * embed_dim)
        self.attn_drop = nn.Dropout(dropout)
        self.proj = nn.Linear(embed_dim, embed_dim)
    """,
    "vit:MultiHeadAttention.forward": """
        B, T, _ = x.shape
        qkv = self.qkv(x).reshape(B, T, 3, self.num_heads, self.head_dim)
        qkv = qkv.permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        att = (q @ k.mT) * self.scale
        att = att.softmax(dim=-1)
        y = self.attn_drop(att) @ v
        y = y.transpose(1, 2).contiguous().view(B, T, self.embed_dim)
        y = self.proj(y)
        return (y, att) if return_attention else y
    """,
    "vit:sinusoidal_position_table": """
        if dim % 2 != 0:
            raise ValueError(f"{dim=} must be even")
        p = torch.arange(num_positions, dtype=torch.float32).unsqueeze(1)
        two_i = torch.arange(0, dim, 2, dtype=torch.float32)
        angles = p / 10000 ** (two_i / dim)
        pe = torch.zeros(num_positions, dim)
        pe[:, 0::2] = angles.sin()
        pe[:, 1::2] = angles.cos()
        return pe
    """,
}

STUDENTS["irene"] = {
    "attention:reduced_channels": """
        if min(channels, reduction) <= 0:
            name = "channels" if channels <= 0 else "reduction"
            raise ValueError(f"{name} must be positive")
    """,
    "attention:SEModule.__init__": """
        self.fc1, self.fc2 = nn.Linear(channels, hidden), nn.Linear(hidden, channels)
    """,
    "attention:SEModule.forward": """
        return x * self.fc2(self.fc1(x.mean((2, 3))).relu()).sigmoid()[:, :, None, None]
    """,
    "resnet:BasicBlock.__init__": """
        convs = [conv3x3(in_channels, out_channels, stride), conv3x3(out_channels, out_channels)]
        self.convs = nn.ModuleList(convs)
        self.bns = nn.ModuleList([nn.BatchNorm2d(out_channels) for _ in convs])
    """,
    "resnet:BasicBlock.forward": """
        h = x
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns)):
            h = bn(conv(h))
            if i == 0:
                h = h.relu()
        if self.attention is not None:
            h = self.attention(h)
        return (h + (x if self.downsample is None else self.downsample(x))).relu()
    """,
    "vit:MultiHeadAttention.__init__": """
        if embed_dim % num_heads: raise ValueError(f"num_heads {num_heads} doesn't divide embed_dim {embed_dim}")
    """,
    "vit:MultiHeadAttention.__init__#2": """
        self.scale, self.qkv = self.head_dim**-0.5, nn.Linear(embed_dim, 3 * embed_dim)
        self.attn_drop, self.proj = nn.Dropout(dropout), nn.Linear(embed_dim, embed_dim)
    """,
    "vit:MultiHeadAttention.forward": """
        B, T, D = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.num_heads, -1).transpose(1, 3).unbind(2)
        w = (q @ k.transpose(-1, -2) * self.scale).softmax(-1)
        y = self.proj((self.attn_drop(w) @ v).transpose(1, 2).reshape(B, T, D))
        return (y, w) if return_attention else y
    """,
    "vit:sinusoidal_position_table": """
        if dim % 2: raise ValueError(f"odd dim {dim}")
        a = torch.arange(num_positions)[:, None] * torch.exp(torch.arange(0, dim, 2) * (-math.log(1e4) / dim))[None]
        return torch.stack([a.sin(), a.cos()], 2).flatten(1).float()
    """,
}

STUDENTS["jon"] = {
    "attention:reduced_channels": """
        # Both arguments have to be strictly positive.
        if channels <= 0:
            raise ValueError("Invalid value for channels: %s" % channels)
        if reduction <= 0:
            raise ValueError("Invalid value for reduction: %s" % reduction)
    """,
    "attention:SEModule.__init__": """
        # squeeze: C -> C/r, excitation: C/r -> C
        self.linear_in = nn.Linear(channels, hidden, bias=True)
        self.linear_out = nn.Linear(hidden, channels, bias=True)
        self.nonlinearity = nn.ReLU()
    """,
    "attention:SEModule.forward": """
        squeezed = nn.functional.adaptive_avg_pool2d(x, output_size=1).flatten(start_dim=1)
        excited = self.linear_out(self.nonlinearity(self.linear_in(squeezed)))
        attention_weights = torch.sigmoid(excited)
        attention_weights = attention_weights.reshape(x.shape[0], x.shape[1], 1, 1)
        return x * attention_weights
    """,
    "resnet:BasicBlock.__init__": """
        self.first_conv = conv3x3(in_channels, out_channels, stride)
        self.first_bn = nn.BatchNorm2d(out_channels)
        self.second_conv = conv3x3(out_channels, out_channels, 1)
        self.second_bn = nn.BatchNorm2d(out_channels)
        self.activation = nn.ReLU()
    """,
    "resnet:BasicBlock.forward": """
        # residual branch
        branch_output = self.first_conv(x)
        branch_output = self.first_bn(branch_output)
        branch_output = self.activation(branch_output)
        branch_output = self.second_conv(branch_output)
        branch_output = self.second_bn(branch_output)
        # optional attention on the branch, before the addition
        if self.attention is not None:
            branch_output = self.attention(branch_output)
        # shortcut
        if self.downsample is not None:
            shortcut_output = self.downsample(x)
        else:
            shortcut_output = x
        return self.activation(branch_output + shortcut_output)
    """,
    "vit:MultiHeadAttention.__init__": """
        # the heads must split embed_dim evenly
        if embed_dim % num_heads != 0:
            raise ValueError("embed_dim must be divisible by num_heads, got embed_dim=%d and num_heads=%d"
                             % (embed_dim, num_heads))
    """,
    "vit:MultiHeadAttention.__init__#2": """
        # scaled dot-product: multiply the scores by 1 / sqrt(head_dim)
        self.scale = 1.0 / math.sqrt(float(self.head_dim))
        self.qkv = nn.Linear(in_features=embed_dim, out_features=3 * embed_dim, bias=True)
        self.attn_drop = nn.Dropout(p=dropout)
        self.proj = nn.Linear(in_features=embed_dim, out_features=embed_dim, bias=True)
    """,
    "vit:MultiHeadAttention.forward": """
        batch_size, num_tokens, embed_dim = x.shape
        # (B, T, 3D) -> (3, B, H, T, d)
        qkv = self.qkv(x)
        qkv = qkv.reshape(batch_size, num_tokens, 3, self.num_heads, self.head_dim)
        qkv = qkv.permute(2, 0, 3, 1, 4)
        queries, keys, values = qkv[0], qkv[1], qkv[2]
        # scores (B, H, T, T)
        scores = torch.matmul(queries, keys.transpose(-2, -1)) * self.scale
        attention = nn.functional.softmax(scores, dim=-1)
        context = torch.matmul(self.attn_drop(attention), values)
        # merge the heads: (B, H, T, d) -> (B, T, D)
        context = context.transpose(1, 2).reshape(batch_size, num_tokens, embed_dim)
        output = self.proj(context)
        if return_attention:
            return output, attention
        else:
            return output
    """,
    "vit:sinusoidal_position_table": """
        if dim % 2 != 0:
            raise ValueError("The dim of a sinusoidal position table must be even, got dim=" + str(dim))
        table = torch.zeros(num_positions, dim, dtype=torch.float64)
        for position in range(num_positions):
            for i in range(dim // 2):
                angle = position / math.pow(10000, 2 * i / dim)
                table[position, 2 * i] = math.sin(angle)
                table[position, 2 * i + 1] = math.cos(angle)
        return table.to(dtype=torch.float32)
    """,
}

RENAMES = {"w": "weights", "o": "hidden_out", "s": "skip_path", "a": "scores", "b": "batch", "t": "tokens",
           "y": "merged", "qkv": "packed", "which": "bad_arg", "half": "pair_index", "freqs": "inv_freq",
           "ang": "angles"}
"""How ``copied`` renames the plagiarised student's local names."""


def copied(answers: dict[str, str], comment: str = "my own implementation") -> dict[str, str]:
    """``answers`` as a plagiarist hands them in: local names renamed (``RENAMES``), comments dropped
    and one of their own (``comment``) put on top of each region; the code itself kept."""
    result = {}
    for region, code in answers.items():
        lines = [f"# {comment}"]
        for line in textwrap.dedent(code).strip("\n").splitlines():
            if line.lstrip().startswith("#"):
                continue
            line = line.split("  # ")[0]
            for old, new in RENAMES.items():
                line = re.sub(rf"(?<![.\w]){old}(?!\w)", new, line)
            lines.append(line)
        result[region] = "\n".join(lines) + "\n"
    return result


def _in_fill_order(answers: dict[str, str]) -> list[tuple[str, str]]:
    """A function's later regions first: filling one changes which stub is a function's first."""
    return sorted(answers.items(), key=lambda item: -int(item[0].partition("#")[2] or 1))


def filled(answers: dict[str, str]) -> dict[str, str]:
    """The lab's files (name -> text): the skeletons with the regions of ``answers`` filled."""
    files = {name: (paths.SKELETONS / name).read_text(encoding="utf-8") for name in LAB_FILES}
    for region, code in _in_fill_order(answers):
        module, function = region.split(":")
        name = f"{module}.py"
        files[name] = fill(files[name], function, code)
    return files


def fill(source: str, function: str, code: str) -> str:
    """``source`` with a region of ``function`` (``Class.method``, ``#2`` for its second region)
    replaced by ``code``, at the region's indentation."""
    qualname, _, nth = function.partition("#")
    lines = source.splitlines(keepends=True)
    stubs = [i for i, line in enumerate(lines) if line.strip() == "# YOUR CODE HERE"
             and i + 1 < len(lines) and lines[i + 1].strip() == "raise NotImplementedError()"]
    owners = _owners(source)
    mine = [i for i in stubs if owners.get(i + 2) == qualname]
    if len(mine) < int(nth or 1):
        raise LookupError(f"no region {function} in the skeleton")
    at = mine[int(nth or 1) - 1]
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    body = textwrap.indent(textwrap.dedent(code).strip("\n") + "\n", indent)
    return "".join(lines[:at]) + body + "".join(lines[at + 2:])


def _owners(source: str) -> dict[int, str]:
    """1-based line -> qualified name of the innermost function holding it."""
    owners: dict[int, str] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.FunctionDef):
                for line in range(child.lineno, child.end_lineno + 1):
                    owners[line] = f"{prefix}{child.name}"
                visit(child, f"{prefix}{child.name}.")

    visit(ast.parse(source), "")
    return owners


def write_folder(folder: Path, answers: dict[str, str]) -> Path:
    """A submission folder laid out like skeletons/, the regions of ``answers`` filled."""
    folder.mkdir(parents=True)
    for name, text in filled(answers).items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def write_notebook(path: Path, answers: dict[str, str]) -> Path:
    """The released lab notebook (the source's solution regions stubbed, as nbgrader releases it) with
    the regions of ``answers`` filled in its cells, as a student hands it in."""
    from autograder.tools.skeletons import strip_solutions

    notebook = json.loads((paths.ROOT / "notebooks" / "source" / "lab3" / "lab3.ipynb").read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = strip_solutions("".join(cell["source"]))[0]
        for region, code in _in_fill_order(answers):
            function = region.split(":")[1]
            try:
                source = fill(source, function, code)
            except (LookupError, SyntaxError):
                continue
        cell["source"] = source
    path.write_text(json.dumps(notebook), encoding="utf-8")
    return path


def mixed(index: int) -> dict[str, str]:
    """A class larger than ``STUDENTS``: student ``index``'s answer to each region is another
    student's, a different combination for every index below 90 (for timing the report, not for its
    verdicts: students made this way share whole regions)."""
    names = sorted(STUDENTS)
    step = 1 + index // len(names)
    return {region: STUDENTS[names[(index + r * step) % len(names)]][region] for r, region in enumerate(REGIONS)}
