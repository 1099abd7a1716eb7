"""Which head to use, decided by code from validation records, and whether the decision survives leaving a target out.

:func:`recommend_head` applies one documented rule to evaluation records (never a test set: by default only
role ``"val"``): the ``reference`` head stays recommended unless another candidate is *decisively* ahead of it
(its :func:`~sknmtune.evaluation.paired_difference` verdict is ``"reproduced"``, over independent clusters);
among those, the one with the largest mean lead wins. :func:`recommend_head_leaving_out` repeats the decision
once per target domain on the records whose units never touched that target (not as a source, not as
validation), and counts how often the decision changes.

>>> from sknmtune.evaluation import recommend_head
>>> records = [{"method": m, "role": "val", "task": t, "seed": 0, "accuracy": acc + 0.001 * i}
...            for i, t in enumerate("abcdefgh") for m, acc in (("logreg-cv", 0.80), ("cv", 0.82), ("vote", 0.805))]
>>> rec = recommend_head(records, reference="logreg-cv")
>>> rec.head, rec.decisive, rec.leader
('cv', True, 'cv')
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._statistics import MIN_CLUSTERS, PairedDifference, paired_difference

__all__ = ["HeadRecommendation", "TargetLeftOut", "recommend_head", "recommend_head_leaving_out"]


@dataclass(frozen=True)
class HeadRecommendation:
    """The head a rule recommends from validation records, and the evidence for it.

    Attributes
    ----------
    head : str
        The recommended head.
    reference : str
        The head every candidate had to beat decisively to replace it.
    leader : str
        The candidate with the highest mean (it may not be decisively ahead).
    decisive : bool
        Whether ``head`` replaced ``reference`` because it was decisively ahead.
    differences : dict of str to PairedDifference
        ``candidate - reference`` for every other candidate, on the units both have.
    means : dict of str to float
        Each candidate's mean of the key (clusters weigh equally), reference included.
    n_records : int
        The reference's records the decision read (the evidence's size).
    coverage : dict of str to float
        For each candidate, the share of the reference's clusters it was paired on. A candidate below the
        rule's ``min_coverage`` (measured on a subset of the evidence) cannot be recommended.
    """

    head: str
    reference: str
    leader: str
    decisive: bool
    differences: dict[str, PairedDifference] = field(repr=False)
    means: dict[str, float] = field(repr=False)
    n_records: int = 0
    coverage: dict[str, float] = field(default_factory=dict, repr=False)

    @property
    def statement(self) -> str:
        """The decision in one sentence, with the lead and its interval (accuracy points)."""
        if self.decisive:
            return (f"{self.head} is decisively ahead of {self.reference}: "
                    f"{self.differences[self.head].describe()}.")
        partial = [m for m, d in self.differences.items() if d.verdict == "reproduced"]
        note = "".join(f"; {m} is decisively ahead on the {100 * self.coverage.get(m, 0):.0f} % of the evidence it "
                       "was measured on, too little to replace it" for m in partial)
        if self.leader == self.reference or self.leader not in self.differences:
            return f"No head is ahead of {self.reference}{note}; it stays recommended."
        return (f"No head is decisively better than {self.reference} over all the evidence (the best mean, "
                f"{self.leader}, is {self.differences[self.leader].describe()}){note}; "
                f"{self.reference} stays recommended.")

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: the decision, each candidate's mean and its difference to the reference."""
        return {
            "head": self.head, "reference": self.reference, "leader": self.leader, "decisive": self.decisive,
            "statement": self.statement, "n_records": self.n_records,
            "means": {k: float(v) for k, v in self.means.items()},
            "coverage": {k: float(v) for k, v in self.coverage.items()},
            "differences": {k: _difference_dict(d) for k, d in self.differences.items()},
        }


def _difference_dict(d: PairedDifference) -> dict[str, Any]:
    return {"mean": d.mean, "low": d.low, "high": d.high, "n_units": d.n_units, "n_clusters": d.n_clusters,
            "p_value": d.p_value, "few_clusters": d.few_clusters, "verdict": d.verdict, "clusters": list(d.clusters)}


def recommend_head(
    records: Iterable[Mapping[str, Any]],
    *,
    reference: str,
    candidates: Sequence[str] | None = None,
    role: str | None = "val",
    key: str = "accuracy",
    units: Sequence[str] | None = None,
    clusters: Sequence[str] | None = None,
    bootstrap: str = "cluster",
    min_clusters: int = MIN_CLUSTERS,
    confidence: float = 0.95,
    n_boot: int = 10_000,
    random_state: int = 0,
    min_coverage: float = 1.0,
) -> HeadRecommendation:
    """The head to recommend from validation records, by one rule: the ``reference`` unless beaten decisively.

    Every candidate is compared with ``reference`` by :func:`~sknmtune.evaluation.paired_difference` (paired on
    the units both have, the interval over independent clusters, the exact sign-flip test when clusters are
    few). Candidates whose verdict is ``"reproduced"`` are decisively ahead; the one with the largest mean
    difference is recommended. Without any, the reference stays: "no head is decisively better".

    Parameters
    ----------
    records : iterable of dict
        Evaluation records (:func:`~sknmtune.evaluation.evaluate_heads`); only ``role`` is read.
    reference : str
        The method to beat (e.g. the tuned probe ``"logreg-cv"``, or the package's default ``"cv"``).
    candidates : sequence of str, optional
        Methods that may replace it (default: every method of the records but the reference).
    role : str or None, default="val"
        The records to decide on. Keep it on validation: a decision on test records is tuning on the test set.
    key, units, clusters, bootstrap, min_clusters, confidence, n_boot, random_state
        As in :func:`~sknmtune.evaluation.paired_difference`.
    min_coverage : float, default=1.0
        The share of the reference's clusters a candidate must be paired on to replace it: a head measured on
        only part of the evidence (say one benchmark of two) is compared and reported, but not recommended
        over a reference measured on all of it.

    Returns
    -------
    HeadRecommendation

    Examples
    --------
    >>> from sknmtune.evaluation import recommend_head
    >>> records = [{"method": m, "role": "val", "task": t, "seed": 0, "accuracy": acc}
    ...            for t in "abcd" for m, acc in (("probe", 0.80), ("mlp", 0.81))]
    >>> rec = recommend_head(records, reference="probe")  # 4 tasks: too few to be decisive
    >>> rec.head, rec.leader, rec.decisive
    ('probe', 'mlp', False)
    """
    rows = [r for r in records if role is None or r.get("role") == role]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    if reference not in methods:
        raise ValueError(f"reference {reference!r} has no records{'' if role is None else f' of role {role!r}'}; "
                         f"methods present: {methods}.")
    chosen = [m for m in (methods if candidates is None else candidates) if m != reference]
    absent = [m for m in chosen if m not in methods]
    if absent:
        raise ValueError(f"candidates {absent} have no records{'' if role is None else f' of role {role!r}'}.")
    options = {"role": role, "key": key, "units": units, "clusters": clusters, "bootstrap": bootstrap,
               "min_clusters": min_clusters, "confidence": confidence, "n_boot": n_boot, "random_state": random_state}
    if isinstance(min_coverage, bool) or not isinstance(min_coverage, (int, float)) or not 0 < min_coverage <= 1:
        raise ValueError(f"min_coverage must be a share in (0, 1]; got {min_coverage!r}.")
    differences = {m: paired_difference(rows, m, reference, **options) for m in chosen}
    groups = _cluster_values(rows, reference, key, units, clusters)
    base = float(np.mean([np.mean(v) for v in groups.values()]))
    coverage = {m: d.n_clusters / len(groups) for m, d in differences.items()}
    means = {reference: base, **{m: base + d.mean for m, d in differences.items() if d.n_units}}
    leader = max(means, key=lambda m: (means[m], m == reference))
    ahead = [m for m, d in differences.items() if d.verdict == "reproduced" and coverage[m] >= min_coverage - 1e-12]
    head = max(ahead, key=lambda m: differences[m].mean) if ahead else reference
    n_records = sum(1 for r in rows if r["method"] == reference and r.get(key) is not None)
    return HeadRecommendation(head, reference, leader, bool(ahead), differences, means, n_records, coverage)


def _cluster_values(rows: list[Mapping[str, Any]], method: str, key: str, units: Sequence[str] | None,
                    clusters: Sequence[str] | None) -> dict[tuple, list[float]]:
    """``method``'s values of ``key`` per cluster (a unit without its seed, by default)."""
    mine = [r for r in rows if r["method"] == method and r.get(key) is not None]
    if units is None:
        units = sorted({f for r in mine for f, v in r.items()
                        if f not in ("method", "role") and (f in ("seed", "domain") or isinstance(v, str))})
    fields = [f for f in units if f != "seed"] if clusters is None else list(clusters)
    groups: dict[tuple, list[float]] = {}
    for r in mine:
        groups.setdefault(tuple(r.get(f) for f in fields), []).append(float(r[key]))
    return groups


@dataclass(frozen=True)
class TargetLeftOut:
    """:func:`recommend_head` once on all the records and once per target on the records that never touch it.

    Attributes
    ----------
    pooled : HeadRecommendation
        The decision on every record.
    per_target : dict of str to HeadRecommendation
        The decision on the records whose units never used that target (as a source or for validation).
    """

    pooled: HeadRecommendation
    per_target: dict[str, HeadRecommendation]

    @property
    def changed(self) -> list[str]:
        """The targets whose left-out decision differs from the pooled one."""
        return [t for t, rec in self.per_target.items() if rec.head != self.pooled.head]

    @property
    def n_changed(self) -> int:
        """How many targets' decisions differ from the pooled one."""
        return len(self.changed)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {"pooled": self.pooled.as_dict(), "per_target": {t: r.as_dict() for t, r in self.per_target.items()},
                "changed": self.changed, "n_changed": self.n_changed}


def recommend_head_leaving_out(
    records: Iterable[Mapping[str, Any]],
    targets: Iterable[str],
    *,
    touches: Callable[[Mapping[str, Any]], Iterable[str]],
    **kwargs: Any,
) -> TargetLeftOut:
    """:func:`recommend_head` in *target-left-out* mode: for each target, decide only on units that never touch it.

    Parameters
    ----------
    records : iterable of dict
        Evaluation records.
    targets : iterable of str
        The target domains a decision will be deployed on.
    touches : callable
        ``touches(record)`` returns the domains the record's unit used: its training sources and the
        domain it was validated on. A record is kept for target ``t`` only when ``t`` is not among them.
    **kwargs
        Passed to :func:`recommend_head` (``reference`` is required).

    Returns
    -------
    TargetLeftOut

    Examples
    --------
    >>> from sknmtune.evaluation import recommend_head_leaving_out
    >>> records = [{"method": m, "role": "val", "domain": f"{src}-val", "task": src, "seed": s, "accuracy": a}
    ...            for src in "pqrs" for s in range(2) for m, a in (("probe", 0.8), ("mlp", 0.79))]
    >>> out = recommend_head_leaving_out(records, ["p", "q"], touches=lambda r: {r["task"]}, reference="probe")
    >>> out.pooled.head, {t: r.head for t, r in out.per_target.items()}, out.n_changed
    ('probe', {'p': 'probe', 'q': 'probe'}, 0)
    """
    records = list(records)
    pooled = recommend_head(records, **kwargs)
    per_target = {}
    for target in targets:
        kept = [r for r in records if target not in set(touches(r))]
        if not kept:
            raise ValueError(f"no record is free of target {target!r}; touches() leaves nothing to decide on.")
        per_target[str(target)] = recommend_head(kept, **kwargs)
    return TargetLeftOut(pooled, per_target)
