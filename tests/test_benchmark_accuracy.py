"""The accuracy benchmarks (``benchmarks.accuracy``, ``benchmarks.accuracy_imagenet`` and their harness): package-default
methods are refitted when the defaults change; records come from sknmtune.evaluation.evaluate_heads in the stored format."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import driver, text_cifar  # noqa: E402
from benchmarks.harness.methods import build  # noqa: E402
from benchmarks.harness.runner import run_benchmark  # noqa: E402
from benchmarks.harness.tasks import JobFeatures, Task  # noqa: E402
from sknmtune import DEFAULT_PARAM_GRID, NMTuneClassifier, NMTuneClassifierCV  # noqa: E402

SCALE = text_cifar.SCALES["quick"]


def _make_estimator(method, seed):
    return build(method, seed, max_epochs=SCALE.max_epochs, device="cpu")


def test_default_methods_are_the_package_defaults():
    default = _make_estimator("nmtune-default", 3)
    assert isinstance(default, NMTuneClassifier)
    assert driver.spec(default) == driver.spec(NMTuneClassifier())
    recommended = _make_estimator("recommended", 3)
    assert isinstance(recommended, NMTuneClassifierCV) and recommended.random_state == 3
    # the CV head keeps the package's default device: its stored configuration has no base estimator
    assert recommended.estimator is None and driver.spec(recommended) == driver.spec(NMTuneClassifierCV())


def test_spec_spells_out_the_default_grid_and_the_base_estimator():
    spec = driver.spec(NMTuneClassifierCV())
    assert spec["param_grid"] == driver.spec(NMTuneClassifierCV(param_grid=DEFAULT_PARAM_GRID))["param_grid"]
    assert spec["param_grid"][0]["mlp_depth"] == [0]
    nested = driver.spec(NMTuneClassifierCV(estimator=NMTuneClassifier(lr=0.5)))
    assert nested["estimator"]["lr"] == 0.5 and "random_state" not in nested["estimator"]


def test_stale_units_flags_records_fitted_with_other_defaults():
    current = {"recommended": driver.spec(NMTuneClassifierCV()), "nmtune-default": driver.spec(NMTuneClassifier())}
    old_grid = [{"mlp_depth": [0], "lr": [1e-2]}]

    def rec(method, spec, task="t", n_train=500):
        return {"method": method, "task": task, "backbone": "b", "seed": 0, "n_train": n_train, "spec": spec}

    records = [rec("recommended", driver.spec(NMTuneClassifierCV(param_grid=old_grid))),
               rec("nmtune-default", current["nmtune-default"]), {**rec("lp", None), "spec": None}]
    assert driver.stale_units(records, current) == {"recommended": {("t", "b", 0)}}
    records[0]["spec"] = current["recommended"]
    assert driver.stale_units(records, current) == {}
    records.append(rec("nmtune-default", None, task="u"))  # a record without a spec predates the check: stale
    assert driver.stale_units(records, current) == {"nmtune-default": {("u", "b", 0)}}


def test_a_new_subsample_default_leaves_the_units_it_does_not_change():
    default = driver.spec(NMTuneClassifierCV())
    assert default["selection_rows"] == 2000
    before = {k: v for k, v in default.items() if k != "selection_rows"}  # stored before the parameter existed
    records = [{"method": "recommended", "task": t, "backbone": "b", "seed": 0, "n_train": n, "spec": before}
               for t, n in (("small", 1200), ("edge", 2000), ("large", 8000))]
    assert driver.stale_units(records, {"recommended": default}) == {"recommended": {("large", "b", 0)}}
    assert driver.same_computation({**before, "selection_rows": None}, default, 2000)
    assert not driver.same_computation({**before, "selection_rows": 1000}, default, 1500)
    assert not driver.same_computation({**before, "selection_rows": None, "cv": 5}, default, 100)
    assert not driver.same_computation(before, default, None)


def test_recommended_lambda0_is_the_default_selection_without_nmtune_candidates():
    est = _make_estimator("recommended-lambda0", 1)
    grid = est.param_grid
    assert [set(part) for part in grid] == [set(part) for part in DEFAULT_PARAM_GRID]
    assert all(v == 0 for part in grid for v in part.get("reg_lambda", []))
    assert any(part.get("reg_lambda") == [0.0] for part in grid)
    # everything else is the default grid's
    strip = [{k: v for k, v in part.items() if k != "reg_lambda"} for part in grid]
    assert strip == [{k: v for k, v in part.items() if k != "reg_lambda"} for part in DEFAULT_PARAM_GRID]
    assert est.random_state == 1


def _job(name: str, n_train: int, seed: int = 0) -> JobFeatures:
    import numpy as np

    rng = np.random.default_rng(seed)

    def split(n: int, shift: float = 0.0) -> tuple:
        y = np.arange(n) % 3
        return (rng.normal(size=(n, 6)) + 0.8 * y[:, None] + shift).astype(np.float32), y

    task = Task(name, "image", f"{name}-train", f"{name}-test", lambda s: None, "")
    splits = {"train": split(n_train), "val": split(12), "test": split(15), "ood:shift": split(9, 1.0)}
    return JobFeatures(task, text_cifar.BACKBONES["cifar_resnet20"], splits, {}, {}, 0.0)


def _make(method: str, seed: int):
    if method == "logreg":  # the benchmark's probe, smaller
        from sklearn.linear_model import LogisticRegressionCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(), LogisticRegressionCV(Cs=2, cv=2, l1_ratios=(0.0,), use_legacy_attributes=False))
    return NMTuneClassifier.from_preset(method, max_epochs=2, random_state=seed, device="cpu")


def test_records_keep_the_stored_format(count_decompositions):
    import numpy as np

    from sknmtune.spectral import spectral_summary

    job, records = _job("toy", 40), []
    count_decompositions.clear()
    run_benchmark([job], (0,), ["lp", "logreg", "mlp"], set(), 1, records.extend, make=_make, validation=True)
    common = ["task", "role", "train_domain", "test_domain", "backbone", "family", "modality", "method", "seed",
              "accuracy", "macro_f1", "sve_F", "lsvr_F", "sve_Z", "lsvr_Z", "fit_seconds", "n_train", "n_test", "n_features"]
    # one decomposition per test set for F (3) and per test set for the MLP's Z (3); none for the probe's Z
    assert len(count_decompositions) == 6
    by = {(r["method"], r["role"], r["test_domain"]): r for r in records}
    assert sorted(by) == sorted((m, role, d) for m in ("lp", "logreg", "mlp")
                                for role, d in (("ID", "toy-test"), ("OOD", "shift"), ("val", "toy-test")))
    assert list(by[("logreg", "ID", "toy-test")]) == common + ["chosen_C"]
    assert list(by[("lp", "OOD", "shift")]) == common + ["max_epochs", "n_iter"]  # no best_epoch: not a stored field
    lp = by[("lp", "OOD", "shift")]
    assert (lp["task"], lp["train_domain"], lp["family"], lp["n_train"], lp["n_test"], lp["n_features"], lp["max_epochs"]) == (
        "toy", "toy-train", "vision: CIFAR ResNet", 40, 9, 6, 2)
    F, y = job.splits["ood:shift"]
    summary = spectral_summary(F)
    assert (lp["sve_F"], lp["lsvr_F"]) == (summary["sve"], summary["lsvr"])
    assert (lp["sve_Z"], lp["lsvr_Z"]) == (lp["sve_F"], lp["lsvr_F"])  # a linear probe's Z is F: its spectrum reused
    assert by[("logreg", "ID", "toy-test")]["sve_Z"] is None and by[("mlp", "ID", "toy-test")]["sve_Z"] is not None
    pred = _make("mlp", 0).fit(*job.splits["train"]).predict(F)
    assert by[("mlp", "OOD", "shift")]["accuracy"] == float(np.mean(pred == y))


def test_run_benchmark_skips_finished_units_and_queues_the_longest_fits_first():
    from sklearn.dummy import DummyClassifier

    fits = []

    class Logged(DummyClassifier):
        def fit(self, X, y):
            fits.append((len(X), self.constant))
            return super().fit(X, y)

    small, large = _job("small", 10), _job("large", 30)
    done = {("large", "cifar_resnet20", "lp", 1)}
    methods = ["lp", "mlp-authors", "recommended"]
    records = []
    run_benchmark([small, large], (0, 1), methods, done, 1, records.extend,
                  make=lambda m, s: Logged(strategy="prior", constant=m))
    # per (job, seed): the heaviest method first, the cheap probe last; finished units are skipped
    assert fits[:3] == [(10, "mlp-authors"), (10, "recommended"), (10, "lp")]
    assert fits[-2:] == [(30, "mlp-authors"), (30, "recommended")]
    assert len(fits) == 11 and len(records) == 11 * 2
    assert {r["role"] for r in records} == {"ID", "OOD"}


def test_imagenet_benchmark_core_methods_alias():
    from benchmarks import accuracy_imagenet as ai

    aliases = {"core": ai.CORE_METHODS}
    assert driver.method_list(["core,mlp-authors"], ai.METHODS, aliases) == [*ai.CORE_METHODS, "mlp-authors"]
    assert driver.method_list(["lp", "core"], ai.METHODS, aliases) == list(ai.CORE_METHODS)  # first mention wins
    assert set(ai.CORE_METHODS) <= set(ai.METHODS)


def test_imagenet_benchmark_refit_drops_only_the_selected_units():
    rows = [{"task": t, "backbone": "b", "seed": s, "method": m}
            for t in ("cifar10", "dtd10") for s in (0, 1) for m in ("lp", "mlp")]
    # `--tasks cifar10 --refit --methods lp`: dtd10's lp records and every mlp record stay
    kept = driver.kept_for_refit(rows, {"lp"}, {("cifar10", "b", 0), ("cifar10", "b", 1)})
    assert sorted((r["task"], r["method"]) for r in kept) == [("cifar10", "mlp")] * 2 + [("dtd10", "lp")] * 2 + [("dtd10", "mlp")] * 2
    # stale defaults (units=None): the method's records go everywhere
    assert {r["method"] for r in driver.kept_for_refit(rows, {"lp"}, None)} == {"mlp"}
