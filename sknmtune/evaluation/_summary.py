"""Summaries of evaluation records: means per method and role, seed spreads, paired differences with intervals.

>>> from sknmtune.evaluation import paired_difference
>>> records = [
...     {"method": m, "role": "ood", "domain": d, "seed": s, "accuracy": acc + 0.01 * s}
...     for s in range(3) for d in ("a", "b")
...     for m, acc in (("nmtune", 0.62 if d == "a" else 0.55), ("mlp", 0.60 if d == "a" else 0.54))
... ]
>>> diff = paired_difference(records, "nmtune", "mlp", role="ood", n_boot=2000)
>>> round(diff.mean, 3), diff.n_units, diff.verdict
(0.015, 6, 'reproduced')
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["PairedDifference", "paired_difference", "seed_summary", "summarize"]


def summarize(records: Iterable[Mapping[str, Any]], key: str = "accuracy") -> dict[tuple[str, str], float]:
    """Mean of ``key`` per ``(method, role)``: each test domain's seed mean, then the mean over domains.

    Domains weigh equally whatever their size, as the paper averages its OOD tasks.
    """
    per_domain: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for record in records:
        per_domain[(record["method"], record["role"], record["domain"])].append(float(record[key]))
    per_role: dict[tuple[str, str], list[float]] = defaultdict(list)
    for (method, role, _), values in per_domain.items():
        per_role[(method, role)].append(float(np.mean(values)))
    return {group: float(np.mean(values)) for group, values in sorted(per_role.items())}


def seed_summary(
    records: Iterable[Mapping[str, Any]], key: str = "accuracy", by: Sequence[str] = ("method", "role"),
) -> dict[tuple, tuple[float, float, int]]:
    """``{group: (mean, std, n_seeds)}``: per seed, the mean of ``key`` over the group's test sets; then the
    mean and the standard deviation (``ddof=1``; 0 for one seed) of those per-seed values.

    A test set is every distinct combination of the record fields outside ``by`` and ``seed``
    (e.g. domain, task, backbone), so each weighs equally.
    """
    per_seed: dict[tuple, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        value = record.get(key)
        if value is None:
            continue
        per_seed[tuple(record[f] for f in by)][int(record["seed"])].append(float(value))
    out = {}
    for group, seeds in sorted(per_seed.items(), key=lambda kv: tuple(map(str, kv[0]))):
        values = np.array([np.mean(v) for v in seeds.values()])
        out[group] = (float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0, len(values))
    return out


@dataclass(frozen=True)
class PairedDifference:
    """``a - b`` over matched units: the mean, a bootstrap interval, and what it says of the claim "a > b".

    Attributes
    ----------
    mean : float
        Mean over units of ``a - b``.
    low, high : float
        Percentile bootstrap interval of the mean (resampling units with replacement).
    n_units : int
        Units present for both methods.
    wins : int
        Units where ``a`` is strictly ahead.
    confidence : float
    """

    mean: float
    low: float
    high: float
    n_units: int
    wins: int
    confidence: float

    @property
    def verdict(self) -> str:
        """``"reproduced"`` (interval above 0), ``"refuted"`` (below 0) or ``"inconclusive"`` (it spans 0)."""
        if self.n_units == 0:
            return "no data"
        if self.low > 0:
            return "reproduced"
        if self.high < 0:
            return "refuted"
        return "inconclusive"


def paired_difference(
    records: Iterable[Mapping[str, Any]],
    a: str,
    b: str,
    *,
    role: str | None = None,
    key: str = "accuracy",
    units: Sequence[str] | None = None,
    n_boot: int = 10_000,
    confidence: float = 0.95,
    random_state: int = 0,
) -> PairedDifference:
    """Paired difference of ``key`` between methods ``a`` and ``b`` with a percentile bootstrap interval.

    Parameters
    ----------
    records : iterable of dict
        Evaluation records (:func:`~sknmtune.evaluation.evaluate_heads`).
    a, b : str
        Method names.
    role : str, optional
        Only records of this role (``"id"``, ``"ood"``, ``"val"``).
    key : str, default="accuracy"
    units : sequence of str, optional
        The record fields that identify a unit, on which ``a`` and ``b`` are paired (default: every
        field that is not a measurement, i.e. ``seed``, ``domain`` and the string fields such as task,
        backbone, protocol). A unit's value is the mean over its records.
    n_boot : int, default=10_000
    confidence : float, default=0.95
    random_state : int, default=0
        Seeds the resampling.

    Returns
    -------
    PairedDifference
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence}.")
    rows = [r for r in records if (role is None or r["role"] == role) and r["method"] in (a, b) and r.get(key) is not None]
    if units is None:
        units = sorted({f for r in rows for f, v in r.items()
                        if f not in ("method", "role") and (f in ("seed", "domain") or isinstance(v, str))})
    values: dict[str, dict[tuple, list[float]]] = {a: defaultdict(list), b: defaultdict(list)}
    for r in rows:
        values[r["method"]][tuple(r.get(f) for f in units)].append(float(r[key]))
    common = sorted(set(values[a]) & set(values[b]), key=lambda k: tuple(map(str, k)))
    if not common:
        return PairedDifference(float("nan"), float("nan"), float("nan"), 0, 0, confidence)
    diffs = np.array([np.mean(values[a][u]) - np.mean(values[b][u]) for u in common])
    rng = np.random.default_rng(random_state)
    boot = diffs[rng.integers(0, len(diffs), size=(n_boot, len(diffs)))].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(boot, [tail, 1 - tail])
    return PairedDifference(float(diffs.mean()), float(low), float(high), len(diffs), int((diffs > 0).sum()), confidence)
