"""Core speed benchmark: NMTune vs MLP tuning vs linear probing, and the spectral metrics at scale.

Two questions, answered side by side in one run and written to ``benchmarks/results/core.json``:

1. **Training cost of the regularizers.** Fit time of :class:`~sknmtune.NMTuneClassifier` with the
   presets ``"lp"``, ``"mlp"``, ``"nmtune-paper"``, ``"mlp-authors"`` and ``"nmtune-authors"`` on
   synthetic features (``n_samples x D``, 10 classes), same epochs and batch size for every method,
   on the CPU. Repetitions are interleaved (every method of every ``D`` once, then again, with the
   method order rotated each round) so machine noise hits all methods alike; the median is reported.
   Target: ``NMTune / MLP <= 1.2`` at each ``D`` (``nmtune-paper / mlp`` and
   ``nmtune-authors / mlp-authors``).
2. **Spectral metrics at scale.** Wall time of :func:`~sknmtune.singular_value_entropy` and
   :func:`~sknmtune.largest_singular_value_ratio` on a ``100,000 x 2,048`` float32 matrix.
   Target: under 10 s each.

To explain where the time goes, the run also times single training steps outside skorch (forward,
loss, backward, AdamW) with and without the regularizers, the regularizers alone on a ``(64, D)``
batch, and profiles one NMTune epoch with :mod:`torch.profiler`.

Usage::

    .venv/bin/python benchmarks/bench_core.py            # the issue's setting: 20k x 10, 3 epochs, 3 repeats
    .venv/bin/python benchmarks/bench_core.py --epochs 1 --threads 1 --authors-dims 384 512   # shared 2-core box
    .venv/bin/python benchmarks/bench_core.py --quick    # smoke run (seconds)
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
from sknmtune import PRESETS, NMTuneClassifier, largest_singular_value_ratio, singular_value_entropy
from sknmtune.heads import NMTuneHead
from sknmtune.losses import consistency_loss, covariance_loss, dominant_singular_value_loss

RESULTS = Path(__file__).resolve().parent / "results" / "core.json"
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
    clf = NMTuneClassifier.from_preset(preset, max_epochs=epochs, device="cpu", random_state=0)
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


# ------------------------------------------------ 2. where the time goes
def _build_head(preset: str, n_features: int) -> NMTuneHead:
    cfg = PRESETS[preset]
    hidden = max(1, int(round(cfg.get("hidden_ratio", 1.0) * n_features)))
    return NMTuneHead(
        n_features, N_CLASSES, mlp_depth=cfg["mlp_depth"], hidden_width=hidden,
        batch_norm=cfg.get("batch_norm", False), residual=cfg.get("residual", False),
    )


def _regularizer(preset: str, F: torch.Tensor, Z: torch.Tensor) -> torch.Tensor:
    cfg = PRESETS[preset]
    return cfg["reg_lambda"] * (
        cfg["mse_weight"] * consistency_loss(F, Z)
        + cfg["cov_weight"] * covariance_loss(Z)
        + cfg["svd_weight"] * dominant_singular_value_loss(Z, top_k=cfg["svd_top_k"])
    )


def _step_times(dims: list[int], n_steps: int, batch_size: int = 64) -> dict[str, dict[str, float]]:
    """Median ms of one optimizer step (no skorch) with and without the regularizers, interleaved."""
    out: dict[str, dict[str, float]] = {}
    gen = torch.Generator().manual_seed(0)
    for d in dims:
        F = torch.randn(batch_size, d, generator=gen)
        target = torch.randint(0, N_CLASSES, (batch_size,), generator=gen)
        row: dict[str, float] = {}
        for nm_preset, mlp_preset in PAIRS.values():
            torch.manual_seed(0)
            head = _build_head(mlp_preset, d)
            opt = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=1e-4)
            samples: dict[str, list[float]] = {mlp_preset: [], nm_preset: []}
            for i in range(2 * n_steps + 4):
                preset = (mlp_preset, nm_preset)[i % 2]
                start = time.perf_counter()
                opt.zero_grad(set_to_none=True)
                logits, Z = head(F)
                loss = torch.nn.functional.cross_entropy(logits, target)
                if preset == nm_preset:
                    loss = loss + _regularizer(nm_preset, F, Z)
                loss.backward()
                opt.step()
                if i >= 4:
                    samples[preset].append(time.perf_counter() - start)
            for preset, values in samples.items():
                row[f"step_ms[{preset}]"] = round(1e3 * _median(values), 3)
            # the regularizers alone (forward + backward) on a fixed Z
            Z = torch.randn(batch_size, d, generator=gen, requires_grad=True)
            for name, fn in {
                "consistency": lambda: consistency_loss(F, Z),
                "covariance": lambda: covariance_loss(Z),
                f"svd_top{PRESETS[nm_preset]['svd_top_k']}": lambda: dominant_singular_value_loss(
                    Z, top_k=PRESETS[nm_preset]["svd_top_k"]
                ),
            }.items():
                values = []
                for i in range(n_steps + 2):
                    start = time.perf_counter()
                    fn().backward()
                    if i >= 2:
                        values.append(time.perf_counter() - start)
                row[f"loss_ms[{name}]"] = round(1e3 * _median(values), 3)
        out[str(d)] = row
    return out


def _profile_epoch(preset: str, n_features: int, n_samples: int, top: int = 12) -> dict[str, Any]:
    """torch.profiler over one epoch: top ops by self CPU time, and the time outside torch ops."""
    from torch.profiler import ProfilerActivity, profile

    X, y = _make_features(n_samples, n_features, seed=1)
    clf = NMTuneClassifier.from_preset(preset, max_epochs=1, device="cpu", random_state=0)
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
    p.add_argument("--dims", type=int, nargs="+", default=[384, 512, 2048])
    p.add_argument("--authors-dims", type=int, nargs="*", default=None,
                   help="dims at which the mlp-authors / nmtune-authors pair runs (default: all --dims)")
    p.add_argument("--n-samples", type=int, default=20_000)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="torch threads for training (default: torch's)")
    p.add_argument("--step-repeats", type=int, default=15)
    p.add_argument("--profile-dim", type=int, default=384)
    p.add_argument("--profile-samples", type=int, default=5_000)
    p.add_argument("--spectral-shape", type=int, nargs=2, default=[100_000, 2_048])
    p.add_argument("--note", action="append", default=[], help="free-text note stored in the JSON")
    p.add_argument("--output", type=Path, default=RESULTS)
    p.add_argument("--quick", action="store_true", help="tiny smoke run, written to <tmpdir>/core.quick.json")
    args = p.parse_args(argv)
    if args.quick:
        args.dims, args.n_samples, args.epochs, args.repeats = [16, 32], 512, 1, 2
        args.step_repeats, args.profile_dim, args.profile_samples = 3, 16, 256
        args.spectral_shape = [2_000, 64]
        args.output = Path(tempfile.gettempdir()) / "core.quick.json"
    if args.authors_dims is None:
        args.authors_dims = list(args.dims)
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = _parse(argv)
    default_threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    payload: dict[str, Any] = {
        "benchmark": "bench_core",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "config": {
            "dims": args.dims, "authors_dims": args.authors_dims, "n_samples": args.n_samples,
            "n_classes": N_CLASSES, "epochs": args.epochs, "repeats": args.repeats, "batch_size": 64,
            "device": "cpu", "data": "synthetic class-conditional Gaussians, float32",
            "timing": "wall time of NMTuneClassifier.fit (validation + skorch training), median over interleaved repeats",
        },
        "machine": _machine_info(torch.get_num_threads(), default_threads),
        "notes": list(args.note),
        "targets": {"nmtune_over_mlp_fit_time_max": RATIO_TARGET, "spectral_metric_seconds_max": SPECTRAL_TARGET_S},
    }

    print(f"[1/4] fit times: D={args.dims}, {args.n_samples} x {N_CLASSES} classes, {args.epochs} epoch(s), "
          f"{args.repeats} interleaved repeats, torch threads={torch.get_num_threads()}", flush=True)
    times = _fit_times(args)
    payload["fit_seconds"] = {str(d): {p: [round(s, 4) for s in v] for p, v in by.items()} for d, by in times.items()}
    payload["fit_median_seconds"] = {str(d): {p: round(_median(v), 4) for p, v in by.items()} for d, by in times.items()}
    payload["ratios"] = _ratios(times)
    payload["ratio_targets_met"] = {
        d: {k: v <= RATIO_TARGET for k, v in row.items() if k in PAIRS} for d, row in payload["ratios"].items()
    }
    _write(payload, args.output)

    print("[2/4] single training steps and regularizers alone (ms)", flush=True)
    payload["step_ms"] = _step_times(args.dims, args.step_repeats)
    _write(payload, args.output)

    print(f"[3/4] torch.profiler: one nmtune-paper epoch at D={args.profile_dim}", flush=True)
    payload["profile"] = _profile_epoch("nmtune-paper", args.profile_dim, args.profile_samples)
    _write(payload, args.output)

    print(f"[4/4] spectral metrics on {args.spectral_shape[0]} x {args.spectral_shape[1]} float32", flush=True)
    payload["spectral"] = _spectral_times(*args.spectral_shape)
    payload["machine"]["load_average_at_end"] = list(os.getloadavg())
    payload["total_seconds"] = round(time.perf_counter() - started, 1)
    _write(payload, args.output)
    print(json.dumps({"ratios": payload["ratios"], "spectral": payload["spectral"]}, indent=2))
    return payload


if __name__ == "__main__":
    main()
