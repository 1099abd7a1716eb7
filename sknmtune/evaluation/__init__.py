"""The evaluation protocol, once: fit heads on frozen features, score them in and out of domain, summarize.

* :func:`evaluate_heads` fits every head for every seed (in parallel with ``n_jobs``, longest fits
  first) and scores it on the in-domain test set, each out-of-domain test domain and an optional
  validation split: accuracy, macro-F1, the SVE / LSVR of the features ``F`` and of the head's
  representation ``Z`` and the fit time, as tidy records (one dict per head x seed x test set, ready for
  ``pandas.DataFrame``); ``on_record`` and ``skip`` make long runs resumable.
* :func:`summarize` (per method and role), :func:`seed_summary` (mean ± std over seeds) and
  :func:`paired_difference` (paired differences between two methods over matched units, with a
  bootstrap interval and a verdict for a claim "a beats b").

Roles are ``"id"``, ``"ood"`` and ``"val"``; :mod:`sknmtune.plotting` orders them that way.
"""

from ._protocol import _spectrum, evaluate_heads
from ._summary import PairedDifference, paired_difference, seed_summary, summarize

__all__ = ["PairedDifference", "evaluate_heads", "paired_difference", "seed_summary", "summarize"]
