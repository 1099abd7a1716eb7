"""NMTuneClassifierCV(ensemble=...): soft votes of the best candidate per head family, or of the top k."""

from __future__ import annotations

import numpy as np
import pytest

from sknmtune import NMTuneClassifierCV
from sknmtune.heads import head_family

GRID = {"mlp_depth": [0, 2], "reg_lambda": [0.0, 1.0], "max_epochs": [4], "early_stopping": [False]}


def _data(n=150, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    return (rng.normal(size=(n, 5)) + y[:, None]).astype(np.float32), y


def test_families_vote_the_best_candidate_of_each_family_and_reuse_the_selected_refit():
    X, y = _data()
    clf = NMTuneClassifierCV(GRID, random_state=0, ensemble="families").fit(X, y)
    params = [{**clf.best_estimator_.get_params(), **clf.cv_results_["params"][i]} for i in clf.ensemble_indices_]
    families = [head_family(p) for p in params]
    assert sorted(families) == ["mlp", "nmtune", "probe"]
    scores = clf.cv_results_["mean_test_score"]
    for i, family in zip(clf.ensemble_indices_, families):  # each member is its family's best candidate
        rivals = [j for j, p in enumerate(clf.cv_results_["params"])
                  if head_family({**clf.best_estimator_.get_params(), **p}) == family]
        assert scores[i] == max(scores[j] for j in rivals)
    if clf.best_index_ in clf.ensemble_indices_:
        assert any(m is clf.best_estimator_ for m in clf.estimators_)
    mean = np.mean([m.predict_proba(X) for m in clf.estimators_], axis=0)
    np.testing.assert_allclose(clf.predict_proba(X), mean)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[mean.argmax(axis=1)])
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(mean))
    np.testing.assert_array_equal(clf.transform(X), clf.best_estimator_.transform(X))  # Z of the selected head


def test_top_k_votes_the_k_best_and_none_keeps_the_single_head():
    X, y = _data()
    top2 = NMTuneClassifierCV(GRID, random_state=0, ensemble=2).fit(X, y)
    order = np.argsort(-top2.cv_results_["mean_test_score"], kind="stable")
    assert top2.ensemble_indices_ == [int(i) for i in order[:2]] and len(top2.estimators_) == 2
    single = NMTuneClassifierCV(GRID, random_state=0).fit(X, y)
    assert single.estimators_ == [single.best_estimator_] and single.ensemble_indices_ == [single.best_index_]
    np.testing.assert_array_equal(single.predict_proba(X), single.best_estimator_.predict_proba(X))
    assert single.best_index_ == top2.best_index_  # the ensemble does not change the selection


def test_a_one_member_ensemble_is_refused():
    X, y = _data(60)
    with pytest.raises(ValueError, match="ensemble"):
        NMTuneClassifierCV(GRID, ensemble=1).fit(X, y)
