"""benchmarks/accuracy.py: records of the package-default methods are refitted when the defaults change."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import accuracy as acc  # noqa: E402
from sknmtune import DEFAULT_PARAM_GRID, NMTuneClassifier, NMTuneClassifierCV  # noqa: E402

SCALE = acc.SCALES["quick"]


def test_default_methods_are_the_package_defaults():
    default = acc.make_estimator("nmtune-default", 3, SCALE, "cpu")
    assert isinstance(default, NMTuneClassifier)
    assert acc.spec(default) == acc.spec(NMTuneClassifier())
    recommended = acc.make_estimator("recommended", 3, SCALE, "cpu")
    assert isinstance(recommended, NMTuneClassifierCV) and recommended.random_state == 3


def test_spec_spells_out_the_default_grid_and_the_base_estimator():
    spec = acc.spec(NMTuneClassifierCV())
    assert spec["param_grid"] == acc.spec(NMTuneClassifierCV(param_grid=DEFAULT_PARAM_GRID))["param_grid"]
    assert spec["param_grid"][0]["mlp_depth"] == [0]
    nested = acc.spec(NMTuneClassifierCV(estimator=NMTuneClassifier(lr=0.5)))
    assert nested["estimator"]["lr"] == 0.5 and "random_state" not in nested["estimator"]


def test_stale_methods_flags_records_fitted_with_other_defaults():
    current = {"recommended": acc.spec(NMTuneClassifierCV()), "nmtune-default": acc.spec(NMTuneClassifier())}
    old_grid = [{"mlp_depth": [0], "lr": [1e-2]}]
    records = [
        {"method": "recommended", "spec": acc.spec(NMTuneClassifierCV(param_grid=old_grid))},
        {"method": "nmtune-default", "spec": current["nmtune-default"]},
        {"method": "lp"},
    ]
    assert acc.stale_methods(records, current) == {"recommended"}
    records[0]["spec"] = current["recommended"]
    assert acc.stale_methods(records, current) == set()
    records.append({"method": "nmtune-default"})  # a record without a spec predates the check: stale
    assert acc.stale_methods(records, current) == {"nmtune-default"}


def test_recommended_lambda0_is_the_default_selection_without_nmtune_candidates():
    est = acc.make_estimator("recommended-lambda0", 1, SCALE, "cpu")
    grid = est.param_grid
    assert [set(part) for part in grid] == [set(part) for part in DEFAULT_PARAM_GRID]
    assert all(v == 0 for part in grid for v in part.get("reg_lambda", []))
    assert any(part.get("reg_lambda") == [0.0] for part in grid)
    # everything else is the default grid's
    strip = [{k: v for k, v in part.items() if k != "reg_lambda"} for part in grid]
    assert strip == [{k: v for k, v in part.items() if k != "reg_lambda"} for part in DEFAULT_PARAM_GRID]
    assert est.random_state == 1


def test_record_spectra_decompose_each_matrix_once(count_decompositions):
    import numpy as np

    from sknmtune import largest_singular_value_ratio, singular_value_entropy

    Z = np.random.default_rng(0).normal(size=(30, 8))
    want = (singular_value_entropy(Z), largest_singular_value_ratio(Z))
    count_decompositions.clear()
    assert acc._spectral(Z) == want
    assert len(count_decompositions) == 1  # SVE and LSVR from one decomposition: it is most of a record's scoring time


def test_run_benchmark_queues_the_longest_fits_first(monkeypatch):
    import numpy as np

    rng = np.random.default_rng(0)

    def job(name: str, n_train: int) -> acc.JobFeatures:
        task = acc.Task(name, "image", name, name, lambda s: None, "")
        splits = {"train": (rng.normal(size=(n_train, 4)), np.arange(n_train) % 2),
                  "test": (rng.normal(size=(6, 4)), np.arange(6) % 2)}
        return acc.JobFeatures(task, acc.BACKBONES["cifar_resnet20"], splits, {}, {}, 0.0)

    calls = []

    def fake_fit_and_score(method, estimator, job, seed, spec_F, val_key=None):
        calls.append((job.task.name, method, seed))
        return [{"task": job.task.name, "backbone": "b", "method": method, "seed": seed, "fit_seconds": 0.0,
                 "test_domain": "t", "accuracy": 0.5, "role": "ID"}]

    monkeypatch.setattr(acc, "_fit_and_score", fake_fit_and_score)
    small, large = job("small", 10), job("large", 100)
    done = {("large", "cifar_resnet20", "lp", 1)}
    acc.run_benchmark([small, large], acc.replace(SCALE, seeds=(0, 1)), ["lp", "mlp-authors", "recommended"], done,
                      n_jobs=1, device="cpu", on_result=lambda records: None, make=lambda m, s: None)
    # heaviest method x largest training split first, the cheap probe last; finished units are skipped
    assert calls[:2] == [("large", "mlp-authors", 0), ("large", "mlp-authors", 1)]
    assert calls[-3:] == [("large", "lp", 0), ("small", "lp", 0), ("small", "lp", 1)]
    assert len(calls) == 11 and ("large", "lp", 1) not in calls


def test_imagenet_benchmark_core_methods_alias():
    from benchmarks import accuracy_imagenet as ai

    assert ai._method_list(["core,mlp-authors"]) == [*ai.CORE_METHODS, "mlp-authors"]
    assert ai._method_list(["lp", "core"]) == list(ai.CORE_METHODS)  # no duplicates, first mention wins
    assert set(ai.CORE_METHODS) <= set(ai.METHODS)


def test_imagenet_benchmark_refit_drops_only_the_selected_units():
    from benchmarks import accuracy_imagenet as ai

    rows = [{"task": t, "backbone": "b", "seed": s, "method": m}
            for t in ("cifar10", "dtd10") for s in (0, 1) for m in ("lp", "mlp")]
    # `--tasks cifar10 --refit --methods lp`: dtd10's lp records and every mlp record stay
    kept = ai.kept_for_refit(rows, {"lp"}, {("cifar10", "b", 0), ("cifar10", "b", 1)})
    assert sorted((r["task"], r["method"]) for r in kept) == [("cifar10", "mlp")] * 2 + [("dtd10", "lp")] * 2 + [("dtd10", "mlp")] * 2
    # stale defaults (units=None): the method's records go everywhere
    assert {r["method"] for r in ai.kept_for_refit(rows, {"lp"}, None)} == {"mlp"}


def test_a_linear_probe_reuses_the_spectrum_of_f(count_decompositions):
    import numpy as np

    rng = np.random.default_rng(0)
    F = rng.normal(size=(30, 8)).astype(np.float32)
    known = acc._spectral(F)
    count_decompositions.clear()
    assert acc._z_spectrum(F.copy(), F, known) == known  # Z = F (mlp_depth=0 on raw features): no second SVD
    assert len(count_decompositions) == 0
    Z = 2 * F[:, :4]
    assert acc._z_spectrum(Z, F, known) == acc._spectral(Z)
    assert len(count_decompositions) == 2
