"""Frozen feature extraction: :class:`FrozenBackboneTransformer`, :func:`extract_distributed` (the same
features computed on a Dask or Ray cluster) and the CIFAR ResNets for timm.

Importing this package registers ``cifar_resnet20/32/44/56`` with timm and the built-in backbone
families (``"timm"``, ``"text"``, ``"module"``, ``"callable"``) with :func:`register_backend`, which
adds further families; nothing else runs.
"""

from . import _callable, _module, _text, _timm  # noqa: F401  (each registers its backbone family)
from . import cifar_resnet  # noqa: F401  (registers the timm models)
from ._distributed import DistributedExtractionError, extract_distributed
from ._registry import BackendOptions, build_backend, register_backend
from ._transformer import FrozenBackboneTransformer
from .cifar_resnet import CifarResNet

__all__ = [
    "FrozenBackboneTransformer",
    "extract_distributed",
    "DistributedExtractionError",
    "CifarResNet",
    "BackendOptions",
    "build_backend",
    "register_backend",
]
