"""The tables of ``python -m benchmarks.cv_grid_study`` (``NMTuneClassifierCV``'s grid and selection rule, on
validation splits only), and the study constants they read: shared by the script and ``benchmarks/render_docs.py``.

Each table takes the stored rows of one study (``cv_grid_study.json``: ``budget``, ``rule``, ``ensemble``, ``race``)
and returns markdown.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BUDGETS", "ENSEMBLE_RULES", "RACING_MARGINS", "SUB_GRIDS", "budget_table", "default_candidates",
           "ensemble_table", "race_table", "raced_selection", "rule_table"]

#: the MLP candidates' budgets of the ``budget`` study: (n_iter_no_change, max_hidden_width)
BUDGETS = [(10, 1024), (5, 1024), (10, 512), (5, 512)]


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


def default_candidates(rule_row):
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
                              default_candidates(rule_rows[(r["task"], r["backbone"], r["seed"])])}
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
