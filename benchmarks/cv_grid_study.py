"""Validation-only studies behind ``NMTuneClassifierCV``'s grid and selection rule (ImageNet backbones).

Both studies fit on the *training* split of every (task, backbone) unit of ``accuracy_imagenet.py`` and score
on its ID *validation* split; test and OOD splits are never read.

``budget``: the MLP candidates' training budget. Each MLP configuration (λ in {0, 1}; patience x hidden-width
cap) is fitted once on the training split; validation accuracy, fit seconds (one thread) and epochs run.

``rule``: how to pick among the candidates. ``NMTuneClassifierCV``'s inner cross-validation scores (mean and
standard error per candidate) are stored with every candidate's validation accuracy after a refit on the whole
training split, so selection rules (best mean, one-standard-error towards the linear probe) compare offline::

    .venv/bin/python -m benchmarks.cv_grid_study budget --seeds 0
    .venv/bin/python -m benchmarks.cv_grid_study rule --seeds 0 1 --jobs 2
    .venv/bin/python -m benchmarks.cv_grid_study rule --suite first --seeds 0 --jobs 2   # MiniLM, CIFAR ResNets
    .venv/bin/python -m benchmarks.cv_grid_study ensemble --seeds 0 1 --jobs 2
    .venv/bin/python -m benchmarks.cv_grid_study race --seeds 0 1 --jobs 2
    .venv/bin/python -m benchmarks.cv_grid_study race --suite first --seeds 0 --jobs 2
    .venv/bin/python -m benchmarks.cv_grid_study race --suite pacs --seeds 0 --jobs 2   # domain_shift.py's fits
    .venv/bin/python -m benchmarks.cv_grid_study race --suite pacs --tasks lodo single --seeds 1 2 3 4 --jobs 2
    .venv/bin/python -m benchmarks.cv_grid_study report

``ensemble``: whether soft-voting several candidates beats refitting one. For every unit the ``rule`` study
already scored, the default grid's candidates are refitted on the training split (the model seed
``NMTuneClassifierCV`` would use) and ensembles chosen from the stored cross-validation scores (members within
one standard error of the best, the top 2 / 3, the best of each head family, all) are scored on validation.

``race``: whether ``NMTuneClassifierCV`` may stop scoring candidates that trail after the first fold. The
default grid's inner cross-validation is run in full (``racing=None``) and every candidate's per-fold scores and
fit time stored; dropping after fold 1 every candidate more than a margin behind the best is then simulated
offline (the survivors' folds are the same fits), and the selection, its validation accuracy (the ``rule``
study's refit of the same candidate with the same seed) and the fit time saved compared per margin.

Results: ``benchmarks/results/cv_grid_study.json`` (rows keyed by study, task, backbone, seed; resumable) and the
tables in ``cv_grid_study.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from joblib import Parallel, delayed

from benchmarks.harness import imagenet, pacs_domains, text_cifar
from benchmarks.harness.cv_grid_tables import (  # raced_selection: re-exported, tests/test_racing.py imports it here
    BUDGETS, ENSEMBLE_RULES, budget_table, default_candidates, ensemble_table, race_table, raced_selection, rule_table,
)
from benchmarks.harness.io import RESULTS_DIR, atomic_write_text, log, read_json, write_json
from benchmarks.harness.methods import cv_model_seed
from benchmarks.harness.tasks import extract_jobs

RESULT = RESULTS_DIR / "cv_grid_study.json"


def _rule_grid():
    """The rule study's candidates: the default grid plus linear probes with AdamW weight decay 0.1 and 1.

    Every candidate of a sub-grid is fitted on the same folds with the same model seed as
    ``NMTuneClassifierCV(sub_grid)`` would fit it, so sub-grids are compared offline.
    """
    from sknmtune.heads import DEFAULT_PARAM_GRID

    lp = dict(DEFAULT_PARAM_GRID[0], weight_decay=[0.0, 0.1, 1.0])
    return [lp, *DEFAULT_PARAM_GRID[1:]]


def _budget(X, y, Xv, yv, seed):
    """Each MLP budget (λ x patience x width cap) fitted once on (X, y) and scored on the validation split."""
    from sknmtune.evaluation import evaluate_heads
    from sknmtune.heads import make_head

    configs = [(lam, patience, width) for lam in (0.0, 1.0) for patience, width in BUDGETS]
    heads = {f"lambda={lam:g} patience={patience} width={width}": make_head(
        "nmtune", mlp_depth=2, reg_lambda=lam, n_iter_no_change=patience, max_hidden_width=width)
        for lam, patience, width in configs}
    records = evaluate_heads(heads, X, y, validation=(Xv, yv), seeds=(seed,), spectra=False)
    return [{"reg_lambda": lam, "n_iter_no_change": patience, "max_hidden_width": width, "fit_seconds": r["fit_seconds"],
             "epochs": int(r["n_iter"]), "val_accuracy": r["accuracy"]} for (lam, patience, width), r in zip(configs, records)]


def _n_folds(cv_results):
    """Number of cross-validation splits in a ``cv_results_`` (its ``split<i>_test_score`` keys)."""
    return sum(k.startswith("split") and k.endswith("_test_score") for k in cv_results)


def _rule(X, y, Xv, yv, seed, grid):
    """``NMTuneClassifierCV(grid)``'s cross-validated scores, and each candidate refitted on (X, y) as the CV head
    refits the one it picks (its model seed, the grid's parameters), scored on the validation split."""
    from sknmtune.evaluation import evaluate_heads
    from sknmtune.heads import make_head

    t0 = time.perf_counter()
    cv = make_head("cv", random_state=seed, param_grid=grid).fit(X, y)
    seconds = time.perf_counter() - t0
    r = cv.cv_results_
    n_folds = _n_folds(r)
    refits = evaluate_heads({str(i): make_head("nmtune", **params) for i, params in enumerate(r["params"])}, X, y,
                            validation=(Xv, yv), seeds=(cv.best_estimator_.random_state,), spectra=False)
    out = [{"params": params, "cv_mean": float(r["mean_test_score"][i]),
            "cv_se": float(r["std_test_score"][i] / np.sqrt(n_folds)),
            "cv_fit_seconds": float(r["mean_fit_time"][i]), "val_accuracy": refit["accuracy"]}
           for (i, params), refit in zip(enumerate(r["params"]), refits)]
    return {"candidates": out, "best_index": int(np.argmax(r["mean_test_score"])), "cv_seconds": seconds}


def _race(X, y, seed):
    """Per-fold scores and mean fit seconds of every default-grid candidate (no racing), for the race study."""
    from sknmtune.heads import make_head

    t0 = time.perf_counter()
    cv = make_head("cv", random_state=seed, racing=None).fit(X, y)
    r = cv.cv_results_
    n_folds = _n_folds(r)
    return {"candidates": [{"params": params, "split_scores": [float(r[f"split{j}_test_score"][i]) for j in range(n_folds)],
                            "mean_fit_seconds": float(r["mean_fit_time"][i])} for i, params in enumerate(r["params"])],
            "cv_seconds": time.perf_counter() - t0}


def _ensemble(X, y, Xv, yv, seed, cands):
    """Refit the default grid's candidates on (X, y) with the CV head's model seed; validation accuracy of every
    ensemble in ENSEMBLE_RULES from the candidates' validation probabilities."""
    from sknmtune.evaluation import evaluate_heads
    from sknmtune.heads import make_head

    probas = {}
    records = evaluate_heads({str(i): make_head("nmtune", **c["params"]) for i, c in enumerate(cands)}, X, y,
                             validation=(Xv, yv), seeds=(cv_model_seed(seed),), spectra=False,
                             on_proba=lambda method, _, p: probas.__setitem__(int(method), p["val"]))
    classes = np.unique(y)
    seconds = [r["fit_seconds"] for r in records]
    out = {}
    for name, members in ENSEMBLE_RULES.items():
        idx = [int(i) for i in members(cands)]
        pred = classes[np.mean([probas[i] for i in idx], axis=0).argmax(axis=1)]
        out[name] = {"members": idx, "val_accuracy": float(np.mean(pred == yv)),
                     "refit_seconds": float(sum(seconds[i] for i in idx))}
    return {"rules": out, "candidate_val_accuracy": [r["accuracy"] for r in records]}


def _pacs_jobs(protocols, backbones):
    """The training sets ``benchmarks.domain_shift`` fits ``NMTuneClassifierCV()`` on (center crops, the full scale),
    named ``lodo:<target>`` (multi-source), ``lodo-selection:<target>/<held>`` (its leave-one-source-out selection
    fits) and ``single:<source>``; ``protocols`` a subset of those three prefixes. No validation split: only the
    race study (inner cross-validation scores) runs on them."""
    scale = pacs_domains.SCALES["full"]
    names = {"lodo": "lodo:{unit}", "lodo-selection": "lodo-selection:{unit}/{held}", "single": "single:{unit}"}
    jobs = []
    for backbone in backbones or scale.backbones:
        feats = pacs_domains.features(backbone, scale, device="cpu")
        for ts in pacs_domains.training_sets(feats, scale, tuple(protocols or pacs_domains.PROTOCOLS)):
            task = names[ts.protocol].format(unit=ts.unit, held=ts.held_out)
            jobs.append(SimpleNamespace(task=SimpleNamespace(name=task), backbone=SimpleNamespace(name=backbone),
                                        splits={"train": (pacs_domains.center(ts.V), ts.y)}))
    return jobs


def _suite_jobs(suite, tasks, backbones):
    """Cached features of every (task, backbone) unit of one benchmark suite."""
    if suite == "pacs":
        return _pacs_jobs(tasks, backbones)
    if suite == "imagenet":
        return extract_jobs([imagenet.TASKS[t] for t in tasks or imagenet.ALL_TASKS],
                            [imagenet.BACKBONES[b] for b in backbones or imagenet.ALL_BACKBONES], imagenet.SCALES["full"],
                            "cpu", [])[0]
    return extract_jobs([text_cifar.TASKS[t] for t in tasks or text_cifar.ALL_TASKS],
                        [text_cifar.BACKBONES[b] for b in backbones or text_cifar.ALL_BACKBONES], text_cifar.SCALES["full"],
                        "auto", [])[0]


def _run_study_unit(study, job, seed, grid):
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    (X, y), (Xv, yv) = job.splits["train"], job.splits.get("val", (None, None))
    t0 = time.perf_counter()
    with threadpool_limits(limits=1):  # one BLAS thread per fit, as torch's
        if study == "budget":
            result = _budget(X, y, Xv, yv, seed)
        elif study == "ensemble":
            result = _ensemble(X, y, Xv, yv, seed, grid)
        elif study == "race":
            result = _race(X, y, seed)
        else:
            result = _rule(X, y, Xv, yv, seed, grid)
    return {"study": study, "task": job.task.name, "backbone": job.backbone.name, "seed": seed,
            "n_train": len(y), "result": result, "seconds": time.perf_counter() - t0}


def report(path: Path) -> str:
    rows = read_json(path, {"rows": []})["rows"]
    race = [r for r in rows if r["study"] == "race"]
    rule_rows = {(r["task"], r["backbone"], r["seed"]): r for r in rows if r["study"] == "rule"}
    text = ("# NMTuneClassifierCV's grid and selection rule (validation splits only)\n\n"
            "Generated by `benchmarks/cv_grid_study.py report` from `cv_grid_study.json`.\n\n"
            "## MLP candidates' training budget\n\n" + budget_table([r for r in rows if r["study"] == "budget"])
            + "\n\n## Selection rule and sub-grids\n\n" + rule_table([r for r in rows if r["study"] == "rule"])
            + "\n\n## Soft-voting ensembles of the default grid's candidates\n\n"
            + ensemble_table([r for r in rows if r["study"] == "ensemble"])
            + "\n\n## Racing: dropping trailing candidates after the first fold\n\n"
            + race_table([r for r in race if ":" not in r["task"]], rule_rows)
            + "\n\n### On the PACS domain-shift benchmark's training sets\n\n"
            + race_table([r for r in race if ":" in r["task"]], rule_rows) + "\n")
    atomic_write_text(path.with_suffix(".md"), text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("study", choices=["budget", "rule", "ensemble", "race", "report"], help="report: tables from the JSON only")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--suite", choices=["imagenet", "first", "pacs"], default="imagenet",
                        help="accuracy_imagenet.py's units (default), accuracy.py's (text, CIFAR ResNets) or "
                             "domain_shift.py's training sets (race study only)")
    parser.add_argument("--tasks", nargs="+", help="subset of the suite's tasks (pacs: of lodo, lodo-selection, single)")
    parser.add_argument("--backbones", nargs="+", help="subset of the suite's backbones")
    parser.add_argument("--out", type=Path, default=RESULT)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args(argv)

    if args.study == "report":
        print(report(args.out))
        return 0
    if args.suite == "pacs" and args.study != "race":
        parser.error("--suite pacs has no validation splits: only the race study runs on it")
    jobs = _suite_jobs(args.suite, args.tasks, args.backbones)
    rows = read_json(args.out, {"rows": []})["rows"]
    done = {(r["study"], r["task"], r["backbone"], r["seed"]) for r in rows}
    todo = [(job, seed) for seed in args.seeds for job in jobs
            if (args.study, job.task.name, job.backbone.name, seed) not in done]
    rule_rows = {(r["task"], r["backbone"], r["seed"]): r for r in rows if r["study"] == "rule"}
    if args.study == "ensemble":  # needs the rule study's CV scores of the same unit
        missing = [(j.task.name, j.backbone.name, s) for j, s in todo if (j.task.name, j.backbone.name, s) not in rule_rows]
        if missing:
            log(f"SKIP {len(missing)} unit(s) without a rule-study row (run `rule` first): {missing}")
        todo = [(j, s) for j, s in todo if (j.task.name, j.backbone.name, s) in rule_rows]
    if not todo:
        log("nothing to run: every unit is in " + str(args.out))

    def grid(job, seed):
        if args.study == "ensemble":
            return default_candidates(rule_rows[(job.task.name, job.backbone.name, seed)])
        return _rule_grid()

    results = Parallel(n_jobs=args.jobs, return_as="generator_unordered")(
        delayed(_run_study_unit)(args.study, job, seed, grid(job, seed)) for job, seed in todo)
    for row in results:
        rows.append(row)
        write_json(args.out, {"rows": rows})
        log(f"{row['study']} {row['task']}/{row['backbone']} seed {row['seed']}: {row['seconds']:.0f}s")
    report(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
