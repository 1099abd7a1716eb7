"""The cost issue's decisions, from validation records only: does a cheaper head keep today's choice?

Each candidate change replaces a default by a cheaper configuration measured beside it in the PACS DomainBed-scale
study (``pacs_domainbed.json``, the sources' 20 % validation parts: never a target domain):

* ``cv-sub2000`` / ``cv-sub1000`` for ``cv``: ``NMTuneClassifierCV(selection_rows=N)``, the search on a stratified
  subsample of N rows and only the winner refitted on every row;
* ``vote-es`` for ``vote``: the vote with its MLP members early-stopped (``mlp-es``, ``nmtune-paper-es``).

The rule is a non-inferiority test: a change is adopted when the lower end of the 95 % interval of its paired
difference to today's default is at least :data:`MARGIN` (-0.2 points), the interval over independent clusters
(protocol, backbone, training set; seeds resample the split inside them). Beside it: how many units' selections
changed (the CV head's chosen parameters), how many units the change touches at all (more training rows than the
subsample) and the fit-time ratio of the records (fits ran two at a time beside other jobs: the side-by-side timing
is ``fit_time_sweep.json``).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from benchmarks.harness.report import fmt_diff

__all__ = ["CHANGES", "MARGIN", "decide", "report_lines"]

#: non-inferiority margin, in accuracy (fraction): -0.2 points
MARGIN = -0.002
#: (candidate, today's default, rows of the subsample or None)
CHANGES = (("cv-sub2000", "cv", 2000), ("cv-sub1000", "cv", 1000), ("vote-es", "vote", None))
_UNITS = ("protocol", "backbone", "unit", "seed")
_CLUSTERS = ("protocol", "backbone", "unit")


def decide(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Every change of :data:`CHANGES` with the validation records of both sides: its paired difference (mean,
    interval, clusters), the verdict of the rule, selections changed, units touched, and the fit-time ratio."""
    from sknmtune.evaluation import paired_difference

    val = [r for r in records if r.get("role") == "val"]
    by_unit: dict[tuple, dict[str, dict[str, Any]]] = defaultdict(dict)
    for r in val:
        by_unit[tuple(r[k] for k in _UNITS)][r["method"]] = r
    out = []
    for candidate, default, rows in CHANGES:
        pairs = [(u[candidate], u[default]) for u in by_unit.values() if candidate in u and default in u]
        if not pairs:
            out.append({"candidate": candidate, "default": default, "n_units": 0, "adopt": None})
            continue
        keep = [r for r in val if r["method"] in (candidate, default)]
        d = paired_difference(keep, candidate, default, units=_UNITS, clusters=_CLUSTERS)
        touched = [p for p in pairs if rows is not None and p[1]["n_train"] > rows]
        changed = [p for p in touched if p[0].get("best_params") != p[1].get("best_params")]
        seconds = [(p[0]["fit_seconds"], p[1]["fit_seconds"]) for p in pairs if p[0].get("fit_seconds")
                   and p[1].get("fit_seconds")]
        out.append({
            "candidate": candidate, "default": default, "subsample_rows": rows,
            "n_units": d.n_units, "n_clusters": d.n_clusters, "mean": d.mean, "low": d.low, "high": d.high,
            "p_value": d.p_value, "verdict": d.verdict,
            "units_touched": len(touched) if rows is not None else len(pairs),
            "selections_changed": len(changed) if rows is not None else None,
            "fit_seconds_ratio": float(np.mean([a for a, _ in seconds]) / np.mean([b for _, b in seconds]))
            if seconds else None,
            "adopt": bool(d.low >= MARGIN),
        })
    return {"rule": f"adopt when the 95 % interval's lower end >= {100 * MARGIN:+.1f} points",
            "clusters": list(_CLUSTERS), "changes": out,
            "seeds": sorted({r["seed"] for r in val}), "backbones": sorted({r["backbone"] for r in val})}


def report_lines(decision: dict[str, Any]) -> list[str]:
    """The decision table (markdown lines)."""

    class _D:  # fmt_diff reads these attributes
        def __init__(self, c: dict[str, Any]) -> None:
            self.n_units, self.mean, self.low, self.high = c["n_units"], c["mean"], c["low"], c["high"]

    lines = [f"Validation records of {', '.join(decision['backbones'])}, seeds {decision['seeds']}; "
             f"{decision['rule']}; intervals over clusters ({', '.join(decision['clusters'])}).", "",
             "| change | candidate − default, points [95 % CI] | clusters (units) | units touched | selections "
             "changed | fit-time ratio in the records | adopted |",
             "|---|---|---|---|---|---|---|"]
    for c in decision["changes"]:
        if not c["n_units"]:
            lines.append(f"| `{c['default']}` → `{c['candidate']}` | no shared unit yet | – | – | – | – | – |")
            continue
        changed = "–" if c["selections_changed"] is None else str(c["selections_changed"])
        ratio = "–" if c["fit_seconds_ratio"] is None else f"{c['fit_seconds_ratio']:.2f}"
        lines.append(f"| `{c['default']}` → `{c['candidate']}` | {fmt_diff(_D(c))} | {c['n_clusters']} "
                     f"({c['n_units']}) | {c['units_touched']} | {changed} | {ratio} | "
                     f"{'yes' if c['adopt'] else 'no'} |")
    return lines
