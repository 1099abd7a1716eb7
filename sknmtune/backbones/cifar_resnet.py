"""CIFAR ResNets (He et al., 2016, Sec. 4.2) registered as timm models.

``cifar_resnet20/32/44/56`` follow the CIFAR-10 design of the ResNet paper: a 3x3 stem with 16
channels, three stages of ``n`` basic blocks with 16/32/64 channels (``depth = 6n + 2``), the
parameter-free "option A" shortcut (stride-2 subsampling plus zero channel padding), global average
pooling to a 64-d feature and a linear classifier. The tensor names match the checkpoints of
Idelbayev's *pytorch_resnet_cifar10* (BSD-2-Clause), so ``weights=".../resnet20-12fca82f.th"`` loads
them; their ``pretrained_cfg`` records the ImageNet mean/std those checkpoints were trained with.

Examples
--------
>>> import timm, torch
>>> import sknmtune.backbones  # registers the models
>>> model = timm.create_model("cifar_resnet20", pretrained=False)
>>> model.forward_head(model.forward_features(torch.zeros(2, 3, 32, 32)), pre_logits=True).shape
torch.Size([2, 64])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from torch import nn

from ._checkpoint import unwrap_state_dict

__all__ = ["CifarResNet", "cifar_resnet20", "cifar_resnet32", "cifar_resnet44", "cifar_resnet56"]

_DEPTHS = {"cifar_resnet20": 20, "cifar_resnet32": 32, "cifar_resnet44": 44, "cifar_resnet56": 56}
_FILES = {
    "cifar_resnet20": "resnet20-12fca82f.th",
    "cifar_resnet32": "resnet32-d509ac18.th",
    "cifar_resnet44": "resnet44-014dd654.th",
    "cifar_resnet56": "resnet56-4bfd9763.th",
}
_URL = "https://github.com/akamaster/pytorch_resnet_cifar10/raw/master/pretrained_models/"


class _BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity or option-A (zero-padded, subsampled) shortcut."""

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.pad = (planes - in_planes) // 2 if (stride != 1 or in_planes != planes) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.pad is None else F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))
        return F.relu(out + shortcut)


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 32x32 inputs with the timm feature interface.

    Parameters
    ----------
    depth : int, default=20
        20, 32, 44, 56, ... (``(depth - 2) % 6 == 0``).
    num_classes : int, default=10
        Size of the linear classifier; 0 replaces it by the identity.
    in_chans : int, default=3
        Input channels.
    """

    def __init__(self, depth: int = 20, num_classes: int = 10, in_chans: int = 3, **kwargs: object) -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"depth must be 6n + 2 with n >= 1, got {depth}.")
        n = (depth - 2) // 6
        self.num_classes = num_classes
        self.num_features = self.head_hidden_size = 64
        self.conv1 = nn.Conv2d(in_chans, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        stages, in_planes = [], 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            blocks = []
            for i in range(n):
                blocks.append(_BasicBlock(in_planes, planes, stride if i == 0 else 1))
                in_planes = planes
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.linear = nn.Linear(64, num_classes) if num_classes > 0 else nn.Identity()
        self.feature_info = [
            dict(num_chs=16, reduction=1, module="layer1"),
            dict(num_chs=32, reduction=2, module="layer2"),
            dict(num_chs=64, reduction=4, module="layer3"),
        ]
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def get_classifier(self) -> nn.Module:
        return self.linear

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        self.num_classes = num_classes
        self.linear = nn.Linear(64, num_classes) if num_classes > 0 else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        return self.layer3(self.layer2(self.layer1(x)))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x.mean(dim=(2, 3))
        return x if pre_logits else self.linear(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _filter_checkpoint(state_dict: dict, model: nn.Module) -> dict:
    state = unwrap_state_dict(state_dict)
    for key, value in model.state_dict().items():  # checkpoints from torch < 1.1 lack these counters
        if key.endswith("num_batches_tracked"):
            state.setdefault(key, value)
    return state


def _cfg(name: str) -> dict:
    return {
        "url": _URL + _FILES[name],
        "num_classes": 10,
        "input_size": (3, 32, 32),
        "pool_size": (8, 8),
        "crop_pct": 1.0,
        "crop_mode": "center",
        "interpolation": "bilinear",
        "mean": IMAGENET_DEFAULT_MEAN,
        "std": IMAGENET_DEFAULT_STD,
        "first_conv": "conv1",
        "classifier": "linear",
        "license": "bsd-2-clause",
        "origin_url": "https://github.com/akamaster/pytorch_resnet_cifar10",
        "paper_ids": "arXiv:1512.03385",
    }


default_cfgs = generate_default_cfgs({name: _cfg(name) for name in _DEPTHS})


def _create(name: str, pretrained: bool, **kwargs: object) -> CifarResNet:
    return build_model_with_cfg(
        CifarResNet, name, pretrained, depth=_DEPTHS[name], pretrained_filter_fn=_filter_checkpoint, **kwargs
    )


@register_model
def cifar_resnet20(pretrained: bool = False, **kwargs: object) -> CifarResNet:
    """ResNet-20 for CIFAR (0.27 M parameters, 64-d features)."""
    return _create("cifar_resnet20", pretrained, **kwargs)


@register_model
def cifar_resnet32(pretrained: bool = False, **kwargs: object) -> CifarResNet:
    """ResNet-32 for CIFAR (0.46 M parameters, 64-d features)."""
    return _create("cifar_resnet32", pretrained, **kwargs)


@register_model
def cifar_resnet44(pretrained: bool = False, **kwargs: object) -> CifarResNet:
    """ResNet-44 for CIFAR (0.66 M parameters, 64-d features)."""
    return _create("cifar_resnet44", pretrained, **kwargs)


@register_model
def cifar_resnet56(pretrained: bool = False, **kwargs: object) -> CifarResNet:
    """ResNet-56 for CIFAR (0.85 M parameters, 64-d features)."""
    return _create("cifar_resnet56", pretrained, **kwargs)
