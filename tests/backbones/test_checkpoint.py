import pickle

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
