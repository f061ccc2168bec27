"""Training images/s of ResNet-18 and the CIFAR ViT: the plain loop against its faster settings.

    python benchmarks/training_throughput.py [--device auto|cpu|cuda] [--batch-size N] [--steps N]
                                             [--epochs N] [--rounds N] [--models resnet18,vit]
                                             [--lab solutions] [--quick]

Each variant trains a fresh model with the lab's one training loop (``experiments.train.train``)
on random CIFAR-shaped data in memory (3x32x32, 10 classes, no augmentation, so the model's step
is what is timed): one warm-up epoch (which also absorbs ``torch.compile``'s compilation), then
``--epochs`` timed epochs of ``--steps`` steps; the variants take turns for ``--rounds`` rounds
and the median is reported, with the range. Variants: the plain loop (float32, contiguous);
on CUDA, mixed precision (bf16 where the GPU has it, else fp16) with channels_last for the CNN;
``torch.compile`` of the plain loop; on CUDA both together. Each is reported against the plain
loop. ``--quick``: the ViT only, batch 8, 2 steps, one round, no compilation (a check that it runs).
Prints a Markdown table naming the device and the torch version.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from autograder.engine.device import resolve_device  # noqa: E402
from experiments.data import Dataset, Split  # noqa: E402
from experiments.lab import load_lab  # noqa: E402
from experiments.profiling import device_name  # noqa: E402
from experiments.regimes import architectures  # noqa: E402
from experiments.train import TrainConfig, train  # noqa: E402

SHAPE, CLASSES = (3, 32, 32), 10


def variants(device: torch.device, family: str, compile_too: bool) -> dict[str, dict]:
    """Variant name -> TrainConfig settings; mixed precision only on CUDA."""
    plain = {"precision": "fp32", "channels_last": False}
    fast = {"precision": "auto", "channels_last": family == "CNN"}
    chosen = {"plain fp32": plain}
    if device.type == "cuda":
        chosen["mixed precision" + (" + channels_last" if family == "CNN" else "")] = fast
    if compile_too:
        chosen["torch.compile"] = {**plain, "compile": True}
        if device.type == "cuda":
            chosen["mixed precision" + (" + channels_last" if family == "CNN" else "") + " + compile"] = {
                **fast, "compile": True}
    return chosen


def random_data(images: int, batch_size: int) -> Dataset:
    """``images`` random training images and one batch of test images, CIFAR-shaped."""
    generator = torch.Generator().manual_seed(0)

    def split(count: int) -> Split:
        return Split(torch.randn(count, *SHAPE, generator=generator),
                     torch.randint(0, CLASSES, (count,), generator=generator))

    return Dataset("random", split(images), split(batch_size), CLASSES, augment=False)


def images_per_second(lab, arch, dataset: Dataset, settings: dict, args, device: torch.device) -> float:
    """Training images/s over the timed epochs (the first epoch is warm-up)."""
    torch.manual_seed(0)
    config = TrainConfig(epochs=1 + args.epochs, batch_size=args.batch_size, schedule="constant",
                         max_steps_per_epoch=args.steps, eval_batch_size=args.batch_size, progress=False, **settings)
    history = train(arch.build(lab), dataset, config, device).history[1:]
    return sum(r.images_per_second * r.seconds for r in history) / sum(r.seconds for r in history)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--batch-size", type=int, help="default: 128 on CUDA, 32 on the CPU")
    parser.add_argument("--steps", type=int, help="steps per epoch; default: 50 on CUDA, 3 on the CPU")
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs after the warm-up epoch (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of all variants (default 3)")
    parser.add_argument("--models", default="resnet18,vit", help="comma-separated: resnet18, vit")
    parser.add_argument("--lab", default="solutions", help="whose models (default: the reference)")
    parser.add_argument("--quick", action="store_true", help="ViT only, batch 8, 2 steps, no torch.compile")
    args = parser.parse_args()
    device = torch.device(resolve_device(args.device))
    use_cuda = device.type == "cuda"
    if args.quick:
        args.models, args.batch_size, args.steps, args.epochs, args.rounds = "vit", 8, 2, 1, 1
    args.batch_size = args.batch_size or (128 if use_cuda else 32)
    args.steps = args.steps or (50 if use_cuda else 3)
    lab = load_lab(args.lab)
    dataset = random_data(args.batch_size * args.steps, args.batch_size)
    wanted = args.models.split(",")
    start = time.perf_counter()
    print(f"device: {device_name(device)}; torch {torch.__version__}; batch {args.batch_size}, "
          f"{args.epochs} timed epochs of {args.steps} steps after a warm-up epoch, median of {args.rounds} rounds; "
          "3x32x32 random data, 10 classes")
    print("| model | variant | training images/s (median) | range | vs plain |")
    print("|---|---|---:|---:|---:|")
    for arch in (a for a in architectures(SHAPE, CLASSES) if a.name in wanted):
        chosen = variants(device, arch.family, not args.quick)
        rates, failed = {name: [] for name in chosen}, {}
        for _ in range(args.rounds):  # variants alternate, so drifting machine load hits them alike
            for name, settings in chosen.items():
                if name in failed:
                    continue
                try:
                    rates[name].append(images_per_second(lab, arch, dataset, settings, args, device))
                except Exception as error:  # torch.compile needs a working compiler toolchain: report it, go on
                    failed[name] = f"failed: {type(error).__name__}: {str(error)[:80]}"
        plain = statistics.median(rates["plain fp32"]) if rates["plain fp32"] else None
        for name in chosen:
            if name in failed:
                print(f"| {arch.name} | {name} | {failed[name]} | | |", flush=True)
                continue
            rate = statistics.median(rates[name])
            spread = f"{min(rates[name]):,.1f} - {max(rates[name]):,.1f}"
            versus = f"{rate / plain:.2f}x" if plain else ""
            print(f"| {arch.name} | {name} | {rate:,.1f} | {spread} | {versus} |", flush=True)
    print(f"({time.perf_counter() - start:.0f} s in all, compilation included)")


if __name__ == "__main__":
    main()
