"""Saving and loading fitted sknmtune models (and pipelines holding them) with joblib.

Pickles made by sknmtune always hold CPU tensors, so a model fitted on a GPU loads
on a CPU-only machine; ``load(..., map_location="cuda")`` moves every fitted torch
module inside the loaded object to another device.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import torch

from ._utils import resolve_device

__all__ = ["save", "load"]


def save(estimator: Any, path: str | os.PathLike, *, compress: int = 3) -> Path:
    """Write ``estimator`` (any picklable object: an estimator, a Pipeline, a search) to ``path``.

    The file is written to a temporary name and renamed, so an interrupted save never
    leaves a truncated model behind. Returns the path.

    Examples
    --------
    >>> import tempfile, os
    >>> from sklearn.datasets import load_iris
    >>> from sknmtune import NMTuneClassifier
    >>> from sknmtune.persistence import save, load
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = NMTuneClassifier(max_epochs=2, random_state=0).fit(X, y)
    >>> path = save(clf, os.path.join(tempfile.mkdtemp(), "head.joblib"))
    >>> bool((load(path).predict_proba(X) == clf.predict_proba(X)).all())
    True
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    joblib.dump(estimator, tmp, compress=compress)
    os.replace(tmp, path)
    return path


def _movable(obj: Any, seen: set[int]) -> Iterator[Any]:
    """Yield every object inside ``obj`` that knows how to move itself (``to_device``)."""
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if callable(getattr(obj, "to_device", None)) and hasattr(obj, "get_params"):
        yield obj
    children: list[Any] = []
    if hasattr(obj, "get_params"):
        children.extend(obj.get_params(deep=False).values())
        children.extend(value for key, value in vars(obj).items() if key.endswith("_") and not key.startswith("_"))
    elif isinstance(obj, (list, tuple)):
        children.extend(obj)
    elif isinstance(obj, dict):
        children.extend(obj.values())
    for child in children:
        yield from _movable(child, seen)


def load(path: str | os.PathLike, *, map_location: str | torch.device | None = None) -> Any:
    """Load what :func:`save` (or plain ``joblib.dump``) wrote.

    Parameters
    ----------
    path : path-like
    map_location : str or torch.device, optional
        Move every fitted sknmtune model inside the loaded object (also inside
        pipelines and searches) to this device, e.g. ``"cuda"``. By default fitted
        modules load on the CPU.
    """
    obj = joblib.load(path)
    if map_location is not None:
        device = resolve_device(map_location)
        for item in _movable(obj, set()):
            try:
                item.to_device(device)
            except Exception as exc:  # unfitted estimators inside a search's params, say
                if type(exc).__name__ != "NotFittedError":
                    raise
    return obj
