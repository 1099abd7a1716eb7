"""The logic behind ``sknmtune demo``: the paper's experiment in miniature, offline, in seconds.

The digits demo (no data options):

1. scikit-learn's ``load_digits`` (1,797 grey 8x8 images, shipped with scikit-learn) is split,
   stratified, into a *pre-training* half and a *downstream* half; the downstream half is split
   again into a training part (60 %) and an ID test part (40 %).
2. For each pre-training noise ratio ``gamma``, a small CNN is pre-trained on the pre-training
   half whose labels were corrupted with :func:`sknmtune.noise.symmetric_label_noise`.
   Its 64-d penultimate layer is the frozen backbone, wrapped in
   :class:`sknmtune.FrozenBackboneTransformer`.
3. ID = the held-out downstream digits; OOD = the same digits under a deterministic shift
   (:data:`OOD_SHIFTS`).
4. Three heads are trained on the frozen features of the downstream training part:
   LP, MLP tuning and NMTune (:data:`CONFIGS` maps them to presets of
   :class:`~sknmtune.NMTuneClassifier`).
5. Reported per (backbone, head): ID and OOD accuracy, the SVE of the ID test features
   ``F`` and of the head's output ``Z``, and the LSVR of the OOD features ``F`` and ``Z``.

The same heads run on the user's own features with :func:`run_features_demo`.
Nothing is tuned or adjusted after the fact: the table shows what the run measured.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CONFIGS",
    "DEFAULTS",
    "METHOD_LABELS",
    "METHOD_NAMES",
    "OOD_SHIFTS",
    "DemoResult",
    "compare_heads",
    "format_table",
    "parse_noise_rates",
    "run_digits_demo",
    "run_features_demo",
    "shift_images",
    "summarize",
    "write_outputs",
]

DEFAULTS: dict[str, Any] = {
    "output_dir": "sknmtune-demo",
    "seed": 0,
    "epochs": 30,
    "quick_epochs": 8,
    "pretrain_epochs": 40,
    "quick_pretrain_epochs": 15,
    "noise_rates": "0,0.2",
    "ood_shift": "blur",
    "config": "paper",
    "test_size": 0.3,
}

#: The deterministic shifts that turn held-out digits into the OOD set (pixels scaled to [0, 1]).
OOD_SHIFTS: dict[str, str] = {
    "blur": "Gaussian blur, sigma = 1 pixel",
    "rotate": "rotation by 20 degrees (bilinear, zero fill)",
    "noise": "additive Gaussian pixel noise, std 0.3, clipped to [0, 1] (fixed seed)",
}

METHOD_NAMES: tuple[str, ...] = ("lp", "mlp", "nmtune")
METHOD_LABELS: dict[str, str] = {"lp": "LP", "mlp": "MLP", "nmtune": "NMTune"}

#: Which :data:`sknmtune.classifier.PRESETS` entry each head uses, per ``--config``.
CONFIGS: dict[str, dict[str, str]] = {
    "paper": {"lp": "lp", "mlp": "mlp", "nmtune": "nmtune-paper"},
    "authors": {"lp": "lp", "mlp": "mlp-authors", "nmtune": "nmtune-authors"},
}

_FEATURE_DIM = 64


# --------------------------------------------------------------------------- data


def parse_noise_rates(text: str) -> list[float]:
    """``"0,0.2"`` -> ``[0.0, 0.2]``; each rate in [0, 1), no duplicates."""
    try:
        rates = [float(part) for part in str(text).split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--noise-rates must be comma-separated numbers such as 0,0.2; got {text!r}.") from None
    if not rates:
        raise ValueError("--noise-rates is empty; give at least one ratio, e.g. 0,0.2.")
    bad = [r for r in rates if not 0.0 <= r < 1.0]
    if bad:
        raise ValueError(f"--noise-rates must be fractions in [0, 1) (0.2 means 20 %); got {bad}.")
    if len(set(rates)) != len(rates):
        raise ValueError(f"--noise-rates has duplicates: {text!r}.")
    return rates


def shift_images(images: np.ndarray, kind: str, *, seed: int = 0) -> np.ndarray:
    """Apply one of the :data:`OOD_SHIFTS` to grey images of shape (N, H, W) in [0, 1]."""
    from scipy import ndimage

    if kind not in OOD_SHIFTS:
        raise ValueError(f"unknown OOD shift {kind!r}; choose one of {sorted(OOD_SHIFTS)}.")
    images = np.asarray(images, dtype=np.float32)
    if kind == "blur":
        out = np.stack([ndimage.gaussian_filter(im, sigma=1.0) for im in images])
    elif kind == "rotate":
        out = np.stack([ndimage.rotate(im, 20.0, reshape=False, order=1, mode="constant") for im in images])
    else:
        rng = np.random.default_rng(seed)
        out = np.clip(images + rng.normal(0.0, 0.3, size=images.shape), 0.0, 1.0)
    return out.astype(np.float32)


def _digits_splits(seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)  # (1797, 8, 8) in [0, 1]
    X_pre, X_down, y_pre, y_down = train_test_split(
        images, digits.target, train_size=0.5, stratify=digits.target, random_state=seed
    )
    X_train, X_test, y_train, y_test = train_test_split(
        X_down, y_down, test_size=0.4, stratify=y_down, random_state=seed
    )
    return {"pretrain": (X_pre, y_pre), "train": (X_train, y_train), "test": (X_test, y_test)}


# --------------------------------------------------------------------------- backbone


def _digits_cnn(n_classes: int = 10, feature_dim: int = _FEATURE_DIM) -> Any:
    """Two 3x3 convolutions, a 2x2 max-pool and a 64-d ReLU layer (``features``), then ``classifier``."""
    from collections import OrderedDict

    from torch import nn

    features = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, feature_dim),
        nn.ReLU(),
    )
    return nn.Sequential(OrderedDict(features=features, classifier=nn.Linear(feature_dim, n_classes)))


def _pretrain(images: np.ndarray, labels: np.ndarray, *, epochs: int, seed: int, device: Any) -> tuple[Any, float]:
    """Supervised pre-training with AdamW; returns the feature extractor (eval mode) and train accuracy."""
    import torch
    from torch import nn

    with torch.random.fork_rng(devices=[]):  # leave the caller's global torch RNG untouched
        torch.manual_seed(seed)
        model = _digits_cnn().to(device)
    X = torch.from_numpy(images[:, None]).to(device)
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64)).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(X), generator=generator).to(device)
        for start in range(0, len(X), 64):
            idx = order[start : start + 64]
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(X[idx]), y[idx]).backward()
            optimizer.step()
    model.eval()
    with torch.inference_mode():
        train_acc = float((model(X).argmax(1) == y).float().mean())
    for p in model.parameters():
        p.requires_grad_(False)
    return model.features, train_acc


# --------------------------------------------------------------------------- heads


@dataclass
class DemoResult:
    """What a demo run measured.

    Attributes
    ----------
    rows : list of dict
        One per (backbone, head) with keys ``backbone``, ``noise_rate``, ``method``, ``preset``,
        ``id_acc``, ``ood_acc``, ``sve_f_id``, ``sve_z_id``, ``lsvr_f_ood``, ``lsvr_z_ood``,
        ``n_test``, ``n_ood``, ``fit_seconds`` (OOD entries are None without OOD data).
    spectra : dict
        ``{backbone: {"F": F_id, "<method>": Z_id, ...}}`` ID test matrices for the plots.
    info : dict
        The setup (sizes, shift, seeds, pre-training accuracies, wall time).
    """

    rows: list[dict[str, Any]]
    spectra: dict[str, dict[str, np.ndarray]]
    info: dict[str, Any] = field(default_factory=dict)


def compare_heads(
    F_train: np.ndarray,
    y_train: np.ndarray,
    F_test: np.ndarray,
    y_test: np.ndarray,
    F_ood: np.ndarray | None = None,
    y_ood: np.ndarray | None = None,
    *,
    backbone: str,
    noise_rate: float | None = None,
    methods: Sequence[str] = METHOD_NAMES,
    config: str = "paper",
    epochs: int = 30,
    seed: int = 0,
    device: str = "auto",
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """Train each head on ``F_train`` and measure it on the ID (and OOD) features.

    Returns the table rows and ``{"F": F_test, method: Z_test}`` for the spectrum plot.
    """
    from .classifier import NMTuneClassifier
    from .spectral import largest_singular_value_ratio, singular_value_entropy

    if config not in CONFIGS:
        raise ValueError(f"unknown config {config!r}; choose one of {sorted(CONFIGS)}.")
    has_ood = F_ood is not None and y_ood is not None
    sve_f = singular_value_entropy(F_test)
    lsvr_f = largest_singular_value_ratio(F_ood) if has_ood else None
    rows: list[dict[str, Any]] = []
    spectra: dict[str, np.ndarray] = {"F": F_test}
    for method in methods:
        preset = CONFIGS[config][method]
        clf = NMTuneClassifier.from_preset(preset, max_epochs=epochs, random_state=seed, device=device)
        start = time.perf_counter()
        clf.fit(F_train, y_train)
        fit_seconds = time.perf_counter() - start
        Z_test = clf.transform(F_test)
        row = {
            "backbone": backbone,
            "noise_rate": noise_rate,
            "method": METHOD_LABELS[method],
            "preset": preset,
            "id_acc": float(clf.score(F_test, y_test)),
            "ood_acc": float(clf.score(F_ood, y_ood)) if has_ood else None,
            "sve_f_id": sve_f,
            "sve_z_id": singular_value_entropy(Z_test),
            "lsvr_f_ood": lsvr_f,
            "lsvr_z_ood": largest_singular_value_ratio(clf.transform(F_ood)) if has_ood else None,
            "n_test": int(len(y_test)),
            "n_ood": int(len(y_ood)) if has_ood else 0,
            "fit_seconds": fit_seconds,
        }
        rows.append(row)
        if method != "lp":  # LP's Z is F itself
            spectra[METHOD_LABELS[method]] = Z_test
        if on_row is not None:
            on_row(row)
    return rows, spectra


def _check_methods(methods: Sequence[str]) -> list[str]:
    methods = [m.strip().lower() for m in methods if m.strip()]
    unknown = [m for m in methods if m not in METHOD_NAMES]
    if not methods or unknown:
        raise ValueError(f"--methods must name heads from {', '.join(METHOD_NAMES)}; got {', '.join(methods) or 'none'}.")
    if len(set(methods)) != len(methods):
        raise ValueError(f"--methods has duplicates: {', '.join(methods)}.")
    return methods


def _backbone_name(noise_rate: float) -> str:
    return f"CNN {100 * noise_rate:g}% noise"


def run_digits_demo(
    *,
    noise_rates: Sequence[float] = (0.0, 0.2),
    methods: Sequence[str] = METHOD_NAMES,
    config: str = "paper",
    ood_shift: str = "blur",
    epochs: int = 30,
    pretrain_epochs: int = 40,
    seed: int = 0,
    device: str = "auto",
    log: Callable[[str], None] | None = None,
) -> DemoResult:
    """The digits miniature of the paper (see the module docstring)."""
    from ._utils import resolve_device
    from .backbones import FrozenBackboneTransformer
    from .noise import symmetric_label_noise

    log = log or (lambda _msg: None)
    methods = _check_methods(methods)
    if ood_shift not in OOD_SHIFTS:
        raise ValueError(f"unknown OOD shift {ood_shift!r}; choose one of {sorted(OOD_SHIFTS)}.")
    torch_device = resolve_device(device)
    start = time.perf_counter()
    splits = _digits_splits(seed)
    X_pre, y_pre = splits["pretrain"]
    X_train, y_train = splits["train"]
    X_test, y_test = splits["test"]
    X_ood = shift_images(X_test, ood_shift, seed=seed)
    info: dict[str, Any] = {
        "data": "scikit-learn digits (8x8 grey images, 10 classes)",
        "n_pretrain": len(y_pre), "n_train": len(y_train), "n_test": len(y_test), "n_ood": len(y_test),
        "ood_shift": f"{ood_shift}: {OOD_SHIFTS[ood_shift]}",
        "config": config, "presets": {METHOD_LABELS[m]: CONFIGS[config][m] for m in methods},
        "epochs": epochs, "pretrain_epochs": pretrain_epochs, "seed": seed, "device": str(torch_device),
        "pretrain_train_accuracy": {},
    }
    log(
        f"digits: pre-train {len(y_pre)}, downstream train {len(y_train)}, ID test {len(y_test)}, "
        f"OOD test {len(y_test)} ({OOD_SHIFTS[ood_shift]})"
    )
    rows: list[dict[str, Any]] = []
    spectra: dict[str, dict[str, np.ndarray]] = {}
    for rate in noise_rates:
        name = _backbone_name(rate)
        t0 = time.perf_counter()
        y_noisy = symmetric_label_noise(y_pre, rate, random_state=seed)[0] if rate > 0 else y_pre
        features, fit_acc = _pretrain(X_pre, y_noisy, epochs=pretrain_epochs, seed=seed, device=torch_device)
        info["pretrain_train_accuracy"][name] = fit_acc
        backbone = FrozenBackboneTransformer(features, device=str(torch_device))
        F_train, F_test, F_ood = (backbone.fit_transform(X_train[:, None]), backbone.transform(X_test[:, None]),
                                  backbone.transform(X_ood[:, None]))
        log(f"{name}: pre-trained in {time.perf_counter() - t0:.1f}s (accuracy on its noisy labels {fit_acc:.3f})")
        new_rows, spectra[name] = compare_heads(
            F_train, y_train, F_test, y_test, F_ood, y_test, backbone=name, noise_rate=rate,
            methods=methods, config=config, epochs=epochs, seed=seed, device=device,
            on_row=lambda r: log(f"  {r['method']:<7} ID {r['id_acc']:.4f}  OOD {r['ood_acc']:.4f}  "
                                 f"({r['fit_seconds']:.1f}s)"),
        )
        rows.extend(new_rows)
    info["wall_seconds"] = time.perf_counter() - start
    return DemoResult(rows, spectra, info)


def run_features_demo(
    X: np.ndarray,
    y: np.ndarray,
    X_ood: np.ndarray | None = None,
    y_ood: np.ndarray | None = None,
    *,
    backbone: str = "your features",
    test_size: float = 0.3,
    methods: Sequence[str] = METHOD_NAMES,
    config: str = "paper",
    epochs: int = 30,
    seed: int = 0,
    device: str = "auto",
    log: Callable[[str], None] | None = None,
) -> DemoResult:
    """The same three heads on the user's own features (a stratified ID train/test split)."""
    from sklearn.model_selection import train_test_split

    log = log or (lambda _msg: None)
    methods = _check_methods(methods)
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"--test-size must be in (0, 1), got {test_size}.")
    if X_ood is not None and X_ood.shape[1] != X.shape[1]:
        raise ValueError(f"OOD features have {X_ood.shape[1]} dimensions but ID features have {X.shape[1]}.")
    start = time.perf_counter()
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise ValueError(f"the labels contain a single class ({classes[0]!r}); need at least 2.")
    stratify = y if counts.min() >= 2 else None
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size, stratify=stratify, random_state=seed)
    log(f"{backbone}: train {len(y_train)}, ID test {len(y_test)}" + (f", OOD test {len(y_ood)}" if y_ood is not None else ""))
    rows, spectra = compare_heads(
        X_train, y_train, X_test, y_test, X_ood, y_ood, backbone=backbone, methods=methods, config=config,
        epochs=epochs, seed=seed, device=device,
        on_row=lambda r: log(f"  {r['method']:<7} ID {r['id_acc']:.4f}" + (
            f"  OOD {r['ood_acc']:.4f}" if r["ood_acc"] is not None else "") + f"  ({r['fit_seconds']:.1f}s)"),
    )
    info = {
        "data": backbone, "n_train": len(y_train), "n_test": len(y_test),
        "n_ood": 0 if y_ood is None else len(y_ood), "config": config,
        "presets": {METHOD_LABELS[m]: CONFIGS[config][m] for m in methods},
        "epochs": epochs, "seed": seed, "wall_seconds": time.perf_counter() - start,
    }
    return DemoResult(rows, {backbone: spectra}, info)


# --------------------------------------------------------------------------- reporting

_COLUMNS = (
    ("backbone", "backbone", "{}"),
    ("method", "head", "{}"),
    ("id_acc", "ID acc", "{:.4f}"),
    ("ood_acc", "OOD acc", "{:.4f}"),
    ("sve_f_id", "SVE F (ID)", "{:.3f}"),
    ("sve_z_id", "SVE Z (ID)", "{:.3f}"),
    ("lsvr_f_ood", "LSVR F (OOD)", "{:.3f}"),
    ("lsvr_z_ood", "LSVR Z (OOD)", "{:.3f}"),
)


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A fixed-width text table of the demo rows (``-`` where a value is missing)."""
    cells = [[title for _, title, _ in _COLUMNS]]
    for row in rows:
        cells.append([fmt.format(row[key]) if row.get(key) is not None else "-" for key, _, fmt in _COLUMNS])
    widths = [max(len(r[i]) for r in cells) for i in range(len(_COLUMNS))]
    lines = []
    for n, r in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _binomial_se(acc: float, n: int) -> float:
    return math.sqrt(max(acc * (1 - acc), 1e-12) / n) if n else float("nan")


def _pts(x: float) -> str:
    return f"{100 * x:+.1f}"


def summarize(rows: Sequence[Mapping[str, Any]]) -> str:
    """One line stating what the numbers show, with the sampling error they must beat."""
    parts: list[str] = []
    by_backbone: dict[str, dict[str, Mapping[str, Any]]] = {}
    for r in rows:
        by_backbone.setdefault(r["backbone"], {})[r["method"]] = r
    names = list(by_backbone)
    has_ood = all(r.get("ood_acc") is not None for r in rows)

    # Pre-training noise: first vs last backbone, measured with LP (the paper's probe) when present.
    noisy = [n for n in names if by_backbone[n] and next(iter(by_backbone[n].values())).get("noise_rate") is not None]
    if len(noisy) >= 2:
        first, last = by_backbone[noisy[0]], by_backbone[noisy[-1]]
        probe = "LP" if "LP" in first else next(iter(first))
        a, b = first[probe], last[probe]
        text = (f"noise {100 * a['noise_rate']:g}%->{100 * b['noise_rate']:g}%: {probe} ID {_pts(b['id_acc'] - a['id_acc'])} pts"
                + (f", OOD {_pts(b['ood_acc'] - a['ood_acc'])} pts" if has_ood else "")
                + f", SVE(F) {a['sve_f_id']:.2f}->{b['sve_f_id']:.2f}")
        if has_ood:
            text += f", LSVR(F) {a['lsvr_f_ood']:.2f}->{b['lsvr_f_ood']:.2f}"
        parts.append(text)

    # NMTune against the other heads, per backbone.
    for name in names:
        heads = by_backbone[name]
        if "NMTune" not in heads or len(heads) < 2:
            continue
        nm = heads["NMTune"]
        gaps = []
        for other in (m for m in ("LP", "MLP") if m in heads):
            gap = f"vs {other} ID {_pts(nm['id_acc'] - heads[other]['id_acc'])}"
            if has_ood:
                gap += f"/OOD {_pts(nm['ood_acc'] - heads[other]['ood_acc'])}"
            gaps.append(gap)
        parts.append(f"{name}: NMTune " + ", ".join(gaps) + " pts")

    # The resolution of these numbers.
    n_test = min(r["n_test"] for r in rows)
    id_se = max(_binomial_se(r["id_acc"], r["n_test"]) for r in rows)
    noise_text = f"one accuracy's 2-SE sampling band is ±{200 * id_se:.1f} pts ID (n={n_test})"
    if has_ood:
        ood_se = max(_binomial_se(r["ood_acc"], r["n_ood"]) for r in rows)
        noise_text += f", ±{200 * ood_se:.1f} OOD"
    parts.append(noise_text + "; smaller gaps are not evidence (single seed)")
    return "summary: " + "; ".join(parts) + "."


def write_outputs(result: DemoResult, output_dir: str | Path, *, plot: bool = True) -> list[Path]:
    """Write ``results.csv``, ``results.json`` and (with matplotlib) ``spectra.png`` / ``accuracy.png``."""
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--output-dir {out} exists and is not a directory.")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    keys = list(result.rows[0])
    with open(out / "results.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(result.rows)
    written.append(out / "results.csv")
    (out / "results.json").write_text(
        json.dumps({"info": result.info, "rows": result.rows, "summary": summarize(result.rows)}, indent=2, default=str)
        + "\n",
        encoding="utf-8",
    )
    written.append(out / "results.json")
    if plot:
        written.extend(_plot(result, out))
    return written


def _plot(result: DemoResult, out: Path) -> list[Path]:
    from matplotlib.figure import Figure

    from .plotting import (
        plot_accuracy_by_method,
        plot_accuracy_vs_noise,
        plot_metric_vs_noise,
        plot_spectrum,
    )

    written = []
    # Spectra: one row per backbone, F against each head's Z (top-20 panel, then the tail).
    names = list(result.spectra)
    dim = max(min(m.shape) for s in result.spectra.values() for m in s.values())
    groups = (20,) if dim > 20 else ()
    n_panels = len(groups) + 1
    compare_backbones = len(names) > 1
    n_rows = len(names) + int(compare_backbones)
    fig = Figure(figsize=(4.2 * n_panels, 3.0 * n_rows), layout="constrained")
    axes = fig.subplots(n_rows, n_panels, squeeze=False)
    row = 0
    if compare_backbones:
        plot_spectrum({n: s["F"] for n, s in result.spectra.items()}, groups=groups, ax=axes[0])
        axes[0][0].set_title("ID features F by backbone: " + axes[0][0].get_title())
        row = 1
    for n, name in enumerate(names):
        mats = {("F" if k == "F" else f"Z ({k})"): v for k, v in result.spectra[name].items()}
        plot_spectrum(mats, groups=groups, ax=axes[row + n])
        axes[row + n][0].set_title(f"{name}: " + axes[row + n][0].get_title())
    fig.suptitle("Normalized singular value spectra of the ID test features (F) and head outputs (Z)")
    fig.savefig(out / "spectra.png", dpi=110)
    written.append(out / "spectra.png")

    # Accuracy: bars per head and backbone, and (several noise ratios) the trends vs noise.
    records = [{"method": r["method"], "role": role, "accuracy": r[key], "backbone": r["backbone"],
                "noise_rate": r["noise_rate"]}
               for r in result.rows for role, key in (("ID", "id_acc"), ("OOD", "ood_acc")) if r[key] is not None]
    with_noise = [r for r in records if r["noise_rate"] is not None]
    rates = sorted({r["noise_rate"] for r in with_noise})
    n_cols = len(names) + (2 if len(rates) > 1 else 0)
    fig = Figure(figsize=(4.2 * n_cols, 3.4), layout="constrained")
    axes = fig.subplots(1, n_cols, squeeze=False)[0]
    for ax, name in zip(axes, names):
        plot_accuracy_by_method([r for r in records if r["backbone"] == name], ax=ax)
        ax.set_title(name)
        lo = min(r["accuracy"] for r in records)
        ax.set_ylim(max(0.0, lo - 0.1), 1.0)
    if len(rates) > 1:
        plot_accuracy_vs_noise(with_noise, ax=axes[len(names)])
        axes[len(names)].set_title("accuracy vs pre-training noise")
        metrics = {"SVE F (ID)": [], "LSVR F (OOD)": []}
        for rate in rates:
            r = next(x for x in result.rows if x["noise_rate"] == rate)
            metrics["SVE F (ID)"].append(r["sve_f_id"])
            metrics["LSVR F (OOD)"].append(r["lsvr_f_ood"])
        if any(v is None for v in metrics["LSVR F (OOD)"]):
            del metrics["LSVR F (OOD)"]
        plot_metric_vs_noise(rates, metrics, metric="value", ax=axes[len(names) + 1])
        axes[len(names) + 1].set_title("backbone spectrum vs pre-training noise")
    fig.savefig(out / "accuracy.png", dpi=110)
    written.append(out / "accuracy.png")
    return written
