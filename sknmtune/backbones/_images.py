"""Image preprocessing: resolve resize/crop/normalize, decode samples and produce device batches.

The eval transform follows timm's: resize the shorter side to ``floor(size / crop_pct)`` (both sides
for non-square targets), center-crop to ``size``, scale to [0, 1] and normalize with ``mean``/``std``.
Resizing runs on float tensors (torchvision, antialiased), batched on the device for in-memory arrays
and per sample in DataLoader workers for files, PIL images and Datasets, so the same picture gives the
same features whichever way it is passed.
"""

from __future__ import annotations

import math
import os
import pickle
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ._inputs import Inputs, _first, _is_pil
from ._views import ViewSpec, random_resized_crop

__all__ = ["AugmentedView", "ImageSpec", "resolve_image_spec", "iter_image_batches", "check_image_array", "as_file_inputs"]

_INTERPOLATIONS = ("bilinear", "bicubic", "nearest")


@dataclass(frozen=True)
class ImageSpec:
    """A resolved eval transform.

    ``size`` is the (H, W) fed to the model, or ``None`` to keep each image's own size ("native");
    ``mean``/``std`` ``None`` means no normalization beyond scaling to [0, 1].
    """

    size: tuple[int, int] | None
    crop_pct: float
    interpolation: str
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    in_chans: int = 3

    @property
    def scale_size(self) -> int | tuple[int, int] | None:
        if self.size is None:
            return None
        h, w = self.size
        if h == w:
            return int(math.floor(h / self.crop_pct))
        return (int(math.floor(h / self.crop_pct)), int(math.floor(w / self.crop_pct)))

    def identity(self) -> str:
        return repr(self)


def resolve_image_spec(
    defaults: dict[str, Any] | None,
    *,
    image_size: int | Sequence[int] | str | None,
    crop_pct: float | None,
    interpolation: str | None,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
    in_chans: int = 3,
) -> ImageSpec:
    """Merge a timm data config (``defaults``, may be ``None``) with the user's overrides."""
    defaults = defaults or {}
    if isinstance(image_size, str):
        if image_size != "native":
            raise ValueError(f"image_size must be an int, an (H, W) pair, 'native' or None; got {image_size!r}.")
        size = None
    elif image_size is None:
        size = tuple(defaults["input_size"][-2:]) if "input_size" in defaults else None
    elif isinstance(image_size, (int, np.integer)):
        size = (int(image_size), int(image_size))
    else:
        size = tuple(int(s) for s in image_size)
        if len(size) != 2:
            raise ValueError(f"image_size must be an int or an (H, W) pair; got {image_size!r}.")
    if size is not None and min(size) < 1:
        raise ValueError(f"image_size must be positive; got {image_size!r}.")
    crop = float(crop_pct if crop_pct is not None else defaults.get("crop_pct", 1.0))
    if not 0 < crop <= 1:
        raise ValueError(f"crop_pct must be in (0, 1]; got {crop_pct!r}.")
    interp = interpolation or defaults.get("interpolation", "bilinear")
    if interp not in _INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {_INTERPOLATIONS}; got {interp!r}.")
    mean = mean if mean is not None else defaults.get("mean")
    std = std if std is not None else defaults.get("std")
    if (mean is None) != (std is None):
        raise ValueError("mean and std must be given together.")
    if mean is not None:
        mean, std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
        if len(mean) != len(std) or len(mean) not in (1, in_chans):
            raise ValueError(f"mean/std must have 1 or {in_chans} entries; got {len(mean)} and {len(std)}.")
        if min(std) <= 0:
            raise ValueError(f"std must be positive; got {std}.")
    return ImageSpec(size, crop, interp, mean, std, in_chans)


# ----------------------------------------------------------------------------------------------- arrays


def array_layout(shape: tuple[int, ...], in_chans: int) -> str:
    """``"nhw"``, ``"nhwc"`` or ``"nchw"`` for an image array shape, or a ``ValueError``."""
    ok = {1, in_chans}
    if len(shape) == 3:
        return "nhw"
    if len(shape) != 4:
        raise ValueError(
            f"Image arrays must have rank 3 (N, H, W) or 4 (N, H, W, C) / (N, C, H, W); got shape {shape}."
        )
    if shape[-1] in ok and shape[1] not in ok:
        return "nhwc"
    if shape[1] in ok and shape[-1] not in ok:
        return "nchw"
    if shape[-1] in ok:
        return "nhwc"
    raise ValueError(
        f"Image array of shape {shape} has no channel axis of size {sorted(ok)}: expected (N, H, W, C) or "
        f"(N, C, H, W) with C in {sorted(ok)}, or grayscale (N, H, W)."
    )


def check_image_array(X: np.ndarray, in_chans: int) -> str:
    """Validate an image array (rank, channels, float range) and return its layout."""
    layout = array_layout(X.shape, in_chans)
    if X.dtype.kind == "f":
        if not np.isfinite(X).all():
            raise ValueError("Image array contains NaN or infinity.")
        lo, hi = float(X.min()), float(X.max())
        if lo < -1e-3 or hi > 1 + 1e-3:
            raise ValueError(
                f"Float image arrays must hold values in [0, 1]; got range [{lo:.3g}, {hi:.3g}]. "
                "Pass uint8 images (0-255) or divide by 255."
            )
    elif X.dtype != np.uint8:
        hi = int(X.max())
        lo = int(X.min())
        if lo < 0 or hi > 255:
            raise ValueError(f"Integer image arrays must hold values in [0, 255]; got range [{lo}, {hi}].")
    return layout


def _to_nchw(batch: torch.Tensor, layout: str) -> torch.Tensor:
    if layout == "nhw":
        return batch.unsqueeze(1)
    if layout == "nhwc":
        return batch.permute(0, 3, 1, 2)
    return batch


# ----------------------------------------------------------------------------------------------- transform


def _resize_crop(x: torch.Tensor, spec: ImageSpec) -> torch.Tensor:
    """Resize then center-crop a float (..., C, H, W) tensor per ``spec`` (no-op when already right)."""
    if spec.size is None:
        return x
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as TF

    h, w = x.shape[-2:]
    scale = spec.scale_size
    if isinstance(scale, int):
        if min(h, w) != scale:
            x = TF.resize(x, [scale], interpolation=InterpolationMode(spec.interpolation), antialias=True)
    elif (h, w) != scale:
        x = TF.resize(x, list(scale), interpolation=InterpolationMode(spec.interpolation), antialias=True)
    if tuple(x.shape[-2:]) != spec.size:
        x = TF.center_crop(x, list(spec.size))
    return x


def _fix_channels(x: torch.Tensor, in_chans: int, where: str) -> torch.Tensor:
    c = x.shape[-3]
    if c == in_chans:
        return x
    if c == 1:
        return x.expand(*x.shape[:-3], in_chans, *x.shape[-2:])
    raise ValueError(f"{where} has {c} channels but the backbone expects {in_chans} (or 1, which is replicated).")


def finish_batch(
    x: torch.Tensor, spec: ImageSpec | None, *, resized: bool, channels_last: bool, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """uint8/float NCHW batch on the device -> float batch ready for the model.

    uint8 is scaled to [0, 1]; with a ``spec`` grayscale is replicated to ``in_chans``, the batch is
    resized/cropped (unless ``resized``) and normalized.
    """
    x = x.to(dtype) / 255.0 if x.dtype == torch.uint8 else x.to(dtype)
    if spec is not None and x.ndim == 4:
        x = _fix_channels(x, spec.in_chans, "The image batch")
        if not resized:
            x = _resize_crop(x, spec)
        if spec.mean is not None:
            mean = torch.tensor(spec.mean, device=x.device, dtype=dtype).view(1, -1, 1, 1)
            std = torch.tensor(spec.std, device=x.device, dtype=dtype).view(1, -1, 1, 1)
            x = (x - mean) / std
    if x.ndim != 4:
        return x.contiguous()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return x.contiguous(memory_format=fmt)


# ----------------------------------------------------------------------------------------------- samples


def as_file_inputs(inputs: Inputs) -> Inputs:
    """Turn a list of strings into a list of image files, or explain why they are not."""
    items = inputs.data
    exists = [os.path.isfile(p) for p in items]
    if not any(exists):
        raise ValueError(
            f"Got a list of {len(items)} strings, but the backbone is an image model and none of them is an "
            f"existing file (first: {str(items[0])!r:.80}). Text needs a text backbone (a sentence-transformers "
            "model name or directory); images can be passed as file paths, PIL images or arrays."
        )
    missing = exists.index(False) if not all(exists) else None
    if missing is not None:
        raise FileNotFoundError(f"Image file {str(items[missing])!r} (index {missing}) does not exist.")
    return Inputs("files", [os.fspath(p) for p in items])


def load_image(item: Any, index: int, in_chans: int, *, raw_float: bool = False) -> torch.Tensor:
    """Decode one sample (path, PIL image, HWC/CHW/HW array or tensor) into a CHW tensor.

    Images come back as float in [0, 1]. With ``raw_float`` a float array is returned unchanged
    (plain module backbones take numeric tensors as they are).
    """
    from PIL import Image, UnidentifiedImageError

    mode = "L" if in_chans == 1 else "RGB"
    if isinstance(item, (str, os.PathLike)):
        try:
            with Image.open(item) as img:
                item = img.convert(mode)
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"Image file {os.fspath(item)!r} (index {index}) does not exist.") from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise ValueError(f"Cannot read image file {os.fspath(item)!r} (index {index}): {exc}") from exc
    if _is_pil(item):
        if item.mode != mode:
            item = item.convert(mode)
        arr = torch.from_numpy(np.array(item, dtype=np.uint8, copy=True))
        arr = arr.unsqueeze(0) if arr.ndim == 2 else arr.permute(2, 0, 1)
        return arr.float().div_(255.0)
    t = item if isinstance(item, torch.Tensor) else torch.as_tensor(np.asarray(item))
    if raw_float and t.dtype.is_floating_point:
        return t.float()
    if t.ndim == 2:
        t = t.unsqueeze(0)
    elif t.ndim == 3:
        ok = {1, in_chans}
        if t.shape[-1] in ok and t.shape[0] not in ok:
            t = t.permute(2, 0, 1)
        elif t.shape[0] not in ok:
            raise ValueError(
                f"Image at index {index} has shape {tuple(t.shape)}: expected (H, W), (H, W, C) or (C, H, W) "
                f"with C in {sorted(ok)}."
            )
    else:
        raise ValueError(f"Image at index {index} has rank {t.ndim}; expected 2 (grayscale) or 3.")
    if t.dtype.is_floating_point:
        if not torch.isfinite(t).all() or t.min() < -1e-3 or t.max() > 1 + 1e-3:
            raise ValueError(f"Float image at index {index} must hold finite values in [0, 1].")
        return t.float()
    return t.float().div_(255.0)


@dataclass(frozen=True)
class AugmentedView:
    """One augmented view to extract: how views are drawn, and each input position's seed for this view."""

    spec: ViewSpec
    seeds: np.ndarray  # int64, one per position of the inputs


class _WorkerFailure:
    """An exception raised in a DataLoader worker, carried to the main process as data.

    torch re-raises worker errors as ``"Caught ValueError in DataLoader worker process 0. Original
    Traceback ..."``, which buries the message; this carrier lets :func:`_reraise` raise the original
    message first (the worker's traceback becomes a note).
    """

    def __init__(self, exc: BaseException) -> None:
        self.exc_type, self.args_ = type(exc), exc.args
        try:  # the carrier crosses a process boundary: keep only what pickles
            pickle.dumps((self.exc_type, self.args_))
        except Exception:
            self.exc_type, self.args_ = RuntimeError, (f"{type(exc).__name__}: {exc}",)
        self.message = str(exc) if self.exc_type is type(exc) else self.args_[0]
        self.traceback = "".join(traceback.format_exception(exc))


def _reraise(failure: _WorkerFailure) -> None:
    try:
        exc = failure.exc_type(*failure.args_)
        if str(exc) != failure.message:
            raise TypeError
    except Exception:  # an exception type that cannot be rebuilt from its args
        exc = RuntimeError(f"{failure.exc_type.__name__}: {failure.message}")
    if hasattr(exc, "add_note"):  # Python >= 3.11
        exc.add_note("(raised in a DataLoader worker process; its traceback:)\n" + failure.traceback.rstrip())
    raise exc


class _Samples(Dataset):
    """Positions ``indices`` of an input, decoded (and resized) per sample, for a DataLoader.

    With ``capture_errors`` (worker processes) a sample that fails to decode returns a
    :class:`_WorkerFailure` instead of raising, so the main process can raise its message first.
    """

    def __init__(
        self, inputs: Inputs, indices: np.ndarray, spec: ImageSpec | None, raw_float: bool, capture_errors: bool = False,
        view: AugmentedView | None = None,
    ) -> None:
        self.data, self.indices, self.spec, self.raw_float = inputs.data, indices, spec, raw_float
        self.capture_errors, self.view = capture_errors, view

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor] | _WorkerFailure:
        if not self.capture_errors:
            return self._decode(i)
        try:
            return self._decode(i)
        except Exception as exc:
            return _WorkerFailure(exc)

    def _decode(self, i: int) -> tuple[int, torch.Tensor]:
        index = int(self.indices[i])
        in_chans = self.spec.in_chans if self.spec is not None else 3
        x = load_image(_first(self.data[index]), index, in_chans, raw_float=self.raw_float)
        if self.spec is not None and x.ndim == 3:
            x = _fix_channels(x, in_chans, f"Image at index {index}")
            if self.view is None:
                x = _resize_crop(x, self.spec)
            else:
                x = random_resized_crop(x, self.spec.size, self.spec.interpolation, self.view.spec, self.view.seeds[index])
        return index, x


def _collate_or_failure(batch: list[Any]) -> tuple[np.ndarray, torch.Tensor] | _WorkerFailure:
    """:func:`_collate` in a worker process: the first failure (of a sample or of collating) is returned."""
    for item in batch:
        if isinstance(item, _WorkerFailure):
            return item
    try:
        return _collate(batch)
    except Exception as exc:
        return _WorkerFailure(exc)


def _collate(batch: list[tuple[int, torch.Tensor]]) -> tuple[np.ndarray, torch.Tensor]:
    indices = np.array([b[0] for b in batch], dtype=np.int64)
    shapes = [tuple(b[1].shape) for b in batch]
    if len(set(shapes)) > 1:
        j = next(k for k, s in enumerate(shapes) if s != shapes[0])
        raise ValueError(
            f"Samples have different sizes ({shapes[0]} at index {indices[0]}, {shapes[j]} at index {indices[j]}) "
            "and no resizing is configured; pass image_size=... (e.g. the model's input size) to resize them."
        )
    return indices, torch.stack([b[1] for b in batch])


def iter_image_batches(
    inputs: Inputs,
    indices: np.ndarray,
    spec: ImageSpec | None,
    *,
    batch_size: int,
    device: torch.device,
    num_workers: int,
    channels_last: bool,
    raw_float: bool = False,
    view: AugmentedView | None = None,
) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
    """Yield ``(positions, model-ready batch on device)`` over ``indices`` of ``inputs``.

    In-memory arrays are sliced batch by batch in this process (uint8 is moved to the device before
    the float conversion); other inputs go through a DataLoader with ``num_workers`` decoders and
    pinned memory on CUDA. ``spec=None`` passes numeric arrays through unchanged. With ``view`` each
    image is cropped per sample by the view's seeded random resized crop instead of the eval
    transform's resize and center crop (arrays then go through the per-sample path too).
    """
    pin = device.type == "cuda"
    if view is not None and (spec is None or spec.size is None):
        raise ValueError(
            "Augmented views need an image backbone with a fixed input size (a timm model, or a module backbone "
            "with image_size=...); this one takes its inputs unchanged."
        )
    if isinstance(inputs.data, np.ndarray) and view is None:
        arr = inputs.data
        image = arr.dtype.kind in "ui" or not raw_float
        layout = array_layout(arr.shape, spec.in_chans if spec is not None else 3) if image else None
        contiguous = bool(len(indices)) and np.array_equal(indices, np.arange(indices[0], indices[0] + len(indices)))
        for start in range(0, len(indices), batch_size):
            pos = indices[start : start + batch_size]
            chunk = arr[pos[0] : pos[-1] + 1] if contiguous else arr[pos]
            if not (chunk.flags.writeable and chunk.flags.c_contiguous):
                chunk = np.array(chunk)
            x = torch.from_numpy(chunk)
            if pin:
                x = x.pin_memory()
            x = x.to(device, non_blocking=pin)
            if not image:
                yield pos, x.float()
                continue
            yield pos, finish_batch(_to_nchw(x, layout), spec, resized=False, channels_last=channels_last)
        return
    workers = num_workers > 0
    loader = DataLoader(
        _Samples(inputs, indices, spec, raw_float, capture_errors=workers, view=view),
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=_collate_or_failure if workers else _collate,
        pin_memory=pin,
        generator=torch.Generator(),  # its base seed is drawn from here, not from the global RNG
    )
    for batch in loader:
        if isinstance(batch, _WorkerFailure):
            _reraise(batch)
        pos, x = batch
        x = x.to(device, non_blocking=pin)
        yield pos, finish_batch(x, spec, resized=True, channels_last=channels_last)
