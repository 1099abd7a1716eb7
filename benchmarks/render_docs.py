"""Benchmark numbers in README.md and docs/, rendered from the stored results files (never typed by hand).

A document holds a rendered block as::

    <!-- rendered:NAME:start -->
    ...whatever RENDERERS[NAME] makes of benchmarks/results...
    <!-- rendered:NAME:end -->

``python -m benchmarks.render_docs`` rewrites every block of README.md and docs/**/*.md from the results;
``--check`` only compares and exits 1 on drift (``tests/test_docs_rendered.py`` runs the same check).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.harness.io import RESULTS_DIR, ROOT, read_json

__all__ = ["RENDERERS", "documents", "render_text", "main"]

_BLOCK = re.compile(r"(<!-- rendered:(?P<name>[a-z0-9-]+):start -->\n)(?P<body>.*?)(<!-- rendered:(?P=name):end -->)",
                    re.DOTALL)


def _pts(x: float) -> str:
    return f"{100 * x:+.2f}"


def which_head(results: Path) -> str:
    """The decision of ``head_choice.json`` (validation only): against the probe and the default, pooled and with
    each PACS domain left out."""
    data = read_json(results / "head_choice.json", {})
    decisions = data.get("decisions", {})
    if not decisions:
        return "(no decision stored yet: run `python -m benchmarks.head_choice`)\n"
    evidence = ", ".join(f"{name} ({e['clusters']} clusters)" for name, e in data["evidence"].items())
    lines = [f"Decided by `sknmtune.evaluation.recommend_head` on validation records only: {evidence}.", ""]
    for summary in decisions.values():
        pooled = summary["pooled"]
        lines.append(f"- Against `{pooled['reference']}`: {pooled['statement']} With each PACS domain left out, the "
                     f"decision changes for {summary['n_changed']} of {len(summary['per_target'])} domains"
                     + (f" ({', '.join(summary['changed'])})." if summary["changed"] else "."))
    lines += ["", "Full table: [`benchmarks/results/head_choice.md`](benchmarks/results/head_choice.md)."]
    return "\n".join(lines) + "\n"


def claims(results: Path) -> str:
    """The paper's claims on PACS at DomainBed scale (``pacs_domainbed_claims.json``): main claim and chain per
    backbone, protocol and variant, with every comparison's interval and cluster count."""
    rows = read_json(results / "pacs_domainbed_claims.json", [])
    if not rows:
        return "(no PACS claims stored yet: run `python -m benchmarks.pacs_domainbed`)\n"
    seeds = read_json(results / "pacs_domainbed.json", [])
    n_seeds = len({r["seed"] for r in seeds})
    keep = [r for r in rows if r["claim"] in ("NMTune > max(LP, MLP)", "NMTune > MLP > LP")]
    lines = [f"PACS, all 9,991 images, DomainBed protocols, {n_seeds} trial seeds; OOD accuracy differences in points "
             "with 95 % intervals over target domains (multi-source: 4) or (source, target) pairs (single-source: 6); "
             "below 6 clusters the verdict is the exact sign-flip test's.", "",
             "| backbone / protocol | variant | claim | verdict | comparisons |", "|---|---|---|---|---|"]
    for r in keep:
        comps = "; ".join(f"{c['a']} − {c['b']} {_pts(c['mean'])} [{_pts(c['low'])}, {_pts(c['high'])}]"
                          for c in r["comparisons"])
        lines.append(f"| {r['backbone']} / {r['protocol']} | {r['variant']} | {r['claim']} | {r['verdict']} | {comps} |")
    lines += ["", "Full report: [`benchmarks/results/pacs_domainbed.md`](benchmarks/results/pacs_domainbed.md)."]
    return "\n".join(lines) + "\n"


# =========================================================================== helpers shared by the renderers

#: how the documents name the stored backbones and protocols
_BACKBONES = {"tf_efficientnet_lite0": "EfficientNet-Lite0", "mobilenetv2_100": "MobileNetV2"}
_PROTOCOLS = {"lodo": "multi-source", "single": "single-source"}


def _diff(d: Any) -> str:
    """``+1.23 [+0.40, +2.01]`` (points), as the reports print a paired difference (``fmt_diff``)."""
    from benchmarks.harness.report import fmt_diff

    return fmt_diff(d)


def _only_rows(table: str, drop: Callable[[str], bool]) -> str:
    """``table`` (markdown lines) without the table rows ``drop`` selects (header and prose lines are kept)."""
    return "\n".join(line for line in table.split("\n")
                     if not (line.startswith("| ") and not line.startswith("|---") and drop(line)))


def _missing(name: str, command: str) -> str:
    return f"(no `{name}` stored yet: run `{command}`)\n"


# =========================================================================== PACS, domain_shift.json


#: a domain-shift record's unit: ``paired_difference``'s default fields, in its (sorted) order, without a stored
#: vote's extra ``members`` field; the clusters are the same without the seed
_DS_UNITS = ("backbone", "domain", "protocol", "seed", "selection", "sources", "unit")


def _domain_shift(results: Path) -> list[dict[str, Any]]:
    return read_json(results / "domain_shift.json", [])


def _cells(records: list[dict[str, Any]]) -> list[tuple[str, str, str, list[dict[str, Any]]]]:
    """``(label, backbone, protocol, records)`` per (backbone, protocol) of the training-domain selection fits,
    e.g. ``"EfficientNet-Lite0, multi-source"``."""
    main = [r for r in records if r["selection"] == "train-domain"]
    cells = []
    for backbone in sorted({r["backbone"] for r in main}):
        for protocol in ("lodo", "single"):
            rows = [r for r in main if r["backbone"] == backbone and r["protocol"] == protocol]
            if rows:
                label = f"{_BACKBONES.get(backbone, backbone)}, {_PROTOCOLS[protocol]}"
                cells.append((label, backbone, protocol, rows))
    return cells


def _clusters_note(full: bool = True) -> str:
    from sknmtune.evaluation import MIN_CLUSTERS

    if not full:
        return ("95 % bootstrap intervals over independent clusters (target domains multi-source, (source, target) "
                f"pairs single-source; verdicts below {MIN_CLUSTERS} clusters from the exact sign-flip test).")
    return (f"95 % bootstrap intervals over independent clusters (`sknmtune.evaluation.paired_difference`): target "
            f"domains multi-source, (source, target) pairs single-source; the seeds share a split, so they are not "
            f"clusters. Below {MIN_CLUSTERS} clusters a verdict comes from the exact sign-flip test, which with 4 "
            "clusters can never reach 95 %.")


def domain_shift_claims(results: Path) -> str:
    """The paper's claims on PACS (``domain_shift.json``, OOD): each pairwise difference, and the main claim and the
    chain with the verdicts :func:`sknmtune.evaluation.paper_claims` derives from them."""
    from sknmtune.evaluation import paper_claims

    from benchmarks.harness.report import CLAIM_VARIANTS

    records = _domain_shift(results)
    if not records:
        return _missing("domain_shift.json", "python -m benchmarks.domain_shift")
    lines = [f"OOD accuracy, differences in points; {_clusters_note()}", "",
             "| backbone, protocol | variant | NMTune − MLP | MLP − LP | NMTune − LP | clusters "
             "| NMTune > max(LP, MLP) | NMTune > MLP > LP |", "|---|---|---|---|---|---|---|---|"]
    for cell, _, _, rows in _cells(records):
        for variant, (nm, mlp, lp) in CLAIM_VARIANTS.items():
            main, chain, nm_mlp, nm_lp = paper_claims(rows, nmtune=nm, mlp=mlp, lp=lp, role="ood", units=_DS_UNITS)
            if nm_mlp.differences[0].n_units == 0:
                continue
            mlp_lp = chain.differences[1]
            lines.append(f"| {cell} | {variant} | {_diff(nm_mlp.differences[0])} | {_diff(mlp_lp)} "
                         f"| {_diff(nm_lp.differences[0])} | {nm_lp.differences[0].n_clusters} "
                         f"| {main.verdict} | {chain.verdict} |")
    return "\n".join(lines) + "\n"


#: (label, a, b) of the views table: the same head on augmented views minus on center crops
_VIEWS = (("NMTune (authors' config)", "nmtune-authors-views", "nmtune-authors"),
          ("MLP tuning (authors' MLP)", "mlp-authors-views", "mlp-authors"),
          ("`NMTuneClassifier()`", "nmtune-default-views", "nmtune-default"))


def domain_shift_views(results: Path) -> str:
    """What the authors' augmented views change on PACS: views − center crops, same head, OOD and on the sources'
    validation split."""
    from sknmtune.evaluation import paired_difference

    records = _domain_shift(results)
    if not records:
        return _missing("domain_shift.json", "python -m benchmarks.domain_shift")
    lines = [f"Views − center crops, same head, accuracy points; {_clusters_note(full=False)}", "",
             "| backbone, protocol | head | training-domain validation | OOD (reported) | clusters |",
             "|---|---|---|---|---|"]
    for cell, _, _, rows in _cells(records):
        for name, a, b in _VIEWS:
            val, ood = (paired_difference(rows, a, b, role=role, units=_DS_UNITS) for role in ("val", "ood"))
            if ood.n_units:
                lines.append(f"| {cell} | {name} | {_diff(val)} | {_diff(ood)} | {ood.n_clusters} |")
    return "\n".join(lines) + "\n"


def _validation_rows(records: list[dict[str, Any]], comparisons: tuple[tuple[str, str], ...],
                     first: str) -> list[str]:
    """Rows per cell and split (training-domain validation, leave-one-source-out, OOD) of ``a − b`` columns."""
    from sknmtune.evaluation import paired_difference

    lines = []
    for cell, backbone, protocol, rows in _cells(records):
        splits = [("training-domain validation", rows, "val")]
        if protocol == "lodo":  # the leave-one-source-out fits, each scored on its held-out source (never the target)
            held_out = [r for r in records if r["backbone"] == backbone and r["selection"].startswith("lodo:")]
            splits.append(("leave-one-source-out validation", held_out, "ood"))
        splits.append(("OOD (reported)", rows, "ood"))
        for split, recs, role in splits:
            diffs = [paired_difference(recs, a, b, role=role, units=_DS_UNITS) for a, b in comparisons]
            if not any(d.n_units for d in diffs):
                continue
            n = max(d.n_clusters for d in diffs)
            lines.append(f"| {cell} | {split} ({n} clusters) | " + " | ".join(_diff(d) for d in diffs) + " |")
    return [f"{first}", "|---|---|" + "---|" * len(comparisons)] + lines


def domain_shift_cv_options(results: Path) -> str:
    """``NMTuneClassifierCV()`` against its two robust variants on PACS, on validation and (reported) OOD."""
    records = _domain_shift(results)
    if not records:
        return _missing("domain_shift.json", "python -m benchmarks.domain_shift")
    comparisons = (("recommended-families", "recommended"), ("recommended-groups", "recommended"))
    lines = [f"Accuracy points; {_clusters_note(full=False)}", ""] + _validation_rows(
        records, comparisons, "| backbone, protocol | split | `ensemble=\"families\"` − default "
                              "| `cv=LeaveOneGroupOut()` − default |")
    return "\n".join(lines) + "\n"


def domain_shift_vote(results: Path) -> str:
    """``make_voting_head()``'s four members (scored from their stored probabilities) against each single head on
    PACS, on validation and (reported) OOD."""
    records = _domain_shift(results)
    if not records:
        return _missing("domain_shift.json", "python -m benchmarks.domain_shift")
    comparisons = tuple(("vote-4", b) for b in ("recommended", "lp", "mlp", "logreg"))
    lines = [f"Accuracy points, the vote minus each head; {_clusters_note(full=False)}", ""] + _validation_rows(
        records, comparisons, "| backbone, protocol | split | vote − `NMTuneClassifierCV()` | vote − LP "
                              "| vote − MLP tuning | vote − `LogisticRegressionCV` |")
    return "\n".join(lines) + "\n"


def domain_shift_selection(results: Path) -> str:
    """The report's table of heads chosen without the target (training-domain vs leave-one-source-out)."""
    from benchmarks.domain_shift import METHODS
    from benchmarks.harness.ensembles import ENSEMBLES
    from benchmarks.harness.report import _selection_lines

    records = _domain_shift(results)
    if not records:
        return _missing("domain_shift.json", "python -m benchmarks.domain_shift")
    methods = [m for m in (*METHODS, *ENSEMBLES) if any(r["method"] == m for r in records)]  # as the report
    return "\n".join(_selection_lines(records, methods)) + "\n"


# =========================================================================== accuracy benchmarks


def _imagenet(results: Path) -> list[dict[str, Any]]:
    from benchmarks.accuracy_imagenet import separate_corruptions

    return separate_corruptions(read_json(results / "accuracy_imagenet.json", []))


def imagenet_claims(results: Path) -> str:
    """The ImageNet-backbone benchmark's headline table (``accuracy_imagenet.md``): NMTune > MLP > LP, per family."""
    from benchmarks.harness.tables import headline_table

    records = _imagenet(results)
    if not records:
        return _missing("accuracy_imagenet.json", "python -m benchmarks.accuracy_imagenet")
    return ("Mean accuracy differences in points over matched (task, backbone, seed) units, (wins / paired test "
            "domain × seed comparisons); OOD is PACS's natural shift only:\n\n" + headline_table(records) + "\n")


def imagenet_targets(results: Path) -> str:
    """``NMTuneClassifierCV()`` and ``make_voting_head()`` against the best of LP, MLP tuning and
    ``LogisticRegressionCV`` (the report's target tables)."""
    from benchmarks.harness.tables import target_table

    records = _imagenet(results)
    if not records:
        return _missing("accuracy_imagenet.json", "python -m benchmarks.accuracy_imagenet")
    parts = ["`NMTuneClassifierCV()` (`recommended`):", "", target_table(records, probe="logreg_cv")]
    if any(r["method"] == "voting" for r in records):
        parts += ["", "`make_voting_head()` (`voting`):", "", target_table(records, probe="logreg_cv", head="voting")]
    return "\n".join(parts) + "\n"


#: the pairs of the ImageNet report's paired table the guides discuss
_IMAGENET_PAIRS = (("recommended", "recommended-lambda0"), ("voting", "recommended"), ("nmtune-default", "lp"))


def imagenet_pairs(results: Path) -> str:
    """A few rows of the ImageNet report's paired table (mean difference, wins per test domain × seed)."""
    from benchmarks.accuracy_imagenet import METHODS
    from benchmarks.harness.tables import paired_table

    records = _imagenet(results)
    if not records:
        return _missing("accuracy_imagenet.json", "python -m benchmarks.accuracy_imagenet")
    return paired_table(records, _IMAGENET_PAIRS, METHODS) + "\n"


def imagenet_validation(results: Path) -> str:
    """Mean validation accuracy per method on the ImageNet tasks, and what a validation-only choice deploys."""
    from benchmarks.accuracy_imagenet import validation_table

    validation = read_json(results / "accuracy_imagenet_validation.json", {})
    if not validation:
        return _missing("accuracy_imagenet_validation.json", "python -m benchmarks.accuracy_imagenet")
    return validation_table(validation, _imagenet(results)) + "\n"


def _accuracy(results: Path) -> list[dict[str, Any]]:
    return read_json(results / "accuracy.json", [])


def accuracy_summary(results: Path) -> str:
    """The first benchmark's summary table (text and small vision backbones, ``accuracy.md``)."""
    from benchmarks.accuracy import METHODS
    from benchmarks.harness.tables import summary_table

    records = _accuracy(results)
    if not records:
        return _missing("accuracy.json", "python -m benchmarks.accuracy")
    return "Accuracy and macro-F1 in %, mean ± std over seeds:\n\n" + summary_table(records, METHODS) + "\n"


def accuracy_claims(results: Path) -> str:
    """The paper's headline on the first benchmark, per family, with the ImageNet report's headline table."""
    from benchmarks.harness.tables import headline_table

    records = _accuracy(results)
    if not records:
        return _missing("accuracy.json", "python -m benchmarks.accuracy")
    return ("Mean accuracy differences in points over matched (task, backbone, seed) units, (wins / paired test "
            "domain × seed comparisons):\n\n" + headline_table(records) + "\n")


def accuracy_validation(results: Path) -> str:
    """The first benchmark's validation study (``accuracy_validation.json``): candidates ranked by the rule."""
    from benchmarks.harness.validation_study import validation_table

    validation = read_json(results / "accuracy_validation.json", {})
    if not validation.get("decision"):
        return _missing("accuracy_validation.json", "python -m benchmarks.accuracy")
    decision = validation["decision"]
    return (f"Rule: {decision['rule']} Chosen: `{decision['choice']}`. Mean validation accuracy (%):\n\n"
            + validation_table(decision, validation.get("rows", [])) + "\n")


class _Report:
    """Stands in for the ``path`` a benchmark's ``render(records, path)`` writes its report to, and keeps the text,
    so a document shows the report's own tables."""

    name = "report.md"

    def __init__(self, render: Callable[..., Any], records: list[dict[str, Any]]) -> None:
        self.text = ""
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            render(records, self)  # its "wrote <path>" log line is about a file it did not write

    def write_text(self, text: str, *args: Any, **kwargs: Any) -> None:
        self.text = text

    def section(self, heading: str) -> str:
        """The lines under ``heading`` (a ``## `` title of the report) up to the next title."""
        lines = self.text.split("\n")
        start = lines.index(heading) + 1
        end = next((i for i in range(start, len(lines)) if lines[i].startswith("#")), len(lines))
        return "\n".join(lines[start:end]).strip("\n")


def ablation(results: Path) -> str:
    """The ablation table (``ablation.md``, validation splits), by the ablation script's own renderer."""
    from benchmarks.ablation import render

    records = read_json(results / "ablation.json", {}).get("records", [])
    if not records:
        return _missing("ablation.json", "python -m benchmarks.ablation")
    text = _Report(render, records).text
    return "\n".join(line for line in text.split("\n") if line.startswith("|")) + "\n"


def label_noise(results: Path) -> str:
    """Noisy downstream labels (``label_noise.md``): LP, MLP tuning and NMTune per noise rate, ID and OOD, by the
    study's own renderer."""
    from benchmarks.label_noise import render

    records = read_json(results / "label_noise.json", [])
    if not records:
        return _missing("label_noise.json", "python -m benchmarks.label_noise")
    report = _Report(render, records)
    return "\n\n".join(f"{title}:\n\n{report.section('## ' + role)}"
                       for title, role in (("In domain (accuracy %)", "ID"), ("Out of domain (accuracy %)", "OOD"))) + "\n"


def accuracy_runtime(results: Path) -> str:
    """The first benchmark's recorded runtime (``accuracy_meta.json``), as its report prints it."""
    from benchmarks.accuracy import _runtime_text

    meta = read_json(results / "accuracy_meta.json", {})
    if not meta.get("runtime"):
        return _missing("accuracy_meta.json", "python -m benchmarks.accuracy")
    return f"Recorded runtime: {_runtime_text(meta)}; machine: {meta.get('machine', 'not recorded')}.\n"


def imagenet_runtime(results: Path) -> str:
    """The ImageNet benchmark's recorded runtime (``accuracy_imagenet_meta.json``) and its cold-cache run
    (``accuracy_imagenet_cold_run.json``)."""
    from benchmarks.accuracy_imagenet import _runtime_text

    meta = read_json(results / "accuracy_imagenet_meta.json", {})
    if not meta.get("runtime"):
        return _missing("accuracy_imagenet_meta.json", "python -m benchmarks.accuracy_imagenet")
    lines = [f"- Recorded runtime of the published records: {_runtime_text(meta)}; machine: {meta.get('machine')}."]
    cold = read_json(results / "accuracy_imagenet_cold_run.json", {})
    if cold:
        rep, quick = cold.get("reproducibility", {}), cold.get("quick_after_the_fix", {})
        lines.append(
            f"- Cold cache (`{cold['command']}`, commit {cold['commit']}): {cold['wall_clock_s'] / 60:.1f} min of wall "
            f"time for {cold['units']} fits ({len(cold['methods'])} heads × {len(cold['seeds'])} seeds) against a "
            f"target of {cold['target_s'] / 60:.0f} min ({'met' if cold['target_met'] else 'not met'}): features "
            f"{cold['features_s'] / 60:.1f} min (extraction of {cold['unique_images_extracted']:,} images "
            f"{cold['extraction_s'] / 60:.1f} min), fits {cold['fits_s'] / 60:.1f} min, peak memory "
            f"{cold['max_rss_kb'] / 1024 ** 2:.1f} GiB; {cold['machine']}.")
        if rep:
            lines.append(f"- Reproducibility: {rep['identical_records']} of the {rep['records_outside_impulse_noise']} "
                         f"records outside the impulse-noise domains equal the published ones bit for bit "
                         f"({', '.join(rep['fields_compared'])}); the {rep['impulse_noise_records']} impulse-noise "
                         f"records did not: {rep['finding']}.")
        if quick:
            lines.append(f"- Afterwards, `--quick` from an empty cache: {quick['wall_clock_s'] / 60:.1f} min of wall "
                         f"time (target {quick['target_s'] / 60:.0f} min), {quick['identical_to_published']} of its "
                         f"{quick['records']} records identical to the published ones ({quick['note']}).")
    return "\n".join(lines) + "\n"


# =========================================================================== NMTuneClassifierCV's choices


_CV_STUDY = "python -m benchmarks.cv_grid_study"


def _cv_rows(results: Path, study: str) -> list[dict[str, Any]]:
    return [r for r in read_json(results / "cv_grid_study.json", {"rows": []})["rows"] if r["study"] == study]


def cv_budget(results: Path) -> str:
    """The MLP candidates' budget study (``cv_grid_study.md``)."""
    from benchmarks.cv_grid_study import budget_table

    rows = _cv_rows(results, "budget")
    return budget_table(rows) + "\n" if rows else _missing("cv_grid_study.json", f"{_CV_STUDY} budget")


def cv_rule(results: Path) -> str:
    """The selection rule and sub-grid study (``cv_grid_study.md``)."""
    from benchmarks.cv_grid_study import rule_table

    rows = _cv_rows(results, "rule")
    return rule_table(rows) + "\n" if rows else _missing("cv_grid_study.json", f"{_CV_STUDY} rule")


def cv_ensemble(results: Path) -> str:
    """Soft votes of the default grid's candidates against the single refitted pick (``cv_grid_study.md``)."""
    from benchmarks.cv_grid_study import ensemble_table

    rows = _cv_rows(results, "ensemble")
    return ensemble_table(rows) + "\n" if rows else _missing("cv_grid_study.json", f"{_CV_STUDY} ensemble")


def cv_race(results: Path) -> str:
    """Racing margins simulated on stored per-fold scores, for the default selection rule (``cv_grid_study.md``)."""
    from benchmarks.cv_grid_study import race_table

    race = _cv_rows(results, "race")
    if not race:
        return _missing("cv_grid_study.json", f"{_CV_STUDY} race")
    rule_rows = {(r["task"], r["backbone"], r["seed"]): r for r in _cv_rows(results, "rule")}
    parts = []
    for title, rows in (("The accuracy benchmarks' training sets", [r for r in race if ":" not in r["task"]]),
                        ("The PACS domain-shift benchmark's training sets", [r for r in race if ":" in r["task"]])):
        if rows:
            table = _only_rows(race_table(rows, rule_rows), lambda line: line.split(" | ")[1] == "best")
            parts += [f"{title}:", "", table, ""]
    return "\n".join(parts).rstrip("\n") + "\n"


# =========================================================================== fit time and step cost


def fit_time(results: Path) -> str:
    """Side-by-side fit times on one thread (``fit_time.json``): medians and ratios to ``LogisticRegressionCV``."""
    data = read_json(results / "fit_time.json", {})
    if not data.get("rows"):
        return _missing("fit_time.json", "python -m benchmarks.fit_time")
    heads = (("recommended", "`NMTuneClassifierCV()`"), ("recommended-no-racing", "`NMTuneClassifierCV(racing=None)`"),
             ("voting", "`make_voting_head()`"))
    lines = [f"Seconds per fit on {data.get('threads', 1)} thread, median of interleaved repeats, and the ratio to "
             "`LogisticRegressionCV` measured beside it (`benchmarks/results/fit_time.json`):", "",
             "| task (backbone, training rows) | measured | `LogisticRegressionCV` | "
             + " | ".join(label for _, label in heads) + " |", "|---|---|---|" + "---|" * len(heads)]
    for row in data["rows"]:
        med, base = row["median_s"], row["median_s"]["logreg_cv"]
        cells = [f"{med[h]:.2f} s ({med[h] / base:.1f}×)" if h in med else "–" for h, _ in heads]
        lines.append(f"| {row['task']} ({_BACKBONES.get(row['backbone'], row['backbone'])}, {row['n_train']}) "
                     f"| {row['finished'][:10]} | {base:.2f} s | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def fit_time_batching(results: Path) -> str:
    """Training the candidates as one ``vmap``-batched network vs one by one (``fit_time_batching.json``)."""
    data = read_json(results / "fit_time_batching.json", {})
    if not data.get("rows"):
        return _missing("fit_time_batching.json", "python -m benchmarks.fit_time --batching-bound")
    lines = ["| models × rows (features → width) | one by one, bare torch loop | `vmap`-batched "
             "| the package's loop | batched / one by one |", "|---|---|---|---|---|"]
    for row in data["rows"]:
        ms = {k: 1000 * v for k, v in row["seconds_per_model_step"].items()}
        lines.append(f"| {row['n_models']} × {row['n_rows']} ({row['n_features']} → {row['hidden_width']}) "
                     f"| {ms['sequential']:.1f} ms | {ms['batched']:.1f} ms | {ms['skorch']:.1f} ms "
                     f"| {row['batched_over_sequential']:.2f}× |")
    return (f"Milliseconds per model and training step, batch {data['rows'][0]['batch_size']}, "
            f"{data.get('threads', 1)} CPU thread:\n\n" + "\n".join(lines) + "\n")


def step_cost(results: Path) -> str:
    """NMTune's training step against the MLP's on the CPU (``core.json``: ``step_cost``, ``step_cost_floor``,
    ``regularizer_cost``)."""
    data = read_json(results / "core.json", {})
    if not data.get("step_cost"):
        return _missing("core.json", "python -m benchmarks.bench_core")
    floor = {(r["arch"], r["D"], r["batch"]): r for r in data.get("step_cost_floor", [])}
    lines = ["NMTune step / MLP step of the same architecture (CPU, one thread; paired medians of interleaved "
             "blocks), and the lowest ratio an exact spectrum allows (the eigen-decomposition alone added to the "
             "MLP's step):", "", "| architecture | D | batch | NMTune ms | MLP ms | ratio | lowest exact ratio |",
             "|---|---|---|---|---|---|---|"]
    for r in sorted(data["step_cost"], key=lambda r: (r["arch"], r["D"], r["batch"])):
        low = floor.get((r["arch"], r["D"], r["batch"]), {}).get("lowest_exact_ratio")
        lines.append(f"| {r['arch']} | {r['D']} | {r['batch']} | {r['nmtune_ms']:.1f} | {r['mlp_ms']:.1f} "
                     f"| {r['ratio']:.2f} | {'–' if low is None else f'{low:.2f}'} |")
    if data.get("regularizer_cost"):
        lines += ["", "The regularizers alone (ms, best of interleaved repeats): the fused path, `svdvals` with "
                  "autograd, and the eigen-decomposition it cannot avoid:", "",
                  "| D | batch | fused (`gram`) | `exact` | eigen-decomposition |", "|---|---|---|---|---|"]
        for r in data["regularizer_cost"]:
            lines.append(f"| {r['D']} | {r['batch']} | {r['ms']['gram']:.2f} | {r['ms']['exact']:.2f} "
                         f"| {r['ms']['eigh_floor']:.2f} |")
    return "\n".join(lines) + "\n"


def extraction_compile(results: Path) -> str:
    """``compile=True`` against eager extraction on the CPU (``extraction_compile.json``)."""
    data = read_json(results / "extraction_compile.json", {})
    models = {k: v for k, v in data.items() if k != "meta" and "compile_first_call_s" in v}
    if not models:
        return _missing("extraction_compile.json", "python -m benchmarks.bench_extraction --compile")
    meta = data.get("meta", {})
    lines = [f"{meta.get('cpu_count', '?')} CPU cores, {meta.get('torch_threads', '?')} torch threads, torch "
             f"{meta.get('torch', '?')}; random-init weights, channels_last on both sides:", "",
             "| model | image size, batch | compilation (empty inductor cache) | eager | compiled | speed-up "
             "| largest feature difference | pays off from |", "|---|---|---|---|---|---|---|---|"]
    for name, m in models.items():
        lines.append(f"| {name} | {m['image_size']} px, {m['batch_size']} | {m['compile_first_call_s']:.0f} s "
                     f"| {m['bare_samples_per_s_best']:.0f} images/s | {m['transformer_samples_per_s_best']:.0f} images/s "
                     f"| {m['ratio_best']:.2f}× | {m['max_abs_diff']:.0e} | {m['break_even_images']:,.0f} images |")
    return "\n".join(lines) + "\n"


def distributed(results: Path) -> str:
    """Distributed extraction against in-process (``distributed.json``, ``benchmarks/bench_distributed.py``)."""
    data = read_json(results / "distributed.json", {})
    if not data.get("runs"):
        return _missing("distributed.json", "python -m benchmarks.bench_distributed --ray")
    lines = ["| configuration | seconds | images/s | load before → after | peak RSS per worker |",
             "|---|---:|---:|---|---:|"]
    for r in data["runs"]:
        rss = " / ".join(f"{mb / 1000:.2f} GB" for mb in r.get("worker_peak_rss_mb", {}).values())
        lines.append(f"| {r['name']} | {r['seconds']:.1f} | {r['images_per_s']:.1f} "
                     f"| {r['load_before']:.2f} → {r['load_after']:.2f} | {rss} |")
    c = data.get("comparison", {})
    if c:
        identical = c.get("features_bit_identical_vs_inprocess_1_thread", {})
        lines += ["", f"- 2 Dask workers are {c['dask_speedup_2x1_over_1x1']:.2f}× as fast as 1 (parallel efficiency "
                  f"{c['dask_parallel_efficiency']:.2f}) and take {c['dask_2x1_time_over_inprocess_2_threads']:.2f}× the "
                  f"time of in-process extraction with 2 torch threads (Ray: "
                  f"{c['ray_2x1_time_over_inprocess_2_threads']:.2f}×).",
                  f"- Features bit-identical to in-process with 1 thread: "
                  f"{sum(identical.values())} of {len(identical)} other configurations."]
    for o in data.get("per_chunk_overhead", []):
        lines.append(f"- {o['engine'].capitalize()}'s cost per chunk ({o['chunks']} tasks of {o['samples_per_chunk']} "
                     f"samples with a no-op backbone, minus the same calls in-process): {o['ms_per_chunk_wall']:.1f} ms.")
    return "\n".join(lines) + "\n"


def ranking(results: Path) -> str:
    """Transferability scores against trained heads' accuracy (``ranking.json``): the report's summaries over tasks,
    all six backbones and within the CIFAR family, and the ImageNet pair."""
    from benchmarks.harness.ranking_report import GROUPS, _summary_table

    data = read_json(results / "ranking.json", {})
    if not data.get("correlations"):
        return _missing("ranking.json", "python -m benchmarks.ranking")
    parts = []
    for study, groups in GROUPS.items():
        for group, label in groups.items():
            sel = [c for c in data["correlations"] if c["study"] == study and c["group"] == group]
            if sel:
                tasks = sorted({c["task"] for c in sel})
                parts += [f"Mean Kendall τ over {len(tasks)} tasks ({', '.join(tasks)}), {label}, and how often the "
                          "score's top backbone was the most accurate one:", "", *_summary_table(sel), ""]
    return "\n".join(parts).rstrip("\n") + "\n"


def regression_sick(results: Path) -> str:
    """SICK relatedness from frozen MiniLM pair features (``regression.json``), the report's two tables."""
    from benchmarks.regression import paired_table, summary_table

    data = read_json(results / "regression.json", {})
    if not data.get("records"):
        return _missing("regression.json", "python -m benchmarks.regression")
    return (summary_table(data["records"]) + "\n\nSame-seed differences (the MLP heads share their initialization "
            "and batch order for one seed):\n\n" + paired_table(data["records"]) + "\n")


#: ``regression_defaults.json``'s sets and methods, as the regression guide names them
_REGRESSION_SETS = {"arcsinh": "arcsinh", "friedman1": "Friedman #1", "diabetes": "diabetes", "linnerud": "linnerud",
                    "sick": "SICK trial"}
_REGRESSION_METHODS = {"ridge": "`StandardScaler + RidgeCV`", "mlp_sklearn": "`MLPRegressor()`",
                       "previous": "`NMTuneRegressor()` before (random readout)",
                       "defaults": "`NMTuneRegressor()` (ridge start, `lr=1e-3`)", "lr3e-3": "ridge start, `lr=3e-3`",
                       "lr1e-2": "ridge start, `lr=1e-2`", "standardize": "ridge start, `standardize=True`"}


def regression_defaults(results: Path) -> str:
    """The regressor's validation study (``regression_defaults.json``): mean validation R² per set and candidate."""
    records = read_json(results / "regression_defaults.json", {}).get("records", [])
    if not records:
        return _missing("regression_defaults.json", "python -m benchmarks.regression_defaults")
    cells: dict[tuple[str, str], list[float]] = {}
    for r in records:
        cells.setdefault((r["method"], r["set"]), []).append(r["val_r2"])
    sets = [k for k in _REGRESSION_SETS if any(k == st for _, st in cells)]
    lines = ["| method | " + " | ".join(_REGRESSION_SETS[k] for k in sets) + " |", "|---|" + "---|" * len(sets)]
    for method, label in _REGRESSION_METHODS.items():
        if any(m == method for m, _ in cells):
            row = [f"{sum(v) / len(v):.4f} ({len(v)})" if (v := cells.get((method, k))) else "—" for k in sets]
            lines.append(f"| {label} | " + " | ".join(row) + " |")
    return "Mean validation R² (number of seeds in brackets):\n\n" + "\n".join(lines) + "\n"


def _noisy_pretraining(folder: Path) -> str:
    """The noisy pre-training study of one results folder (``results.json``, written with ``claims.md`` by
    ``benchmarks/noisy_pretraining.py``; ``pretraining.json``, ``timing.json``): per noise ratio the backbone's clean
    accuracy, the corrupted labels it fitted, LP in and out of domain and the features' spectra; then every claim's
    verdict."""
    data = read_json(folder / "results.json", {})
    summary = data.get("summary", {})
    if not summary:
        return _missing(f"{folder.name}/results.json", "python -m benchmarks.noisy_pretraining")
    gammas = list(summary["table3"])
    lp = summary["lp_all_fractions"]

    def spread(cell: list[float]) -> str:
        mean, std, n = cell
        return f"{100 * mean:.2f}" + (f" (± {100 * std:.2f}, {n} seeds)" if n > 1 else "")

    rows = [("clean CIFAR-10 test accuracy (%, Table 3 analogue)", [f"{100 * summary['table3'][g]:.2f}" for g in gammas]),
            ("corrupted training labels the network fitted", [
                "–" if summary["memorized"].get(g) is None else f"{100 * summary['memorized'][g]:.1f} %" for g in gammas]),
            ("LP, ID accuracy (%; mean over tasks and data fractions)", [spread(lp["ID"][g]) for g in gammas]),
            ("LP, OOD accuracy (%; mean over the OOD test sets)", [spread(lp["OOD"][g]) for g in gammas]),
            ("SVE, ID test features", [f"{summary['sve_id'][g]:.3f}" for g in gammas]),
            ("LSVR, OOD test features", [f"{summary['lsvr_ood'][g]:.3f}" for g in gammas])]
    lines = ["| γ | " + " | ".join(f"{g} %" for g in gammas) + " |", "|---|" + "---|" * len(gammas)]
    lines += [f"| {name} | " + " | ".join(cells) + " |" for name, cells in rows]
    pre = read_json(folder / "pretraining.json", {})
    timing = read_json(folder / "timing.json", {}).get("invocations", [])
    if pre.get("gammas"):
        rates = [g["train_images_per_s"] for g in pre["gammas"].values()]
        cfg = pre.get("config", {})
        lines += ["", f"Pre-training: `{cfg.get('arch')}`, {cfg.get('n_train'):,} images, {cfg.get('epochs')} epochs per "
                  f"γ on {pre.get('device_name', pre.get('device'))} (torch threads: {pre.get('torch_threads')}): "
                  f"{min(rates):,.0f}–{max(rates):,.0f} images/s, "
                  + " / ".join(f"{g['train_seconds'] / 60:.1f}" for g in pre["gammas"].values()) + " min per γ"
                  + (f"; invocations recorded in `timing.json`: "
                     + ", ".join(f"{t['wall_seconds'] / 60:.1f} min" for t in timing) if timing else "") + "."]
    claims = data.get("claims", [])
    if claims:
        lines += ["", "| # | paper | claim | verdict |", "|---|---|---|---|"]
        lines += [f"| {i} | {c['ref']} | {c['claim']} | {c['verdict']} |" for i, c in enumerate(claims, 1)]
    return "\n".join(lines) + "\n"


def noisy_pretraining(results: Path) -> str:
    """The CPU-default noisy pre-training run (``noisy_pretraining/``)."""
    return _noisy_pretraining(results / "noisy_pretraining")


def noisy_pretraining_gpu(results: Path) -> str:
    """The GPU-pre-trained CIFAR ResNet-20 run (``noisy_pretraining_gpu/``)."""
    return _noisy_pretraining(results / "noisy_pretraining_gpu")


def gpu_reload(results: Path) -> str:
    """How far a CUDA head's probabilities move when it is reloaded on the CPU (``gpu/gpu_check_*.json``)."""
    runs = sorted((results / "gpu").glob("gpu_check_*.json"))
    checks = [(read_json(p, {}).get("environment", {}).get("gpu", p.stem), read_json(p, {}).get("nmtune", {}))
              for p in runs]
    checks = [(gpu, n) for gpu, n in checks if "reload_cpu_max_abs_proba_diff" in n]
    if not checks:
        return _missing("gpu/gpu_check_<gpu>.json", "python -m benchmarks.gpu_check --suite")
    return "; ".join(f"{gpu}: largest probability difference {n['reload_cpu_max_abs_proba_diff']:.1e}, "
                     f"predictions {'identical' if n.get('reload_cpu_same_predictions') else 'not identical'}"
                     for gpu, n in checks) + "\n"


#: block name -> renderer(results folder) -> markdown
RENDERERS: dict[str, Callable[[Path], str]] = {
    "which-head": which_head,
    "claims": claims,
    "domain-shift-claims": domain_shift_claims,
    "domain-shift-views": domain_shift_views,
    "domain-shift-cv-options": domain_shift_cv_options,
    "domain-shift-vote": domain_shift_vote,
    "domain-shift-selection": domain_shift_selection,
    "imagenet-claims": imagenet_claims,
    "imagenet-targets": imagenet_targets,
    "imagenet-pairs": imagenet_pairs,
    "imagenet-validation": imagenet_validation,
    "accuracy-summary": accuracy_summary,
    "accuracy-claims": accuracy_claims,
    "accuracy-validation": accuracy_validation,
    "accuracy-runtime": accuracy_runtime,
    "imagenet-runtime": imagenet_runtime,
    "ablation": ablation,
    "label-noise": label_noise,
    "cv-budget": cv_budget,
    "cv-rule": cv_rule,
    "cv-ensemble": cv_ensemble,
    "cv-race": cv_race,
    "fit-time": fit_time,
    "fit-time-batching": fit_time_batching,
    "step-cost": step_cost,
    "gpu-reload": gpu_reload,
    "extraction-compile": extraction_compile,
    "distributed": distributed,
    "ranking": ranking,
    "regression-sick": regression_sick,
    "regression-defaults": regression_defaults,
    "noisy-pretraining": noisy_pretraining,
    "noisy-pretraining-gpu": noisy_pretraining_gpu,
}

#: a markdown link to a file of the repository's benchmarks/ folder
_BENCHMARK_LINK = re.compile(r"\[(?P<text>[^\]]*)\]\((?P<path>benchmarks/[^)\s]*)\)")


def _link(match: re.Match, relative_to: Path) -> str:
    """A link to benchmarks/ for a document in ``relative_to``: relative from the README's side of the tree; a
    code span under docs/, whose site (mkdocs, strict) holds no file outside docs/."""
    text, path = match.group("text"), match.group("path")
    if relative_to.parts and relative_to.parts[0] == "docs":
        return f"`{path}`" if text.strip("`") == path else f"{text} (`{path}`)"
    return f"[{text}]({'../' * len(relative_to.parts)}{path})"


def render_text(text: str, results: Path, *, relative_to: Path | None = None) -> str:
    """``text`` with every rendered block replaced by its renderer's output. ``relative_to`` is the document's
    folder from the repository root: links to benchmarks/ are made relative to it, or code spans under docs/."""

    def replace(match: re.Match) -> str:
        name = match.group("name")
        if name not in RENDERERS:
            raise KeyError(f"unknown rendered block {name!r}; known: {sorted(RENDERERS)}")
        body = RENDERERS[name](results)
        if relative_to is not None and relative_to != Path("."):
            body = _BENCHMARK_LINK.sub(lambda link: _link(link, relative_to), body)
        return match.group(1) + body + match.group(4)

    return _BLOCK.sub(replace, text)


def documents(root: Path = ROOT) -> list[Path]:
    """README.md and every markdown file under docs/ that holds a rendered block."""
    paths = [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
    return [p for p in paths if p.is_file() and "<!-- rendered:" in p.read_text(encoding="utf-8")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a document differs from its rendering")
    parser.add_argument("--results-dir", default=str(RESULTS_DIR))
    args = parser.parse_args(argv)
    drift: list[Any] = []
    for path in documents():
        text = path.read_text(encoding="utf-8")
        rendered = render_text(text, Path(args.results_dir), relative_to=path.parent.relative_to(ROOT))
        if rendered != text:
            drift.append(path.relative_to(ROOT))
            if not args.check:
                path.write_text(rendered, encoding="utf-8")
    if args.check and drift:
        print("rendered blocks out of date (run python -m benchmarks.render_docs): " + ", ".join(map(str, drift)))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
