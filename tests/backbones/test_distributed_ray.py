"""Ray for real: a local Ray instance on loopback runs GridSearchCV (Ray's joblib backend) and extract_distributed.

The instance is started and stopped here; every server it starts must listen on 127.0.0.1 only.
Skipped where Ray is not installed (``pip install "sknmtune[ray]"``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

from sknmtune.backbones import DistributedExtractionError, FrozenBackboneTransformer, extract_distributed
from sknmtune.cache import FeatureCache

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'sknmtune[ray]')")
psutil = pytest.importorskip("psutil")

from distributed_helpers import LOOPBACK, RowStats, listening  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    """A two-CPU Ray instance bound to loopback, without dashboard; shut down afterwards.

    ``_node_ip_address="127.0.0.1"`` alone is not enough: Ray on Linux replaces a loopback node address
    by the machine's address and binds its servers to it or to all interfaces. With clusters off
    (what ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` sets, read at import) the node address stays 127.0.0.1.
    """
    from ray._private import ray_constants

    if ray.is_initialized():
        pytest.skip("a Ray instance is already running in this process")
    mp = pytest.MonkeyPatch()
    mp.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    mp.setattr(ray_constants, "ENABLE_RAY_CLUSTER", False)
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths live under it
    here = str(Path(__file__).parent)  # the workers import the helpers' backbones by name
    path = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH", "")) if p)
    try:
        ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", _temp_dir=temp,
                 log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": path}})
        yield ray
    finally:
        ray.shutdown()
        mp.undo()
        shutil.rmtree(temp, ignore_errors=True)


def test_every_ray_server_listens_on_loopback_only(local_ray):
    addresses = listening(psutil.Process())
    assert len(addresses) >= 3, addresses  # the GCS, the raylet, the workers ...
    assert all(a.ip in LOOPBACK for a in addresses), addresses
    assert ray.util.get_node_ip_address() == "127.0.0.1"


def test_grid_search_through_rays_joblib_backend_matches_serial(local_ray):
    import joblib
    from ray.util.joblib import register_ray
    from sklearn.datasets import load_digits
    from sklearn.model_selection import GridSearchCV

    from sknmtune import NMTuneClassifier

    X, y = load_digits(return_X_y=True)
    X, y = (X[:300] / 16.0).astype(np.float32), y[:300]

    def search(n_jobs):
        head = NMTuneClassifier(max_epochs=2, random_state=0, device="cpu")
        return GridSearchCV(head, {"reg_lambda": [0.0, 0.01], "mlp_depth": [0, 2]}, cv=2, n_jobs=n_jobs)

    serial = search(1).fit(X, y)
    register_ray()
    with joblib.parallel_backend("ray"):
        remote = search(2).fit(X, y)
    np.testing.assert_allclose(remote.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"], rtol=1e-6)
    assert remote.best_params_ == serial.best_params_
    np.testing.assert_array_equal(remote.predict(X), serial.predict(X))


def test_extraction_on_ray_equals_transform_and_fills_the_cache(local_ray, images, tmp_path):
    X = np.concatenate([images, np.random.default_rng(1).integers(0, 256, (10, 32, 32, 3), dtype=np.uint8)])
    ext = FrozenBackboneTransformer("cifar_resnet20", pretrained=False, device="cpu", batch_size=4)
    np.testing.assert_array_equal(extract_distributed(ext, X, client="ray", chunk_size=8), clone(ext).transform(X))

    vectors = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
    vectors[24:] = vectors[:6]
    backbone = RowStats(tmp_path / "log")
    api = FrozenBackboneTransformer(backbone, batch_size=4, cache=tmp_path / "cache", cache_key="k")
    got = extract_distributed(api, vectors, client="ray", chunk_size=8)
    assert backbone.seen == 24
    np.testing.assert_array_equal(got, FrozenBackboneTransformer(RowStats(tmp_path / "ref"), batch_size=4).transform(vectors))
    np.testing.assert_array_equal(extract_distributed(api, vectors, chunk_size=8), got)  # Ray found by default
    assert backbone.seen == 24


def test_a_failing_backbone_on_ray_names_the_samples_and_the_ray_worker(local_ray, tmp_path):
    X = np.arange(48, dtype=np.float32).reshape(12, 4)
    cache = FeatureCache(tmp_path / "cache", flush_seconds=1e9)
    bad = FrozenBackboneTransformer(RowStats(tmp_path / "log", fail_above=30), batch_size=2, cache=cache, cache_key="k")
    with pytest.raises(DistributedExtractionError) as info:
        extract_distributed(bad, X, client="ray", chunk_size=4)
    err = info.value
    assert type(err) is DistributedExtractionError and err.rows == (8, 11)
    assert str(err).startswith("Feature extraction failed for X samples 8..11 (chunk 3 of 3")
    assert "Ray worker" in err.worker and "RuntimeError: backbone out of memory" in str(err)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a corrupt chunk would warn
        stored = [np.load(p)["keys"] for p in (tmp_path / "cache").rglob("*.npz") if not p.name.startswith(".")]
    keys = np.concatenate(stored) if stored else np.empty(0, "S16")
    assert len(keys) == len(np.unique(keys)) <= 8  # whole chunks of the samples that succeeded, once each
