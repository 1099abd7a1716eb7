"""The evaluation layer: parallel fits equal serial ones, resumable runs, validation role, paired intervals."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from sknmtune import NMTuneClassifier
from sknmtune.evaluation import evaluate_heads, paired_difference, seed_summary


def _data(seed=0):
    rng = np.random.default_rng(seed)
    F, y = rng.normal(size=(160, 6)).astype(np.float32), rng.integers(0, 2, 160)
    F[:, 0] += 2 * y
    return F, y


HEADS = {"lp": NMTuneClassifier(mlp_depth=0, max_epochs=3), "mlp": NMTuneClassifier(reg_lambda=0.0, max_epochs=3),
         "logreg": LogisticRegression()}


def _run(**kw):
    F, y = _data()
    return evaluate_heads(HEADS, F[:100], y[:100], id_test=(F[100:130], y[100:130]),
                          ood_tests={"shift": (F[130:] + 0.5, y[130:])}, validation=(F[130:], y[130:]),
                          seeds=(0, 1), **kw)


def test_parallel_fits_give_the_serial_records_in_the_same_order():
    serial, parallel = _run(), _run(n_jobs=2, costs={"mlp": 2.0, "lp": 1.0})
    strip = lambda rs: [{k: v for k, v in r.items() if k != "fit_seconds"} for r in rs]  # noqa: E731
    assert strip(serial) == strip(parallel)
    assert [(r["method"], r["seed"], r["role"]) for r in serial[:3]] == [("lp", 0, "id"), ("lp", 0, "ood"), ("lp", 0, "val")]


def test_on_record_streams_each_fit_and_skip_resumes():
    seen = []
    records = _run(on_record=seen.append, skip=lambda m, s: (m, s) == ("mlp", 1))
    assert len(seen) == 5 and all(len(batch) == 3 for batch in seen)
    assert ("mlp", 1) not in {(r["method"], r["seed"]) for r in records}
    assert len(records) == 15


def test_a_probe_reuses_the_spectrum_of_f(count_decompositions):
    F, y = _data()
    evaluate_heads({"lp": NMTuneClassifier(mlp_depth=0, max_epochs=2)}, F[:100], y[:100], id_test=(F[100:], y[100:]))
    assert len(count_decompositions) == 1  # F's; Z of a linear probe is F itself


def test_test_set_names_must_be_distinct_and_one_is_needed():
    F, y = _data()
    with pytest.raises(ValueError, match="at least one"):
        evaluate_heads(HEADS, F, y)
    with pytest.raises(ValueError, match="distinct"):
        evaluate_heads(HEADS, F, y, id_test=(F, y), ood_tests={"id": (F, y)})


def test_paired_difference_verdicts_and_seed_summary():
    base = [{"method": m, "role": "ood", "domain": d, "seed": s, "task": "t", "accuracy": v + 0.001 * s}
            for s in range(5) for d in "ab" for m, v in (("a", 0.6), ("b", 0.5), ("c", 0.6))]
    noisy = [dict(r, accuracy=r["accuracy"] + (0.05 if (r["seed"] % 2) else -0.05)) if r["method"] == "c" else r
             for r in base]
    # seeds declared independent (each its own split): the 10 units are the clusters
    independent = {"clusters": ("domain", "seed", "task"), "bootstrap": "unit", "min_clusters": 6}
    assert paired_difference(base, "a", "b", role="ood", **independent).verdict == "reproduced"
    assert paired_difference(base, "b", "a", role="ood", **independent).verdict == "refuted"
    diff = paired_difference(noisy, "c", "a", role="ood", **independent)
    assert diff.verdict == "inconclusive" and diff.low < 0 < diff.high and diff.n_units == 10
    # by default seeds sharing a split are one cluster: 2 domains cannot decide anything
    default = paired_difference(base, "a", "b", role="ood")
    assert (default.n_clusters, default.few_clusters, default.p_value, default.verdict) == (2, True, 0.5, "inconclusive")
    assert paired_difference(base, "a", "zzz").verdict == "no data"
    summary = seed_summary(base)
    mean, std, n = summary[("a", "ood")]
    assert n == 5 and mean == pytest.approx(0.602) and std == pytest.approx(np.std([0.001 * s for s in range(5)], ddof=1))


def test_on_proba_hands_back_each_fits_probabilities_and_predictions_follow_them():
    got = {}
    records = _run(on_proba=lambda m, s, p: got.update({(m, s): p}))
    assert set(got) == {(m, s) for m in HEADS for s in (0, 1)}
    F, y = _data()
    for r in records:
        proba = got[(r["method"], r["seed"])][r["domain"]]
        truth = {"id": y[100:130], "shift": y[130:], "val": y[130:]}[r["domain"]]
        assert proba.shape == (len(truth), 2)
        assert r["accuracy"] == pytest.approx(np.mean(proba.argmax(axis=1) == truth))
