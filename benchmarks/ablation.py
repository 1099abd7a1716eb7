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

from benchmarks.harness import imagenet
from benchmarks.harness.ablation_report import VARIANTS, ablation_report
from benchmarks.harness.io import CACHE_DIR, RESULTS_DIR, log, read_json, write_json
from benchmarks.harness.methods import build as build_method
from benchmarks.harness.tasks import extract_features

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
    """Write the ablation's report of ``records`` to ``path``."""
    path.write_text(ablation_report(records))


if __name__ == "__main__":
    raise SystemExit(main())
