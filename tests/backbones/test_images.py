import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import Dataset

from sknmtune.backbones import FrozenBackboneTransformer
from sknmtune.backbones._images import ImageSpec, resolve_image_spec


def ext(**kw):
    kw.setdefault("device", "cpu")
    kw.setdefault("pretrained", False)
    return FrozenBackboneTransformer("cifar_resnet20", **kw)


def test_layouts_and_dtypes_give_the_same_features(images):
    t = ext()
    ref = t.transform(images)
    assert ref.dtype == np.float32 and ref.shape == (6, 64)
    np.testing.assert_allclose(t.transform(images.transpose(0, 3, 1, 2)), ref, atol=1e-5)
    np.testing.assert_allclose(t.transform(images / np.float32(255)), ref, atol=1e-5)
    np.testing.assert_allclose(t.transform(torch.from_numpy(images)), ref, atol=1e-5)
    np.testing.assert_allclose(t.transform([Image.fromarray(im) for im in images]), ref, atol=1e-5)
    gray = images[..., 0]
    np.testing.assert_allclose(t.transform(gray), t.transform(np.repeat(gray[..., None], 3, -1)), atol=1e-5)


def test_files_and_dataset_match_arrays(images, tmp_path):
    paths = []
    for i, im in enumerate(images):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(im).save(paths[-1])
    t = ext(num_workers=0, batch_size=4)
    ref = t.transform(images)
    np.testing.assert_allclose(t.transform(paths), ref, atol=1e-5)

    class Pairs(Dataset):  # (image, label) items, as torchvision datasets return them
        def __len__(self):
            return len(images)

        def __getitem__(self, i):
            return Image.fromarray(images[i]), i % 2

    np.testing.assert_allclose(ext(num_workers=1, batch_size=4).transform(Pairs()), ref, atol=1e-5)


def test_resize_follows_timm_eval_transform():
    import timm.data

    img = Image.fromarray(np.random.default_rng(1).integers(0, 256, (48, 40, 3), dtype=np.uint8))
    t = ext(image_size=32, crop_pct=0.875, interpolation="bilinear")
    cfg = dict(input_size=(3, 32, 32), crop_pct=0.875, interpolation="bilinear", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    timm_x = timm.data.create_transform(**cfg)(img).unsqueeze(0)
    model = t.fit([img])._get_backend().runner.module
    with torch.no_grad():
        want = model.forward_head(model.forward_features(timm_x), pre_logits=True).numpy()
    np.testing.assert_allclose(t.transform([img]), want, atol=0.05)  # PIL vs tensor resampling rounding


def test_spec_resolution():
    spec = resolve_image_spec({"input_size": (3, 224, 224), "crop_pct": 0.95, "mean": (0.5,) * 3, "std": (0.5,) * 3},
                              image_size=None, crop_pct=None, interpolation=None, mean=None, std=None)
    assert spec == ImageSpec((224, 224), 0.95, "bilinear", (0.5,) * 3, (0.5,) * 3)
    assert spec.scale_size == 235
    assert resolve_image_spec(None, image_size="native", crop_pct=None, interpolation=None, mean=None, std=None).size is None
    with pytest.raises(ValueError, match="image_size"):
        resolve_image_spec(None, image_size="big", crop_pct=None, interpolation=None, mean=None, std=None)
    with pytest.raises(ValueError, match="together"):
        resolve_image_spec(None, image_size=None, crop_pct=None, interpolation=None, mean=(0.5,), std=None)
    with pytest.raises(ValueError, match="crop_pct"):
        resolve_image_spec(None, image_size=8, crop_pct=1.5, interpolation=None, mean=None, std=None)


@pytest.mark.parametrize(
    "X,match",
    [
        (np.zeros((2, 8, 8, 4), np.uint8), "channel axis"),
        (np.zeros((2, 2, 8, 8, 3), np.uint8), "rank"),
        (np.full((2, 8, 8, 3), 2.0, np.float32), r"\[0, 1\]"),
        (np.full((2, 8, 8, 3), np.nan, np.float32), "NaN"),
        (np.zeros((2, 8)), "takes images"),
    ],
)
def test_bad_arrays(X, match):
    with pytest.raises(ValueError, match=match):
        ext().transform(X)


def test_unreadable_file_is_named_with_its_index(images, tmp_path):
    good = tmp_path / "good.png"
    Image.fromarray(images[0]).save(good)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 definitely not a jpeg")
    with pytest.raises(ValueError, match=r"bad\.jpg.*index 1"):
        ext(num_workers=0).transform([str(good), str(bad)])
    with pytest.raises(FileNotFoundError, match=r"missing\.png.*index 1"):
        ext(num_workers=0).transform([str(good), str(tmp_path / "missing.png")])


def test_mixed_sizes_need_resizing():
    imgs = [Image.new("RGB", (32, 32)), Image.new("RGB", (28, 30))]
    with pytest.raises(ValueError, match="different sizes.*image_size"):
        ext(image_size="native").transform(imgs)
    assert ext().transform(imgs).shape == (2, 64)  # the model's input size by default
