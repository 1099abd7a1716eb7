"""Figures of the benchmarks' records: accuracy per backbone family and method, spectra of F and Z, fit time against rows."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness.tables import families_in, mean_of, methods_in

__all__ = ["accuracy_figures", "fit_sweep_figure"]


def accuracy_figures(records: list[dict[str, Any]], stem: str, order: Iterable[str], folder: Path) -> list[str]:
    """``<stem>_id_ood.png`` (accuracy per family, method and role) and ``<stem>_spectra.png`` (SVE / LSVR of F
    vs Z) in ``folder``; returns the file names."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from sknmtune.plotting import plot_accuracy_by_method

    written = []
    fams = families_in(records)[:-1]
    methods = methods_in(records, order)
    # per-(family, method, role, seed) means over (task, backbone) pairs, so the error bars are over seeds
    agg: list[dict[str, Any]] = []
    grouped: dict[tuple, list[float]] = defaultdict(list)
    for r in records:
        grouped[(r["family"], r["method"], r["role"], r["seed"], r["task"], r["backbone"])].append(r["accuracy"])
    per_seed: dict[tuple, list[float]] = defaultdict(list)
    for (fam, m, role, seed, _t, _b), v in grouped.items():
        per_seed[(fam, m, role, seed)].append(float(np.mean(v)))
    for (fam, m, role, seed), v in per_seed.items():
        agg.append({"family": fam, "method": m, "role": role, "seed": seed, "accuracy": float(np.mean(v))})
    fig = Figure(figsize=(2 * max(6, 1.1 * len(methods)), 3.3 * len(fams)), layout="constrained")
    axes = fig.subplots(len(fams), 2, squeeze=False)
    for row, fam in enumerate(fams):
        for col, role in enumerate(("ID", "OOD")):
            ax = axes[row, col]
            sel = [a for a in agg if a["family"] == fam and a["role"] == role]
            if not sel:
                ax.set_visible(False)
                continue
            plot_accuracy_by_method(sel, methods=[m for m in methods if any(a["method"] == m for a in sel)], ax=ax)
            ax.set_title(f"{fam}: mean {role} accuracy (error bars: std over seeds)", fontsize=9)
            vals = [a["accuracy"] for a in sel]
            ax.set_ylim(max(0.0, min(vals) - 0.03), min(1.0, max(vals) + 0.02))
            ax.get_legend().remove()
            ax.tick_params(axis="x", labelrotation=25, labelsize=8)
    path = folder / f"{stem}_id_ood.png"
    fig.savefig(path, dpi=110)
    written.append(path.name)

    fig = Figure(figsize=(11, 3.4 * len(fams)), layout="constrained")
    axes = fig.subplots(len(fams), 2, squeeze=False)
    for row, fam in enumerate(fams):
        for col, (metric, role) in enumerate((("sve", "ID"), ("lsvr", "OOD"))):
            ax = axes[row, col]
            ms = [m for m in methods if any(r["sve_Z"] is not None for r in records if r["method"] == m)]
            f_vals = [mean_of(r[f"{metric}_F"] for r in records if r["family"] == fam and r["method"] == m and r["role"] == role) for m in ms]
            z_vals = [mean_of(r[f"{metric}_Z"] for r in records if r["family"] == fam and r["method"] == m and r["role"] == role) for m in ms]
            x = np.arange(len(ms))
            ax.bar(x - 0.2, f_vals, 0.4, label="F (backbone)")
            ax.bar(x + 0.2, z_vals, 0.4, label="Z (head)")
            ax.set_xticks(x, ms, rotation=20)
            ax.set_ylabel(f"{metric.upper()} ({role} test)")
            ax.set_title(f"{fam}: {metric.upper()} of F vs Z, {role} test features")
            finite = [v for v in f_vals + z_vals if math.isfinite(v)]
            if finite:
                ax.set_ylim(min(finite) * 0.9, max(finite) * 1.05)
            ax.grid(True, axis="y", alpha=0.3)
            ax.legend(fontsize=8)
    path = folder / f"{stem}_spectra.png"
    fig.savefig(path, dpi=110)
    written.append(path.name)
    return written


def fit_sweep_figure(data: dict[str, Any], path: Path, labels: dict[str, str]) -> None:
    """Fit seconds against training rows at 1,280 columns (log-log), one line per head, from ``fit_time --sweep``'s
    JSON; ``labels`` names the heads."""
    from matplotlib.figure import Figure

    points = sorted((p for p in data["points"] if p["d"] == 1280), key=lambda p: p["n"])
    heads = list(dict.fromkeys(h for p in points for h in p["seconds"]))
    fig = Figure(figsize=(7, 4.2), layout="constrained")
    ax = fig.subplots()
    for head in heads:
        xs = [p["n"] for p in points if head in p["seconds"]]
        ax.plot(xs, [p["seconds"][head] for p in points if head in p["seconds"]], marker="o", label=labels.get(head, head))
    tiled = [p["n"] for p in points if "tiled" in p["source"]]
    if tiled:
        ax.axvspan(min(tiled) * 0.9, max(tiled) * 1.1, color="0.9", zorder=0, label="rows tiled with jitter")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training rows (1,280-d EfficientNet-Lite0 PACS features)")
    ax.set_ylabel(f"fit seconds, {data.get('threads', 1)} thread")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=100)
