"""Augmented views of training images: the authors' random resized crop + horizontal flip, seeded per sample.

NMTune's authors feed every training image through the frozen backbone as two augmented views
(``RandomResizedCrop(size, scale=(0.8, 1.0))`` + ``RandomHorizontalFlip``) and compare one view's ``Z``
with the other view's ``F``. A frozen backbone makes those features cacheable: this module draws ``K``
views per image once, each from a generator seeded by ``(random_state, view index, the image's content
key)``, so the same image gets the same view whatever its position, its batch-mates or the subset it
is extracted with (the folds of a ``GridSearchCV``), and the feature cache can hold view ``k`` of an
image like any other feature.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch

__all__ = ["ViewSpec", "resolve_view_spec", "view_seeds", "random_resized_crop"]

#: the authors' recipe (their training transform): area scale 0.8-1.0, torchvision's default aspect
#: ratios, horizontal flip with probability 0.5
AUTHORS_AUGMENTATION: dict[str, Any] = {"scale": (0.8, 1.0), "ratio": (3.0 / 4.0, 4.0 / 3.0), "hflip": True}

# bump when the sampling below changes: cached views made by an older rule are then never read
_ALGORITHM = "rrc-v1"


@dataclass(frozen=True)
class ViewSpec:
    """How the augmented views are drawn (``scale`` / ``ratio`` as in torchvision's RandomResizedCrop)."""

    scale: tuple[float, float]
    ratio: tuple[float, float]
    hflip: bool
    random_state: int

    def identity(self, view: int) -> str:
        """The cache-namespace suffix of view ``view`` (covers the augmentation, the seed and the index)."""
        return (f"view={_ALGORITHM}(scale={self.scale!r}, ratio={self.ratio!r}, hflip={self.hflip}, "
                f"random_state={self.random_state}, index={view})")


def resolve_view_spec(augmentation: dict[str, Any] | None, random_state: Any) -> ViewSpec:
    """Validate the transformer's ``view_augmentation`` and ``random_state`` into a :class:`ViewSpec`."""
    options = dict(AUTHORS_AUGMENTATION)
    if augmentation is not None:
        if not isinstance(augmentation, dict):
            raise TypeError(f"view_augmentation must be a dict or None; got {type(augmentation).__name__}.")
        unknown = sorted(set(augmentation) - set(options))
        if unknown:
            raise ValueError(f"view_augmentation has unknown keys {unknown}; allowed: {sorted(options)}.")
        options.update(augmentation)
    scale, ratio = _pair("scale", options["scale"]), _pair("ratio", options["ratio"])
    if not 0 < scale[0] <= scale[1] <= 1:
        raise ValueError(f"view_augmentation['scale'] must satisfy 0 < low <= high <= 1; got {scale}.")
    if not 0 < ratio[0] <= ratio[1]:
        raise ValueError(f"view_augmentation['ratio'] must satisfy 0 < low <= high; got {ratio}.")
    if not isinstance(options["hflip"], (bool, np.bool_)):
        raise TypeError(f"view_augmentation['hflip'] must be a bool; got {options['hflip']!r}.")
    if random_state is None or isinstance(random_state, bool) or not isinstance(random_state, Integral) or random_state < 0:
        raise ValueError(
            "random_state must be a non-negative int when views > 0 (it seeds the augmented views, which the "
            f"feature cache stores per seed); got {random_state!r}."
        )
    return ViewSpec(scale, ratio, bool(options["hflip"]), int(random_state))


def _pair(name: str, value: Any) -> tuple[float, float]:
    try:
        low, high = value
    except (TypeError, ValueError):
        raise ValueError(f"view_augmentation[{name!r}] must be a pair (low, high); got {value!r}.") from None
    if not all(isinstance(v, Real) and math.isfinite(v) for v in (low, high)):
        raise ValueError(f"view_augmentation[{name!r}] must hold finite numbers; got {value!r}.")
    return float(low), float(high)


def view_seeds(keys: np.ndarray, view: int, random_state: int) -> np.ndarray:
    """One 63-bit seed per sample for view ``view``: a hash of the seed, the view index and the content key."""
    prefix = f"{_ALGORITHM}:{random_state}:{view}:".encode()
    return np.array(
        [int.from_bytes(hashlib.blake2b(prefix + bytes(k), digest_size=8).digest(), "little") >> 1 for k in keys],
        dtype=np.int64,
    )


def _crop_box(height: int, width: int, spec: ViewSpec, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """``(top, left, h, w)`` of a random crop covering ``scale`` of the area at an aspect ratio in ``ratio``.

    Ten tries as torchvision does, then the central crop clamped to ``ratio`` as the fallback.
    """
    area = height * width
    log_ratio = (math.log(spec.ratio[0]), math.log(spec.ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(spec.scale[0], spec.scale[1])
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            return top, left, h, w
    in_ratio = width / height
    if in_ratio < spec.ratio[0]:
        w, h = width, int(round(width / spec.ratio[0]))
    elif in_ratio > spec.ratio[1]:
        h, w = height, int(round(height * spec.ratio[1]))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def random_resized_crop(
    x: torch.Tensor, size: tuple[int, int], interpolation: str, spec: ViewSpec, seed: int
) -> torch.Tensor:
    """One augmented view of a float ``(C, H, W)`` image: random crop resized to ``size``, maybe flipped."""
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as TF

    rng = np.random.default_rng(int(seed))
    top, left, h, w = _crop_box(int(x.shape[-2]), int(x.shape[-1]), spec, rng)
    flip = spec.hflip and bool(rng.random() < 0.5)
    out = TF.resized_crop(x, top, left, h, w, list(size), interpolation=InterpolationMode(interpolation), antialias=True)
    return TF.horizontal_flip(out) if flip else out
