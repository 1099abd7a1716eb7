"""PACS's four domains as training sets that never touch their target (``python -m benchmarks.domain_shift``).

All 9,991 images of ``../shared/data/pacs-full`` through a frozen ImageNet-1k backbone, each as its center crop and,
for the rows a protocol trains on, as ``K`` augmented views (:class:`sknmtune.FrozenBackboneTransformer`
``views=K``), cached once in ``benchmarks/cache``. Each domain is split once (stratified, seed 0) into the parts the
protocols use (:class:`Parts`); :func:`training_sets` lists every training set of a scale:

* ``lodo`` (multi-source, DomainBed's leave-one-domain-out): the other three domains' training parts, for each
  target;
* ``lodo-selection``: the same with one more source held out (leave-one-domain-out selection over the sources);
* ``single``: one source's 60 % training part (photo or sketch).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks import datasets as bd
from benchmarks.harness import io
from benchmarks.harness.backbones import IMAGENET_BACKBONES

__all__ = ["DOMAINS", "N_VIEWS", "PROTOCOLS", "PacsScale", "Parts", "SCALES", "TrainingSet", "center", "extract", "features",
           "parts", "train_sets", "training_sets"]

DOMAINS = bd.PACS_DOMAINS
N_VIEWS = 2  # augmented views per image (K): the fewest that give the authors' two distinct views per step
PROTOCOLS = ("lodo", "lodo-selection", "single")


@dataclass(frozen=True)
class PacsScale:
    """Sizes of one run; every subset is stratified with seed 0 (the same images for every seed)."""

    name: str
    seeds: tuple[int, ...]
    backbones: tuple[str, ...]
    domain_cap: int | None  # images per domain read (None: all)
    source_train_cap: int | None  # training rows per source domain (lodo)
    single_train_cap: int | None  # training rows of the single-source protocol
    single_sources: tuple[str, ...]
    lodo_targets: tuple[str, ...]
    max_epochs: int | None  # None: each preset's own budget
    lodo_selection_seeds: tuple[int, ...]  # seeds of the leave-one-domain-out selection fits
    file_stem: str


SCALES = {
    "full": PacsScale("full", (0, 1, 2, 3, 4), tuple(IMAGENET_BACKBONES), None, 300, 1000, ("photo", "sketch"), DOMAINS,
                      None, (0,), "domain_shift"),
    # one backbone, one target and one source, 200 images per domain, 8 epochs: every code path in <= 10 min
    "quick": PacsScale("quick", (0,), ("tf_efficientnet_lite0",), 200, 80, 80, ("photo",), ("photo",), 8,
                       (0,), "domain_shift_quick"),
}


def load_domain(domain: str, cap: int | None) -> bd.Dataset:
    return bd.subsample(bd.load_pacs_full(domain), cap, seed=0)


def _split(y: np.ndarray, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Stratified ``(first, second)`` index split; the second part holds ``fraction`` of the rows."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    first, second = train_test_split(idx, test_size=fraction, random_state=seed, stratify=y)
    return np.sort(first), np.sort(second)


def _cap(idx: np.ndarray, y: np.ndarray, cap: int | None) -> np.ndarray:
    """At most ``cap`` of the rows ``idx`` (stratified on ``y[idx]``, seed 0); all of them when fewer than one
    row per class would be dropped."""
    if cap is None or len(idx) - cap < len(np.unique(y[idx])):
        return idx
    keep, _ = _split(y[idx], 1 - cap / len(idx))
    return idx[keep]


@dataclass(frozen=True)
class Parts:
    """Row indices of one domain: multi-source training and validation parts, single-source splits."""

    train: np.ndarray  # a source's (capped) training rows in the multi-source protocol
    val: np.ndarray  # a source's validation rows (20 %)
    single_train: np.ndarray  # single-source protocol: training rows (capped 60 % part)
    single_val: np.ndarray  # 20 %
    single_test: np.ndarray  # 20 %

    def view_rows(self, single: bool) -> np.ndarray:
        """Rows that some protocol trains on: only these get augmented views."""
        return np.union1d(self.train, self.single_train) if single else self.train


def parts(y: np.ndarray, scale: PacsScale) -> Parts:
    train, val = _split(y, 0.2)
    rest, test = _split(y, 0.2)
    single_train, single_val = _split(y[rest], 0.25)
    return Parts(_cap(train, y, scale.source_train_cap), val,
                 _cap(rest[single_train], y, scale.single_train_cap), rest[single_val], test)


def features(name: str, scale: PacsScale, device: str = "auto") -> dict[str, tuple[np.ndarray, np.ndarray, Parts]]:
    """``{domain: (V, y, parts)}`` for one backbone (extracted once, then read from the cache).

    ``V`` is ``(n, 1 + K, D)``: the center crop of every image, and ``K`` augmented views of the rows a
    protocol trains on (the other rows' views are NaN: views are extracted for training images only).
    """
    transformer = IMAGENET_BACKBONES[name].make(io.CACHE_DIR, device=device, views=N_VIEWS, random_state=0)
    out = {}
    for domain in DOMAINS:
        data = load_domain(domain, scale.domain_cap)
        split = parts(data.y, scale)
        center = transformer.transform(data.X)
        V = np.full((len(data), 1 + N_VIEWS, center.shape[1]), np.nan, dtype=np.float32)
        V[:, 0] = center
        rows = split.view_rows(domain in scale.single_sources)
        V[rows] = transformer.transform_views(data.X[rows])
        out[domain] = (V, data.y, split)
    return out


def extract(scale: PacsScale, device: str) -> dict[str, Any]:
    """Fill the feature cache for every backbone; per-backbone timings and forward counts."""
    timings = {}
    for name in scale.backbones:
        start = time.perf_counter()
        feats = features(name, scale, device)
        n_images = sum(len(y) for _, y, _ in feats.values())
        n_views = sum(len(p.view_rows(d in scale.single_sources)) for d, (_, _, p) in feats.items())
        timings[name] = {"images": n_images, "view_images": n_views, "forwards": n_images + N_VIEWS * n_views,
                         "seconds": time.perf_counter() - start}
        io.log(f"features {name}: {timings[name]}")
    return timings


def center(V: np.ndarray) -> np.ndarray:
    """The center crops of features with a views axis, contiguous."""
    return np.ascontiguousarray(V[:, 0])


def train_sets(feats: dict, domains: list[str], part: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views, labels and source domain of the ``part`` rows of ``domains``, concatenated."""
    rows = [getattr(feats[d][2], part) for d in domains]
    V = np.concatenate([feats[d][0][r] for d, r in zip(domains, rows)])
    y = np.concatenate([feats[d][1][r] for d, r in zip(domains, rows)])
    return V, y, np.concatenate([np.full(len(r), d) for d, r in zip(domains, rows)])


@dataclass(frozen=True)
class TrainingSet:
    """One training set of a protocol: its data, and the domains it leaves out.

    ``unit`` is the target domain (``lodo``, ``lodo-selection``) or the source (``single``); ``held_out`` the
    source a ``lodo-selection`` set leaves out (and is scored on). ``V`` has a views axis; ``groups`` is the
    source domain of each row.
    """

    protocol: str
    unit: str
    held_out: str | None
    sources: tuple[str, ...]
    V: np.ndarray
    y: np.ndarray
    groups: np.ndarray


def training_sets(feats: dict, scale: PacsScale, protocols: tuple[str, ...] = PROTOCOLS) -> Iterator[TrainingSet]:
    """Every training set of ``protocols`` for one backbone's ``feats``: per target, its multi-source set, then its
    leave-one-domain-out selection sets; then each single source."""
    for target in scale.lodo_targets if {"lodo", "lodo-selection"} & set(protocols) else ():
        sources = [d for d in DOMAINS if d != target]
        if "lodo" in protocols:
            yield TrainingSet("lodo", target, None, tuple(sources), *train_sets(feats, sources, "train"))
        for held in sources if "lodo-selection" in protocols else ():
            rest = [d for d in sources if d != held]
            yield TrainingSet("lodo-selection", target, held, tuple(rest), *train_sets(feats, rest, "train"))
    for source in scale.single_sources if "single" in protocols else ():
        V, y, p = feats[source]
        yield TrainingSet("single", source, None, (source,), V[p.single_train], y[p.single_train],
                          np.full(len(p.single_train), source))
