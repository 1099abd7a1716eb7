import io
import zipfile

import numpy as np
import pytest
import timm
import torch

import sknmtune.backbones  # noqa: F401  (registration)
from sknmtune.backbones import CifarResNet, FrozenBackboneTransformer

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@pytest.mark.parametrize("name,n_blocks", [("cifar_resnet20", 3), ("cifar_resnet32", 5), ("cifar_resnet44", 7), ("cifar_resnet56", 9)])
def test_registered_with_timm_interface(name, n_blocks):
    assert timm.is_model(name)
    model = timm.create_model(name)
    assert isinstance(model, CifarResNet) and len(model.layer1) == n_blocks and model.num_features == 64
    cfg = model.pretrained_cfg
    assert cfg["input_size"] == (3, 32, 32) and cfg["crop_pct"] == 1.0
    assert tuple(cfg["mean"]) == (0.485, 0.456, 0.406) and tuple(cfg["std"]) == (0.229, 0.224, 0.225)
    x = torch.randn(2, 3, 32, 32)
    feats = model.forward_features(x)
    assert feats.shape == (2, 64, 8, 8)
    pooled = model.forward_head(feats, pre_logits=True)
    torch.testing.assert_close(pooled, feats.mean((2, 3)))
    assert model(x).shape == (2, 10)
    model.reset_classifier(0)
    assert model(x).shape == (2, 64)


def test_option_a_shortcut_is_parameter_free():
    model = timm.create_model("cifar_resnet20")
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == 269_722  # 0.27M, as in the ResNet paper's Table 6
    assert not any("shortcut" in k or "downsample" in k for k in model.state_dict())


def test_akamaster_resnet20_classifies_cifar10_jpegs(data_dir):
    ckpt = data_dir / "resnet-cifar10-akamaster" / "pretrained_models" / "resnet20-12fca82f.th"
    archive = data_dir / "cifar10-jpg" / "test_jpg.zip"
    if not ckpt.exists() or not archive.exists():
        pytest.skip(f"shared data absent ({ckpt.parent} or {archive}); set SKNMTUNE_DATA_DIR")
    with zipfile.ZipFile(archive) as zf:
        names = sorted(n for n in zf.namelist() if n.endswith(".jpg"))
        pick = np.random.default_rng(0).choice(len(names), 300, replace=False)
        from PIL import Image

        images = np.stack([np.asarray(Image.open(io.BytesIO(zf.read(names[i]))).convert("RGB")) for i in pick])
    labels = np.array([CLASSES.index(names[i].split("/")[-2]) for i in pick])
    feats = FrozenBackboneTransformer("cifar_resnet20", weights=ckpt, device="cpu").transform(images)
    assert feats.shape == (300, 64)
    head = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    logits = feats @ head["module.linear.weight"].numpy().T + head["module.linear.bias"].numpy()
    accuracy = (logits.argmax(1) == labels).mean()
    assert accuracy > 0.7, accuracy  # chance is 0.1; the JPEG-75 copy costs a few points vs 91.8%
