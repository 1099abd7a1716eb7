"""Smoke tests of the benchmark data loaders (benchmarks/datasets/); skipped where shared data is absent."""

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


# --------------------------------------------------------------------------- data for ImageNet backbones


def _digests(images) -> list[bytes]:
    import hashlib

    return [hashlib.blake2b(np.ascontiguousarray(im).tobytes(), digest_size=16).digest() for im in images]


@pytest.mark.parametrize(("split", "n"), [("train", 2040), ("valid", 818), ("test", 819)])
def test_flowers102_splits_are_lists_of_rgb_images_with_102_classes(split, n):
    ds = _load(bd.load_flowers102, split)
    assert len(ds.X) == len(ds) == n and len(ds.classes) == 102
    assert all(im.dtype == np.uint8 and im.ndim == 3 and im.shape[2] == 3 and min(im.shape[:2]) == 128 for im in ds.X)
    assert ds.classes[0] == "pink primrose"  # folder "1" in cat_to_name.json
    if split == "train":
        assert np.bincount(ds.y).tolist() == [20] * 102


def test_dtd10_split_is_stratified_disjoint_and_seeded():
    parts = {s: _load(bd.load_dtd10, s) for s in ("train", "val", "test")}
    assert [len(parts[s]) for s in ("train", "val", "test")] == [720, 240, 240]
    for s, per_class in (("train", 72), ("val", 24), ("test", 24)):
        assert np.bincount(parts[s].y).tolist() == [per_class] * 10
    keys = {s: set(_digests(parts[s].X)) for s in parts}
    assert not (keys["train"] & keys["val"]) and not (keys["train"] & keys["test"]) and not (keys["val"] & keys["test"])
    assert len(keys["train"] | keys["val"] | keys["test"]) == 1200
    assert _digests(bd.load_dtd10("test").X) == _digests(parts["test"].X)  # same seed, same split
    assert set(_digests(bd.load_dtd10("test", seed=1).X)) != keys["test"]
    assert parts["train"].classes[0] == "banded" and len(parts["train"].classes) == 10


def test_pacs_full_photo_counts_match_the_manifest():
    ds = _load(bd.load_pacs_full, "photo")
    assert ds.X.shape == (1670, 128, 128, 3) and ds.X.dtype == np.uint8
    assert ds.classes == ("dog", "elephant", "giraffe", "guitar", "horse", "house", "person")
    assert np.bincount(ds.y).tolist() == [189, 202, 182, 186, 199, 280, 432]


def test_cifar10_test_split_in_standard_order():
    ds = _load(bd.load_cifar10, "test")
    assert ds.X.shape == (10000, 32, 32, 3) and ds.X.dtype == np.uint8
    assert ds.classes == bd.CIFAR10_CLASSES and np.bincount(ds.y).tolist() == [1000] * 10


def test_select_corruptions_is_one_per_family_per_severity_and_seeded():
    chosen = bd.select_corruptions((3, 5), seed=0)
    assert chosen == bd.select_corruptions((3, 5), seed=0) and len(chosen) == 8
    names = list(dict.fromkeys(c for c, _ in chosen))
    assert [next(f for f, members in bd.CORRUPTION_FAMILIES.items() if c in members) for c in names] == list(
        bd.CORRUPTION_FAMILIES
    )
    assert [s for _, s in chosen] == [3, 5] * 4
    assert any(bd.select_corruptions((3,), seed=s) != bd.select_corruptions((3,), seed=0) for s in range(1, 6))
    with pytest.raises(ValueError, match="severities"):
        bd.select_corruptions((0, 6))


def test_subsample_is_nested_across_sizes():
    # the corrupted sets rely on it: a smaller stratified subset (same seed) lies inside a larger one
    y = np.repeat(np.arange(7), [30, 25, 40, 12, 18, 9, 50])
    ds = bd.Dataset(X=np.arange(len(y))[:, None], y=y, classes=tuple("abcdefg"), name="toy")
    small, large = bd.subsample(ds, 40, seed=0), bd.subsample(ds, 120, seed=0)
    assert set(small.X[:, 0]) <= set(large.X[:, 0])


def test_cifar10_c_is_generated_once_then_read_back(tmp_path):
    pytest.importorskip("imagecorruptions", reason="imagecorruptions-imaug is not installed")
    ds = _load(bd.load_cifar10_c, "gaussian_noise", 3, n=20, seed=0, cache_dir=tmp_path)
    files = list(tmp_path.glob("cifar10c2_gaussian_noise_s3_n20_seed0.npz"))
    assert len(files) == 1
    source = bd.subsample(bd.load_cifar10("test"), 20, seed=0)
    np.testing.assert_array_equal(ds.y, source.y)
    assert ds.X.shape == source.X.shape == (20, 32, 32, 3) and ds.X.dtype == np.uint8
    assert np.abs(ds.X.astype(int) - source.X.astype(int)).mean() > 5  # noise was added
    again = bd.load_cifar10_c("gaussian_noise", 3, n=20, seed=0, cache_dir=tmp_path)
    np.testing.assert_array_equal(again.X, ds.X)
    stronger = bd.load_cifar10_c("gaussian_noise", 5, n=20, seed=0, cache_dir=tmp_path)
    assert np.abs(stronger.X.astype(int) - source.X.astype(int)).mean() > np.abs(ds.X.astype(int) - source.X.astype(int)).mean()
    with pytest.raises(ValueError, match="severity"):
        bd.load_cifar10_c("gaussian_noise", 6, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="corruption='rain'"):
        bd.load_cifar10_c("rain", 3, cache_dir=tmp_path)


@pytest.mark.parametrize("corruption", ["impulse_noise", "glass_blur", "gaussian_noise"])
def test_every_corruption_is_reproducible_from_its_seed(corruption):
    # impulse_noise and glass_blur ignore np.random.seed: before they were given seed=, two generations of
    # the "same" CIFAR-10-C set differed (a cold benchmark run changed their accuracies)
    pytest.importorskip("imagecorruptions", reason="imagecorruptions-imaug is not installed")
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    state = np.random.get_state()
    first = bd._corrupt_one(image, corruption, 3, seed=7)
    np.testing.assert_array_equal(bd._corrupt_one(image, corruption, 3, seed=7), first)
    assert first.shape == image.shape and first.dtype == np.uint8 and not np.array_equal(first, image)
    assert not np.array_equal(bd._corrupt_one(image, corruption, 3, seed=8), first)
    np.testing.assert_array_equal(np.random.get_state()[1], state[1])  # the global generator is left as it was


def test_imagenet_data_loaders_skip_when_absent(tmp_path, monkeypatch):
    monkeypatch.setenv("SKNMTUNE_DATA_DIR", str(tmp_path))
    with pytest.raises(bd.DatasetUnavailable, match="'flowers102' is absent"):
        bd.load_flowers102("train")
    with pytest.raises(bd.DatasetUnavailable, match="'pacs-full' is absent"):
        bd.load_pacs_full("sketch")
    with pytest.raises(bd.DatasetUnavailable, match="'dtd10' is absent"):
        bd.load_dtd10("val")


def test_substring_overlap_counts_items_seen_inside_the_corpus():
    corpus = ["a truly  great film", "dull and slow"]
    assert bd.substring_overlap(["Great film", "slow", "brilliant", ""], corpus) == 0.5
    assert bd.substring_overlap([], corpus) == 0.0


def test_sst_sentence_validation_split_does_not_leak_into_glue_train():
    val = _load(bd.load_sst_sentences, "test")
    train = _load(bd.load_glue_sst2, "train")
    assert len(val.X) == 1821 and set(np.unique(val.y)) == {0, 1}
    # GLUE-train holds the phrases of SST's *train* sentences: its own "dev" re-split leaks, SST test does not
    assert bd.substring_overlap(val.X[:300], train.X) < 0.02
    assert bd.substring_overlap(_load(bd.load_glue_sst2, "dev").X[:300], train.X) > 0.5
