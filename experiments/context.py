"""What every experiment is given: the implementation, the data, the device, the output folder, the size.

An experiment is a function ``run(context: Context) -> dict`` (its summary). At smoke size
(``context.smoke``) it must finish on a laptop CPU in a few minutes, on scikit-learn's digits unless
another dataset is named; at full size it is meant for one GPU and CIFAR.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from experiments import data
from experiments.lab import Lab
from experiments.outputs import Output
from experiments.train import TrainConfig, TrainResult, train

SMOKE_TRAINING = {"epochs": 2, "batch_size": 64, "lr": 3e-3, "max_steps_per_epoch": 12}
"""Training at smoke size: a few dozen steps."""
FULL_TRAINING = {"epochs": 30, "batch_size": 128, "lr": 1e-3}


@dataclass
class Context:
    lab: Lab
    """The lab modules the experiment builds its models from."""
    out: Output
    device: torch.device
    smoke: bool = True
    dataset_name: Optional[str] = None
    """``digits``, ``cifar10`` or ``cifar100``; None: digits at smoke size, cifar10 at full size."""
    data_root: Path = Path("data")
    download: bool = False
    seed: int = 0
    wandb: Optional[str] = None
    """``offline`` or ``online`` to log training runs to Weights & Biases too."""
    progress: Optional[bool] = None
    """A progress bar per training epoch; None: only on a terminal."""

    @property
    def size(self) -> str:
        """``smoke`` or ``full``."""
        return "smoke" if self.smoke else "full"

    @property
    def dataset_id(self) -> str:
        return self.dataset_name or ("digits" if self.smoke else "cifar10")

    def output_name(self, experiment: str) -> str:
        """The output folder's name for ``experiment`` at this dataset and size: ``NAME-DATASET[-smoke]``.
        Experiments beside each other find one another's tables by it (``selection``)."""
        return f"{experiment}-{self.dataset_id}{'-smoke' if self.smoke else ''}"

    def dataset(self, regime: str = "full") -> data.Dataset:
        """The context's dataset, its training split cut to ``regime`` (``1k``, ``10k``, ``full``)."""
        return data.regime(_load(self.dataset_id, str(self.data_root), self.download), regime, self.seed)

    def train_config(self, **overrides) -> TrainConfig:
        """The training settings for this size (smoke or full), with ``overrides``."""
        base = SMOKE_TRAINING if self.smoke else FULL_TRAINING
        return dataclasses.replace(TrainConfig(seed=self.seed, progress=self.progress), **{**base, **overrides})

    def train(self, model: torch.nn.Module, dataset: data.Dataset, name: str, **overrides) -> TrainResult:
        """Train ``model`` with ``train_config(**overrides)``; its log goes to ``out/logs/<name>/``."""
        return train(model, dataset, self.train_config(**overrides), self.device, self.out.path("logs") / name, name,
                     self.wandb)


@functools.lru_cache(maxsize=4)
def _load(name: str, root: str, download: bool) -> data.Dataset:
    return data.load(name, root, download)
