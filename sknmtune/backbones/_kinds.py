"""Which backbone family a ``backbone`` argument belongs to (the transformer's ``kind="auto"``)."""

from __future__ import annotations

import os
from typing import Any

from ._text import is_text_model_dir
from ._timm import close_timm_names, is_timm_name

__all__ = ["_KINDS", "_resolve_kind"]

_KINDS = ("auto", "timm", "text", "module", "callable")


def _resolve_kind(backbone: Any, kind: str) -> str:
    """Which backbone family ``backbone`` is (see the ``kind`` parameter)."""
    from torch import nn

    from ._registry import BACKENDS

    if kind not in _KINDS and kind not in BACKENDS:
        raise ValueError(
            f"kind must be one of {(*_KINDS, *sorted(set(BACKENDS) - set(_KINDS)))} (families registered with "
            f"sknmtune.backbones.register_backend included); got {kind!r}."
        )
    if kind != "auto":
        expected = {"timm": (str, os.PathLike), "text": (str, os.PathLike), "module": (nn.Module,)}.get(kind)
        if expected is not None and not isinstance(backbone, expected):
            raise TypeError(f"kind={kind!r} needs a backbone of type {expected[0].__name__}; got {type(backbone).__name__}.")
        if kind == "callable" and not callable(backbone):
            raise TypeError(f"kind='callable' needs a callable backbone; got {type(backbone).__name__}.")
        return kind
    if isinstance(backbone, nn.Module):
        return "module"
    if isinstance(backbone, (str, os.PathLike)):
        name = os.fspath(backbone)
        if os.path.isdir(name):
            if is_text_model_dir(name):
                return "text"
            raise ValueError(
                f"Directory {name!r} holds no sentence-transformers or Hugging Face model (no modules.json or "
                "config.json). For timm weights use FrozenBackboneTransformer('<timm name>', weights='<file>')."
            )
        if os.path.isfile(name):
            raise ValueError(
                f"backbone={name!r} is a file. Give the architecture as a timm model name and the checkpoint as "
                f"weights=: FrozenBackboneTransformer('resnet18', weights={name!r})."
            )
        if is_timm_name(name):
            return "timm"
        if "/" in name:
            return "text"
        close = close_timm_names(name)
        hint = f" Close timm names: {', '.join(map(repr, close))}." if close else ""
        raise ValueError(
            f"Unknown backbone {name!r}: not a timm model, not a local model directory and not a hub id "
            f"('org/name').{hint} Pass a timm model name (timm.list_models()), a sentence-transformers / Hugging "
            "Face model name or directory, a torch nn.Module, or a callable mapping a batch to an array."
        )
    if callable(backbone):
        return "callable"
    raise TypeError(
        f"Unsupported backbone of type {type(backbone).__name__}: pass a timm model name, a text model name or "
        "directory, a torch nn.Module, or a callable."
    )
