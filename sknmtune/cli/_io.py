"""The files the ``sknmtune`` command reads and writes.

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
raw inputs (``extract``, ``rank --input``, ``demo --images``)
    an images folder (one sub-folder per class, or flat), an image array (``.npy`` / ``.npz``)
    or a text file with one text per line.

Every problem raises an exception whose message names the file (and the line); the entry point
turns it into one line on stderr.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import _one_line, _UsageError

_FEATURE_SUFFIXES = (".npy", ".npz")
_LABEL_SUFFIXES = (".npy", ".txt", ".csv")
_PREDICTION_SUFFIXES = (".npy", ".csv")
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


# --------------------------------------------------------------------------- reading


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


# --------------------------------------------------------------------------- raw inputs


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


def _load_model(path: str, *, trusted: bool | list[str], device: str, needs: str) -> Any:
    """Load a saved model that has the method ``needs``.

    The safe format; pickles only with ``--trusted``, custom module types with ``--trusted-type``.
    """
    from ..persistence import ModelFileError, load

    model = load(_existing(path, "model file"), trusted=trusted, map_location=device)
    if not callable(getattr(model, needs, None)):
        raise ModelFileError(path, f"holds a {type(model).__name__}, which has no {needs}() method")
    return model


# --------------------------------------------------------------------------- writing


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
