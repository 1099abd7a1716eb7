"""The logic behind ``sknmtune demo``: the paper's experiment in miniature, offline, in seconds.

The digits demo (no data options):

1. scikit-learn's ``load_digits`` (1,797 grey 8x8 images, shipped with scikit-learn) is split,
   stratified, into a *pre-training* half and a *downstream* half; the downstream half is split
   again into a training part (60 %) and an ID test part (40 %).
2. For each pre-training noise ratio ``gamma``, a small CNN (two 3x3 convolutions, a max-pool,
   a 64-d ReLU layer, a linear classifier) is pre-trained on the pre-training half whose labels
   were corrupted with :func:`sknmtune.noise.symmetric_label_noise` (AdamW, lr 3e-3, weight
   decay 1e-4, batches of 64). Every backbone starts from the same initialization and sees the
   batches in the same order: only the labels differ. Its 64-d ReLU layer is the frozen
   backbone, wrapped in :class:`sknmtune.backbones.FrozenBackboneTransformer`.
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

import contextlib
import csv
import json
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
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
    "torch_threads",
    "write_outputs",
]

DEFAULTS: dict[str, Any] = {
    "output_dir": "sknmtune-demo",
    "seed": 0,
    "epochs": 30,
    "quick_epochs": 8,
    "pretrain_epochs": 40,
    "quick_pretrain_epochs": 15,
    "noise_rates": "0,0.05,0.1,0.2,0.3",
    "ood_shift": "blur",
    "config": "paper",
    "test_size": 0.3,
    "threads": 1,
}

#: The deterministic shifts that turn held-out digits into the OOD set (pixels scaled to [0, 1]).
OOD_SHIFTS: dict[str, str] = {
    "blur": "Gaussian blur, sigma = 1 pixel",
    "rotate": "rotation by 20 degrees (bilinear, zero fill)",
    "noise": "additive Gaussian pixel noise, std 0.3, clipped to [0, 1] (seeded by --seed)",
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


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` intra-op torch threads, restoring the previous setting afterwards.

    The demo's models are tiny: one thread is the fastest setting, and on a busy machine
    several threads per process can be ten times slower (oversubscription).
    """
    import torch

    if n is None:
        yield
        return
    if n < 1:
        raise ValueError(f"--threads must be a positive integer, got {n}.")
    previous = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


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

    from .._utils import _seeded_global_rng

    with _seeded_global_rng(seed):  # leave the caller's global torch RNG untouched
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
    from ..classifier import NMTuneClassifier
    from ..evaluation import evaluate_heads

    if config not in CONFIGS:
        raise ValueError(f"unknown config {config!r}; choose one of {sorted(CONFIGS)}.")
    has_ood = F_ood is not None and y_ood is not None
    rows: list[dict[str, Any]] = []
    spectra: dict[str, np.ndarray] = {"F": F_test}
    for method in methods:  # one at a time, so that on_row reports each head as soon as it is done
        preset = CONFIGS[config][method]
        head = NMTuneClassifier.from_preset(preset, max_epochs=epochs, device=device)
        records, fitted = evaluate_heads(
            {method: head}, F_train, y_train, id_test=(F_test, y_test),
            ood_tests={"ood": (F_ood, y_ood)} if has_ood else None, seeds=(seed,), return_estimators=True,
        )
        by_role = {r["role"]: r for r in records}
        ood = by_role.get("ood")
        row = {
            "backbone": backbone,
            "noise_rate": noise_rate,
            "method": METHOD_LABELS[method],
            "preset": preset,
            "id_acc": by_role["id"]["accuracy"],
            "ood_acc": ood["accuracy"] if ood else None,
            "sve_f_id": by_role["id"]["sve_F"],
            "sve_z_id": by_role["id"]["sve_Z"],
            "lsvr_f_ood": ood["lsvr_F"] if ood else None,
            "lsvr_z_ood": ood["lsvr_Z"] if ood else None,
            "n_test": by_role["id"]["n_test"],
            "n_ood": ood["n_test"] if ood else 0,
            "fit_seconds": by_role["id"]["fit_seconds"],
        }
        rows.append(row)
        if method != "lp":  # LP's Z is F itself
            spectra[METHOD_LABELS[method]] = fitted[(method, seed)].transform(F_test)
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
    noise_rates: Sequence[float] | None = None,
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
    from .._utils import resolve_device
    from ..backbones import FrozenBackboneTransformer
    from ..noise import symmetric_label_noise

    log = log or (lambda _msg: None)
    methods = _check_methods(methods)
    noise_rates = parse_noise_rates(DEFAULTS["noise_rates"]) if noise_rates is None else list(noise_rates)
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
    """One line stating what the numbers show, next to the sampling error they must beat."""
    by_backbone: dict[str, dict[str, Mapping[str, Any]]] = {}
    for r in rows:
        by_backbone.setdefault(r["backbone"], {})[r["method"]] = r
    has_ood = all(r.get("ood_acc") is not None for r in rows)
    parts: list[str] = []

    # Pre-training noise: the cleanest vs the noisiest backbone, probed with LP (the paper's protocol).
    rated = sorted((h for h in by_backbone.values() if next(iter(h.values())).get("noise_rate") is not None),
                   key=lambda h: next(iter(h.values()))["noise_rate"])
    if len(rated) >= 2:
        probe = "LP" if "LP" in rated[0] and "LP" in rated[-1] else next(iter(rated[0]))
        a, b = rated[0][probe], rated[-1][probe]
        text = (f"pre-training noise {100 * a['noise_rate']:g}%->{100 * b['noise_rate']:g}% moved {probe} by "
                f"ID {_pts(b['id_acc'] - a['id_acc'])}" + (f" / OOD {_pts(b['ood_acc'] - a['ood_acc'])}" if has_ood else "")
                + f" pts, SVE(F) {a['sve_f_id']:.2f}->{b['sve_f_id']:.2f}")
        if has_ood:
            text += f", LSVR(F) {a['lsvr_f_ood']:.2f}->{b['lsvr_f_ood']:.2f}"
        parts.append(text)

    # NMTune against each other head, averaged over the backbones.
    for other in ("MLP", "LP"):
        pairs = [(h["NMTune"], h[other]) for h in by_backbone.values() if "NMTune" in h and other in h]
        if not pairs:
            continue
        n = len(pairs)
        where = f"mean over {n} backbones" if n > 1 else "on 1 backbone"
        text = f"NMTune minus {other} ({where}): ID {_pts(np.mean([a['id_acc'] - b['id_acc'] for a, b in pairs]))}"
        wins = f"ahead on {sum(a['id_acc'] > b['id_acc'] for a, b in pairs)}/{n} ID"
        if has_ood:
            text += f", OOD {_pts(np.mean([a['ood_acc'] - b['ood_acc'] for a, b in pairs]))}"
            wins += f", {sum(a['ood_acc'] > b['ood_acc'] for a, b in pairs)}/{n} OOD"
        parts.append(text + f" pts ({wins})" if n > 1 else text + " pts")

    # The resolution of these numbers.
    n_test = min(r["n_test"] for r in rows)
    band = f"±{200 * max(_binomial_se(r['id_acc'], r['n_test']) for r in rows):.1f} ID"
    if has_ood:
        band += f" / ±{200 * max(_binomial_se(r['ood_acc'], r['n_ood']) for r in rows):.1f} OOD"
    parts.append(f"one accuracy's 2-SE band is {band} pts (n={n_test}, one seed): gaps inside it are not evidence")
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

    from ..plotting import plot_accuracy_by_method, plot_accuracy_vs_noise, plot_metric_vs_noise, plot_spectrum

    # Spectra: F of every backbone together, then F against each head's Z for the cleanest and the
    # noisiest backbone (top-20 panel, then the tail), as in the paper's Fig. 11-14.
    names = list(result.spectra)
    detail = names if len(names) <= 2 else [names[0], names[-1]]
    dim = max(min(m.shape) for s in result.spectra.values() for m in s.values())
    groups = (20,) if dim > 20 else ()
    rows = ([("ID features F by backbone", {n: s["F"] for n, s in result.spectra.items()})] if len(names) > 1 else [])
    rows += [(name, {("F" if k == "F" else f"Z ({k})"): v for k, v in result.spectra[name].items()}) for name in detail]
    fig = Figure(figsize=(4.4 * (len(groups) + 1), 3.1 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), len(groups) + 1, squeeze=False)
    for ax_row, (title, mats) in zip(axes, rows):
        plot_spectrum(mats, groups=groups, ax=ax_row)
        ax_row[0].set_title(f"{title}: {ax_row[0].get_title()}")
    fig.suptitle("Normalized singular values of the ID test features F and the heads' outputs Z")
    fig.savefig(out / "spectra.png", dpi=110)
    written = [out / "spectra.png"]

    # Accuracy: against the pre-training noise ratio when there are several (Fig. 2 and 3 of the
    # paper), else bars per head.
    records = [{"method": r["method"], "role": role, "accuracy": r[key], "noise_rate": r["noise_rate"]}
               for r in result.rows for role, key in (("ID", "id_acc"), ("OOD", "ood_acc")) if r[key] is not None]
    rates = sorted({r["noise_rate"] for r in result.rows if r["noise_rate"] is not None})
    if len(rates) > 1:
        roles = [role for role in ("ID", "OOD") if any(r["role"] == role for r in records)]
        backbone_rows = [next(x for x in result.rows if x["noise_rate"] == rate) for rate in rates]
        metrics = [("SVE of F (ID)", "sve_f_id"), ("LSVR of F (OOD)", "lsvr_f_ood")]
        metrics = [(label, key) for label, key in metrics if all(r[key] is not None for r in backbone_rows)]
        fig = Figure(figsize=(4.0 * (len(roles) + len(metrics)), 3.4), layout="constrained")
        axes = fig.subplots(1, len(roles) + len(metrics), squeeze=False)[0]
        for ax, role in zip(axes, roles):
            plot_accuracy_vs_noise(records, roles=[role], ax=ax)
            ax.set_title(f"{role} accuracy")
        for ax, (label, key) in zip(axes[len(roles):], metrics):
            plot_metric_vs_noise(rates, {"backbone": [r[key] for r in backbone_rows]}, metric=label, ax=ax)
            ax.set_title(label)
    else:
        fig = Figure(figsize=(5.0, 3.6), layout="constrained")
        ax = plot_accuracy_by_method(records, ax=fig.add_subplot())
        ax.set_title(names[0])
        ax.set_ylim(max(0.0, min(r["accuracy"] for r in records) - 0.1), 1.0)
    fig.savefig(out / "accuracy.png", dpi=110)
    written.append(out / "accuracy.png")
    return written
