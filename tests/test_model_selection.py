"""Pipeline + GridSearchCV over lambda x depth, locally and on a Dask cluster through joblib."""

import numpy as np
import pytest
from joblib import parallel_backend
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sknmtune import NMTuneClassifier, SpectralScorer

GRID = {"head__reg_lambda": [0.0, 0.01], "head__mlp_depth": [0, 2]}
SCORING = {"acc": "accuracy", "sve": SpectralScorer("sve"), "lsvr": SpectralScorer("neg_lsvr")}


@pytest.fixture(scope="module")
def data():
    X, y = load_digits(return_X_y=True)
    return X[:400] / 16.0, y[:400]


def _search(n_jobs):
    pipe = Pipeline([("scale", StandardScaler()), ("head", NMTuneClassifier(max_epochs=2, random_state=0))])
    return GridSearchCV(pipe, GRID, scoring=SCORING, refit="acc", cv=2, n_jobs=n_jobs)


def test_grid_search_on_a_local_dask_cluster_matches_serial(data):
    distributed = pytest.importorskip("distributed")
    psutil = pytest.importorskip("psutil")
    X, y = data
    serial = _search(n_jobs=1).fit(X, y)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, protocol="tcp://", host="127.0.0.1",
        dashboard_address="127.0.0.1:0",  # None still starts the scheduler's HTTP server, on the fixed port 8787
    ) as cluster, distributed.Client(cluster) as client:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        listening = [c.laddr for c in psutil.Process().net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
        assert listening and all(a.ip == "127.0.0.1" and a.port != 8787 for a in listening), listening
        with parallel_backend("dask"):
            remote = _search(n_jobs=2).fit(X, y)
        assert client.status == "running"
    for key in ("mean_test_acc", "mean_test_sve", "mean_test_lsvr"):
        np.testing.assert_allclose(remote.cv_results_[key], serial.cv_results_[key], rtol=1e-6)
    assert remote.best_params_ == serial.best_params_
    np.testing.assert_array_equal(remote.predict(X), serial.predict(X))
