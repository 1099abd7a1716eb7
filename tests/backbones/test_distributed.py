"""extract_distributed on Dask: the single-process features bit for bit, the shared cache, worker faults."""

from __future__ import annotations

import os
import signal
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.base import clone

from sknmtune.backbones import DistributedExtractionError, FrozenBackboneTransformer, extract_distributed
from sknmtune.backbones import _distributed
from sknmtune.cache import FeatureCache

from distributed_helpers import LOOPBACK, RowStats, listening

distributed = pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")


def _local_cluster(**kw):
    """A loopback-only LocalCluster: every server on 127.0.0.1, on free ports."""
    kw = {"n_workers": 2, "threads_per_worker": 1, "processes": False, **kw}
    return distributed.LocalCluster(
        protocol="tcp://", host="127.0.0.1", dashboard_address="127.0.0.1:0",
        worker_dashboard_address="127.0.0.1:0", **kw,
    )


@pytest.fixture(scope="module")
def client():
    with _local_cluster() as cluster, distributed.Client(cluster) as c:
        yield c


def _vectors(n=40, seed=0):
    X = np.random.default_rng(seed).normal(size=(n, 4)).astype(np.float32)
    X[n - 6:] = X[:6]  # duplicates, spread over several chunks
    return X


def test_images_equal_single_process_transform_bit_for_bit(client, images):
    X = np.concatenate([images, images[:2], np.random.default_rng(1).integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)])
    ext = FrozenBackboneTransformer("cifar_resnet20", pretrained=False, device="cpu", batch_size=4)
    want = clone(ext).transform(X)
    got = extract_distributed(ext, X, client=client, chunk_size=8)
    assert got.dtype == np.float32 and got.shape == want.shape == (28, 64)
    np.testing.assert_array_equal(got, want)


def test_image_paths_travel_and_text_works(client, tmp_path, images):
    from PIL import Image

    paths = []
    for i, img in enumerate(images):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(img).save(paths[-1])
    ext = FrozenBackboneTransformer("cifar_resnet20", pretrained=False, device="cpu", batch_size=2, num_workers=0)
    np.testing.assert_array_equal(extract_distributed(ext, paths + paths[:1], client=client, chunk_size=2),
                                  clone(ext).transform(paths + paths[:1]))

    text = ["a cat", "banana", "", "aaa", "a cat", "sky"] * 3
    api = FrozenBackboneTransformer(RowStats(tmp_path / "log"), batch_size=2)
    np.testing.assert_array_equal(extract_distributed(api, text, client=client, chunk_size=4), api.transform(text))


def test_each_worker_loads_the_backbone_once_and_the_cache_is_shared(client, tmp_path):
    X = _vectors()
    backbone = RowStats(tmp_path / "log")
    ext = FrozenBackboneTransformer(backbone, batch_size=4, cache=tmp_path / "cache", cache_key="stats")
    first = extract_distributed(ext, X, client=client, chunk_size=8)
    assert backbone.seen == 34  # each of the 34 distinct samples once
    np.testing.assert_array_equal(first, FrozenBackboneTransformer(backbone, batch_size=4).transform(X))
    again = extract_distributed(ext, X, client=client, chunk_size=8)
    assert backbone.seen == 34 + 40  # the single-process reference above; nothing more for the second call
    np.testing.assert_array_equal(again, first)
    stored = [np.load(p)["keys"] for p in (tmp_path / "cache").rglob("*.npz")]
    assert sum(map(len, stored)) == len(np.unique(np.concatenate(stored))) == 34  # each distinct sample stored once
    loaded = client.run(lambda: list(_distributed._LOADED))  # per worker: the tokens of the loaded transformers
    token, _ = _distributed._payload(ext)
    assert all(token in tokens for tokens in loaded.values())
    assert ext.verbose == 0 and ext.cache == tmp_path / "cache"  # the transformer is not changed


def test_a_failing_backbone_names_the_samples_and_the_worker_and_leaves_the_cache_consistent(tmp_path):
    X = np.arange(48, dtype=np.float32).reshape(12, 4)  # row i starts with 4 i: rows 8.. fail
    cache = FeatureCache(tmp_path / "cache", flush_seconds=1e9)
    bad = FrozenBackboneTransformer(RowStats(tmp_path / "log", fail_above=30), batch_size=2, cache=cache, cache_key="k")
    with _local_cluster(n_workers=1) as cluster, distributed.Client(cluster) as client:  # chunks run in order
        with pytest.raises(DistributedExtractionError) as info:
            extract_distributed(bad, X, client=client, chunk_size=4)
        good = FrozenBackboneTransformer(RowStats(tmp_path / "log"), batch_size=2, cache=cache, cache_key="k")
        seen = good.backbone.seen
        resumed = extract_distributed(good, X, client=client, chunk_size=4)
    err = info.value
    assert err.rows == (8, 11)
    assert "X samples 8..11 (chunk 3 of 3" in str(err) and "RuntimeError: backbone out of memory" in str(err)
    assert "Dask worker" in str(err) and err.worker in str(err) and "tcp://127.0.0.1:" in err.worker
    assert "backbone out of memory" in err.remote_traceback
    assert good.backbone.seen - seen == 4  # the chunks that finished were kept; only the failed one ran again
    np.testing.assert_array_equal(resumed, FrozenBackboneTransformer(RowStats(tmp_path / "ref"), batch_size=2).transform(X))


def test_bad_arguments_are_refused(client):
    ext = FrozenBackboneTransformer(torch.nn.Linear(4, 2), device="cpu")
    with pytest.raises(TypeError, match="FrozenBackboneTransformer"):
        extract_distributed(torch.nn.Linear(4, 2), np.ones((2, 4)), client=client)
    with pytest.raises(ValueError, match="chunk_size"):
        extract_distributed(ext, np.ones((2, 4)), client=client, chunk_size=0)
    with pytest.raises(ValueError, match="client must be"):
        extract_distributed(ext, np.ones((2, 4)), client="spark")
    with pytest.raises(TypeError, match="torch Dataset"):
        extract_distributed(ext, torch.utils.data.TensorDataset(torch.ones(2, 4)), client=client)
    for bad in (-1, 2**31, 1.5, True):
        with pytest.raises(ValueError, match="mmap_threshold"):
            extract_distributed(ext, np.ones((2, 4)), client=client, mmap_threshold=bad)


class _FakeLibc:
    def __init__(self):
        self.calls = []

    def gnu_get_libc_version(self):
        return b"2.99"

    def mallopt(self, param, value):
        self.calls.append((param, value.value))
        return 1


@pytest.mark.skipif(not os.sys.platform.startswith("linux"), reason="glibc's mallopt is Linux-only")
def test_the_worker_allocator_is_given_the_mmap_threshold_once(monkeypatch):
    libc = _FakeLibc()
    monkeypatch.setattr(_distributed.ctypes, "CDLL", lambda name: libc)
    monkeypatch.setattr(_distributed, "_MMAP_THRESHOLD_SET", [])
    _distributed._set_mmap_threshold(None)  # None: the allocator is left alone
    assert libc.calls == []
    _distributed._set_mmap_threshold(64 << 20)
    _distributed._set_mmap_threshold(1 << 20)  # later chunks of the same process do not change it again
    assert libc.calls == [(-3, 64 << 20)]


# ------------------------------------------------------------------------------------------------ worker faults
def _fire_once(marker: Path) -> bool:
    """True for exactly one caller across all processes (creates ``marker``)."""
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _install_dying_writes(half: str, after: str) -> None:
    """On a worker: the first chunk written by any worker dies half-way through the file; the second dies right
    after the chunk is renamed into place (complete, but its task never returns)."""
    from sknmtune import cache

    real_savez, real_replace = cache.np.savez, cache.os.replace

    class _Numpy:
        def __getattr__(self, name):
            return getattr(np, name)

        @staticmethod
        def savez(fh, **arrays):
            if _fire_once(Path(half)):
                real_savez(fh, **arrays)
                fh.truncate(fh.tell() // 2)
                fh.flush()
                _die()
            real_savez(fh, **arrays)

    class _Os:
        def __getattr__(self, name):
            return getattr(os, name)

        @staticmethod
        def replace(src, dst):
            real_replace(src, dst)
            if str(dst).endswith(".npz") and _fire_once(Path(after)):
                _die()

    cache.np, cache.os = _Numpy(), _Os()


@pytest.mark.slow
def test_killed_workers_lose_nothing_and_duplicate_nothing(tmp_path):
    X = np.arange(64 * 4, dtype=np.float32).reshape(64, 4)  # 8 chunks of 8 distinct samples
    reference = FrozenBackboneTransformer(RowStats(tmp_path / "ref.log"), batch_size=4).transform(X)
    markers = {k: tmp_path / f"{k}.fired" for k in ("half", "after")}
    cache = FeatureCache(tmp_path / "cache", chunk_rows=10_000, flush_seconds=1e9)  # one file per task
    ext = FrozenBackboneTransformer(RowStats(tmp_path / "log"), batch_size=4, cache=cache, cache_key="k")
    with _local_cluster(processes=True) as cluster, distributed.Client(cluster) as client:
        assert all(a.ip in LOOPBACK for a in listening(psutil.Process())), listening(psutil.Process())
        client.run(_install_dying_writes, str(markers["half"]), str(markers["after"]))
        got = extract_distributed(ext, X, client=client, chunk_size=8)
    assert all(m.exists() for m in markers.values())  # two workers died: one mid-write, one right after a write
    np.testing.assert_array_equal(got, reference)
    # the chunk that died mid-write ran twice; the one that died after its write was read back, not recomputed
    assert ext.backbone.seen == 64 + 8
    (space,) = (tmp_path / "cache" / "v1").iterdir()
    chunks = sorted(p for p in space.glob("*.npz") if not p.name.startswith("."))
    assert len(chunks) == 8  # every chunk written once: the one that died after its write was not written again
    keys = np.concatenate([np.load(p)["keys"] for p in chunks])
    assert len(keys) == len(np.unique(keys)) == 64  # no sample stored twice
    assert list(space.glob(".tmp-*"))  # the half-written file is there, under a name readers skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a corrupt chunk would warn
        again = FrozenBackboneTransformer(RowStats(tmp_path / "log2"), batch_size=4, cache=cache, cache_key="k").transform(X)
    assert not (tmp_path / "log2").exists()  # every chunk verifies; nothing recomputed
    np.testing.assert_array_equal(again, reference)
