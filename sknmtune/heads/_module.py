"""The torch module trained on frozen features: ``F -> h(F) = Z -> logits``."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["NMTuneHead"]


class NMTuneHead(nn.Module):
    """MLP ``h`` mapping features to ``Z`` (same width as ``F``), then a linear classifier on ``Z``.

    The forward pass returns ``(logits, Z)``.

    Parameters
    ----------
    n_features : int
        Width ``D`` of the input features; ``Z`` has the same width.
    n_classes : int
        Number of output logits.
    mlp_depth : int, default=2
        Number of ``Linear`` layers in ``h``. ``0`` means no MLP (``Z = F``: linear probing).
    hidden_width : int, optional
        Width of the hidden layers (default ``D``).
    batch_norm : bool, default=False
        Insert ``BatchNorm1d`` before each hidden activation (the authors' code).
    residual : bool, default=False
        The authors' learnable residual ``Z = s * h(F) + F`` with a per-dimension
        scale ``s``.
    residual_init : float, default=1.0
        Initial value of every entry of ``s`` (the authors' code uses 1). ``0`` starts the
        head exactly at ``Z = F``, i.e. at the linear probe on the frozen features.
    dropout : float, default=0.0
        Dropout after each hidden activation.

    Examples
    --------
    >>> import torch
    >>> from sknmtune.heads import NMTuneHead
    >>> head = NMTuneHead(8, 3, mlp_depth=2)
    >>> logits, Z = head(torch.randn(4, 8))
    >>> tuple(logits.shape), tuple(Z.shape)
    ((4, 3), (4, 8))
    """

    def __init__(
        self,
        n_features: int,
        n_classes: int,
        *,
        mlp_depth: int = 2,
        hidden_width: int | None = None,
        batch_norm: bool = False,
        residual: bool = False,
        residual_init: float = 1.0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        hidden_width = int(hidden_width or n_features)
        layers: list[nn.Module] = []
        widths = [n_features] + [hidden_width] * (mlp_depth - 1) + [n_features]
        for i in range(mlp_depth):
            layers.append(nn.Linear(widths[i], widths[i + 1]))
            if i < mlp_depth - 1:
                if batch_norm:
                    layers.append(nn.BatchNorm1d(widths[i + 1]))
                layers.append(nn.ReLU())
                if dropout > 0:
                    layers.append(nn.Dropout(dropout))
        self.mlp = nn.Sequential(*layers)  # empty Sequential is the identity
        self.use_mlp = mlp_depth > 0
        self.residual_scale = nn.Parameter(torch.full((n_features,), float(residual_init))) if (residual and self.use_mlp) else None
        self.classifier = nn.Linear(n_features, n_classes)
        nn.init.kaiming_uniform_(self.classifier.weight, a=5**0.5)
        nn.init.zeros_(self.classifier.bias)

    def embed(self, F: torch.Tensor) -> torch.Tensor:
        """The representation ``Z = h(F)`` (or ``s * h(F) + F`` with the residual)."""
        if not self.use_mlp:
            return F
        Z = self.mlp(F)
        if self.residual_scale is not None:
            Z = self.residual_scale * Z + F
        return Z

    def forward(self, F: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        Z = self.embed(F)
        return self.classifier(Z), Z
