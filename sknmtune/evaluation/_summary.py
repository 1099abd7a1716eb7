"""Summaries of evaluation records: means per method and role, and seed spreads.

>>> from sknmtune.evaluation import summarize
>>> records = [{"method": "lp", "role": "ood", "domain": d, "seed": 0, "accuracy": a} for d, a in (("x", 0.5), ("y", 0.7))]
>>> summarize(records)
{('lp', 'ood'): 0.6}
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["seed_summary", "summarize"]


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
