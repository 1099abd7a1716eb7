"""Frozen feature extraction: :class:`FrozenBackboneTransformer`, :func:`extract_distributed` (the same
features computed on a Dask or Ray cluster) and the CIFAR ResNets for timm.

Importing this package registers ``cifar_resnet20/32/44/56`` with timm (nothing else runs).
"""

from . import cifar_resnet  # noqa: F401  (registers the timm models)
from ._distributed import DistributedExtractionError, extract_distributed
from ._transformer import FrozenBackboneTransformer
from .cifar_resnet import CifarResNet

__all__ = ["FrozenBackboneTransformer", "extract_distributed", "DistributedExtractionError", "CifarResNet"]
