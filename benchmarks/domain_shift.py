"""Does NMTune help under natural domain shift? The PACS benchmark that can decide it (DomainBed protocols).

PACS (all 9,991 images of ``../shared/data/pacs-full``, 7 classes, 4 styles) through two frozen
ImageNet-1k backbones (EfficientNet-Lite0, MobileNetV2; timm's eval transform at 224 px), each image as
its center crop and as ``K`` augmented views (the authors' random resized crop + flip, seeded per image;
:class:`sknmtune.FrozenBackboneTransformer` ``views=K``), cached once in ``benchmarks/cache``::

    .venv/bin/python -m benchmarks.domain_shift                  # full run (resumable; spans sessions)
    .venv/bin/python -m benchmarks.domain_shift --quick          # <= 10 min smoke run -> domain_shift_quick*
    .venv/bin/python -m benchmarks.domain_shift --extract-only   # only fill the feature cache
    .venv/bin/python -m benchmarks.domain_shift --report         # re-render the report from the JSON

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
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import io
from benchmarks.harness import methods as hm
from benchmarks.harness import pacs_domains as pacs
from benchmarks.harness import report
from benchmarks.harness.ensembles import ENSEMBLES, ProbaStore, vote_records

# =========================================================================== fits

METHODS = report.DOMAIN_SHIFT_METHODS  # declared in the harness for benchmarks/render_docs.py too


def record_key(r: dict[str, Any]) -> tuple:
    """The fit a record belongs to: (protocol, backbone, unit, selection, method, seed)."""
    return (r["protocol"], r["backbone"], r["unit"], r["selection"], r["method"], r["seed"])


def _evaluate(store: io.RecordStore, methods: list[str], seeds: tuple[int, ...], V: np.ndarray, y: np.ndarray,
              scale: pacs.PacsScale, n_jobs: int, device: str, extra: dict[str, Any], groups: np.ndarray | None = None,
              **tests: Any) -> None:
    """Fit and score the pending (method, seed) pairs of one group; then its soft votes.

    Methods that select across domains get ``groups`` (the source domain of each row) and are skipped
    without them (single-source data).
    """
    from sknmtune.evaluation import evaluate_heads

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
               and (groups is not None or not hm.needs_groups(m))]
    if not pending:
        _votes(store, probas, base, seeds)
        return
    heads = {m: hm.build(m, 0, max_epochs=scale.max_epochs, device=device) for m in pending}

    def on_record(records: list[dict[str, Any]]) -> None:
        store.add(records)
        r = records[0]
        io.log_fit(records, f"{r['protocol']}/{r['backbone']}/{r['unit']}/{r['selection']}")

    evaluate_heads(
        heads, pacs.center(V), y, seeds=seeds, spectra=False, extra=extra, n_jobs=n_jobs, costs=hm.costs(pending),
        skip=lambda m, s: base + (m, s) in done, on_record=on_record,
        train_by_method=hm.training_data(pending, V, y, groups),
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
            member_records = [r for r in store.records if record_key(r)[:4] == base and r["method"] in members
                              and r["seed"] == seed]
            if any(p is None for p in member_probas.values()) or len({r["method"] for r in member_records}) < len(members):
                continue
            store.add(vote_records(name, member_probas, labels, member_records))


def run_fits(scale: pacs.PacsScale, methods: list[str], n_jobs: int, device: str, store: io.RecordStore,
             protocols: tuple[str, ...] = pacs.PROTOCOLS) -> None:
    """Fit every pending (group, method, seed) of ``protocols`` ("lodo": the multi-source fits scored on the
    target and the sources' validation parts; "lodo-selection": the leave-one-domain-out fits over the
    sources; "single": single source)."""
    for name in scale.backbones:
        feats = pacs.features(name, scale)
        for ts in pacs.training_sets(feats, scale, protocols):
            if ts.protocol == "lodo":  # multi-source: scored on the target and the sources' held-out parts
                Vv, yv, _ = pacs.train_sets(feats, list(ts.sources), "val")
                extra = {"protocol": "lodo", "backbone": name, "unit": ts.unit, "selection": "train-domain",
                         "sources": "+".join(ts.sources)}
                _evaluate(store, methods, scale.seeds, ts.V, ts.y, scale, n_jobs, device, extra, groups=ts.groups,
                          ood_tests={ts.unit: (pacs.center(feats[ts.unit][0]), feats[ts.unit][1])},
                          validation=(pacs.center(Vv), yv))
            elif ts.protocol == "lodo-selection":  # leave-one-domain-out selection over the sources
                extra = {"protocol": "lodo", "backbone": name, "unit": ts.unit, "selection": f"lodo:{ts.held_out}",
                         "sources": "+".join(ts.sources)}
                _evaluate(store, methods, scale.lodo_selection_seeds, ts.V, ts.y, scale, n_jobs, device, extra,
                          groups=ts.groups,
                          ood_tests={ts.held_out: (pacs.center(feats[ts.held_out][0]), feats[ts.held_out][1])})
            else:  # single source -> the three other domains
                Vs, ys, p = feats[ts.unit]
                extra = {"protocol": "single", "backbone": name, "unit": ts.unit, "selection": "train-domain",
                         "sources": ts.unit}
                _evaluate(store, methods, scale.seeds, ts.V, ts.y, scale, n_jobs, device, extra,
                          id_test=(pacs.center(Vs[p.single_test]), ys[p.single_test]),
                          ood_tests={d: (pacs.center(feats[d][0]), feats[d][1]) for d in pacs.DOMAINS if d != ts.unit},
                          validation=(pacs.center(Vs[p.single_val]), ys[p.single_val]))


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
    scale = pacs.SCALES["quick" if args.quick else "full"]
    if args.backbones:
        scale = replace(scale, backbones=tuple(args.backbones.split(",")))
    if args.seeds:
        scale = replace(scale, seeds=tuple(int(s) for s in args.seeds.split(",")))
    store = io.RecordStore(results / f"{scale.file_stem}.json", record_key)
    if not args.report:
        start = time.perf_counter()
        timings = pacs.extract(scale, args.device)
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
    report.write_domain_shift_report(store.records, scale.file_stem, results, METHODS + tuple(ENSEMBLES))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
