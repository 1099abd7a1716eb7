"""What :func:`~sknmtune.evaluation.compare_heads` returns: its records and what they say, per head.

A :class:`Comparison` is computed from tidy records only (:meth:`Comparison.from_records`), so a comparison
read back from JSON, resumed, or built from a benchmark's stored records gives the same numbers: every mean
± std is :func:`~sknmtune.evaluation.seed_summary`, every difference
:func:`~sknmtune.evaluation.paired_difference` over the protocol's independent clusters, and the decision
:func:`~sknmtune.evaluation.recommend_head` on the validation records.

>>> from sknmtune.evaluation import Comparison
>>> records = [{"method": m, "role": "val", "domain": "val", "seed": s, "protocol": "split", "accuracy": a + s / 100,
...             "fit_seconds": 1.0} for s in range(6) for m, a in (("logreg-cv", 0.80), ("mlp", 0.83))]
>>> c = Comparison.from_records(records)
>>> c.clusters, round(c.difference("mlp").mean, 3), c.difference("mlp").n_clusters, c.recommendation.head
(('seed',), 0.03, 6, 'mlp')
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._decision import HeadRecommendation, recommend_head
from ._statistics import PairedDifference, paired_difference
from ._summary import seed_summary

__all__ = ["Comparison", "HeadSummary"]

#: the protocols of compare_heads: an internal split resampled per seed, or leave-one-group-out
SPLIT, LOGO = "split", "leave-one-group-out"
#: the probe every head is compared with by default
REFERENCE = "logreg-cv"
#: per protocol, the record fields a unit is paired on and the fields of an independent cluster. Each seed of
#: the split protocol draws its own split, so seeds are independent; leaving a group out, the held-out group is.
_PAIRING = {SPLIT: (("seed", "domain"), ("seed",)), LOGO: (("held_out", "domain", "seed"), ("held_out",))}
#: the metrics summarized per head and role, when the records hold them
METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "top5_accuracy", "worst_group_accuracy",
           "sve_F", "lsvr_F", "sve_Z", "lsvr_Z")
_ROLE_ORDER = ("id", "ood", "val")
_NOT_FIT_FIELDS = ("method", "role", "domain", "test_domain")
_LIST_FIELDS = ("singular_values_F", "singular_values_Z")


@dataclass(frozen=True)
class HeadSummary:
    """One head's numbers in a :class:`Comparison`.

    Attributes
    ----------
    head : str
        Its registry name (``sknmtune.heads.make_head``) or method name.
    label : str
        How tables call it.
    metrics : dict
        ``{role: {metric: (mean, std, n_seeds)}}``, from :func:`~sknmtune.evaluation.seed_summary` (per seed the
        mean over the role's test sets, then mean and ``ddof=1`` std over seeds).
    fit_seconds : float
        Mean wall-clock seconds per fit.
    n_fits : int
        Fits recorded (units: seed, or held-out group x seed).
    differences : dict of str to PairedDifference
        ``{role: head - reference}`` on accuracy, the interval over the protocol's independent clusters (empty
        for the reference itself).
    """

    head: str
    label: str
    metrics: dict[str, dict[str, tuple[float, float, int]]]
    fit_seconds: float
    n_fits: int
    differences: dict[str, PairedDifference] = field(default_factory=dict)

    def value(self, role: str, metric: str = "accuracy") -> tuple[float, float, int] | None:
        """``(mean, std, n_seeds)`` of ``metric`` on ``role``, or ``None`` when not recorded."""
        return self.metrics.get(role, {}).get(metric)


def _label(name: str) -> str:
    from ..heads import head_names, head_spec

    return head_spec(name).label if name in head_names() else name


def _finite(value: Any) -> Any:
    """JSON-safe: NaN and infinities become None, NumPy scalars Python ones."""
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _difference_dict(d: PairedDifference) -> dict[str, Any]:
    return {"mean": d.mean, "low": d.low, "high": d.high, "n_units": d.n_units, "n_clusters": d.n_clusters,
            "clusters": list(d.clusters), "p_value": d.p_value, "few_clusters": d.few_clusters,
            "verdict": d.verdict, "bootstrap": d.bootstrap, "describe": d.describe()}


def _fit_key(record: Mapping[str, Any]) -> tuple:
    """What identifies the fit a record came from: its method, seed and string fields (not role or domain)."""
    rest = tuple(sorted((k, v) for k, v in record.items()
                        if k not in _NOT_FIT_FIELDS and isinstance(v, str)))
    return record["method"], record.get("seed"), record.get("held_out"), record.get("n_train"), rest


def _mean_spectrum(values: list[list[float]]) -> np.ndarray:
    """The mean of spectra normalized to sum 1, over the length they all have."""
    spectra = [np.asarray(v, dtype=float) for v in values if v]
    spectra = [s / s.sum() for s in spectra if s.sum() > 0]
    if not spectra:
        return np.zeros(0)
    n = min(s.size for s in spectra)
    return np.mean([s[:n] for s in spectra], axis=0)


@dataclass(frozen=True)
class Comparison:
    """Heads compared on one dataset: the records, a summary per head, paired differences, spectra and a decision.

    Build it with :func:`~sknmtune.evaluation.compare_heads` (which fits) or :meth:`from_records` (which reads).

    Attributes
    ----------
    records : list of dict
        One per head x unit x test set (the records of :func:`~sknmtune.evaluation.evaluate_heads`, plus
        ``balanced_accuracy``, ``top5_accuracy``, ``worst_group_accuracy`` and, on validation records, the
        leading singular values of ``F`` and ``Z``).
    reference : str
        The head every other is compared with (the probe ``"logreg-cv"`` by default).
    heads : tuple of str
        The heads, in the order given.
    protocol : str or None
        ``"split"`` or ``"leave-one-group-out"`` (``None`` for records from elsewhere).
    units, clusters : tuple of str or None
        The record fields a difference pairs on and the fields of an independent cluster (``None``: the
        defaults of :func:`~sknmtune.evaluation.paired_difference`).
    summaries : dict of str to HeadSummary
    recommendation : HeadRecommendation or None
        :func:`~sknmtune.evaluation.recommend_head` on the validation records (``None`` without them).
    spectra : dict of str to ndarray
        Mean normalized singular values on the validation split: ``"F"`` (the features) and each head whose
        representation ``Z`` is recorded.
    """

    records: list[dict[str, Any]] = field(repr=False)
    reference: str
    heads: tuple[str, ...]
    protocol: str | None
    units: tuple[str, ...] | None
    clusters: tuple[str, ...] | None
    summaries: dict[str, HeadSummary] = field(repr=False)
    recommendation: HeadRecommendation | None = field(repr=False)
    spectra: dict[str, np.ndarray] = field(repr=False)

    @property
    def roles(self) -> tuple[str, ...]:
        """The roles present (``"id"``, ``"ood"``, ``"val"`` first, in that order)."""
        present = list(dict.fromkeys(r["role"] for r in self.records))
        return tuple(sorted(present, key=lambda r: (_ROLE_ORDER.index(r) if r in _ROLE_ORDER else len(_ROLE_ORDER), r)))

    @property
    def n_clusters(self) -> int:
        """Independent clusters behind the differences (seeds, or held-out groups)."""
        counts = [d.n_clusters for s in self.summaries.values() for d in s.differences.values()]
        return max(counts, default=0)

    def difference(self, head: str, role: str = "val", key: str = "accuracy", *,
                   reference: str | None = None) -> PairedDifference:
        """``head - reference`` on ``key`` for ``role``, over the protocol's units and independent clusters.

        Examples
        --------
        >>> from sknmtune.evaluation import Comparison
        >>> records = [{"method": m, "role": "val", "domain": "val", "seed": s, "protocol": "split",
        ...             "accuracy": a, "fit_seconds": 1.0}
        ...            for s in range(3) for m, a in (("logreg-cv", 0.8), ("lp", 0.7))]
        >>> d = Comparison.from_records(records).difference("lp")
        >>> round(d.mean, 2), d.n_clusters, d.few_clusters
        (-0.1, 3, True)
        """
        return paired_difference(self.records, head, reference or self.reference, role=role, key=key,
                                 units=self.units, clusters=self.clusters)

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]], *, reference: str = REFERENCE,
                     heads: Sequence[str] | None = None, units: Sequence[str] | None = None,
                     clusters: Sequence[str] | None = None) -> "Comparison":
        """Summarize records: per head and role the mean ± std of every metric, differences, spectra, a decision.

        Parameters
        ----------
        records : iterable of dict
            Records of :func:`~sknmtune.evaluation.compare_heads` (or of
            :func:`~sknmtune.evaluation.evaluate_heads`: any with ``method``, ``role``, ``seed`` and ``accuracy``).
        reference : str, default="logreg-cv"
            The head the others are compared with; it must have records.
        heads : sequence of str, optional
            The heads to keep, in this order (default: all, in order of appearance).
        units, clusters : sequence of str, optional
            As in :func:`~sknmtune.evaluation.paired_difference`. Default: from the records' ``protocol`` (split:
            units ``(seed, domain)``, clusters ``(seed,)``, every seed drawing its own split; leave-one-group-out:
            units ``(held_out, domain, seed)``, clusters ``(held_out,)``); records without one use
            :func:`~sknmtune.evaluation.paired_difference`'s defaults.

        Returns
        -------
        Comparison
        """
        records = [dict(r) for r in records]
        missing = [f for f in ("method", "role", "seed", "accuracy") if records and f not in records[0]]
        if not records or missing:
            raise ValueError("a comparison needs records with 'method', 'role', 'seed' and 'accuracy'"
                             + (f"; the first record lacks {missing}." if missing else "; got none."))
        present = list(dict.fromkeys(r["method"] for r in records))
        heads = tuple(present if heads is None else heads)
        absent = [h for h in heads if h not in present]
        if absent:
            raise ValueError(f"heads {absent} have no records; the records hold {present}.")
        if reference not in heads:
            raise ValueError(f"reference {reference!r} is not among the heads {list(heads)}; "
                             "compare against one of them (reference=...).")
        records = [r for r in records if r["method"] in heads]
        protocols = {r.get("protocol") for r in records}
        protocol = protocols.pop() if len(protocols) == 1 else None
        if units is None and clusters is None and protocol in _PAIRING:
            units, clusters = _PAIRING[protocol]
        units = None if units is None else tuple(units)
        clusters = None if clusters is None else tuple(clusters)
        roles = sorted({r["role"] for r in records})
        keys = [k for k in METRICS if any(r.get(k) is not None for r in records)]
        tables = {k: seed_summary(records, k, by=("method", "role")) for k in keys}
        fits: dict[str, dict[tuple, float]] = {h: {} for h in heads}
        for r in records:
            fits[r["method"]].setdefault(_fit_key(r), float(r.get("fit_seconds") or 0.0))
        summaries = {}
        for h in heads:
            metrics = {role: {k: tables[k][(h, role)] for k in keys if (h, role) in tables[k]} for role in roles}
            diffs = {} if h == reference else {
                role: paired_difference(records, h, reference, role=role, units=units, clusters=clusters)
                for role in roles}
            seconds = list(fits[h].values())
            summaries[h] = HeadSummary(h, _label(h), {k: v for k, v in metrics.items() if v},
                                       float(np.mean(seconds)) if seconds else float("nan"), len(seconds), diffs)
        recommendation = None
        val = [r for r in records if r["role"] == "val"]
        if any(r["method"] == reference for r in val):
            candidates = [h for h in heads if h != reference and any(r["method"] == h for r in val)]
            recommendation = recommend_head(val, reference=reference, candidates=candidates, role="val", units=units,
                                            clusters=clusters)
        spectra: dict[str, np.ndarray] = {}
        features = [r["singular_values_F"] for r in val if r.get("singular_values_F") and r["method"] == heads[0]]
        if not features:
            features = [r["singular_values_F"] for r in val if r.get("singular_values_F")]
        if features:
            spectra["F"] = _mean_spectrum(features)
        for h in heads:
            values = [r["singular_values_Z"] for r in val if r["method"] == h and r.get("singular_values_Z")]
            if values:
                spectra[h] = _mean_spectrum(values)
        return cls(records, reference, heads, protocol, units, clusters, summaries, recommendation, spectra)

    # ------------------------------------------------------------------------------------------- output
    def to_frame(self) -> Any:
        """The records as a ``pandas.DataFrame`` (one row per head x unit x test set; the singular-value lists
        left out). Needs pandas.

        Examples
        --------
        >>> from sknmtune.evaluation import Comparison
        >>> records = [{"method": m, "role": "val", "domain": "val", "seed": 0, "accuracy": 0.5}
        ...            for m in ("logreg-cv", "lp")]
        >>> Comparison.from_records(records).to_frame().shape
        (2, 5)
        """
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - pandas is a test dependency
            raise ImportError("Comparison.to_frame needs pandas: pip install pandas "
                              "(or use Comparison.records, a list of dicts).") from exc
        return pd.DataFrame([{k: v for k, v in r.items() if k not in _LIST_FIELDS} for r in self.records])

    def summary_rows(self) -> list[dict[str, Any]]:
        """One flat dict per head: ``head``, ``label``, ``fit_seconds``, ``n_fits``, then ``<role>_<metric>``
        (mean), ``<role>_<metric>_std``, ``n_seeds`` and ``<role>_diff`` / ``_low`` / ``_high`` / ``_clusters`` /
        ``_p`` / ``_verdict`` against the reference (for tables and data frames)."""
        rows = []
        for s in self.summaries.values():
            row: dict[str, Any] = {"head": s.head, "label": s.label, "fit_seconds": s.fit_seconds, "n_fits": s.n_fits}
            for role, metrics in s.metrics.items():
                for key, (mean, std, n) in metrics.items():
                    row[f"{role}_{key}"], row[f"{role}_{key}_std"] = mean, std
                    row["n_seeds"] = max(row.get("n_seeds", 0), n)
            for role, d in s.differences.items():
                row.update({f"{role}_diff": d.mean, f"{role}_low": d.low, f"{role}_high": d.high,
                            f"{role}_clusters": d.n_clusters, f"{role}_p": d.p_value, f"{role}_verdict": d.verdict})
            rows.append(row)
        return rows

    def as_dict(self, records: bool = True) -> dict[str, Any]:
        """A JSON-ready dict: the settings, one summary per head, the decision, the spectra and the records."""
        out: dict[str, Any] = {
            "format": "sknmtune.compare", "version": 1, "reference": self.reference, "heads": list(self.heads),
            "protocol": self.protocol, "units": None if self.units is None else list(self.units),
            "clusters": None if self.clusters is None else list(self.clusters), "roles": list(self.roles),
            "summary": {h: {"label": s.label, "fit_seconds": s.fit_seconds, "n_fits": s.n_fits,
                            "metrics": {role: {k: {"mean": m, "std": sd, "n_seeds": n} for k, (m, sd, n) in ms.items()}
                                        for role, ms in s.metrics.items()},
                            "differences": {role: _difference_dict(d) for role, d in s.differences.items()}}
                        for h, s in self.summaries.items()},
            "recommendation": None if self.recommendation is None else self.recommendation.as_dict(),
            "spectra": {k: v.tolist() for k, v in self.spectra.items()},
        }
        if records:
            out["records"] = self.records
        return _finite(out)

    def to_json(self, path: str | Path | None = None, *, indent: int | None = 1) -> str:
        """The comparison as JSON (:meth:`as_dict`); also written to ``path`` when given.
        :meth:`from_json` reads it back."""
        text = json.dumps(self.as_dict(), indent=indent, allow_nan=False)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    @classmethod
    def from_json(cls, source: str | Path | Mapping[str, Any]) -> "Comparison":
        """A comparison from :meth:`to_json`'s text, a path to it, or its parsed dict (recomputed from the records).

        Examples
        --------
        >>> from sknmtune.evaluation import Comparison
        >>> records = [{"method": m, "role": "val", "domain": "val", "seed": 0, "accuracy": a}
        ...            for m, a in (("logreg-cv", 0.5), ("lp", 0.6))]
        >>> c = Comparison.from_records(records)
        >>> Comparison.from_json(c.to_json()).summaries["lp"].value("val")
        (0.6, 0.0, 1)
        """
        if isinstance(source, Mapping):
            data = source
        else:
            text = str(source)
            if not text.lstrip().startswith("{"):
                text = Path(source).read_text(encoding="utf-8")
            data = json.loads(text)
        if "records" not in data:
            raise ValueError("not a comparison: the JSON has no 'records'.")
        return cls.from_records(data["records"], reference=data.get("reference", REFERENCE), heads=data.get("heads"),
                                units=data.get("units"), clusters=data.get("clusters"))
