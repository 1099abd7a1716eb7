"""The machine a run measures on: one line that names it, and the torch device a ``--device`` option means."""

from __future__ import annotations

import os
import platform
from typing import Any

__all__ = ["machine", "torch_device"]


def machine() -> str:
    """The machine in one line (architecture, CPUs, torch and Python versions)."""
    import torch

    return f"{platform.machine()}, {os.cpu_count()} CPUs visible, torch {torch.__version__}, {platform.python_version()}"


def torch_device(spec: str = "auto") -> Any:
    """The :class:`torch.device` of a ``--device`` option: ``"auto"`` is CUDA when torch sees a GPU, else the CPU."""
    import torch

    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(spec)
