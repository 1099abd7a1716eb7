"""Ablation of the head's training choices, scored on VALIDATION splits only (never a test set).

Each variant is ``NMTuneClassifier()`` (the package default) with one thing changed -- the training
budget (early stopping vs the papers' fixed 30 epochs), the learning rate, the residual's initial
value, the hidden-width cap, feature standardization, lambda, top-k -- plus ``NMTuneClassifierCV()``
and the probe users write (``LogisticRegressionCV``). Every variant is fitted on the training split
of each (task, backbone) of the ImageNet-backbone benchmark (features from its cache, extracted on first
use), and scored on that task's held-out validation split. The defaults of ``NMTuneClassifier`` are chosen
from this table (``benchmarks/results/ablation.md``).

    .venv/bin/python -m benchmarks.ablation                 # every ImageNet-backbone task, seeds 0 1 2
    .venv/bin/python -m benchmarks.ablation --seeds 0 --tasks dtd10 --variants default lr-3e-3
    .venv/bin/python -m benchmarks.ablation --report        # re-render ablation.md from ablation.json
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import imagenet
from benchmarks.harness.io import CACHE_DIR, RESULTS_DIR, log, read_json, write_json
from benchmarks.harness.methods import build as build_method
from benchmarks.harness.tasks import extract_features

# name -> changes to NMTuneClassifier() (the package default)
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "lr-3e-3": {"lr": 3e-3},
    "mlp (lambda 0)": {"reg_lambda": 0.0},
    "lp (depth 0)": {"mlp_depth": 0},
    "lp std (depth 0)": {"mlp_depth": 0, "standardize": True},
    "fixed 30 epochs, cosine": {"early_stopping": False, "n_iter_no_change": None, "max_epochs": 30,
                                "lr_schedule": "cosine"},
    "residual s0 = 1": {"residual_init": 1.0},
    "no width cap (4 D)": {"max_hidden_width": None},
    "standardize": {"standardize": True},
    "lambda 0.1": {"reg_lambda": 0.1},
    "lambda 10": {"reg_lambda": 10.0},
    "top-1": {"svd_top_k": 1},
    "paper loss (Eq. 3, 1/1/1, lambda 0.01, top-1)": {
        "consistency_reduction": "batchmean", "mse_weight": 1.0, "cov_weight": 1.0, "svd_weight": 1.0,
        "reg_lambda": 0.01, "svd_top_k": 1},
    "NMTuneClassifierCV()": {"__cv__": True},
    "LogisticRegressionCV": {"__logreg__": True},
}


def make_variant(variant: str, seed: int) -> Any:
    """The variant's estimator (on the CPU): ``NMTuneClassifier()`` with its changes, the CV head, or the probe."""
    from sknmtune.heads import make_head

    changes = VARIANTS[variant]
    if changes.get("__cv__"):
        return make_head("cv", random_state=seed, device="cpu")
    if changes.get("__logreg__"):
        return build_method("logreg_cv", seed, device="cpu")
    return make_head("nmtune", random_state=seed, device="cpu", **changes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(imagenet.ALL_TASKS), choices=imagenet.ALL_TASKS)
    parser.add_argument("--backbones", nargs="+", default=list(imagenet.ALL_BACKBONES), choices=imagenet.ALL_BACKBONES)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", default=str(RESULTS_DIR / "ablation.json"))
    parser.add_argument("--report", action="store_true", help="only re-render ablation.md from the JSON")
    parser.add_argument("--results-dir", default=str(RESULTS_DIR), help="with --report: the folder of ablation.json")
    args = parser.parse_args(argv)
    if args.report:
        folder = Path(args.results_dir)
        render(read_json(folder / "ablation.json", {"records": []})["records"], folder / "ablation.md")
        return 0

    import torch

    from sknmtune.evaluation import evaluate_heads

    torch.set_num_threads(1)
    out = Path(args.out)
    records: list[dict[str, Any]] = read_json(out, {"records": []})["records"]
    done = {(r["task"], r["backbone"], r["method"], r["seed"]) for r in records}
    scale = imagenet.SCALES["full"]
    for backbone in [imagenet.BACKBONES[name] for name in args.backbones]:
        transformer = backbone.make(CACHE_DIR, device="cpu")
        for task in [imagenet.TASKS[t] for t in args.tasks]:
            job = extract_features(task, backbone, transformer, scale)  # from the feature cache when there
            F, y = job.splits["train"]
            for seed in args.seeds:
                for variant in args.variants:
                    if (task.name, backbone.name, variant, seed) in done:
                        continue
                    new = evaluate_heads({variant: make_variant(variant, seed)}, F, y, id_test=job.splits["val"], seeds=(seed,),
                                         spectra=False, extra={"task": task.name, "backbone": backbone.name})
                    for r in new:
                        r["role"] = "val"  # scored on the validation split, never on a test set
                    records.extend(new)
                    log(f"{task.name}/{backbone.name} seed {seed} {variant}: val acc {new[0]['accuracy']:.4f} "
                             f"({new[0]['fit_seconds']:.1f}s, epochs {new[0].get('n_iter')}, best {new[0].get('best_epoch')})")
                    write_json(out, {"records": records, "variants": {k: dict(v) for k, v in VARIANTS.items()}})
    render(records, out.with_suffix(".md"))
    return 0


def render(records: list[dict[str, Any]], path: Path) -> None:
    by: dict[str, dict[str, list[float]]] = {}
    secs: dict[str, list[float]] = {}
    for r in records:
        by.setdefault(r["method"], {}).setdefault(f"{r['task']}/{r['backbone']}", []).append(r["accuracy"])
        secs.setdefault(r["method"], []).append(r["fit_seconds"])
    jobs = sorted({j for m in by.values() for j in m})
    lines = ["# Ablation of the head, on validation splits (never test)", "",
             "Validation accuracy (%) of `NMTuneClassifier()` with one thing changed, mean over the seeds run; "
             "`Δ vs default` is the mean difference to the default on the (task, backbone) pairs both have "
             "(`n` pairs). Produced by `benchmarks/ablation.py`.", "",
             "| variant | " + " | ".join(jobs) + " | Δ vs default | n | fit s (median) |",
             "|---|" + "---|" * (len(jobs) + 3)]
    base = by.get("default", {})
    for method in VARIANTS:
        if method not in by:
            continue
        cells = [f"{100 * np.mean(by[method][j]):.1f}" if j in by[method] else "–" for j in jobs]
        shared = [j for j in by[method] if j in base]
        delta = np.mean([np.mean(by[method][j]) - np.mean(base[j]) for j in shared]) if shared else float("nan")
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {100 * delta:+.1f} | {len(shared)} | "
                     f"{np.median(secs[method]):.1f} |")
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
