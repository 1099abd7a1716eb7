"""The frozen ImageNet-1k backbones of the image benchmarks, loaded from local safetensors files as a user would."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import datasets as bd

__all__ = ["IMAGENET_BACKBONES", "ImageNetBackbone", "BackboneUnavailable"]

WEIGHTS_FOLDER = "imagenet-weights"


class BackboneUnavailable(RuntimeError):
    """The weights a backbone needs are absent; the message says where they were looked for."""


@dataclass(frozen=True)
class ImageNetBackbone:
    """A timm architecture with ImageNet-1k weights from ``../shared/data/imagenet-weights``."""

    name: str
    family: str
    description: str

    def weights(self) -> Path:
        path = bd.data_root() / WEIGHTS_FOLDER / f"{self.name}.in1k.safetensors"
        if not path.is_file():
            raise BackboneUnavailable(f"{path} is missing (set SKNMTUNE_DATA_DIR to the shared data folder).")
        return path

    def make(self, cache: Path | str | None, *, device: str = "auto", views: int = 0, **kwargs: Any) -> Any:
        """The user's transformer: architecture name + ``weights=``, timm's eval transform, channels-last."""
        from sknmtune import FrozenBackboneTransformer

        return FrozenBackboneTransformer(self.name, weights=str(self.weights()), cache=None if cache is None else str(cache),
                                         device=device, channels_last=True, views=views, **kwargs)


IMAGENET_BACKBONES: dict[str, ImageNetBackbone] = {
    b.name: b
    for b in (
        ImageNetBackbone("tf_efficientnet_lite0", "EfficientNet-Lite0 (IN-1k)",
                         "timm tf_efficientnet_lite0, ImageNet-1k weights (TF release port), 1280-d pooled"),
        ImageNetBackbone("mobilenetv2_100", "MobileNetV2 (IN-1k)",
                         "timm mobilenetv2_100, ImageNet-1k weights (torchvision release), 1280-d pooled"),
    )
}
