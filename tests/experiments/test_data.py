"""The lab's data: stratified regimes, the CIFAR reader on a CIFAR-format folder made here, digits, augmentation."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from experiments import data


def cifar_folder(root, name: str, per_file: int = 20, seed: int = 0):
    """A folder laid out as torchvision downloads CIFAR (python pickles), with random images."""
    rng = np.random.default_rng(seed)
    folder = root / data.CIFAR_FOLDERS[name]
    folder.mkdir(parents=True)
    train_files, test_files, label_key = data.CIFAR_FILES[name]
    classes = 10 if name == "cifar10" else 100
    for file in train_files + test_files:
        batch = {"data": rng.integers(0, 256, (per_file, 3072), dtype=np.uint8),
                 label_key: [int(v) for v in rng.integers(0, classes, per_file)]}
        with open(folder / file, "wb") as handle:
            pickle.dump(batch, handle)
    return folder


@pytest.mark.parametrize("name, train_count, classes", [("cifar10", 100, 10), ("cifar100", 20, 100)])
def test_cifar_is_read_from_a_folder_in_torchvisions_layout(tmp_path, name, train_count, classes):
    folder = cifar_folder(tmp_path, name)
    dataset = data.load(name, tmp_path)
    assert dataset.train.images.shape == (train_count, 3, 32, 32) and dataset.test.images.shape == (20, 3, 32, 32)
    assert dataset.num_classes == classes and dataset.augment and dataset.image_shape == (3, 32, 32)
    assert dataset.train.labels.dtype == torch.int64
    # Pixel order: CIFAR stores each image as 1024 red, then green, then blue values, row by row.
    _, _, label_key = data.CIFAR_FILES[name]
    with open(folder / data.CIFAR_FILES[name][0][0], "rb") as handle:
        raw = pickle.load(handle)
    first = torch.tensor(raw["data"][0], dtype=torch.float32).reshape(3, 32, 32) / 255
    for channel in range(3):  # normalisation is affine per channel: the same picture, rescaled
        pair = torch.stack([dataset.train.images[0, channel].flatten(), first[channel].flatten()])
        assert torch.corrcoef(pair)[0, 1] > 0.9999
    assert abs(float(dataset.train.images.mean())) < 1e-4
    assert dataset.train.labels[0].item() == raw[label_key][0]


def test_download_goes_through_torchvision_and_its_checksums(tmp_path, monkeypatch):
    """``--download``: torchvision fetches the archive (here from a web server on this machine, serving one
    made from a CIFAR-format folder), checks its MD5s, unpacks it, and the reader takes it from there."""
    import functools
    import hashlib
    import http.server
    import tarfile
    import threading

    import torchvision

    folder = cifar_folder(tmp_path / "site", "cifar10")
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump({"label_names": [f"class {i}" for i in range(10)]}, handle)
    archive = tmp_path / "site" / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)

    def md5(path) -> str:
        return hashlib.md5(path.read_bytes()).hexdigest()

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(archive.parent))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    site = torchvision.datasets.CIFAR10
    monkeypatch.setattr(site, "url", f"http://127.0.0.1:{server.server_port}/{archive.name}")
    monkeypatch.setattr(site, "tgz_md5", md5(archive))
    monkeypatch.setattr(site, "train_list", [[name, md5(folder / name)] for name, _ in site.train_list])
    monkeypatch.setattr(site, "test_list", [[name, md5(folder / name)] for name, _ in site.test_list])
    monkeypatch.setattr(site, "meta", {**site.meta, "md5": md5(folder / "batches.meta")})
    root = tmp_path / "data"
    dataset = data.load("cifar10", root, download=True)
    assert (root / "cifar-10-python.tar.gz").is_file() and (root / "cifar-10-batches-py" / "data_batch_5").is_file()
    assert dataset.train.images.shape == (100, 3, 32, 32) and dataset.test.images.shape == (20, 3, 32, 32)

    monkeypatch.setattr(site, "tgz_md5", "0" * 32)  # an archive that does not match its checksum is refused
    try:
        with pytest.raises(RuntimeError):
            data.load("cifar10", tmp_path / "elsewhere", download=True)
    finally:
        server.shutdown()


def test_a_missing_or_incomplete_cifar_folder_says_what_to_do(tmp_path):
    with pytest.raises(data.DataNotFound, match="--download"):
        data.load("cifar10", tmp_path)
    folder = cifar_folder(tmp_path, "cifar10")
    (folder / "data_batch_3").unlink()
    with pytest.raises(data.DataNotFound, match="data_batch_3 is missing"):
        data.load("cifar10", tmp_path)
    with pytest.raises(ValueError, match="unknown dataset"):
        data.load("mnist", tmp_path)


def test_stratified_subsets_take_each_class_equally_and_are_fixed_by_the_seed():
    labels = torch.arange(10).repeat_interleave(torch.arange(30, 130, 10))  # 30 to 120 examples per class
    chosen = data.stratified_indices(labels, 203, seed=1)
    counts = torch.bincount(labels[chosen], minlength=10)
    assert counts.tolist() == [21, 21, 21] + [20] * 7 and len(set(chosen.tolist())) == 203
    assert torch.equal(chosen, data.stratified_indices(labels, 203, seed=1))
    assert not torch.equal(chosen, data.stratified_indices(labels, 203, seed=2))
    with pytest.raises(ValueError, match="class 0 has 30 examples"):
        data.stratified_indices(labels, 400)


def test_regimes_cut_the_training_split_only():
    digits = data.digits()
    assert digits.image_shape == (1, 16, 16) and (len(digits.train), len(digits.test)) == (1437, 360)
    small = data.regime(digits, "1k")
    assert len(small.train) == 1000 and small.test is digits.test
    assert data.regime(digits, "10k") is digits and data.regime(digits, "full") is digits
    with pytest.raises(ValueError, match="unknown data regime"):
        data.regime(digits, "5k")


def test_augmentation_shifts_and_flips_images_reproducibly():
    images = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8) + 1
    first = data.augment(images, torch.Generator().manual_seed(0), padding=2)
    again = data.augment(images, torch.Generator().manual_seed(0), padding=2)
    assert first.shape == images.shape and torch.equal(first, again)
    values = set(images.flatten().tolist()) | {0.0}
    assert set(first.flatten().tolist()) <= values  # pixels move (or are padding); none are invented
    many = data.augment(images.repeat(50, 1, 1, 1), torch.Generator().manual_seed(1), padding=2)
    assert not torch.equal(many, images.repeat(50, 1, 1, 1))
    unshifted = data.augment(images, torch.Generator().manual_seed(3), padding=0)
    assert all(torch.equal(u, i) or torch.equal(u, i.flip(-1)) for u, i in zip(unshifted, images))
