"""The evaluation protocol, once: fit heads on frozen features, score them in and out of domain, summarize.

* :func:`evaluate_heads` fits every head for every seed (in parallel with ``n_jobs``, longest fits
  first) and scores it on the in-domain test set, each out-of-domain test domain and an optional
  validation split: accuracy, macro-F1, the SVE / LSVR of the features ``F`` and of the head's
  representation ``Z`` and the fit time, as tidy records (one dict per head x seed x test set, ready for
  ``pandas.DataFrame``); ``on_record`` and ``skip`` make long runs resumable.
* :func:`summarize` (per method and role) and :func:`seed_summary` (mean ± std over seeds);
* :func:`paired_difference` (two methods over matched units, with an interval that resamples the
  independent clusters -- by default a unit without its seed -- their count, an exact sign-flip p-value, and
  a verdict for "a beats b" that falls back on the exact test when clusters are too few), :func:`claim` and
  :func:`paper_claims` (claims built from every comparison they need);
* :func:`compare_heads` (the protocol on the user's own features, by head name: an internal split per seed or
  leave-one-group-out, named OOD test sets, resumable) and its :class:`Comparison` (per head mean ± std of
  every metric, paired differences to the probe over the independent units, spectra, a decision);
* :func:`recommend_head` (the head to use, by one rule, from validation records) and
  :func:`recommend_head_leaving_out` (the same decision per target domain on the units that never touch it).

Roles are ``"id"``, ``"ood"`` and ``"val"``; :mod:`sknmtune.plotting` orders them that way.
"""

from ._protocol import _spectrum, evaluate_heads
from ._comparison import Comparison, HeadSummary
from ._compare import DEFAULT_HEADS, compare_heads
from ._decision import HeadRecommendation, TargetLeftOut, recommend_head, recommend_head_leaving_out
from ._statistics import (
    MIN_CLUSTERS,
    Association,
    Claim,
    PairedDifference,
    claim,
    paired_difference,
    paper_claims,
    rank_association,
)
from ._summary import seed_summary, summarize

__all__ = ["Association", "Claim", "Comparison", "DEFAULT_HEADS", "HeadRecommendation", "HeadSummary", "MIN_CLUSTERS", "PairedDifference",
           "TargetLeftOut", "claim", "compare_heads", "evaluate_heads", "paired_difference", "paper_claims", "rank_association", "recommend_head",
           "recommend_head_leaving_out", "seed_summary", "summarize"]
