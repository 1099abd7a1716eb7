"""The protocol overhead of ``compare_heads``: its wall time against the sum of the fits it makes.

The compare issue's target: ``compare`` on 2,000 x 1,280 features, 6 heads x 5 seeds, finishes within 1.5x the sum
of the heads' fit times (no protocol overhead beyond the fits). The features are **synthetic** (Gaussian classes
in a low-rank subspace, float32): only the time is measured here, never an accuracy. Fits run one at a time
(``n_jobs=None``), so the wall time and the summed fit times are measured under the same load::

    .venv/bin/python -m benchmarks.compare_overhead            # 2,000 x 1,280, the 6 default heads, 5 seeds
    .venv/bin/python -m benchmarks.compare_overhead --quick    # 200 x 32, 2 heads, 2 seeds: a smoke run

Result: ``benchmarks/results/compare_overhead.json`` (``--quick``: ``compare_overhead_quick.json``): the wall time
of the whole call, the summed ``fit_seconds`` of its records (one per fit), their ratio and the target, the
seconds per head, the progress bar's a-priori estimate from the registry's costs, and the machine.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from benchmarks.harness.hardware import machine
from benchmarks.harness.io import RESULTS_DIR, log, write_json
from sknmtune.evaluation import DEFAULT_HEADS, compare_heads
from sknmtune.heads import head_spec

TARGET_RATIO = 1.5
SCALES = {
    "full": {"n_samples": 2000, "n_features": 1280, "n_classes": 10, "heads": DEFAULT_HEADS, "n_seeds": 5},
    "quick": {"n_samples": 200, "n_features": 32, "n_classes": 5, "heads": ("lp", "mlp"), "n_seeds": 2},
}


def synthetic_features(n_samples: int, n_features: int, n_classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian classes in a 64-dimensional subspace of ``n_features`` plus isotropic noise (timing data only)."""
    rng = np.random.default_rng(seed)
    rank = min(64, n_features)
    basis = np.linalg.qr(rng.normal(size=(n_features, rank)))[0]
    means = rng.normal(scale=1.5, size=(n_classes, rank))
    y = np.arange(n_samples) % n_classes
    X = (means[y] + rng.normal(size=(n_samples, rank))) @ basis.T + 0.3 * rng.normal(size=(n_samples, n_features))
    return X.astype(np.float32), y


def run(scale: str) -> dict:
    """One ``compare_heads`` call at ``scale``; its wall time against the fit times its records hold."""
    s = SCALES[scale]
    X, y = synthetic_features(s["n_samples"], s["n_features"], s["n_classes"])
    n_train = int(round(0.8 * s["n_samples"]))
    estimate = sum(head_spec(h).cost for h in s["heads"]) * n_train * s["n_seeds"]
    log(f"compare_heads on synthetic {X.shape[0]} x {X.shape[1]} features: {len(s['heads'])} heads x {s['n_seeds']} "
        f"seeds (registry estimate {estimate / 60:.1f} min)")
    load_before = os.getloadavg()
    start = time.perf_counter()
    comparison = compare_heads(X, y, heads=s["heads"], reference="logreg-cv" if "logreg-cv" in s["heads"] else s["heads"][0],
                               n_seeds=s["n_seeds"], progress=True)
    wall = time.perf_counter() - start
    fits = [r for r in comparison.records if r["role"] == "val"]  # one record per fit
    fit_sum = float(sum(r["fit_seconds"] for r in fits))
    per_head = {h: float(sum(r["fit_seconds"] for r in fits if r["method"] == h)) for h in s["heads"]}
    result = {
        "what": "wall time of sknmtune.evaluation.compare_heads against the sum of its fits' fit_seconds",
        "data": f"synthetic (timing only): {X.shape[0]} x {X.shape[1]} float32 features, {s['n_classes']} classes",
        "scale": scale, "heads": list(s["heads"]), "n_seeds": s["n_seeds"], "n_fits": len(fits), "n_jobs": None,
        "wall_seconds": wall, "fit_seconds_sum": fit_sum, "overhead_seconds": wall - fit_sum,
        "ratio": wall / fit_sum, "target_ratio": TARGET_RATIO, "met": wall / fit_sum <= TARGET_RATIO,
        "fit_seconds_per_head": per_head, "registry_estimate_seconds": estimate,
        "load_average_before": list(load_before), "load_average_after": list(os.getloadavg()),
        "machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    log(f"wall {wall:.1f} s, fits {fit_sum:.1f} s: ratio {wall / fit_sum:.3f} (target <= {TARGET_RATIO})")
    return result


def main(argv: list[str] | None = None, results_dir: Path = RESULTS_DIR) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 x 32 features, 2 heads (lp, mlp), 2 seeds")
    args = parser.parse_args(argv)
    result = run("quick" if args.quick else "full")
    write_json(Path(results_dir) / f"compare_overhead{'_quick' if args.quick else ''}.json", result)
    return result


if __name__ == "__main__":
    main()
