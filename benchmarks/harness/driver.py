"""The one command line of the accuracy benchmarks: features, fits (resumable), meta file, report.

A benchmark script declares an :class:`AccuracyBenchmark` (its scales, tasks, backbones, methods and report)
and calls :func:`main`; the phases are the same for every script:

1. features of every (task, backbone) (:func:`benchmarks.harness.tasks.extract_jobs`, cached);
2. the script's own step before the fits, if any (``before_fits``: e.g. a validation study);
3. every pending (task, backbone, method, seed) through :func:`benchmarks.harness.runner.run_benchmark`, each
   head built by :func:`benchmarks.harness.methods.build`, records written after each fit; records of the
   package-default heads whose configuration changed (:func:`spec`) are refitted, ``--refit`` refits the
   selected ones;
4. ``<stem>_meta.json`` (runtime per invocation, machine, skips, data) and the report.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from benchmarks.harness.hardware import machine
from benchmarks.harness.io import RESULTS_DIR, clean, log, read_json, write_json
from benchmarks.harness.methods import build as build_method
from benchmarks.harness.methods import package_default_methods
from benchmarks.harness.runner import run_benchmark
from benchmarks.harness.tasks import JobFeatures, Scale, Task, extract_jobs

__all__ = ["AccuracyBenchmark", "kept_for_refit", "main", "method_list", "same_computation", "spec", "stale_units"]

_SKIP_PARAMS = ("verbose", "device", "random_state")


@dataclass(frozen=True)
class AccuracyBenchmark:
    """What one accuracy benchmark script declares; :func:`main` runs it.

    Its methods are names of :data:`benchmarks.harness.methods.METHODS`, built by
    :func:`benchmarks.harness.methods.build` with the scale's epoch budget and the ``--device``.
    """

    description: str
    scales: Mapping[str, Scale]  # "full" and "quick"
    tasks: Mapping[str, Task]
    backbones: Mapping[str, Any]
    methods: tuple[str, ...]
    render_report: Callable[[Scale, dict[str, Any], Path], None]  # (scale, meta, results folder)
    quick_help: str = "<= 5 min smoke run"
    method_aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # e.g. "core" -> methods
    score_validation: bool = False  # also score each fit on the "val" split (records in <stem>_validation.json)
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    before_fits: Callable[[argparse.Namespace, Scale, list[JobFeatures], Path], None] | None = None
    after_fits: Callable[[dict[str, Any]], None] | None = None  # gets <stem>_validation.json's content
    meta_extra: Callable[[Scale], dict[str, Any]] = lambda scale: {}


def spec(estimator: Any) -> dict[str, Any]:
    """The estimator's own parameters (no device/verbosity/seed), JSON-safe: identifies a configuration.

    A model-selection head's ``param_grid=None`` is spelled out as the package's current default grid, and
    its base ``estimator`` as that estimator's parameters, so a change of either makes the records stale.
    """
    params = {k: v for k, v in estimator.get_params(deep=False).items() if k not in _SKIP_PARAMS}
    if "param_grid" in params and params["param_grid"] is None:
        from sknmtune import DEFAULT_PARAM_GRID

        params["param_grid"] = DEFAULT_PARAM_GRID
    if params.get("estimator") is not None:
        params["estimator"] = spec(params["estimator"])
    return json.loads(json.dumps(clean(params), default=repr))


def same_computation(stored: dict[str, Any] | None, current: dict[str, Any], n_train: int | None) -> bool:
    """Whether a record fitted with configuration ``stored`` is what ``current`` computes on its ``n_train`` rows:
    the same parameters, or parameters that differ only in ``selection_rows`` (absent: None, from before it
    existed) where neither value subsamples that many rows (``NMTuneClassifierCV`` then searches on every row)."""
    if stored is None:
        return False  # a record without a configuration predates the check
    if stored == current:
        return True
    rest = {k: v for k, v in stored.items() if k != "selection_rows"}
    if rest != {k: v for k, v in current.items() if k != "selection_rows"} or n_train is None:
        return False
    return all(v is None or n_train <= v for v in (stored.get("selection_rows"), current.get("selection_rows")))


def stale_units(records: list[dict[str, Any]], specs: dict[str, dict[str, Any]]) -> dict[str, set[tuple[str, str, int]]]:
    """Per method of ``specs``, the (task, backbone, seed) units whose records the package's current parameters
    would not reproduce (:func:`same_computation`); methods with none are left out."""
    out: dict[str, set[tuple[str, str, int]]] = {}
    for r in records:
        current = specs.get(r["method"])
        if current is not None and not same_computation(r.get("spec"), current, r.get("n_train")):
            out.setdefault(r["method"], set()).add((r["task"], r["backbone"], r["seed"]))
    return out


def kept_for_refit(rows: list[dict[str, Any]], methods: set[str],
                   units: set[tuple[str, str, int]] | None) -> list[dict[str, Any]]:
    """``rows`` without those of ``methods`` that are refitted: on the (task, backbone, seed) ``units`` only,
    or everywhere when ``units`` is None."""
    return [r for r in rows
            if r["method"] not in methods or (units is not None and (r["task"], r["backbone"], r["seed"]) not in units)]


def method_list(values: list[str] | None, methods: Iterable[str], aliases: Mapping[str, tuple[str, ...]]) -> list[str] | None:
    """``--methods`` values (space or comma separated, aliases expanded, first mention kept), checked."""
    if not values:
        return None
    names = [m for v in values for name in v.split(",") if name for m in aliases.get(name, (name,))]
    unknown = [m for m in names if m not in methods]
    if unknown:
        raise SystemExit(f"unknown method(s) {unknown}; choose among {', '.join(methods)}")
    return list(dict.fromkeys(names))


def _parser(bench: AccuracyBenchmark) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=bench.description, formatter_class=argparse.RawDescriptionHelpFormatter)
    aliases = "".join(f"; '{a}' = {','.join(ms)}" for a, ms in bench.method_aliases.items())
    for flags, kwargs in (
        (("--quick",), dict(action="store_true", help=bench.quick_help)),
        (("--report",), dict(action="store_true", help="only re-render the report from the JSON files")),
        (("--tasks",), dict(nargs="+", choices=tuple(bench.tasks), help="subset of tasks")),
        (("--backbones",), dict(nargs="+", choices=tuple(bench.backbones), help="subset of backbones")),
        (("--methods",), dict(nargs="+", help=f"subset of methods, space or comma separated: {', '.join(bench.methods)}{aliases}")),
        (("--seeds",), dict(nargs="+", type=int, help="subset of seeds (default: the scale's, 0 1 2)")),
        (("--refit",), dict(action="store_true", help="discard and refit the records of the selected methods")),
        (("--jobs",), dict(type=int, default=2, help="parallel fits (processes, 1 torch thread each); default 2")),
        (("--device",), dict(default="cpu", help="device for the heads (default cpu: this is a CPU benchmark)")),
        (("--extract-device",), dict(default="auto", help="device for feature extraction (default: a GPU if present)")),
        (("--extract-only",), dict(action="store_true", help="only extract (and cache) the features")),
        (("--fresh",), dict(action="store_true", help="discard previous results of this scale first")),
        (("--results-dir",), dict(default=str(RESULTS_DIR), help="folder of the JSON files and the report")),
    ):
        parser.add_argument(*flags, **kwargs)
    if bench.add_arguments is not None:
        bench.add_arguments(parser)
    return parser


def main(bench: AccuracyBenchmark, argv: list[str] | None = None) -> int:
    """Run ``bench`` with the command line ``argv`` (see the module docstring); returns the exit status."""
    args = _parser(bench).parse_args(argv)
    args.methods = method_list(args.methods, bench.methods, bench.method_aliases)
    args.argv = argv if argv is not None else sys.argv[1:]
    scale = bench.scales["quick" if args.quick else "full"]
    if args.seeds:  # a subset of the scale's seeds (e.g. seed 0 everywhere first, the others after)
        scale = replace(scale, seeds=tuple(args.seeds))
    folder = Path(args.results_dir)
    res_path, val_path, meta_path = (folder / f"{scale.file_stem}{s}.json" for s in ("", "_validation", "_meta"))
    meta = read_json(meta_path, {})
    if args.report:
        bench.render_report(scale, meta, folder)
        return 0
    import torch

    torch.set_num_threads(min(2, os.cpu_count() or 1))  # extraction; every head fit runs on 1 thread
    if args.fresh:
        for p in (res_path, val_path, meta_path):
            p.unlink(missing_ok=True)
        meta = {}
    skipped: list[str] = []
    unavailable: dict[str, str] = {}
    tasks = [bench.tasks[t] for t in (args.tasks or scale.tasks)]
    backbones = [bench.backbones[b] for b in (args.backbones or scale.backbones)]
    methods = list(args.methods or bench.methods)
    t0 = time.perf_counter()
    jobs, timings = extract_jobs(tasks, backbones, scale, args.extract_device, skipped, unavailable)
    phases = {"features_s": time.perf_counter() - t0, "validation_s": 0.0, "benchmark_s": 0.0}
    torch.set_num_threads(1)

    def finish(n_records: int | None) -> dict[str, Any]:
        run = {"finished": time.strftime("%Y-%m-%d %H:%M"), **{k: round(v, 1) for k, v in phases.items()},
               "total_s": round(sum(phases.values()), 1), "jobs": args.jobs, "records": n_records,
               "extraction": timings, "args": args.argv}
        data = {**meta.get("data", {}), **{j.task.name: j.notes for j in jobs}}
        out = {"runtime": {"runs": meta.get("runtime", {}).get("runs", []) + [run]}, "machine": machine(),
               "skipped": skipped, "scale": scale.name, "unavailable_backbones": unavailable, "data": data,
               **bench.meta_extra(scale)}
        write_json(meta_path, out)
        return out

    if args.extract_only or not jobs:
        log(f"features ready ({phases['features_s']:.0f}s)" + ("; --extract-only: stopping here" if jobs else
                                                                 "; nothing to fit: every task or backbone was skipped"))
        finish(None)
        return 0
    if bench.before_fits is not None:
        t0 = time.perf_counter()
        bench.before_fits(args, scale, jobs, val_path)
        phases["validation_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    records: list[dict[str, Any]] = read_json(res_path, [])
    validation = read_json(val_path, {"rows": []})
    def make(method: str, seed: int) -> Any:
        return build_method(method, seed, max_epochs=scale.max_epochs, device=args.device)

    # the methods whose configuration is the package's defaults: their records carry it, and are refitted when it changes
    specs = {m: spec(make(m, 0)) for m in package_default_methods(methods)}
    # --refit replaces the selected units; a change of the defaults, the units whose result it changes
    selected = {(t.name, b.name, s) for t in tasks for b in backbones for s in scale.seeds}
    refit = {m: selected for m in methods} if args.refit else stale_units(records, specs)
    for m, units in sorted(refit.items()):
        log(f"{m}: " + ("--refit" if args.refit else "its parameters changed in the package") + f"; its records of "
            f"{len(units)} (task, backbone, seed) unit(s) are dropped and refitted")
        records = kept_for_refit(records, {m}, units)
        if bench.score_validation:
            validation["rows"] = kept_for_refit(validation["rows"], {m}, units)
    done = {(r["task"], r["backbone"], r["method"], r["seed"]) for r in records}

    def on_result(new: list[dict[str, Any]]) -> None:
        for r in new:
            if r["method"] in specs:
                r["spec"] = specs[r["method"]]
        records.extend(r for r in new if r["role"] != "val")
        write_json(res_path, records)
        if bench.score_validation:
            validation["rows"].extend(r for r in new if r["role"] == "val")
            write_json(val_path, validation)

    log(f"benchmark: {len(jobs)} (task, backbone) pair(s), {args.jobs} fit(s) at a time")
    run_benchmark(jobs, scale.seeds, methods, done, args.jobs, on_result, validation=bench.score_validation, make=make)
    phases["benchmark_s"] = time.perf_counter() - t0
    if bench.after_fits is not None:
        bench.after_fits(validation)
        write_json(val_path, validation)
    bench.render_report(scale, finish(len(records)), folder)
    log(f"done in {sum(phases.values()) / 60:.1f} min (features {phases['features_s']:.0f}s, validation "
        f"{phases['validation_s']:.0f}s, fits {phases['benchmark_s']:.0f}s)")
    return 0
