"""The ``sknmtune`` command: ``demo``, ``extract``, ``fit``, ``predict``, ``spectrum`` and ``rank``.

The entry point :func:`main` parses the command line, runs one subcommand and turns
errors into a single line on stderr (``sknmtune: error: ...``) with exit status 2 for
bad input (missing files, wrong formats or values, missing optional dependencies) and
1 for failures at run time; ``--traceback`` shows the full Python traceback instead.

File formats
------------
features
    ``.npy`` holding a 2-D float array ``X`` of shape ``(n_samples, n_features)``, or
    ``.npz`` holding an array ``X`` and, optionally, the labels ``y``.
labels
    ``.npy`` (1-D array) or ``.txt`` / ``.csv`` with exactly one label per line (blank
    lines only at the end), or, with ``--label-column NAME``, column NAME of a CSV table
    with a header row; integer labels are read as integers, anything else as strings.
models
    What :func:`sknmtune.persistence.save` writes: the safe format (``.skn``) by default;
    pickle / joblib files load only with ``--trusted``.
predictions
    ``.npy`` (labels, or probabilities with ``--proba``) or ``.csv`` with a header row.

Examples
--------
>>> from sknmtune.cli import main
>>> main(["spectrum", "missing.npy"])  # doctest: +SKIP
sknmtune: error: features file not found: missing.npy
2
"""

from __future__ import annotations

import argparse
import ast
import csv
import importlib.util
import io
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["main", "build_parser"]

PROG = "sknmtune"

_EPILOG = "Run 'sknmtune <command> --help' for the options of a command."

_FEATURE_SUFFIXES = (".npy", ".npz")
_LABEL_SUFFIXES = (".npy", ".txt", ".csv")
_PREDICTION_SUFFIXES = (".npy", ".csv")
# Named in --help without importing torch; tests/test_cli.py checks it against sknmtune.PRESETS.
_PRESET_NAMES = ("lp", "mlp", "nmtune-paper", "nmtune-text", "nmtune-authors", "mlp-authors")


# --------------------------------------------------------------------------- errors and parser


class _UsageError(Exception):
    """A command-line usage problem, reported in one line with exit status 2."""


class _NonFiniteResult(ArithmeticError):
    """A computed result that is NaN or infinite: a failure at run time (exit status 1)."""


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors become one-line messages instead of a usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        if "required: COMMAND" in message:
            message = "missing command: choose one of demo, extract, fit, predict, spectrum, rank"
        raise _UsageError(f"{message} (see '{self.prog} --help')")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keep hand-wrapped descriptions; show meaningful defaults (not None / False)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "%(default)" not in text
            and action.option_strings
            and default is not None
            and default is not False
            and default is not argparse.SUPPRESS
            and not isinstance(default, list)
        ):
            text += " (default: %(default)s)"
        return text


# Exceptions that mean "the input or the environment is wrong" (exit 2); anything else is 1.
_INPUT_ERRORS: tuple[type[BaseException], ...] = (
    _UsageError,
    ValueError,
    TypeError,
    KeyError,
    FileNotFoundError,
    IsADirectoryError,
    NotADirectoryError,
    FileExistsError,
    PermissionError,
    ImportError,
)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, ModuleNotFoundError) and exc.name and exc.name not in str(exc):
        text = f"missing dependency {exc.name!r}: {exc}"
    elif isinstance(exc, KeyError) and exc.args:
        text = str(exc.args[0])
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def _fail(message: str, code: int) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


# --------------------------------------------------------------------------- file I/O


def _existing(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} not found: {path}")
    return path


def _check_suffix(path: Path, allowed: Sequence[str], what: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in allowed:
        raise ValueError(f"{what} {path} has an unsupported extension {suffix or '(none)'!r}; use {', '.join(allowed)}.")
    return suffix


def _as_feature_matrix(X: Any, path: Path) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{path}: features must be a non-empty 2-D array (n_samples, n_features), got shape {X.shape}.")
    if X.dtype.kind not in "fiub":
        raise ValueError(f"{path}: features must be numeric, got dtype {X.dtype}.")
    X = X.astype(np.float32, copy=False) if X.dtype.kind != "f" else X
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{path}: features contain NaN or infinite values.")
    return X


def _load_array(path: Path, what: str) -> Any:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise ValueError(f"{what} {path} could not be read as a NumPy file ({_one_line(exc)}).") from exc


def _read_features(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Read a features file: ``.npy`` (``X``) or ``.npz`` (``X`` and optional ``y``).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,) or None
    """
    path = _existing(path, "features file")
    suffix = _check_suffix(path, _FEATURE_SUFFIXES, "features file")
    data = _load_array(path, "features file")
    if suffix == ".npy":
        return _as_feature_matrix(data, path), None
    with data:
        if "X" not in data.files:
            raise ValueError(f"{path} has no array named 'X' (it holds {sorted(data.files)}); save it with np.savez(path, X=X, y=y).")
        X = _as_feature_matrix(data["X"], path)
        y = _as_labels(data["y"], path, len(X)) if "y" in data.files else None
    return X, y


def _as_labels(y: Any, path: Path, n_samples: int | None) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(f"{path}: labels must be 1-D, got shape {y.shape}.")
    if n_samples is not None and len(y) != n_samples:
        raise ValueError(f"{path}: {len(y)} labels for {n_samples} samples; they must match.")
    return y


def _read_labels(path: str | Path, n_samples: int | None = None, column: str | None = None) -> np.ndarray:
    """Read labels from ``.npy``, or from a text file with exactly one label per line.

    ``.txt`` / ``.csv``: every line holds one label (a CSV field may be quoted); blank lines are
    allowed only at the end. With ``column``, the file is a CSV table with a header row and the
    labels are that column. Integer labels are read as integers, anything else as strings.
    Every problem names the file and the line.
    """
    path = _existing(path, "labels file")
    suffix = _check_suffix(path, _LABEL_SUFFIXES, "labels file")
    if suffix == ".npy":
        if column is not None:
            raise _UsageError(f"--label-column selects a column of a CSV labels file; {path} is a .npy array.")
        return _as_labels(_load_array(path, "labels file"), path, n_samples)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"labels file {path} is not UTF-8 text ({exc.reason} at byte {exc.start}).") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[int, list[str]]] = []  # (line number, fields)
    try:
        for fields in reader:
            rows.append((reader.line_num, fields))
    except csv.Error as exc:  # an unterminated quote, say
        raise ValueError(f"{path}, line {reader.line_num}: not readable as one label per line / CSV ({exc}).") from None
    while rows and not any(field.strip() for field in rows[-1][1]):
        rows.pop()  # trailing blank lines
    values = _label_column(rows, path, column) if column is not None else _one_label_per_line(rows, path)
    if not values:
        raise ValueError(f"{path}: no labels found.")
    try:
        y = np.array([int(v) for v in values])
    except ValueError:
        y = np.array(values)
    return _as_labels(y, path, n_samples)


def _one_label_per_line(rows: list[tuple[int, list[str]]], path: Path) -> list[str]:
    values = []
    for number, fields in rows:
        if len(fields) > 1 or (fields and "\t" in fields[0]):
            n = len(fields) if len(fields) > 1 else len(fields[0].split("\t"))
            raise ValueError(
                f"{path}, line {number}: {n} fields ({','.join(fields)[:60]!r}); a labels file holds exactly one label "
                "per line. For a table, name the column with --label-column NAME."
            )
        label = fields[0].strip() if fields else ""
        if not label:
            raise ValueError(f"{path}, line {number}: empty line; a labels file holds exactly one label per line.")
        if "\n" in label or "\r" in label:
            raise ValueError(f"{path}, line {number}: a quoted label spans several lines.")
        values.append(label)
    return values


def _label_column(rows: list[tuple[int, list[str]]], path: Path, column: str) -> list[str]:
    if not rows:
        raise ValueError(f"{path}: no header row; --label-column {column!r} needs a CSV table with a header.")
    header = [name.strip() for name in rows[0][1]]
    if column not in header:
        raise ValueError(f"{path}: no column {column!r} in the header row; the columns are {', '.join(map(repr, header))}.")
    index = header.index(column)
    values = []
    for number, fields in rows[1:]:
        if len(fields) != len(header):
            raise ValueError(f"{path}, line {number}: {len(fields)} fields, but the header has {len(header)}.")
        label = fields[index].strip()
        if not label:
            raise ValueError(f"{path}, line {number}: empty value in column {column!r}.")
        values.append(label)
    return values


def _features_and_labels(
    features: str, labels: str | None, *, required: bool, column: str | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Features plus labels from ``--labels`` (``column`` of a CSV table) or from the ``.npz`` itself."""
    X, y = _read_features(features)
    if labels is not None:
        y = _read_labels(labels, len(X), column)
    elif column is not None:
        raise _UsageError("--label-column needs --labels FILE.")
    if required and y is None:
        raise _UsageError(f"no labels for {features}: pass --labels FILE or save them as 'y' in a .npz.")
    return X, y


def _write_features(path: str | Path, X: np.ndarray, y: np.ndarray | None = None) -> Path:
    """Write ``X`` (and ``y``) as ``.npy`` (``X`` only) or ``.npz``."""
    path = Path(path)
    suffix = _check_suffix(path, _FEATURE_SUFFIXES, "output file")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".npy":
        np.save(path, X)
    elif y is None:
        np.savez(path, X=X)
    else:
        np.savez(path, X=X, y=y)
    return path


def _write_predictions(path: str | Path, values: np.ndarray, classes: np.ndarray | None = None) -> Path:
    """Write labels (1-D) or probabilities (2-D, one column per class) as ``.npy`` or ``.csv``."""
    path = Path(path)
    suffix = _check_suffix(path, _PREDICTION_SUFFIXES, "output file")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".npy":
        np.save(path, values)
        return path
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        if values.ndim == 1:
            writer.writerow(["prediction"])
            writer.writerows([v] for v in values.tolist())
        else:
            names = classes if classes is not None else range(values.shape[1])
            writer.writerow([f"proba_{c}" for c in names])
            writer.writerows([f"{p:.8g}" for p in row] for row in values)
    return path


def _check_output(path: str | Path, allowed: Sequence[str], what: str = "output file") -> Path:
    """Validate an output path early, before any expensive work."""
    path = Path(path)
    _check_suffix(path, allowed, what)
    if path.is_dir():
        raise IsADirectoryError(f"{what} {path} is a directory.")
    return path


def _parse_param(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE a Python literal (``0.01``, ``True``, ``None``) or a string."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise _UsageError(f"--set expects KEY=VALUE (e.g. reg_lambda=0.01), got {text!r}.")
    try:
        parsed = ast.literal_eval(value.strip())
    except (ValueError, SyntaxError):
        parsed = value.strip()
    return key, parsed


# --------------------------------------------------------------------------- subcommands


def _cmd_demo(args: argparse.Namespace) -> int:
    from . import demo as _demo

    start = time.perf_counter()
    epochs = args.epochs or _demo.DEFAULTS["quick_epochs" if args.quick else "epochs"]
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

    with _demo.torch_threads(args.threads):
        result = _run_demo(args, _demo, epochs, methods, own_features, log)
    written = _demo.write_outputs(result, args.output_dir, plot=not args.no_plot)
    print()
    print(_demo.format_table(result.rows))
    print()
    print(_demo.summarize(result.rows))
    print(f"wrote {', '.join(str(p) for p in written)}")
    print(f"total wall time {time.perf_counter() - start:.1f}s")
    return 0


def _run_demo(
    args: argparse.Namespace, _demo: Any, epochs: int, methods: list[str], own_features: bool, log: Any
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
        return _demo.run_features_demo(
            X, y, X_ood, y_ood, backbone=name, test_size=args.test_size, methods=methods,
            config=args.config, epochs=epochs, seed=args.seed, device=args.device, log=log,
        )
    return _demo.run_digits_demo(
        noise_rates=_demo.parse_noise_rates(args.noise_rates), methods=methods, config=args.config,
        ood_shift=args.ood_shift, epochs=epochs,
        pretrain_epochs=args.pretrain_epochs or _demo.DEFAULTS["quick_pretrain_epochs" if args.quick else "pretrain_epochs"],
        seed=args.seed, device=args.device, log=log,
    )


def _require_matplotlib() -> None:
    """Fail before any work when the figures cannot be drawn."""
    if importlib.util.find_spec("matplotlib") is None:
        raise ImportError("the demo's figures need matplotlib: pip install 'sknmtune[plots]', or pass --no-plot.")


_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


def _read_image_folder(path: str | Path) -> tuple[list[str], np.ndarray | None]:
    """Image files of a folder: one sub-folder per class (labels = folder names), or a flat folder.

    Returns the sorted file paths and the labels (None for a flat folder).
    """
    root = _existing(path, "images folder")
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a directory.")

    def images_in(folder: Path) -> list[Path]:
        return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES)

    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    files: list[Path] = []
    labels: list[str] = []
    for folder in classes:
        found = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES)
        files.extend(found)
        labels.extend([folder.name] * len(found))
    if files:
        return [str(f) for f in files], np.array(labels)
    flat = images_in(root)
    if not flat:
        raise ValueError(f"no images ({', '.join(_IMAGE_SUFFIXES)}) found in {root} or its class sub-folders.")
    return [str(f) for f in flat], None


def _read_extract_input(path: str | Path) -> tuple[Any, np.ndarray | None]:
    """The samples of INPUT (image file paths, an image array or text lines) and any labels it carries."""
    path = _existing(path, "input")
    if path.is_dir():
        return _read_image_folder(path)
    suffix = path.suffix.lower()
    if suffix == ".txt":
        lines = [line.rstrip("\r\n") for line in path.read_text(encoding="utf-8").splitlines()]
        lines = [line for line in lines if line.strip()]
        if not lines:
            raise ValueError(f"{path} has no non-empty lines.")
        return lines, None
    if suffix in (".npy", ".npz"):
        data = _load_array(path, "input file")
        if suffix == ".npz":
            with data:
                if "X" not in data.files:
                    raise ValueError(f"{path} has no array named 'X' (it holds {sorted(data.files)}).")
                X = data["X"]
                y = _as_labels(data["y"], path, len(X)) if "y" in data.files else None
        else:
            X, y = data, None
        if X.ndim not in (3, 4) or X.dtype.kind not in "fiu":
            raise ValueError(
                f"{path}: expected an image array (N, H, W), (N, H, W, C) or (N, C, H, W); got shape {X.shape} "
                f"and dtype {X.dtype}. (Features are already features: use 'sknmtune fit' directly.)"
            )
        return X, y
    raise ValueError(
        f"unsupported input {path}: give an images folder, an image array (.npy/.npz) or a text file (.txt)."
    )


def _extract_features(
    input_path: str | Path,
    *,
    backbone: str,
    weights: str | None = None,
    pretrained: bool = True,
    cache_dir: str | None = None,
    batch_size: int = 64,
    device: str = "auto",
    labels: np.ndarray | None = None,
    verbose: int = 0,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Features of INPUT with a named backbone through :class:`~sknmtune.FrozenBackboneTransformer`."""
    from ..backbones import FrozenBackboneTransformer

    samples, y = _read_extract_input(input_path)
    if weights is not None:
        _existing(weights, "weights file")
    if labels is not None:
        y = _as_labels(labels, Path(input_path), len(samples))
    extractor = FrozenBackboneTransformer(
        backbone, weights=weights, pretrained=pretrained, cache=cache_dir, batch_size=batch_size,
        device=device, verbose=verbose,
    )
    return extractor.fit_transform(samples), y


def _extract_with_labels(images: str, args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    X, y = _extract_features(
        images, backbone=args.backbone, weights=args.weights, pretrained=args.pretrained,
        cache_dir=args.cache_dir, device=args.device, verbose=0 if args.quiet else 1,
    )
    if y is None:
        raise ValueError(f"{images} has no class sub-folders, so it has no labels; the demo needs them.")
    return X, y


def _cmd_extract(args: argparse.Namespace) -> int:
    out = _check_output(args.output, _FEATURE_SUFFIXES)
    start = time.perf_counter()
    X, y = _extract_features(
        args.input,
        backbone=args.backbone,
        weights=args.weights,
        pretrained=args.pretrained,
        cache_dir=args.cache_dir,
        batch_size=args.batch_size,
        device=args.device,
        labels=_read_labels(args.labels, column=args.label_column) if args.labels else None,
        verbose=0 if args.quiet else 1,
    )
    _write_features(out, X, y)
    labels = "no labels" if y is None else f"{len(np.unique(y))} classes"
    print(
        f"extracted {X.shape[0]} x {X.shape[1]} features ({labels}) with {args.backbone} "
        f"in {time.perf_counter() - start:.1f}s -> {out}"
    )
    return 0


def _cmd_fit(args: argparse.Namespace) -> int:
    from ..classifier import NMTuneClassifier
    from ..persistence import _check_model_path, save

    out = _check_model_path(args.output, args.format)  # before training: a wrong name fails at once
    X, y = _features_and_labels(args.features, args.labels, required=True, column=args.label_column)
    overrides = dict(_parse_param(p) for p in args.set)
    unknown = sorted(set(overrides) - set(NMTuneClassifier().get_params()))
    if unknown:
        raise _UsageError(
            f"unknown parameter(s) {', '.join(unknown)} for --set; NMTuneClassifier takes "
            f"{', '.join(NMTuneClassifier().get_params())}."
        )
    for name in ("max_epochs", "random_state", "device"):
        value = getattr(args, name)
        if value is not None:
            overrides.setdefault(name, value)
    clf = NMTuneClassifier.from_preset(args.preset, **overrides)
    start = time.perf_counter()
    clf.fit(X, y)
    seconds = time.perf_counter() - start
    out.parent.mkdir(parents=True, exist_ok=True)
    save(clf, out, format=args.format)
    print(
        f"fitted {args.preset!r} on {X.shape[0]} x {X.shape[1]} features, {len(clf.classes_)} classes "
        f"in {seconds:.1f}s; training accuracy {clf.score(X, y):.4f} -> {out}"
    )
    return 0


def _load_model(path: str, *, trusted: bool, device: str, needs: str) -> Any:
    """Load a saved model (safe format; pickles only with ``--trusted``) that has the method ``needs``."""
    from ..persistence import ModelFileError, load

    model = load(_existing(path, "model file"), trusted=trusted, map_location=device)
    if not callable(getattr(model, needs, None)):
        raise ModelFileError(path, f"holds a {type(model).__name__}, which has no {needs}() method")
    return model


def _cmd_predict(args: argparse.Namespace) -> int:
    out = _check_output(args.output, _PREDICTION_SUFFIXES)
    model = _load_model(args.model, trusted=args.trusted, device=args.device,
                        needs="predict_proba" if args.proba else "predict")
    X, y = _features_and_labels(args.features, args.labels, required=False, column=args.label_column)
    if args.proba:
        values = model.predict_proba(X)
        _write_predictions(out, values, getattr(model, "classes_", None))
        pred = np.asarray(model.classes_)[values.argmax(axis=1)]
    else:
        pred = values = model.predict(X)
        _write_predictions(out, values)
    msg = f"predicted {len(X)} samples -> {out}"
    if y is not None:
        msg += f"; accuracy {float(np.mean(pred == y)):.4f}"
    print(msg)
    return 0


def _cmd_spectrum(args: argparse.Namespace) -> int:
    from ..spectral import spectral_summary

    opts = {"center": args.center, "normalize_rows": args.normalize_rows}
    plot_path = _check_output(args.plot, (".png", ".pdf", ".svg"), "plot file") if args.plot else None
    json_path = _check_output(args.json, (".json",), "JSON file") if args.json else None
    model = None
    if args.model:
        model = _load_model(args.model, trusted=args.trusted, device="cpu", needs="transform")

    stems = [Path(name).stem for name in args.features]
    if len(set(stems)) != len(stems):
        raise _UsageError("the features files need distinct names: each spectrum is labelled with its file name.")
    matrices: dict[str, np.ndarray] = {}
    for name, label in zip(args.features, stems):
        X, _ = _read_features(name)
        if model is not None:
            matrices[f"{label} (F)"] = X
            matrices[f"{label} (Z)"] = np.asarray(model.transform(X))
        else:
            matrices[label] = X

    rows = []
    for label, X in matrices.items():
        row = {"name": label, "n_samples": X.shape[0], "n_features": X.shape[1]}
        row.update(spectral_summary(X, n_top=args.top, **opts))
        row.setdefault("top_singular_values", [])
        bad = [key for key in ("sve", "lsvr", "rankme", "sigma_max") if not np.isfinite(row[key])]
        if bad or not np.all(np.isfinite(row["top_singular_values"])):
            raise _NonFiniteResult(
                f"the spectrum of {label} is not finite ({', '.join(f'{k}={row[k]}' for k in bad) or 'singular values'}): "
                "its singular values overflow float64."
            )
        rows.append(row)
    _print_spectrum_table(rows, args.top)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps({"options": opts, "spectra": rows}, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {json_path}")
    if plot_path is not None:
        from ..plotting import plot_spectrum

        longest = max(min(X.shape) for X in matrices.values())
        groups = tuple(g for g in (20, 500) if g < longest)
        axes = plot_spectrum(matrices, groups=groups, log=args.log, **opts)
        fig = axes[0].figure
        fig.suptitle("Singular value spectrum" + (" (rows normalized)" if args.normalize_rows else ""))
        plot_path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(plot_path, dpi=120)
        print(f"wrote {plot_path}")
    return 0


def _print_spectrum_table(rows: list[dict[str, Any]], top: int) -> None:
    width = max(len("features"), *(len(r["name"]) for r in rows))
    print(f"{'features':<{width}}  {'samples':>7}  {'dims':>5}  {'SVE':>7}  {'LSVR':>7}  {'RankMe':>8}  {'rank':>5}")
    for r in rows:
        print(
            f"{r['name']:<{width}}  {r['n_samples']:>7d}  {r['n_features']:>5d}  {r['sve']:>7.4f}  "
            f"{r['lsvr']:>7.4f}  {r['rankme']:>8.2f}  {r['numerical_rank']:>5d}"
        )
    if top > 0:
        for r in rows:
            values = ", ".join(f"{v:.4g}" for v in r["top_singular_values"])
            print(f"top {len(r['top_singular_values'])} singular values of {r['name']}: {values}")


# --------------------------------------------------------------------------- parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--traceback", action="store_true", default=argparse.SUPPRESS,
        help="show the full Python traceback on errors (for debugging)",
    )


def _add_label_column(parser: Any) -> None:
    parser.add_argument(
        "--label-column", metavar="NAME",
        help="the labels are column NAME of a CSV labels file with a header row (default: one label per line)",
    )


def _add_trusted(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trusted", action="store_true",
        help="also load a pickle / joblib model file; unpickling runs code from the file, so only for trusted files",
    )


def _add_device(parser: argparse.ArgumentParser, default: str | None = "auto") -> None:
    parser.add_argument(
        "--device", default=default, metavar="DEVICE",
        help="torch device: auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:1, mps",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``sknmtune`` argument parser (one subparser per command)."""
    from .. import __version__

    parser = _Parser(
        prog=PROG,
        description=(
            "NMTune heads for frozen pre-trained backbones (ICLR 2024: label noise in pre-training).\n"
            "Start with 'sknmtune demo': it runs offline in about a minute on a laptop CPU."
        ),
        epilog=_EPILOG,
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_common(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands", required=True)

    # demo -----------------------------------------------------------------
    from .demo import CONFIGS, DEFAULTS, METHOD_NAMES, OOD_SHIFTS

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

    # extract --------------------------------------------------------------
    extract = sub.add_parser(
        "extract",
        help="frozen backbone features of an images folder, an image array or a text file",
        description=(
            "Run a frozen backbone over INPUT and write its features:\n"
            "  a directory     images, one sub-folder per class (labels from the folder names)\n"
            "                  or a flat folder of images (no labels);\n"
            "  .npy / .npz     an image array (N, H, W), (N, H, W, C) or (N, C, H, W); a .npz\n"
            "                  may hold 'X' (images) and 'y' (labels);\n"
            "  .txt            one text per line, for a text backbone.\n"
            "The output is .npz (X and, when known, y) or .npy (X only). --cache-dir stores the\n"
            "features in a resumable on-disk cache, so a second run reads them back."
        ),
        epilog="Example: sknmtune extract photos/ --backbone resnet18 -o feats.npz --cache-dir .cache",
        formatter_class=_Formatter,
    )
    _add_common(extract)
    extract.add_argument("input", help="images folder, image array (.npy/.npz) or text file (.txt)")
    extract.add_argument("-o", "--output", metavar="FILE", required=True, help="features file to write (.npz or .npy)")
    extract.add_argument("--backbone", metavar="NAME", required=True, help="backbone name (a timm model, or a text model)")
    extract.add_argument("--weights", metavar="FILE", help="local checkpoint file to load into a timm backbone")
    extract.add_argument("--pretrained", action=argparse.BooleanOptionalAction, default=True,
                         help="timm backbones: download timm's pretrained weights (--no-pretrained: seeded random "
                              "init, works offline); ignored with --weights")
    extract.add_argument("--labels", metavar="FILE", help="labels file for INPUT (overrides folder names / the .npz's y)")
    _add_label_column(extract)
    extract.add_argument("--cache-dir", metavar="DIR", help="directory of the feature cache (default: no cache)")
    extract.add_argument("--batch-size", metavar="N", type=_positive_int, default=64, help="inference batch size")
    extract.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_device(extract)
    extract.set_defaults(func=_cmd_extract)

    # fit ------------------------------------------------------------------
    fit = sub.add_parser(
        "fit",
        help="train a head on features + labels and save the model",
        description=(
            "Fit NMTuneClassifier.from_preset(PRESET, **overrides) on FEATURES and save it with\n"
            "sknmtune.persistence.save. Any estimator parameter can be set with --set KEY=VALUE."
        ),
        epilog="Example: sknmtune fit feats.npz --preset nmtune-paper --set reg_lambda=0.05 -o model.skn",
        formatter_class=_Formatter,
    )
    _add_common(fit)
    fit.add_argument("features", help="features file (.npy, or .npz with X and y)")
    fit.add_argument("--labels", metavar="FILE", help="labels file (.npy, .txt, .csv); not needed when the .npz has y")
    _add_label_column(fit)
    fit.add_argument("-o", "--output", metavar="FILE", required=True, help="model file to write (e.g. model.skn)")
    fit.add_argument("--format", choices=("skn", "joblib"), default="skn",
                     help="skn: the safe sknmtune format; joblib: a pickle (loading it needs --trusted)")
    fit.add_argument("--preset", metavar="NAME", default="nmtune-paper",
                     help="named configuration of NMTuneClassifier: " + ", ".join(_PRESET_NAMES))
    fit.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override an estimator parameter, e.g. --set reg_lambda=0.01 --set mlp_depth=3")
    fit.add_argument("--epochs", metavar="N", dest="max_epochs", type=_positive_int, default=None, help="shortcut for --set max_epochs=N")
    fit.add_argument("--seed", metavar="N", dest="random_state", type=int, default=None, help="shortcut for --set random_state=N")
    _add_device(fit)
    fit.set_defaults(func=_cmd_fit)

    # predict --------------------------------------------------------------
    predict = sub.add_parser(
        "predict",
        help="predict labels (or probabilities) for features with a saved model",
        description=(
            "Load MODEL (written by 'sknmtune fit' or sknmtune.save) and predict FEATURES. Pickle / joblib\n"
            "model files are refused unless --trusted: unpickling runs code from the file."
        ),
        epilog="Example: sknmtune predict model.skn test.npz -o pred.csv",
        formatter_class=_Formatter,
    )
    _add_common(predict)
    predict.add_argument("model", help="saved model file")
    predict.add_argument("features", help="features file (.npy or .npz)")
    predict.add_argument("-o", "--output", metavar="FILE", required=True, help="predictions file (.npy or .csv)")
    predict.add_argument("--proba", action="store_true", help="write class probabilities instead of labels")
    predict.add_argument("--labels", metavar="FILE", help="true labels (.npy, .txt, .csv): also print the accuracy")
    _add_label_column(predict)
    _add_trusted(predict)
    _add_device(predict, default="cpu")
    predict.set_defaults(func=_cmd_predict)

    # spectrum -------------------------------------------------------------
    spectrum = sub.add_parser(
        "spectrum",
        help="SVE, LSVR, RankMe and a singular value plot of features",
        description=(
            "Print the singular value entropy (SVE), largest singular value ratio (LSVR) and\n"
            "RankMe of each FEATURES file (paper, Definitions 2.1 and 2.2), optionally plot the\n"
            "spectra together. With --model, also the spectrum of the head's output Z = h(F)."
        ),
        epilog="Example: sknmtune spectrum clean.npy noisy.npy --plot spectra.png",
        formatter_class=_Formatter,
    )
    _add_common(spectrum)
    spectrum.add_argument("features", nargs="+", help="one or more features files (.npy or .npz)")
    spectrum.add_argument("--model", metavar="FILE", help="a saved model: also analyse its output Z = model.transform(X)")
    _add_trusted(spectrum)
    spectrum.add_argument("--center", action="store_true", help="subtract the column means first")
    spectrum.add_argument("--normalize-rows", action="store_true",
                          help="the authors' convention: L2-normalize rows, then subtract each row's mean")
    spectrum.add_argument("--top", metavar="K", type=_nonnegative_int, default=5, help="also print the top-K singular values")
    spectrum.add_argument("--plot", metavar="FILE", help="write the spectrum figure (.png, .pdf or .svg)")
    spectrum.add_argument("--log", action="store_true", help="logarithmic y axis in the plot")
    spectrum.add_argument("--json", metavar="FILE", help="write the metrics as JSON")
    spectrum.set_defaults(func=_cmd_spectrum)

    from .rank import _add_rank_parser

    _add_rank_parser(sub)
    return parser


# --------------------------------------------------------------------------- entry point


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``sknmtune`` command line and return its exit status.

    Parameters
    ----------
    argv : sequence of str, default=None
        The arguments after the program name; ``sys.argv[1:]`` when None.

    Returns
    -------
    status : int
        0 on success, 2 for bad input (one line on stderr), 1 for a failure at run time,
        130 when interrupted.

    Examples
    --------
    >>> from sknmtune.cli import main
    >>> main(["--version"])  # doctest: +SKIP
    sknmtune 0.1.0
    0
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    show_traceback = "--traceback" in argv
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help and --version exit through argparse
            return int(exc.code or 0) if not isinstance(exc.code, str) else _fail(exc.code, 2)
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        if show_traceback:
            raise
        return _fail("interrupted", 130)
    except Exception as exc:
        if show_traceback:
            raise
        return _fail(_one_line(exc), 2 if isinstance(exc, _INPUT_ERRORS) else 1)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
