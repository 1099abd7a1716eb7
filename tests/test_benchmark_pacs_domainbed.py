"""The DomainBed-scale PACS study's protocol on synthetic features (no backbone): splits, targets, votes, report."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import pacs_domainbed as pd
from benchmarks.harness import io

DOMAINS = pd.DOMAINS


def _feats(n: int = 60, d: int = 6, k: int = 3) -> dict[str, pd.DomainFeatures]:
    rng = np.random.default_rng(0)
    out = {}
    for i, domain in enumerate(DOMAINS):
        y = np.arange(n) % 3
        center = (rng.normal(size=(n, d)) + y[:, None] + 0.3 * i).astype(np.float32)
        views = np.concatenate([center[:, None], center[:, None] + 0.1 * rng.normal(size=(n, k, d))], axis=1)
        out[domain] = pd.DomainFeatures(center, views.astype(np.float32), y)
    return out


SCALE = pd.Scale("test", (0, 1), ("b",), None, DOMAINS, ("photo",), 2, "pacs_test")


def test_the_split_is_resampled_per_seed_and_training_sets_never_touch_their_target():
    feats = _feats()
    first, second = pd.training_sets(feats, SCALE, 0), pd.training_sets(feats, SCALE, 1)
    assert [(t.protocol, t.unit) for t in first] == [("lodo", d) for d in DOMAINS] + [("single", "photo")]
    for ts in first:
        assert not set(ts.ood) & set(ts.sources)  # no test domain is a source
        n_sources = len(ts.sources) * 60
        assert len(ts.y) == int(0.8 * n_sources) and len(ts.validation[1]) == n_sources - len(ts.y)
        assert ts.V.shape[1:] == (4, 6)  # the center crop and the pool of views
    tr0, va0 = pd.split(feats["photo"].y, 0)
    tr1, _ = pd.split(feats["photo"].y, 1)
    assert not np.array_equal(tr0, tr1) and not set(tr0) & set(va0)


def test_a_run_records_every_method_and_the_vote_equals_make_voting_head(tmp_path, monkeypatch):
    from sknmtune import make_voting_head

    feats = _feats()
    monkeypatch.setattr(pd, "features", lambda name, scale, device="auto": feats)
    monkeypatch.setattr(io, "CACHE_DIR", tmp_path / "cache")
    store = io.RecordStore(tmp_path / "r.json", pd._key)
    methods = ["lp", "logreg-cv", "mlp", "nmtune-paper", "nmtune-authors-views"]
    scale = pd.Scale("test", (0,), ("b",), None, ("sketch",), (), 2, "pacs_test")
    pd.run(scale, methods, 1, "cpu", store)
    got = {(r["method"], r["role"], r["domain"]) for r in store.records}
    assert {(m, "ood", "sketch") for m in [*methods, "vote"]} <= got and ("vote", "val", "val") in got
    assert all(r["sve_Z"] is not None for r in store.records if r["method"] == "nmtune-paper")
    # the vote scored from the members' stored probabilities is make_voting_head() fitted on the same rows
    ts = pd.training_sets(feats, scale, 0)[0]
    vote = make_voting_head(random_state=0, device="cpu").set_params(
        lp__max_epochs=2, mlp__max_epochs=2, **{"nmtune-paper__max_epochs": 2})
    vote.fit(np.ascontiguousarray(ts.V[:, 0]), ts.y)
    X_t, y_t = ts.ood["sketch"]
    stored = next(r for r in store.records if r["method"] == "vote" and r["domain"] == "sketch")
    assert stored["accuracy"] == pytest.approx(float(np.mean(vote.predict(X_t) == y_t)))
    # resumable: a second run fits nothing
    before = len(store.records)
    pd.run(scale, methods, 1, "cpu", io.RecordStore(tmp_path / "r.json", pd._key))
    assert len(io.RecordStore(tmp_path / "r.json", pd._key).records) == before


def test_the_report_renders_claims_from_the_records(tmp_path):
    from benchmarks.harness.pacs_report import claim_rows, write_report

    records = [{"protocol": "lodo", "backbone": "b", "unit": d, "sources": "x", "seed": s, "method": m, "role": "ood",
                "domain": d, "accuracy": acc + 0.01 * i, "macro_f1": acc, "fit_seconds": 1.0, "sve_Z": None,
                "lsvr_Z": None}
               for i, d in enumerate(DOMAINS) for s in range(2)
               for m, acc in (("lp", 0.6), ("mlp", 0.62), ("nmtune-paper", 0.65))]
    rows = claim_rows(records)
    main = next(r for r in rows if r["claim"] == "NMTune > max(LP, MLP)")
    assert main["verdict"] == "inconclusive"  # 4 target domains: the exact test cannot reach p <= 0.05
    assert all(c["n_clusters"] == 4 for c in main["comparisons"]) and "4 target domains" in main["comparisons"][0]["text"]
    write_report(records, "pacs_test", tmp_path, pd.labels())
    text = (tmp_path / "pacs_test.md").read_text()
    assert "| b / lodo | paper equations | NMTune > max(LP, MLP) | **inconclusive** |" in text
