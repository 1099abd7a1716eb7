"""The ``sknmtune rank`` subcommand: rank candidate backbones for a labelled dataset.

Two ways to give the candidates:

* feature files (``.npy`` / ``.npz``), one per backbone, all of the same samples in the same order:
  ``sknmtune rank a.npz b.npz --labels y.txt``;
* raw inputs and backbone names, extracted here through
  :class:`~sknmtune.FrozenBackboneTransformer` (with ``--cache-dir``, so a later ``extract`` or
  ``fit`` reuses the features): ``sknmtune rank --input photos/ --backbone resnet18 --backbone
  cifar_resnet20=resnet20.th``.

It prints one row per candidate, best first by ``--primary``, and can write them as JSON. The
command is registered by :func:`sknmtune.cli.build_parser` through :func:`_add_parser`.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import _UsageError
from ._io import _as_labels, _check_output, _existing, _read_extract_input, _read_features, _read_labels
from ._options import _add_common, _add_device, _Formatter, _positive_int

__all__: list[str] = []

_DEFAULT_SCORES = "logme,h_score,sve,lsvr"


def _parse_shrinkage(text: str) -> float | str:
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a number in [0, 1], got {text!r}")
    return value


def _parse_backbone(text: str) -> tuple[str, str | None]:
    """``NAME`` or ``NAME=WEIGHTS`` (a local checkpoint for a timm architecture)."""
    name, sep, weights = text.partition("=")
    if not name or (sep and not weights):
        raise _UsageError(f"--backbone expects NAME or NAME=WEIGHTS_FILE, got {text!r}.")
    return name, (weights or None)


def _feature_candidates(paths: list[str], labels: str | None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Feature matrices named by file stem, and the labels (``--labels`` or the ``y`` the .npz files share)."""
    stems = [Path(p).stem for p in paths]
    if len(set(stems)) != len(stems):
        raise _UsageError("the features files need distinct names: each candidate is named by its file name.")
    candidates: dict[str, np.ndarray] = {}
    carried: list[tuple[str, np.ndarray]] = []
    for path, stem in zip(paths, stems):
        X, y = _read_features(path)
        candidates[stem] = X
        if y is not None:
            carried.append((path, y))
    sizes = {name: len(X) for name, X in candidates.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"the features files hold different numbers of samples ({sizes}); they must describe the same samples.")
    n = next(iter(sizes.values()))
    if labels is not None:
        return candidates, _read_labels(labels, n)
    if not carried:
        raise _UsageError("no labels: pass --labels FILE or save them as 'y' in the .npz files.")
    first_path, y = carried[0]
    for path, other in carried[1:]:
        if not np.array_equal(np.asarray(other), np.asarray(y)):
            raise ValueError(f"{path} and {first_path} carry different labels 'y'; pass --labels to choose.")
    return candidates, y


def _backbone_candidates(args: argparse.Namespace) -> tuple[dict[str, Any], Any, np.ndarray]:
    """FrozenBackboneTransformers named by backbone, the samples of --input and their labels."""
    from ..backbones import FrozenBackboneTransformer

    samples, y = _read_extract_input(args.input)
    if args.labels is not None:
        y = _read_labels(args.labels, len(samples))
    if y is None:
        raise _UsageError(f"{args.input} carries no labels (no class sub-folders, no 'y' in the .npz): pass --labels FILE.")
    y = _as_labels(y, Path(args.input), len(samples))
    candidates: dict[str, Any] = {}
    for text in args.backbone:
        name, weights = _parse_backbone(text)
        if weights is not None:
            _existing(weights, "weights file")
        label = name if weights is None else f"{name}={Path(weights).stem}"
        if label in candidates:
            raise _UsageError(f"--backbone {text!r} is given twice.")
        candidates[label] = FrozenBackboneTransformer(
            name, weights=weights, pretrained=args.pretrained, batch_size=args.batch_size, device=args.device,
            verbose=0 if args.quiet else 1,
        )
    return candidates, samples, y


def _json_value(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else str(float(value))  # LogME can be inf (noise-free fit)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _print_ranking(rows: list[dict[str, Any]], scores: tuple[str, ...], primary: str) -> None:
    from ..ranking import SCORES

    width = max(4, *(len(str(r["name"])) for r in rows))
    heads = [f"{s}{' (lower=better)' if SCORES[s] < 0 else ''}" for s in scores]
    print(f"{'rank':>4}  {'name':<{width}}  " + "  ".join(f"{h:>12}" for h in heads) + f"  {'n_features':>10}")
    for r in rows:
        cells = "  ".join(f"{r[s]:>{max(12, len(h))}.4f}" for s, h in zip(scores, heads))
        print(f"{r['rank']:>4}  {str(r['name']):<{width}}  {cells}  {r['n_features']:>10}")
    print(f"best by {primary}: {rows[0]['name']}")


def _cli_rank(args: argparse.Namespace) -> int:
    """Run ``sknmtune rank``."""
    from ..ranking import SCORES, rank_backbones

    scores = tuple(s.strip() for s in args.scores.split(",") if s.strip())
    unknown = [s for s in scores if s not in SCORES]
    if unknown or not scores:
        raise _UsageError(f"--scores takes a comma-separated list from {', '.join(SCORES)}; got {args.scores!r}.")
    if args.primary is not None and args.primary not in scores:
        raise _UsageError(f"--primary {args.primary} is not among --scores ({', '.join(scores)}).")
    if bool(args.features) == bool(args.input or args.backbone):
        raise _UsageError("give either features files, or --input with one or more --backbone, not both.")
    if bool(args.input) != bool(args.backbone):
        raise _UsageError("--input and --backbone go together: the backbones extract the features of --input.")
    json_path = _check_output(args.json, (".json",), "JSON file") if args.json else None
    if args.features:
        candidates, y = _feature_candidates(args.features, args.labels)
        X = None
    else:
        candidates, X, y = _backbone_candidates(args)
    rows = rank_backbones(
        candidates, X, y, scores=scores, primary=args.primary, cache=args.cache_dir, shrinkage=args.shrinkage,
    )
    primary = args.primary or scores[0]
    _print_ranking(rows, scores, primary)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"scores": list(scores), "primary": primary, "n_samples": rows[0]["n_samples"],
                   "ranking": [{k: _json_value(v) for k, v in r.items()} for r in rows]}
        json_path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {json_path}")
    return 0


def _add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``rank`` on the ``sknmtune`` subparsers; returns its parser."""
    rank = subparsers.add_parser(
        "rank",
        help="rank candidate backbones for a labelled dataset (LogME, H-score, SVE, LSVR)",
        description=(
            "Score each candidate backbone on a labelled dataset before training any head and\n"
            "print them best first:\n"
            "  logme    LogME, mean log evidence of a Bayesian linear model (higher = better)\n"
            "  h_score  H-score, tr(cov(F)^+ cov(E[F|y])) (higher = better)\n"
            "  sve      singular value entropy of the features (paper, Def. 2.1; higher = flatter)\n"
            "  lsvr     largest singular value ratio (paper, Def. 2.2; lower = better)\n"
            "  rankme   exp(SVE)\n"
            "Candidates are features files (one per backbone, the same samples in the same order),\n"
            "or --input with one or more --backbone, whose features are extracted here. These scores\n"
            "are cheap proxies: see the ranking guide for how well each predicted accuracy on the\n"
            "package's benchmark."
        ),
        epilog=(
            "Examples:\n"
            "  sknmtune rank resnet50.npz vit.npz --labels y.txt --json ranking.json\n"
            "  sknmtune rank --input photos/ --backbone resnet18 --backbone cifar_resnet20=resnet20.th --cache-dir .cache"
        ),
        formatter_class=_Formatter,
    )
    _add_common(rank)
    rank.add_argument("features", nargs="*", help="features files (.npy, or .npz with X and optionally y), one per candidate")
    rank.add_argument("--labels", metavar="FILE", help="labels file (.npy, .txt, .csv); overrides the labels the inputs carry")
    rank.add_argument("--input", metavar="DATA", help="images folder, image array (.npy/.npz) or text file (.txt) to extract")
    rank.add_argument("--backbone", action="append", default=[], metavar="NAME[=WEIGHTS]",
                      help="a candidate backbone for --input (repeat it); NAME=FILE loads a local checkpoint")
    rank.add_argument("--pretrained", action=argparse.BooleanOptionalAction, default=True,
                      help="timm backbones: download timm's pretrained weights (--no-pretrained: seeded random init)")
    rank.add_argument("--cache-dir", metavar="DIR", help="feature cache directory for --backbone (default: no cache)")
    rank.add_argument("--batch-size", metavar="N", type=_positive_int, default=64, help="inference batch size")
    rank.add_argument("--scores", metavar="LIST", default=_DEFAULT_SCORES, help="comma-separated scores to compute")
    rank.add_argument("--primary", metavar="SCORE", help="the score that orders the table (default: the first of --scores)")
    rank.add_argument("--shrinkage", metavar="VALUE", type=_parse_shrinkage, default=None,
                      help="H-score covariance shrinkage: 'auto' (Ledoit-Wolf) or a number in [0, 1] (default: none)")
    rank.add_argument("--json", metavar="FILE", help="also write the ranking as JSON")
    rank.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_device(rank)
    rank.set_defaults(func=_cli_rank)
    return rank
