"""The validation study of ``python -m benchmarks.accuracy``: which head configuration the held-out validation
split of the ID training data prefers (never a test set).

For each (task, backbone), a :class:`~sklearn.model_selection.GridSearchCV` with a
:class:`~sklearn.model_selection.PredefinedSplit` (train -> validation split) scores every candidate in
:data:`CANDIDATES` (the presets, a ``reg_lambda`` grid and ablations: top-k, residual, depth, epochs,
standardization): accuracy, macro-F1 and :class:`sknmtune.SpectralScorer` SVE / -LSVR of ``Z``. The
NMTune candidate with the best mean validation accuracy (text and vision weighted equally) is reported
(:func:`decide_default`). Rows and the decision go to ``<stem>_validation.json``; the study is resumable.
"""

from __future__ import annotations

import argparse
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness.io import log, read_json, write_json
from benchmarks.harness.tables import families_in, fmt, mean_of
from benchmarks.harness.tasks import JobFeatures

__all__ = ["CANDIDATES", "STANDARDIZED", "candidate_params", "decide_default", "run_study", "run_validation",
           "validation_table"]


def candidate_params(name: str, max_epochs: int) -> dict[str, Any]:
    """Full parameter dict of a validation-study candidate (a preset plus explicit changes)."""
    from sknmtune.heads import PRESETS

    base, changes = CANDIDATES[name]
    return {**PRESETS[base], "max_epochs": max_epochs, **changes}


# name -> (preset it starts from, explicit changes). Epoch count is the scale's unless changed here.
CANDIDATES: dict[str, tuple[str, dict[str, Any]]] = {
    "lp": ("lp", {}),
    "mlp": ("mlp", {}),
    "nmtune-paper": ("nmtune-paper", {}),  # lambda = 0.01, weights 1/1/1, top-1
    "paper-lambda0.1": ("nmtune-paper", {"reg_lambda": 0.1}),
    "paper-lambda1": ("nmtune-paper", {"reg_lambda": 1.0}),
    "paper-top5": ("nmtune-paper", {"svd_top_k": 5}),
    "paper-residual": ("nmtune-paper", {"residual": True}),
    "mlp-residual": ("mlp", {"residual": True}),
    "paper-depth3": ("nmtune-paper", {"mlp_depth": 3}),
    "mlp-10ep": ("mlp", {"max_epochs": 10}),
    "paper-10ep": ("nmtune-paper", {"max_epochs": 10}),
    "lp-std": ("lp", {}),
    "mlp-std": ("mlp", {}),
    "paper-std": ("nmtune-paper", {}),
    "mlp-authors": ("mlp-authors", {}),
    "nmtune-authors": ("nmtune-authors", {}),  # lambda = 1, weights 1/0.04/0.001, top-5, 4D+BN+residual
    "authors-lambda0.1": ("nmtune-authors", {"reg_lambda": 0.1}),
    "authors-lambda10": ("nmtune-authors", {"reg_lambda": 10.0}),
}

# candidates whose features are standardized first (StandardScaler in a Pipeline): a usage question,
# not an NMTuneClassifier parameter, so they inform the docs but cannot become the default
STANDARDIZED = frozenset({"lp-std", "mlp-std", "paper-std"})


def run_validation(job: JobFeatures, scale: Any, names: list[str], n_jobs: int, device: str) -> list[dict[str, Any]]:
    """GridSearchCV over the candidate configurations ``names``, scored on the held-out validation split."""
    from sklearn.metrics import f1_score, make_scorer
    from sklearn.model_selection import GridSearchCV, PredefinedSplit

    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from sknmtune import SpectralScorer
    from sknmtune.heads import make_head

    # one grid point per candidate; the pipeline's first step standardizes the features or passes them
    grid = [
        {"scale": [StandardScaler() if n in STANDARDIZED else "passthrough"],
         **{f"clf__{k}": [v] for k, v in candidate_params(n, scale.max_epochs).items()}}
        for n in names
    ]
    (Ftr, ytr), (Fva, yva) = job.splits["train"], job.splits["val"]
    X = np.concatenate([Ftr, Fva])
    y = np.concatenate([ytr, yva])
    folds = np.r_[np.full(len(ytr), -1), np.zeros(len(yva), dtype=int)]
    search = GridSearchCV(
        Pipeline([("scale", "passthrough"), ("clf", make_head("nmtune", random_state=0, device=device))]),
        grid,
        scoring={
            "accuracy": "accuracy",
            "macro_f1": make_scorer(f1_score, average="macro"),
            "sve": SpectralScorer("sve"),
            "neg_lsvr": SpectralScorer("neg_lsvr"),
        },
        cv=PredefinedSplit(folds),
        refit=False,
        n_jobs=n_jobs,
        error_score=np.nan,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        search.fit(X, y)
    res = search.cv_results_
    rows = []
    for i, (name, searched) in enumerate(zip(names, res["params"])):  # ParameterGrid keeps the list order
        params = candidate_params(name, scale.max_epochs)
        if {k.removeprefix("clf__"): v for k, v in searched.items() if k != "scale"} != params:
            raise RuntimeError(f"GridSearchCV result {i} does not match candidate {name!r}")
        rows.append({
            "task": job.task.name, "backbone": job.backbone.name, "modality": job.task.modality,
            "family": job.backbone.family, "candidate": name, "params": params, "standardized": name in STANDARDIZED,
            "val_accuracy": res["mean_test_accuracy"][i], "val_macro_f1": res["mean_test_macro_f1"][i],
            "val_sve_Z": res["mean_test_sve"][i], "val_lsvr_Z": -res["mean_test_neg_lsvr"][i],
            "fit_seconds": res["mean_fit_time"][i], "n_train": len(ytr), "n_val": len(yva), "seed": 0,
            "scale": scale.name,
        })
    return rows


def decide_default(val_rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Pick the NMTune candidate (raw features) with the best mean validation accuracy, text and vision weighted equally.

    For each candidate: the mean over (task, backbone) pairs within each modality, then the mean of
    the modality means. Only candidates scored on every pair compete. Returns the table and the choice.
    """
    by_cand: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    pairs = {(r["task"], r["backbone"]) for r in val_rows}
    params, counts = {}, defaultdict(int)
    for r in val_rows:
        acc = r["val_accuracy"]
        if acc is None:
            continue
        by_cand[r["candidate"]][r["modality"]].append(acc)
        params[r["candidate"]] = r["params"]
        counts[r["candidate"]] += 1
    table = []
    for cand, mods in by_cand.items():
        if counts[cand] != len(pairs):
            continue
        mod_means = {m: float(np.mean(v)) for m, v in mods.items()}
        table.append({
            "candidate": cand, "score": float(np.mean(list(mod_means.values()))),
            **{f"val_{m}": v for m, v in mod_means.items()},
            "is_nmtune": params[cand].get("reg_lambda", 0) > 0 and params[cand].get("mlp_depth", 0) > 0,
            "standardized": cand in STANDARDIZED,
        })
    table.sort(key=lambda row: -row["score"])
    nmtune = [row for row in table if row["is_nmtune"] and not row["standardized"]]
    if not nmtune:
        raise RuntimeError("no NMTune candidate was scored on every (task, backbone) pair")
    choice = nmtune[0]["candidate"]
    return {"rule": decide_default.__doc__.split("\n\n")[0].strip(), "choice": choice, "params": params[choice], "table": table}


def run_study(args: argparse.Namespace, scale: Any, jobs: list[JobFeatures], val_path: Path) -> None:
    """Score the pending candidates of every job (unless ``--skip-validation``), then decide; writes ``val_path``."""
    validation = read_json(val_path, {"rows": []})
    wanted = list(scale.candidates or CANDIDATES)
    validation["rows"] = [r for r in validation["rows"] if r["candidate"] in wanted]
    done_val = {(r["task"], r["backbone"], r["candidate"]) for r in validation["rows"]}
    for job in jobs:
        pending = [n for n in wanted if (job.task.name, job.backbone.name, n) not in done_val]
        if not pending or args.skip_validation:
            continue
        log(f"validation study {job.task.name}/{job.backbone.name}: {len(pending)} candidates")
        rows = run_validation(job, scale, pending, args.jobs, args.device)
        validation["rows"].extend(rows)
        mine = [r for r in validation["rows"] if (r["task"], r["backbone"]) == (job.task.name, job.backbone.name)]
        best = max(mine, key=lambda r: r["val_accuracy"] if r["val_accuracy"] is not None else -1)
        log(f"  best on validation: {best['candidate']} ({best['val_accuracy']:.3f}); "
            + ", ".join(f"{r['candidate']} {r['val_accuracy']:.3f}" for r in rows if r["val_accuracy"] is not None))
        write_json(val_path, validation)

    # ---- phase 3: decision (a report: which NMTune candidate validation prefers; the benchmark's
    # nmtune-default is NMTuneClassifier() itself)
    active = {(j.task.name, j.backbone.name) for j in jobs}
    try:
        decision = decide_default([r for r in validation["rows"] if (r["task"], r["backbone"]) in active])
    except RuntimeError as exc:  # --skip-validation with pairs not yet scored
        log(f"no validation decision: {exc}")
        validation.pop("decision", None)
    else:
        validation["decision"] = decision
        log(f"validation's best NMTune candidate: {decision['choice']} {decision['params']}")
    write_json(val_path, validation)


def validation_table(decision: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """Candidates ranked by the decision score, with the mean validation accuracy per backbone family."""
    fams = [f for f in families_in(rows) if f != "all"]
    per: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in rows:
        if r["val_accuracy"] is not None:
            per[(r["candidate"], r["family"])].append(r["val_accuracy"])
    head = "| rank | candidate | what it changes | NMTune? | " + " | ".join(fams) + " | score (text/vision mean) |"
    lines = [head, "|---|---|---|---|" + "---|" * len(fams) + "---|"]
    for i, row in enumerate(decision["table"], 1):
        cand = row["candidate"]
        name = f"**{cand}**" if cand == decision["choice"] else cand
        cells = " | ".join(fmt(mean_of(per.get((cand, f), []))) for f in fams)
        lines.append(f"| {i} | {name} | {_describe_candidate(cand)} | {'yes' if row['is_nmtune'] else 'no'} | {cells} "
                     f"| {fmt(row['score'])} |")
    return "\n".join(lines)


def _describe_candidate(name: str) -> str:
    base, changes = CANDIDATES[name]
    text = f"preset `{base}`" + ("".join(f", {k}={v}" for k, v in changes.items()))
    return text + (", StandardScaler first" if name in STANDARDIZED else "")
