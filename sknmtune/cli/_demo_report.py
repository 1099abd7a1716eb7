"""What ``sknmtune demo`` prints and writes, computed from the records of :func:`~sknmtune.evaluation.evaluate_heads`.

:func:`table_rows` lays the records out as the demo's table (one row per backbone and head, the ID
and OOD test sets side by side); :func:`format_table` prints it, :func:`summary_line` states what the
numbers show next to their sampling error (the per-head means come from
:func:`sknmtune.evaluation.summarize`), and :func:`write_outputs` writes ``results.csv`` (the table),
``results.json`` (the setup, the records, the table and the summary) and the figures.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["format_table", "summary_line", "table_rows", "write_outputs"]

# The roles evaluate_heads gives the in-domain and the out-of-domain test sets.
_ID, _OOD = "id", "ood"


def table_rows(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per (backbone, head) in the order of the records: the ID and OOD results side by side.

    Keys: ``backbone``, ``noise_rate``, ``method``, ``preset``, ``id_acc``, ``ood_acc``, ``sve_f_id``,
    ``sve_z_id``, ``lsvr_f_ood``, ``lsvr_z_ood``, ``n_test``, ``n_ood``, ``fit_seconds`` (OOD entries
    are None, and ``n_ood`` 0, without an OOD test set).
    """
    groups: dict[tuple[Any, Any], dict[str, Mapping[str, Any]]] = {}
    for record in records:
        groups.setdefault((record["backbone"], record["method"]), {})[record["role"]] = record
    rows = []
    for (backbone, method), by_role in groups.items():
        test, ood = by_role[_ID], by_role.get(_OOD)
        rows.append({
            "backbone": backbone,
            "noise_rate": test["noise_rate"],
            "method": method,
            "preset": test["preset"],
            "id_acc": test["accuracy"],
            "ood_acc": ood["accuracy"] if ood else None,
            "sve_f_id": test["sve_F"],
            "sve_z_id": test["sve_Z"],
            "lsvr_f_ood": ood["lsvr_F"] if ood else None,
            "lsvr_z_ood": ood["lsvr_Z"] if ood else None,
            "n_test": test["n_test"],
            "n_ood": ood["n_test"] if ood else 0,
            "fit_seconds": test["fit_seconds"],
        })
    return rows


_COLUMNS = (
    ("backbone", "backbone", "{}"),
    ("method", "head", "{}"),
    ("id_acc", "ID acc", "{:.4f}"),
    ("ood_acc", "OOD acc", "{:.4f}"),
    ("sve_f_id", "SVE F (ID)", "{:.3f}"),
    ("sve_z_id", "SVE Z (ID)", "{:.3f}"),
    ("lsvr_f_ood", "LSVR F (OOD)", "{:.3f}"),
    ("lsvr_z_ood", "LSVR Z (OOD)", "{:.3f}"),
)


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A fixed-width text table of the demo rows (``-`` where a value is missing)."""
    cells = [[title for _, title, _ in _COLUMNS]]
    for row in rows:
        cells.append([fmt.format(row[key]) if row.get(key) is not None else "-" for key, _, fmt in _COLUMNS])
    widths = [max(len(r[i]) for r in cells) for i in range(len(_COLUMNS))]
    lines = []
    for n, r in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _binomial_se(acc: float, n: int) -> float:
    return math.sqrt(max(acc * (1 - acc), 1e-12) / n) if n else float("nan")


def _pts(x: float) -> str:
    return f"{100 * x:+.1f}"


def _means(records: Sequence[Mapping[str, Any]]) -> dict[tuple[Any, str, str], float]:
    """``{(method, role, key): mean}`` of the accuracy and of F's SVE / LSVR, by :func:`~sknmtune.evaluation.summarize`."""
    from ..evaluation import summarize

    return {
        (method, role, key): value
        for key in ("accuracy", "sve_F", "lsvr_F")
        for (method, role), value in summarize(records, key=key).items()
    }


def summary_line(records: Sequence[Mapping[str, Any]]) -> str:
    """One line stating what the numbers show, next to the sampling error they must beat."""
    by_backbone: dict[Any, list[Mapping[str, Any]]] = {}
    for record in records:
        by_backbone.setdefault(record["backbone"], []).append(record)
    means = {backbone: _means(recs) for backbone, recs in by_backbone.items()}
    methods = {backbone: list(dict.fromkeys(r["method"] for r in recs)) for backbone, recs in by_backbone.items()}
    has_ood = all(r["ood_acc"] is not None for r in table_rows(records))
    parts: list[str] = []

    # Pre-training noise: the cleanest vs the noisiest backbone, probed with LP (the paper's protocol).
    rate = {backbone: recs[0]["noise_rate"] for backbone, recs in by_backbone.items()}
    rated = sorted((b for b in by_backbone if rate[b] is not None), key=lambda b: rate[b])
    if len(rated) >= 2:
        first, last = rated[0], rated[-1]
        probe = "LP" if "LP" in methods[first] and "LP" in methods[last] else methods[first][0]
        a, b = means[first], means[last]
        text = (f"pre-training noise {100 * rate[first]:g}%->{100 * rate[last]:g}% moved {probe} by "
                f"ID {_pts(b[probe, _ID, 'accuracy'] - a[probe, _ID, 'accuracy'])}"
                + (f" / OOD {_pts(b[probe, _OOD, 'accuracy'] - a[probe, _OOD, 'accuracy'])}" if has_ood else "")
                + f" pts, SVE(F) {a[probe, _ID, 'sve_F']:.2f}->{b[probe, _ID, 'sve_F']:.2f}")
        if has_ood:
            text += f", LSVR(F) {a[probe, _OOD, 'lsvr_F']:.2f}->{b[probe, _OOD, 'lsvr_F']:.2f}"
        parts.append(text)

    # NMTune against each other head, averaged over the backbones.
    for other in ("MLP", "LP"):
        pairs = [means[b] for b in by_backbone if "NMTune" in methods[b] and other in methods[b]]
        if not pairs:
            continue
        n = len(pairs)

        def gaps(role: str) -> list[float]:
            return [m["NMTune", role, "accuracy"] - m[other, role, "accuracy"] for m in pairs]  # noqa: B023

        where = f"mean over {n} backbones" if n > 1 else "on 1 backbone"
        text = f"NMTune minus {other} ({where}): ID {_pts(np.mean(gaps(_ID)))}"
        wins = f"ahead on {sum(g > 0 for g in gaps(_ID))}/{n} ID"
        if has_ood:
            text += f", OOD {_pts(np.mean(gaps(_OOD)))}"
            wins += f", {sum(g > 0 for g in gaps(_OOD))}/{n} OOD"
        parts.append(text + f" pts ({wins})" if n > 1 else text + " pts")

    # The resolution of these numbers.
    tests = {role: [r for r in records if r["role"] == role] for role in (_ID, _OOD)}
    band = f"±{200 * max(_binomial_se(r['accuracy'], r['n_test']) for r in tests[_ID]):.1f} ID"
    if has_ood:
        band += f" / ±{200 * max(_binomial_se(r['accuracy'], r['n_test']) for r in tests[_OOD]):.1f} OOD"
    n_test = min(r["n_test"] for r in tests[_ID])
    parts.append(f"one accuracy's 2-SE band is {band} pts (n={n_test}, one seed): gaps inside it are not evidence")
    return "summary: " + "; ".join(parts) + "."


def write_outputs(result: Any, output_dir: str | Path, *, plot: bool = True) -> list[Path]:
    """Write ``results.csv``, ``results.json`` and (with matplotlib) ``spectra.png`` / ``accuracy.png``.

    ``result`` is a :class:`sknmtune.cli.demo.DemoResult`; ``results.json`` holds its ``info``, the
    table ``rows``, the ``summary`` line and the ``records`` of :func:`~sknmtune.evaluation.evaluate_heads`.
    """
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--output-dir {out} exists and is not a directory.")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    rows = result.rows
    with open(out / "results.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    written.append(out / "results.csv")
    payload = {"info": result.info, "rows": rows, "summary": summary_line(result.records), "records": result.records}
    (out / "results.json").write_text(
        json.dumps(payload, indent=2, default=str) + "\n",
        encoding="utf-8",
    )
    written.append(out / "results.json")
    if plot:
        written.extend(_plot(result, out))
    return written


def _plot(result: Any, out: Path) -> list[Path]:
    from matplotlib.figure import Figure

    from ..plotting import plot_accuracy_by_method, plot_accuracy_vs_noise, plot_metric_vs_noise, plot_spectrum

    # Spectra: F of every backbone together, then F against each head's Z for the cleanest and the
    # noisiest backbone (top-20 panel, then the tail), as in the paper's Fig. 11-14.
    names = list(result.spectra)
    detail = names if len(names) <= 2 else [names[0], names[-1]]
    dim = max(min(m.shape) for s in result.spectra.values() for m in s.values())
    groups = (20,) if dim > 20 else ()
    rows = ([("ID features F by backbone", {n: s["F"] for n, s in result.spectra.items()})] if len(names) > 1 else [])
    rows += [(name, {("F" if k == "F" else f"Z ({k})"): v for k, v in result.spectra[name].items()}) for name in detail]
    fig = Figure(figsize=(4.4 * (len(groups) + 1), 3.1 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), len(groups) + 1, squeeze=False)
    for ax_row, (title, mats) in zip(axes, rows):
        plot_spectrum(mats, groups=groups, ax=ax_row)
        ax_row[0].set_title(f"{title}: {ax_row[0].get_title()}")
    fig.suptitle("Normalized singular values of the ID test features F and the heads' outputs Z")
    fig.savefig(out / "spectra.png", dpi=110)
    written = [out / "spectra.png"]

    # Accuracy: against the pre-training noise ratio when there are several (Fig. 2 and 3 of the
    # paper), else bars per head.
    records, table = result.records, result.rows
    rates = sorted({r["noise_rate"] for r in table if r["noise_rate"] is not None})
    if len(rates) > 1:
        roles = list(dict.fromkeys(r["role"] for r in records))
        backbone_rows = [next(x for x in table if x["noise_rate"] == rate) for rate in rates]
        metrics = [("SVE of F (ID)", "sve_f_id"), ("LSVR of F (OOD)", "lsvr_f_ood")]
        metrics = [(label, key) for label, key in metrics if all(r[key] is not None for r in backbone_rows)]
        fig = Figure(figsize=(4.0 * (len(roles) + len(metrics)), 3.4), layout="constrained")
        axes = fig.subplots(1, len(roles) + len(metrics), squeeze=False)[0]
        for ax, role in zip(axes, roles):
            plot_accuracy_vs_noise(records, roles=[role], ax=ax)
            ax.set_title(f"{str(role).upper()} accuracy")
        for ax, (label, key) in zip(axes[len(roles):], metrics):
            plot_metric_vs_noise(rates, {"backbone": [r[key] for r in backbone_rows]}, metric=label, ax=ax)
            ax.set_title(label)
    else:
        fig = Figure(figsize=(5.0, 3.6), layout="constrained")
        ax = plot_accuracy_by_method(records, ax=fig.add_subplot())
        ax.set_title(names[0])
        ax.set_ylim(max(0.0, min(r["accuracy"] for r in records) - 0.1), 1.0)
    fig.savefig(out / "accuracy.png", dpi=110)
    written.append(out / "accuracy.png")
    return written
