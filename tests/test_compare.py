"""compare_heads: the protocol on the user's features (split per seed, leave-one-group-out, test sets), resuming,
validation at the boundary, and the Comparison it returns (clusters, JSON, data frame)."""

from __future__ import annotations

import json
import os
import signal
import time

import numpy as np
import pytest

import sknmtune.evaluation._compare as compare_module
from sknmtune.evaluation import (
    DEFAULT_HEADS,
    Comparison,
    compare_heads,
    paired_difference,
    recommend_head,
    seed_summary,
)
from sknmtune.evaluation._compare import _plan
from sknmtune.heads import head_names

HEADS = ("lp", "mlp")  # cheap heads; the reference is lp (logreg-cv, the default, is tested in the doctest)
REF = "lp"


def _data(n=140, k=7, d=10, seed=0, shift=0.0):
    rng = np.random.default_rng(seed)
    y = np.tile(np.arange(k), n // k)
    X = rng.normal(size=(n, d)) + 2.0 * np.eye(k, d)[y] + shift
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def split_run():
    X, y = _data()
    return X, y, compare_heads(X, y, heads=HEADS, reference=REF, n_seeds=2, progress=False)


@pytest.fixture(scope="module")
def grouped_run():
    X, y = _data(n=168)
    groups = np.repeat(np.array(["art", "photo", "sketch"]), 56)
    X[groups == "sketch"] += 0.7
    Xs, ys = _data(n=42, seed=3, shift=1.0)
    comparison = compare_heads(X, y, groups=groups, test_sets={"shifted": (Xs, ys)}, heads=HEADS, reference=REF,
                               n_seeds=1, progress=False)
    return X, y, groups, comparison


def test_default_heads_are_registered_and_include_the_probe():
    assert set(DEFAULT_HEADS) <= set(head_names()) and "logreg-cv" in DEFAULT_HEADS


def test_split_protocol_draws_its_own_stratified_split_per_seed():
    _, y = _data()
    splits = _plan(y, None, [0, 1, 2], 0.2)
    assert [s.seed for s in splits] == [0, 1, 2]
    for s in splits:
        assert np.intersect1d(s.train, s.val).size == 0 and s.train.size + s.val.size == y.size
        assert np.array_equal(np.bincount(y[s.val]), np.full(7, 4))  # stratified: 4 of each class's 20
    assert not np.array_equal(splits[0].val, splits[1].val)  # a new split per seed
    assert np.array_equal(_plan(y, None, [1], 0.2)[0].val, splits[1].val)  # a seed's split depends on it alone


def test_split_run_records_and_summary(split_run):
    X, y, c = split_run
    assert c.protocol == "split" and c.roles == ("val",) and c.heads == HEADS
    assert len(c.records) == 4  # 2 heads x 2 seeds x 1 test set
    for r in c.records:
        assert r["n_train"] == 112 and r["n_test"] == 28 and r["held_out"] is None
        assert r["top5_accuracy"] >= r["accuracy"] and r["worst_group_accuracy"] is None
        assert 0.0 <= r["balanced_accuracy"] <= 1.0
        assert len(r["singular_values_F"]) == 10
    lp = c.summaries["lp"]
    assert lp.n_fits == 2 and lp.fit_seconds > 0
    assert lp.value("val") == seed_summary(c.records, by=("method", "role"))[("lp", "val")]
    assert set(c.spectra) == {"F", "lp", "mlp"} and c.spectra["mlp"].size == 10
    assert np.allclose(c.spectra["lp"], c.spectra["F"])  # a linear probe's Z is F
    assert c.spectra["F"].sum() == pytest.approx(1.0)


def test_split_run_intervals_resample_seeds(split_run):
    _, _, c = split_run
    d = c.summaries["mlp"].differences["val"]
    assert d.clusters == ("seed",) and d.n_clusters == 2 and d.n_units == 2 and d.few_clusters
    expected = paired_difference(c.records, "mlp", "lp", role="val", units=("seed", "domain"), clusters=("seed",))
    assert (d.mean, d.low, d.high, d.p_value) == (expected.mean, expected.low, expected.high, expected.p_value)
    assert c.summaries["lp"].differences == {}
    rec = recommend_head(c.records, reference="lp", units=("seed", "domain"), clusters=("seed",))
    assert c.recommendation.head == rec.head and c.recommendation.means == rec.means


def test_leave_one_group_out_protocol(grouped_run):
    X, y, groups, c = grouped_run
    assert c.protocol == "leave-one-group-out" and c.roles == ("ood", "val")
    assert {r["held_out"] for r in c.records} == {"art", "photo", "sketch"}
    for r in c.records:
        if r["role"] == "ood" and r["domain"] != "shifted":
            assert r["domain"] == r["held_out"] and r["n_test"] == 56  # the whole held-out group
            assert r["worst_group_accuracy"] is None
        if r["role"] == "val":
            assert r["n_train"] + r["n_test"] == 112  # the two source groups only
            assert r["worst_group_accuracy"] <= r["accuracy"]  # the worst source group
    d = c.difference("mlp", role="ood")
    assert d.clusters == ("held_out",) and d.n_clusters == 3 and d.n_units == 6  # 3 groups x (itself + shifted)
    assert c.summaries["mlp"].differences["ood"] == d


def test_sources_validation_split_is_stratified_by_source_and_class(grouped_run):
    _, y, groups, _ = grouped_run
    art = _plan(y, groups, [0], 0.25)[0]
    assert art.held_out == "art" and set(groups[art.train]) == set(groups[art.val]) == {"photo", "sketch"}
    assert np.array_equal(np.unique(groups[art.val], return_counts=True)[1], [14, 14])
    assert np.array_equal(art.ood, np.flatnonzero(groups == "art"))


def test_in_domain_and_named_test_sets():
    X, y = _data()
    Xt, yt = _data(n=35, seed=1)
    Xs, ys = _data(n=35, seed=2, shift=1.5)
    c = compare_heads(X, y, X_test=Xt, y_test=yt, test_sets={"shifted": (Xs, ys)}, heads=HEADS, reference=REF,
                      n_seeds=1, progress=False)
    assert c.roles == ("id", "ood", "val")
    assert {(r["role"], r["domain"], r["n_test"]) for r in c.records} == {("id", "id", 35), ("ood", "shifted", 35),
                                                                          ("val", "val", 28)}
    assert "singular_values_F" not in next(r for r in c.records if r["role"] == "id")


def test_a_killed_run_resumes_without_refitting_finished_units(split_run, monkeypatch):
    X, y, fresh = split_run
    done: list[dict] = []

    def killed_after_two(records):
        done.extend(records)
        if len(done) == 2:
            raise KeyboardInterrupt  # what a kill looks like from inside on_record

    with pytest.raises(KeyboardInterrupt):
        compare_heads(X, y, heads=HEADS, reference=REF, n_seeds=2, progress=False, on_record=killed_after_two)
    assert len(done) == 2
    fits = []
    real = compare_module.evaluate_heads
    monkeypatch.setattr(compare_module, "evaluate_heads",
                        lambda heads, *a, **k: fits.append(list(heads)) or real(heads, *a, **k))
    new: list[dict] = []
    resumed = compare_heads(X, y, heads=HEADS, reference=REF, n_seeds=2, progress=False, records=done,
                            on_record=new.extend)
    assert len(fits) == 2 and len(new) == 2  # only the two unfinished units were fitted
    assert [r for r in resumed.records if r in done] == done  # the finished ones are reused as they were
    key = ("method", "seed", "role", "accuracy", "balanced_accuracy", "macro_f1")
    assert [[r[k] for k in key] for r in resumed.records] == [[r[k] for k in key] for r in fresh.records]
    again = compare_heads(X, y, heads=HEADS, reference=REF, n_seeds=2, progress=False, records=resumed.records)
    assert len(fits) == 2 and again.records == resumed.records  # nothing left to fit


def test_ctrl_c_swallowed_inside_a_fit_still_stops_the_run(split_run, monkeypatch):
    """skorch ends a torch head's epoch loop on KeyboardInterrupt and returns as if the fit were done; the unit it
    cut short must not be recorded, and the run must stop."""
    X, y, _ = split_run
    real = compare_module.evaluate_heads

    def fit_that_swallows_ctrl_c(heads, *args, **kwargs):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1.0)  # the signal arrives during the "fit"
        except KeyboardInterrupt:
            pass  # what skorch does
        return real(heads, *args, **kwargs)

    monkeypatch.setattr(compare_module, "evaluate_heads", fit_that_swallows_ctrl_c)
    saved: list[dict] = []
    with pytest.raises(KeyboardInterrupt):
        compare_heads(X, y, heads=HEADS, reference=REF, n_seeds=1, progress=False, on_record=saved.extend)
    assert saved == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the caller's handler is back


def test_resuming_on_other_data_is_refused(split_run):
    X, y, c = split_run
    with pytest.raises(ValueError, match="other data or with another protocol"):
        compare_heads(X + 1, y, heads=HEADS, reference=REF, n_seeds=2, progress=False, records=c.records)
    with pytest.raises(ValueError, match="other data or with another protocol"):
        compare_heads(X, y, heads=HEADS, reference=REF, n_seeds=2, test_size=0.3, progress=False,
                      records=c.records)
    with pytest.raises(ValueError, match="records of an earlier compare_heads run"):
        compare_heads(X, y, heads=HEADS, reference=REF, progress=False, records=[{"accuracy": 1.0}])


@pytest.mark.parametrize("kwargs, message", [
    ({"heads": ("lp", "nope")}, r"unknown head\(s\) \['nope'\]"),
    ({"reference": "logreg-cv"}, "reference 'logreg-cv' is not among the heads"),
    ({"heads": ()}, "heads is empty"),
    ({"heads": ("lp", "lp", "mlp")}, "repeats a name"),
    ({"heads": ("lp", "cv-groups")}, "need groups"),
    ({"n_seeds": 0}, "n_seeds must be a positive integer"),
    ({"test_size": 1.5}, "test_size must be a fraction"),
    ({"random_state": None}, "random_state must be an integer"),
    ({"X_test": np.zeros((3, 10))}, "X_test and y_test together"),
    ({"test_sets": {"val": (np.zeros((3, 10)), [0, 1, 2])}}, "other than"),
    ({"test_sets": {"b": (np.zeros((3, 4)), [0, 1, 2])}}, "has 4 features but X has 10"),
    ({"test_sets": {"b": np.zeros((3, 10))}}, "must be a pair"),
    ({"groups": ["a"] * 140}, "single group"),
    ({"groups": ["a"] * 70 + ["b"] * 69}, "has 139 labels for 140 rows"),
])
def test_bad_arguments_are_named(kwargs, message):
    X, y = _data()
    kwargs = {"heads": HEADS, "reference": REF, "progress": False, **kwargs}
    with pytest.raises(ValueError, match=message):
        compare_heads(X, y, **kwargs)


def test_bad_labels_are_named():
    X, y = _data()
    with pytest.raises(ValueError, match="single class"):
        compare_heads(X, np.zeros(140, dtype=int), heads=HEADS, reference=REF, progress=False)
    y1 = y.copy()
    y1[0] = 99
    with pytest.raises(ValueError, match="class 99 has a single row"):
        compare_heads(X, y1, heads=HEADS, reference=REF, progress=False)
    groups = np.where(y == 0, "a", "b")  # holding out 'b' leaves one class
    with pytest.raises(ValueError, match="holding out group 'b'"):
        compare_heads(X, y, groups=groups, heads=HEADS, reference=REF, progress=False)


def test_comparison_round_trips_through_json(grouped_run, tmp_path):
    *_, c = grouped_run
    text = c.to_json(tmp_path / "c.json")
    data = json.loads(text)
    assert data["protocol"] == "leave-one-group-out" and data["clusters"] == ["held_out"]
    assert data["summary"]["mlp"]["differences"]["ood"]["n_clusters"] == 3
    back = Comparison.from_json(tmp_path / "c.json")
    assert back.summaries == c.summaries and back.clusters == c.clusters
    assert set(back.spectra) == set(c.spectra) and np.allclose(back.spectra["F"], c.spectra["F"])
    with pytest.raises(ValueError, match="no 'records'"):
        Comparison.from_json("{}")


def test_comparison_as_a_data_frame(split_run):
    pd = pytest.importorskip("pandas")
    *_, c = split_run
    frame = c.to_frame()
    assert isinstance(frame, pd.DataFrame) and len(frame) == len(c.records)
    assert "singular_values_F" not in frame.columns and {"method", "seed", "accuracy", "top5_accuracy"} <= set(frame)
    rows = c.summary_rows()
    assert [r["head"] for r in rows] == list(HEADS) and rows[1]["val_clusters"] == 2 and "val_diff" not in rows[0]


def test_from_records_checks_its_input(split_run):
    *_, c = split_run
    with pytest.raises(ValueError, match="got none"):
        Comparison.from_records([], reference=REF)
    with pytest.raises(ValueError, match="lacks \\['accuracy'\\]"):
        Comparison.from_records([{"method": "a", "role": "val", "seed": 0}], reference=REF)
    with pytest.raises(ValueError, match="reference 'vote' is not among the heads"):
        Comparison.from_records(c.records, reference="vote")
    with pytest.raises(ValueError, match="have no records"):
        Comparison.from_records(c.records, reference=REF, heads=("lp", "mlp", "vote"))


def test_parallel_fits_give_the_serial_records(split_run):
    from joblib import parallel_config

    X, y, serial = split_run
    calls: list[int] = []
    with parallel_config(backend="threading"):  # the parallel path without starting processes (fits are thread-safe)
        parallel = compare_heads(X, y, heads=HEADS, reference=REF, n_seeds=1, n_jobs=2, progress=False,
                                 on_record=lambda records: calls.append(len(records)))
    assert calls == [1, 1]  # on_record in this process, once per unit
    key = ("method", "seed", "accuracy", "macro_f1", "sve_Z")
    assert [[r[k] for k in key] for r in parallel.records] == [[r[k] for k in key] for r in serial.records
                                                               if r["seed"] == 0]
