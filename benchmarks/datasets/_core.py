from __future__ import annotations

"""The shared core of the benchmark data loaders: :class:`Dataset`, the data root, splits and subsets."""

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ['SENTIMENT_CLASSES', 'NLI_CLASSES', 'PACS_DOMAINS', 'CIFAR10_CLASSES', 'CORRUPTION_FAMILIES', 'DatasetUnavailable', 'Dataset', 'data_root', 'require', 'read_lines', 'subsample', 'stratified_split']

SENTIMENT_CLASSES: tuple[str, str] = ("negative", "positive")
NLI_CLASSES: tuple[str, str, str] = ("entailment", "neutral", "contradiction")
_NLI_INDEX = {name: i for i, name in enumerate(NLI_CLASSES)}
PACS_DOMAINS: tuple[str, ...] = ("photo", "art_painting", "cartoon", "sketch")
CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
#: The ImageNet-C corruption families (Hendrycks & Dietterich, 2019) used for the CIFAR-10-C-style
#: sets. ``glass_blur`` is left out: it takes seconds per image and ignores ``np.random.seed``.
CORRUPTION_FAMILIES: dict[str, tuple[str, ...]] = {
    "noise": ("gaussian_noise", "shot_noise", "impulse_noise"),
    "blur": ("defocus_blur", "motion_blur", "zoom_blur"),
    "weather": ("snow", "frost", "fog", "brightness"),
    "digital": ("contrast", "elastic_transform", "pixelate", "jpeg_compression"),
}


class DatasetUnavailable(FileNotFoundError):
    """A shared data folder (or a file inside it) is absent; callers should skip, not fail."""


@dataclass(frozen=True)
class Dataset:
    """One labelled split.

    Attributes
    ----------
    X : list of str, list of (str, str) tuples, or ndarray of uint8, shape (N, 32, 32, 3)
        The inputs, in the form the frozen backbone expects.
    y : ndarray of int64, shape (N,)
        Integer labels, indices into ``classes``.
    classes : tuple of str
        Class names.
    name : str
        Short identifier, e.g. ``"glue-sst2/test"``.
    note : str
        Provenance and preprocessing in one line (subsampling, truncation, conversions).
    """

    X: Any
    y: np.ndarray
    classes: tuple[str, ...]
    name: str
    note: str = ""

    def __len__(self) -> int:
        return len(self.y)


# --------------------------------------------------------------------------- paths and helpers


def data_root() -> Path:
    """Return the shared data directory (``$SKNMTUNE_DATA_DIR`` or ``<project>/../shared/data``)."""
    env = os.environ.get("SKNMTUNE_DATA_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "shared" / "data"  # <project>/../shared/data


def require(folder: str, *relative: str) -> Path:
    """Return ``data_root()/folder/relative...``, raising :class:`DatasetUnavailable` if absent."""
    base = data_root() / folder
    if not base.is_dir():
        raise DatasetUnavailable(
            f"shared data folder '{folder}' is absent (looked in {base}); "
            "see ../shared/data/README.md or set SKNMTUNE_DATA_DIR"
        )
    path = base.joinpath(*relative)
    if not path.exists():
        raise DatasetUnavailable(f"file '{path.relative_to(data_root())}' is absent from the shared data folder '{folder}'")
    return path


def read_lines(path: Path) -> list[str]:
    """Read a UTF-8 text file split on ``\\n`` only (some files contain NEL characters inside lines)."""
    text = path.read_text(encoding="utf-8-sig")
    return [line.rstrip("\r") for line in text.split("\n") if line.strip()]


def _check_choice(name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not valid; use one of {tuple(allowed)}")


def subsample(ds: Dataset, n: int | None, seed: int = 0) -> Dataset:
    """Return at most ``n`` rows of ``ds`` drawn without replacement with a fixed seed (stratified).

    ``n=None`` or ``n >= len(ds)`` returns ``ds`` unchanged.
    """
    if n is None or n >= len(ds):
        return ds
    keep, _ = _stratified_indices(ds.y, n, seed)
    note = f"{ds.note}; subsampled to {n} of {len(ds)} (stratified, seed {seed})".lstrip("; ")
    return _take(ds, np.sort(keep), ds.name, note)


def stratified_split(ds: Dataset, n_second: int | float, seed: int = 0, names: tuple[str, str] = ("a", "b")) -> tuple[Dataset, Dataset]:
    """Split ``ds`` into two disjoint stratified parts; the second has ``n_second`` rows (or that fraction).

    Returns ``(first, second)``; their names are ``ds.name + "/" + names[i]``.
    """
    n = int(round(n_second * len(ds))) if isinstance(n_second, float) else int(n_second)
    if not 0 < n < len(ds):
        raise ValueError(f"n_second={n_second!r} must leave both parts non-empty (dataset has {len(ds)} rows)")
    second, first = _stratified_indices(ds.y, n, seed)
    tag = f"stratified split seed {seed}"
    note = ds.note if ds.note.endswith(tag) else f"{ds.note}; {tag}".lstrip("; ")
    return (
        _take(ds, np.sort(first), f"{ds.name}/{names[0]}", note),
        _take(ds, np.sort(second), f"{ds.name}/{names[1]}", note),
    )


def _stratified_indices(y: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Pick ``n`` indices keeping class proportions (largest remainders); return (picked, rest)."""
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    quota = counts * n / len(y)
    take = np.floor(quota).astype(int)
    order = np.argsort(-(quota - take), kind="stable")
    take[order[: n - take.sum()]] += 1
    picked = []
    for cls, k in zip(classes, take):
        idx = np.flatnonzero(y == cls)
        picked.append(rng.permutation(idx)[:k])
    chosen = np.concatenate(picked)
    rest = np.setdiff1d(np.arange(len(y)), chosen)
    return chosen, rest


def _take(ds: Dataset, idx: np.ndarray, name: str, note: str) -> Dataset:
    X = ds.X[idx] if isinstance(ds.X, np.ndarray) else [ds.X[i] for i in idx]
    return Dataset(X=X, y=ds.y[idx], classes=ds.classes, name=name, note=note)


def _labels(values: Sequence[int]) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


# --------------------------------------------------------------------------- text: sentiment
