"""``sknmtune compare``: does a better head than a probe exist for these features? Fit, compare, report.

Runs :func:`sknmtune.evaluation.compare_heads` on a features file (an internal split per seed, or
leave-one-group-out with ``--groups``; named out-of-distribution test sets with ``--test``) and writes into
``-o DIR``: ``records.json`` (rewritten atomically after every fit, so a killed run resumes from it without
refitting what finished), ``report.md``, a self-contained ``report.html`` and the figures as PNG files.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import _UsageError
from ._io import _as_labels, _existing, _features_and_labels, _read_features, _read_labels
from ._options import _add_common, _add_device, _add_label_column, _Formatter, _positive_int

__all__: list[str] = []

#: the default of --heads: sknmtune.evaluation.DEFAULT_HEADS (a test keeps them equal; importing it here would
#: load scikit-learn for every 'sknmtune --help')
_DEFAULT_HEADS = "lp,logreg-cv,mlp,nmtune-paper,cv,vote"
#: the default of --seeds: compare_heads' n_seeds, sknmtune.evaluation.MIN_CLUSTERS (same test)
_DEFAULT_SEEDS = 6
_RECORDS = "records.json"


def _test_size(text: str) -> float | int:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1) or a number of rows, got {text!r}") from None
    if 0 < value < 1:
        return value
    if value >= 1 and value.is_integer():
        return int(value)
    raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1) or a number of rows, got {text!r}")


def _add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``compare`` on the ``sknmtune`` subparsers; returns its parser."""
    compare = sub.add_parser(
        "compare",
        help="compare heads on your features (seeds, splits, paired differences) and write a report",
        description=(
            "Fit several heads (names of sknmtune.heads.make_head) on FEATURES, once per seed, and compare\n"
            "them with the tuned probe (logreg-cv): accuracy, balanced accuracy, macro-F1, top-5, worst-group\n"
            "accuracy, fit time, the spectra of F and Z, and paired differences with intervals over the\n"
            "independent units (seeds, each drawing its own split; or, with --groups, the held-out groups).\n"
            "Writes DIR/records.json after every fit (rerun the same command to resume), then DIR/report.md,\n"
            "DIR/report.html (self-contained) and the figures."
        ),
        epilog=("Examples: sknmtune compare feats.npz -o report/\n"
                "          sknmtune compare feats.npz --groups domain --seeds 3 --heads lp,logreg-cv,cv -o report/\n"
                "          sknmtune compare feats.npz --test sketch=sketch.npz --test cartoon=cartoon.npz -o report/"),
        formatter_class=_Formatter,
    )
    _add_common(compare)
    compare.add_argument("features", help="features file (.npy, or .npz with X, and y and groups if you have them)")
    compare.add_argument("--labels", metavar="FILE", help="labels file (.npy, .txt, .csv); not needed when the .npz has y")
    _add_label_column(compare)
    compare.add_argument(
        "--groups", metavar="FILE_OR_COLUMN",
        help="the domain of each row, for leave-one-group-out: a file (.npy, .txt, .csv; one per line), the name of "
             "an array in the features .npz, or a column of the --labels CSV table")
    compare.add_argument("--test", action="append", default=[], metavar="NAME=FILE",
                         help="a named out-of-distribution test set (.npz with X and y); repeatable")
    compare.add_argument("--id-test", metavar="FILE", help="an in-domain test set (.npz with X and y)")
    compare.add_argument("--heads", metavar="A,B,...", default=_DEFAULT_HEADS,
                         help="heads to compare, by sknmtune.heads.make_head name")
    compare.add_argument("--reference", metavar="NAME", default="logreg-cv",
                         help="the head every other is compared with (one of --heads)")
    compare.add_argument("--seeds", metavar="N", type=_positive_int, default=_DEFAULT_SEEDS,
                         help=f"seeds per head (default {_DEFAULT_SEEDS}: the fewest for a decisive verdict over seeds)")
    compare.add_argument("--seed", metavar="N", dest="random_state", type=int, default=0, help="the first seed")
    compare.add_argument("--test-size", metavar="F", type=_test_size, default=0.2,
                         help="validation part of the training rows per seed (fraction or rows)")
    compare.add_argument("--jobs", metavar="N", type=_positive_int, default=None,
                         help="fits in parallel (joblib processes; default one at a time)")
    compare.add_argument("--no-spectra", action="store_true", help="skip the SVE / LSVR and singular values of F and Z")
    compare.add_argument("--restart", action="store_true",
                         help="ignore DIR/records.json and fit everything again")
    compare.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_device(compare)
    compare.add_argument("-o", "--output", metavar="DIR", required=True, help="directory for the records and the report")
    compare.set_defaults(func=_cmd_compare)
    return compare


def _read_groups(spec: str, features: str, labels: str | None, n: int) -> tuple[np.ndarray, str]:
    """``--groups``: a file, else an array of the features .npz, else a column of the --labels CSV."""
    path = Path(spec)
    if path.exists():
        return _read_labels(path, n), f"groups from {path}"
    if features.lower().endswith(".npz"):
        with np.load(features, allow_pickle=False) as data:
            if spec in data.files:
                return _as_labels(data[spec], Path(features), n), f"groups: array {spec!r} of {features}"
    if labels is not None and labels.lower().endswith(".csv"):
        return _read_labels(labels, n, column=spec), f"groups: column {spec!r} of {labels}"
    raise _UsageError(f"--groups {spec!r} is neither a file, nor an array of {features}, nor a column of a --labels "
                      "CSV table.")


def _read_test(text: str, n_features: int, flag: str) -> tuple[np.ndarray, np.ndarray]:
    X, y = _read_features(text)
    if y is None:
        raise _UsageError(f"{flag} {text}: the test set needs its labels, saved as 'y' in the .npz.")
    if X.shape[1] != n_features:
        raise ValueError(f"{flag} {text}: {X.shape[1]} features, but FEATURES has {n_features}.")
    return X, y


def _test_sets(specs: list[str], n_features: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = {}
    for spec in specs:
        name, sep, file = spec.partition("=")
        name = name.strip()
        if not sep or not name or not file:
            raise _UsageError(f"--test expects NAME=FILE (e.g. sketch=sketch.npz), got {spec!r}.")
        if name in out:
            raise _UsageError(f"--test {name!r} is given twice.")
        out[name] = _read_test(file, n_features, "--test")
    return out


def _load_records(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not readable JSON ({exc}); pass --restart to start afresh.") from exc
    records = data.get("records") if isinstance(data, dict) else None
    if not isinstance(records, list):
        raise ValueError(f"{path} holds no 'records' list; pass --restart to start afresh.")
    return records


def _json_safe(value: Any) -> Any:
    """NaN and infinities as null (strict JSON), NumPy scalars as Python numbers."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _write_json(path: Path, data: Any) -> None:
    """Write atomically: a killed run leaves the previous file or the new one, never half of one."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(_json_safe(data), indent=1, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _unit(record: dict[str, Any]) -> tuple:
    return record.get("method"), record.get("held_out"), record.get("seed")


def _cmd_compare(args: argparse.Namespace) -> int:
    from ..evaluation import compare_heads

    heads = [h.strip() for h in args.heads.split(",") if h.strip()]
    from ..heads import head_names

    unknown = [h for h in heads if h not in head_names()]
    if unknown:
        raise _UsageError(f"unknown --heads {', '.join(unknown)}; choose among {', '.join(head_names())}.")
    if args.reference not in heads:
        raise _UsageError(f"--reference {args.reference} is not among --heads {','.join(heads)}.")
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"-o {out} exists and is not a directory.")
    X, y = _features_and_labels(args.features, args.labels, required=True, column=args.label_column)
    groups, groups_note = (None, "") if args.groups is None else _read_groups(args.groups, args.features,
                                                                              args.labels, len(X))
    tests = _test_sets(args.test, X.shape[1])
    X_test, y_test = (None, None) if args.id_test is None else _read_test(args.id_test, X.shape[1], "--id-test")
    out.mkdir(parents=True, exist_ok=True)
    path = out / _RECORDS
    prior = _load_records(path) if path.exists() and not args.restart else []
    written = list(prior)

    def save(records: list[dict[str, Any]]) -> None:
        written.extend(records)
        _write_json(path, {"format": "sknmtune.compare", "complete": False, "records": written})

    try:
        comparison = compare_heads(
            X, y, groups=groups, X_test=X_test, y_test=y_test, test_sets=tests or None, heads=heads,
            n_seeds=args.seeds, test_size=args.test_size, random_state=args.random_state, reference=args.reference,
            n_jobs=args.jobs, spectra=not args.no_spectra, device=args.device or "auto", on_record=save,
            records=prior or None, progress=not args.quiet,
        )
    except ValueError as exc:
        if prior and "earlier records" in str(exc):
            raise _UsageError(f"{path} holds records of other data or settings; pass --restart to fit afresh, or "
                              "write to another -o DIR.") from exc
        raise
    kept = {_unit(r) for r in comparison.records}
    data = comparison.as_dict()
    data["records"] = comparison.records + [r for r in written if _unit(r) not in kept]  # other heads' earlier fits
    _write_json(path, {**data, "complete": True})
    from ._compare_report import _write_reports

    n_classes = len(np.unique(y))
    context = {"data": f"Data: {X.shape[0]:,} rows × {X.shape[1]:,} features of {args.features}, {n_classes} classes"
                       + (f"; {groups_note}" if groups_note else "") + "."}
    files = _write_reports(comparison, out, context)
    fitted = len(written) - len(prior)
    print(f"compared {len(heads)} heads ({'leave-one-group-out' if groups is not None else 'split'}, {args.seeds} "
          f"seeds; {fitted} records new, {len(comparison.records) - fitted} reused) -> {files['report.html']}")
    if comparison.recommendation is not None:
        print(comparison.recommendation.statement)
    return 0
