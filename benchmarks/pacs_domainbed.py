"""Does NMTune help under natural domain shift? PACS at DomainBed scale, with fresh crops every epoch.

All 9,991 PACS images (``../shared/data/pacs-full``, 7 classes, 4 styles) through two frozen ImageNet-1k
backbones (EfficientNet-Lite0, MobileNetV2; timm's eval transform at 224 px), each image as its center crop
and as a pool of ``K = 8`` augmented views (the authors' random resized crop, scale 0.8-1, + flip), cached
once in ``benchmarks/cache``. Run as a module::

    .venv/bin/python -m benchmarks.pacs_domainbed                 # the study (resumable; seed-major order)
    .venv/bin/python -m benchmarks.pacs_domainbed --quick         # <= 10 min smoke run -> pacs_domainbed_quick*
    .venv/bin/python -m benchmarks.pacs_domainbed --extract-only  # only fill the feature cache
    .venv/bin/python -m benchmarks.pacs_domainbed --report        # re-render the report from the JSON

The protocol (DomainBed's, never a target domain in training or selection):

* every trial seed ``s`` splits every domain 80 / 20 (stratified, ``random_state=s``): the 80 % part is a
  source's training rows, the 20 % part its *training-domain validation* rows (role ``val``);
* ``lodo`` (multi-source): train on the three other domains' training rows, validate on their validation
  rows, test on the whole held-out target (role ``ood``), for each of the four targets;
* ``single`` (single-source): train on one domain's training rows, validate on its validation rows, test on
  the three other domains (role ``ood``), for photo and sketch (6 (source, target) pairs per backbone);
* heads that train on views draw a fresh pair of distinct views from the image's pool at every step (about
  60 crops over 30 epochs), seeded by the trial seed; the pool itself is drawn once (view seed 0: a pool per
  trial seed would cost five times the 80,000 extra forwards per backbone). The regularizers see both views
  (2B rows), as the authors compute them.

Records come from :func:`sknmtune.evaluation.evaluate_heads` (accuracy, macro-F1, the SVE / LSVR of ``F`` and
of every head's ``Z`` on each test set); the soft vote ``make_voting_head()`` is scored from its members'
stored probabilities (the same fits: its members are those heads with the same seed). Statistics come from
:mod:`sknmtune.evaluation`: paired differences with intervals over target domains (multi-source) or
(source, target) pairs (single-source), never over seeds that share a pool of crops; claims from every
comparison they need; the recommended head by :func:`~sknmtune.evaluation.recommend_head_leaving_out`.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import datasets as bd
from benchmarks.harness import io
from benchmarks.harness.backbones import IMAGENET_BACKBONES
from benchmarks.harness.ensembles import ProbaStore, vote_records

DOMAINS = bd.PACS_DOMAINS
N_VIEWS = 8  # the pool of augmented views per image (K)
VIEW_SEED = 0


#: the compared heads (stored names of ``benchmarks.harness.methods.METHODS``) -> their phase in the run order.
#: Phase 1, every seed first: the paper's three heads, the probe and NMTuneClassifierCV() (with them, the vote) and the
#: cheaper variants the cost issue decides on (the search on 2,000 or 1,000 rows, the vote's MLP members with early
#: stopping); phase 2: the authors' recipe (center crops and fresh view pairs); phase 3: the probe on raw features and
#: the authors' MLP on views.
PHASES: dict[str, int] = {
    "lp": 1, "logreg-cv": 1, "mlp": 1, "nmtune-paper": 1, "cv": 1, "cv-sub2000": 1, "cv-sub1000": 1, "mlp-es": 1,
    "nmtune-paper-es": 1,
    "nmtune-authors": 2, "nmtune-authors-views": 2, "logreg-cv-raw": 3, "mlp-authors-views": 3,
}

#: soft votes scored from their members' stored probabilities: name -> members (``vote`` is make_voting_head())
VOTES: dict[str, tuple[str, ...]] = {
    "vote": ("logreg-cv", "lp", "mlp", "nmtune-paper"),
    "vote-lr-mlp": ("logreg-cv", "mlp"),
    "vote-views": ("logreg-cv", "lp", "mlp", "nmtune-authors-views"),
    "vote-es": ("logreg-cv", "lp", "mlp-es", "nmtune-paper-es"),
}

VOTE_LABELS = {"vote": "make_voting_head()", "vote-lr-mlp": "soft vote: LogisticRegressionCV + MLP",
               "vote-views": "soft vote: LogisticRegressionCV + LP + MLP + NMTune (authors' recipe, views)",
               "vote-es": "make_voting_head(('logreg-cv', 'lp', 'mlp-es', 'nmtune-paper-es')): early-stopped MLP members"}


def labels() -> dict[str, str]:
    """Report labels, in report order: the heads (from the method table), then the votes."""
    from benchmarks.harness.methods import label

    return {**{m: label(m) for m in PHASES}, **VOTE_LABELS}


@dataclass(frozen=True)
class Scale:
    name: str
    seeds: tuple[int, ...]
    backbones: tuple[str, ...]
    domain_cap: int | None  # images per domain read (None: all)
    lodo_targets: tuple[str, ...]
    single_sources: tuple[str, ...]
    max_epochs: int | None  # None: each head's own budget
    file_stem: str


SCALES = {
    "full": Scale("full", (0, 1, 2, 3, 4), tuple(IMAGENET_BACKBONES), None, DOMAINS, ("photo", "sketch"), None,
                  "pacs_domainbed"),
    # one backbone, two targets / sources, 150 images per domain, 5 epochs: every code path in a few minutes
    "quick": Scale("quick", (0, 1), ("tf_efficientnet_lite0",), 150, ("photo", "sketch"), ("photo",), 5,
                   "pacs_domainbed_quick"),
}


# =========================================================================== features


@dataclass
class DomainFeatures:
    """One domain through one backbone: center crops ``(n, D)``, the view pool ``(n, K, D)``, labels."""

    center: np.ndarray
    views: np.ndarray
    y: np.ndarray


def features(name: str, scale: Scale, device: str = "auto") -> dict[str, DomainFeatures]:
    """``{domain: DomainFeatures}`` for one backbone (extracted once, then read from the cache)."""
    transformer = IMAGENET_BACKBONES[name].make(io.CACHE_DIR, device=device, views=N_VIEWS, random_state=VIEW_SEED)
    out = {}
    for domain in DOMAINS:
        data = bd.subsample(bd.load_pacs_full(domain), scale.domain_cap, seed=0)
        V = transformer.transform_views(data.X)  # (n, 1 + K, D): index 0 the center crop
        out[domain] = DomainFeatures(np.ascontiguousarray(V[:, 0]), V, np.asarray(data.y))
    return out


def split(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A domain's (training rows, validation rows) for trial ``seed``: stratified 80 / 20."""
    from sklearn.model_selection import train_test_split

    train, val = train_test_split(np.arange(len(y)), test_size=0.2, random_state=seed, stratify=y)
    return np.sort(train), np.sort(val)


# =========================================================================== fits


def _key(r: dict[str, Any]) -> tuple:
    return (r["protocol"], r["backbone"], r["unit"], r["method"], r["seed"])


@dataclass(frozen=True)
class TrainingSet:
    """One (protocol, unit, seed) training set: the rows a head sees and the sets it is scored on."""

    protocol: str
    unit: str  # the target (lodo) or the source (single)
    sources: tuple[str, ...]
    seed: int
    V: np.ndarray  # (n, 1 + K, D)
    y: np.ndarray
    validation: tuple[np.ndarray, np.ndarray]
    ood: dict[str, tuple[np.ndarray, np.ndarray]]


def training_sets(feats: dict[str, DomainFeatures], scale: Scale, seed: int) -> list[TrainingSet]:
    """The seed's training sets of both protocols (lodo: every target; single: every source)."""
    parts = {d: split(f.y, seed) for d, f in feats.items()}

    def rows(domains: tuple[str, ...], which: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        V = np.concatenate([feats[d].views[parts[d][which]] for d in domains])
        y = np.concatenate([feats[d].y[parts[d][which]] for d in domains])
        return V, y, np.ascontiguousarray(V[:, 0])

    out = []
    for target in scale.lodo_targets:
        sources = tuple(d for d in DOMAINS if d != target)
        V, y, _ = rows(sources, 0)
        _, yv, Cv = rows(sources, 1)
        out.append(TrainingSet("lodo", target, sources, seed, V, y, (Cv, yv),
                               {target: (feats[target].center, feats[target].y)}))
    for source in scale.single_sources:
        V, y, _ = rows((source,), 0)
        _, yv, Cv = rows((source,), 1)
        out.append(TrainingSet("single", source, (source,), seed, V, y, (Cv, yv),
                               {d: (feats[d].center, feats[d].y) for d in DOMAINS if d != source}))
    return out


def evaluate(store: io.RecordStore, probas: ProbaStore, backbone: str, ts: TrainingSet, methods: list[str],
             scale: Scale, n_jobs: int, device: str) -> None:
    """Fit and score the pending methods on one training set, then its soft votes."""
    from sknmtune.evaluation import evaluate_heads

    from benchmarks.harness import methods as hm

    base = (ts.protocol, backbone, ts.unit)
    done = store.done()
    group = (*base, f"seed{ts.seed}")
    labels = {name: y for name, (_, y) in ts.ood.items()} | {"val": ts.validation[1]}
    probas.put_labels(group, labels)
    pending = [m for m in methods if base + (m, ts.seed) not in done]
    if pending:
        heads = {m: hm.build(m, ts.seed, max_epochs=scale.max_epochs, device=device) for m in pending}
        center = np.ascontiguousarray(ts.V[:, 0])
        extra = {"protocol": ts.protocol, "backbone": backbone, "unit": ts.unit, "sources": "+".join(ts.sources),
                 "n_views": N_VIEWS, "view_seed": VIEW_SEED}

        def on_record(records: list[dict[str, Any]]) -> None:
            store.add(records)
            io.log_fit(records, f"{records[0]['protocol']}/{backbone}/{records[0]['unit']}")

        evaluate_heads(
            heads, center, ts.y, seeds=(ts.seed,), spectra=True, extra=extra, n_jobs=n_jobs,
            costs=hm.costs(pending), on_record=on_record, train_by_method=hm.training_data(pending, ts.V, ts.y),
            on_proba=lambda m, s, p: probas.put(group, m, s, p), ood_tests=ts.ood, validation=ts.validation,
        )
    score_votes(store, probas, backbone, ts)


def score_votes(store: io.RecordStore, probas: ProbaStore, backbone: str, ts: TrainingSet) -> None:
    """Records of every soft vote whose members are all fitted for this training set (their stored probabilities)."""
    base = (ts.protocol, backbone, ts.unit)
    group = (*base, f"seed{ts.seed}")
    done = store.done()
    for name, members in VOTES.items():
        if base + (name, ts.seed) in done:
            continue
        member_probas = {m: probas.get(group, m, ts.seed) for m in members}
        member_records = [r for r in store.records if _key(r)[:3] == base and r["method"] in members
                          and r["seed"] == ts.seed]
        if any(p is None for p in member_probas.values()) or len({r["method"] for r in member_records}) < len(members):
            continue
        store.add(vote_records(name, member_probas, probas.labels(group), member_records))


def run(scale: Scale, methods: list[str], n_jobs: int, device: str, store: io.RecordStore) -> None:
    """Every pending fit, phase by phase, seed by seed, backbone by backbone (a partial run is a balanced design)."""
    probas = ProbaStore(io.CACHE_DIR / "pacs_domainbed_proba" / scale.file_stem)
    feats: dict[str, dict[str, DomainFeatures]] = {}  # read from the cache once per backbone, when first needed
    for phase in sorted({PHASES[m] for m in methods}):
        chosen = [m for m in methods if PHASES[m] == phase]
        for seed in scale.seeds:
            for name in scale.backbones:
                if name not in feats:
                    feats[name] = features(name, scale)
                for ts in training_sets(feats[name], scale, seed):
                    evaluate(store, probas, name, ts, chosen, scale, n_jobs, device)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of every code path (<= 10 min)")
    parser.add_argument("--extract-only", action="store_true", help="only fill the feature cache")
    parser.add_argument("--report", action="store_true", help="only re-render the report from the JSON")
    parser.add_argument("--device", default="cpu", help="device of the heads (default cpu)")
    parser.add_argument("--extract-device", default="auto", help="device of the backbones")
    parser.add_argument("--jobs", type=int, default=2, help="fits in parallel (one torch thread each)")
    parser.add_argument("--methods", default=",".join(PHASES), help="comma-separated subset of " + ",".join(PHASES))
    parser.add_argument("--backbones", default=None, help="comma-separated subset of the scale's backbones")
    parser.add_argument("--seeds", default=None, help="comma-separated subset of the scale's seeds")
    parser.add_argument("--results-dir", default=None, help="results folder (default: benchmarks/results)")
    args = parser.parse_args(argv)
    results = Path(args.results_dir) if args.results_dir else io.RESULTS_DIR
    scale = SCALES["quick" if args.quick else "full"]
    if args.backbones:
        scale = replace(scale, backbones=tuple(args.backbones.split(",")))
    if args.seeds:
        scale = replace(scale, seeds=tuple(int(s) for s in args.seeds.split(",")))
    methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(methods) - set(PHASES))
    if unknown:
        parser.error(f"unknown methods {unknown}; choose among {', '.join(PHASES)}")
    store = io.RecordStore(results / f"{scale.file_stem}.json", _key)
    if not args.report:
        import torch

        meta_path = results / f"{scale.file_stem}_meta.json"
        meta = io.read_json(meta_path, {})
        run_meta: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M"), "args": list(argv or []),
                                    "jobs": args.jobs}
        meta.setdefault("runs", []).append(run_meta)
        torch.set_num_threads(2)
        start = time.perf_counter()
        for name in scale.backbones:
            features(name, scale, args.extract_device)
        run_meta["features_seconds"] = round(time.perf_counter() - start, 1)
        io.write_json(meta_path, meta)
        if not args.extract_only:
            torch.set_num_threads(1)
            start = time.perf_counter()
            run(scale, methods, args.jobs, args.device, store)
            run_meta["fits_seconds"] = round(time.perf_counter() - start, 1)
            run_meta["finished"] = time.strftime("%Y-%m-%d %H:%M")
            io.write_json(meta_path, meta)
    from benchmarks.harness.pacs_report import write_report

    write_report(store.records, scale.file_stem, results, labels())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
