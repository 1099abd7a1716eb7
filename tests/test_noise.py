"""Tests for sknmtune.noise: exact counts, valid relabelling, uniformity, seeding, errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chisquare

from sknmtune.noise import inject_label_noise, pair_label_noise, symmetric_label_noise

NOISE_FUNCS = [symmetric_label_noise, pair_label_noise]


def _other_class_offsets_pvalues(y, y_noisy, mask, n_classes):
    """Per source class, chi-square p-value that the corrupted labels are uniform over the others."""
    pvalues = []
    for c in range(n_classes):
        rows = mask & (y == c)
        counts = np.bincount(y_noisy[rows], minlength=n_classes)
        others = np.delete(counts, c)
        pvalues.append(chisquare(others).pvalue)
    return np.array(pvalues)


def _pooled_draws(func, n_classes=5, n_seeds=20):
    y = np.tile(np.arange(n_classes), 200)  # 1000 rows
    ys, noisy, masks = [], [], []
    for seed in range(n_seeds):
        y_noisy, mask = func(y, 0.5, random_state=seed)
        ys.append(y)
        noisy.append(y_noisy)
        masks.append(mask)
    return np.concatenate(ys), np.concatenate(noisy), np.concatenate(masks)


@pytest.mark.parametrize("func", NOISE_FUNCS)
@pytest.mark.parametrize(
    ("n", "rate", "expected"),
    [(100, 0.2, 20), (10, 0.05, 1), (10, 0.04, 0), (7, 0.3, 2), (1000, 0.0, 0), (3, 0.5, 2), (50, 0.999, 50)],
)
def test_exact_count_and_changed_labels(func, n, rate, expected):
    y = np.arange(n) % 3
    y_noisy, mask = func(y, rate, random_state=0)
    assert mask.dtype == bool and mask.shape == (n,)
    assert int(mask.sum()) == expected
    np.testing.assert_array_equal(mask, y_noisy != y)
    np.testing.assert_array_equal(y_noisy[~mask], y[~mask])
    assert set(np.unique(y_noisy)) <= {0, 1, 2}


def test_symmetric_uniform_over_other_classes():
    # 10 000 corrupted labels, ~500 per (source, target) cell. Correct code: p ~ U(0, 1);
    # a 1e-4 bound is loose, yet any real bias (e.g. an off-by-one skip) gives p ~ 0.
    y, y_noisy, mask = _pooled_draws(symmetric_label_noise)
    assert np.all(y_noisy[mask] != y[mask])
    pvalues = _other_class_offsets_pvalues(y, y_noisy, mask, 5)
    assert pvalues.min() > 1e-4, pvalues


def test_uniformity_check_detects_non_uniform_noise():
    # The same check must reject pair noise, which is maximally non-uniform.
    y, y_noisy, mask = _pooled_draws(pair_label_noise)
    pvalues = _other_class_offsets_pvalues(y, y_noisy, mask, 5)
    assert pvalues.max() < 1e-4


def test_symmetric_rows_are_spread_over_classes():
    # Rows are chosen regardless of class: each class is hit at about the noise rate.
    y, _, mask = _pooled_draws(symmetric_label_noise)
    per_class = np.array([mask[y == c].mean() for c in range(5)])
    np.testing.assert_allclose(per_class, 0.5, atol=0.03)


def test_pair_mapping_sorted_order_with_strings():
    y = np.array(["dog", "ant", "cat"] * 10)
    y_noisy, mask = pair_label_noise(y, 0.6, random_state=1)
    nxt = {"ant": "cat", "cat": "dog", "dog": "ant"}
    assert int(mask.sum()) == 18
    assert [nxt[a] for a in y[mask]] == y_noisy[mask].tolist()


@pytest.mark.parametrize("func", NOISE_FUNCS)
def test_string_labels_keep_dtype(func):
    y = np.array(["a", "bb", "ccc", "a"] * 5)
    y_noisy, mask = func(y, 0.5, random_state=3)
    assert y_noisy.dtype == y.dtype
    assert set(y_noisy) <= {"a", "bb", "ccc"}
    assert np.all(y_noisy[mask] != y[mask])
    y_obj = y.astype(object)
    y_noisy_obj, _ = func(y_obj, 0.5, random_state=3)
    assert y_noisy_obj.dtype == object
    np.testing.assert_array_equal(y_noisy_obj.astype(str), y_noisy)


@pytest.mark.parametrize("dtype", [np.int8, np.int64, np.float32, bool])
def test_numeric_dtype_preserved_and_input_untouched(dtype):
    y = (np.arange(40) % 2).astype(dtype)
    y_before = y.copy()
    y_noisy, mask = symmetric_label_noise(y, 0.25, random_state=0)
    assert y_noisy.dtype == y.dtype
    np.testing.assert_array_equal(y, y_before)
    assert int(mask.sum()) == 10


def test_list_input():
    y_noisy, mask = symmetric_label_noise([1, 2, 1, 2], 0.5, random_state=0)
    assert isinstance(y_noisy, np.ndarray) and int(mask.sum()) == 2


@pytest.mark.parametrize("func", NOISE_FUNCS)
def test_determinism(func):
    y = np.arange(200) % 7
    a = func(y, 0.3, random_state=42)
    b = func(y, 0.3, random_state=42)
    c = func(y, 0.3, random_state=43)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    rs = np.random.RandomState(42)
    np.testing.assert_array_equal(func(y, 0.3, random_state=rs)[0], a[0])


def test_explicit_classes_allow_absent_labels():
    y = np.zeros(300, dtype=int)  # a single class present
    y_noisy, mask = symmetric_label_noise(y, 0.5, random_state=0, classes=[0, 1, 2])
    assert int(mask.sum()) == 150
    counts = np.bincount(y_noisy[mask], minlength=3)
    assert counts[0] == 0 and counts[1] > 40 and counts[2] > 40
    y_pair, _ = pair_label_noise(y, 0.5, random_state=0, classes=[2, 0, 1])
    assert set(np.unique(y_pair)) == {0, 1}


def test_inject_dispatches():
    y = np.arange(60) % 4
    for kind, func in [("symmetric", symmetric_label_noise), ("pair", pair_label_noise)]:
        got = inject_label_noise(y, 0.2, kind=kind, random_state=5)
        want = func(y, 0.2, random_state=5)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    default = inject_label_noise(y, 0.2, random_state=5)
    np.testing.assert_array_equal(default[0], symmetric_label_noise(y, 0.2, random_state=5)[0])


@pytest.mark.parametrize("rate", [1.0, -0.1, 1.5, float("nan"), "0.1", None, True])
def test_bad_noise_rate(rate):
    with pytest.raises(ValueError, match="noise_rate"):
        symmetric_label_noise([0, 1], rate)


@pytest.mark.parametrize(
    ("y", "kwargs", "match"),
    [
        ([], {}, "empty"),
        ([[0, 1], [1, 0]], {}, "1-D"),
        ([1, 1, 1], {}, "at least 2 classes"),
        ([0.0, 1.0, np.nan], {}, "NaN"),
        ([0, 1, 2], {"classes": [0, 1]}, r"missing: \[2\]"),
        ([0, 1], {"classes": [0, 1, 1]}, "duplicated"),
        ([0, 0], {"classes": [0]}, "at least 2 labels"),
        ([0, 1], {"classes": [[0, 1]]}, "classes must be 1-D"),
        ([0, 1], {"classes": [0, 1, 0.5]}, "dtype"),
        (np.array(["a", "b"]), {"classes": ["a", "b", "cat"]}, "dtype"),
        (np.array([1, "a"], dtype=object), {}, "sorted"),
    ],
)
@pytest.mark.parametrize("func", NOISE_FUNCS)
def test_errors(func, y, kwargs, match):
    with pytest.raises(ValueError, match=match):
        func(y, 0.5, **kwargs)


def test_bad_kind():
    with pytest.raises(ValueError, match="kind must be one of"):
        inject_label_noise([0, 1], 0.5, kind="asym")
