"""``sknmtune extract``: frozen backbone features of an images folder, an image array or a text file."""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from ._io import _FEATURE_SUFFIXES, _check_output, _extract_features, _read_labels, _write_features
from ._options import _add_common, _add_device, _add_label_column, _Formatter, _positive_int


def _add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``extract`` on the ``sknmtune`` subparsers; returns its parser."""
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
    return extract


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
