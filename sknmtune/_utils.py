"""Private helpers shared across sknmtune: device resolution."""

from __future__ import annotations

import torch

__all__ = ["resolve_device"]

_VALID_DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turn a user-facing device spec into a :class:`torch.device`.

    ``"auto"`` (or ``None``) picks CUDA when available, then Apple MPS, then CPU.
    Any explicit spec (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``) is honoured, and
    asking for an accelerator that is absent raises a ``ValueError`` naming it.
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={device!r} is not a valid device; use one of {_VALID_DEVICES} "
            "or a torch device string such as 'cuda:0'."
        ) from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available here; use device='auto' or 'cpu'.")
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"device={device!r} was requested but MPS is not available here; use device='auto' or 'cpu'.")
    return dev

