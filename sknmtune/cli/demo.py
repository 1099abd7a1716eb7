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

The records are those of :func:`sknmtune.evaluation.evaluate_heads` (one per backbone x head x
test set, with the backbone's name, noise rate and the head's preset as extra fields); the table,
``results.csv`` and the summary line are views of them (:mod:`sknmtune.cli._demo_report`).
Nothing is tuned or adjusted after the fact: the table shows what the run measured.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._demo_report import format_table, summary_line, table_rows, write_outputs
from ._errors import _UsageError
from ._io import _extract_features, _features_and_labels
from ._options import _add_common, _add_device, _add_label_column, _Formatter, _positive_int

__all__ = [
    "CONFIGS",
    "DEFAULTS",
    "METHOD_LABELS",
    "METHOD_NAMES",
    "OOD_SHIFTS",
    "DemoResult",
    "compare_heads",
    "parse_noise_rates",
    "run_digits_demo",
    "run_features_demo",
    "shift_images",
    "torch_threads",
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

#: Which :data:`sknmtune.heads.PRESETS` entry each head uses, per ``--config``.
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
    """Supervised pre-training with AdamW; returns the feature extractor (frozen) and train accuracy."""
    import torch

    from ..pretraining import freeze, predict_labels, train_epochs
    from .._utils import seeded_global_rng

    with seeded_global_rng(seed):  # leave the caller's global torch RNG untouched
        model = _digits_cnn().to(device)
    X = torch.from_numpy(images[:, None]).to(device)
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64)).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    train_epochs(model, X, y, optimizer, epochs=epochs, batch_size=64, generator=torch.Generator().manual_seed(seed))
    train_acc = float((torch.from_numpy(predict_labels(model, X)) == y.cpu()).float().mean())
    return freeze(model).features, train_acc


# --------------------------------------------------------------------------- heads


@dataclass
class DemoResult:
    """What a demo run measured.

    Attributes
    ----------
    records : list of dict
        The records of :func:`sknmtune.evaluation.evaluate_heads`, one per (backbone, head, test set),
        with the extra fields ``backbone``, ``noise_rate`` (None for the user's features) and ``preset``;
        ``method`` is the head's label (``"LP"``, ``"MLP"``, ``"NMTune"``).
    spectra : dict
        ``{backbone: {"F": F_id, "<method>": Z_id, ...}}`` ID test matrices for the plots.
    info : dict
        The setup (sizes, shift, seeds, pre-training accuracies, wall time).
    """

    records: list[dict[str, Any]]
    spectra: dict[str, dict[str, np.ndarray]]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The table: one row per (backbone, head); see :func:`sknmtune.cli._demo_report.table_rows`."""
        return table_rows(self.records)


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

    Returns the records of :func:`~sknmtune.evaluation.evaluate_heads` and
    ``{"F": F_test, method: Z_test}`` for the spectrum plot; ``on_row`` gets each head's table row.
    """
    from ..heads import NMTuneClassifier
    from ..evaluation import evaluate_heads

    if config not in CONFIGS:
        raise ValueError(f"unknown config {config!r}; choose one of {sorted(CONFIGS)}.")
    has_ood = F_ood is not None and y_ood is not None
    records: list[dict[str, Any]] = []
    spectra: dict[str, np.ndarray] = {"F": F_test}
    for method in methods:  # one at a time, so that on_row reports each head as soon as it is done
        preset, label = CONFIGS[config][method], METHOD_LABELS[method]
        head = NMTuneClassifier.from_preset(preset, max_epochs=epochs, device=device)
        new, fitted = evaluate_heads(
            {label: head}, F_train, y_train, id_test=(F_test, y_test),
            ood_tests={"ood": (F_ood, y_ood)} if has_ood else None, seeds=(seed,), return_estimators=True,
            extra={"backbone": backbone, "noise_rate": noise_rate, "preset": preset},
        )
        records.extend(new)
        if method != "lp":  # LP's Z is F itself
            spectra[label] = fitted[(label, seed)].transform(F_test)
        if on_row is not None:
            on_row(table_rows(new)[0])
    return records, spectra


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
    records: list[dict[str, Any]] = []
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
        new, spectra[name] = compare_heads(
            F_train, y_train, F_test, y_test, F_ood, y_test, backbone=name, noise_rate=rate,
            methods=methods, config=config, epochs=epochs, seed=seed, device=device,
            on_row=lambda r: log(f"  {r['method']:<7} ID {r['id_acc']:.4f}  OOD {r['ood_acc']:.4f}  "
                                 f"({r['fit_seconds']:.1f}s)"),
        )
        records.extend(new)
    info["wall_seconds"] = time.perf_counter() - start
    return DemoResult(records, spectra, info)


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
    records, spectra = compare_heads(
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
    return DemoResult(records, {backbone: spectra}, info)


# --------------------------------------------------------------------------- the command


def _add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``demo`` on the ``sknmtune`` subparsers; returns its parser."""

    demo = sub.add_parser(
        "demo",
        help="the paper in miniature: noisy pre-training, LP vs MLP vs NMTune, ID/OOD, SVE/LSVR",
        description=(
            "Without data options: pre-train a small CNN on half of scikit-learn's digits with\n"
            "symmetric label noise (one backbone per --noise-rates value), freeze it, and train\n"
            "LP, MLP-tuning and NMTune heads on its features of the other half. Reports ID accuracy\n"
            "(held-out digits), OOD accuracy (the same digits under --ood-shift), the SVE of the ID\n"
            "features F and of the head's output Z, and the LSVR of the OOD features; writes a table\n"
            "(results.csv, results.json) and figures to --output-dir. Needs no network.\n\n"
            "With --features/--labels (or --images with --backbone) the same heads are compared on\n"
            "your own features instead of the digits backbones."
        ),
        epilog="Example: sknmtune demo --quick --output-dir /tmp/demo",
        formatter_class=_Formatter,
    )
    _add_common(demo)
    demo.add_argument("--output-dir", metavar="DIR", default=DEFAULTS["output_dir"], help="where the table and figures are written")
    demo.add_argument("--seed", metavar="N", type=int, default=DEFAULTS["seed"], help="seed for splits, noise, pre-training and heads")
    demo.add_argument("--epochs", metavar="N", type=_positive_int, default=None,
                      help=f"epochs for each head (default {DEFAULTS['epochs']}, {DEFAULTS['quick_epochs']} with --quick)")
    demo.add_argument("--pretrain-epochs", metavar="N", type=_positive_int, default=None,
                      help=f"epochs to pre-train each digits backbone (default {DEFAULTS['pretrain_epochs']}, "
                           f"{DEFAULTS['quick_pretrain_epochs']} with --quick)")
    demo.add_argument("--noise-rates", metavar="LIST", default=DEFAULTS["noise_rates"],
                      help="comma-separated pre-training label-noise ratios, one backbone each")
    demo.add_argument("--ood-shift", choices=sorted(OOD_SHIFTS), default=DEFAULTS["ood_shift"],
                      help="the deterministic shift that turns held-out digits into the OOD set")
    demo.add_argument("--methods", metavar="LIST", default=",".join(METHOD_NAMES),
                      help="comma-separated heads to compare (from: " + ", ".join(METHOD_NAMES) + ")")
    demo.add_argument("--config", choices=sorted(CONFIGS), default=DEFAULTS["config"],
                      help="presets of the heads: " + "; ".join(
                          f"{k}: " + ", ".join(v.values()) for k, v in CONFIGS.items()))
    demo.add_argument("--quick", action="store_true", help="fewer epochs (a smoke test in seconds)")
    demo.add_argument("--no-plot", action="store_true", help="do not write figures (no matplotlib needed)")
    demo.add_argument("--quiet", action="store_true", help="print only the final table and summary")
    demo.add_argument("--threads", metavar="N", type=_positive_int, default=DEFAULTS["threads"],
                      help="torch CPU threads; the demo's models are tiny and one thread is fastest")
    _add_device(demo)
    own = demo.add_argument_group("your own data (instead of the digits backbones)")
    own.add_argument("--features", metavar="FILE", help="ID features (.npy or .npz with X, y); split into train/test by --test-size")
    own.add_argument("--labels", metavar="FILE", help="labels for --features (.npy, .txt, .csv)")
    own.add_argument("--ood-features", metavar="FILE", help="OOD features (.npy or .npz), evaluated with the heads trained on --features")
    own.add_argument("--ood-labels", metavar="FILE", help="labels for --ood-features")
    _add_label_column(own)
    own.add_argument("--images", metavar="DIR", help="ID images folder (one sub-folder per class); needs --backbone")
    own.add_argument("--ood-images", metavar="DIR", help="OOD images folder with the same class sub-folders")
    own.add_argument("--backbone", metavar="NAME", help="backbone for --images (see 'sknmtune extract --help')")
    own.add_argument("--weights", metavar="FILE", help="local checkpoint file for a timm --backbone")
    own.add_argument("--pretrained", action=argparse.BooleanOptionalAction, default=True,
                     help="timm --backbone: download timm's pretrained weights (--no-pretrained: random init)")
    own.add_argument("--cache-dir", metavar="DIR", help="feature cache directory for --images")
    own.add_argument("--test-size", metavar="FRACTION", type=float, default=DEFAULTS["test_size"],
                     help="fraction of your ID data held out for the ID accuracy")
    demo.set_defaults(func=_cmd_demo)
    return demo


def _cmd_demo(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    epochs = args.epochs or DEFAULTS["quick_epochs" if args.quick else "epochs"]
    methods = args.methods.split(",")
    own_features = bool(args.features or args.labels or args.ood_features or args.ood_labels)
    own_images = bool(args.images or args.ood_images or args.backbone or args.weights or args.cache_dir)
    if own_features and own_images:
        raise _UsageError("use either --features/--labels or --images/--backbone, not both.")
    if args.ood_features and not args.features:
        raise _UsageError("--ood-features needs --features.")
    if own_images and not (args.images and args.backbone):
        raise _UsageError("--images and --backbone go together (--ood-images, --weights, --cache-dir are optional).")
    if args.labels and not args.features:
        raise _UsageError("--labels needs --features.")
    if args.label_column and not (args.labels or args.ood_labels):
        raise _UsageError("--label-column needs --labels or --ood-labels.")
    if Path(args.output_dir).exists() and not Path(args.output_dir).is_dir():
        raise NotADirectoryError(f"--output-dir {args.output_dir} exists and is not a directory.")
    if not args.no_plot:
        _require_matplotlib()
    log = (lambda msg: print(msg, flush=True)) if not args.quiet else (lambda msg: None)

    with torch_threads(args.threads):
        result = _run_demo(args, epochs, methods, own_features, log)
    written = write_outputs(result, args.output_dir, plot=not args.no_plot)
    print()
    print(format_table(result.rows))
    print()
    print(summary_line(result.records))
    print(f"wrote {', '.join(str(p) for p in written)}")
    print(f"total wall time {time.perf_counter() - start:.1f}s")
    return 0


def _run_demo(
    args: argparse.Namespace, epochs: int, methods: list[str], own_features: bool, log: Any
) -> Any:
    """The digits demo, or the same heads on the user's features / images."""
    if own_features or args.images:
        if own_features:
            X, y = _features_and_labels(args.features, args.labels, required=True, column=args.label_column)
            X_ood = y_ood = None
            if args.ood_features:
                X_ood, y_ood = _features_and_labels(
                    args.ood_features, args.ood_labels, required=True,
                    column=args.label_column if args.ood_labels else None,
                )
            name = Path(args.features).stem
        else:
            X, y = _extract_with_labels(args.images, args)
            X_ood = y_ood = None
            if args.ood_images:
                X_ood, y_ood = _extract_with_labels(args.ood_images, args)
            name = args.backbone
        return run_features_demo(
            X, y, X_ood, y_ood, backbone=name, test_size=args.test_size, methods=methods,
            config=args.config, epochs=epochs, seed=args.seed, device=args.device, log=log,
        )
    return run_digits_demo(
        noise_rates=parse_noise_rates(args.noise_rates), methods=methods, config=args.config,
        ood_shift=args.ood_shift, epochs=epochs,
        pretrain_epochs=args.pretrain_epochs or DEFAULTS["quick_pretrain_epochs" if args.quick else "pretrain_epochs"],
        seed=args.seed, device=args.device, log=log,
    )


def _extract_with_labels(images: str, args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    X, y = _extract_features(
        images, backbone=args.backbone, weights=args.weights, pretrained=args.pretrained,
        cache_dir=args.cache_dir, device=args.device, verbose=0 if args.quiet else 1,
    )
    if y is None:
        raise ValueError(f"{images} has no class sub-folders, so it has no labels; the demo needs them.")
    return X, y


def _require_matplotlib() -> None:
    """Fail before any work when the figures cannot be drawn."""
    if importlib.util.find_spec("matplotlib") is None:
        raise ImportError("the demo's figures need matplotlib: pip install 'sknmtune[plots]', or pass --no-plot.")
