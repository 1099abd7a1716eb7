"""Does a transferability score predict which frozen backbone transfers best? (issue 13, backbone ranking)

For each task, every available backbone's features of the ID *training* split are scored with
:func:`sknmtune.ranking.rank_backbones` (LogME, H-score, SVE, LSVR) and :func:`sknmtune.ranking.h_score`
with Ledoit-Wolf shrinkage; LP and NMTune heads are fitted on the same training split with the
protocol of ``benchmarks/accuracy.py`` and evaluated on the ID test split (and the OOD domains with
``--ood``). Each score is then compared with the heads' test accuracy over the backbones of a task
by Spearman's rho and Kendall's tau, whether its top backbone is the most accurate one, and the
accuracy lost by deploying its top backbone (regret)::

    .venv/bin/python -m benchmarks.ranking            # PACS photo / sketch, 6 backbones (resumable)
    .venv/bin/python -m benchmarks.ranking --ood      # also the OOD domains (extraction + refits)
    .venv/bin/python -m benchmarks.ranking --backbones mobilenetv2_100 --fit-only   # one backbone's heads
    .venv/bin/python -m benchmarks.ranking --report   # recompute the correlations, re-render ranking.md

Backbones (all frozen, same splits, same test images):

* the four CIFAR-10 ResNets of ``../shared/data/resnet-cifar10-akamaster`` (20, 32, 44, 56 layers,
  64-d) on PACS at 32 px, through :data:`benchmarks.harness.backbones.CIFAR_RESNETS`;
* the two ImageNet-1k backbones of ``benchmarks/accuracy_imagenet.py`` (``tf_efficientnet_lite0``,
  ``mobilenetv2_100``, 1280-d, timm eval transform) on the same PACS images at 128 px
  (``pacs-full`` holds the same images in the same order as ``pacs``; the split indices, which
  depend only on the labels and the seed, are therefore identical; this is checked).

Every head is fitted here (rather than read from ``accuracy.json``) so that all backbones of a task
share one code version; the stored ``accuracy.json`` records of ResNet-20/56 serve as a cross-check
of the protocol. Features go through the benchmark's content-keyed cache (``benchmarks/cache``),
so features already extracted by ``accuracy.py`` / ``accuracy_imagenet.py`` are reused. Outputs:
``results/ranking.json`` (scores, accuracies, correlations), ``results/ranking.md`` (the report) and
``results/ranking_fits.json`` (the head records, in the ``accuracy.json`` format; a
(task, backbone, method, seed) with a record for every test domain of the run is skipped on a
rerun, so ``--ood`` refits only what lacks OOD records).

A second, optional study reads ``results/accuracy_imagenet.json`` (when present) and scores the
training features that ``accuracy_imagenet.py`` cached for its tasks: two backbones per task, so it
only asks whether a score picks the better of the two.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import datasets as bd
from benchmarks.harness import imagenet, text_cifar
from benchmarks.harness.backbones import CIFAR_RESNETS, BackboneUnavailable
from benchmarks.harness.hardware import machine
from benchmarks.harness.io import CACHE_DIR, RESULTS_DIR, ROOT, clean, log, read_json, write_json
from benchmarks.harness.methods import METHODS
from benchmarks.harness.methods import build as build_method
from benchmarks.harness.ranking_report import GROUPS, HEADS, SCORES, TIE_RTOL, render
from benchmarks.harness.runner import run_benchmark
from benchmarks.harness.tables import seed_means
from benchmarks.harness.tasks import JobFeatures, Scale, Task, TaskData

OUT_JSON = RESULTS_DIR / "ranking.json"
OUT_MD = RESULTS_DIR / "ranking.md"
FITS_JSON = RESULTS_DIR / "ranking_fits.json"

TASKS = ("pacs-photo", "pacs-sketch")
CIFAR_BACKBONES = tuple(CIFAR_RESNETS)
IMAGENET_BACKBONES = imagenet.ALL_BACKBONES
IMAGENET_HEADS = {"lp": "lp", "nmtune": "nmtune-authors"}  # the same configurations as accuracy.py's LP / NMTune


# =========================================================================== backbones and data


def _backbone_and_transformer(name: str) -> tuple[Any, Any]:
    """(backbone description with .name / .family, FrozenBackboneTransformer) for one backbone name."""
    if name in IMAGENET_BACKBONES:
        backbone = imagenet.BACKBONES[name]
        return backbone, backbone.make(CACHE_DIR, device="cpu")
    backbone = CIFAR_RESNETS[name]
    return backbone, backbone.make(CACHE_DIR)


def _task_data(task: Task, backbone_name: str, scale: Scale, with_ood: bool) -> TaskData:
    """The task's splits as the text/CIFAR suite builds them; 128 px PACS images for the ImageNet backbones."""
    if backbone_name not in IMAGENET_BACKBONES:
        data = task.build(scale)
        return data if with_ood else dataclasses.replace(data, ood={})
    source = task.train_domain
    train, val, test = text_cifar.split_train(bd.load_pacs_full(source), 0.2, 0.2, scale)
    ood = {d: bd.load_pacs_full(d) for d in bd.PACS_DOMAINS if d != source} if with_ood else {}
    return TaskData(train, val, test, ood)


def extract(task: Task, backbone_name: str, scale: Scale, with_ood: bool) -> JobFeatures:
    """Features of the train and test splits (and OOD domains) through the cached frozen backbone."""
    backbone, transformer = _backbone_and_transformer(backbone_name)
    data = _task_data(task, backbone_name, scale, with_ood)
    named = {"train": data.train, "test": data.test, **{f"ood:{d}": ds for d, ds in data.ood.items()}}
    t0 = time.perf_counter()
    splits, notes = {}, {}
    for key, ds in named.items():
        splits[key] = (np.asarray(transformer.transform(ds.X), dtype=np.float32), ds.y)
        notes[key] = f"{ds.name} (n={len(ds)}): {ds.note}"
    return JobFeatures(task, backbone, splits, notes, data.skipped_ood, time.perf_counter() - t0)


# =========================================================================== scores and heads


def score_features(features: dict[str, np.ndarray], y: np.ndarray) -> dict[str, dict[str, float]]:
    """Every score of every backbone's training features (plus the seconds LogME / H-score took)."""
    from sknmtune.ranking import h_score, logme, rank_backbones

    ranking = rank_backbones(features, y=y, scores=("logme", "h_score", "sve", "lsvr"))
    out = {r["name"]: {k: r[k] for k in ("logme", "h_score", "sve", "lsvr", "n_features")} for r in ranking}
    for name, F in features.items():
        out[name]["h_score_lw"] = h_score(F, y, shrinkage="auto")
        t0 = time.perf_counter()
        logme(F, y)
        out[name]["logme_seconds"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        h_score(F, y)
        out[name]["h_score_seconds"] = time.perf_counter() - t0
    return out


def _nmtune_method() -> tuple[str, dict[str, Any]]:
    """The method accuracy.py reports as nmtune-default: its validation-chosen configuration."""
    validation = read_json(RESULTS_DIR / "accuracy_validation.json", {})
    decision = validation.get("decision")
    if not decision:
        raise RuntimeError("results/accuracy_validation.json has no decision; run benchmarks/accuracy.py first")
    choice = decision["choice"]
    return (choice if choice in METHODS else "nmtune-default"), decision


def fit_heads(job: JobFeatures, scale: Scale, lp_seeds: tuple[int, ...], nmtune_seeds: tuple[int, ...],
              records: list[dict[str, Any]], n_jobs: int) -> None:
    """LP and NMTune on the training split, scored on each test split (resumable; appends to records)."""
    method, decision = _nmtune_method()
    # a (task, backbone, method, seed) is done when it has a record for every test split of this job;
    # otherwise (e.g. --ood added domains) it is refitted and its old records are replaced
    domains = {d for _, _, d in job.test_splits()}
    found: dict[tuple, set[str]] = defaultdict(set)
    for r in records:
        found[(r["task"], r["backbone"], r["method"], r["seed"])].add(r["test_domain"])
    done = {k for k, v in found.items() if domains <= v}

    def on_result(new: list[dict[str, Any]]) -> None:
        key = (new[0]["task"], new[0]["backbone"], new[0]["method"], new[0]["seed"])
        records[:] = [r for r in records if (r["task"], r["backbone"], r["method"], r["seed"]) != key] + new
        write_json(FITS_JSON, records)

    def make(m: str, seed: int) -> Any:
        # the NMTune head is the validation study's best candidate (its parameters, whatever its name)
        if m == method:
            from sknmtune.heads import make_head

            return make_head("nmtune", random_state=seed, device="cpu", **decision["params"])
        return build_method(m, seed, max_epochs=scale.max_epochs, device="cpu")

    for methods, seeds in ((["lp"], lp_seeds), ([method], nmtune_seeds)):
        run_benchmark(job, seeds, methods, done, n_jobs, on_result, make=make)


def head_accuracy(records: list[dict[str, Any]], head_of: dict[str, str]) -> dict[tuple[str, str, str, str], float]:
    """(task, backbone, head, role) -> mean accuracy over seeds (per seed, OOD is the mean over domains) of the
    records of the methods in ``head_of`` (method -> the report's head name)."""
    renamed = [{**r, "head": head_of[r["method"]]} for r in records if r["method"] in head_of]
    return {key: mean for key, (mean, _, _) in seed_means(renamed, "accuracy", by=("task", "backbone", "head", "role")).items()}


def accuracy_table(records: list[dict[str, Any]]) -> dict[tuple[str, str, str, str], float]:
    """:func:`head_accuracy` of LP and of the validation-chosen NMTune head."""
    method, _ = _nmtune_method()
    return head_accuracy(records, {"lp": "lp", method: "nmtune"})


def protocol_check(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Accuracy of the heads fitted here vs the accuracy.json records of the same (task, backbone, method, seed)."""
    method, _ = _nmtune_method()
    stored = {(r["task"], r["backbone"], r["method"], r["seed"], r["test_domain"]): r["accuracy"]
              for r in read_json(RESULTS_DIR / "accuracy.json", []) if r["method"] in ("lp", method)}
    diffs = defaultdict(list)
    for r in records:
        key = (r["task"], r["backbone"], r["method"], r["seed"], r["test_domain"])
        if key in stored:
            diffs[r["method"]].append(r["accuracy"] - stored[key])
    return {m: {"n": len(d), "max_abs_diff": float(np.max(np.abs(d))), "mean_diff": float(np.mean(d)),
                "identical": int(np.sum(np.abs(d) < 1e-12))} for m, d in diffs.items()}


# =========================================================================== correlations


def correlate(scores: dict[str, float], accuracy: dict[str, float], direction: int) -> dict[str, Any]:
    """Rank agreement between one score (signed so higher = predicted better) and one accuracy, over backbones."""
    from scipy.stats import kendalltau, spearmanr

    names = sorted(set(scores) & set(accuracy))
    s = np.array([direction * scores[n] for n in names])
    a = np.array([accuracy[n] for n in names])
    resolution = TIE_RTOL * float(np.abs(s).max())
    if resolution > 0:  # scores equal up to round-off (an H-score saturated at n_classes - 1) are ties
        s = np.round(s / resolution)
    # every backbone tied at the top is "picked": the regret is the expected one of a random tie-break,
    # and a tie never counts as a top-1 hit
    picks = [n for n, v in zip(names, s) if v == s.max()]
    best = names[int(np.argmax(a))]
    with np.errstate(invalid="ignore"):
        rho = spearmanr(s, a).statistic if len(names) > 2 else float(np.sign(s[1] - s[0]) * np.sign(a[1] - a[0]))
        tau = kendalltau(s, a).statistic
    return {"n": len(names), "spearman": _finite(rho), "kendall": _finite(tau), "pick": picks, "best": best,
            "top1": picks == [best], "tie": len(picks) > 1,
            "regret_pp": 100 * float(np.mean([a.max() - accuracy[p] for p in picks]))}


def _finite(v: Any) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def correlations(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per (study, group, task, head, role, score) with at least 2 backbones scored and evaluated."""
    out = []
    for study, groups in GROUPS.items():
        for group in groups:
            for task in sorted({r["task"] for r in rows if r["study"] == study}):
                everything = [r for r in rows if r["study"] == study and r["task"] == task]
                sel = [r for r in everything if group != "cifar" or r["backbone"] in CIFAR_BACKBONES]
                if group == "cifar" and len(sel) == len(everything):
                    continue  # no other backbone on this task: the same as "all"
                for head in HEADS:
                    for role in ("ID", "OOD"):
                        acc_of = {r["backbone"]: r["accuracy"].get(f"{head}_{role}") for r in sel}
                        if len(sel) < 2 or any(v is None for v in acc_of.values()):
                            continue
                        for score, (_, direction) in SCORES.items():
                            vals = {r["backbone"]: r["scores"][score] for r in sel}
                            out.append({"study": study, "group": group, "task": task, "head": head, "role": role,
                                        "score": score, **correlate(vals, acc_of, direction)})
    return out


def imagenet_study(records_path: Path, skipped: list[str]) -> list[dict[str, Any]]:
    """Rows for the tasks of the ImageNet suite: its head records, scores of its (cached) training features."""
    records = read_json(records_path, [])
    if not records:
        skipped.append(f"ImageNet study: {records_path.relative_to(ROOT)} is absent (run "
                       "`python -m benchmarks.accuracy_imagenet`)")
        return []
    accuracy = head_accuracy(records, {m: h for h, m in IMAGENET_HEADS.items()})
    n_test = {r["task"]: r.get("n_test") for r in records if r["role"] == "ID"}
    scale = imagenet.SCALES["full"]
    rows = []
    for task_name, task in imagenet.TASKS.items():
        names = [b for b in IMAGENET_BACKBONES if (task_name, b, "lp", "ID") in accuracy]
        if len(names) < 2:
            skipped.append(f"ImageNet study {task_name}: records for fewer than 2 backbones")
            continue
        train = task.build(scale).train
        features = {}
        for name in names:  # read from the benchmark cache: accuracy_imagenet.py extracted these features
            t0 = time.perf_counter()
            features[name] = np.asarray(imagenet.BACKBONES[name].make(CACHE_DIR, device="cpu").transform(train.X))
            log(f"ImageNet study {task_name}/{name}: {features[name].shape} ({time.perf_counter() - t0:.0f}s)")
        scores = score_features(features, train.y)
        for name in names:
            s = {k: v for k, v in scores[name].items() if not k.endswith("_seconds")}
            rows.append({"study": "imagenet", "task": task_name, "backbone": name, "family": imagenet.BACKBONES[name].family,
                         "n_train": len(train.y), "n_test": n_test.get(task_name), "scores": s,
                         "accuracy": {f"{h}_{role}": accuracy.get((task_name, name, h, role))
                                      for h in HEADS for role in ("ID", "OOD")}})
    return rows


# =========================================================================== main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report", action="store_true", help="recompute the correlations from ranking.json and re-render ranking.md (no extraction, no fits)")
    parser.add_argument("--results-dir", default=str(RESULTS_DIR), help="with --report: the folder of ranking.json and the report")
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--backbones", nargs="+", choices=CIFAR_BACKBONES + IMAGENET_BACKBONES,
                        default=list(CIFAR_BACKBONES + IMAGENET_BACKBONES))
    parser.add_argument("--ood", action="store_true", help="also extract and evaluate the OOD domains")
    parser.add_argument("--lp-seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--nmtune-seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--jobs", type=int, default=2, help="parallel head fits (processes, 1 torch thread each)")
    parser.add_argument("--fit-only", action="store_true",
                        help="only extract (cache) and fit the heads of --backbones; ranking.json is left alone")
    parser.add_argument("--studies", nargs="+", choices=tuple(GROUPS), default=list(GROUPS),
                        help="pacs: 6 backbones on PACS (extracts, fits heads); imagenet: accuracy_imagenet.py's records")
    args = parser.parse_args(argv)
    if args.report:  # correlations are recomputed from the stored scores and accuracies
        folder = Path(args.results_dir)
        result = read_json(folder / OUT_JSON.name, {})
        result["correlations"] = correlations(result["rows"])
        write_json(folder / OUT_JSON.name, result)
        (folder / OUT_MD.name).write_text(render(clean(result)))
        return 0

    import torch

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    t_start = time.perf_counter()
    scale = text_cifar.SCALES["full"]
    method, _ = _nmtune_method()
    records: list[dict[str, Any]] = read_json(FITS_JSON, [])
    skipped: list[str] = []
    rows: list[dict[str, Any]] = []
    timings: list[dict[str, Any]] = []
    data_notes: dict[str, str] = {}
    for task_name in (args.tasks if "pacs" in args.studies else []):
        task = text_cifar.TASKS[task_name]
        jobs: dict[str, JobFeatures] = {}
        for name in args.backbones:
            try:
                job = extract(task, name, scale, args.ood)
            except (BackboneUnavailable, bd.DatasetUnavailable) as exc:
                skipped.append(f"{task_name}/{name}: {exc}")
                log(f"SKIP {task_name}/{name}: {exc}")
                continue
            log(f"features {task_name}/{name}: " + ", ".join(f"{k} {v[0].shape}" for k, v in job.splits.items())
                 + f" ({job.extract_seconds:.0f}s)")
            jobs[name] = job
            data_notes.update({f"{task_name} {k} ({'128 px' if name in IMAGENET_BACKBONES else '32 px'})": v
                               for k, v in job.notes.items()})
        if not jobs:
            continue
        first = next(iter(jobs.values()))
        y_train, y_test = first.splits["train"][1], first.splits["test"][1]
        if not all(np.array_equal(y_train, j.splits["train"][1]) and np.array_equal(y_test, j.splits["test"][1])
                   for j in jobs.values()):
            raise RuntimeError(f"{task_name}: the backbones' splits differ; their accuracies would not be comparable")
        torch.set_num_threads(1)
        for name, job in jobs.items():
            log(f"heads {task_name}/{name}")
            fit_heads(job, scale, tuple(args.lp_seeds), tuple(args.nmtune_seeds), records, args.jobs)
        torch.set_num_threads(min(2, os.cpu_count() or 1))
        if args.fit_only:
            continue
        if len(jobs) < 2:
            skipped.append(f"{task_name}: fewer than 2 backbones available")
            continue
        scores = score_features({n: j.splits["train"][0] for n, j in jobs.items()}, y_train)
        accuracy = accuracy_table([r for r in records if r["task"] == task_name
                                   and r["seed"] in (args.lp_seeds if r["method"] == "lp" else args.nmtune_seeds)])
        for name, job in jobs.items():
            s = scores[name]
            timings.append({"task": task_name, "backbone": name, "n": len(y_train), "d": s["n_features"],
                            "logme": s.pop("logme_seconds"), "h_score": s.pop("h_score_seconds")})
            rows.append({"study": "pacs", "task": task_name, "backbone": name, "family": job.backbone.family,
                         "n_train": len(y_train), "n_test": len(y_test),
                         "scores": s, "accuracy": {f"{h}_{role}": accuracy.get((task_name, name, h, role))
                                                   for h in HEADS for role in ("ID", "OOD")}})
    if args.fit_only:
        log(f"--fit-only: features cached and heads fitted ({(time.perf_counter() - t_start) / 60:.1f} min); no report")
        return 0
    if "imagenet" in args.studies:
        rows += imagenet_study(RESULTS_DIR / "accuracy_imagenet.json", skipped)
    result = {
        "config": {"tasks": args.tasks, "backbones": args.backbones, "ood": args.ood, "lp_seeds": args.lp_seeds,
                   "nmtune_seeds": args.nmtune_seeds, "nmtune_method": method, "machine": machine(),
                   "seconds": round(time.perf_counter() - t_start, 1), "finished": time.strftime("%Y-%m-%d %H:%M")},
        "rows": rows,
        "correlations": correlations(rows),
        "protocol_check": protocol_check(records),
        "score_seconds": timings,
        "skipped": skipped,
        "data": data_notes,
    }
    write_json(OUT_JSON, result)
    OUT_MD.write_text(render(clean(result)))
    log(f"wrote {OUT_JSON.relative_to(ROOT)} and {OUT_MD.relative_to(ROOT)} "
         f"({(time.perf_counter() - t_start) / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
