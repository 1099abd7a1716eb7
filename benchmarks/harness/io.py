"""Paths, logging and result files of the benchmarks; a record store that makes long runs resumable."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from benchmarks._io import atomic_write_text, clean, log, read_json, write_json

__all__ = ["ROOT", "RESULTS_DIR", "CACHE_DIR", "RecordStore", "atomic_write_text", "clean", "log", "read_json",
           "write_json"]

ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR = ROOT / "benchmarks" / "results"
CACHE_DIR = ROOT / "benchmarks" / "cache"


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
