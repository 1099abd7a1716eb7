"""A soft vote of a tuned logistic-regression probe, the linear probe, MLP tuning and NMTune.

:func:`make_voting_head` builds scikit-learn's :class:`~sklearn.ensemble.VotingClassifier` over four
heads that see the same features: ``StandardScaler`` + ``LogisticRegressionCV`` (a probe whose L2 strength
is chosen by cross-validation), and :class:`~sknmtune.NMTuneClassifier` with the ``"lp"``, ``"mlp"`` and
``"nmtune-paper"`` presets. Whether it beats the tuned probe is a question of data: the benchmarks' answer is
computed from their validation records by :func:`sknmtune.evaluation.recommend_head`
(``benchmarks/results/head_choice.md``), and ``sknmtune compare`` asks the same question of your features.
"""

from __future__ import annotations

from collections.abc import Sequence
import warnings
from typing import Any

from ._registry import make_head, register_head

__all__ = ["VOTING_MEMBERS", "make_voting_head"]

#: The heads :func:`make_voting_head` can combine: names of :func:`~sknmtune.heads.make_head` (``"logreg-cv"``:
#: ``StandardScaler`` + ``LogisticRegressionCV`` over C in 1e-4..1e2, 5 stratified folds, accuracy; and the
#: :data:`~sknmtune.PRESETS` ``"lp"``, ``"mlp"``, ``"nmtune-paper"``, ``"mlp-authors"``, ``"nmtune-authors"``, and
#: ``"mlp-es"`` / ``"nmtune-paper-es"``: the paper's MLP heads with early stopping).
VOTING_MEMBERS: tuple[str, ...] = ("logreg-cv", "lp", "mlp", "nmtune-paper", "mlp-authors", "nmtune-authors", "mlp-es",
                                   "nmtune-paper-es")

_DEFAULT_MEMBERS = ("logreg-cv", "lp", "mlp", "nmtune-paper")
#: member names of earlier releases -> their registry names
_RENAMED = {"logreg_cv": "logreg-cv"}


def make_voting_head(
    members: Sequence[str] = _DEFAULT_MEMBERS,
    *,
    random_state: int | None = None,
    device: str = "auto",
    n_jobs: int | None = None,
) -> Any:
    """A soft-voting ensemble of frozen-feature heads (the registry's ``"vote"``).

    Every member is fitted on the same features; ``predict_proba`` averages their class
    probabilities (equal weights) and ``predict`` takes the most probable class. The result is a plain
    :class:`~sklearn.ensemble.VotingClassifier`: it goes into a ``Pipeline`` after a
    :class:`~sknmtune.FrozenBackboneTransformer`, into ``GridSearchCV`` (members' parameters as
    ``"mlp__reg_lambda"`` ...), and saves to the safe ``.skn`` format.

    Parameters
    ----------
    members : sequence of str, default=("logreg-cv", "lp", "mlp", "nmtune-paper")
        At least two distinct names of :data:`VOTING_MEMBERS`. The default is the vote the benchmarks
        measure; its fit costs the sum of its members' fits (``benchmarks/results/fit_time.json``).
    random_state : int or None, default=None
        Seeds every NMTune member's initialization and batches (the logistic-regression probe is
        deterministic); the same integer gives the same ensemble.
    device : str, default="auto"
        The NMTune members' torch device.
    n_jobs : int or None, default=None
        Members fitted in parallel (``VotingClassifier``'s ``n_jobs``).

    Returns
    -------
    VotingClassifier
        Unfitted, ``voting="soft"``, one member per name (named by it).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sknmtune import make_voting_head
    >>> X, y = load_iris(return_X_y=True)
    >>> head = make_voting_head(random_state=0)
    >>> head.set_params(lp__max_epochs=5, mlp__max_epochs=5, **{"nmtune-paper__max_epochs": 5})  # doctest: +ELLIPSIS
    VotingClassifier(...)
    >>> head.fit(X, y).predict_proba(X[:2]).shape
    (2, 3)
    """
    from sklearn.ensemble import VotingClassifier

    if isinstance(members, str) or not isinstance(members, Sequence):
        raise TypeError(f"members must be a sequence of member names; got {type(members).__name__}.")
    names = list(members)
    for old in set(names) & set(_RENAMED):
        warnings.warn(f"The voting member {old!r} is now called {_RENAMED[old]!r}; the old name will be removed.",
                      DeprecationWarning, stacklevel=2)
    names = [_RENAMED.get(name, name) for name in names]
    unknown = [m for m in names if m not in VOTING_MEMBERS]
    if unknown:
        raise ValueError(f"Unknown voting members {unknown}; choose from {list(VOTING_MEMBERS)}.")
    if len(set(names)) != len(names) or len(names) < 2:
        raise ValueError(f"members must name at least two distinct heads; got {names}.")
    return VotingClassifier(
        [(name, make_head(name, random_state=random_state, device=device)) for name in names], voting="soft",
        n_jobs=n_jobs,
    )


@register_head("vote", label="make_voting_head(): soft vote of LogisticRegressionCV, LP, MLP tuning and NMTune (paper)",
               family="ensemble", cost=0.047)
def _vote(random_state: int | None, device: str, **overrides: Any) -> Any:
    return make_voting_head(random_state=random_state, device=device, **overrides)


@register_head("vote-lr-mlp", label="make_voting_head(('logreg-cv', 'mlp')): soft vote of LogisticRegressionCV and "
               "MLP tuning", family="ensemble", cost=0.027)
def _vote_lr_mlp(random_state: int | None, device: str, **overrides: Any) -> Any:
    return make_voting_head(("logreg-cv", "mlp"), random_state=random_state, device=device, **overrides)
