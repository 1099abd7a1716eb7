import pickle

import numpy as np
import pytest
import torch
from torch import nn

from sknmtune.backbones._checkpoint import file_digest, load_into_model, read_checkpoint, state_digest, unwrap_state_dict


class Net(nn.Module):
    def __init__(self, n_classes=10):
        super().__init__()
        self.body = nn.Linear(4, 5)
        self.bn = nn.BatchNorm1d(5)
        self.fc = nn.Linear(5, n_classes)
        self.pretrained_cfg = {"classifier": "fc"}


@pytest.mark.parametrize("wrap", [lambda sd: sd, lambda sd: {"state_dict": sd, "epoch": 3}, lambda sd: {"model": sd}])
def test_wrappers_and_prefixes_are_unwrapped(tmp_path, wrap):
    src = Net()
    sd = {f"module.{k}": v for k, v in src.state_dict().items()}
    torch.save(wrap(sd), tmp_path / "w.pt")
    state = read_checkpoint(tmp_path / "w.pt")
    assert set(state) == set(src.state_dict())
    dst = Net()
    load_into_model(dst, state)
    torch.testing.assert_close(dst.body.weight, src.body.weight)


def test_head_of_other_size_is_skipped_and_counters_filled():
    src, dst = Net(n_classes=3), Net(n_classes=10)
    state = {k: v for k, v in src.state_dict().items() if not k.endswith("num_batches_tracked")}
    load_into_model(dst, state)
    torch.testing.assert_close(dst.body.weight, src.body.weight)
    assert dst.fc.weight.shape == (10, 5)


def test_mismatch_outside_the_head_is_an_error():
    state = Net().state_dict()
    del state["body.weight"]
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"missing body.weight; unexpected extra.weight"):
        load_into_model(Net(), state)
    state = Net().state_dict()
    state["body.weight"] = torch.zeros(5, 7)
    with pytest.raises(ValueError, match="wrong shape body.weight"):
        load_into_model(Net(), state)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_unreadable_and_unsafe_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pt"):
        read_checkpoint(tmp_path / "junk.pt")
    with open(tmp_path / "obj.pt", "wb") as fh:
        pickle.dump({"state_dict": Net().state_dict(), "opt": object()}, fh)
    with pytest.raises(ValueError, match="obj.pt"):
        read_checkpoint(tmp_path / "obj.pt")
    with pytest.raises(ValueError, match="no tensors"):
        unwrap_state_dict({"a": 1})


def test_digests_track_weights(tmp_path):
    a, b = Net(), Net()
    b.load_state_dict(a.state_dict())
    assert state_digest(a) == state_digest(b)
    with torch.no_grad():
        b.body.bias += 1
    assert state_digest(a) != state_digest(b)
    (tmp_path / "x").write_bytes(b"abc")
    (tmp_path / "y").write_bytes(b"abd")
    assert file_digest(tmp_path / "x") != file_digest(tmp_path / "y")


# ------------------------------------------------------------------------------------------ safetensors


def _save_safetensors(state, path):
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in state.items()}, str(path))


def test_safetensors_state_dict_is_read_and_loaded(tmp_path):
    src = Net()
    _save_safetensors(src.state_dict(), tmp_path / "w.safetensors")
    state = read_checkpoint(tmp_path / "w.safetensors")
    assert set(state) == set(src.state_dict())
    dst = Net()
    load_into_model(dst, state)
    torch.testing.assert_close(dst.body.weight, src.body.weight)
    torch.testing.assert_close(dst.bn.running_var, src.bn.running_var)


def test_safetensors_is_recognised_by_its_header_whatever_the_name(tmp_path):
    src = Net()
    _save_safetensors({f"module.{k}": v for k, v in src.state_dict().items()}, tmp_path / "w.bin")
    state = read_checkpoint(tmp_path / "w.bin")
    assert set(state) == set(src.state_dict())  # read as safetensors, DataParallel prefix stripped
    torch.testing.assert_close(state["fc.bias"], src.fc.bias.detach())


@pytest.mark.parametrize(
    "content",
    [b"not a safetensors file", b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\": 1}xxxxxxxx"],
    ids=["garbage", "bad-header"],
)
def test_invalid_safetensors_file_is_an_error_naming_it(tmp_path, content):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"broken\.safetensors.*not a valid safetensors file"):
        read_checkpoint(path)


def test_truncated_safetensors_file_is_an_error_naming_it(tmp_path):
    _save_safetensors(Net().state_dict(), tmp_path / "full.safetensors")
    data = (tmp_path / "full.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) - 20])
    with pytest.raises(ValueError, match=r"cut\.safetensors.*not a valid safetensors file"):
        read_checkpoint(tmp_path / "cut.safetensors")


def test_torch_checkpoint_under_a_safetensors_name_is_an_error(tmp_path):
    torch.save(Net().state_dict(), tmp_path / "renamed.safetensors")
    with pytest.raises(ValueError, match=r"renamed\.safetensors.*must be renamed"):
        read_checkpoint(tmp_path / "renamed.safetensors")


def test_torch_checkpoints_still_go_through_weights_only_loading(tmp_path):
    torch.save(Net().state_dict(), tmp_path / "w.pt")  # a torch zip: never mistaken for safetensors
    assert set(read_checkpoint(tmp_path / "w.pt")) == set(Net().state_dict())


def test_tiny_timm_model_from_a_safetensors_file(tmp_path):
    timm = pytest.importorskip("timm")
    import copy

    import timm.data

    from sknmtune.backbones import FrozenBackboneTransformer

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)  # not the transformer's own seeded init, so the file's weights are what we see
        model = timm.create_model("test_vit", pretrained=False).eval()
    _save_safetensors(model.state_dict(), tmp_path / "tiny.safetensors")
    images = np.random.default_rng(0).integers(0, 256, size=(3, 40, 40, 3), dtype=np.uint8)
    kw = {"device": "cpu", "num_workers": 0}
    features = FrozenBackboneTransformer("test_vit", weights=tmp_path / "tiny.safetensors", **kw).transform(images)
    assert features.shape == (3, model.num_features)

    # the same network as a module backbone, with timm's eval transform spelled out
    cfg = timm.data.resolve_model_data_config(model)
    body = copy.deepcopy(model)
    body.reset_classifier(0)
    ref = FrozenBackboneTransformer(
        body, image_size=cfg["input_size"][1:], crop_pct=cfg["crop_pct"], interpolation=cfg["interpolation"],
        mean=cfg["mean"], std=cfg["std"], **kw,
    ).transform(images)
    np.testing.assert_allclose(features, ref, rtol=1e-4, atol=1e-5)
    random_init = FrozenBackboneTransformer("test_vit", pretrained=False, **kw).transform(images)
    assert not np.allclose(features, random_init, atol=1e-3)


def test_imagenet_mobilenetv2_safetensors_gives_1280_features(data_dir):
    path = data_dir / "imagenet-weights" / "mobilenetv2_100.in1k.safetensors"
    if not path.is_file():
        pytest.skip(f"shared ImageNet weights absent ({path})")
    from sknmtune.backbones import FrozenBackboneTransformer

    images = np.random.default_rng(0).integers(0, 256, size=(2, 64, 64, 3), dtype=np.uint8)
    ext = FrozenBackboneTransformer("mobilenetv2_100", weights=str(path), device="cpu", num_workers=0)
    assert ext.transform(images).shape == (2, 1280)
