"""The head registry: one name, one estimator; and its cost model."""

from __future__ import annotations

import pytest
from sklearn.base import clone, is_classifier

from sknmtune.heads import HeadSpec, estimate_fit_seconds, head_names, head_spec, head_table, make_head, register_head
from sknmtune.heads import _registry


def test_every_name_builds_a_fresh_classifier_with_its_seed():
    # register_head's docstring example registers "ridge-example" when the doctests run in this process
    for name in [n for n in head_names() if not n.endswith("-example")]:
        head = make_head(name, random_state=3, device="cpu")
        assert is_classifier(head), name
        clone(head)  # a scikit-learn estimator: its parameters are its state
        assert make_head(name, random_state=3, device="cpu") is not head


def test_families_partition_the_names():
    families = {row["family"] for row in head_table()}
    assert sorted(sum((head_names(f) for f in families), [])) == sorted(head_names())
    with pytest.raises(ValueError, match="family must be one of"):
        head_names("trees")


def test_an_unknown_name_lists_the_choices():
    with pytest.raises(KeyError, match="Unknown head 'nope'; choose one of .*'cv'"):
        head_spec("nope")


def test_a_name_is_registered_once_and_a_family_must_exist():
    with pytest.raises(ValueError, match="already registered"):
        register_head("lp", label="x", family="probe", cost=1.0)(lambda *a, **k: None)
    with pytest.raises(ValueError, match="family must be one of"):
        register_head("new-head", label="x", family="trees", cost=1.0)
    with pytest.raises(ValueError, match="go together"):
        register_head("new-head", label="x", family="selection", cost=1.0, search_rows=100)


def test_the_estimate_is_linear_in_rows_and_width():
    cost = head_spec("lp").cost
    assert estimate_fit_seconds("lp", 1000, 1280) == pytest.approx(cost * 1000)
    assert estimate_fit_seconds("lp", 4000, 640) == pytest.approx(cost * 4000 * 0.5)


def test_a_head_that_searches_on_a_subsample_pays_only_the_refit_beyond_it(monkeypatch):
    spec = HeadSpec("sub", "sub", "selection", 0.04, False, False, lambda *a, **k: None, search_rows=2000,
                    refit_cost=0.01)
    monkeypatch.setitem(_registry._HEADS, "sub", spec)
    assert estimate_fit_seconds("sub", 1500, 1280) == pytest.approx(0.04 * 1500)
    assert estimate_fit_seconds("sub", 10_000, 1280) == pytest.approx(0.04 * 2000 + 0.01 * 8000)
    assert estimate_fit_seconds("sub", 10_000, 2560) == pytest.approx(2 * (0.04 * 2000 + 0.01 * 8000))


@pytest.mark.parametrize("bad", [0, -5, 2.5, True, "10"])
def test_the_estimate_refuses_shapes_that_are_not_positive_integers(bad):
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        estimate_fit_seconds("lp", bad, 1280)
    with pytest.raises(ValueError, match="n_features must be a positive integer"):
        estimate_fit_seconds("lp", 100, bad)
    with pytest.raises(KeyError, match="Unknown head"):
        estimate_fit_seconds("nope", 100, 1280)
