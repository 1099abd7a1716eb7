"""A Comparison of a stored benchmark unit gives the benchmark harness's numbers.

One (task, backbone) unit of ``benchmarks/results/accuracy_imagenet.json`` (PACS photo -> art / cartoon / sketch on
EfficientNet-Lite0, 10 heads x 3 seeds) is summarized two ways: by :meth:`Comparison.from_records` (what
``compare_heads`` and ``sknmtune compare`` report) and by the functions the benchmark reports are computed with
(``seed_summary``, ``paired_difference``, the harness's ``family_summary``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from sknmtune.evaluation import Comparison, paired_difference, seed_summary

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "accuracy_imagenet.json"


@pytest.fixture(scope="module")
def unit():
    if not RESULTS.exists():  # pragma: no cover - the results are committed
        pytest.skip(f"{RESULTS} is absent")
    records = json.loads(RESULTS.read_text(encoding="utf-8"))
    chosen = [r for r in records if r["task"] == "pacs-photo" and r["backbone"] == "tf_efficientnet_lite0"]
    assert len(chosen) == 10 * 3 * 4  # heads x seeds x (ID photo + 3 OOD domains)
    return chosen


def test_means_and_spreads_are_seed_summary(unit):
    c = Comparison.from_records(unit, reference="logreg_cv")
    assert c.roles == ("ID", "OOD") and len(c.heads) == 10
    for key in ("accuracy", "macro_f1", "sve_Z", "lsvr_F"):
        expected = seed_summary(unit, key, by=("method", "role"))
        for head, s in c.summaries.items():
            for role in ("ID", "OOD"):
                if (head, role) in expected:
                    assert s.value(role, key) == expected[(head, role)], (head, role, key)
    assert all(s.n_fits == 3 for s in c.summaries.values())  # one fit per seed, whatever its four records
    lp_seconds = [r["fit_seconds"] for r in unit if r["method"] == "lp" and r["role"] == "ID"]
    assert c.summaries["lp"].fit_seconds == pytest.approx(np.mean(lp_seconds))


def test_differences_are_paired_difference(unit):
    c = Comparison.from_records(unit, reference="logreg_cv")
    for head in c.heads:
        if head == "logreg_cv":
            continue
        for role in ("ID", "OOD"):
            expected = paired_difference(unit, head, "logreg_cv", role=role)
            got = c.summaries[head].differences[role]
            assert got == expected, (head, role)
    ood = c.summaries["voting"].differences["OOD"]
    assert ood.n_units == 9 and ood.n_clusters == 3  # 3 target domains x 3 seeds; a domain is the cluster


def test_means_equal_the_harness_family_summary(unit):
    sys.path.insert(0, str(ROOT))
    from benchmarks.harness.tables import family_summary

    c = Comparison.from_records(unit, reference="logreg_cv")
    harness = family_summary(unit)
    family = unit[0]["family"]
    for head, s in c.summaries.items():
        for role in ("ID", "OOD"):
            mean, std, n_seeds = s.value(role)
            h_mean, h_std, _ = harness[(family, head, role)]
            assert mean == pytest.approx(h_mean, abs=1e-12), (head, role)
            # the harness's tables print the population std (ddof=0), seed_summary the sample std (ddof=1)
            assert std == pytest.approx(h_std * np.sqrt(n_seeds / (n_seeds - 1)), abs=1e-12), (head, role)
