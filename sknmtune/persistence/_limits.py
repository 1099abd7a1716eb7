"""Size limits of the safe format: a file is measured from its headers before its data is read.

A ``.skn`` file is a zip archive, so a small file can claim to decompress to terabytes (a zip
bomb), and a ``.npy`` member can declare any shape. Nothing is allocated for a member before
its declared size has been checked:

* every member's uncompressed size (from the zip's central directory) and their sum must stay
  within ``max_bytes``; the JSON spec also within :data:`SPEC_MAX_BYTES`;
* every array's ``.npy`` header (dtype, shape) is read first: object dtypes are refused, and
  ``prod(shape) * itemsize`` must fit both the member and what is left of ``max_bytes`` (an array
  member referred to twice counts twice);
* members are decompressed in chunks of :data:`_CHUNK` bytes into a buffer of the declared size,
  so a member whose header understates its content is cut at the declared size (and then fails
  its CRC check) instead of filling memory.
"""

from __future__ import annotations

import math
import zipfile

import numpy as np

from ._format import _Malformed, _Refused

#: Default of ``load(..., max_bytes=...)``: the most bytes the members of a file may decompress to, in all.
DEFAULT_MAX_BYTES = 4 * 2**30
#: The most bytes the JSON spec (``sknmtune.json``) may have (or ``max_bytes`` when smaller; no limit with None).
SPEC_MAX_BYTES = 64 * 2**20
_CHUNK = 2**20
_NPY_HEADER_MAX = 10_000


def _size(n: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def _hint(max_bytes: int) -> str:
    return f"over the limit max_bytes={max_bytes} ({_size(max_bytes)}); if you trust the file, pass a larger max_bytes= (or None)"


def check_max_bytes(max_bytes: int | None) -> int | None:
    """Validate the ``max_bytes`` argument of ``load``."""
    if max_bytes is None:
        return None
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise ValueError(f"max_bytes must be a positive int (bytes) or None (no limit); got {max_bytes!r}.")
    return max_bytes


class Budget:
    """What is left of ``max_bytes`` while a file is decoded (``None``: no limit)."""

    def __init__(self, max_bytes: int | None) -> None:
        self.max_bytes = max_bytes
        self.spent = 0

    def spend(self, n: int, what: str) -> None:
        if self.max_bytes is not None and self.spent + n > self.max_bytes:
            raise _Refused(f"{what} would take {_size(n)}, {_hint(self.max_bytes)}")
        self.spent += n


def check_members(archive: zipfile.ZipFile, max_bytes: int | None) -> None:
    """Refuse an archive whose members, as its central directory declares them, exceed ``max_bytes``."""
    if max_bytes is None:
        return
    total = 0
    for info in archive.infolist():
        if info.file_size > max_bytes:
            raise _Refused(
                f"its member {info.filename} would decompress to {_size(info.file_size)} (a zip bomb?), {_hint(max_bytes)}"
            )
        total += info.file_size
    if total > max_bytes:
        raise _Refused(f"its members would decompress to {_size(total)} in all (a zip bomb?), {_hint(max_bytes)}")


def read_spec(archive: zipfile.ZipFile, name: str, max_bytes: int | None) -> bytes:
    """The bytes of the JSON member ``name``, refused past :data:`SPEC_MAX_BYTES` (or ``max_bytes``)."""
    info = archive.getinfo(name)
    limit = None if max_bytes is None else min(max_bytes, SPEC_MAX_BYTES)
    if limit is not None and info.file_size > limit:
        raise _Refused(
            f"its {name} would decompress to {_size(info.file_size)}, over the limit of {_size(limit)} for the JSON "
            "spec; if you trust the file, pass max_bytes=None"
        )
    parts = []
    with archive.open(info) as fh:
        while chunk := fh.read(_CHUNK):
            parts.append(chunk)
    return b"".join(parts)


def read_array(archive: zipfile.ZipFile, member: str, budget: Budget) -> np.ndarray:
    """Read the ``.npy`` member ``member``: header first (dtype, shape checked), then the data in chunks."""
    info = archive.getinfo(member)
    with archive.open(info) as fh:
        try:
            version = np.lib.format.read_magic(fh)
        except ValueError as exc:
            raise _Malformed(f"array {member} is not a NumPy .npy file") from exc
        readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        if version not in readers:
            raise _Malformed(f"array {member} has .npy format version {version}, which the safe format does not read")
        try:
            shape, fortran_order, dtype = readers[version](fh, max_header_size=_NPY_HEADER_MAX)
        except ValueError as exc:
            raise _Malformed(f"array {member} is not a plain NumPy array ({' '.join(str(exc).split())})") from exc
        if dtype.hasobject:
            raise _Malformed(
                f"array {member} is not a plain NumPy array: its dtype {dtype} holds Python objects, which only "
                "unpickling could read"
            )
        count = math.prod(shape)
        nbytes = count * dtype.itemsize
        budget.spend(max(nbytes, count), f"array {member} (shape {shape}, dtype {dtype.str})")
        offset = fh.tell()
        if offset + nbytes != info.file_size:
            raise _Malformed(
                f"array {member} declares shape {shape} and dtype {dtype.str} ({nbytes} bytes), but the member holds "
                f"{info.file_size - offset} bytes of data"
            )
        if dtype.itemsize == 0:
            array = np.empty(shape, dtype=dtype)
        else:
            raw = np.empty(nbytes, dtype=np.uint8)
            view = memoryview(raw)
            pos = 0
            while pos < nbytes:
                got = fh.readinto(view[pos : pos + _CHUNK])
                if not got:
                    raise _Malformed(f"array {member} is damaged (its data ends early)")
                pos += got
            array = raw.view(dtype)
            array = array.reshape(shape[::-1]).transpose() if fortran_order else array.reshape(shape)
        if fh.read(1):
            raise _Malformed(f"array {member} is damaged (data after the declared shape)")
    return array
