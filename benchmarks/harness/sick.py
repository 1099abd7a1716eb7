"""SICK relatedness (and MRPC paraphrase pairs) through the frozen MiniLM: the regression benchmarks' features.

``../shared/data/sick-mrpc``, read in place: SICK ``train`` (4,500 pairs), ``trial`` (500, validation) and ``test``
(4,927) with their relatedness scores (1-5), and MRPC ``test`` (1,725 news sentence pairs, binary paraphrase
labels), each pair as the MiniLM backbone's pair features (content-keyed cache in ``benchmarks/cache``).
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks import datasets as bd
from benchmarks.harness.backbones import MINILM
from benchmarks.harness.io import CACHE_DIR

__all__ = ["relatedness_features"]


def relatedness_features() -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], float]:
    """``({"sick/train" | "sick/trial" | "sick/test" | "mrpc/test": (features, targets)}, extraction seconds)``.

    Raises :class:`benchmarks.datasets.DatasetUnavailable` or :class:`benchmarks.harness.backbones.BackboneUnavailable`
    when the data or the backbone is absent.
    """
    transformer = MINILM.make(CACHE_DIR)
    datasets = [bd.load_sick(s, target="relatedness") for s in ("train", "trial", "test")] + [bd.load_mrpc("test")]
    splits = {ds.name: (ds.X, ds.y) for ds in datasets}
    t0 = time.perf_counter()
    out = {key: (np.asarray(transformer.transform(X), dtype=np.float32), y) for key, (X, y) in splits.items()}
    return out, time.perf_counter() - t0
