"""Noisy *downstream* labels (the paper's App. B.5 setting): LP, MLP and NMTune trained on labels with symmetric
noise injected at rate gamma, scored on the clean ID and OOD test sets.

The features are the ImageNet-backbone benchmark's (``benchmarks/accuracy_imagenet.py``, cached on disk; a cold
cache extracts them first). Per (task, backbone, gamma, seed) the training labels are corrupted with
``sknmtune.symmetric_label_noise(y, gamma, random_state=seed)`` and every method is fitted with
``sknmtune.evaluation.evaluate_heads`` on the same noisy labels. The test labels stay clean.

    python -m benchmarks.label_noise                        # MobileNetV2, all tasks, gamma 0/20/40 %, seed 0
    python -m benchmarks.label_noise --seeds 0 1 2 --backbones tf_efficientnet_lite0 mobilenetv2_100
    python -m benchmarks.label_noise --report                # re-render the report from the JSON

Results: ``benchmarks/results/label_noise.json`` (records) and ``label_noise.md`` (report); resumable per unit.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import imagenet
from benchmarks.harness.io import RESULTS_DIR, log, read_json, write_json
from benchmarks.harness.label_noise_report import LABEL_NOISE_METHODS, NOISE_RATES, label_noise_report
from benchmarks.harness.methods import build as build_method
from benchmarks.harness.tasks import extract_jobs

RESULTS = RESULTS_DIR / "label_noise.json"
REPORT = RESULTS_DIR / "label_noise.md"
METHODS = LABEL_NOISE_METHODS


def run(args: argparse.Namespace) -> None:
    import torch

    from sknmtune import symmetric_label_noise
    from sknmtune.evaluation import evaluate_heads

    scale = imagenet.SCALES["full"]
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    tasks = [imagenet.TASKS[t] for t in args.tasks]
    backbones = [imagenet.BACKBONES[b] for b in args.backbones]
    jobs, _ = extract_jobs(tasks, backbones, scale, args.extract_device, skipped=[])
    torch.set_num_threads(1)
    records: list[dict[str, Any]] = read_json(RESULTS, [])
    done = {(r["task"], r["backbone"], r["noise_rate"], r["seed"]) for r in records}
    for job in jobs:
        F_train, y_train = job.splits["train"]
        F_test, y_test = job.splits["test"]
        ood = {domain: job.splits[key] for key, role, domain in job.test_splits() if role == "OOD"}
        for seed in args.seeds:
            for rate in NOISE_RATES:
                unit = (job.task.name, job.backbone.name, rate, seed)
                if unit in done:
                    continue
                y_noisy = symmetric_label_noise(y_train, rate, random_state=seed)[0] if rate > 0 else y_train
                heads = {m: build_method(m, seed, max_epochs=scale.max_epochs, device="cpu") for m in METHODS}
                t0 = time.perf_counter()
                new = evaluate_heads(
                    heads, F_train, y_noisy, id_test=(F_test, y_test), ood_tests=ood, seeds=[seed],
                    extra={"task": job.task.name, "backbone": job.backbone.name, "noise_rate": rate,
                           "label_error_rate": float(np.mean(y_noisy != y_train))},
                )
                records.extend(new)
                write_json(RESULTS, records)
                log(f"{job.task.name}/{job.backbone.name} gamma={rate:.0%} seed {seed}: "
                        f"{time.perf_counter() - t0:.0f}s")
    render(records)


def render(records: list[dict[str, Any]], path: Path = REPORT) -> None:
    """Write the report of ``records`` to ``path``."""
    path.write_text(label_noise_report(records))
    log(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(imagenet.ALL_TASKS), choices=imagenet.ALL_TASKS)
    parser.add_argument("--backbones", nargs="+", default=["mobilenetv2_100"], choices=imagenet.ALL_BACKBONES)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--extract-device", default="auto")
    parser.add_argument("--report", action="store_true", help="only re-render the report")
    parser.add_argument("--results-dir", default=str(RESULTS_DIR), help="with --report: the folder of label_noise.json")
    args = parser.parse_args(argv)
    if args.report:
        folder = Path(args.results_dir)
        render(read_json(folder / RESULTS.name, []), folder / REPORT.name)
    else:
        run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
