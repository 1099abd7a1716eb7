import numpy as np
import pytest

from sknmtune.cache import FeatureCache


def _keys(*names):
    return np.array([n.encode().ljust(16, b"_") for n in names], dtype="S16")


def test_round_trip_and_namespaces(tmp_path):
    cache = FeatureCache(tmp_path, chunk_rows=2)
    space = cache.namespace("model-a", description={"backbone": "a"})
    feats = np.arange(6, dtype=np.float32).reshape(3, 2)
    with space.writer() as w:
        w.add(_keys("x", "y", "z"), feats)
    found, rows = space.lookup(_keys("z", "nope", "x"))
    assert found.tolist() == [True, False, True]
    got = np.zeros((3, 2), np.float32)
    for pos, block in rows:
        got[pos] = block
    np.testing.assert_array_equal(got[[0, 2]], feats[[2, 0]])
    assert space.n_rows() == 3 and (space.path / "meta.json").exists()
    assert cache.namespace("model-b").n_rows() == 0
    cache.clear()
    assert space.n_rows() == 0


def test_writer_flushes_by_size_time_and_on_error(tmp_path):
    space = FeatureCache(tmp_path, chunk_rows=3, flush_seconds=1e9).namespace("n")
    w = space.writer()
    w.add(_keys("a", "b"), np.zeros((2, 1)))
    assert space.n_rows() == 0
    w.add(_keys("c"), np.zeros((1, 1)))
    assert space.n_rows() == 3  # full chunk written
    with pytest.raises(KeyError):
        with space.writer() as w2:
            w2.add(_keys("d"), np.zeros((1, 1)))
            raise KeyError("interrupted")
    assert space.n_rows() == 4
    slow = FeatureCache(tmp_path, chunk_rows=100, flush_seconds=0.0).namespace("slow")
    slow.writer().add(_keys("e"), np.zeros((1, 1)))
    assert slow.n_rows() == 1  # a slow backbone's rows are written right away
    with pytest.raises(ValueError, match="2 keys for 1"):
        slow.writer().add(_keys("f", "g"), np.zeros((1, 1)))


def test_corrupt_chunks_are_removed(tmp_path):
    space = FeatureCache(tmp_path, chunk_rows=1).namespace("n")
    with space.writer() as w:
        w.add(_keys("a", "b"), np.ones((2, 2)))
    chunk = next(space.path.glob("*.npz"))
    data = bytearray(chunk.read_bytes())
    data[-200] ^= 0xFF  # flip a byte inside the stored features
    chunk.write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match="corrupt"):
        found, _ = space.lookup(_keys("a", "b"))
    assert not found.any() and not chunk.exists()
    with pytest.raises(ValueError, match="chunk_rows"):
        FeatureCache(tmp_path, chunk_rows=0)
