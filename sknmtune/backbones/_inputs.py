"""Input normalization for :class:`FrozenBackboneTransformer`: what was passed, and per-sample content keys.

``as_inputs(X)`` inspects ``X`` once and returns an :class:`Inputs` record naming its modality:

============  ==============================================================
``images``    numeric array (N, H, W, C), (N, C, H, W) or grayscale (N, H, W)
``vectors``   numeric array of any other rank (2-D feature vectors, ...)
``image_list``  list of PIL images or of per-image arrays (sizes may differ)
``strings``   list of ``str``/``os.PathLike`` (text, or image file paths)
``pairs``     list of 2-tuples of strings (sentence pairs)
``dataset``   a :class:`torch.utils.data.Dataset` (data larger than memory)
============  ==============================================================

Backbones then accept or reject a modality with an error that says what was given and what was
expected. Content keys (16-byte BLAKE2b digests of each sample's bytes) key the feature cache.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = ["Inputs", "as_inputs", "content_key", "describe"]

_KEY_SIZE = 16


@dataclass
class Inputs:
    """A validated batch-able view of ``X``.

    Attributes
    ----------
    modality : str
        One of ``images``, ``vectors``, ``image_list``, ``strings``, ``pairs``, ``dataset``.
    data : object
        The underlying container (ndarray, list or Dataset); never copied.
    """

    modality: str
    data: Any
    _keys: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.data)

    def take(self, indices: np.ndarray) -> Any:
        """The raw samples at ``indices``: an ndarray slice for arrays, a list otherwise."""
        if isinstance(self.data, np.ndarray):
            return self.data[indices]
        return [self.data[int(i)] for i in indices]

    def keys(self) -> np.ndarray:
        """Per-sample content keys, shape (n,), dtype ``S16`` (computed once, then reused)."""
        if self._keys is None:
            if self.modality in ("images", "vectors"):
                arr = self.data
                tag = f"{self.modality}:{arr.dtype.str}:{arr.shape[1:]}".encode()
                keys = [_digest(tag, np.ascontiguousarray(row).data) for row in arr]
            elif self.modality == "dataset":
                keys = [content_key(_first(self.data[i])) for i in range(len(self.data))]
            else:
                keys = [content_key(item, files=self.modality == "files") for item in self.data]
            self._keys = np.array(keys, dtype=f"S{_KEY_SIZE}")
        return self._keys


def _first(item: Any) -> Any:
    """Dataset items may be ``(input, target)`` tuples; keep the input."""
    if isinstance(item, tuple) and len(item) == 2 and not all(isinstance(v, str) for v in item):
        return item[0]
    return item


def _digest(*parts: bytes | memoryview) -> bytes:
    h = hashlib.blake2b(digest_size=_KEY_SIZE)
    for part in parts:
        h.update(part)
    return h.digest()


def content_key(item: Any, *, files: bool = False) -> bytes:
    """A 16-byte digest of one sample's content.

    Strings hash their text, or (``files=True``) the bytes of the file they name; arrays and tensors
    hash dtype, shape and bytes; PIL images hash mode, size and pixels; pairs hash both members.
    """
    if isinstance(item, (str, os.PathLike)) and files:
        h = hashlib.blake2b(digest_size=_KEY_SIZE)
        h.update(b"file:")
        with open(item, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return h.digest()
    if isinstance(item, str):
        return _digest(b"text:", item.encode("utf-8", "surrogatepass"))
    if isinstance(item, tuple):
        return _digest(b"tuple:", *(content_key(v, files=files) for v in item))
    if isinstance(item, torch.Tensor):
        item = item.detach().cpu().numpy()
    if isinstance(item, np.ndarray):
        arr = np.ascontiguousarray(item)
        return _digest(f"array:{arr.dtype.str}:{arr.shape}".encode(), arr.data)
    if _is_pil(item):
        return _digest(f"pil:{item.mode}:{item.size}".encode(), item.tobytes())
    raise TypeError(f"cannot compute a cache key for a sample of type {type(item).__name__}.")


def _is_pil(obj: Any) -> bool:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow is a dependency
        return False
    return isinstance(obj, Image.Image)


def describe(inputs: Inputs) -> str:
    """A short human description of the input, for error messages."""
    what = {
        "images": "an image array",
        "vectors": "a numeric array",
        "image_list": "a list of images",
        "strings": "a list of strings",
        "files": "a list of image file paths",
        "pairs": "a list of sentence pairs",
        "dataset": "a torch Dataset",
    }[inputs.modality]
    if isinstance(inputs.data, np.ndarray):
        what += f" of shape {inputs.data.shape} (rank {inputs.data.ndim})"
    return what


def as_inputs(X: Any) -> Inputs:
    """Classify ``X`` and validate what can be validated without a backbone.

    Raises
    ------
    ValueError
        Empty input, a single string, or a list mixing incompatible sample types.
    TypeError
        Sparse matrices or objects that are neither arrays, sequences nor Datasets.
    """
    if isinstance(X, Dataset) and not isinstance(X, (list, tuple)):
        if len(X) == 0:  # type: ignore[arg-type]
            raise ValueError("Empty input: the Dataset has 0 samples.")
        return Inputs("dataset", X)
    if isinstance(X, (str, bytes, os.PathLike)):
        raise ValueError(f"Expected a list of samples, got a single {type(X).__name__}; wrap it in a list: [X].")
    if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
        raise TypeError("Sparse input is not supported by FrozenBackboneTransformer; pass a dense array.")
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    if hasattr(X, "to_numpy") and not isinstance(X, np.ndarray):  # pandas Series / DataFrame
        X = X.to_numpy()
    if hasattr(X, "__array__") and not isinstance(X, (np.ndarray, Sequence)):
        X = np.asarray(X)
    if isinstance(X, np.ndarray) and (X.dtype.kind in "biufc" or (X.dtype.kind == "O" and X.ndim >= 2)):
        return _array_inputs(X)
    if not isinstance(X, Sequence) and not isinstance(X, np.ndarray):
        raise TypeError(
            f"Unsupported input type {type(X).__name__}: pass an array, a list of strings/pairs/file paths/PIL "
            "images, or a torch Dataset."
        )
    items = list(X)
    if not items:
        raise ValueError("Empty input: X has 0 samples.")
    first = items[0]
    if isinstance(first, (str, os.PathLike)):
        bad = _first_not(items, lambda v: isinstance(v, (str, os.PathLike)))
        if bad is not None:
            raise ValueError(f"X mixes strings with {type(items[bad]).__name__} (first at index {bad}).")
        return Inputs("strings", items)
    if isinstance(first, (tuple, list)) and len(first) == 2 and all(isinstance(v, str) for v in first):
        bad = _first_not(items, lambda v: isinstance(v, (tuple, list)) and len(v) == 2 and all(isinstance(s, str) for s in v))
        if bad is not None:
            raise ValueError(f"X looks like sentence pairs but item {bad} is not a 2-tuple of strings: {items[bad]!r:.80}.")
        return Inputs("pairs", [tuple(v) for v in items])
    if _is_pil(first) or (isinstance(first, (np.ndarray, torch.Tensor)) and np.ndim(first) >= 2):
        bad = _first_not(items, lambda v: _is_pil(v) or (isinstance(v, (np.ndarray, torch.Tensor)) and np.ndim(v) >= 2))
        if bad is not None:
            raise ValueError(f"X mixes images with {type(items[bad]).__name__} (first at index {bad}).")
        return Inputs("image_list", items)
    try:
        arr = np.asarray(items)
    except ValueError as exc:
        raise ValueError(f"Could not turn X into a numeric array: {exc}") from exc
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"Unsupported samples of type {type(first).__name__}: pass numbers, strings, (str, str) pairs, file paths, "
            "PIL images or arrays."
        )
    return _array_inputs(arr)


def _first_not(items: list, ok: Any) -> int | None:
    for i, v in enumerate(items):
        if not ok(v):
            return i
    return None


def _array_inputs(X: np.ndarray) -> Inputs:
    if X.ndim == 0 or X.shape[0] == 0:
        raise ValueError(f"Empty input: X has shape {X.shape}, i.e. 0 samples.")
    if X.dtype.kind == "b":
        X = X.astype(np.uint8)
    image = X.ndim in (3, 4) and X.dtype.kind in "biuf"
    return Inputs("images" if image else "vectors", X)
