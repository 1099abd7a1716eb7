"""Smoke tests of the benchmark data loaders (benchmarks/datasets.py); skipped where shared data is absent."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import datasets as bd  # noqa: E402


def _load(loader, *args, **kwargs):
    try:
        return loader(*args, **kwargs)
    except bd.DatasetUnavailable as exc:
        pytest.skip(str(exc))


TEXT_CASES = [
    (bd.load_glue_sst2, ("test",), 872, 2),
    (bd.load_imdb_cad_sentiment, ("test",), 488, 2),
    (bd.load_yelp_amazon, ("yelp",), 1000, 2),
    (bd.load_yelp_amazon, ("amazon",), 1000, 2),
    (bd.load_uci_sentiment, ("amazon",), 1000, 2),
    (bd.load_uci_sentiment, ("imdb",), 1000, 2),
    (bd.load_cola, ("in_domain_dev",), 527, 2),
    (bd.load_cola, ("out_of_domain_dev",), 516, 2),
]


@pytest.mark.parametrize(("loader", "args", "n", "n_classes"), TEXT_CASES)
def test_text_loaders_counts_and_types(loader, args, n, n_classes):
    ds = _load(loader, *args)
    assert len(ds.X) == len(ds.y) == n
    assert all(isinstance(s, str) and s for s in ds.X)
    assert ds.y.dtype == np.int64
    assert set(np.unique(ds.y)) == set(range(n_classes)) and len(ds.classes) == n_classes


def test_imdb_reviews_have_no_html_breaks():
    ds = _load(bd.load_imdb_cad_sentiment, "all")
    assert len(ds) == 2440
    assert not any("<br" in s for s in ds.X)


def test_uci_imdb_lines_with_stray_quotes_and_nel_are_kept_whole():
    # The imdb file has unbalanced quotes and NEL characters inside lines; both must not split rows.
    ds = _load(bd.load_uci_sentiment, "imdb")
    assert np.bincount(ds.y).tolist() == [500, 500]


@pytest.mark.parametrize(
    ("loader", "args", "n", "counts"),
    [
        (bd.load_mnli_dev_matched, (), 9815, [3479, 3123, 3213]),
        (bd.load_sick, ("test",), 4927, [1414, 2793, 720]),
        (bd.load_snli_cad, ("test",), 400, None),
    ],
)
def test_nli_loaders_share_one_label_order(loader, args, n, counts):
    ds = _load(loader, *args)
    assert ds.classes == bd.NLI_CLASSES == ("entailment", "neutral", "contradiction")
    assert len(ds) == n
    assert all(isinstance(p, tuple) and len(p) == 2 and p[0] and p[1] for p in ds.X)
    if counts is not None:
        assert np.bincount(ds.y).tolist() == counts


def test_snli_first_test_pair_is_entailment():
    # First data row of NLI/original/test.tsv: "A man with a beard ... cellphone ..." -> entailment.
    ds = _load(bd.load_snli_cad, "test")
    assert ds.X[0][0].startswith("A man with a beard")
    assert ds.classes[ds.y[0]] == "entailment"


@pytest.mark.parametrize(
    ("loader", "args", "n"),
    [(bd.load_pacs, ("photo",), 1670), (bd.load_pacs, ("sketch",), 3929), (bd.load_usps, (), 2000)],
)
def test_image_loaders_return_uint8_rgb32(loader, args, n):
    ds = _load(loader, *args)
    assert ds.X.shape == (n, 32, 32, 3) and ds.X.dtype == np.uint8
    assert len(ds.y) == n
    assert ds.y.min() >= 0 and ds.y.max() < len(ds.classes)


def test_usps_digits_are_white_on_black_like_mnist():
    ds = _load(bd.load_usps)
    img = ds.X[0, :, :, 0].astype(int)
    border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
    assert border.mean() < 60 and img.max() > 200
    assert (ds.X[..., 0] == ds.X[..., 2]).all()  # grey replicated to three channels


def test_gray_to_rgb32_resizes_and_replicates():
    grey = np.zeros((2, 16, 16), dtype=np.uint8)
    grey[:, 4:12, 4:12] = 255
    out = bd.gray_to_rgb32(grey)
    assert out.shape == (2, 32, 32, 3) and out.dtype == np.uint8
    assert out[0, 16, 16, 1] == 255 and out[0, 0, 0, 0] == 0
    with pytest.raises(ValueError, match="uint8"):
        bd.gray_to_rgb32(grey.astype(np.float32))


def test_stratified_split_is_disjoint_deterministic_and_balanced():
    y = np.repeat([0, 1, 2], [50, 30, 20])
    ds = bd.Dataset(X=np.arange(100)[:, None], y=y, classes=("a", "b", "c"), name="toy")
    first, second = bd.stratified_split(ds, 0.2, seed=3)
    again, _ = bd.stratified_split(ds, 0.2, seed=3)
    assert len(second) == 20 and len(first) == 80
    assert np.bincount(second.y).tolist() == [10, 6, 4]
    assert not set(first.X[:, 0]) & set(second.X[:, 0])
    np.testing.assert_array_equal(first.X, again.X)
    small = bd.subsample(ds, 10, seed=0)
    assert len(small) == 10 and np.bincount(small.y).tolist() == [5, 3, 2]
    assert bd.subsample(ds, None) is ds
    with pytest.raises(ValueError, match="non-empty"):
        bd.stratified_split(ds, 100)


def test_missing_folder_raises_dedicated_exception(tmp_path, monkeypatch):
    monkeypatch.setenv("SKNMTUNE_DATA_DIR", str(tmp_path))
    with pytest.raises(bd.DatasetUnavailable, match="'cola' is absent"):
        bd.load_cola("in_domain_dev")
    with pytest.raises(bd.DatasetUnavailable, match="mnist-m-test"):
        bd.load_mnist_m()


def test_invalid_split_names_are_rejected():
    with pytest.raises(ValueError, match="split='validation'"):
        bd.load_cola("validation")
