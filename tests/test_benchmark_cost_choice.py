"""The cost issue's decisions (``benchmarks/cost_choice.py``): non-inferiority on validation records only."""

from __future__ import annotations

import pytest

from benchmarks.harness.cost_report import MARGIN, decide, report_lines


def _rec(method, unit, accuracy, *, role="val", n_train=5000, params=None, seed=0, seconds=10.0):
    return {"protocol": "lodo", "backbone": "b", "unit": unit, "seed": seed, "method": method, "role": role,
            "accuracy": accuracy, "n_train": n_train, "best_params": params, "fit_seconds": seconds}


def _records(sub_lead, es_lead, n_units=6):
    out = []
    for i in range(n_units):
        unit = f"u{i}"
        small = i == 0  # 1,500 rows: below the subsample, the search is the same
        rows = 1500 if small else 5000
        changed = i in (1, 2)
        out += [_rec("cv", unit, 0.80 + 0.01 * i, n_train=rows, params={"d": 0}, seconds=40.0),
                _rec("cv-sub2000", unit, 0.80 + 0.01 * i + (sub_lead if changed else 0.0), n_train=rows,
                     params={"d": 2} if changed else {"d": 0}, seconds=10.0),
                _rec("vote", unit, 0.85 + 0.01 * i, seconds=50.0),
                _rec("vote-es", unit, 0.85 + 0.01 * i + es_lead * (1 + 0.1 * i), seconds=25.0),
                _rec("cv", unit, 0.1, role="ood", n_train=rows)]  # a target domain: never read
    return out


def test_a_change_is_adopted_only_when_its_interval_stays_above_the_margin():
    out = {c["candidate"]: c for c in decide(_records(sub_lead=0.003, es_lead=-0.01))["changes"]}
    sub = out["cv-sub2000"]
    assert sub["adopt"] and sub["n_clusters"] == 6 and sub["mean"] == pytest.approx(0.001)
    assert sub["units_touched"] == 5 and sub["selections_changed"] == 2  # unit 0 has fewer rows than 2,000
    assert sub["fit_seconds_ratio"] == pytest.approx(0.25)
    es = out["vote-es"]
    assert not es["adopt"] and es["high"] < MARGIN and es["selections_changed"] is None
    assert out["cv-sub1000"]["n_units"] == 0 and out["cv-sub1000"]["adopt"] is None  # not measured: no decision


def test_a_small_loss_inside_the_margin_is_adopted_and_a_larger_one_is_not():
    assert {c["candidate"]: c["adopt"] for c in decide(_records(-0.001, 0.0))["changes"]}["cv-sub2000"]
    assert not {c["candidate"]: c["adopt"] for c in decide(_records(-0.02, 0.0))["changes"]}["cv-sub2000"]


def test_the_table_names_every_change_and_its_verdict():
    lines = report_lines(decide(_records(0.003, -0.01)))
    text = "\n".join(lines)
    assert "| `cv` → `cv-sub2000` | +0.10 [" in text and "| `vote` → `vote-es` | " in text
    assert "| `cv` → `cv-sub1000` | no shared unit yet |" in text
    assert text.count("| yes |") == 1 and text.count("| no |") == 1
