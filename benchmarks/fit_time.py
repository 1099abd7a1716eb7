"""Fit time of ``NMTuneClassifierCV()`` and ``make_voting_head()`` against ``LogisticRegressionCV``, side by side.

The heads issue's budget: the recommended estimators within 10x the fit time of ``StandardScaler +
LogisticRegressionCV`` on the same features. All fit the cached ImageNet-backbone training features of the
chosen tasks in one process on one torch / BLAS thread, interleaved (A B A B ...), so a noisy shared machine
slows both alike; the ratio of medians is the number to read::

    .venv/bin/python -m benchmarks.fit_time                       # dtd10 + pacs-photo, EfficientNet-Lite0, 2 repeats
    .venv/bin/python -m benchmarks.fit_time --tasks flowers102 --repeats 1
    .venv/bin/python -m benchmarks.fit_time --profile              # + where NMTuneClassifierCV's time goes
    .venv/bin/python -m benchmarks.fit_time --batching-bound       # what training the candidates together can save
    .venv/bin/python -m benchmarks.fit_time --sweep                # rows x width against LogisticRegressionCV

Results: ``benchmarks/results/fit_time.json``; with ``--profile`` also ``fit_time_profile.json``: one more
``NMTuneClassifierCV()`` fit per task under ``cProfile``, its time split into torch's compiled kernels (matmuls,
autograd's backward, the optimizer step, the eigendecomposition: work that batching candidates into one network
would not remove on one thread) and the Python around them (skorch, the loss bookkeeping, data batching).
Features come from ``benchmarks/accuracy_imagenet.py``'s cache (extracted on first use).

``--batching-bound`` (``fit_time_batching.json``) measures the most that fitting the inner cross-validation's
MLP heads as one ``vmap``-batched network could save on this CPU, per model and step, against fitting them one by
one (:func:`benchmarks.harness.step_cost.batching_bound`; DTD-10 and PACS-photo fold shapes).

``--sweep`` (``fit_time_sweep.json``, resumable point by point) times one fit of each head at every row count
(1,000 / 4,000 / 16,000 by default; 64,000 on request) at 1,280 columns and at the other widths (384, 2,048) at
4,000 rows, beside ``LogisticRegressionCV``; each point records where its rows come from (real, or tiled with
jitter) and the growth exponents between row counts (:mod:`benchmarks.harness.fit_sweep`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from benchmarks.harness import imagenet
from benchmarks.harness.figures import fit_sweep_figure
from benchmarks.harness.io import RESULTS_DIR, ROOT, log, read_json, write_json
from benchmarks.harness.methods import METHODS as METHOD_NAMES
from benchmarks.harness.methods import build as build_method
from benchmarks.harness.tasks import extract_jobs

RESULT = RESULTS_DIR / "fit_time.json"
#: names of :data:`benchmarks.harness.methods.METHODS` (``recommended-no-racing``: every candidate on every fold)
METHODS = ("logreg_cv", "recommended", "voting", "recommended-no-racing")
PROFILE = RESULTS_DIR / "fit_time_profile.json"
SWEEP = RESULTS_DIR / "fit_time_sweep.json"
#: the sweep's curves, shown by the benchmark guide (a docs asset: the site holds no file outside docs/)
SWEEP_FIGURE = ROOT / "docs" / "guide" / "fit_time_sweep.png"
#: the sweep's heads (names of benchmarks.harness.methods.METHODS): the probe converged (the reference) and with
#: scikit-learn's default iteration cap (the cost issue's reference), LP, the CV head searching every row (``cv``,
#: the default before 0.2) and 2,000 rows (``cv-sub2000``, today's ``NMTuneClassifierCV()``), and the vote with
#: its members as they are and early-stopped
SWEEP_METHODS = ("logreg_cv", "logreg_cv_iter100", "lp", "cv", "cv-sub2000", "voting", "voting-es")
BATCHING = RESULTS_DIR / "fit_time_batching.json"


def profile_fit(estimator, X, y) -> dict:
    """Wall time of ``estimator.fit(X, y)`` under cProfile and the part spent inside torch's C++ functions."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    t0 = time.perf_counter()
    profiler.enable()
    estimator.fit(X, y)
    profiler.disable()
    total = time.perf_counter() - t0
    kernels = sorted(((tt, name) for (file, _, name), (_, _, tt, _, _) in pstats.Stats(profiler).stats.items()
                      if file == "~" and "torch" in name), reverse=True)
    inside = sum(tt for tt, _ in kernels)
    return {"seconds": total, "torch_kernel_seconds": inside, "torch_kernel_share": inside / total,
            "top_kernels": [{"name": name, "seconds": tt} for tt, name in kernels[:8]],
            "candidate_mean_fit_seconds": [float(v) for v in estimator.cv_results_["mean_fit_time"]],
            "candidates": [str(p) for p in estimator.cv_results_["params"]]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["dtd10", "pacs-photo"], choices=sorted(imagenet.TASKS))
    parser.add_argument("--backbone", default="tf_efficientnet_lite0", choices=sorted(imagenet.BACKBONES))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS,
                        help="estimators timed side by side (logreg_cv is always one of them)")
    parser.add_argument("--profile", action="store_true", help="also profile one NMTuneClassifierCV() fit per task")
    parser.add_argument("--batching-bound", action="store_true",
                        help="only measure what batching the candidates' fits could save (fit_time_batching.json)")
    parser.add_argument("--sweep", action="store_true", help="only the rows x width sweep (fit_time_sweep.json)")
    parser.add_argument("--rows", nargs="+", type=int, default=[1000, 4000, 16000], help="the sweep's row counts")
    parser.add_argument("--widths", nargs="+", type=int, default=[384, 1280, 2048], help="the sweep's widths")
    parser.add_argument("--rows-at-width", type=int, default=4000, help="rows of the sweep's other widths")
    parser.add_argument("--sweep-methods", nargs="+", default=list(SWEEP_METHODS), choices=sorted(METHOD_NAMES),
                        metavar="METHOD", help="the sweep's heads (names of benchmarks.harness.methods.METHODS)")
    args = parser.parse_args(argv)

    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(limits=1)  # one BLAS thread as well: every method is timed on one thread
    if args.batching_bound:
        from benchmarks.harness.step_cost import batching_bound

        rows = []
        for n_rows, n_classes in ((432, 10), (600, 7)):  # a DTD-10 / PACS-photo fold's training rows (90 % of 2/3)
            rows.append(batching_bound(n_rows, 1280, n_classes))
            log(f"batching bound {n_rows}x1280, {n_classes} classes: batched / sequential "
                f"{rows[-1]['batched_over_sequential']:.2f}, skorch / sequential {rows[-1]['skorch_over_sequential']:.2f}")
        write_json(BATCHING, {"benchmark": "fit_time --batching-bound", "threads": 1, "torch": torch.__version__,
                              "rows": rows, "load_average_at_end": list(os.getloadavg()),
                              "finished": time.strftime("%Y-%m-%d %H:%M")})
        return 0
    if args.sweep:
        return _sweep(args, torch.__version__)
    scale = imagenet.SCALES["full"]
    jobs, _ = extract_jobs([imagenet.TASKS[t] for t in args.tasks], [imagenet.BACKBONES[args.backbone]], scale, "cpu", [])
    rows = []
    for job in jobs:
        X, y = job.splits["train"]
        methods = ["logreg_cv", *[m for m in args.methods if m != "logreg_cv"]]
        times: dict[str, list[float]] = {m: [] for m in methods}
        for repeat in range(args.repeats):
            for method in methods if repeat % 2 == 0 else methods[::-1]:
                estimator = build_method(method, 0, max_epochs=scale.max_epochs, device="cpu")
                t0 = time.perf_counter()
                estimator.fit(X, y)
                times[method].append(time.perf_counter() - t0)
                log(f"{job.task.name}: {method} {times[method][-1]:.1f}s")
        if args.profile:
            prof = profile_fit(build_method("recommended", 0, max_epochs=scale.max_epochs, device="cpu"), X, y)
            profiles = read_json(PROFILE, {"rows": []})["rows"]
            profiles = [r for r in profiles if (r["task"], r["backbone"]) != (job.task.name, args.backbone)]
            profiles.append({"task": job.task.name, "backbone": args.backbone, **prof,
                             "load_average": list(os.getloadavg()), "finished": time.strftime("%Y-%m-%d %H:%M")})
            write_json(PROFILE, {"benchmark": "fit_time --profile", "threads": 1, "rows": profiles})
            log(f"{job.task.name}: profiled recommended fit {prof['seconds']:.1f}s, "
                f"{100 * prof['torch_kernel_share']:.0f} % inside torch's kernels")
        med = {m: float(np.median(v)) for m, v in times.items()}
        rows.append({"task": job.task.name, "backbone": args.backbone, "n_train": len(y), "n_features": X.shape[1],
                     "repeats": args.repeats, "finished": time.strftime("%Y-%m-%d %H:%M"),
                     "n_classes": int(len(np.unique(y))), "torch": torch.__version__, "seconds": times,
                     "median_s": med, "ratio": med["recommended"] / med["logreg_cv"] if "recommended" in med else None,
                     "ratios": {m: med[m] / med["logreg_cv"] for m in methods if m != "logreg_cv"}})
        log(f"{job.task.name}: / logreg_cv = " + ", ".join(f"{m} {r:.2f}" for m, r in rows[-1]["ratios"].items()))
    # rows of other (task, backbone) pairs measured by earlier invocations are kept
    mine = {(r["task"], r["backbone"]) for r in rows}
    rows = [r for r in read_json(RESULT, {}).get("rows", []) if (r["task"], r["backbone"]) not in mine] + rows
    overall = float(np.median([r["ratio"] for r in rows if r.get("ratio") is not None] or [np.nan]))
    write_json(RESULT, {"benchmark": "fit_time", "threads": 1, "rows": rows,
                        "median_ratio": overall, "load_average_at_end": list(os.getloadavg()),
                        "finished": time.strftime("%Y-%m-%d %H:%M")})
    log(f"median ratio recommended / logreg_cv over {len(rows)} (task, backbone) pair(s): {overall:.2f} -> {RESULT.relative_to(ROOT)}")
    return 0


def _sweep(args: argparse.Namespace, torch_version: str) -> int:
    """The rows x width sweep, one point at a time; points already in ``fit_time_sweep.json`` with the same heads
    are kept (resumable), and the exponents are recomputed over every stored point."""
    from benchmarks.harness import fit_sweep

    stored = read_json(SWEEP, {}).get("points", [])
    heads = list(dict.fromkeys(["logreg_cv", *args.sweep_methods]))
    done = {(p["n"], p["d"]) for p in stored if set(heads) <= set(p["seconds"])}
    points = fit_sweep.sweep_features(args.rows, args.widths, args.rows_at_width, skip=frozenset(done))
    for point in points:
        row = fit_sweep.time_fits([point], heads)[0]
        row.update({"load_average": list(os.getloadavg()), "finished": time.strftime("%Y-%m-%d %H:%M")})
        stored = [p for p in stored if (p["n"], p["d"]) != (row["n"], row["d"])] + [row]
        stored.sort(key=lambda p: (p["d"], p["n"]))
        write_json(SWEEP, {"benchmark": "fit_time --sweep", "threads": 1, "torch": torch_version,
                           "reference": fit_sweep.REFERENCE, "points": stored,
                           "exponents": fit_sweep.exponents(stored)})
        log(f"{row['n']} x {row['d']}: / logreg_cv = " + ", ".join(f"{m} {r:.2f}" for m, r in row["ratio"].items()))
    if stored:
        fit_sweep_figure(read_json(SWEEP, {}), SWEEP_FIGURE, fit_sweep.LABELS)
        log(f"figure: {SWEEP_FIGURE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
