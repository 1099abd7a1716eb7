"""``sknmtune spectrum``: SVE, LSVR, RankMe and a singular value plot of features (and of a model's Z)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import _NonFiniteResult, _UsageError
from ._io import _check_output, _load_model, _read_features
from ._options import _add_common, _add_trusted, _Formatter, _nonnegative_int


def _add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``spectrum`` on the ``sknmtune`` subparsers; returns its parser."""
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
    return spectrum


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
