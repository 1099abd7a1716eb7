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
from benchmarks.harness.io import RESULTS_DIR, atomic_write_text, log, read_json, write_json
from benchmarks.harness.methods import cv_model_seed
from benchmarks.harness.tasks import extract_jobs

RESULT = RESULTS_DIR / "cv_grid_study.json"
BUDGETS = [(10, 1024), (5, 1024), (10, 512), (5, 512)]  # (n_iter_no_change, max_hidden_width)


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


def _best_of_each_family(cands):
    """The best candidate (mean CV score) of each head family: probe, MLP tuning, NMTune."""
    from sknmtune.heads import head_family

    return [max((i for i, x in enumerate(cands) if head_family(x["params"]) == family), key=lambda i: cands[i]["cv_mean"])
            for family in ("probe", "mlp", "nmtune")]


#: ensembles compared by the ``ensemble`` study: name -> members' indices, from the candidates' CV scores
ENSEMBLE_RULES = {
    "single (one standard error)": lambda c: [_pick(c, "one_standard_error")],
    "single (best)": lambda c: [_pick(c, "best")],
    "soft vote: within one standard error": lambda c: [
        i for i, x in enumerate(c) if x["cv_mean"] >= max(y["cv_mean"] for y in c) - c[_pick(c, "best")]["cv_se"]],
    "soft vote: top 2": lambda c: list(np.argsort([-x["cv_mean"] for x in c], kind="stable")[:2]),
    "soft vote: top 3": lambda c: list(np.argsort([-x["cv_mean"] for x in c], kind="stable")[:3]),
    "soft vote: best of each family (lp, mlp, nmtune)": _best_of_each_family,
    "soft vote: all 6": lambda c: list(range(len(c))),
}


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


def _mean(xs):
    return 100 * float(np.mean(xs)) if xs else float("nan")


def budget_table(rows):
    """Mean validation accuracy, fit time (relative to patience 10 / cap 1024) and epochs per MLP budget."""
    by = {}
    for r in rows:
        for c in r["result"]:
            by.setdefault((c["reg_lambda"], c["n_iter_no_change"], c["max_hidden_width"]), []).append(c)
    lines = [f"{len(rows)} units.", "", "| reg_lambda | n_iter_no_change | max_hidden_width | val acc (%) | Δ vs 10 / 1024 "
             "| fit time ratio | epochs |", "|---|---|---|---|---|---|---|"]
    for (lam, patience, width), cs in sorted(by.items()):
        ref = by[(lam, *BUDGETS[0])]
        acc = _mean([c["val_accuracy"] for c in cs])
        lines.append(f"| {lam:g} | {patience} | {width} | {acc:.2f} | {acc - _mean([c['val_accuracy'] for c in ref]):+.2f} "
                     f"| {sum(c['fit_seconds'] for c in cs) / sum(c['fit_seconds'] for c in ref):.2f} "
                     f"| {np.mean([c['epochs'] for c in cs]):.1f} |")
    return "\n".join(lines)


#: sub-grids of the rule study's candidates, compared offline (same folds, same model seeds)
SUB_GRIDS = {
    "default grid": lambda p: p["mlp_depth"] == 2 or p["weight_decay"] == 0.0,
    "default + probes with weight decay": lambda p: True,
    "default on raw features only": lambda p: (p["mlp_depth"] == 2 or p["weight_decay"] == 0.0) and not p["standardize"],
    "default without reg_lambda > 0": lambda p: p.get("reg_lambda", 0.0) == 0.0 and p.get("weight_decay", 0.0) == 0.0,
    "linear probes only": lambda p: p["mlp_depth"] == 0 and p["weight_decay"] == 0.0,
}


def _pick(cands, rule):
    """Index of the candidate ``rule`` refits: the best mean CV score, or the first within one standard error."""
    from sknmtune.heads import one_standard_error

    mean = [c["cv_mean"] for c in cands]
    if rule == "best":
        return int(np.argmax(mean))
    # the rule divides the std by sqrt(number of split columns): with one column it is the stored standard error
    return one_standard_error({"mean_test_score": mean, "std_test_score": [c["cv_se"] for c in cands],
                                "split0_test_score": None})


def _group(r):
    """A table column: the backbone, and the task for text (its three tasks differ too much to pool)."""
    return r["backbone"] + ("/" + r["task"] if r["backbone"] == "minilm" else "")


def rule_table(rows):
    """Mean validation accuracy of the refitted candidate per sub-grid x rule x unit group (backbone, text task)."""
    groups = sorted({_group(r) for r in rows})
    cells = {}
    for r in rows:
        group = _group(r)
        for name, keep in SUB_GRIDS.items():
            cands = [c for c in r["result"]["candidates"] if keep(c["params"])]
            for rule in ("best", "one_standard_error"):
                cells.setdefault((name, rule, group), []).append(cands[_pick(cands, rule)]["val_accuracy"])
        cells.setdefault(("(oracle: best candidate on validation)", "", group), []).append(
            max(c["val_accuracy"] for c in r["result"]["candidates"]))
    lines = [f"{len(rows)} units; mean validation accuracy (%) of the refitted candidate.", "",
             "| candidates | selection | " + " | ".join(groups) + " |", "|---|---|" + "---|" * len(groups)]
    for name, rule in dict.fromkeys((k[0], k[1]) for k in cells):
        lines.append(f"| {name} | {rule} | " + " | ".join(f"{_mean(cells.get((name, rule, g), [])):.2f}"
                                                         for g in groups) + " |")
    return "\n".join(lines)


def _default_candidates(rule_row):
    """The rule study's candidates that make up DEFAULT_PARAM_GRID (its extra weight-decay probes dropped)."""
    return [c for c in rule_row["result"]["candidates"] if SUB_GRIDS["default grid"](c["params"])]


def ensemble_table(rows):
    """Mean validation accuracy and refit seconds per ensemble rule x unit group."""
    if not rows:
        return "Not run yet."
    groups = sorted({_group(r) for r in rows})
    cells = {}
    for r in rows:
        for name, res in r["result"]["rules"].items():
            cells.setdefault((name, _group(r)), []).append(res)
    lines = [f"{len(rows)} units; mean validation accuracy (%) of the soft-voted members (mean number of members; "
             "refit seconds relative to the single one-standard-error pick, summed over units).", "",
             "| ensemble | " + " | ".join(groups) + " | mean | members | refit time |",
             "|---|" + "---|" * (len(groups) + 3)]
    for name in ENSEMBLE_RULES:
        accs = [_mean([x["val_accuracy"] for x in cells.get((name, g), [])]) for g in groups]
        every = [x for g in groups for x in cells.get((name, g), [])]
        base = [x for g in groups for x in cells.get((next(iter(ENSEMBLE_RULES)), g), [])]
        lines.append(f"| {name} | " + " | ".join(f"{a:.2f}" for a in accs) + f" | {np.mean(accs):.2f} "
                     f"| {np.mean([len(x['members']) for x in every]):.1f} "
                     f"| {sum(x['refit_seconds'] for x in every) / sum(x['refit_seconds'] for x in base):.2f}x |")
    return "\n".join(lines)


#: racing margins the ``race`` study simulates (accuracy points / 100); None: every candidate on every fold
RACING_MARGINS = (None, 0.10, 0.05, 0.03, 0.02, 0.01, 0.0)


def raced_selection(cands, margin, rule):
    """The candidate ``NMTuneClassifierCV(racing=margin, selection=rule)`` selects from stored per-fold scores,
    and the share of the candidates' fold-fit seconds racing saves."""
    from sknmtune.heads import one_standard_error

    scores = np.array([c["split_scores"] for c in cands], dtype=float)
    if margin is not None:
        scores[scores[:, 0] < scores[:, 0].max() - margin, 1:] = np.nan
    results = {f"split{j}_test_score": scores[:, j] for j in range(scores.shape[1])}
    with np.errstate(invalid="ignore"):
        results.update(mean_test_score=scores.mean(axis=1), std_test_score=scores.std(axis=1))
    pick = int(np.nanargmax(results["mean_test_score"])) if rule == "best" else one_standard_error(results)
    fitted = np.isfinite(scores).sum(axis=1)
    seconds = np.array([c["mean_fit_seconds"] for c in cands])
    return pick, 1 - float((fitted * seconds).sum() / (scores.shape[1] * seconds).sum())


def race_table(rows, rule_rows):
    """Per racing margin: units whose selection changes, the selection's mean validation accuracy, the time saved."""
    if not rows:
        return "Not run yet."
    scored = [r for r in rows if (r["task"], r["backbone"], r["seed"]) in rule_rows]
    unraced = {rule: [raced_selection(r["result"]["candidates"], None, rule)[0] for r in rows]
               for rule in ("one_standard_error", "best")}
    units = sorted({(r["backbone"], r["seed"]) for r in rows})
    accuracy_note = (f"Validation accuracy (%) of the selected candidate refitted on the training split: the `rule` "
                     f"study's refit (same seed) on the {len(scored)} units it covers." if scored else
                     "No validation split here (the selection is compared, not scored).")
    lines = [f"{len(rows)} units ({', '.join(f'{b} seed {s}' for b, s in units)}). Racing drops after the first fold "
             f"every candidate more than the margin below the best first-fold score. {accuracy_note} "
             "Fold-fit time saved: over all units.", "",
             "| racing margin | selection | units with another selection | val acc (%) | Δ vs no racing (pt) "
             "| fold-fit time saved |", "|---|---|---|---|---|---|"]
    drift = 0.0
    for rule in ("one_standard_error", "best"):
        base_acc = None
        for margin in RACING_MARGINS:
            changed, accs, saved, total = 0, [], 0.0, 0.0
            for r, unraced_pick in zip(rows, unraced[rule]):
                cands = r["result"]["candidates"]
                pick, share = raced_selection(cands, margin, rule)
                changed += pick != unraced_pick
                seconds = sum(c["mean_fit_seconds"] * len(c["split_scores"]) for c in cands)
                saved, total = saved + share * seconds, total + seconds
                if (r["task"], r["backbone"], r["seed"]) in rule_rows:
                    refits = {repr(sorted(c["params"].items())): c for c in
                              _default_candidates(rule_rows[(r["task"], r["backbone"], r["seed"])])}
                    val = [refits[repr(sorted(c["params"].items()))] for c in cands]
                    drift = max(drift, *(abs(v["cv_mean"] - np.mean(c["split_scores"])) for v, c in zip(val, cands)))
                    accs.append(val[pick]["val_accuracy"])
            acc = _mean(accs)
            base_acc = acc if margin is None else base_acc
            accuracy = f"{acc:.2f} | {acc - base_acc:+.2f}" if accs else "- | -"
            lines.append(f"| {'none' if margin is None else f'{margin:g}'} | {rule} | {changed} / {len(rows)} "
                         f"| {accuracy} | {100 * saved / total:.0f} % |")
    if scored:
        lines += ["", f"The race study's cross-validated means differ from the rule study's by at most {100 * drift:.2f} "
                  "points (the MLP candidates' float rounding between runs; the probes are identical), so its refits "
                  "stand for the same candidates."]
    return "\n".join(lines)


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
            return _default_candidates(rule_rows[(job.task.name, job.backbone.name, seed)])
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
