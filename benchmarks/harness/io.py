"""Paths, logging and result files of the benchmarks; a record store that makes long runs resumable.

Result files are rewritten whole through a temporary file and ``os.replace``, so a killed run never leaves a
truncated file; a list of records is written one record per line (compact and diff-friendly).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ROOT", "RESULTS_DIR", "CACHE_DIR", "RecordStore", "atomic_write_text", "clean", "log", "log_fit", "read_json",
           "write_json"]

ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR = ROOT / "benchmarks" / "results"
CACHE_DIR = ROOT / "benchmarks" / "cache"


def log(msg: str) -> None:
    """Print ``msg`` with the wall-clock time, flushed (progress of long runs)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def log_fit(records: list[dict], where: str) -> None:
    """One line per finished fit: ``where``, the method, seed, fit time and each test set's accuracy."""
    r = records[0]
    scores = ", ".join(f"{x['domain']} {x['accuracy']:.3f}" for x in records)
    log(f"  {where} {r['method']:<21} seed {r['seed']} fit {r['fit_seconds']:.1f}s  {scores}")


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_json(path: Path, default: Any = None) -> Any:
    """The JSON in ``path``, or ``default`` (``{}`` when not given) when the file does not exist."""
    path = Path(path)
    if path.is_file():
        return json.loads(path.read_text())
    return {} if default is None else default


def clean(obj: Any) -> Any:
    """JSON-safe copy: numpy scalars -> Python, NaN/inf -> None."""
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def write_json(path: Path, obj: Any) -> None:
    """Atomically write ``obj`` (cleaned) as JSON: a list one record per line, anything else indented."""
    obj = clean(obj)
    if isinstance(obj, list):
        text = "[\n" + ",\n".join(json.dumps(r, separators=(",", ":")) for r in obj) + "\n]\n"
    else:
        text = json.dumps(obj, indent=1) + "\n"
    atomic_write_text(path, text)


class RecordStore:
    """Evaluation records in one JSON file, rewritten atomically after every finished fit.

    ``key(record)`` names the fit a record belongs to; :meth:`done` tells which fits a previous
    (interrupted) run already finished, so a rerun skips them.
    """

    def __init__(self, path: Path, key: Callable[[dict[str, Any]], tuple]) -> None:
        self.path, self.key = Path(path), key
        self.records: list[dict[str, Any]] = read_json(self.path, [])

    def done(self) -> set[tuple]:
        return {self.key(r) for r in self.records}

    def add(self, records: Iterable[dict[str, Any]]) -> None:
        self.records.extend(clean(list(records)))
        write_json(self.path, self.records)

    def replace(self, keep: Callable[[dict[str, Any]], bool]) -> None:
        """Drop the records for which ``keep`` is false (e.g. before refitting a method)."""
        self.records = [r for r in self.records if keep(r)]
        write_json(self.path, self.records)
