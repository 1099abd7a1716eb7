"""A chunked, atomic, resumable on-disk cache of extracted features.

Layout: ``<directory>/<namespace>/<chunk>.npz``. A namespace is a digest of everything that changes
the features (backbone identity and weights, preprocessing, precision); inside it, each row is keyed
by a 16-byte digest of the sample's content. A chunk holds the keys, the float32 features and a
digest of both; it is written to a temporary file and renamed into place, so readers never see a
partial chunk. Chunks are flushed every ``chunk_rows`` rows or ``flush_seconds`` seconds and when an
extraction stops with an error, so an interrupted run resumes where it stopped. A chunk that fails to
load or whose digest does not match is reported, deleted and recomputed.

Examples
--------
>>> import numpy as np, tempfile
>>> from sknmtune.cache import FeatureCache
>>> cache = FeatureCache(tempfile.mkdtemp())
>>> space = cache.namespace("my-backbone")
>>> keys = np.array([b"a" * 16, b"b" * 16], dtype="S16")
>>> with space.writer() as w:
...     w.add(keys, np.ones((2, 3), dtype=np.float32))
>>> found, _ = space.lookup(keys)
>>> found.tolist()
[True, True]
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FeatureCache"]

_VERSION = "v1"
_KEY_DTYPE = "S16"
# Verified chunk indexes, shared by all FeatureCache objects of this process:
# path -> ((size, mtime_ns), keys). Chunks are immutable once renamed into place.
_VERIFIED: dict[str, tuple[tuple[int, int], np.ndarray]] = {}


def _chunk_digest(keys: np.ndarray, features: np.ndarray) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(str(features.shape).encode())
    h.update(np.ascontiguousarray(keys).tobytes())
    h.update(np.ascontiguousarray(features).tobytes())
    return h.hexdigest()


class FeatureCache:
    """A directory of feature namespaces.

    Parameters
    ----------
    directory : str or path-like
        Root directory; created on first write.
    chunk_rows : int, default=2048
        Rows buffered before a chunk is written.
    flush_seconds : float, default=10.0
        A chunk is also written when this much time passed since the last one, so slow backbones
        (paid APIs) lose at most a few seconds of work when killed.

    Examples
    --------
    >>> import tempfile
    >>> from sknmtune.cache import FeatureCache
    >>> FeatureCache(tempfile.mkdtemp()).namespace("x").n_rows()
    0
    """

    def __init__(self, directory: str | os.PathLike, *, chunk_rows: int = 2048, flush_seconds: float = 10.0) -> None:
        if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, (int, np.integer)) or chunk_rows < 1:
            raise ValueError(f"chunk_rows must be an integer >= 1; got {chunk_rows!r}.")
        if (
            isinstance(flush_seconds, bool) or not isinstance(flush_seconds, (int, float, np.integer, np.floating))
            or not np.isfinite(flush_seconds) or flush_seconds < 0
        ):
            raise ValueError(f"flush_seconds must be a finite number of seconds >= 0; got {flush_seconds!r}.")
        self.directory = Path(directory)
        self.chunk_rows = int(chunk_rows)
        self.flush_seconds = float(flush_seconds)

    def __repr__(self) -> str:
        return f"FeatureCache({str(self.directory)!r})"

    def namespace(self, identity: str, *, description: dict[str, Any] | None = None) -> CacheNamespace:
        """The namespace for ``identity`` (any string; it is hashed into the directory name).

        ``description`` is stored once as ``meta.json`` next to the chunks, for humans.
        """
        name = hashlib.blake2b(f"{_VERSION}\n{identity}".encode(), digest_size=12).hexdigest()
        return CacheNamespace(self, self.directory / _VERSION / name, description)

    def clear(self) -> None:
        """Delete every cached feature under this cache's directory (the directory itself stays)."""
        root = self.directory / _VERSION
        if root.exists():
            shutil.rmtree(root)


class CacheNamespace:
    """The chunks of one backbone/preprocessing combination (see :meth:`FeatureCache.namespace`)."""

    def __init__(self, cache: FeatureCache, path: Path, description: dict[str, Any] | None) -> None:
        self.cache, self.path, self.description = cache, path, description

    # ------------------------------------------------------------------------------------------ reading
    def _chunks(self) -> list[Path]:
        if not self.path.is_dir():
            return []
        return sorted(p for p in self.path.glob("*.npz") if not p.name.startswith("."))

    def _index(self) -> dict[bytes, tuple[Path, int]]:
        """key -> (chunk, row) over all valid chunks; corrupt chunks are deleted with a warning."""
        index: dict[bytes, tuple[Path, int]] = {}
        for chunk in self._chunks():
            keys = self._verified_keys(chunk)
            if keys is None:
                continue
            for row, key in enumerate(keys.tolist()):
                index.setdefault(key, (chunk, row))
        return index

    def _verified_keys(self, chunk: Path) -> np.ndarray | None:
        try:
            st = chunk.stat()
        except FileNotFoundError:
            return None
        stamp = (st.st_size, st.st_mtime_ns)
        memo = _VERIFIED.get(str(chunk))
        if memo is not None and memo[0] == stamp:
            return memo[1]
        try:
            with np.load(chunk, allow_pickle=False) as data:
                keys, features, digest = data["keys"], data["features"], str(data["digest"])
            ok = (
                keys.dtype == np.dtype(_KEY_DTYPE)
                and features.ndim == 2
                and len(keys) == len(features)
                and digest == _chunk_digest(keys, features)
            )
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            ok, keys = False, None
            reason = f"{type(exc).__name__}: {exc}"
        else:
            reason = "checksum mismatch"
        if not ok:
            warnings.warn(
                f"Feature cache chunk {chunk} is corrupt ({reason}); it was removed and its samples will be "
                "recomputed.",
                RuntimeWarning,
                stacklevel=4,
            )
            _VERIFIED.pop(str(chunk), None)
            try:
                chunk.unlink()
            except OSError:
                pass
            return None
        _VERIFIED[str(chunk)] = (stamp, keys)
        return keys

    def n_rows(self) -> int:
        """Number of distinct samples stored."""
        return len(self._index())

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, Iterator[tuple[np.ndarray, np.ndarray]]]:
        """Find ``keys`` (dtype ``S16``).

        Returns
        -------
        found : ndarray of bool, shape (len(keys),)
        rows : iterator of (positions, features)
            Positions into ``keys`` and their float32 features, one chunk at a time (so memory stays
            bounded by a chunk). Consume it before writing to this namespace.
        """
        keys = np.asarray(keys, dtype=_KEY_DTYPE)
        index = self._index()
        found = np.zeros(len(keys), dtype=bool)
        by_chunk: dict[Path, tuple[list[int], list[int]]] = {}
        for pos, key in enumerate(keys.tolist()):
            hit = index.get(key)
            if hit is not None:
                found[pos] = True
                where = by_chunk.setdefault(hit[0], ([], []))
                where[0].append(pos)
                where[1].append(hit[1])

        def rows() -> Iterator[tuple[np.ndarray, np.ndarray]]:
            for chunk, (positions, chunk_rows) in by_chunk.items():
                try:
                    with np.load(chunk, allow_pickle=False) as data:
                        features = data["features"]
                except FileNotFoundError as exc:  # removed by another process since the lookup
                    raise FileNotFoundError(
                        f"feature cache chunk {chunk} disappeared while it was being read (was the cache directory "
                        f"{self.cache.directory} removed or cleared meanwhile?); run again: the rows still cached are "
                        "read and the others recomputed."
                    ) from exc
                yield np.asarray(positions), features[np.asarray(chunk_rows)]

        return found, rows()

    # ------------------------------------------------------------------------------------------ writing
    def writer(self) -> _ChunkWriter:
        """A context manager that buffers rows and writes them as atomic chunks (flushed on exit, also on errors)."""
        return _ChunkWriter(self)

    def _write_chunk(self, keys: np.ndarray, features: np.ndarray) -> Path:
        self.path.mkdir(parents=True, exist_ok=True)
        if self.description is not None and not (self.path / "meta.json").exists():
            _atomic_write(self.path / "meta.json", json.dumps(self.description, indent=1, default=str).encode())
        features = np.ascontiguousarray(features, dtype=np.float32)
        keys = np.ascontiguousarray(keys, dtype=_KEY_DTYPE)
        final = self.path / f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}.npz"
        tmp = self.path / f".tmp-{uuid.uuid4().hex}.npz"
        try:
            with open(tmp, "wb") as fh:
                np.savez(fh, keys=keys, features=features, digest=np.array(_chunk_digest(keys, features)))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except OSError as exc:  # a full disk, a permission taken away, the directory removed meanwhile
            raise type(exc)(
                exc.errno,
                f"could not write a feature cache chunk of {len(keys)} rows to {self.path} "
                f"({exc.strerror or exc}); nothing partial was kept: the rows cached before are intact and the "
                "missing ones are recomputed on the next run",
            ) from exc
        finally:
            try:
                tmp.unlink(missing_ok=True)
            except OSError:  # the directory itself is gone or unwritable: there is nothing left to remove
                pass
        return final


class _ChunkWriter:
    def __init__(self, space: CacheNamespace) -> None:
        self.space = space
        self._keys: list[np.ndarray] = []
        self._features: list[np.ndarray] = []
        self._rows = 0
        self._last = time.monotonic()

    def __enter__(self) -> _ChunkWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()

    def add(self, keys: np.ndarray, features: np.ndarray) -> None:
        """Buffer rows; writes a chunk when the buffer is full or old enough."""
        if len(keys) != len(features):
            raise ValueError(f"{len(keys)} keys for {len(features)} feature rows.")
        self._keys.append(np.asarray(keys, dtype=_KEY_DTYPE))
        self._features.append(np.asarray(features, dtype=np.float32))
        self._rows += len(keys)
        cache = self.space.cache
        if self._rows >= cache.chunk_rows or time.monotonic() - self._last >= cache.flush_seconds:
            self.flush()

    def flush(self) -> None:
        if self._rows:
            self.space._write_chunk(np.concatenate(self._keys), np.concatenate(self._features))
        self._keys, self._features, self._rows = [], [], 0
        self._last = time.monotonic()


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
