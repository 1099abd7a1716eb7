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
