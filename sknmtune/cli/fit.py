"""``sknmtune fit``: train a head on features + labels and save the model."""

from __future__ import annotations

import argparse
import ast
import sys
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
            "Fit a head on FEATURES and save it with sknmtune.persistence.save: by default\n"
            "NMTuneClassifier.from_preset(PRESET); --head NAME fits a named head of sknmtune.heads.make_head\n"
            "(cv: NMTuneClassifierCV(), vote: make_voting_head(), logreg-cv: the tuned probe, ...). Any\n"
            "parameter of the chosen head can be set with --set KEY=VALUE."
        ),
        epilog=("Examples: sknmtune fit feats.npz --preset nmtune-paper --set reg_lambda=0.05 -o model.skn\n"
                "          sknmtune fit feats.npz --head vote --seed 0 -o model.skn"),
        formatter_class=_Formatter,
    )
    _add_common(fit)
    fit.add_argument("features", help="features file (.npy, or .npz with X and y)")
    fit.add_argument("--labels", metavar="FILE", help="labels file (.npy, .txt, .csv); not needed when the .npz has y")
    _add_label_column(fit)
    fit.add_argument("-o", "--output", metavar="FILE", required=True, help="model file to write (e.g. model.skn)")
    fit.add_argument("--format", choices=("skn", "joblib"), default="skn",
                     help="skn: the safe sknmtune format; joblib: a pickle (loading it needs --trusted)")
    fit.add_argument("--head", metavar="NAME", default="preset",
                     help="preset: NMTuneClassifier.from_preset(--preset); or a named head of sknmtune.heads.make_head, "
                          "e.g. cv: NMTuneClassifierCV(), vote: make_voting_head(), logreg-cv: LogisticRegressionCV")
    fit.add_argument("--preset", metavar="NAME", default=None,
                     help="named configuration of NMTuneClassifier (--head preset; default nmtune-paper): " + _PRESETS_FIELD)
    fit.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a parameter of the head, e.g. --set reg_lambda=0.01 --set mlp_depth=3, "
                          "or a member's with --head vote: --set mlp__max_epochs=50")
    fit.add_argument("--epochs", metavar="N", dest="max_epochs", type=_positive_int, default=None,
                     help="shortcut for --set max_epochs=N (--head preset)")
    fit.add_argument("--seed", metavar="N", dest="random_state", type=int, default=None, help="random_state of the head (of every member of a vote)")
    _add_device(fit)
    fit.set_defaults(func=_cmd_fit)
    return fit


def _parse_param(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE a Python literal (``0.01``, ``True``, ``None``) or a string.

    KEY is a parameter name, or ``member__name`` for a member of a vote (whose names may hold a hyphen:
    ``nmtune-paper__max_epochs``); whether the head has it is checked against its parameters.
    """
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key.replace("-", "_").isidentifier():
        raise _UsageError(f"--set expects KEY=VALUE (e.g. reg_lambda=0.01), got {text!r}.")
    try:
        parsed = ast.literal_eval(value.strip())
    except (ValueError, SyntaxError):
        parsed = value.strip()
    return key, parsed


def _unfitted_head(args: argparse.Namespace) -> tuple[Any, str]:
    """The head ``--head`` names (``preset``: ``--preset``; else a name of :func:`sknmtune.heads.make_head`), with
    ``--seed``, ``--device`` and ``--set`` applied; and its label."""
    from ..heads import PRESETS, head_names, head_spec, make_head

    if args.head != "preset":
        given = [flag for flag, value in (("--preset", args.preset), ("--epochs", args.max_epochs)) if value is not None]
        if given:
            raise _UsageError(f"{' and '.join(given)} go with --head preset; with --head {args.head} use --set.")
        if args.head not in head_names():
            raise _UsageError(f"unknown --head {args.head!r}; choose preset or one of {', '.join(head_names())}.")
    overrides = dict(_parse_param(p) for p in args.set)
    name = (args.preset or "nmtune-paper") if args.head == "preset" else args.head
    if args.head == "preset":
        if name not in PRESETS:
            raise _UsageError(f"Unknown preset {name!r}; choose one of {sorted(PRESETS)}.")
        if args.max_epochs is not None:
            overrides.setdefault("max_epochs", args.max_epochs)
    spec = head_spec(name)
    head = make_head(name, random_state=args.random_state, device=args.device or "auto")
    label = repr(name) if args.head == "preset" else f"{name!r} ({spec.label})"
    known = head.get_params(deep=True)
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        own = [k for k in head.get_params(deep=False) if k != "estimators"]
        members = [name for name, _ in getattr(head, "estimators", [])]
        raise _UsageError(
            f"unknown parameter(s) {', '.join(unknown)} for --set; {type(head).__name__} takes {', '.join(own)}"
            + (f", and MEMBER__PARAMETER for its members {', '.join(members)}" if members else "") + "."
        )
    return head.set_params(**overrides), label


def _cmd_fit(args: argparse.Namespace) -> int:
    from ..persistence import check_model_path, save

    out = check_model_path(args.output, args.format)  # before training: a wrong name fails at once
    clf, label = _unfitted_head(args)  # so do wrong options
    X, y = _features_and_labels(args.features, args.labels, required=True, column=args.label_column)
    if args.head != "preset":
        from ..heads import estimate_fit_seconds

        guess = estimate_fit_seconds(args.head, int(X.shape[0]), int(X.shape[-1]))
        print(f"fitting {label} on {X.shape[0]} x {X.shape[-1]} features: about "
              f"{f'{guess / 60:.0f} min' if guess >= 60 else f'{guess:.0f} s'} on one thread "
              "at its registered configuration (sknmtune.heads.estimate_fit_seconds)", file=sys.stderr)
    start = time.perf_counter()
    clf.fit(X, y)
    seconds = time.perf_counter() - start
    out.parent.mkdir(parents=True, exist_ok=True)
    save(clf, out, format=args.format)
    print(
        f"fitted {label} on {X.shape[0]} x {X.shape[1]} features, {len(clf.classes_)} classes "
        f"in {seconds:.1f}s; training accuracy {clf.score(X, y):.4f} -> {out}"
    )
    return 0
