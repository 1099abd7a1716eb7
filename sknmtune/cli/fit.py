"""``sknmtune fit``: train a head on features + labels and save the model."""

from __future__ import annotations

import argparse
import ast
import time
from typing import Any

from ._errors import _UsageError
from ._io import _features_and_labels
from ._options import _PRESETS_FIELD, _add_common, _add_device, _add_label_column, _Formatter, _positive_int


def _add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``fit`` on the ``sknmtune`` subparsers; returns its parser."""
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
                     help="named configuration of NMTuneClassifier: " + _PRESETS_FIELD)
    fit.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override an estimator parameter, e.g. --set reg_lambda=0.01 --set mlp_depth=3")
    fit.add_argument("--epochs", metavar="N", dest="max_epochs", type=_positive_int, default=None, help="shortcut for --set max_epochs=N")
    fit.add_argument("--seed", metavar="N", dest="random_state", type=int, default=None, help="shortcut for --set random_state=N")
    _add_device(fit)
    fit.set_defaults(func=_cmd_fit)
    return fit


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
