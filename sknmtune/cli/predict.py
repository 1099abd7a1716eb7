"""``sknmtune predict``: labels (or probabilities) for features with a saved model."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from ._io import _PREDICTION_SUFFIXES, _check_output, _features_and_labels, _load_model, _write_predictions
from ._options import _add_common, _add_device, _add_label_column, _add_trusted, _Formatter


def _add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``predict`` on the ``sknmtune`` subparsers; returns its parser."""
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
    return predict


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
