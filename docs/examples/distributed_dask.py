"""GridSearchCV on a Dask cluster through joblib's "dask" backend.

A small in-process LocalCluster stands in for a real one: on a cluster, connect with
Client("tcp://scheduler:8786") instead and the same code runs there; on one machine,
LocalCluster(n_workers=4, threads_per_worker=1) gives each worker its own process.
"""

import joblib
import numpy as np
from distributed import Client, LocalCluster
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV

from sknmtune import NMTuneClassifier

if __name__ == "__main__":
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)

    # in-process workers; their status pages listen on loopback only, on free ports (not on all interfaces)
    local = dict(dashboard_address="127.0.0.1:0", worker_dashboard_address="127.0.0.1:0")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, **local) as cluster, Client(cluster) as client:
        search = GridSearchCV(
            NMTuneClassifier.from_preset("nmtune-paper", max_epochs=5, random_state=0, device="cpu"),
            {"reg_lambda": [0.0, 0.01, 0.1]},
            cv=3,
            n_jobs=-1,
        )
        with joblib.parallel_backend("dask"):
            search.fit(X, y)
    print("best:", search.best_params_, f"accuracy {search.best_score_:.3f}")
