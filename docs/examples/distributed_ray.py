"""Feature extraction and a grid search on Ray: extract_distributed and Ray's joblib backend.

ray.init() here starts a Ray instance on this machine (two CPUs, no dashboard); on a cluster,
ray.init(address="auto") joins it instead and the same code runs there.
"""

import os

# A one-machine Ray instance that listens on 127.0.0.1 only (set before Ray is imported; without
# it, Ray binds its servers to the machine's network address). Leave it out on a cluster.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import joblib  # noqa: E402
import numpy as np  # noqa: E402
import ray  # noqa: E402
from ray.util.joblib import register_ray  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

from sknmtune import NMTuneClassifier  # noqa: E402
from sknmtune.backbones import FrozenBackboneTransformer, extract_distributed  # noqa: E402

if __name__ == "__main__":
    X, y = load_digits(return_X_y=True)
    X, y = X[:600], y[:600]
    images = np.kron(X.reshape(-1, 8, 8) * 15, np.ones((4, 4))).astype(np.uint8)  # (n, 32, 32) grayscale

    ray.init(num_cpus=2, include_dashboard=False)
    try:
        # 1. the backbone's forward passes, sharded over the Ray workers (each loads the model once)
        ext = FrozenBackboneTransformer("cifar_resnet20", pretrained=False, device="cpu", batch_size=100)
        F = extract_distributed(ext, images, client="ray", chunk_size=200)

        # 2. the head's grid search, one fit per Ray task (on random-weight features: the accuracy
        #    shows the mechanics, not what pre-trained features give)
        register_ray()
        search = GridSearchCV(
            NMTuneClassifier.from_preset("nmtune-paper", max_epochs=30, standardize=True, random_state=0, device="cpu"),
            {"reg_lambda": [0.0, 0.01, 0.1]},
            cv=3,
            n_jobs=-1,
        )
        with joblib.parallel_backend("ray"):
            search.fit(F, y)
    finally:
        ray.shutdown()
    print(f"features {F.shape};", "best:", search.best_params_, f"accuracy {search.best_score_:.3f}")
