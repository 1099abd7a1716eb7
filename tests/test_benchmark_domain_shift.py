"""``benchmarks.domain_shift`` on synthetic features: protocols, resumable records, selection and the report."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import domain_shift as ds  # noqa: E402
from benchmarks.harness import io, report  # noqa: E402
from benchmarks.harness import methods as hm  # noqa: E402
from benchmarks.harness import pacs_domains as pacs  # noqa: E402


def _fake_features(scale, n=60, d=8, views=pacs.N_VIEWS):
    rng = np.random.default_rng(0)
    out = {}
    for i, domain in enumerate(pacs.DOMAINS):
        y = np.arange(n) % 3
        center = (rng.normal(size=(n, d)) + y[:, None] + 0.3 * i).astype(np.float32)
        V = np.stack([center] + [center + 0.2 * rng.normal(size=center.shape).astype(np.float32)
                                 for _ in range(views)], axis=1)
        parts = pacs.parts(y, scale)
        unused = np.setdiff1d(np.arange(n), parts.view_rows(domain in scale.single_sources))
        V[unused, 1:] = np.nan  # as features(): views only for the rows a protocol trains on
        out[domain] = (V, y, parts)
    return out


@pytest.fixture
def scale():
    return replace(pacs.SCALES["quick"], seeds=(0, 1), source_train_cap=30, single_train_cap=30, max_epochs=15, file_stem="t",
                   lodo_targets=("sketch",), single_sources=("photo",))


def test_protocols_never_train_on_the_target_and_a_rerun_resumes(monkeypatch, tmp_path, scale):
    monkeypatch.setattr(pacs, "features", lambda name, s, device="auto": _fake_features(s))
    monkeypatch.setattr(io, "CACHE_DIR", tmp_path / "cache")
    from sklearn.model_selection import LeaveOneGroupOut

    from sknmtune import NMTuneClassifierCV

    real_build = hm.build
    small = NMTuneClassifierCV({"mlp_depth": [0], "max_epochs": [3]}, cv=LeaveOneGroupOut())  # fails without groups
    monkeypatch.setattr(hm, "build", lambda m, seed, **kw: small if m == "recommended-groups" else real_build(m, seed, **kw))
    store = io.RecordStore(tmp_path / "t.json", ds.record_key)
    methods = ["lp", "logreg", "mlp", "nmtune-paper", "nmtune-authors", "nmtune-authors-views", "recommended-groups"]
    ds.run_fits(scale, methods, 1, "cpu", store)
    recs = store.records
    lodo = [r for r in recs if r["protocol"] == "lodo" and r["selection"] == "train-domain"]
    assert {r["domain"] for r in lodo if r["role"] == "ood"} == {"sketch"}
    assert all("sketch" not in r["sources"] for r in recs if r["protocol"] == "lodo")
    held = {r["selection"] for r in recs if r["selection"].startswith("lodo:")}
    assert held == {"lodo:photo", "lodo:art_painting", "lodo:cartoon"}
    for r in recs:
        if r["selection"].startswith("lodo:"):
            assert r["domain"] == r["selection"].split(":")[1] and r["domain"] not in r["sources"]
    grouped = [r for r in recs if r["method"] == "recommended-groups"]
    assert grouped and all(r["protocol"] == "lodo" for r in grouped)  # needs several source domains
    # LeaveOneGroupOut over the sources: 3 folds in the main fit, 2 in the leave-one-domain-out fits
    assert {r["selection"] for r in grouped} == {"train-domain", "lodo:photo", "lodo:art_painting", "lodo:cartoon"}
    single = [r for r in recs if r["protocol"] == "single"]
    assert {r["role"] for r in single} == {"id", "ood", "val"}
    assert {r["domain"] for r in single if r["role"] == "ood"} == {"art_painting", "cartoon", "sketch"}
    views = [r for r in lodo if r["method"] == "nmtune-authors-views"]
    plain = [r for r in lodo if r["method"] == "nmtune-authors"]
    assert views and plain and [r["accuracy"] for r in views] != [r["accuracy"] for r in plain]
    votes = [r for r in recs if r["method"] == "vote-4"]
    assert {(r["selection"], r["seed"]) for r in votes if r["selection"] == "train-domain"} == {("train-domain", 0), ("train-domain", 1)}
    assert all(r["members"] == "logreg+lp+mlp+nmtune-paper" for r in votes)
    assert not any(r["method"] == "vote-4-views" for r in recs)  # its members were not fitted
    n = len(recs)
    ds.run_fits(scale, methods, 1, "cpu", io.RecordStore(tmp_path / "t.json", ds.record_key))  # nothing left to fit
    assert len(io.RecordStore(tmp_path / "t.json", ds.record_key).records) == n
    text = report.write_domain_shift_report(recs, "t", tmp_path, ds.METHODS)
    assert "NMTune > MLP tuning > LP" in text and (tmp_path / "t.md").read_text() == text
    assert report.write_domain_shift_report(io.read_json(tmp_path / "t.json"), "t", tmp_path, ds.METHODS) == text


def test_head_selection_reads_validation_records_only():
    recs = [
        {"backbone": "b", "unit": "u", "seed": 0, "selection": "train-domain", "role": "val", "method": "lp", "accuracy": 0.9},
        {"backbone": "b", "unit": "u", "seed": 0, "selection": "train-domain", "role": "val", "method": "mlp", "accuracy": 0.8},
        {"backbone": "b", "unit": "u", "seed": 0, "selection": "train-domain", "role": "ood", "method": "mlp", "accuracy": 0.99},
        {"backbone": "b", "unit": "u", "seed": 0, "selection": "lodo:x", "role": "ood", "method": "lp", "accuracy": 0.5},
        {"backbone": "b", "unit": "u", "seed": 0, "selection": "lodo:x", "role": "ood", "method": "mlp", "accuracy": 0.7},
    ]
    assert report.select_heads(recs, ["lp", "mlp"], "train-domain") == {("b", "u", 0): "lp"}
    assert report.select_heads(recs, ["lp", "mlp"], "lodo") == {("b", "u", None): "mlp"}


def test_a_soft_vote_averages_the_members_probabilities():
    from benchmarks.harness.ensembles import vote_records

    y = np.array([0, 1, 1])
    members = {"a": {"d": np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])},
               "b": {"d": np.array([[0.6, 0.4], [0.1, 0.9], [0.7, 0.3]])}}
    template = [{"method": m, "domain": "d", "role": "ood", "seed": 0, "fit_seconds": 2.0, "best_epoch": 3} for m in "ab"]
    (record,) = vote_records("v", members, {"d": y}, template)
    # mean probabilities: [0.75, 0.25], [0.35, 0.65], [0.45, 0.55] -> 0, 1, 1: all right (each member alone: 2 of 3)
    assert record["accuracy"] == 1.0 and record["fit_seconds"] == 4.0 and record["members"] == "a+b"
    assert "best_epoch" not in record and record["method"] == "v"
