"""The report of ``sknmtune compare``: ``report.md``, a self-contained ``report.html`` and its figures.

Everything here is computed from a :class:`sknmtune.evaluation.Comparison` (its records): the tables are
built once as rows of cells and written as Markdown and as HTML; the figures (accuracy per head with its
spread and its paired difference to the reference, the singular-value spectra of ``F`` and ``Z``) are PNG
files beside ``report.md`` and base64 ``data:`` URIs inside ``report.html``, which needs no other file.
Without matplotlib the reports are written without figures, and say so.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..evaluation import MIN_CLUSTERS

__all__: list[str] = []

_ROLE_TITLES = {"val": "Validation (what the decision reads)", "id": "In-domain test set",
                "ood": "Out-of-distribution test sets"}
_METRICS = (("accuracy", "accuracy"), ("balanced_accuracy", "balanced acc."), ("macro_f1", "macro-F1"),
            ("top5_accuracy", "top-5"), ("worst_group_accuracy", "worst group"))
_CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}table{border-collapse:collapse;margin:.8em 0 1.4em;font-size:.92em}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}td{white-space:nowrap}th{background:#f3f3f3}td:first-child,
th:first-child{text-align:left}img{max-width:100%;border:1px solid #eee}.decision{background:#eef6ee;
border-left:4px solid #3a3;padding:.6em 1em}.note{color:#555;font-size:.9em}code{background:#f5f5f5;padding:0 .2em}"""


def _pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{100 * value:.{digits}f}"


def _mean_std(cell: tuple[float, float, int] | None) -> str:
    if cell is None:
        return "–"
    mean, std, n = cell
    return _pct(mean) + (f" ± {_pct(std)}" if n > 1 else "")


def _units_word(comparison: Any) -> str:
    return "held-out groups" if comparison.protocol == "leave-one-group-out" else (
        "seeds" if comparison.protocol == "split" else "clusters")


def _difference_cell(d: Any) -> str:
    if d is None or d.n_units == 0:
        return "–"
    return f"{100 * d.mean:+.2f} [{100 * d.low:+.2f}, {100 * d.high:+.2f}]"


def _role_table(comparison: Any, role: str) -> tuple[list[str], list[list[str]]]:
    """One row per head on ``role``: the metrics (mean ± std over seeds, %), the difference to the reference
    with its interval, the independent units, the p-value and verdict, the fit time."""
    ref = comparison.reference
    shown = [(k, name) for k, name in _METRICS
             if any(s.value(role, k) is not None for s in comparison.summaries.values())]
    header = ["head", *[f"{name} (%)" for _, name in shown], f"Δ accuracy vs {ref} (pp, 95 % interval)",
              _units_word(comparison), "p (sign-flip)", "verdict", "fit (s)"]
    rows = []
    for s in comparison.summaries.values():
        d = s.differences.get(role)
        rows.append([
            f"{s.head}", *[_mean_std(s.value(role, k)) for k, _ in shown],
            "reference" if s.head == ref else _difference_cell(d),
            "–" if d is None else str(d.n_clusters),
            "–" if d is None or not math.isfinite(d.p_value) else f"{d.p_value:.3g}",
            "–" if d is None else d.verdict, f"{s.fit_seconds:.1f}",
        ])
    return header, rows


def _spectral_table(comparison: Any) -> tuple[list[str], list[list[str]]] | None:
    role = "val" if "val" in comparison.roles else comparison.roles[0]
    keys = ("sve_F", "sve_Z", "lsvr_F", "lsvr_Z")
    if not any(s.value(role, k) is not None for s in comparison.summaries.values() for k in keys):
        return None
    header = ["head", "SVE of F", "SVE of Z", "LSVR of F", "LSVR of Z"]
    rows = []
    for s in comparison.summaries.values():
        cells = []
        for k in keys:
            v = s.value(role, k)
            cells.append("–" if v is None else f"{v[0]:.3f}")
        rows.append([s.head, *cells])
    return header, rows


def _domain_table(comparison: Any) -> tuple[list[str], list[list[str]]] | None:
    """Accuracy per out-of-distribution test set (held-out group or named set): mean over seeds, %."""
    cells: dict[tuple[str, str], list[float]] = {}
    for r in comparison.records:
        if r["role"] == "ood":
            cells.setdefault((r["method"], str(r["domain"])), []).append(float(r["accuracy"]))
    domains = sorted({d for _, d in cells})
    if len(domains) < 2:
        return None
    header = ["head", *domains]
    rows = [[h, *[_pct(float(np.mean(cells[(h, d)]))) if (h, d) in cells else "–" for d in domains]]
            for h in comparison.heads]
    return header, rows


def _decision_text(comparison: Any) -> str:
    rec = comparison.recommendation
    if rec is None:
        return "No validation records of the reference: no decision."
    text = f"**Recommended head: `{rec.head}`.** {rec.statement}"
    n = comparison.n_clusters
    if 0 < n < MIN_CLUSTERS:
        text += (f" With {n} independent {_units_word(comparison)} the verdicts come from an exact sign-flip test, "
                 f"whose smallest two-sided p-value is 2 / 2^{n} = {2 / 2 ** n:.3g}")
        if 2 / 2 ** n <= 0.05:
            text += "."
        elif comparison.protocol == "split":
            text += f": no head can be decisively better at 95 %; run {MIN_CLUSTERS} seeds or more (--seeds) to decide."
        else:
            text += (": no head can be decisively better at 95 % (more seeds add no independent unit here; more "
                     "groups would).")
    return text


def _protocol_text(comparison: Any, context: Mapping[str, Any]) -> str:
    seeds = max((s.n_fits for s in comparison.summaries.values()), default=0)
    if comparison.protocol == "leave-one-group-out":
        groups = sorted({str(r["held_out"]) for r in comparison.records if r.get("held_out") is not None})
        how = (f"leave-one-group-out over {len(groups)} groups ({', '.join(groups)}): each head trains on the other "
               "groups and is tested on the held-out one (role ood); a stratified part of the training groups is "
               "held out for validation (role val, with the worst training group's accuracy). Intervals resample "
               "the held-out groups.")
    else:
        how = ("a stratified split of your rows, drawn anew for every seed: the heads train on one part and are "
               "scored on the other (role val). Each seed draws its own split, so seeds are the independent units "
               "the intervals resample.")
    data = context.get("data", "")
    return (f"{data} Protocol: {how} {seeds} fits per head. Mean ± std over seeds (ddof = 1); differences are paired "
            f"on the same splits, with a 95 % cluster-bootstrap interval, the number of independent units and an "
            f"exact sign-flip p-value.").strip()


# ------------------------------------------------------------------------------------------- figures
def _figures(comparison: Any) -> dict[str, bytes]:
    """``{"accuracy": png, "spectra": png}`` (only those that can be drawn); empty without matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return {}
    out = {"accuracy": _accuracy_figure(comparison, Figure)}
    spectra = {k: v for k, v in comparison.spectra.items() if v.size}
    if "F" in spectra and len(spectra) > 1:
        out["spectra"] = _spectra_figure(spectra)
    return out


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96)
    return buffer.getvalue()


def _accuracy_figure(comparison: Any, Figure: type) -> bytes:
    heads = list(comparison.heads)
    roles = [r for r in ("val", "id", "ood") if r in comparison.roles]
    fig = Figure(figsize=(11, 1.0 + 0.45 * len(heads) * max(1, len(roles)) ** 0.5), layout="constrained")
    left, right = fig.subplots(1, 2, sharey=True)
    y = np.arange(len(heads))[::-1]
    offsets = np.linspace(-0.22, 0.22, len(roles)) if len(roles) > 1 else np.zeros(1)
    for j, role in enumerate(roles):
        for i, h in enumerate(heads):
            s = comparison.summaries[h]
            cell = s.value(role, "accuracy")
            if cell is not None:
                left.errorbar(100 * cell[0], y[i] + offsets[j], xerr=100 * cell[1] if cell[2] > 1 else None,
                              fmt="o", color=f"C{j}", capsize=3, label=role if i == 0 else "_nolegend_")
            d = s.differences.get(role)
            if d is not None and d.n_units:
                right.errorbar(100 * d.mean, y[i] + offsets[j],
                               xerr=[[100 * (d.mean - d.low)], [100 * (d.high - d.mean)]], fmt="s", color=f"C{j}",
                               capsize=3)
    left.set_yticks(y, heads)
    left.set_xlabel("accuracy (%), mean ± std over seeds")
    left.grid(True, axis="x", alpha=0.3)
    left.legend(title="role", loc="best")
    right.axvline(0, color="0.3", lw=1)
    right.set_xlabel(f"accuracy − {comparison.reference} (pp), 95 % interval over {_units_word(comparison)}")
    right.grid(True, axis="x", alpha=0.3)
    return _png(fig)


def _spectra_figure(spectra: Mapping[str, np.ndarray]) -> bytes:
    from ..plotting import plot_spectrum

    labels = {("F (features)" if k == "F" else f"Z of {k}"): v for k, v in spectra.items()}
    axes = plot_spectrum(singular_values=labels, groups=(20,), log=True)
    axes[0].figure.set_size_inches(10, 3.4)
    return _png(axes[0].figure)


# ------------------------------------------------------------------------------------------- writers
def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *["| " + " | ".join(row) + " |" for row in rows], ""]


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _sections(comparison: Any) -> list[tuple[str, tuple[list[str], list[list[str]]]]]:
    out = [(_ROLE_TITLES.get(role, role), _role_table(comparison, role))
           for role in sorted(comparison.roles, key=lambda r: ("val", "id", "ood").index(r) if r in _ROLE_TITLES else 3)]
    domains = _domain_table(comparison)
    if domains is not None:
        out.append(("Accuracy per out-of-distribution test set (%, mean over seeds)", domains))
    spectral = _spectral_table(comparison)
    if spectral is not None:
        out.append(("Spectra on the validation split (singular value entropy SVE and largest singular value "
                    "ratio LSVR, of the features F and of each head's representation Z)", spectral))
    return out


_CAPTIONS = {"accuracy": "Accuracy per head (left: mean ± std over seeds, per role) and its paired difference to "
                         "the reference (right: 95 % interval over the independent units).",
             "spectra": "Normalized singular values on the validation split (mean over fits): the features F and "
                        "each head's Z, the top 20 apart from the rest (log scale)."}


def _markdown(comparison: Any, context: Mapping[str, Any], figures: Mapping[str, str]) -> str:
    lines = [f"# {context.get('title', 'Which head for these features?')}", "",
             "Written by `sknmtune compare`; every number is computed from `records.json`.", "",
             _protocol_text(comparison, context), "", _decision_text(comparison), ""]
    figure_lines = ["## Figures", ""]
    for name, file in figures.items():
        figure_lines += [f"![{name}]({file})", "", _CAPTIONS[name], ""]
    if not figures:
        figure_lines = ["(No figures: matplotlib is not installed; `pip install sknmtune[plots]`.)", ""]
    for i, (title, (header, rows)) in enumerate(_sections(comparison)):
        lines += [f"## {title}", "", *_md_table(header, rows)]
        if i == 0:  # the figures right after the table the decision reads
            lines += figure_lines
    return "\n".join(lines)


def _inline_markdown(text: str) -> str:
    """``**bold**`` and ``code`` spans of the decision text as HTML (the rest escaped)."""
    parts = html.escape(text).split("**")
    text = "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(parts))
    parts = text.split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _html(comparison: Any, context: Mapping[str, Any], figures: Mapping[str, bytes]) -> str:
    title = html.escape(context.get("title", "Which head for these features?"))
    body = [f"<h1>{title}</h1>",
            "<p class='note'>Written by <code>sknmtune compare</code>; every number is computed from "
            "<code>records.json</code>.</p>",
            f"<p>{_inline_markdown(_protocol_text(comparison, context))}</p>",
            f"<p class='decision'>{_inline_markdown(_decision_text(comparison))}</p>"]
    figure_html = ["<h2>Figures</h2>"]
    for name, png in figures.items():
        data = base64.b64encode(png).decode("ascii")
        figure_html += [f"<figure><img alt='{name}' src='data:image/png;base64,{data}'>",
                        f"<figcaption class='note'>{html.escape(_CAPTIONS[name])}</figcaption></figure>"]
    if not figures:
        figure_html = ["<p class='note'>No figures: matplotlib is not installed (pip install sknmtune[plots]).</p>"]
    for i, (title_, (header, rows)) in enumerate(_sections(comparison)):
        body += [f"<h2>{html.escape(title_)}</h2>", _html_table(header, rows)]
        if i == 0:  # the figures right after the table the decision reads
            body += figure_html
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{title}</title>"
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def _write_reports(comparison: Any, directory: Path, context: Mapping[str, Any]) -> dict[str, Path]:
    """Write ``report.md``, ``report.html`` and the figures' PNG files into ``directory``; returns the paths."""
    figures = _figures(comparison)
    written: dict[str, Path] = {}
    for name, png in figures.items():
        written[name] = directory / f"{name}.png"
        written[name].write_bytes(png)
    written["report.md"] = directory / "report.md"
    written["report.md"].write_text(_markdown(comparison, context, {k: f"{k}.png" for k in figures}), encoding="utf-8")
    written["report.html"] = directory / "report.html"
    written["report.html"].write_text(_html(comparison, context, figures), encoding="utf-8")
    return written
