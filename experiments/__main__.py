"""Run one of the lab's experiments: ``python -m experiments NAME [--smoke] [options]``.

Each writes its figures (PNG), tables (CSV and JSON) and training logs to ``--out`` (default
``out/experiments/LAB/NAME-DATASET[-smoke]``, LAB the implementation's name) and takes finished
runs from there when run again.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
import traceback
from pathlib import Path

EXPERIMENTS = {
    "depth": ("experiments.depth", "Part 1: ResNet-18/34/50/101 trained: time, memory, accuracy against depth"),
    "gradient-flow": ("experiments.gradient_flow",
                      "Part 1: per-layer gradient norms, plain vs residual, pre- vs post-activation"),
    "attention": ("experiments.attention_study",
                  "Part 2: ResNet vs SE vs CBAM; channel attention statistics; attention maps and Grad-CAM"),
    "vit": ("experiments.vit_study", "Part 3: ViT patch size, width and heads; CLS attention and attention rollout"),
    "regimes": ("experiments.regimes", "Part 4: CNN vs ViT with 1K, 10K and all training images"),
    "profiling": ("experiments.profiling", "Part 4: latency, throughput, memory and FLOPs at batch 1, 32, 128"),
    "selection": ("experiments.selection", "Part 4: the architecture-selection decision tree from the measured tables"),
}
"""Name -> (module with ``run(context) -> dict``, what it does)."""


def parser() -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(prog="python -m experiments", description="Lab 3 experiments")
    parse.add_argument("name", choices=list(EXPERIMENTS),
                       help="; ".join(f"{k}: {v[1]}" for k, v in EXPERIMENTS.items()))
    parse.add_argument("--smoke", action="store_true", help="tiny sizes: a few minutes on a CPU (digits by default)")
    parse.add_argument("--lab", help="whose modules: solutions (the default where they exist), skeletons (the "
                                      "default in a student's copy), a folder of the five files, or a .ipynb")
    parse.add_argument("--out", help="output folder (default out/experiments/LAB/NAME-DATASET, -smoke at smoke size)")
    parse.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parse.add_argument("--data", choices=["digits", "cifar10", "cifar100"],
                       help="dataset (default: digits with --smoke, else cifar10)")
    parse.add_argument("--data-root", default="data", help="where CIFAR is, or is downloaded to (default: data)")
    parse.add_argument("--download", action="store_true", help="download CIFAR with torchvision when it is missing")
    parse.add_argument("--seed", type=int, default=0)
    parse.add_argument("--wandb", choices=["offline", "online"], help="also log training runs to Weights & Biases")
    return parse


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    import torch

    from autograder.engine.device import resolve_device
    from experiments.context import Context
    from experiments.data import DataNotFound
    from experiments.lab import LabNotFound, load_lab
    from experiments.outputs import Output

    try:
        device = torch.device(resolve_device(args.device))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    source = args.lab or ("solutions" if importlib.util.find_spec("solutions") is not None else "skeletons")
    try:
        lab = load_lab(source)
    except LabNotFound as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    context = Context(lab, None, device, args.smoke, args.data, Path(args.data_root), args.download, args.seed,
                      args.wandb)
    # Implementations, smoke and full runs, and datasets keep apart: a finished run is taken from its folder.
    default = Path("out") / "experiments" / Path(source).stem / context.output_name(args.name)
    out = context.out = Output(Path(args.out) if args.out else default)
    module = importlib.import_module(EXPERIMENTS[args.name][0])
    try:
        summary = module.run(context)
    except DataNotFound as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except NotImplementedError as error:
        where = traceback.extract_tb(error.__traceback__)[-1]
        print(f"error: the experiment needs code that is not written yet in {lab.source}: "
              f"{Path(where.filename).name}, line {where.lineno}, in {where.name}", file=sys.stderr)
        return 2
    if out.resumed:
        print(f"taken from earlier runs in {out.folder}: {', '.join(out.resumed)}")
    print(json.dumps(summary, indent=2, default=str))
    print(f"figures and tables in {out.folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
