import numpy as np
import pytest
import scipy.sparse as sp
import torch
from PIL import Image
from torch.utils.data import TensorDataset

from sknmtune.backbones._inputs import as_inputs, content_key


@pytest.mark.parametrize(
    "X,modality",
    [
        (np.zeros((2, 8, 8, 3), np.uint8), "images"),
        (np.zeros((2, 8, 8), np.float32), "images"),
        (torch.zeros(2, 3, 8, 8), "images"),
        (np.zeros((2, 5)), "vectors"),
        ([[1.0, 2.0], [3.0, 4.0]], "vectors"),
        (["a b", "c"], "strings"),
        ([("a", "b"), ("c", "d")], "pairs"),
        ([Image.new("RGB", (4, 4)), Image.new("L", (5, 5))], "image_list"),
        (TensorDataset(torch.zeros(3, 2)), "dataset"),
    ],
)
def test_modalities(X, modality):
    assert as_inputs(X).modality == modality


@pytest.mark.parametrize(
    "X,match",
    [
        ([], "Empty input"),
        (np.zeros((0, 4)), "Empty input"),
        ("a sentence", "single str"),
        (["a", 3], "mixes strings"),
        ([("a", "b"), ("c",)], "not a 2-tuple"),
        ([Image.new("RGB", (4, 4)), "x"], "mixes images"),
    ],
)
def test_errors(X, match):
    with pytest.raises(ValueError, match=match):
        as_inputs(X)


def test_sparse_and_unknown_types_are_rejected():
    with pytest.raises(TypeError, match="Sparse"):
        as_inputs(sp.csr_matrix(np.eye(3)))
    with pytest.raises(TypeError, match="Unsupported"):
        as_inputs([object(), object()])


def test_content_keys_follow_content(tmp_path):
    X = np.arange(24, dtype=np.uint8).reshape(3, 2, 2, 2)
    X[2] = X[0]
    keys = as_inputs(X).keys()
    assert keys.dtype == np.dtype("S16") and keys[0] == keys[2] and keys[0] != keys[1]
    assert as_inputs(X.astype(np.float32)).keys()[0] != keys[0]  # dtype is part of the content
    assert content_key("a") != content_key("b") and content_key("a") == content_key("a")
    assert content_key(("a", "b")) != content_key(("b", "a"))
    (tmp_path / "f1").write_bytes(b"1")
    (tmp_path / "f2").write_bytes(b"1")
    assert content_key(str(tmp_path / "f1"), files=True) == content_key(str(tmp_path / "f2"), files=True)
    assert content_key(Image.new("RGB", (2, 2))) != content_key(Image.new("RGB", (2, 3)))
