"""Core speed benchmark on the CPU: NMTune vs MLP tuning vs linear probing, and the spectral metrics.

Sections (``--sections``; each is written to ``benchmarks/results/core.json`` as soon as it is done,
and a run of some sections keeps the others already in the file, each with its own ``*_meta``:
date, torch threads, CPU affinity and the machine load before and after):

``step_cost``
    **The issue-12 target.** Median ms of one training step (forward, loss, backward, AdamW, one
    host sync) of NMTune and of the MLP of the same architecture (``reg_lambda = 0``), side by
    side with interleaved blocks (:mod:`benchmarks.harness.step_cost`), for ``--dims`` x ``--batches`` x
    both architectures (the authors': 4D hidden, BatchNorm, residual; the paper's: D hidden).
    NMTune runs with ``svd_method="auto"`` (the fast path) and ``"exact"`` (svdvals, the previous
    implementation). Target: ``nmtune_ms / mlp_ms <= 1.2``. Stored as a ``step_cost`` list of
    ``{"device", "D", "batch", "nmtune_ms", "mlp_ms", "ratio", ...}``.
``regularizer_cost``
    The three regularizers alone (forward + backward) per ``svd_method``, and ``eigh_floor``: the
    eigen-decomposition alone of the ``min(B, D)``-sized float64 Gram matrix, which any exact SVD term
    pays. With both sections, ``step_cost_floor`` gives per step-cost row the lowest ratio an exact
    spectrum allows, ``(mlp_ms + eigh_ms) / mlp_ms``.
``equivalence``
    The same NMTune head trained with the exact and the fast SVD term, 3 seeds: loss curves and
    test accuracy (the fast path must train like the exact one, within seed noise).
``fit``
    Wall time of ``NMTuneClassifier.fit`` for the presets ``lp``, ``mlp``, ``nmtune-paper``,
    ``mlp-authors``, ``nmtune-authors`` on synthetic features, interleaved repeats.
``profile``
    ``torch.profiler`` over one NMTune epoch: where the time goes.
``spectral``
    Wall time of :func:`~sknmtune.singular_value_entropy` and
    :func:`~sknmtune.largest_singular_value_ratio` on a ``100,000 x 2,048`` float32 matrix.

On a shared machine, pin the process and use one torch thread, and read the ratios (measured side
by side), not the absolute times::

    taskset -c 1 .venv/bin/python -m benchmarks.bench_core --threads 1 --sections step_cost regularizer_cost equivalence
    .venv/bin/python -m benchmarks.bench_core --threads 1          # every section (long: the fit section)
    .venv/bin/python -m benchmarks.bench_core --quick              # smoke run (seconds), to a temporary file
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as _dt
import json
import os
import platform
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
import torch
from threadpoolctl import threadpool_info

import sknmtune
from sknmtune import largest_singular_value_ratio, singular_value_entropy
from sknmtune.heads import make_head

from benchmarks.harness.io import RESULTS_DIR
from benchmarks.harness.step_cost import ARCHITECTURES, equivalence_runs, regularizer_cost, step_cost

RESULTS = RESULTS_DIR / "core.json"
SECTIONS = ("step_cost", "regularizer_cost", "equivalence", "fit", "profile", "spectral")
PAIRS = {"nmtune-paper/mlp": ("nmtune-paper", "mlp"), "nmtune-authors/mlp-authors": ("nmtune-authors", "mlp-authors")}
RATIO_TARGET = 1.2
SPECTRAL_TARGET_S = 10.0
N_CLASSES = 10


# ---------------------------------------------------------------- helpers
def _machine_info(train_threads: int, default_threads: int) -> dict[str, Any]:
    blas = [
        {k: info.get(k) for k in ("internal_api", "num_threads", "version")}
        for info in threadpool_info()
        if info.get("user_api") == "blas"
    ]
    return {
        "cpu_count": os.cpu_count(),
        "torch_threads_training": train_threads,
        "torch_threads_default": default_threads,
        "numpy_blas": blas,
        "load_average_at_start": list(os.getloadavg()),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": np.__version__,
        "sklearn": sklearn.__version__,
        "sknmtune": sknmtune.__version__,
    }


def _make_features(n_samples: int, n_features: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class-conditional Gaussian features (float32) and balanced labels."""
    rng = np.random.default_rng(seed)
    y = np.arange(n_samples) % N_CLASSES
    rng.shuffle(y)
    means = rng.standard_normal((N_CLASSES, n_features), dtype=np.float32) * 0.5
    X = rng.standard_normal((n_samples, n_features), dtype=np.float32)
    X += means[y]
    return X, y


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


def _write(payload: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")


# ------------------------------------------------------------ 1. fit times
def _time_fit(preset: str, X: np.ndarray, y: np.ndarray, epochs: int) -> float:
    clf = make_head(preset, random_state=0, device="cpu", max_epochs=epochs)
    start = time.perf_counter()
    clf.fit(X, y)
    elapsed = time.perf_counter() - start
    if clf.n_iter_ != epochs:
        raise RuntimeError(f"{preset} ran {clf.n_iter_} epochs instead of {epochs}.")
    return elapsed


def _fit_times(args: argparse.Namespace) -> dict[int, dict[str, list[float]]]:
    data = {d: _make_features(args.n_samples, d, seed=d) for d in args.dims}
    plan = {d: ["lp", "mlp", "nmtune-paper"] + (["mlp-authors", "nmtune-authors"] if d in args.authors_dims else [])
            for d in args.dims}
    _time_fit("nmtune-authors", *_make_features(256, 16, seed=0), epochs=1)  # warm-up: imports, allocator, BLAS
    times: dict[int, dict[str, list[float]]] = {d: {p: [] for p in plan[d]} for d in args.dims}
    for rep in range(args.repeats):
        for d in args.dims:
            order = plan[d][rep % len(plan[d]):] + plan[d][: rep % len(plan[d])]
            for preset in order:
                seconds = _time_fit(preset, *data[d], epochs=args.epochs)
                times[d][preset].append(seconds)
                print(f"  repeat {rep + 1}/{args.repeats}  D={d:5d}  {preset:15s} {seconds:8.2f} s", flush=True)
    return times


def _ratios(times: dict[int, dict[str, list[float]]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for d, by_preset in times.items():
        med = {p: _median(v) for p, v in by_preset.items()}
        row = {"lp/mlp": med["lp"] / med["mlp"]}
        for name, (num, den) in PAIRS.items():
            if num in med and den in med:
                row[name] = med[num] / med[den]
        out[str(d)] = {k: round(v, 4) for k, v in row.items()}
    return out


# ------------------------------------------------ where the time goes
def _profile_epoch(preset: str, n_features: int, n_samples: int, top: int = 12) -> dict[str, Any]:
    """torch.profiler over one epoch: top ops by self CPU time, and the time outside torch ops."""
    from torch.profiler import ProfilerActivity, profile

    X, y = _make_features(n_samples, n_features, seed=1)
    clf = make_head(preset, random_state=0, device="cpu", max_epochs=1)
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        clf.fit(X, y)
    wall = time.perf_counter() - start
    events = prof.key_averages()
    total_self_us = sum(e.self_cpu_time_total for e in events)
    ranked = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    return {
        "preset": preset,
        "n_features": n_features,
        "n_samples": n_samples,
        "wall_s_with_profiler": round(wall, 3),
        "torch_ops_self_cpu_s": round(total_self_us / 1e6, 3),
        "top_ops": [
            {"op": e.key, "calls": e.count, "self_cpu_ms": round(e.self_cpu_time_total / 1e3, 2),
             "share_of_op_time": round(e.self_cpu_time_total / max(total_self_us, 1), 4)}
            for e in ranked
        ],
    }


# ------------------------------------------------------- 3. spectral metrics
def _spectral_times(n_rows: int, n_features: int, top: int = 6) -> dict[str, Any]:
    """Wall time of each metric on one float32 matrix; the first call runs under cProfile (few Python calls)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_rows, n_features), dtype=np.float32)
    X *= np.linspace(0.05, 2.0, n_features, dtype=np.float32)  # a non-flat spectrum
    out: dict[str, Any] = {"shape": [n_rows, n_features], "dtype": str(X.dtype)}
    for i, (name, fn) in enumerate((("singular_value_entropy", singular_value_entropy),
                                    ("largest_singular_value_ratio", largest_singular_value_ratio))):
        profiler = cProfile.Profile() if i == 0 else None
        start = time.perf_counter()
        if profiler is not None:
            value = profiler.runcall(fn, X)
        else:
            value = fn(X)
        seconds = time.perf_counter() - start
        out[name] = {"seconds": round(seconds, 3), "value": value, "meets_target": seconds < SPECTRAL_TARGET_S}
        if profiler is not None:
            stats = pstats.Stats(profiler)
            rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:top]  # by own time
            out[name]["cprofile_top_own_time"] = [
                {"function": f"{Path(f).name}:{line}({func})", "calls": nc, "own_s": round(tt, 3), "cum_s": round(ct, 3)}
                for (f, line, func), (cc, nc, tt, ct, _) in rows
            ]
        print(f"  {name}: {seconds:.2f} s (value {value:.4f})", flush=True)
    return out


# ------------------------------------------------------------------- main
def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    p.add_argument("--dims", type=int, nargs="+", default=[384, 512, 2048])
    p.add_argument("--batches", type=int, nargs="+", default=[64, 256], help="batch sizes of the step_cost section")
    p.add_argument("--archs", nargs="+", choices=sorted(ARCHITECTURES), default=["authors", "paper"])
    p.add_argument("--step-rounds", type=int, default=None,
                   help="interleaved rounds per step_cost configuration (default: what fits in --step-budget, 5 to 21)")
    p.add_argument("--step-budget", type=float, default=12.0, help="seconds per step_cost configuration")
    p.add_argument("--authors-dims", type=int, nargs="*", default=None,
                   help="fit section: dims at which the mlp-authors / nmtune-authors pair runs (default: all --dims)")
    p.add_argument("--n-samples", type=int, default=20_000)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--profile-dim", type=int, default=384)
    p.add_argument("--profile-samples", type=int, default=5_000)
    p.add_argument("--spectral-shape", type=int, nargs=2, default=[100_000, 2_048])
    p.add_argument("--note", action="append", default=[], help="free-text note stored in the JSON")
    p.add_argument("--output", type=Path, default=RESULTS)
    p.add_argument("--quick", action="store_true", help="tiny smoke run, written to <tmpdir>/core.quick.json")
    args = p.parse_args(argv)
    if args.quick:
        args.dims, args.batches, args.n_samples, args.epochs, args.repeats = [16, 32], [8], 512, 1, 2
        args.step_rounds, args.profile_dim, args.profile_samples = 2, 16, 256
        args.spectral_shape = [2_000, 64]
        args.output = Path(tempfile.gettempdir()) / "core.quick.json"
    if args.authors_dims is None:
        args.authors_dims = list(args.dims)
    return args


def _section_meta(started: float, load_before: list[float], args: argparse.Namespace) -> dict[str, Any]:
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 1),
        "torch_threads": torch.get_num_threads(), "cpu_affinity": affinity,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "notes": list(args.note),
    }


def _equivalence(device: torch.device, quick: bool) -> dict[str, Any]:
    """The authors' preset as it is, and with a 1000x SVD weight (where a wrong SVD gradient would show)."""

    def show(label: str, result: dict[str, Any]) -> None:
        print(f"  {label}: accuracy exact {result['accuracy_mean']['exact']:.4f} / fast {result['accuracy_mean']['fused']:.4f}; "
              f"largest same-seed gaps: accuracy {result['max_accuracy_gap_same_seed']:.4f}, loss "
              f"{result['max_loss_curve_gap_same_seed']:.2e} (accuracy seed std {result['accuracy_seed_std']['exact']:.4f})",
              flush=True)

    return equivalence_runs(device, small=quick, on_result=show)


def _run_section(name: str, args: argparse.Namespace) -> dict[str, Any]:
    cpu = torch.device("cpu")
    if name == "step_cost":
        rows = []
        for arch in args.archs:
            for d in args.dims:
                for batch in args.batches:
                    row = step_cost(arch, d, batch, cpu, rounds=args.step_rounds, block_seconds=0.03 if args.quick else 0.1,
                                    budget_seconds=args.step_budget)
                    rows.append(row)
                    print(f"  {arch:7s} D={d:5d} B={batch:4d}  mlp {row['mlp_ms']:9.3f} ms  nmtune {row['nmtune_ms']:9.3f} ms "
                          f"(ratio {row['ratio']:.3f})  exact {row['nmtune_ms_by_method']['exact']:9.3f} ms "
                          f"(ratio {row['ratio_by_method']['exact']:.3f})", flush=True)
        return {"step_cost": rows, "step_cost_target_met": {f"{r['arch']}/D={r['D']}/B={r['batch']}": r["ratio"] <= RATIO_TARGET
                                                            for r in rows}}
    if name == "regularizer_cost":
        rows = [regularizer_cost(d, b, cpu, methods=("exact", "gram"), repeats=3 if args.quick else 15)
                for d in args.dims for b in args.batches]
        for row in rows:
            print(f"  D={row['D']:5d} B={row['batch']:4d}  {row['ms']}", flush=True)
        return {"regularizer_cost": rows}
    if name == "equivalence":
        return {"equivalence": _equivalence(cpu, args.quick)}
    if name == "fit":
        times = _fit_times(args)
        ratios = _ratios(times)
        return {
            "config": {
                "dims": args.dims, "authors_dims": args.authors_dims, "n_samples": args.n_samples,
                "n_classes": N_CLASSES, "epochs": args.epochs, "repeats": args.repeats, "batch_size": 64,
                "device": "cpu", "data": "synthetic class-conditional Gaussians, float32",
                "timing": "wall time of NMTuneClassifier.fit (validation + skorch training), median over interleaved repeats",
            },
            "fit_seconds": {str(d): {p: [round(s, 4) for s in v] for p, v in by.items()} for d, by in times.items()},
            "fit_median_seconds": {str(d): {p: round(_median(v), 4) for p, v in by.items()} for d, by in times.items()},
            "ratios": ratios,
            "ratio_targets_met": {d: {k: v <= RATIO_TARGET for k, v in row.items() if k in PAIRS} for d, row in ratios.items()},
        }
    if name == "profile":
        return {"profile": _profile_epoch("nmtune-paper", args.profile_dim, args.profile_samples)}
    return {"spectral": _spectral_times(*args.spectral_shape)}


def step_cost_floor(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Per step-cost row, the lowest NMTune / MLP ratio an exact spectrum allows: ``(mlp + eigh) / mlp``,
    with ``eigh`` the ``"eigh_floor"`` of the same (D, batch) in ``regularizer_cost`` (every other part of the
    regularizers taken as free). Empty unless both sections are in ``payload``."""
    floors = {(r["D"], r["batch"]): r["ms"]["eigh_floor"] for r in payload.get("regularizer_cost", []) if "eigh_floor" in r["ms"]}
    return [{"arch": r["arch"], "D": r["D"], "batch": r["batch"], "mlp_ms": r["mlp_ms"],
             "eigh_ms": floors[(r["D"], r["batch"])],
             "lowest_exact_ratio": round((r["mlp_ms"] + floors[(r["D"], r["batch"])]) / r["mlp_ms"], 3)}
            for r in payload.get("step_cost", []) if (r["D"], r["batch"]) in floors]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = _parse(argv)
    default_threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    payload: dict[str, Any] = {}
    if args.output.exists() and not args.quick:
        payload = json.loads(args.output.read_text())
    old_machine = payload.get("machine", {})
    payload.update({
        "benchmark": "bench_core",
        "machine": _machine_info(torch.get_num_threads(), default_threads),
        "targets": {"nmtune_over_mlp_step_max": RATIO_TARGET, "nmtune_over_mlp_fit_time_max": RATIO_TARGET,
                    "spectral_metric_seconds_max": SPECTRAL_TARGET_S},
    })
    if "sections_meta" not in payload and "created" in payload:  # a file from before sections: keep its provenance
        payload["sections_meta"] = {
            name: {"created": payload["created"], "torch_threads": old_machine.get("torch_threads_training"),
                   "load_average_before": old_machine.get("load_average_at_start"),
                   "load_average_after": old_machine.get("load_average_at_end"), "notes": payload.get("notes", [])}
            for name in ("fit", "profile", "spectral") if name in payload or f"{name}_seconds" in payload
        }
    for stale in ("created", "notes", "total_seconds"):
        payload.pop(stale, None)
    payload.setdefault("sections_meta", {})
    payload.pop("step_ms", None)  # the earlier single-step section, superseded by step_cost
    for i, name in enumerate(args.sections, 1):
        print(f"[{i}/{len(args.sections)}] {name} (torch threads={torch.get_num_threads()}, load {os.getloadavg()[0]:.2f})",
              flush=True)
        started, load_before = time.perf_counter(), list(os.getloadavg())
        payload.update(_run_section(name, args))
        payload["sections_meta"][name] = _section_meta(started, load_before, args)
        if name in ("step_cost", "regularizer_cost"):
            payload["step_cost_floor"] = step_cost_floor(payload)
        _write(payload, args.output)
    print(f"wrote {args.output}")
    return payload


if __name__ == "__main__":
    main()
