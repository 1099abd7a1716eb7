"""Soft-voting ensembles of fitted heads, scored from their stored probabilities (no refit).

:class:`ProbaStore` keeps each fit's ``predict_proba`` per test set (``evaluate_heads(on_proba=...)``) in
``benchmarks/cache``; :func:`vote_records` turns the probabilities of several methods into the records a
soft vote of them would have produced (equal weights), in the record format of
:func:`sknmtune.evaluation.evaluate_heads`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

__all__ = ["ENSEMBLES", "ENSEMBLE_LABELS", "ProbaStore", "vote_records"]

#: soft votes scored by the benchmarks: name -> member methods (names of :data:`benchmarks.harness.methods.METHODS`)
ENSEMBLES: dict[str, tuple[str, ...]] = {
    "vote-lr-mlp": ("logreg", "mlp"),
    "vote-4": ("logreg", "lp", "mlp", "nmtune-paper"),
    "vote-4-views": ("logreg", "lp", "mlp-authors-views", "nmtune-authors-views"),
}
#: how the reports call them
ENSEMBLE_LABELS: dict[str, str] = {
    "vote-lr-mlp": "soft vote: LogisticRegressionCV + MLP tuning",
    "vote-4": "soft vote: LogisticRegressionCV + LP + MLP + NMTune (paper)",
    "vote-4-views": "soft vote: LogisticRegressionCV + LP + authors' MLP and NMTune on views",
}


class ProbaStore:
    """``predict_proba`` arrays per (group, method, seed) and the labels per group, as ``.npz`` files."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def _path(self, group: Sequence[str], name: str) -> Path:
        return self.folder.joinpath(*[str(g).replace("/", "_").replace(":", "_") for g in group]) / f"{name}.npz"

    def put_labels(self, group: Sequence[str], labels: Mapping[str, np.ndarray]) -> None:
        self._write(self._path(group, "labels"), labels)

    def put(self, group: Sequence[str], method: str, seed: int, probas: Mapping[str, np.ndarray]) -> None:
        self._write(self._path(group, f"{method}-seed{seed}"), probas)

    def get(self, group: Sequence[str], method: str, seed: int) -> dict[str, np.ndarray] | None:
        return self._read(self._path(group, f"{method}-seed{seed}"))

    def labels(self, group: Sequence[str]) -> dict[str, np.ndarray] | None:
        return self._read(self._path(group, "labels"))

    @staticmethod
    def _write(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, **{k: np.asarray(v) for k, v in arrays.items()})
        tmp.replace(path)

    @staticmethod
    def _read(path: Path) -> dict[str, np.ndarray] | None:
        if not path.is_file():
            return None
        with np.load(path) as z:
            return {k: z[k] for k in z.files}


def vote_records(name: str, members: Mapping[str, dict[str, np.ndarray]], labels: Mapping[str, np.ndarray],
                 member_records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Records of the equal-weight soft vote of ``members`` (method -> {domain: proba}).

    ``member_records`` are the members' own records for the same fits (one per member x domain): the vote's
    records copy their shared fields (role, protocol, ...), sum the members' fit times, and leave the
    spectra empty (an ensemble has no single representation ``Z``).
    """
    by_domain: dict[str, Mapping[str, Any]] = {}
    fit_seconds: dict[str, float] = {}
    for r in member_records:
        by_domain.setdefault(r["domain"], r)
        fit_seconds[r["method"]] = float(r["fit_seconds"])
    out = []
    for domain, template in by_domain.items():
        proba = np.mean([members[m][domain] for m in members], axis=0)
        y = labels[domain]
        pred = proba.argmax(axis=1)
        record = {k: v for k, v in template.items() if k not in ("n_iter", "best_epoch", "best_params", "chosen_C")}
        record.update(method=name, accuracy=float(accuracy_score(y, pred)),
                      macro_f1=float(f1_score(y, pred, average="macro")), sve_Z=None, lsvr_Z=None,
                      fit_seconds=float(sum(fit_seconds.values())), members="+".join(members))
        out.append(record)
    return out
