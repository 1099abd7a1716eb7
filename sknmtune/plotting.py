"""Matplotlib figures in the style of the paper (Fig. 2, 3, 5 and 11).

matplotlib is an optional dependency (``pip install sknmtune[plots]``); it is imported
only when a function here is called. Figures are built with the object API
(:class:`matplotlib.figure.Figure`), never with ``pyplot``'s global state, so they work
headless, in threads and in servers; save them with ``fig.savefig(...)``.

Return convention: every function draws on the Axes it is given (``ax=...``) or on a new
:class:`~matplotlib.figure.Figure` it creates, and returns the Axes it drew on. Single-panel
plots return one :class:`~matplotlib.axes.Axes`; :func:`plot_spectrum`, which draws one
panel per group of singular values, always returns a 1-D NumPy array of Axes. The figure
is ``ax.figure`` (or ``axes[0].figure``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from .spectral import singular_values as _singular_values

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = [
    "plot_spectrum",
    "plot_metric_vs_noise",
    "plot_accuracy_by_method",
    "plot_accuracy_vs_noise",
]

# the evaluation records' roles ("id", "ood", "val"; sknmtune.evaluation), in any letter case
_ROLE_ORDER = ("id", "ood", "val")
_LINESTYLES = ("-", "--", ":", "-.")


# --------------------------------------------------------------------------- matplotlib access


def _figure_class() -> type:
    """Import :class:`matplotlib.figure.Figure` lazily, with an actionable error."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(
            "sknmtune.plotting needs matplotlib, which is an optional dependency; "
            "install it with `pip install sknmtune[plots]`."
        ) from exc
    return Figure


def _check_axes(ax: Any, name: str = "ax") -> Axes:
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes):
        raise TypeError(f"{name} must be a matplotlib Axes, got {type(ax).__name__}.")
    return ax


def _single_axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    """Return ``ax`` (validated) or the Axes of a new constrained-layout Figure."""
    Figure = _figure_class()
    if ax is None:
        return Figure(figsize=figsize, layout="constrained").add_subplot()
    return _check_axes(ax)


# --------------------------------------------------------------------------- validation helpers


def _as_1d_finite(values: ArrayLike, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a 1-D sequence of numbers ({exc}).") from exc
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}.")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return arr


def _validate_noise_rates(rates: ArrayLike, name: str) -> np.ndarray:
    arr = _as_1d_finite(rates, name)
    if np.any((arr < 0) | (arr > 1)):
        raise ValueError(
            f"{name} must be fractions in [0, 1] (0.05 for 5 %); got values up to {arr.max():g}."
        )
    return arr


def _records_list(records: Any, required: Sequence[str], numeric: Sequence[str]) -> list[Mapping[str, Any]]:
    """Validate records (dicts, or a DataFrame): all ``required`` keys, finite ``numeric`` ones."""
    if hasattr(records, "to_dict") and not isinstance(records, Mapping):
        records = records.to_dict("records")  # pandas DataFrame
    if isinstance(records, Mapping) or not isinstance(records, Iterable):
        raise TypeError("records must be a list of dicts (or a pandas DataFrame).")
    out = list(records)
    if not out:
        raise ValueError("records is empty; nothing to plot.")
    for i, rec in enumerate(out):
        if not isinstance(rec, Mapping):
            raise TypeError(f"records[{i}] must be a dict, got {type(rec).__name__}.")
        missing = [k for k in required if k not in rec]
        if missing:
            raise ValueError(f"records[{i}] lacks the key(s) {missing}; every record needs {list(required)}.")
        for key in numeric:
            value = rec[key]
            if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(value):
                raise ValueError(f"records[{i}][{key!r}] must be a finite number, got {value!r}.")
    return out


def _ordered_unique(items: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(items))


def _select_methods(recs: list[Mapping[str, Any]], methods: Sequence[Any] | None) -> list[Any]:
    present = _ordered_unique(r["method"] for r in recs)
    if methods is None:
        return present
    methods = list(methods)
    if not methods:
        raise ValueError("methods is empty.")
    unknown = [m for m in methods if m not in present]
    if unknown:
        raise ValueError(f"methods {unknown} have no records; methods present: {present}.")
    return methods


def _select_roles(recs: list[Mapping[str, Any]], roles: Sequence[Any] | None) -> list[Any]:
    present = _ordered_unique(r["role"] for r in recs)
    if roles is None:
        rank = {role: i for i, role in enumerate(_ROLE_ORDER)}
        return sorted(present, key=lambda r: rank.get(str(r).lower(), len(rank)))  # stable: others keep their order
    roles = list(roles)
    if not roles:
        raise ValueError("roles is empty.")
    unknown = [r for r in roles if r not in present]
    if unknown:
        raise ValueError(f"roles {unknown} have no records; roles present: {present}.")
    return roles


def _mean_std(values: list[float]) -> tuple[float, float]:
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()), float(arr.std())


def _draw_noise_line(
    ax: Axes, rates: np.ndarray, mean: np.ndarray, std: np.ndarray | None, **style: Any
) -> None:
    """One series against the noise ratio in percent (with error bars when ``std`` is given)."""
    order = np.argsort(rates, kind="stable")
    x = 100.0 * rates[order]
    if std is None:
        ax.plot(x, mean[order], marker="o", **style)
    else:
        ax.errorbar(x, mean[order], yerr=std[order], marker="o", capsize=3, **style)


def _format_noise_axis(ax: Axes, rates: np.ndarray, ylabel: str) -> None:
    ax.set_xticks(np.unique(100.0 * rates))
    ax.set_xlabel("Noise ratio (%)")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)


# --------------------------------------------------------------------------- spectrum


def _check_spectrum(values: ArrayLike, name: str) -> np.ndarray:
    s = _as_1d_finite(values, name)
    if np.any(s < 0):
        raise ValueError(f"{name} contains negative singular values.")
    if np.any(np.diff(s) > 0):
        raise ValueError(f"{name} must be sorted in descending order (largest singular value first).")
    if s[0] == 0:
        raise ValueError(f"{name} is all zeros.")
    return s


def _collect_spectra(
    X: Any, singular_values: Any, label: str | None, center: bool, normalize_rows: bool
) -> dict[str | None, np.ndarray]:
    if (X is None) == (singular_values is None):
        raise ValueError("pass exactly one of X (feature matrices) or singular_values.")
    source, name = (X, "X") if X is not None else (singular_values, "singular_values")
    if singular_values is not None and (center or normalize_rows):
        raise ValueError("center and normalize_rows apply to X; singular_values are used as given.")

    if isinstance(source, Mapping):
        if label is not None:
            raise ValueError(f"label is for a single spectrum; the keys of the {name} mapping are the labels.")
        if not source:
            raise ValueError(f"the {name} mapping is empty.")
        items = [(str(k), v, f"{name}[{k!r}]") for k, v in source.items()]
    else:
        items = [(label, source, name)]

    spectra: dict[str | None, np.ndarray] = {}
    for key, value, item_name in items:
        if X is not None:
            spectra[key] = _singular_values(value, center=center, normalize_rows=normalize_rows)
        else:
            spectra[key] = _check_spectrum(value, item_name)
    return spectra


def _validate_groups(groups: Sequence[int]) -> list[int]:
    try:
        bounds = list(groups)
    except TypeError:
        raise TypeError(f"groups must be a sequence of integers, got {groups!r}.") from None
    if any(isinstance(b, bool) or not isinstance(b, Integral) or b <= 0 for b in bounds) or any(
        b >= c for b, c in zip(bounds, bounds[1:])
    ):
        raise ValueError(f"groups must be strictly increasing positive integers, got {groups!r}.")
    return [int(b) for b in bounds]


def _panel_title(lo: int, hi: int) -> str:
    """Title for singular values with 1-based indices lo+1 .. hi."""
    return f"singular value {hi}" if hi == lo + 1 else f"singular values {lo + 1}\u2013{hi}"


def plot_spectrum(
    X: ArrayLike | Mapping[str, ArrayLike] | None = None,
    *,
    singular_values: ArrayLike | Mapping[str, ArrayLike] | None = None,
    groups: Sequence[int] = (20, 500),
    normalize: bool = True,
    label: str | None = None,
    center: bool = False,
    normalize_rows: bool = False,
    log: bool = False,
    ax: Axes | Sequence[Axes] | None = None,
) -> np.ndarray:
    """Plot singular value spectra split into index groups (paper, Fig. 11-14).

    The spectrum is cut at the ``groups`` boundaries: with the default ``(20, 500)`` the
    panels show the top 20 singular values, values 21-500 and the rest, so the small tail
    stays readable next to the dominant values. Panels past the longest spectrum are
    dropped. Several spectra (e.g. features ``F`` vs the head's output ``Z``, or
    backbones pre-trained at several noise ratios) are overlaid by passing a mapping.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features), or mapping of label to such arrays
        Feature matrices; their singular values come from
        :func:`sknmtune.spectral.singular_values`. Exclusive with ``singular_values``.
    singular_values : array-like of shape (n_values,), or mapping of label to such arrays
        Precomputed non-negative singular values, largest first. Exclusive with ``X``.
    groups : sequence of int, default=(20, 500)
        Increasing 1-based indices where a panel ends; ``()`` draws one panel.
    normalize : bool, default=True
        Divide each spectrum by its sum (the ``p_i`` of the paper's SVE), which makes
        spectra of differently scaled features comparable.
    label : str, default=None
        Legend label of a single spectrum (mappings use their keys).
    center, normalize_rows : bool, default=False
        Passed to :func:`~sknmtune.spectral.singular_values` for ``X``;
        ``normalize_rows=True`` is the authors' plotting convention.
    log : bool, default=False
        Logarithmic y axis.
    ax : Axes or sequence of Axes, default=None
        Axes to draw on, one per non-empty panel; a new Figure when None.

    Returns
    -------
    axes : ndarray of matplotlib Axes, shape (n_panels,)
        The panels, left to right; the legend is on the first one.

    Examples
    --------
    >>> import numpy as np
    >>> from sknmtune.plotting import plot_spectrum
    >>> rng = np.random.default_rng(0)
    >>> F = rng.normal(size=(600, 64)) * np.linspace(3, 0.1, 64)
    >>> axes = plot_spectrum({"F": F, "noise": rng.normal(size=(600, 64))}, groups=(8, 32))
    >>> [a.get_title() for a in axes]
    ['singular values 1–8', 'singular values 9–32', 'singular values 33–64']
    >>> import io
    >>> axes[0].figure.savefig(io.BytesIO(), format="png")
    """
    bounds = _validate_groups(groups)
    spectra = _collect_spectra(X, singular_values, label, center, normalize_rows)
    if normalize:
        spectra = {k: s / s.sum() for k, s in spectra.items()}

    longest = max(s.shape[0] for s in spectra.values())
    edges = [0] + [b for b in bounds if b < longest] + [longest]
    panels = list(zip(edges[:-1], edges[1:]))

    if ax is None:
        Figure = _figure_class()
        fig = Figure(figsize=(4.0 * len(panels), 3.2), layout="constrained")
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
    else:
        _figure_class()
        given = [ax] if not isinstance(ax, (Sequence, np.ndarray)) else list(np.ravel(np.asarray(ax, dtype=object)))
        if len(given) != len(panels):
            raise ValueError(
                f"ax must hold {len(panels)} Axes, one per panel {[_panel_title(lo, hi) for lo, hi in panels]}, "
                f"got {len(given)}."
            )
        axes = np.empty(len(given), dtype=object)
        axes[:] = [_check_axes(a, "each ax") for a in given]

    for p, (panel, (lo, hi)) in enumerate(zip(axes, panels)):
        for i, (key, s) in enumerate(spectra.items()):
            stop = min(hi, s.shape[0])
            if stop <= lo:
                continue
            panel.plot(
                np.arange(lo + 1, stop + 1),
                s[lo:stop],
                color=f"C{i % 10}",
                marker="o" if hi - lo <= 50 else None,
                markersize=3,
                label=key if key is not None else "_nolegend_",
            )
        panel.set_title(_panel_title(lo, hi))
        panel.set_xlabel("index")
        if log:
            panel.set_yscale("log")
        panel.grid(True, alpha=0.3)
        if p == 0:
            panel.set_ylabel("normalized singular value" if normalize else "singular value")
            if any(k is not None for k in spectra):
                panel.legend()
    return axes


# --------------------------------------------------------------------------- metrics vs noise


def plot_metric_vs_noise(
    noise_rates: ArrayLike,
    values: Mapping[str, ArrayLike],
    *,
    metric: str = "SVE",
    ax: Axes | None = None,
) -> Axes:
    """Plot a metric against the pre-training noise ratio, one line per series (Fig. 3).

    Parameters
    ----------
    noise_rates : array-like of shape (n_rates,)
        Noise ratios as fractions in [0, 1]; the x axis shows them in percent.
    values : mapping of str to array-like of shape (n_rates,)
        One series per key (e.g. a downstream task or a head), aligned with ``noise_rates``.
    metric : str, default="SVE"
        The y-axis label.
    ax : Axes, default=None
        Axes to draw on; a new Figure when None.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> from sknmtune.plotting import plot_metric_vs_noise
    >>> ax = plot_metric_vs_noise([0, 0.05, 0.1, 0.2, 0.3],
    ...                           {"CIFAR-10": [5.1, 5.2, 5.25, 5.4, 5.5]}, metric="SVE")
    >>> ax.get_xlabel(), [t.get_text() for t in ax.get_legend().get_texts()]
    ('Noise ratio (%)', ['CIFAR-10'])
    """
    rates = _validate_noise_rates(noise_rates, "noise_rates")
    if not isinstance(values, Mapping):
        raise TypeError(f"values must be a mapping {{series label: sequence}}, got {type(values).__name__}.")
    if not values:
        raise ValueError("values is empty; nothing to plot.")
    series = {}
    for key, seq in values.items():
        arr = _as_1d_finite(seq, f"values[{key!r}]")
        if arr.shape != rates.shape:
            raise ValueError(
                f"values[{key!r}] has {arr.shape[0]} entries but noise_rates has {rates.shape[0]}."
            )
        series[str(key)] = arr

    ax = _single_axes(ax, figsize=(4.5, 3.5))
    for i, (key, arr) in enumerate(series.items()):
        _draw_noise_line(ax, rates, arr, None, color=f"C{i % 10}", label=key)
    _format_noise_axis(ax, rates, metric)
    ax.legend()
    return ax


# --------------------------------------------------------------------------- accuracy records


def plot_accuracy_by_method(
    records: Iterable[Mapping[str, Any]],
    *,
    metric: str = "accuracy",
    methods: Sequence[Any] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Grouped bars of the mean score per method, one bar per role (ID / OOD) (Fig. 5).

    Each bar is the mean of ``record[metric]`` over the records of one (method, role)
    pair (several seeds, tasks or noise ratios are pooled; filter the records first to
    plot one noise ratio), with an error bar of their standard deviation (``ddof=0``,
    so a single record gives 0). Pairs without records get no bar.

    Parameters
    ----------
    records : list of dict, or pandas DataFrame
        Each with keys ``"method"``, ``"role"`` (e.g. ``"ID"`` / ``"OOD"``) and ``metric``.
    metric : str, default="accuracy"
        The record key to average, also the y-axis label (e.g. ``"f1"``).
    methods : sequence, default=None
        Methods to show, in this order; default all, in order of first appearance.
    ax : Axes, default=None
        Axes to draw on; a new Figure when None.

    Returns
    -------
    ax : matplotlib Axes
        ``ax.patches`` are the bars, role by role (ID, then OOD, then others), methods in
        order within a role.

    Examples
    --------
    >>> from sknmtune.plotting import plot_accuracy_by_method
    >>> records = [
    ...     {"method": "LP", "role": "ID", "accuracy": 0.80},
    ...     {"method": "LP", "role": "OOD", "accuracy": 0.50},
    ...     {"method": "NMTune", "role": "ID", "accuracy": 0.84},
    ...     {"method": "NMTune", "role": "ID", "accuracy": 0.86},
    ...     {"method": "NMTune", "role": "OOD", "accuracy": 0.56},
    ... ]
    >>> ax = plot_accuracy_by_method(records)
    >>> [round(float(p.get_height()), 2) for p in ax.patches]  # ID: LP, NMTune; OOD: LP, NMTune
    [0.8, 0.85, 0.5, 0.56]
    """
    recs = _records_list(records, ("method", "role", metric), numeric=(metric,))
    methods = _select_methods(recs, methods)
    recs = [r for r in recs if r["method"] in methods]
    roles = _select_roles(recs, None)

    groups: dict[tuple[Any, Any], list[float]] = {}
    for r in recs:
        groups.setdefault((r["method"], r["role"]), []).append(float(r[metric]))

    ax = _single_axes(ax, figsize=(max(4.0, 1.2 * len(methods) + 1.5), 3.5))
    width = 0.8 / len(roles)
    for j, role in enumerate(roles):
        pos, means, stds = [], [], []
        for i, method in enumerate(methods):
            if (method, role) in groups:
                m, s = _mean_std(groups[(method, role)])
                pos.append(i + (j - (len(roles) - 1) / 2) * width)
                means.append(m)
                stds.append(s)
        ax.bar(pos, means, width, yerr=stds, capsize=3, color=f"C{j % 10}", label=str(role))
    ax.set_xticks(np.arange(len(methods)), [str(m) for m in methods])
    ax.set_ylabel(metric)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(title="role")
    return ax


def plot_accuracy_vs_noise(
    records: Iterable[Mapping[str, Any]],
    *,
    metric: str = "accuracy",
    methods: Sequence[Any] | None = None,
    roles: Sequence[Any] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Plot the mean score against the pre-training noise ratio per method and role (Fig. 2, 5).

    Records sharing (method, role, noise_rate) are averaged; error bars are their standard
    deviation (``ddof=0``). Colour encodes the method, line style the role, and each line
    is labelled ``"<method> (<role>)"``.

    Parameters
    ----------
    records : list of dict, or pandas DataFrame
        Each with keys ``"method"``, ``"role"``, ``"noise_rate"`` (a fraction in [0, 1])
        and ``metric``.
    metric : str, default="accuracy"
        The record key to average, also the y-axis label.
    methods : sequence, default=None
        Methods to show, in this order; default all, in order of first appearance.
    roles : sequence, default=None
        Roles to show (e.g. ``["OOD"]`` for one panel of Fig. 2); default all, ID and OOD first.
    ax : Axes, default=None
        Axes to draw on; a new Figure when None.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> from sknmtune.plotting import plot_accuracy_vs_noise
    >>> records = [{"method": "LP", "role": "ID", "noise_rate": r, "accuracy": a}
    ...            for r, a in [(0.0, 0.80), (0.05, 0.81), (0.1, 0.79)]]
    >>> ax = plot_accuracy_vs_noise(records)
    >>> ax.get_legend().get_texts()[0].get_text()
    'LP (ID)'
    """
    recs = _records_list(records, ("method", "role", "noise_rate", metric), numeric=("noise_rate", metric))
    _validate_noise_rates([r["noise_rate"] for r in recs], "the records' noise_rate")
    methods = _select_methods(recs, methods)
    roles = _select_roles(recs, roles)

    groups: dict[tuple[Any, Any], dict[float, list[float]]] = {}
    for r in recs:
        groups.setdefault((r["method"], r["role"]), {}).setdefault(float(r["noise_rate"]), []).append(
            float(r[metric])
        )

    lines = []  # (method index, role index, rates, means, stds, label)
    for i, method in enumerate(methods):
        for j, role in enumerate(roles):
            by_rate = groups.get((method, role))
            if by_rate:
                stats = np.array([_mean_std(v) for v in by_rate.values()])
                lines.append((i, j, np.array(list(by_rate)), stats[:, 0], stats[:, 1], f"{method} ({role})"))
    if not lines:
        raise ValueError(f"no records for methods {methods} with roles {roles}.")

    ax = _single_axes(ax, figsize=(4.5, 3.5))
    for i, j, rates, means, stds, line_label in lines:
        _draw_noise_line(
            ax,
            rates,
            means,
            stds,
            color=f"C{i % 10}",
            linestyle=_LINESTYLES[j % len(_LINESTYLES)],
            label=line_label,
        )
    _format_noise_axis(ax, np.concatenate([line[2] for line in lines]), metric)
    ax.legend()
    return ax
