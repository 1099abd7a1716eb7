"""Does NMTune help under natural domain shift? The PACS benchmark that can decide it (DomainBed protocols).

PACS (all 9,991 images of ``../shared/data/pacs-full``, 7 classes, 4 styles) through two frozen
ImageNet-1k backbones (EfficientNet-Lite0, MobileNetV2; timm's eval transform at 224 px), each image as
its center crop and as ``K`` augmented views (the authors' random resized crop + flip, seeded per image;
:class:`sknmtune.FrozenBackboneTransformer` ``views=K``), cached once in ``benchmarks/cache``::

    .venv/bin/python benchmarks/domain_shift.py                  # full run (resumable; spans sessions)
    .venv/bin/python benchmarks/domain_shift.py --quick          # <= 10 min smoke run -> domain_shift_quick*
    .venv/bin/python benchmarks/domain_shift.py --extract-only   # only fill the feature cache
    .venv/bin/python benchmarks/domain_shift.py --report         # re-render the report from the JSON

Protocols (never a target domain in training or selection):

* ``lodo`` (multi-source, DomainBed's leave-one-domain-out): train on three domains, test on the
  fourth, for each of the four targets. Each source is split 80/20 (stratified, seed 0); heads train
  on the 80 % parts and are scored on the pooled 20 % parts (role ``val``: *training-domain
  validation*) and on the whole target (role ``ood``). *Leave-one-domain-out selection* refits each
  head on two sources and scores it on the third (role ``val``, ``selection="lodo"``).
* ``single`` (single-source, as the ImageNet benchmark's PACS cells but on all images): train on photo
  or sketch (60/20/20 train/val/test), test on the three other domains (all images).

Every head is evaluated by :func:`sknmtune.evaluation.evaluate_heads`; the claim table ("NMTune > MLP >
LP") uses :func:`sknmtune.evaluation.paired_difference` over (target domain x seed) units.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0] or ".").resolve() == _ROOT / "benchmarks":
    sys.path.pop(0)  # benchmarks/datasets.py must not shadow the `datasets` package
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

import numpy as np  # noqa: E402

from benchmarks import datasets as bd  # noqa: E402
from benchmarks.harness import io  # noqa: E402
from benchmarks.harness.ensembles import ENSEMBLES, ProbaStore, vote_records  # noqa: E402
from benchmarks.harness.backbones import IMAGENET_BACKBONES  # noqa: E402

DOMAINS = bd.PACS_DOMAINS
N_VIEWS = 2  # augmented views per image (K): the fewest that give the authors' two distinct views per step


@dataclass(frozen=True)
class Scale:
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
    "full": Scale("full", (0, 1, 2, 3, 4), tuple(IMAGENET_BACKBONES), None, 300, 1000, ("photo", "sketch"), DOMAINS,
                  None, (0,), "domain_shift"),
    # one backbone, one target and one source, 200 images per domain, 8 epochs: every code path in <= 10 min
    "quick": Scale("quick", (0,), ("tf_efficientnet_lite0",), 200, 80, 80, ("photo",), ("photo",), 8,
                   (0,), "domain_shift_quick"),
}


# =========================================================================== phase 1: features


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


def parts(y: np.ndarray, scale: Scale) -> Parts:
    train, val = _split(y, 0.2)
    rest, test = _split(y, 0.2)
    single_train, single_val = _split(y[rest], 0.25)
    return Parts(_cap(train, y, scale.source_train_cap), val,
                 _cap(rest[single_train], y, scale.single_train_cap), rest[single_val], test)


def features(name: str, scale: Scale, device: str = "auto") -> dict[str, tuple[np.ndarray, np.ndarray, Parts]]:
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


def extract(scale: Scale, device: str) -> dict[str, Any]:
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


# =========================================================================== phase 2: fits


METHODS = ("lp", "logreg", "mlp", "nmtune-paper", "mlp-authors", "mlp-authors-views", "nmtune-authors",
           "nmtune-authors-views", "nmtune-default", "nmtune-default-views", "recommended", "recommended-families",
           "recommended-groups")


def _key(r: dict[str, Any]) -> tuple:
    return (r["protocol"], r["backbone"], r["unit"], r["selection"], r["method"], r["seed"])


def train_sets(feats: dict, domains: list[str], part: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views, labels and source domain of the ``part`` rows of ``domains``, concatenated."""
    rows = [getattr(feats[d][2], part) for d in domains]
    V = np.concatenate([feats[d][0][r] for d, r in zip(domains, rows)])
    y = np.concatenate([feats[d][1][r] for d, r in zip(domains, rows)])
    return V, y, np.concatenate([np.full(len(r), d) for d, r in zip(domains, rows)])


def _evaluate(store: io.RecordStore, methods: list[str], seeds: tuple[int, ...], V: np.ndarray, y: np.ndarray,
              scale: Scale, n_jobs: int, device: str, extra: dict[str, Any], groups: np.ndarray | None = None,
              **tests: Any) -> None:
    """Fit and score the pending (method, seed) pairs of one group; then its soft votes.

    Methods that select across domains get ``groups`` (the source domain of each row) and are skipped
    without them (single-source data).
    """
    from sknmtune.evaluation import evaluate_heads

    from benchmarks.harness import methods as hm

    done = store.done()
    base = (extra["protocol"], extra["backbone"], extra["unit"], extra["selection"])
    probas = ProbaStore(io.CACHE_DIR / "domain_shift_proba" / scale.file_stem)
    labels = {name: pair[1] for name, pair in tests.get("ood_tests", {}).items()}
    if tests.get("id_test") is not None:
        labels["id"] = tests["id_test"][1]
    if tests.get("validation") is not None:
        labels["val"] = tests["validation"][1]
    probas.put_labels(base, labels)
    pending = [m for m in methods if any(base + (m, s) not in done for s in seeds)
               and (groups is not None or m not in hm.GROUP_METHODS)]
    if not pending:
        _votes(store, probas, base, seeds)
        return
    heads = {m: hm.make(m, 0, max_epochs=scale.max_epochs, device=device) for m in pending}
    center = np.ascontiguousarray(V[:, 0])

    def on_record(records: list[dict[str, Any]]) -> None:
        store.add(records)
        r = records[0]
        scores = ", ".join(f"{x['domain']} {x['accuracy']:.3f}" for x in records)
        io.log(f"  {r['protocol']}/{r['backbone']}/{r['unit']}/{r['selection']} {r['method']:<21} seed {r['seed']} "
               f"fit {r['fit_seconds']:.1f}s  {scores}")

    evaluate_heads(
        heads, center, y, seeds=seeds, spectra=False, extra=extra, n_jobs=n_jobs, costs=hm.COSTS,
        skip=lambda m, s: base + (m, s) in done, on_record=on_record,
        train_by_method={
            **{m: (V, y) for m in pending if m in hm.VIEW_METHODS},
            **{m: (center, y, {"groups": groups}) for m in pending if m in hm.GROUP_METHODS},
        },
        on_proba=lambda m, s, p: probas.put(base, m, s, p), **tests,
    )
    _votes(store, probas, base, seeds)


def _votes(store: io.RecordStore, probas: ProbaStore, base: tuple, seeds: tuple[int, ...]) -> None:
    """Soft votes of :data:`ENSEMBLES` for every seed whose members are all fitted (their stored probabilities)."""
    done = store.done()
    labels = probas.labels(base)
    for name, members in ENSEMBLES.items():
        for seed in seeds:
            if base + (name, seed) in done:
                continue
            member_probas = {m: probas.get(base, m, seed) for m in members}
            member_records = [r for r in store.records if _key(r)[:4] == base and r["method"] in members
                              and r["seed"] == seed]
            if any(p is None for p in member_probas.values()) or len({r["method"] for r in member_records}) < len(members):
                continue
            store.add(vote_records(name, member_probas, labels, member_records))


def _center(V: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(V[:, 0])


def run_fits(scale: Scale, methods: list[str], n_jobs: int, device: str, store: io.RecordStore,
             protocols: tuple[str, ...] = ("lodo", "lodo-selection", "single")) -> None:
    """Fit every pending (group, method, seed) of ``protocols`` ("lodo": the multi-source fits scored on the
    target and the sources' validation parts; "lodo-selection": the leave-one-domain-out fits over the
    sources; "single": single source)."""
    for name in scale.backbones:
        feats = features(name, scale)
        # multi-source leave-one-domain-out
        for target in scale.lodo_targets if {"lodo", "lodo-selection"} & set(protocols) else ():
            sources = [d for d in DOMAINS if d != target]
            V, y, g = train_sets(feats, sources, "train")
            Vv, yv, _ = train_sets(feats, sources, "val")
            extra = {"protocol": "lodo", "backbone": name, "unit": target, "selection": "train-domain",
                     "sources": "+".join(sources)}
            if "lodo" in protocols:
                _evaluate(store, methods, scale.seeds, V, y, scale, n_jobs, device, extra, groups=g,
                          ood_tests={target: (_center(feats[target][0]), feats[target][1])},
                          validation=(_center(Vv), yv))
            for held in sources if "lodo-selection" in protocols else ():  # leave-one-domain-out selection over the sources
                rest = [d for d in sources if d != held]
                V2, y2, g2 = train_sets(feats, rest, "train")
                extra = {"protocol": "lodo", "backbone": name, "unit": target, "selection": f"lodo:{held}",
                         "sources": "+".join(rest)}
                _evaluate(store, methods, scale.lodo_selection_seeds, V2, y2, scale, n_jobs, device, extra, groups=g2,
                          ood_tests={held: (_center(feats[held][0]), feats[held][1])})
        # single source -> the three other domains
        for source in scale.single_sources if "single" in protocols else ():
            Vs, ys, p = feats[source]
            extra = {"protocol": "single", "backbone": name, "unit": source, "selection": "train-domain",
                     "sources": source}
            _evaluate(store, methods, scale.seeds, Vs[p.single_train], ys[p.single_train], scale, n_jobs, device, extra,
                      id_test=(_center(Vs[p.single_test]), ys[p.single_test]),
                      ood_tests={d: (_center(feats[d][0]), feats[d][1]) for d in DOMAINS if d != source},
                      validation=(_center(Vs[p.single_val]), ys[p.single_val]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--extract-only", action="store_true")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--jobs", type=int, default=2, help="fits in parallel")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of " + ",".join(METHODS))
    parser.add_argument("--backbones", default=None, help="comma-separated subset of the scale's backbones")
    parser.add_argument("--seeds", default=None, help="comma-separated subset of the scale's seeds")
    parser.add_argument("--protocols", default="lodo,lodo-selection,single",
                        help="comma-separated subset of lodo, lodo-selection, single (default: all)")
    parser.add_argument("--report", action="store_true", help="only re-render the report from the JSON")
    parser.add_argument("--cache", default=None, help="feature cache folder (default: benchmarks/cache)")
    parser.add_argument("--results-dir", default=None, help="results folder (default: benchmarks/results)")
    args = parser.parse_args(argv)
    if args.cache:
        io.CACHE_DIR = Path(args.cache).resolve()
    results = Path(args.results_dir) if args.results_dir else io.RESULTS_DIR
    scale = SCALES["quick" if args.quick else "full"]
    if args.backbones:
        scale = replace(scale, backbones=tuple(args.backbones.split(",")))
    if args.seeds:
        scale = replace(scale, seeds=tuple(int(s) for s in args.seeds.split(",")))
    store = io.RecordStore(results / f"{scale.file_stem}.json", _key)
    if not args.report:
        start = time.perf_counter()
        timings = extract(scale, args.device)
        meta_path = results / f"{scale.file_stem}_meta.json"
        meta = io.read_json(meta_path, {})
        meta.setdefault("runs", []).append({"extraction": timings, "features_seconds": time.perf_counter() - start})
        io.write_json(meta_path, meta)
        if not args.extract_only:
            methods = [m for m in args.methods.split(",") if m]
            unknown = sorted(set(methods) - set(METHODS))
            if unknown:
                parser.error(f"unknown methods {unknown}")
            fit_start = time.perf_counter()
            run_fits(scale, methods, args.jobs, args.device, store, tuple(args.protocols.split(",")))
            meta["runs"][-1]["fits_seconds"] = time.perf_counter() - fit_start
            io.write_json(meta_path, meta)
    from benchmarks.harness import report

    report.write_domain_shift_report(store.records, scale.file_stem, results, METHODS + tuple(ENSEMBLES))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
