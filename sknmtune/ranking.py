"""Rank frozen backbones for a downstream task before training any head.

Four label-aware or label-free scores of the features ``F`` (n_samples x n_features) that a
backbone produces on the downstream training data:

* **LogME** and the **H-score**, :func:`~sknmtune.transferability.logme` and
  :func:`~sknmtune.transferability.h_score` (the maths lives in :mod:`sknmtune.transferability`).
  Higher is better.
* **SVE** and **LSVR** (the paper's Definitions 2.1 and 2.2), from :mod:`sknmtune.spectral`:
  label-free. The paper relates a higher SVE to in-domain transfer and a lower LSVR to
  out-of-domain robustness.

:func:`rank_backbones` computes them for several candidates (feature arrays, or backbones whose
features it extracts through :class:`~sknmtune.FrozenBackboneTransformer` and its feature cache).
:class:`~sknmtune.scoring.TransferabilityScorer` exposes LogME and the H-score as scikit-learn
scorers for ``GridSearchCV`` over ``Pipeline([("backbone", ...), ("head", ...)])``; it lives beside
:class:`~sknmtune.SpectralScorer` in :mod:`sknmtune.scoring`. ``logme``, ``h_score`` and
``TransferabilityScorer`` are importable from here as well.

These estimators are cheap proxies; whether one predicts the accuracy of a trained head on a
given family of backbones and tasks is an empirical question (see the ranking guide for the
measurements on this package's benchmark).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .scoring import TransferabilityScorer
from .spectral import spectral_summary
from .transferability import TARGET_TYPES, check_features, check_shrinkage, h_score, logme

__all__ = ["logme", "h_score", "rank_backbones", "TransferabilityScorer", "SCORES"]

#: Scores :func:`rank_backbones` computes, with their direction: ``+1`` higher is better,
#: ``-1`` lower is better (LSVR: the paper relates a lower LSVR to better OOD transfer).
SCORES: dict[str, int] = {"logme": 1, "h_score": 1, "sve": 1, "lsvr": -1, "rankme": 1}


def _compute_scores(F: np.ndarray, y: Any, scores: Sequence[str], target_type: str, shrinkage: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    spectra = None
    for name in scores:
        if name == "logme":
            out[name] = logme(F, y, target_type=target_type)
        elif name == "h_score":
            out[name] = h_score(F, y, shrinkage=shrinkage)
        else:
            if spectra is None:
                spectra = spectral_summary(F)
            out[name] = float(spectra[name])
    return out


def _check_scores(scores: Any, primary: str | None) -> tuple[tuple[str, ...], str]:
    if isinstance(scores, str):
        scores = (scores,)
    scores = tuple(scores)
    unknown = [s for s in scores if s not in SCORES]
    if unknown or not scores:
        raise ValueError(f"scores must be a non-empty subset of {tuple(SCORES)}; got {scores!r}.")
    if len(set(scores)) != len(scores):
        raise ValueError(f"scores has duplicates: {scores!r}.")
    primary = scores[0] if primary is None else primary
    if primary not in scores:
        raise ValueError(f"primary={primary!r} must be one of the computed scores {scores}.")
    return scores, primary


def _check_lengths(X: Any, y: Any) -> None:
    """Fail early (before any extraction) when X and y have different numbers of samples."""
    if X is None:
        return
    try:
        n_x = len(X)
    except TypeError:  # e.g. an iterable dataset: the features' length is checked later
        return
    n_y = np.shape(y)[0] if np.ndim(y) else None
    if n_y is not None and n_x != n_y:
        raise ValueError(f"X has {n_x} samples but y has {n_y}; they must match.")


def _is_backbone_spec(candidate: Any) -> bool:
    """A backbone to extract features with (name, path, module or callable), not a feature array."""
    return isinstance(candidate, (str, os.PathLike)) or (callable(candidate) and not hasattr(candidate, "__array__"))


def _candidate_features(name: str, candidate: Any, X: Any, cache: Any) -> tuple[np.ndarray, str]:
    """Features of one candidate and how they were obtained ("array" or "transform")."""
    from .backbones import FrozenBackboneTransformer

    if isinstance(candidate, FrozenBackboneTransformer):
        transformer = candidate
        if cache is not None and candidate.cache is None:
            transformer = copy.copy(candidate)  # shallow: shares the module, leaves the caller's object alone
            transformer.set_params(cache=cache)
    elif _is_backbone_spec(candidate):
        transformer = FrozenBackboneTransformer(candidate, cache=cache)
    elif hasattr(candidate, "transform") and not hasattr(candidate, "__array__"):
        transformer = candidate  # any fitted (or stateless) transformer, e.g. Pipeline(backbone, PCA)
    else:
        return np.asarray(candidate), "array"
    if X is None:
        raise ValueError(f"Candidate {name!r} is a backbone, so X (the raw inputs) is required to extract its features.")
    return np.asarray(transformer.transform(X)), "transform"


def rank_backbones(
    candidates: Mapping[str, Any],
    X: Any = None,
    y: Any = None,
    *,
    scores: Sequence[str] = ("logme", "h_score", "sve", "lsvr"),
    primary: str | None = None,
    cache: Any = None,
    target_type: str = "auto",
    shrinkage: float | str | None = None,
) -> list[dict[str, Any]]:
    """Score candidate backbones on a downstream task and rank them, best first.

    Parameters
    ----------
    candidates : mapping of str to array-like, backbone or transformer
        Name -> one of

        * a feature array of shape (n_samples, n_features), already extracted from ``X``;
        * a :class:`~sknmtune.FrozenBackboneTransformer`: its features of ``X`` (through its own
          ``cache``, or ``cache`` below when it has none; the caller's object is not modified);
        * a backbone specification (timm model name, text model name or directory, torch module,
          callable): wrapped in ``FrozenBackboneTransformer(spec, cache=cache)``;
        * any other object with ``transform`` (e.g. a fitted ``Pipeline``): ``transform(X)``.
    X : inputs accepted by the transformers, default=None
        The downstream training inputs; needed only when a candidate is not a feature array.
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        Downstream targets: class labels (all scores), or regression targets (``logme``, ``sve``,
        ``lsvr`` and ``rankme``; the spectral scores ignore ``y``).
    scores : sequence of str, default=("logme", "h_score", "sve", "lsvr")
        Which scores to compute, from :data:`SCORES`.
    primary : str, default=None
        The score that orders the result; the first of ``scores`` when None. Sorted best first in
        that score's direction (descending, except ``lsvr``: ascending). Ties keep input order.
    cache : str, path-like, joblib.Memory or FeatureCache, default=None
        Feature cache for candidates extracted here (see ``FrozenBackboneTransformer(cache=)``), so
        ranking again, or fitting a head on the chosen backbone later, reuses the features.
    target_type : {"auto", "classification", "regression"}, default="auto"
        How :func:`~sknmtune.transferability.logme` reads ``y``.
    shrinkage : None, "auto" or float, default=None
        Passed to :func:`~sknmtune.transferability.h_score`.

    Returns
    -------
    ranking : list of dict
        One dict per candidate, best first, with keys ``"rank"`` (1 = best by ``primary``),
        ``"name"``, one key per score, ``"n_samples"``, ``"n_features"`` and ``"source"``
        (``"array"`` or ``"transform"``). ``pandas.DataFrame(ranking)`` turns it into a table.

    Raises
    ------
    ValueError
        For an empty ``candidates``, unknown scores, a missing ``X`` or ``y``, or invalid features
        or targets (the message names the candidate).

    Examples
    --------
    >>> import numpy as np
    >>> from sknmtune.ranking import rank_backbones
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, size=100)
    >>> good = np.c_[y + 0.2 * rng.normal(size=100), rng.normal(size=100)]
    >>> bad = rng.normal(size=(100, 2))
    >>> ranking = rank_backbones({"bad": bad, "good": good}, y=y)
    >>> [row["name"] for row in ranking]
    ['good', 'bad']
    >>> sorted(ranking[0])
    ['h_score', 'logme', 'lsvr', 'n_features', 'n_samples', 'name', 'rank', 'source', 'sve']
    """
    if not isinstance(candidates, Mapping) or not candidates:
        raise ValueError("candidates must be a non-empty mapping of name -> features, backbone or transformer.")
    scores, primary = _check_scores(scores, primary)
    check_shrinkage(shrinkage)
    if target_type not in TARGET_TYPES:
        raise ValueError(f"target_type must be one of {TARGET_TYPES}; got {target_type!r}.")
    if y is None:
        raise ValueError("y is required: the downstream targets the backbones are ranked for.")
    _check_lengths(X, y)
    rows = []
    for order, (name, candidate) in enumerate(candidates.items()):
        features, source = _candidate_features(str(name), candidate, X, cache)
        try:
            F = check_features(features)
            values = _compute_scores(F, y, scores, target_type, shrinkage)
        except ValueError as exc:
            raise ValueError(f"Candidate {name!r}: {exc}") from exc
        rows.append((order, {"name": name, **values, "n_samples": F.shape[0], "n_features": F.shape[1], "source": source}))
    sign = SCORES[primary]
    rows.sort(key=lambda item: (-sign * item[1][primary], item[0]))
    return [{"rank": i, **row} for i, (_, row) in enumerate(rows, 1)]
