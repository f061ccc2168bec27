"""The one training loop every experiment uses.

    result = train(model, dataset, TrainConfig(epochs=10), device="cuda", folder=out / "resnet18")

Per epoch it logs (``experiments.tracking``) the training loss and accuracy, the test loss, top-1 and
top-5 accuracy, the epoch's seconds and images per second, and the peak memory: on CUDA the
allocator's peak during the epoch, on the CPU the process's peak resident size so far. On CUDA it
trains in mixed precision (bf16 where the GPU has it, else fp16 with loss scaling) and, for
convolutional networks, in channels_last. Runs are seeded: the same seed gives the same batches and
augmentations. It stops early after ``patience`` epochs without a better test accuracy, and records
when the test accuracy first reached ``target_accuracy`` (time to target).
"""
from __future__ import annotations

import math
import resource
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from experiments.data import Dataset, Split, augment
from experiments.tracking import make_tracker

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass
class TrainConfig:
    """How to train; the defaults suit a CIFAR ResNet on one GPU."""

    epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.05
    optimizer: str = "adamw"
    """``adamw``, or ``sgd`` (momentum 0.9, Nesterov)."""
    schedule: str = "cosine"
    """``cosine`` (to 0 over all steps, after one warm-up epoch) or ``constant``."""
    precision: str = "auto"
    """``auto`` (bf16 or fp16 on CUDA, fp32 on the CPU), ``fp32``, ``bf16`` or ``fp16``."""
    channels_last: Optional[bool] = None
    """None: on CUDA for models with convolutions."""
    compile: bool = False
    """Wrap the model in ``torch.compile``."""
    seed: int = 0
    label_smoothing: float = 0.0
    target_accuracy: Optional[float] = None
    """Test top-1 accuracy whose first reaching is timed."""
    patience: Optional[int] = None
    """Stop after this many epochs without a better test top-1 accuracy."""
    max_steps_per_epoch: Optional[int] = None
    """Cut every epoch short (smoke runs)."""
    eval_batch_size: int = 512
    progress: Optional[bool] = None
    """A progress bar per epoch; None: only on a terminal."""

    def steps_per_epoch(self, examples: int) -> int:
        """Steps an epoch over ``examples`` training images takes: every batch, or ``max_steps_per_epoch``."""
        steps = math.ceil(examples / self.batch_size)
        return min(steps, self.max_steps_per_epoch) if self.max_steps_per_epoch else steps


@dataclass
class EpochRecord:
    """One epoch's log row."""

    epoch: int
    train_loss: float
    train_accuracy: float
    test_loss: float
    test_top1: float
    test_top5: float
    seconds: float
    """Training time of this epoch (evaluation excluded)."""
    elapsed: float
    """Training time since the start."""
    images_per_second: float
    peak_memory_mb: float
    lr: float


@dataclass
class TrainResult:
    """What a training run gives an experiment."""

    history: list[EpochRecord] = field(default_factory=list)
    best_top1: float = 0.0
    final_top1: float = 0.0
    final_top5: float = 0.0
    time_to_target: Optional[float] = None
    """Training seconds until the test top-1 first reached the target; None if it never did."""
    epochs_run: int = 0
    stopped_early: bool = False
    seconds: float = 0.0
    parameters: int = 0
    precision: str = "fp32"

    def summary(self) -> dict:
        """Everything but the history, JSON-able."""
        return {k: v for k, v in asdict(self).items() if k != "history"}


def resolve_precision(precision: str, device: torch.device) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    if device.type != "cuda":
        return "fp32"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def _has_convolutions(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]  # norms, biases, tokens
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr)
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=0.9, nesterov=True)
    raise ValueError(f"unknown optimizer {config.optimizer!r}; expected adamw or sgd")


def _lr_factor(step: int, total: int, warmup: int, schedule: str) -> float:
    if schedule == "constant":
        return 1.0
    if schedule != "cosine":
        raise ValueError(f"unknown schedule {schedule!r}; expected cosine or constant")
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


@torch.no_grad()
def evaluate(model: nn.Module, split: Split, device: torch.device, batch_size: int = 512,
             precision: str = "fp32", channels_last: bool = False) -> tuple[float, float, float]:
    """(mean loss, top-1 accuracy, top-5 accuracy) of ``model`` on ``split``, in eval mode."""
    was_training = model.training
    model.eval()
    loss, top1, top5 = 0.0, 0, 0
    for start in range(0, len(split), batch_size):
        images = split.images[start:start + batch_size].to(device, non_blocking=True)
        labels = split.labels[start:start + batch_size].to(device, non_blocking=True)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with _autocast(device, precision):
            logits = model(images)
        loss += float(F.cross_entropy(logits.float(), labels, reduction="sum"))
        best = logits.topk(min(5, logits.shape[1]), dim=1).indices
        top1 += int((best[:, 0] == labels).sum())
        top5 += int((best == labels[:, None]).any(dim=1).sum())
    model.train(was_training)
    count = max(1, len(split))
    return loss / count, top1 / count, top5 / count


def _autocast(device: torch.device, precision: str):
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


def train(model: nn.Module, dataset: Dataset, config: TrainConfig, device: str | torch.device = "cpu",
          folder: Optional[Path] = None, name: str = "run", wandb_mode: Optional[str] = None) -> TrainResult:
    """Train ``model`` on ``dataset.train``, evaluating on ``dataset.test`` after every epoch.

    Images (B, C, H, W) and labels (B,) are sliced from the in-memory split; natural images are
    augmented per batch. With ``folder`` the log goes there (``experiments.tracking``).
    """
    device = torch.device(device)
    precision = resolve_precision(config.precision, device)
    channels_last = config.channels_last if config.channels_last is not None else (
        device.type == "cuda" and _has_convolutions(model))
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    runner = torch.compile(model) if config.compile else model
    optimizer = _optimizer(model, config)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    steps_per_epoch = config.steps_per_epoch(len(dataset.train))
    total_steps = steps_per_epoch * config.epochs
    tracker = make_tracker(folder, name, {**asdict(config), "precision": precision}, wandb_mode) if folder else None
    for note in (tracker.notes if tracker else []):
        print(note, file=sys.stderr)
    result = TrainResult(parameters=sum(p.numel() for p in model.parameters() if p.requires_grad), precision=precision)
    since_best, step = 0, 0
    for epoch in range(1, config.epochs + 1):
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        order = torch.randperm(len(dataset.train), generator=generator)
        model.train()
        loss_sum, correct, seen = 0.0, 0, 0
        start = time.perf_counter()
        for batch in _progress(range(steps_per_epoch), f"{name} epoch {epoch}/{config.epochs}", config.progress):
            index = order[batch * config.batch_size:(batch + 1) * config.batch_size]
            images, labels = dataset.train.images[index], dataset.train.labels[index]
            if dataset.augment:
                images = augment(images, generator)
            images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            if channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            for group in optimizer.param_groups:
                group["lr"] = config.lr * _lr_factor(step, total_steps, steps_per_epoch, config.schedule)
            with _autocast(device, precision):
                logits = runner(images)
                loss = F.cross_entropy(logits.float(), labels, label_smoothing=config.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            loss_sum += float(loss.detach()) * len(labels)
            correct += int((logits.argmax(1) == labels).sum())
            seen += len(labels)
            step += 1
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
        result.seconds += seconds
        test_loss, top1, top5 = evaluate(runner, dataset.test, device, config.eval_batch_size, precision, channels_last)
        record = EpochRecord(epoch, loss_sum / max(1, seen), correct / max(1, seen), test_loss, top1, top5, seconds,
                             result.seconds, seen / seconds if seconds > 0 else 0.0, _peak_memory_mb(device),
                             optimizer.param_groups[0]["lr"])
        result.history.append(record)
        if tracker:
            tracker.log(asdict(record))
        if config.target_accuracy is not None and result.time_to_target is None and top1 >= config.target_accuracy:
            result.time_to_target = result.seconds
        since_best = 0 if top1 > result.best_top1 else since_best + 1
        result.best_top1 = max(result.best_top1, top1)
        result.final_top1, result.final_top5, result.epochs_run = top1, top5, epoch
        if config.patience is not None and since_best >= config.patience and epoch < config.epochs:
            result.stopped_early = True
            break
    if tracker:
        tracker.finish(result.summary())
    return result


def _progress(steps, label: str, show: Optional[bool]):
    """``steps`` with a tqdm bar (on a terminal, unless ``show`` says otherwise)."""
    from tqdm.auto import tqdm

    return tqdm(steps, desc=label, leave=False, disable=(not show) if show is not None else None)
