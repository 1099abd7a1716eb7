import numpy as np
import pytest
import timm
import torch

from sknmtune.backbones import FrozenBackboneTransformer
from sknmtune.backbones._timm import create_timm_model


def small(**kw):
    kw.setdefault("device", "cpu")
    kw.setdefault("pretrained", False)
    kw.setdefault("image_size", 32)
    kw.setdefault("crop_pct", 1.0)
    return FrozenBackboneTransformer("resnet18", **kw)


def test_pooled_prelogits_of_resnet18(images):
    t = small()
    feats = t.fit_transform(images)
    assert feats.shape == (6, 512) and t.get_feature_names_out().shape == (512,)
    model = create_timm_model("resnet18", pretrained=False, weights=None, model_kwargs=None)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    x = (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        want = model.forward_head(model.forward_features(x), pre_logits=True).numpy()
    np.testing.assert_allclose(feats, want, atol=1e-4)  # also: random init is seeded, reloads agree


def test_own_checkpoint_with_another_head_size(images, tmp_path):
    trained = timm.create_model("resnet18", num_classes=10)
    torch.save({"model": trained.state_dict(), "epoch": 3}, tmp_path / "ckpt.pt")
    feats = small(weights=tmp_path / "ckpt.pt").transform(images)  # built with 1000 classes: head ignored
    same = small(weights=tmp_path / "ckpt.pt", model_kwargs={"num_classes": 10}).transform(images)
    np.testing.assert_allclose(feats, same, atol=1e-5)
    assert not np.allclose(feats, small().transform(images), atol=1e-3)


def test_layer_option_and_default_preprocessing(images):
    t = FrozenBackboneTransformer("resnet18", pretrained=False, device="cpu", layer="layer1")
    spec = t.fit(images)._get_backend().spec
    assert spec.size == (224, 224) and spec.crop_pct == 0.95  # from timm's data config
    assert FrozenBackboneTransformer("resnet18", pretrained=False, device="cpu", layer="layer1", image_size=16,
                                     crop_pct=1.0).transform(images[:2]).shape == (2, 64 * 4 * 4)


def test_unknown_timm_name_suggests_close_ones():
    with pytest.raises(ValueError, match="Unknown backbone 'resnet19'.*'resnet18'"):
        FrozenBackboneTransformer("resnet19").fit(np.zeros((1, 8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="Unknown timm model 'resnet19'"):
        FrozenBackboneTransformer("resnet19", kind="timm").fit(np.zeros((1, 8, 8, 3), np.uint8))


def test_offline_pretrained_weights_point_to_local_weights(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(OSError, match=r"offline.*weights='/path/to/checkpoint"):
        FrozenBackboneTransformer("resnet18.a1_in1k", pretrained=True).fit(np.zeros((1, 8, 8, 3), np.uint8))


def test_backbone_file_and_kind_mismatches(tmp_path):
    f = tmp_path / "w.pt"
    f.write_bytes(b"x")
    with pytest.raises(ValueError, match="is a file.*weights="):
        FrozenBackboneTransformer(str(f)).fit(["a"])
    with pytest.raises(TypeError, match="kind='module'"):
        FrozenBackboneTransformer("resnet18", kind="module").fit(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="kind must be one of .*'timm'.*got 'vision'"):
        FrozenBackboneTransformer("resnet18", kind="vision").fit(np.zeros((1, 2)))
