"""Paired comparisons of heads over the units that are really independent, and claims built from them.

A benchmark's records are nested: seeds inside (task, backbone, test domain) cells. Seeds that share a split
(and cached crops) are not independent draws of the question "is head a better than head b": the cell is.
So every interval here resamples **clusters** (by default: a unit without its seed), either their means
(``bootstrap="cluster"``) or clusters then their units (``"hierarchical"``); the number of clusters goes with
every interval; and with fewer than ``min_clusters`` clusters, where a bootstrap is itself unreliable, the
verdict comes from an exact sign-flip test over the cluster means instead.

>>> from sknmtune.evaluation import paired_difference
>>> records = [
...     {"method": m, "role": "ood", "domain": d, "seed": s, "accuracy": acc + 0.01 * s}
...     for s in range(3) for d in ("a", "b", "c", "d", "e", "f")
...     for m, acc in (("nmtune", 0.62), ("mlp", 0.60))
... ]
>>> diff = paired_difference(records, "nmtune", "mlp", role="ood")
>>> round(diff.mean, 3), diff.n_units, diff.n_clusters, diff.verdict
(0.02, 18, 6, 'reproduced')
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Association", "Claim", "PairedDifference", "claim", "paired_difference", "paper_claims", "rank_association"]

#: below this many clusters a percentile bootstrap says little (its intervals are too narrow); the verdict then
#: comes from the exact sign-flip test over the cluster means
MIN_CLUSTERS = 6
_BOOTSTRAPS = ("cluster", "hierarchical", "unit")
_MEASUREMENT_FIELDS = ("method", "role")


@dataclass(frozen=True)
class PairedDifference:
    """``a - b`` over matched units, with an interval over the independent clusters and what it says of "a > b".

    Attributes
    ----------
    mean : float
        Mean over clusters of the cluster's mean difference (each cluster weighs equally).
    low, high : float
        Percentile bootstrap interval of ``mean`` (see ``bootstrap``).
    n_units : int
        Units present for both methods (e.g. domain x seed).
    wins : int
        Units where ``a`` is strictly ahead.
    confidence : float
    n_clusters : int
        Independent clusters the interval resamples (e.g. target domains).
    p_value : float
        Two-sided p-value of the exact sign-flip (permutation) test of "mean difference 0" over the cluster
        means: all ``2 ** n_clusters`` sign patterns (a Monte-Carlo sample of 20,000 beyond 16 clusters).
    clusters : tuple of str
        The record fields that identify a cluster (empty: each unit is its own cluster).
    bootstrap : str
        ``"cluster"`` (resample clusters' means), ``"hierarchical"`` (clusters, then units inside each) or
        ``"unit"`` (units, as if independent).
    min_clusters : int
        With fewer clusters, :attr:`verdict` uses :attr:`p_value` instead of the interval.
    cluster_wins : int
        Clusters whose mean difference is above 0.
    """

    mean: float
    low: float
    high: float
    n_units: int
    wins: int
    confidence: float
    n_clusters: int = 0
    p_value: float = float("nan")
    clusters: tuple[str, ...] = ()
    bootstrap: str = "unit"
    min_clusters: int = MIN_CLUSTERS
    cluster_wins: int = 0

    @property
    def few_clusters(self) -> bool:
        """Whether there are too few clusters for the bootstrap interval to decide (``< min_clusters``)."""
        return self.n_clusters < self.min_clusters

    @property
    def verdict(self) -> str:
        """``"reproduced"`` (a ahead), ``"refuted"`` (a behind), ``"inconclusive"`` or ``"no data"``.

        From the interval (above 0 / below 0 / spanning 0) with enough clusters; with fewer than
        ``min_clusters``, from the exact sign-flip test (``p_value <= 1 - confidence``, in the direction of the
        mean). With 4 clusters no pattern reaches ``p <= 0.05`` (the smallest two-sided p is 2/16): four
        domains cannot establish a difference at 95 %, whatever their values.
        """
        if self.n_units == 0:
            return "no data"
        if self.few_clusters:
            if self.p_value <= 1 - self.confidence + 1e-12:
                return "reproduced" if self.mean > 0 else "refuted"
            return "inconclusive"
        if self.low > 0:
            return "reproduced"
        if self.high < 0:
            return "refuted"
        return "inconclusive"

    def describe(self, scale: float = 100.0, digits: int = 2, clusters: str | None = None) -> str:
        """``"+1.23 [-0.50, +2.90], 4 target domains (p = 0.125, exact sign-flip; too few for a bootstrap)"``.

        ``scale`` multiplies the numbers (100: accuracy points); ``clusters`` names the clusters (plural; default:
        their fields, e.g. "domain clusters").
        """
        if self.n_units == 0:
            return "no data"
        if clusters is None:
            unit = "+".join(self.clusters) if self.clusters else "unit"
            clusters = f"{unit} cluster{'s' if self.n_clusters != 1 else ''}"
        text = (f"{self.mean * scale:+.{digits}f} [{self.low * scale:+.{digits}f}, {self.high * scale:+.{digits}f}], "
                f"{self.n_clusters} {clusters}")
        if self.few_clusters:
            text += f" (p = {self.p_value:.3g}, exact sign-flip; too few clusters for a bootstrap)"
        return text


def _sign_flip_p(cluster_means: np.ndarray, rng: np.random.Generator, max_exact: int = 16,
                 n_random: int = 20_000) -> float:
    """Two-sided p-value of the sign-flip test of a zero mean (exact up to ``max_exact`` clusters)."""
    k = cluster_means.size
    observed = abs(cluster_means.mean())
    if k <= max_exact:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=k)))
    else:
        signs = rng.choice((1.0, -1.0), size=(n_random, k))
    flipped = np.abs(signs @ cluster_means) / k
    return float(np.mean(flipped >= observed - 1e-12 * max(1.0, observed)))


def paired_difference(
    records: Iterable[Mapping[str, Any]],
    a: str,
    b: str,
    *,
    role: str | None = None,
    key: str = "accuracy",
    units: Sequence[str] | None = None,
    clusters: Sequence[str] | None = None,
    bootstrap: str = "cluster",
    min_clusters: int = MIN_CLUSTERS,
    n_boot: int = 10_000,
    confidence: float = 0.95,
    random_state: int = 0,
) -> PairedDifference:
    """Paired difference of ``key`` between methods ``a`` and ``b``, with an interval over independent clusters.

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
        The record fields on which ``a`` and ``b`` are paired (default: every field that is not a measurement:
        ``seed``, ``domain`` and the string fields such as task, backbone, protocol). A unit's value is the
        mean over its records.
    clusters : sequence of str, optional
        The fields of ``units`` that identify an independent cluster. Default: ``units`` without ``seed``
        (seeds that share a split and cached features are repetitions inside one cluster, not independent
        evidence). Pass ``clusters=units`` only when every seed draws its own split and data.
    bootstrap : {"cluster", "hierarchical", "unit"}, default="cluster"
        ``"cluster"``: resample clusters with replacement (each cluster's mean difference);
        ``"hierarchical"``: resample clusters, then the units inside each resampled cluster;
        ``"unit"``: resample units as if independent (the old behaviour; only honest with ``clusters=units``).
    min_clusters : int, default=6
        Below this many clusters the verdict is taken from the exact sign-flip test.
    n_boot : int, default=10_000
    confidence : float, default=0.95
    random_state : int, default=0
        Seeds the resampling.

    Returns
    -------
    PairedDifference

    Examples
    --------
    Four target domains, three seeds each: a bootstrap over four domain means is too optimistic, so the
    verdict comes from the exact sign-flip test, whose smallest two-sided p-value with 4 clusters is 0.125.

    >>> from sknmtune.evaluation import paired_difference
    >>> records = [{"method": m, "role": "ood", "domain": d, "seed": s, "accuracy": 0.6 + (0.05 if m == "a" else 0)}
    ...            for m in "ab" for d in "wxyz" for s in range(3)]
    >>> d = paired_difference(records, "a", "b", role="ood")
    >>> d.n_clusters, d.few_clusters, round(d.p_value, 3), d.verdict
    (4, True, 0.125, 'inconclusive')
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence}.")
    if bootstrap not in _BOOTSTRAPS:
        raise ValueError(f"bootstrap must be one of {_BOOTSTRAPS}; got {bootstrap!r}.")
    if min_clusters < 1:
        raise ValueError(f"min_clusters must be >= 1; got {min_clusters}.")
    rows = [r for r in records
            if (role is None or r["role"] == role) and r["method"] in (a, b) and r.get(key) is not None]
    if units is None:
        units = sorted({f for r in rows for f, v in r.items()
                        if f not in _MEASUREMENT_FIELDS and (f in ("seed", "domain") or isinstance(v, str))})
    units = tuple(units)
    clusters = tuple(f for f in units if f != "seed") if clusters is None else tuple(clusters)
    missing = sorted(set(clusters) - set(units))
    if missing:
        raise ValueError(f"clusters {missing} are not among the unit fields {list(units)}.")
    values: dict[str, dict[tuple, list[float]]] = {a: defaultdict(list), b: defaultdict(list)}
    for r in rows:
        values[r["method"]][tuple(r.get(f) for f in units)].append(float(r[key]))
    common = sorted(set(values[a]) & set(values[b]), key=lambda k: tuple(map(str, k)))
    if not common:
        return PairedDifference(float("nan"), float("nan"), float("nan"), 0, 0, confidence, 0, float("nan"),
                                clusters, bootstrap, min_clusters, 0)
    position = [units.index(f) for f in clusters]
    grouped: dict[tuple, list[float]] = defaultdict(list)
    for unit in common:
        grouped[tuple(unit[i] for i in position) if clusters else unit].append(
            float(np.mean(values[a][unit]) - np.mean(values[b][unit])))
    groups = [np.asarray(v) for _, v in sorted(grouped.items(), key=lambda kv: tuple(map(str, kv[0])))]
    mean, low, high, p_value = _cluster_interval(groups, bootstrap, n_boot, confidence, random_state)
    diffs = np.concatenate(groups)
    return PairedDifference(
        mean, low, high, int(diffs.size), int((diffs > 0).sum()), confidence, len(groups), p_value, clusters,
        bootstrap, min_clusters, int(sum(g.mean() > 0 for g in groups)),
    )


def _cluster_interval(groups: Sequence[np.ndarray], bootstrap: str, n_boot: int, confidence: float,
                      random_state: int) -> tuple[float, float, float, float]:
    """``(mean, low, high, sign-flip p)`` of values nested in clusters (one array per cluster)."""
    cluster_means = np.array([g.mean() for g in groups])
    values = np.concatenate(groups)
    rng = np.random.default_rng(random_state)
    k = len(groups)
    picks = rng.integers(0, k, size=(n_boot, k))
    if bootstrap == "hierarchical":
        boot = np.empty(n_boot)
        for i, chosen in enumerate(picks):
            boot[i] = np.mean([groups[c][rng.integers(0, groups[c].size, groups[c].size)].mean() for c in chosen])
    elif bootstrap == "cluster":
        boot = cluster_means[picks].mean(axis=1)
    else:
        boot = values[rng.integers(0, values.size, size=(n_boot, values.size))].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(boot, [tail, 1 - tail])
    mean = float(cluster_means.mean()) if bootstrap != "unit" else float(values.mean())
    return mean, float(low), float(high), _sign_flip_p(cluster_means, rng)


@dataclass(frozen=True)
class Association:
    """How a spectral metric ranks heads against a score: Spearman's rho within cells, averaged over clusters.

    Attributes
    ----------
    rho : float
        Mean over clusters of the mean within-cell rank correlation (each cell: the heads of one unit).
    low, high : float
        Cluster-bootstrap interval of ``rho``.
    n_cells, n_clusters : int
        Cells (units with at least three heads measured) and the independent clusters they fall in.
    p_value : float
        Exact sign-flip p-value of "rho = 0" over the cluster means.
    confidence : float
    """

    rho: float
    low: float
    high: float
    n_cells: int
    n_clusters: int
    p_value: float
    confidence: float

    def describe(self) -> str:
        """``"rho -0.42 [-0.60, -0.21], 24 cells in 8 clusters (p = 0.008)"``."""
        if self.n_cells == 0:
            return "no data"
        return (f"rho {self.rho:+.2f} [{self.low:+.2f}, {self.high:+.2f}], {self.n_cells} cells in "
                f"{self.n_clusters} clusters (p = {self.p_value:.3g})")


def rank_association(
    records: Iterable[Mapping[str, Any]],
    metric: str,
    key: str = "accuracy",
    *,
    role: str | None = "ood",
    methods: Sequence[str] | None = None,
    units: Sequence[str] | None = None,
    clusters: Sequence[str] | None = None,
    n_boot: int = 10_000,
    confidence: float = 0.95,
    random_state: int = 0,
) -> Association:
    """Does ``metric`` (e.g. ``"lsvr_Z"``) rank the heads of a unit as ``key`` (e.g. OOD accuracy) does?

    Within each cell (a unit: test domain, seed, task...), Spearman's rank correlation across the heads
    measured there (at least three); cells are averaged inside their cluster (the unit without its seed, by
    default) and the clusters' means are resampled for the interval. The paper's mechanism predicts a
    negative rho for LSVR of ``Z`` against OOD accuracy.

    Examples
    --------
    >>> from sknmtune.evaluation import rank_association
    >>> records = [{"method": m, "role": "ood", "domain": d, "seed": 0, "accuracy": acc, "lsvr_Z": 1 - acc}
    ...            for d in "uvwxyz" for m, acc in (("a", 0.6), ("b", 0.7), ("c", 0.8))]
    >>> a = rank_association(records, "lsvr_Z")
    >>> round(a.rho, 2), a.n_cells, a.n_clusters
    (-1.0, 6, 6)
    """
    from scipy.stats import spearmanr

    rows = [r for r in records if (role is None or r.get("role") == role) and r.get(metric) is not None
            and r.get(key) is not None and (methods is None or r["method"] in methods)]
    if units is None:
        units = sorted({f for r in rows for f, v in r.items()
                        if f not in _MEASUREMENT_FIELDS and (f in ("seed", "domain") or isinstance(v, str))})
    units = tuple(units)
    clusters = tuple(f for f in units if f != "seed") if clusters is None else tuple(clusters)
    cells: dict[tuple, dict[str, tuple[float, float]]] = defaultdict(dict)
    for r in rows:
        cells[tuple(r.get(f) for f in units)][r["method"]] = (float(r[metric]), float(r[key]))
    position = [units.index(f) for f in clusters]
    grouped: dict[tuple, list[float]] = defaultdict(list)
    for cell, by_method in cells.items():
        pairs = np.array(list(by_method.values()))
        if len(pairs) < 3 or np.ptp(pairs[:, 0]) == 0 or np.ptp(pairs[:, 1]) == 0:
            continue
        grouped[tuple(cell[i] for i in position)].append(float(spearmanr(pairs[:, 0], pairs[:, 1])[0]))
    if not grouped:
        return Association(float("nan"), float("nan"), float("nan"), 0, 0, float("nan"), confidence)
    groups = [np.asarray(v) for _, v in sorted(grouped.items(), key=lambda kv: tuple(map(str, kv[0])))]
    rho, low, high, p_value = _cluster_interval(groups, "cluster", n_boot, confidence, random_state)
    return Association(rho, low, high, int(sum(g.size for g in groups)), len(groups), p_value, confidence)


@dataclass(frozen=True)
class Claim:
    """A claim that holds when each of its comparisons ``a > b`` holds, with the evidence for each.

    Attributes
    ----------
    name : str
        E.g. ``"NMTune > max(LP, MLP)"``.
    comparisons : tuple of (str, str)
        The ``(a, b)`` pairs, each meaning "a is ahead of b".
    differences : tuple of PairedDifference
        One per comparison, in order.
    """

    name: str
    comparisons: tuple[tuple[str, str], ...]
    differences: tuple[PairedDifference, ...] = field(repr=False)

    @property
    def verdict(self) -> str:
        """``"reproduced"`` when every comparison is; ``"refuted"`` when any comparison is refuted (a is behind
        b); ``"no data"`` when a comparison has no units; ``"inconclusive"`` otherwise. An intersection of
        one-sided claims, so no multiplicity correction is needed for ``"reproduced"``."""
        verdicts = [d.verdict for d in self.differences]
        if "no data" in verdicts:
            return "no data"
        if all(v == "reproduced" for v in verdicts):
            return "reproduced"
        if "refuted" in verdicts:
            return "refuted"
        return "inconclusive"


def claim(records: Iterable[Mapping[str, Any]], name: str, comparisons: Sequence[tuple[str, str]],
          **kwargs: Any) -> Claim:
    """A :class:`Claim` from every comparison it needs (``kwargs`` go to :func:`paired_difference`).

    Examples
    --------
    >>> from sknmtune.evaluation import claim
    >>> records = [{"method": m, "role": "ood", "domain": d, "seed": 0, "accuracy": acc}
    ...            for d in "uvwxyz" for m, acc in (("nmtune", 0.7), ("mlp", 0.6), ("lp", 0.65))]
    >>> c = claim(records, "NMTune > MLP > LP", [("nmtune", "mlp"), ("mlp", "lp")], role="ood")
    >>> [d.verdict for d in c.differences], c.verdict
    (['reproduced', 'refuted'], 'refuted')
    """
    records = list(records)
    pairs = tuple((str(a), str(b)) for a, b in comparisons)
    if not pairs:
        raise ValueError("a claim needs at least one comparison (a, b).")
    return Claim(name, pairs, tuple(paired_difference(records, a, b, **kwargs) for a, b in pairs))


def paper_claims(records: Iterable[Mapping[str, Any]], *, nmtune: str, mlp: str, lp: str,
                 labels: Mapping[str, str] | None = None, **kwargs: Any) -> list[Claim]:
    """The paper's claims as separate rows, each from all its comparisons.

    * ``"NMTune > max(LP, MLP)"`` (the main claim): NMTune ahead of LP and of MLP tuning;
    * ``"NMTune > MLP > LP"`` (the chain the paper's tables show): NMTune ahead of MLP and MLP ahead of LP;
    * ``"NMTune > MLP"`` and ``"NMTune > LP"`` alone.

    ``labels`` renames the methods in the claim names (default ``NMTune``, ``MLP``, ``LP``).
    """
    records = list(records)
    names = {"nmtune": "NMTune", "mlp": "MLP", "lp": "LP", **(labels or {})}
    n, m, p = names["nmtune"], names["mlp"], names["lp"]
    return [
        claim(records, f"{n} > max({p}, {m})", [(nmtune, lp), (nmtune, mlp)], **kwargs),
        claim(records, f"{n} > {m} > {p}", [(nmtune, mlp), (mlp, lp)], **kwargs),
        claim(records, f"{n} > {m}", [(nmtune, mlp)], **kwargs),
        claim(records, f"{n} > {p}", [(nmtune, lp)], **kwargs),
    ]

