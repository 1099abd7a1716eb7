"""Faults in the feature cache (issue 37): concurrent writers, a full disk or a permission error midway, the
directory removed while in use. Nothing half-written is ever read, the error names the problem, and the next
run computes only what is missing."""

from __future__ import annotations

import errno
import multiprocessing
import os
import shutil
import warnings

import numpy as np
import pytest
import torch

from sknmtune.backbones import FrozenBackboneTransformer
from sknmtune.cache import FeatureCache


def _keys(n: int, offset: int = 0) -> np.ndarray:
    return np.array([f"{i:016d}".encode() for i in range(offset, offset + n)], dtype="S16")


def _features(keys: np.ndarray) -> np.ndarray:
    """Features that are a function of the key, so any mix-up shows."""
    values = np.array([int(k) for k in keys], dtype=np.float32)
    return np.stack([values, values * 2, -values], axis=1)


def _write_all(directory: str, n: int, seed: int) -> None:
    order = np.random.default_rng(seed).permutation(n)
    space = FeatureCache(directory, chunk_rows=7, flush_seconds=0).namespace("shared")
    with space.writer() as writer:
        for block in np.array_split(order, 10):
            keys = _keys(n)[np.sort(block)]
            writer.add(keys, _features(keys))


def test_two_processes_writing_the_same_keys(tmp_path):
    n = 200
    # fork: the writers only use NumPy and files (spawn would re-import torch in each, seconds for nothing)
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    workers = [context.Process(target=_write_all, args=(str(tmp_path), n, seed)) for seed in (0, 1)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    space = FeatureCache(tmp_path).namespace("shared")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a corrupt (half-written) chunk would warn
        found, rows = space.lookup(_keys(n))
        assert found.all() and space.n_rows() == n
        got = np.empty((n, 3), dtype=np.float32)
        for positions, feats in rows:
            got[positions] = feats
    np.testing.assert_array_equal(got, _features(_keys(n)))
    assert not [p for p in space.path.iterdir() if p.name.startswith(".tmp")]


class _Backbone(torch.nn.Module):
    """Counts the rows it extracts."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 2)
        self.seen = 0

    def forward(self, x):
        self.seen += len(x)
        return self.lin(x)


def _transformer(cache, batch_size=4):
    torch.manual_seed(0)
    return FrozenBackboneTransformer(_Backbone(), device="cpu", cache=cache, batch_size=batch_size)


@pytest.mark.parametrize("fault", [errno.ENOSPC, errno.EACCES])
def test_a_write_failing_midway_keeps_nothing_partial_and_the_next_run_computes_only_the_rest(
        tmp_path, monkeypatch, fault):
    X = np.random.default_rng(0).standard_normal((20, 3)).astype(np.float32)
    reference = _transformer(None).fit_transform(X)
    cache = FeatureCache(tmp_path, chunk_rows=8, flush_seconds=3600)
    real_savez, calls = np.savez, []

    def failing_savez(fh, **arrays):
        calls.append(1)
        if len(calls) == 2:  # the second chunk: half of it reaches the disk, then the disk is full
            fh.write(b"PK\x03\x04 half a chunk")
            raise OSError(fault, os.strerror(fault))
        return real_savez(fh, **arrays)

    monkeypatch.setattr(np, "savez", failing_savez)
    ext = _transformer(cache)
    with pytest.raises(OSError, match="could not write a feature cache chunk") as info:
        ext.fit_transform(X)
    assert info.value.errno == fault and str(tmp_path) in str(info.value)
    monkeypatch.setattr(np, "savez", real_savez)
    files = list(tmp_path.rglob("*"))
    assert not [p for p in files if p.name.startswith(".tmp")], "a temporary file was left behind"
    # what reached the cache is whole chunks (the first, and the failed one written again by the writer's exit
    # flush once the disk had room), each row holding the right features
    chunks = [np.load(p) for p in files if p.suffix == ".npz"]
    cached = sum(len(c["keys"]) for c in chunks)
    assert cached in (8, 16) and all(len(c["keys"]) == 8 for c in chunks)

    again = _transformer(cache)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no corrupt chunk is met
        F = again.fit_transform(X)
    assert again.backbone.seen == 20 - cached  # only what was missing
    np.testing.assert_array_equal(F, reference)


def test_the_cache_directory_removed_while_in_use(tmp_path):
    X = np.random.default_rng(1).standard_normal((12, 3)).astype(np.float32)
    directory = tmp_path / "features"
    cache = FeatureCache(directory, chunk_rows=4)
    first = _transformer(cache)
    reference = first.fit_transform(X)
    shutil.rmtree(directory)  # e.g. a cleanup job on a shared disk
    second = _transformer(cache)
    np.testing.assert_array_equal(second.fit_transform(X), reference)
    assert second.backbone.seen == 12  # recomputed, and the directory made again
    assert directory.is_dir()
    third = _transformer(cache)
    np.testing.assert_array_equal(third.fit_transform(X), reference)
    assert third.backbone.seen == 0

    # removed between the lookup and the reading of the chunks: a clear error, not a bare traceback
    space = cache.namespace("x")
    with space.writer() as writer:
        writer.add(_keys(4), _features(_keys(4)))
    found, rows = space.lookup(_keys(4))
    assert found.all()
    shutil.rmtree(directory)
    with pytest.raises(FileNotFoundError, match="disappeared while it was being read"):
        list(rows)
