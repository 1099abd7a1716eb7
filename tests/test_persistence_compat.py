"""Model files written by an earlier release (before the heads moved into ``sknmtune.heads``) still load.

``tests/data/release-0.1.0`` holds ``.skn`` files written by sknmtune 0.1.0 at commit b42265e (the layout with
``sknmtune/classifier.py``, ``model_selection.py``, ``voting.py`` ...) and the outputs they gave on five rows.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from sknmtune import NMTuneClassifier, NMTuneClassifierCV, NMTuneRegressor
from sknmtune.persistence import load

DATA = Path(__file__).parent / "data" / "release-0.1.0"
EXPECTED = json.loads((DATA / "expected.json").read_text())["outputs"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_files_of_the_previous_layout_load_and_predict_the_same(name):
    model = load(DATA / f"{name}.skn")
    X = np.load(DATA / "X.npy")
    out = model.predict_proba(X) if hasattr(model, "predict_proba") else model.predict(X)
    np.testing.assert_allclose(out, np.asarray(EXPECTED[name]), rtol=1e-6, atol=1e-7)


def test_old_files_load_as_the_new_classes():
    assert type(load(DATA / "classifier.skn")) is NMTuneClassifier
    assert type(load(DATA / "cv.skn")) is NMTuneClassifierCV
    assert type(load(DATA / "regressor.skn")) is NMTuneRegressor
    assert type(load(DATA / "pipeline.skn")[-1]) is NMTuneClassifier


def test_parameters_added_since_load_with_the_value_that_keeps_the_old_behaviour():
    model = load(DATA / "cv.skn")
    assert model.get_params()["selection_rows"] is None  # 0.1.0 searched on every row


def test_a_pickle_without_an_added_parameter_refits():
    import pickle

    X = np.random.default_rng(0).normal(size=(40, 3))
    y = np.arange(40) % 2
    head = NMTuneClassifierCV(param_grid={"mlp_depth": [0], "max_epochs": [2]}, cv=2)
    state = head.__getstate__()
    del state["selection_rows"]  # as sknmtune 0.1 pickled it
    old = NMTuneClassifierCV.__new__(NMTuneClassifierCV)
    old.__setstate__(state)
    assert pickle.loads(pickle.dumps(old)).selection_rows is None
    assert old.fit(X, y).predict(X).shape == (40,)


@pytest.mark.parametrize("old, names", [
    ("classifier", ("NMTuneClassifier", "PRESETS")),
    ("regressor", ("NMTuneRegressor",)),
    ("model_selection", ("NMTuneClassifierCV", "DEFAULT_PARAM_GRID")),
    ("voting", ("make_voting_head", "VOTING_MEMBERS")),
])
def test_old_import_paths_keep_working_with_a_deprecation_warning(old, names):
    import importlib

    import sknmtune.heads as heads

    module = importlib.import_module(f"sknmtune.{old}")
    for name in names:
        with pytest.warns(DeprecationWarning, match=f"sknmtune.heads.{name}"):
            assert getattr(module, name) is getattr(heads, name)
    with pytest.raises(AttributeError):
        getattr(module, "not_a_name")


def test_the_old_vote_member_name_is_accepted_with_a_warning():
    from sknmtune import make_voting_head

    with pytest.warns(DeprecationWarning, match="'logreg-cv'"):
        vote = make_voting_head(("logreg_cv", "lp"))
    assert [name for name, _ in vote.estimators] == ["logreg-cv", "lp"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_voting_head(("logreg-cv", "lp"))
