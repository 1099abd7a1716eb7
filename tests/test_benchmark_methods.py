"""The benchmark harness's one method table (``benchmarks/harness/methods.py``) and its task registration.

Every stored method name builds through ``sknmtune.heads.make_head``; the overrides keep the configurations the
stored records were fitted with; the data each method trains on is handed to ``evaluate_heads`` in one place.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import methods as hm  # noqa: E402
from benchmarks.harness.tasks import TaskData, register_task  # noqa: E402


def test_every_stored_method_builds_through_the_registry(monkeypatch):
    import sknmtune.heads

    calls = []
    real = sknmtune.heads.make_head

    def spy(name, **kwargs):
        calls.append((name, kwargs))
        return real(name, **kwargs)

    monkeypatch.setattr(sknmtune.heads, "make_head", spy)
    for name, method in hm.METHODS.items():
        calls.clear()
        estimator = hm.build(name, 4, max_epochs=7, device="cpu")
        assert [c[0] for c in calls[:1]] == [method.head], name
        assert calls[0][1]["random_state"] == 4
        assert calls[0][1]["device"] == ("cpu" if method.device else "auto")
        assert ("max_epochs" in calls[0][1]) == method.epochs, name
        assert estimator is not None
    with pytest.raises(ValueError, match="unknown method"):
        hm.build("no-such-method", 0)


def test_the_stored_configurations_are_kept():
    from sklearn.model_selection import StratifiedKFold

    from sknmtune import NMTuneClassifierCV

    # the accuracy benchmarks' probe: C by 5 stratified folds shuffled with the fit's seed
    folds = hm.build("logreg", 3)[-1].cv
    assert isinstance(folds, StratifiedKFold) and (folds.n_splits, folds.shuffle, folds.random_state) == (5, True, 3)
    # the ImageNet benchmark's probe: scikit-learn's defaults, 10 Cs
    probe = hm.build("logreg_cv", 3)[-1]
    assert (probe.Cs, probe.cv, probe.max_iter) == (10, None, 5000)
    # presets: the scale's epoch budget when it sets one, the preset's own otherwise
    assert hm.build("nmtune-authors-views", 0, max_epochs=10).max_epochs == 10
    assert hm.build("nmtune-authors", 0).max_epochs == 30
    # the cross-validated heads keep the package's default device (their stored spec has no base estimator)
    for name in ("recommended", "recommended-lambda0", "recommended-families", "recommended-groups"):
        head = hm.build(name, 1, device="cpu")
        assert isinstance(head, NMTuneClassifierCV) and head.estimator is None and head.random_state == 1, name
    assert hm.build("recommended-no-racing", 0).racing is None
    assert hm.package_default_methods(["lp", "recommended", "nmtune-default", "voting", "recommended-lambda0"]) == [
        "recommended", "nmtune-default", "recommended-lambda0"]


def test_every_benchmark_names_only_methods_of_the_table():
    from benchmarks import accuracy, accuracy_imagenet, domain_shift, fit_time, label_noise
    from benchmarks.harness.ensembles import ENSEMBLE_LABELS, ENSEMBLES

    for script in (accuracy, accuracy_imagenet, domain_shift, fit_time, label_noise):
        assert set(script.METHODS) <= set(hm.METHODS), script.__name__
    assert {m for members in ENSEMBLES.values() for m in members} <= set(hm.METHODS)
    assert set(ENSEMBLE_LABELS) == set(ENSEMBLES)


def test_labels_come_from_the_table_the_registry_or_the_votes():
    from sknmtune.heads import head_spec

    assert hm.label("mlp-authors") == "MLP tuning (authors' MLP), center crops"  # the table's own wording
    assert hm.label("recommended") == head_spec("cv").label
    assert hm.label("vote-4").startswith("soft vote:")
    assert hm.label("a-name-no-report-knows") == "a-name-no-report-knows"


def test_training_data_hands_views_and_groups_to_the_methods_that_take_them():
    V = np.arange(4 * 3 * 2, dtype=np.float32).reshape(4, 3, 2)
    y, groups = np.array([0, 1, 0, 1]), np.array(["a", "a", "b", "b"])
    data = hm.training_data(["lp", "nmtune-authors-views", "recommended-groups"], V, y, groups)
    assert set(data) == {"nmtune-authors-views", "recommended-groups"}  # lp trains on evaluate_heads' F_train
    assert data["nmtune-authors-views"][0] is V
    center, labels, fit_params = data["recommended-groups"]
    np.testing.assert_array_equal(center, V[:, 0])
    assert labels is y and fit_params["groups"] is groups and center.flags["C_CONTIGUOUS"]
    assert hm.needs_groups("recommended-groups") and not hm.needs_groups("recommended")
    with pytest.raises(ValueError, match="groups"):
        hm.training_data(["recommended-groups"], V, y)


def test_costs_order_the_fits_from_the_registry():
    from sknmtune.heads import head_spec

    costs = hm.costs(["mlp-authors", "mlp-authors-views", "lp", "paper-lambda0.1"], default=0.5)
    assert costs["mlp-authors"] == head_spec("mlp-authors").cost
    assert costs["mlp-authors-views"] == 2 * costs["mlp-authors"]  # two views per row
    assert costs["lp"] < costs["mlp-authors"] and costs["paper-lambda0.1"] == 0.5


def test_cv_model_seed_is_the_seed_the_cv_head_trains_its_candidates_with():
    from sknmtune.heads import make_head

    rng = np.random.default_rng(0)
    y = np.arange(40) % 2
    X = (rng.normal(size=(40, 3)) + y[:, None]).astype(np.float32)
    grid = [{"mlp_depth": [0], "max_epochs": [1]}]
    for seed in (0, 7):
        fitted = make_head("cv", random_state=seed, param_grid=grid, cv=2).fit(X, y)
        assert fitted.best_estimator_.random_state == hm.cv_model_seed(seed)


def test_a_task_is_registered_once_by_decorating_its_builder():
    tasks = {}

    @register_task(tasks, "toy", modality="image", domain="toy-train", description="a toy task")
    def build(scale):
        return TaskData(None, None, None, {})

    task = tasks["toy"]
    assert (task.name, task.modality, task.train_domain, task.test_domain, task.build) == (
        "toy", "image", "toy-train", "toy-train", build)
    with pytest.raises(ValueError, match="already registered"):
        register_task(tasks, "toy", modality="image", domain="x", description="")(build)


def test_each_suites_full_scale_runs_every_registered_task():
    from benchmarks.harness import imagenet, text_cifar

    for suite in (imagenet, text_cifar):
        assert suite.SCALES["full"].tasks == tuple(suite.TASKS) == suite.ALL_TASKS
        assert set(suite.SCALES["quick"].tasks) <= set(suite.TASKS)
        assert set(suite.SCALES["full"].backbones) == set(suite.BACKBONES)
