"""The lab's data: CIFAR-10/100 (torchvision's download, or a local folder) and scikit-learn's digits.

Every dataset comes as ``Split``s of image tensors and labels in memory (CIFAR-10 is 180 MB as
uint8), so subsets are cheap and a training epoch is a shuffle and a slice. Images are float32
(N, C, H, W), normalised per channel with the training split's statistics; augmentation (random
crop with 4 pixels of padding and horizontal flips, as in He et al. 2016 for CIFAR) is applied per
batch by ``augment``.

Data regimes: ``1k``, ``10k`` and ``full`` training images, the subsets stratified (the same
number of images per class, the remainder to the first classes) and fixed by a seed.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

REGIMES = {"1k": 1_000, "10k": 10_000, "full": None}
CIFAR_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
CIFAR_FILES = {"cifar10": ([f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "labels"),
               "cifar100": (["train"], ["test"], "fine_labels")}
DATASETS = ("digits", "cifar10", "cifar100")


@dataclass
class Split:
    """Images (N, C, H, W) float32 and labels (N,) int64."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: torch.Tensor) -> "Split":
        return Split(self.images[indices], self.labels[indices])


@dataclass
class Dataset:
    """A training and a test split, and what models need to know about them."""

    name: str
    train: Split
    test: Split
    num_classes: int
    augment: bool
    """Whether training batches should be augmented (natural images: yes; digits: no)."""

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train.images.shape[1:])


class DataNotFound(FileNotFoundError):
    """A dataset that is neither in its folder nor downloadable here; the message says what to do."""


def stratified_indices(labels: torch.Tensor, size: int, seed: int = 0) -> torch.Tensor:
    """``size`` indices of ``labels`` with (nearly) the same count per class, fixed by ``seed``, sorted."""
    classes = torch.unique(labels)
    if size > len(labels):
        raise ValueError(f"a subset of {size} from {len(labels)} examples")
    generator = torch.Generator().manual_seed(seed)
    per_class, extra = divmod(size, len(classes))
    chosen = []
    for rank, label in enumerate(classes.tolist()):
        members = torch.nonzero(labels == label).flatten()
        want = per_class + (1 if rank < extra else 0)
        if want > len(members):
            raise ValueError(f"class {label} has {len(members)} examples, "
                             f"fewer than the {want} a subset of {size} needs")
        chosen.append(members[torch.randperm(len(members), generator=generator)[:want]])
    return torch.cat(chosen).sort().values


def regime(dataset: Dataset, name: str, seed: int = 0) -> Dataset:
    """``dataset`` with its training split cut to the regime ``name`` (``1k``, ``10k`` or ``full``)."""
    if name not in REGIMES:
        raise ValueError(f"unknown data regime {name!r}; expected one of {', '.join(REGIMES)}")
    size = REGIMES[name]
    if size is None or size >= len(dataset.train):
        return dataset
    train = dataset.train.subset(stratified_indices(dataset.train.labels, size, seed))
    return Dataset(dataset.name, train, dataset.test, dataset.num_classes, dataset.augment)


def _normalised(train: torch.Tensor, test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mean = train.mean(dim=(0, 2, 3), keepdim=True)
    std = train.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    return (train - mean) / std, (test - mean) / std


def digits(size: int = 16, test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """scikit-learn's 1,797 handwritten digits (shipped with it, so offline), as (1, size, size)
    images (bilinear upsampling of the 8x8 originals), split at random into training and test."""
    from sklearn.datasets import load_digits

    data = load_digits()
    images = torch.tensor(data.images, dtype=torch.float32)[:, None] / 16.0
    images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    labels = torch.tensor(data.target, dtype=torch.long)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    cut = int(len(labels) * (1 - test_fraction))
    train, test = _normalised(images[order[:cut]], images[order[cut:]])
    return Dataset("digits", Split(train, labels[order[:cut]]), Split(test, labels[order[cut:]]), 10, augment=False)


def cifar(name: str, root: str | Path, download: bool = False) -> Dataset:
    """CIFAR-10 or CIFAR-100 from ``root``: the folder torchvision downloads (``cifar-10-batches-py``
    or ``cifar-100-python``, the python pickles of Krizhevsky's site). With ``download``, torchvision
    fetches and verifies it first where it is missing."""
    if name not in CIFAR_FOLDERS:
        raise ValueError(f"unknown CIFAR dataset {name!r}; expected cifar10 or cifar100")
    folder = Path(root) / CIFAR_FOLDERS[name]
    if download and not folder.is_dir():
        import torchvision

        dataset_class = torchvision.datasets.CIFAR10 if name == "cifar10" else torchvision.datasets.CIFAR100
        dataset_class(str(root), train=True, download=True)
    if not folder.is_dir():
        raise DataNotFound(f"{folder} not found: pass --download where the network allows, or put the python "
                           f"version of {name} (from https://www.cs.toronto.edu/~kriz/cifar.html) in {root}")
    train_files, test_files, label_key = CIFAR_FILES[name]
    train_images, train_labels = _read_batches(folder, train_files, label_key)
    test_images, test_labels = _read_batches(folder, test_files, label_key)
    train_images, test_images = _normalised(train_images, test_images)
    classes = 10 if name == "cifar10" else 100
    return Dataset(name, Split(train_images, train_labels), Split(test_images, test_labels), classes, augment=True)


def _read_batches(folder: Path, files: list[str], label_key: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The images (N, 3, 32, 32) in [0, 1] and labels of CIFAR's pickled batches."""
    images, labels = [], []
    for file in files:
        path = folder / file
        if not path.is_file():
            raise DataNotFound(f"{path} is missing: the folder is incomplete")
        with open(path, "rb") as handle:
            # CIFAR's own format: dicts of numpy arrays pickled by Python 2, read as torchvision reads them.
            batch = pickle.load(handle, encoding="latin1")
        images.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.append(np.asarray(batch[label_key], dtype=np.int64))
    return torch.from_numpy(np.concatenate(images)).float() / 255.0, torch.from_numpy(np.concatenate(labels))


def load(name: str, root: str | Path = "data", download: bool = False) -> Dataset:
    """``digits``, ``cifar10`` or ``cifar100``."""
    if name == "digits":
        return digits()
    if name in CIFAR_FOLDERS:
        return cifar(name, root, download)
    raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")


def augment(images: torch.Tensor, generator: torch.Generator, padding: int = 4) -> torch.Tensor:
    """A batch (B, C, H, W) with each image randomly shifted by up to ``padding`` pixels (zero padding,
    then a random crop) and flipped horizontally with probability 1/2."""
    batch, _, height, width = images.shape
    padded = F.pad(images, (padding,) * 4)
    dx = torch.randint(0, 2 * padding + 1, (batch,), generator=generator)
    dy = torch.randint(0, 2 * padding + 1, (batch,), generator=generator)
    rows = (dy[:, None] + torch.arange(height)[None]).to(images.device)  # (B, H)
    cols = (dx[:, None] + torch.arange(width)[None]).to(images.device)  # (B, W)
    index = torch.arange(batch, device=images.device)[:, None, None]
    cropped = padded.permute(0, 2, 3, 1)[index, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
    flip = (torch.rand(batch, generator=generator) < 0.5).to(images.device)
    return torch.where(flip[:, None, None, None], cropped.flip(-1), cropped)
