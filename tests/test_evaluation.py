"""sknmtune.evaluation: the one fit-and-score protocol (records, seeds, spectra, summary)."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sknmtune import NMTuneClassifier, make_voting_head, singular_value_entropy
from sknmtune.evaluation import evaluate_heads, summarize


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=3, size=(3, 6))
    y = rng.integers(0, 3, 300)
    F = centers[y] + rng.normal(size=(300, 6))
    return F[:200], y[:200], (F[200:250], y[200:250]), {"shift": (F[250:] + 2.0, y[250:])}


def test_records_cover_heads_seeds_and_domains(data):
    F, y, id_test, ood = data
    heads = {"lp": NMTuneClassifier(mlp_depth=0, max_epochs=3), "logreg": make_pipeline(StandardScaler(), LogisticRegression())}
    records = evaluate_heads(heads, F, y, id_test=id_test, ood_tests=ood, seeds=(0, 1), extra={"task": "blobs"})
    assert len(records) == 2 * 2 * 2
    keys = {(r["method"], r["seed"], r["role"], r["domain"]) for r in records}
    assert ("lp", 1, "ood", "shift") in keys and ("logreg", 0, "id", "id") in keys
    assert all(r["task"] == "blobs" and 0 <= r["accuracy"] <= 1 for r in records)
    lp = next(r for r in records if r["method"] == "lp" and r["role"] == "id")
    assert lp["sve_F"] == pytest.approx(singular_value_entropy(id_test[0]))
    assert lp["sve_Z"] == pytest.approx(lp["sve_F"], rel=1e-5)  # the linear probe's Z is F itself
    assert lp["n_iter"] == 3 and lp["n_train"] == 200 and lp["n_test"] == 50
    logreg = next(r for r in records if r["method"] == "logreg")
    assert logreg["sve_Z"] is None or isinstance(logreg["sve_Z"], float)


def test_a_vote_is_scored_and_seeded_but_records_no_representation_spectrum(data):
    F, y, id_test, ood = data
    head = make_voting_head(("logreg_cv", "lp"), device="cpu").set_params(lp__max_epochs=3)
    records, fitted = evaluate_heads({"vote": head}, F, y, id_test=id_test, ood_tests=ood, seeds=(4,),
                                     return_estimators=True)
    assert fitted[("vote", 4)].named_estimators_["lp"].random_state == 4
    assert {r["domain"] for r in records} == {"id", "shift"}
    assert all(r["sve_Z"] is None and r["lsvr_Z"] is None and r["sve_F"] is not None for r in records)
    assert all(r["accuracy"] > 0.5 for r in records)


def test_seeds_reach_the_estimator_and_are_reproducible(data):
    F, y, id_test, _ = data
    head = {"mlp": NMTuneClassifier(max_epochs=2, reg_lambda=0.0)}
    a = evaluate_heads(head, F, y, id_test=id_test, seeds=(0, 1), spectra=False)
    b = evaluate_heads(head, F, y, id_test=id_test, seeds=(0, 1), spectra=False)
    assert [r["accuracy"] for r in a] == [r["accuracy"] for r in b]
    assert a[0]["sve_F"] is None


def test_summarize_weighs_domains_equally():
    records = [
        {"method": "m", "role": "ood", "domain": "a", "accuracy": 1.0},
        {"method": "m", "role": "ood", "domain": "a", "accuracy": 0.0},
        {"method": "m", "role": "ood", "domain": "b", "accuracy": 1.0},
        {"method": "m", "role": "id", "domain": "id", "accuracy": 0.25},
    ]
    assert summarize(records) == {("m", "id"): 0.25, ("m", "ood"): 0.75}


def test_return_estimators_gives_the_fitted_heads_behind_the_records(data):
    F, y, id_test, _ = data
    head = NMTuneClassifier(mlp_depth=1, max_epochs=2)
    records, fitted = evaluate_heads({"mlp": head}, F, y, id_test=id_test, seeds=(0, 3), return_estimators=True)
    assert sorted(fitted) == [("mlp", 0), ("mlp", 3)]
    assert "module_" not in head.__dict__, "the head passed in stays unfitted (it is cloned)"
    for (_, seed), estimator in fitted.items():
        assert estimator.random_state == seed
        record = next(r for r in records if r["seed"] == seed)
        assert record["accuracy"] == pytest.approx(estimator.score(*id_test))
        assert record["sve_Z"] == pytest.approx(singular_value_entropy(estimator.transform(id_test[0])))


def test_spectra_decompose_each_matrix_once(data, count_decompositions):
    from sknmtune import largest_singular_value_ratio

    F, y, id_test, _ = data
    records = evaluate_heads({"lp": NMTuneClassifier(mlp_depth=0, max_epochs=2)}, F, y, id_test=id_test, seeds=(0,))
    assert len(count_decompositions) == 2  # F and Z of the one test set, one decomposition each (not one per metric)
    assert records[0]["lsvr_F"] == pytest.approx(largest_singular_value_ratio(id_test[0]))
