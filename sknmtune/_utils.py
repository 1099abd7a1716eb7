"""Private helpers shared across sknmtune: device resolution, where unpickled modules go, seeded RNG sections."""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Iterator
from types import ModuleType
from typing import Any
from contextvars import ContextVar

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



# Set by ``sknmtune.persistence.load(..., map_location=...)`` while it unpickles: modules go there.
_LOAD_DEVICE: ContextVar[torch.device | None] = ContextVar("sknmtune_load_device", default=None)


# torch's global RNG is shared by every thread of a process. Fits running in threads (joblib's
# threading backend, a Dask cluster with processes=False) would interleave their seeding and
# initialization; every section of sknmtune that seeds it runs under this lock, and sknmtune's
# own code draws nothing from the global RNG outside such a section (data loaders get generators).
_GLOBAL_RNG_LOCK = threading.RLock()


@contextlib.contextmanager
def seeded_global_rng(seed: int | None, devices: list[int] | tuple[int, ...] = ()) -> Iterator[None]:
    """Hold the global-RNG lock, fork torch's global RNG (CPU and ``devices``) and seed it.

    On exit the caller's RNG state is restored and the lock released, so code that builds a module
    inside gets the same weights for the same ``seed`` whatever other threads do at the same time.
    ``seed=None`` forks without seeding (to leave the caller's state untouched).
    """
    with _GLOBAL_RNG_LOCK, torch.random.fork_rng(devices=list(devices)):
        if seed is not None:
            torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def loading_onto(device: torch.device | None) -> Iterator[None]:
    """While active, :func:`restore_device` puts every module on ``device`` (``None``: as requested).

    ``load(..., map_location=...)`` wraps its unpickling in this, so a model saved with
    ``device="cuda"`` and loaded with ``map_location="cpu"`` never touches the GPU (and does not
    warn on a machine without one).
    """
    token = _LOAD_DEVICE.set(device)
    try:
        yield
    finally:
        _LOAD_DEVICE.reset(token)


def available_device(requested: str | torch.device | None) -> torch.device | None:
    """``resolve_device(requested)`` when that device exists here (CUDA index included), else ``None``."""
    try:
        device = resolve_device(requested)
    except ValueError:
        return None
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        return None
    return device


def restore_device(module: torch.nn.Module, requested: str | torch.device | None, what: str) -> str | torch.device:
    """Put an unpickled ``module`` on the device its owner's ``device`` parameter asks for.

    Pickles hold CPU tensors. On unpickling, the module moves to ``requested`` (resolved as for
    training: ``"auto"`` is CUDA, then MPS, then CPU) when that device exists here, so a model
    trained and reloaded on a GPU machine predicts bit-identically. When it does not exist (a
    CUDA model opened on a CPU-only machine, ``"cuda:3"`` on a one-GPU machine), the module stays
    on the CPU and a :class:`UserWarning` names the device. Inside :func:`loading_onto` the module
    goes to that device instead, silently.

    Parameters
    ----------
    module : torch.nn.Module
        Moved in place.
    requested : str, torch.device or None
        The owner's ``device`` parameter.
    what : str
        The owner, for the warning (e.g. ``"NMTuneClassifier"``).

    Returns
    -------
    device : str or torch.device
        The value the owner's ``device`` parameter should hold from now on: ``requested``, or
        ``"cpu"`` when the requested device is not available here (so a later ``fit`` or
        ``transform`` runs instead of raising).

    Examples
    --------
    >>> import torch
    >>> from sknmtune._utils import restore_device
    >>> restore_device(torch.nn.Linear(2, 2), "cpu", "a head")
    'cpu'
    """
    available = available_device(requested)
    override = _LOAD_DEVICE.get()
    if override is not None:
        module.to(override)
        return requested if available is not None else "cpu"
    if available is None:
        warnings.warn(
            f"{what} was saved with device={str(requested)!r}, which is not available on this machine; "
            "it is loaded on the CPU and its device parameter is set to 'cpu'. Pass map_location= to "
            "sknmtune.persistence.load (or call to_device) to choose another device.",
            UserWarning,
            stacklevel=3,
        )
        module.to("cpu")
        return "cpu"
    module.to(available)
    return requested


def moved_names(old: str, new: ModuleType, names: tuple[str, ...]) -> tuple[Any, Any]:
    """``(__getattr__, __dir__)`` for a module ``old`` whose public ``names`` moved to the module ``new``.

    The old module keeps working (imports, and pickles that name the old path), with a
    :class:`DeprecationWarning` that names the new home.
    """

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        warnings.warn(f"{old}.{name} moved to {new.__name__}.{name}; import it from there (or from 'sknmtune').",
                      DeprecationWarning, stacklevel=2)
        return getattr(new, name)

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
