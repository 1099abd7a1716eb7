"""Reading state-dict checkpoints into a model (local ``weights=`` files and timm filter functions).

Two file formats are read, neither of which runs code: torch checkpoints through
``torch.load(weights_only=True)`` and safetensors files (recognised by their header, whatever the
file name) through :func:`safetensors.torch.load_file`.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Iterable, Mapping

import torch
from torch import nn

__all__ = ["read_checkpoint", "unwrap_state_dict", "load_into_model", "file_digest", "state_digest"]

_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "state_dict_ema")
_PREFIXES = ("module.", "_orig_mod.")
_SAFETENSORS_SUFFIX = ".safetensors"


def read_checkpoint(path: str | os.PathLike) -> Mapping[str, torch.Tensor]:
    """Read a checkpoint file and return its state dict (tensors only; no code is ever run).

    A safetensors file (the ``.safetensors`` suffix, or any file whose header is a safetensors
    header) is read with :func:`safetensors.torch.load_file`. Anything else goes through
    ``torch.load(weights_only=True)``, which accepts a plain state dict, ``{"state_dict": ...}``,
    ``{"model": ...}`` and legacy (pre-1.6) torch pickles such as the akamaster CIFAR ResNets.
    ``module.``-style prefixes are stripped. Errors name the file.

    Parameters
    ----------
    path : str or path-like
        The checkpoint file.

    Returns
    -------
    state : dict of str to torch.Tensor
        The tensors, on the CPU.

    Examples
    --------
    >>> import os, tempfile, torch
    >>> from safetensors.torch import save_file
    >>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
    >>> save_file(torch.nn.Linear(2, 3).state_dict(), path)
    >>> sorted(read_checkpoint(path))
    ['bias', 'weight']
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weights file {path!r} does not exist.")
    if path.lower().endswith(_SAFETENSORS_SUFFIX) or _has_safetensors_header(path):
        return unwrap_state_dict(_read_safetensors(path), source=f"weights file {path!r}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ValueError(
            f"weights file {path!r} holds Python objects other than tensors, so it cannot be loaded safely "
            f"(torch.load(weights_only=True) refused it: {exc}). Save a plain state dict instead: "
            "torch.save(model.state_dict(), path)."
        ) from exc
    except Exception as exc:  # truncated or foreign files raise many different types
        raise ValueError(f"weights file {path!r} is not a readable torch checkpoint: {exc}") from exc
    return unwrap_state_dict(obj, source=path)


def _has_safetensors_header(path: str) -> bool:
    """Whether the file starts like a safetensors file: an 8-byte little-endian header length
    that fits in the file, then a JSON object (torch zips start with ``PK``, pickles with ``\\x80``)."""
    with open(path, "rb") as fh:
        head = fh.read(9)
    if len(head) < 9 or head[8:9] != b"{":
        return False
    return 2 <= int.from_bytes(head[:8], "little") <= os.path.getsize(path) - 8


def _read_safetensors(path: str) -> dict[str, torch.Tensor]:
    try:
        from safetensors import SafetensorError
        from safetensors.torch import load_file
    except ImportError as exc:  # timm depends on safetensors, so this is rare
        raise ImportError(f"reading the safetensors weights file {path!r} needs `pip install safetensors`.") from exc
    try:
        return load_file(path, device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ValueError(
            f"weights file {path!r} is not a valid safetensors file ({exc}). It may be damaged or truncated; a torch "
            "checkpoint saved under a .safetensors name must be renamed (e.g. to .pt)."
        ) from exc


def unwrap_state_dict(obj: object, *, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """Return the tensor mapping inside ``obj``, with ``module.``-style prefixes stripped."""
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    if not isinstance(obj, Mapping):
        raise ValueError(f"{source} does not contain a state dict (got {type(obj).__name__}).")
    for key in _WRAPPER_KEYS:
        inner = obj.get(key)
        if isinstance(inner, Mapping) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
            obj = inner
            break
    state = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not state:
        raise ValueError(f"{source} contains no tensors; expected a state dict, {{'state_dict': ...}} or {{'model': ...}}.")
    for prefix in _PREFIXES:
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def _classifier_prefixes(model: nn.Module) -> tuple[str, ...]:
    cfg = getattr(model, "pretrained_cfg", None) or {}
    names = cfg.get("classifier") or ()
    if isinstance(names, str):
        names = (names,)
    return tuple(f"{n}." for n in names)


def load_into_model(model: nn.Module, state: Mapping[str, torch.Tensor], *, source: str = "checkpoint") -> None:
    """Load ``state`` into ``model``, tolerating only differences that do not change the features.

    A classifier head of another size (the checkpoint's ``num_classes`` differs from the model's) is
    skipped, as are BatchNorm ``num_batches_tracked`` counters missing from old checkpoints. Any other
    missing, unexpected or mis-shaped tensor raises a ``ValueError`` naming it.
    """
    own = model.state_dict()
    head = _classifier_prefixes(model)
    state = dict(state)
    skipped = []
    for key in list(state):
        if key in own and own[key].shape != state[key].shape and key.startswith(head):
            skipped.append(key)
            del state[key]
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked") and not k.startswith(head)]
    unexpected = [k for k in state if k not in own and not k.startswith(head)]
    wrong = [k for k in state if k in own and own[k].shape != state[k].shape]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {_short(missing)}")
        if unexpected:
            parts.append(f"unexpected {_short(unexpected)}")
        if wrong:
            parts.append("wrong shape " + _short(f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in wrong))
        raise ValueError(
            f"{source} does not match the {type(model).__name__} architecture: " + "; ".join(parts)
            + ". Check the model name and its keyword arguments (model_kwargs)."
        )
    for key, value in own.items():  # fill counters and skipped head tensors from the model itself
        state.setdefault(key, value)
    model.load_state_dict(state, strict=True)


def _short(items: Iterable[str], limit: int = 5) -> str:
    items = list(items)
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def file_digest(path: str | os.PathLike, *, chunk: int = 1 << 20) -> str:
    """Hex BLAKE2b digest of a file's bytes."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def state_digest(model: nn.Module) -> str:
    """Hex digest of a module's structure (``repr``) and every tensor of its state dict."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{type(model).__module__}.{type(model).__qualname__}\n{model!r}".encode())
    for key, value in model.state_dict().items():
        t = value.detach().cpu().contiguous()
        h.update(f"{key}:{t.dtype}:{tuple(t.shape)}".encode())
        if t.dtype == torch.bfloat16:
            t = t.view(torch.int16)
        h.update(t.numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()
