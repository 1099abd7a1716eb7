"""Tests for sknmtune.plotting: the figures' content, saving, and input errors."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from matplotlib.axes import Axes  # noqa: E402
from matplotlib.container import BarContainer, ErrorbarContainer  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from sknmtune.plotting import (  # noqa: E402
    plot_accuracy_by_method,
    plot_accuracy_vs_noise,
    plot_metric_vs_noise,
    plot_spectrum,
)
from sknmtune.spectral import singular_values  # noqa: E402


def _legend_texts(ax):
    legend = ax.get_legend()
    return [] if legend is None else [t.get_text() for t in legend.get_texts()]


def _lines_by_label(ax):
    return {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}


def _errorbar_halfwidths(container: ErrorbarContainer) -> np.ndarray:
    """Half lengths of the vertical error bars of one errorbar/bar container."""
    segments = container.lines[2][0].get_segments()
    return np.array([(seg[1][1] - seg[0][1]) / 2 for seg in segments])


def _bar_containers(ax):
    return [c for c in ax.containers if isinstance(c, BarContainer)]


def _errorbar_containers(ax):
    return [c for c in ax.containers if isinstance(c, ErrorbarContainer)]


@pytest.fixture
def features():
    rng = np.random.default_rng(0)
    return rng.normal(size=(120, 40)) * np.linspace(2.0, 0.1, 40)


# --------------------------------------------------------------------------- plot_spectrum


def test_spectrum_panels_hold_the_normalized_singular_values(features):
    axes = plot_spectrum(features, groups=(5, 20))
    assert isinstance(axes, np.ndarray) and axes.shape == (3,)
    assert all(isinstance(a, Axes) for a in axes)
    assert axes[0].figure is axes[2].figure and isinstance(axes[0].figure, Figure)
    assert [a.get_title() for a in axes] == [
        "singular values 1\u20135",
        "singular values 6\u201320",
        "singular values 21\u201340",
    ]
    s = singular_values(features)
    expected = s / s.sum()
    lines = [a.get_lines() for a in axes]
    assert [len(ls) for ls in lines] == [1, 1, 1]
    np.testing.assert_allclose(np.concatenate([ls[0].get_ydata() for ls in lines]), expected)
    np.testing.assert_array_equal(np.concatenate([ls[0].get_xdata() for ls in lines]), np.arange(1, 41))
    assert axes[0].get_ylabel() == "normalized singular value"
    assert axes[0].get_legend() is None
    assert axes[0].get_yscale() == "linear"


def test_spectrum_raw_values_label_log_and_row_normalization(features):
    axes = plot_spectrum(features, normalize=False, normalize_rows=True, label="F", log=True, groups=())
    assert axes.shape == (1,)
    np.testing.assert_allclose(axes[0].get_lines()[0].get_ydata(), singular_values(features, normalize_rows=True))
    assert axes[0].get_ylabel() == "singular value"
    assert axes[0].get_yscale() == "log"
    assert _legend_texts(axes[0]) == ["F"]


def test_spectrum_overlay_mapping_of_precomputed_values():
    long = np.linspace(1.0, 0.001, 600)
    short = np.linspace(5.0, 1.0, 30)
    axes = plot_spectrum(singular_values={"clean": long, "noisy 5%": short})
    assert [a.get_title() for a in axes] == [
        "singular values 1\u201320",
        "singular values 21\u2013500",
        "singular values 501\u2013600",
    ]
    assert _legend_texts(axes[0]) == ["clean", "noisy 5%"]
    first, middle, last = (_lines_by_label(a) for a in axes)
    assert set(first) == set(middle) == {"clean", "noisy 5%"} and set(last) == {"clean"}
    np.testing.assert_allclose(middle["noisy 5%"].get_ydata(), (short / short.sum())[20:])
    np.testing.assert_array_equal(middle["noisy 5%"].get_xdata(), np.arange(21, 31))
    np.testing.assert_allclose(last["clean"].get_ydata(), (long / long.sum())[500:])
    # one colour per spectrum, the same in every panel
    assert first["clean"].get_color() == last["clean"].get_color() != first["noisy 5%"].get_color()


def test_spectrum_mapping_of_feature_matrices(features):
    Z = features[:, :10]
    axes = plot_spectrum({"F": features, "Z": Z}, groups=(20,), center=True)
    assert len(axes) == 2
    lines = _lines_by_label(axes[0])
    sz = singular_values(Z, center=True)
    np.testing.assert_allclose(lines["Z"].get_ydata(), sz / sz.sum())
    assert "Z" not in _lines_by_label(axes[1])


def test_spectrum_short_spectrum_drops_empty_panels():
    axes = plot_spectrum(singular_values=[3.0, 2.0, 1.0])
    assert axes.shape == (1,) and axes[0].get_title() == "singular values 1\u20133"


def test_spectrum_draws_on_given_axes(features):
    fig = Figure()
    given = fig.subplots(1, 3)
    axes = plot_spectrum(features, groups=(5, 20), ax=given)
    assert list(axes) == list(given)
    single = Figure().add_subplot()
    assert plot_spectrum(features, groups=(), ax=single)[0] is single
    with pytest.raises(ValueError, match="must hold 3 Axes"):
        plot_spectrum(features, groups=(5, 20), ax=given[:2])
    with pytest.raises(TypeError, match="matplotlib Axes"):
        plot_spectrum(features, groups=(), ax=["not an axes"])


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({}, ValueError, "exactly one of X"),
        ({"X": np.eye(3), "singular_values": [1.0]}, ValueError, "exactly one of X"),
        ({"singular_values": [1.0], "center": True}, ValueError, "apply to X"),
        ({"X": {"a": np.eye(3)}, "label": "b"}, ValueError, "keys of the X mapping"),
        ({"singular_values": {}}, ValueError, "mapping is empty"),
        ({"singular_values": [1.0, 2.0]}, ValueError, "descending"),
        ({"singular_values": [1.0, -0.5]}, ValueError, "negative"),
        ({"singular_values": [0.0, 0.0]}, ValueError, "all zeros"),
        ({"singular_values": [[2.0, 1.0]]}, ValueError, "1-D"),
        ({"singular_values": []}, ValueError, "empty"),
        ({"singular_values": {"a": [1.0, np.nan]}}, ValueError, r"singular_values\['a'\] contains NaN"),
        ({"X": np.zeros((4, 3))}, ValueError, "all zeros"),
        ({"singular_values": [1.0], "groups": (500, 20)}, ValueError, "strictly increasing"),
        ({"singular_values": [1.0], "groups": (0, 20)}, ValueError, "strictly increasing"),
        ({"singular_values": [1.0], "groups": (2.5,)}, ValueError, "strictly increasing"),
        ({"singular_values": [1.0], "groups": 20}, TypeError, "groups must be a sequence"),
    ],
)
def test_spectrum_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        plot_spectrum(**kwargs)


# --------------------------------------------------------------------------- plot_metric_vs_noise


def test_metric_vs_noise_content():
    rates = [0.0, 0.05, 0.1, 0.2, 0.3]
    values = {"CIFAR-10": [5.0, 5.1, 5.2, 5.4, 5.5], "DTD": [4.0, 4.2, 4.1, 4.3, 4.6]}
    ax = plot_metric_vs_noise(rates, values, metric="LSVR")
    assert isinstance(ax, Axes)
    lines = _lines_by_label(ax)
    assert set(lines) == set(values) and _legend_texts(ax) == ["CIFAR-10", "DTD"]
    for key, vals in values.items():
        np.testing.assert_allclose(lines[key].get_xdata(), [0, 5, 10, 20, 30])
        np.testing.assert_allclose(lines[key].get_ydata(), vals)
    assert ax.get_xlabel() == "Noise ratio (%)" and ax.get_ylabel() == "LSVR"
    np.testing.assert_allclose(ax.get_xticks(), [0, 5, 10, 20, 30])


def test_metric_vs_noise_sorts_unordered_rates():
    ax = plot_metric_vs_noise([0.2, 0.0, 0.1], {"a": [3.0, 1.0, 2.0]})
    line = ax.get_lines()[0]
    np.testing.assert_allclose(line.get_xdata(), [0, 10, 20])
    np.testing.assert_allclose(line.get_ydata(), [1.0, 2.0, 3.0])
    assert ax.get_ylabel() == "SVE"


def test_metric_vs_noise_on_given_axes():
    ax = Figure().add_subplot()
    assert plot_metric_vs_noise([0.0, 0.1], {"a": [1.0, 2.0]}, ax=ax) is ax
    assert len(ax.get_lines()) == 1


@pytest.mark.parametrize(
    ("rates", "values", "exc", "match"),
    [
        ([0.0, 0.1], {"a": [1.0]}, ValueError, "has 1 entries but noise_rates has 2"),
        ([0, 5, 10], {"a": [1.0, 2.0, 3.0]}, ValueError, "fractions in"),
        ([], {"a": []}, ValueError, "noise_rates is empty"),
        ([0.0, 0.1], {}, ValueError, "values is empty"),
        ([0.0, 0.1], [1.0, 2.0], TypeError, "mapping"),
        ([0.0, 0.1], {"a": [1.0, np.inf]}, ValueError, "NaN or infinite"),
        ([0.0, 0.1], {"a": ["x", "y"]}, ValueError, "sequence of numbers"),
    ],
)
def test_metric_vs_noise_errors(rates, values, exc, match):
    with pytest.raises(exc, match=match):
        plot_metric_vs_noise(rates, values)


def test_bad_ax_type():
    with pytest.raises(TypeError, match="matplotlib Axes"):
        plot_metric_vs_noise([0.0], {"a": [1.0]}, ax="axes")


# --------------------------------------------------------------------------- accuracy records


def _records():
    rows = []
    per_seed = [(0.80, 0.50, 0.82, 0.84, 0.55), (0.82, 0.54, 0.84, 0.88, 0.57)]
    for seed, (lp_id, lp_ood, mlp_id, nm_id, nm_ood) in enumerate(per_seed):
        rows += [
            {"method": "LP", "role": "OOD", "accuracy": lp_ood, "seed": seed},
            {"method": "LP", "role": "ID", "accuracy": lp_id, "seed": seed},
            {"method": "MLP", "role": "ID", "accuracy": mlp_id, "seed": seed},  # no OOD record
            {"method": "NMTune", "role": "ID", "accuracy": nm_id, "seed": seed},
            {"method": "NMTune", "role": "OOD", "accuracy": nm_ood, "seed": seed},
        ]
    return rows


def test_accuracy_by_method_bars():
    ax = plot_accuracy_by_method(_records())
    bars = _bar_containers(ax)
    assert [b.get_label() for b in bars] == ["ID", "OOD"] and _legend_texts(ax) == ["ID", "OOD"]
    id_bars, ood_bars = bars
    assert len(id_bars) == 3 and len(ood_bars) == 2  # MLP has no OOD bar
    np.testing.assert_allclose([p.get_height() for p in id_bars], [0.81, 0.83, 0.86])
    np.testing.assert_allclose([p.get_height() for p in ood_bars], [0.52, 0.56])
    id_err, ood_err = (_errorbar_halfwidths(c) for c in _errorbar_containers(ax))
    np.testing.assert_allclose(id_err, [0.01, 0.01, 0.02])
    np.testing.assert_allclose(ood_err, [0.02, 0.01])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["LP", "MLP", "NMTune"]
    # ID and OOD bars of one method sit side by side around its tick
    centers = [p.get_x() + p.get_width() / 2 for p in id_bars]
    assert centers[0] < 0 < [p.get_x() + p.get_width() / 2 for p in ood_bars][0] < 0.5
    assert ax.get_ylabel() == "accuracy"


def test_accuracy_by_method_selection_and_metric():
    recs = [dict(r, f1=r["accuracy"] - 0.1) for r in _records()]
    ax = plot_accuracy_by_method(recs, methods=["NMTune", "LP"], metric="f1")
    id_bars = _bar_containers(ax)[0]
    np.testing.assert_allclose([p.get_height() for p in id_bars], [0.76, 0.71])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["NMTune", "LP"]
    assert ax.get_ylabel() == "f1"
    only_id = plot_accuracy_by_method(recs, methods=["MLP"])
    assert [b.get_label() for b in _bar_containers(only_id)] == ["ID"]


def test_accuracy_by_method_single_record_has_zero_error():
    ax = plot_accuracy_by_method([{"method": "LP", "role": "OOD", "accuracy": 0.4}])
    np.testing.assert_allclose(_errorbar_halfwidths(_errorbar_containers(ax)[0]), [0.0])


def _noise_records():
    rows = []
    for rate, base in [(0.0, 0.80), (0.05, 0.82), (0.1, 0.78)]:
        for seed, delta in enumerate((-0.01, 0.01)):
            rows.append({"method": "LP", "role": "ID", "noise_rate": rate, "accuracy": base + delta})
            rows.append({"method": "LP", "role": "OOD", "noise_rate": rate, "accuracy": base - 0.3 + 2 * delta})
    rows.append({"method": "NMTune", "role": "ID", "noise_rate": 0.1, "accuracy": 0.9})
    rows.append({"method": "NMTune", "role": "ID", "noise_rate": 0.0, "accuracy": 0.85})
    return rows


def test_accuracy_vs_noise_content():
    ax = plot_accuracy_vs_noise(_noise_records())
    conts = {c.get_label(): c for c in _errorbar_containers(ax)}
    assert list(conts) == ["LP (ID)", "LP (OOD)", "NMTune (ID)"]
    assert _legend_texts(ax) == ["LP (ID)", "LP (OOD)", "NMTune (ID)"]
    lp_id = conts["LP (ID)"].lines[0]
    np.testing.assert_allclose(lp_id.get_xdata(), [0, 5, 10])
    np.testing.assert_allclose(lp_id.get_ydata(), [0.80, 0.82, 0.78])
    np.testing.assert_allclose(_errorbar_halfwidths(conts["LP (OOD)"]), [0.02, 0.02, 0.02])
    nm = conts["NMTune (ID)"].lines[0]
    np.testing.assert_allclose(nm.get_xdata(), [0, 10])  # sorted by noise rate
    np.testing.assert_allclose(nm.get_ydata(), [0.85, 0.9])
    assert lp_id.get_color() == conts["LP (OOD)"].lines[0].get_color() != nm.get_color()
    assert lp_id.get_linestyle() != conts["LP (OOD)"].lines[0].get_linestyle()
    assert ax.get_xlabel() == "Noise ratio (%)" and ax.get_ylabel() == "accuracy"


def test_accuracy_vs_noise_filters():
    ax = plot_accuracy_vs_noise(_noise_records(), roles=["OOD"])
    assert _legend_texts(ax) == ["LP (OOD)"]
    ax = plot_accuracy_vs_noise(_noise_records(), methods=["NMTune"])
    assert _legend_texts(ax) == ["NMTune (ID)"]
    with pytest.raises(ValueError, match="no records for methods"):
        plot_accuracy_vs_noise(_noise_records(), methods=["NMTune"], roles=["OOD"])
    with pytest.raises(ValueError, match=r"roles \['val'\] have no records"):
        plot_accuracy_vs_noise(_noise_records(), roles=["val"])


_ONE = {"method": "LP", "role": "ID", "accuracy": 0.5, "noise_rate": 0.0}


@pytest.mark.parametrize("func", [plot_accuracy_by_method, plot_accuracy_vs_noise])
@pytest.mark.parametrize(
    ("records", "kwargs", "exc", "match"),
    [
        ([], {}, ValueError, "records is empty"),
        ({"method": "LP"}, {}, TypeError, "list of dicts"),
        ([("LP", "ID", 0.5)], {}, TypeError, r"records\[0\] must be a dict"),
        ([{"method": "LP", "accuracy": 0.5, "noise_rate": 0.0}], {}, ValueError, r"lacks the key\(s\) \['role'\]"),
        ([{"method": "LP", "role": "ID", "accuracy": np.nan, "noise_rate": 0.0}], {}, ValueError, "finite number"),
        ([{"method": "LP", "role": "ID", "accuracy": "0.5", "noise_rate": 0.0}], {}, ValueError, "finite number"),
        ([_ONE], {"methods": ["MLP"]}, ValueError, "have no records"),
        ([_ONE], {"methods": []}, ValueError, "methods is empty"),
    ],
)
def test_record_errors(func, records, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        func(records, **kwargs)


def test_accuracy_vs_noise_rejects_percent_noise_rates():
    with pytest.raises(ValueError, match="fractions in"):
        plot_accuracy_vs_noise([{"method": "LP", "role": "ID", "accuracy": 0.5, "noise_rate": 5}])


# --------------------------------------------------------------------------- saving, threads, optional dep


def test_every_plot_saves_png(tmp_path, features):
    figures = {
        "spectrum": plot_spectrum(features)[0].figure,
        "metric": plot_metric_vs_noise([0.0, 0.1], {"a": [1.0, 2.0]}).figure,
        "bars": plot_accuracy_by_method(_records()).figure,
        "noise": plot_accuracy_vs_noise(_noise_records()).figure,
    }
    for name, fig in figures.items():
        path = tmp_path / f"{name}.png"
        fig.savefig(path)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_figures_in_threads(tmp_path):
    def work(i):
        ax = plot_metric_vs_noise([0.0, 0.1], {f"s{i}": [float(i), i + 1.0]})
        ax.figure.savefig(tmp_path / f"{i}.png")
        return ax.get_lines()[0].get_ydata().tolist()

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(work, range(8)))
    assert results == [[float(i), i + 1.0] for i in range(8)]
    assert len(list(tmp_path.glob("*.png"))) == 8


def test_missing_matplotlib_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install sknmtune\[plots\]"):
        plot_metric_vs_noise([0.0], {"a": [1.0]})


def test_import_is_lazy_and_never_touches_pyplot():
    code = (
        "import sys; import sknmtune.plotting as p; "
        "assert 'matplotlib' not in sys.modules, 'imported at module load'; "
        "p.plot_accuracy_by_method([{'method': 'LP', 'role': 'ID', 'accuracy': 0.5}]); "
        "assert 'matplotlib' in sys.modules; "
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
