"""The one check of an experiment's figure, shared by the experiments' tests."""
from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np


def assert_drawn(path: Path, min_height: int = 100, min_width: int = 100) -> None:
    """``path`` is a PNG matplotlib reads, at least ``min_height`` x ``min_width`` pixels, with
    something drawn on it (not one colour, not an empty canvas)."""
    assert path.is_file() and path.stat().st_size > 0, path.name
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > min_height and pixels.shape[1] > min_width, path.name
    assert pixels.var() > 0, f"{path.name} is blank"
    gray = pixels[..., :3].mean(axis=2)
    assert (gray < 0.9).mean() > 0.01, f"{path.name} is an almost empty canvas"
    assert np.unique(np.round(gray, 2)).size > 10, f"{path.name} has almost no shades"
