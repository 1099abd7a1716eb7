"""CIFAR-10 (JPEG-75 copy) loader for the benchmarks: decode the stored zips once, cache as ``.npy``.

The shared copy (``../shared/data/cifar10-jpg``) holds ``train_jpg.zip`` and ``test_jpg.zip`` with
members ``<split>/<class>/<NNNN>.jpg``. Images are decoded with Pillow to uint8 ``(N, 32, 32, 3)`` RGB,
members sorted by path, labels in the standard CIFAR-10 class order (which is alphabetical).
Decoded arrays are cached as ``<cache_dir>/cifar10_<split>_{images,labels}.npy`` so a second call
costs a memory map, not 60k JPEG decodes.

This module needs only NumPy and Pillow, so it runs on a bare GPU machine.

Example
-------
>>> from benchmarks.harness.noisy_pretraining.cifar10 import load_cifar10, cifar10_available  # doctest: +SKIP
>>> if cifar10_available():                                         # doctest: +SKIP
...     X, y = load_cifar10("test")
...     X.shape, X.dtype
((10000, 32, 32, 3), dtype('uint8'))
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np

from benchmarks.harness.io import CACHE_DIR, ROOT

__all__ = ["CIFAR10_CLASSES", "DEFAULT_CIFAR_DIR", "cifar10_available", "load_cifar10"]

CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
DEFAULT_CIFAR_DIR = ROOT.parent / "shared" / "data" / "cifar10-jpg"
_SPLITS = ("train", "test")


def cifar10_available(data_dir: str | os.PathLike | None = None) -> bool:
    """Return True when both ``train_jpg.zip`` and ``test_jpg.zip`` exist in ``data_dir``."""
    d = Path(data_dir) if data_dir is not None else DEFAULT_CIFAR_DIR
    return all((d / f"{s}_jpg.zip").is_file() for s in _SPLITS)


def _decode_zip(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image  # local: Pillow is only needed on a cache miss

    class_index = {c: i for i, c in enumerate(CIFAR10_CLASSES)}
    with zipfile.ZipFile(path) as zf:
        names = sorted(n for n in zf.namelist() if n.lower().endswith(".jpg"))
        if not names:
            raise ValueError(f"{path} holds no .jpg members")
        images = np.empty((len(names), 32, 32, 3), dtype=np.uint8)
        labels = np.empty(len(names), dtype=np.int64)
        for i, name in enumerate(names):
            parts = name.split("/")
            if len(parts) < 3 or parts[-3] != split or parts[-2] not in class_index:
                raise ValueError(f"unexpected member {name!r} in {path}; expected '{split}/<class>/<file>.jpg'")
            with Image.open(io.BytesIO(zf.read(name))) as im:
                arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
            if arr.shape != (32, 32, 3):
                raise ValueError(f"{name!r} in {path} decodes to shape {arr.shape}, expected (32, 32, 3)")
            images[i] = arr
            labels[i] = class_index[parts[-2]]
    return images, labels


def _atomic_save(path: Path, arr: np.ndarray) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}.npy")
    np.save(tmp, arr)
    os.replace(tmp, path)


def load_cifar10(
    split: str = "train",
    *,
    data_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Load one CIFAR-10 split as ``(images uint8 (N, 32, 32, 3), labels int64 (N,))``.

    Parameters
    ----------
    split : {"train", "test"}
        50,000 or 10,000 images.
    data_dir : path, optional
        Folder holding ``<split>_jpg.zip``; defaults to ``../shared/data/cifar10-jpg``.
    cache_dir : path, optional
        Where decoded ``.npy`` files are kept; defaults to ``benchmarks/cache``. Pass ``False``-y
        ``""`` to disable caching.

    Raises
    ------
    FileNotFoundError
        When the zip is absent (callers that are tests should skip on :func:`cifar10_available`).
    """
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS}, got {split!r}")
    d = Path(data_dir) if data_dir is not None else DEFAULT_CIFAR_DIR
    zpath = d / f"{split}_jpg.zip"
    cache = None if cache_dir == "" else Path(cache_dir) if cache_dir is not None else CACHE_DIR
    if cache is not None:
        fx, fy = cache / f"cifar10_{split}_images.npy", cache / f"cifar10_{split}_labels.npy"
        if fx.is_file() and fy.is_file():
            return np.load(fx), np.load(fy)
    if not zpath.is_file():
        raise FileNotFoundError(
            f"CIFAR-10 zip not found: {zpath}. Point data_dir at a folder holding train_jpg.zip and test_jpg.zip."
        )
    images, labels = _decode_zip(zpath, split)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        _atomic_save(fx, images)
        _atomic_save(fy, labels)
    return images, labels
