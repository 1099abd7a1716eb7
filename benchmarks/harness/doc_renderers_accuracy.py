"""The renderers of ``benchmarks/render_docs.py``'s blocks on the accuracy benchmarks (``accuracy*.json``), the
head's ablation, noisy downstream labels and ``NMTuneClassifierCV``'s grid study (``cv_grid_study.json``): each
``renderer(results folder) -> markdown``, with the reports' own tables (the scripts' report code lives in the
harness: :mod:`~benchmarks.harness.accuracy_report`, :mod:`~benchmarks.harness.tables`,
:mod:`~benchmarks.harness.ablation_report`, :mod:`~benchmarks.harness.label_noise_report`,
:mod:`~benchmarks.harness.cv_grid_tables`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.harness.doc_renderers import missing, only_rows, section
from benchmarks.harness.io import read_json

__all__ = ["ablation", "accuracy_claims", "accuracy_runtime", "accuracy_summary", "accuracy_validation", "cv_budget",
           "cv_ensemble", "cv_race", "cv_rule", "imagenet_claims", "imagenet_pairs", "imagenet_runtime",
           "imagenet_targets", "imagenet_validation", "label_noise"]


# =========================================================================== accuracy benchmarks


def _imagenet(results: Path) -> list[dict[str, Any]]:
    from benchmarks.harness.accuracy_report import separate_corruptions

    return separate_corruptions(read_json(results / "accuracy_imagenet.json", []))


def _headline(records: list[dict[str, Any]], stem: str, note: str = "") -> str:
    """The headline table (NMTune > MLP > LP per family) of a benchmark's records, or what writes them."""
    from benchmarks.harness.tables import headline_table

    if not records:
        return missing(f"{stem}.json", f"python -m benchmarks.{stem}")
    return ("Mean accuracy differences in points over matched (task, backbone, seed) units, (wins / paired test "
            f"domain × seed comparisons){note}:\n\n" + headline_table(records) + "\n")


def imagenet_claims(results: Path) -> str:
    """The ImageNet-backbone benchmark's headline table (``accuracy_imagenet.md``): NMTune > MLP > LP, per family."""
    return _headline(_imagenet(results), "accuracy_imagenet", "; OOD is PACS's natural shift only")


def imagenet_targets(results: Path) -> str:
    """``NMTuneClassifierCV()`` and ``make_voting_head()`` against the best of LP, MLP tuning and
    ``LogisticRegressionCV`` (the report's target tables)."""
    from benchmarks.harness.tables import target_table

    records = _imagenet(results)
    if not records:
        return missing("accuracy_imagenet.json", "python -m benchmarks.accuracy_imagenet")
    parts = ["`NMTuneClassifierCV()` (`recommended`):", "", target_table(records, probe="logreg_cv")]
    if any(r["method"] == "voting" for r in records):
        parts += ["", "`make_voting_head()` (`voting`):", "", target_table(records, probe="logreg_cv", head="voting")]
    return "\n".join(parts) + "\n"


#: the pairs of the ImageNet report's paired table the guides discuss
_IMAGENET_PAIRS = (("recommended", "recommended-lambda0"), ("voting", "recommended"), ("nmtune-default", "lp"))


def imagenet_pairs(results: Path) -> str:
    """A few rows of the ImageNet report's paired table (mean difference, wins per test domain × seed)."""
    from benchmarks.harness.accuracy_report import IMAGENET_METHODS
    from benchmarks.harness.tables import paired_table

    records = _imagenet(results)
    if not records:
        return missing("accuracy_imagenet.json", "python -m benchmarks.accuracy_imagenet")
    return paired_table(records, _IMAGENET_PAIRS, IMAGENET_METHODS) + "\n"


def imagenet_validation(results: Path) -> str:
    """Mean validation accuracy per method on the ImageNet tasks, and what a validation-only choice deploys."""
    from benchmarks.harness.accuracy_report import imagenet_validation_table

    validation = read_json(results / "accuracy_imagenet_validation.json", {})
    if not validation:
        return missing("accuracy_imagenet_validation.json", "python -m benchmarks.accuracy_imagenet")
    return imagenet_validation_table(validation, _imagenet(results)) + "\n"


def _accuracy(results: Path) -> list[dict[str, Any]]:
    return read_json(results / "accuracy.json", [])


def accuracy_summary(results: Path) -> str:
    """The first benchmark's summary table (text and small vision backbones, ``accuracy.md``)."""
    from benchmarks.harness.accuracy_report import ACCURACY_METHODS
    from benchmarks.harness.tables import summary_table

    records = _accuracy(results)
    if not records:
        return missing("accuracy.json", "python -m benchmarks.accuracy")
    return "Accuracy and macro-F1 in %, mean ± std over seeds:\n\n" + summary_table(records, ACCURACY_METHODS) + "\n"


def accuracy_claims(results: Path) -> str:
    """The paper's headline on the first benchmark, per family, with the ImageNet report's headline table."""
    return _headline(_accuracy(results), "accuracy")


def accuracy_validation(results: Path) -> str:
    """The first benchmark's validation study (``accuracy_validation.json``): candidates ranked by the rule."""
    from benchmarks.harness.validation_study import validation_table

    validation = read_json(results / "accuracy_validation.json", {})
    if not validation.get("decision"):
        return missing("accuracy_validation.json", "python -m benchmarks.accuracy")
    decision = validation["decision"]
    return (f"Rule: {decision['rule']} Chosen: `{decision['choice']}`. Mean validation accuracy (%):\n\n"
            + validation_table(decision, validation.get("rows", [])) + "\n")


def ablation(results: Path) -> str:
    """The ablation table (``ablation.md``, validation splits), from the ablation's own report."""
    from benchmarks.harness.ablation_report import ablation_report

    records = read_json(results / "ablation.json", {}).get("records", [])
    if not records:
        return missing("ablation.json", "python -m benchmarks.ablation")
    text = ablation_report(records)
    return "\n".join(line for line in text.split("\n") if line.startswith("|")) + "\n"


def label_noise(results: Path) -> str:
    """Noisy downstream labels (``label_noise.md``): LP, MLP tuning and NMTune per noise rate, ID and OOD, by the
    study's own report."""
    from benchmarks.harness.label_noise_report import label_noise_report

    records = read_json(results / "label_noise.json", [])
    if not records:
        return missing("label_noise.json", "python -m benchmarks.label_noise")
    report = label_noise_report(records)
    return "\n\n".join(f"{title}:\n\n{section(report, '## ' + role)}"
                       for title, role in (("In domain (accuracy %)", "ID"), ("Out of domain (accuracy %)", "OOD"))) + "\n"


def accuracy_runtime(results: Path) -> str:
    """The first benchmark's recorded runtime (``accuracy_meta.json``), as its report prints it."""
    from benchmarks.harness.accuracy_report import accuracy_runtime_text

    meta = read_json(results / "accuracy_meta.json", {})
    if not meta.get("runtime"):
        return missing("accuracy_meta.json", "python -m benchmarks.accuracy")
    return f"Recorded runtime: {accuracy_runtime_text(meta)}; machine: {meta.get('machine', 'not recorded')}.\n"


def imagenet_runtime(results: Path) -> str:
    """The ImageNet benchmark's recorded runtime (``accuracy_imagenet_meta.json``) and its cold-cache run
    (``accuracy_imagenet_cold_run.json``)."""
    from benchmarks.harness.accuracy_report import imagenet_runtime_text

    meta = read_json(results / "accuracy_imagenet_meta.json", {})
    if not meta.get("runtime"):
        return missing("accuracy_imagenet_meta.json", "python -m benchmarks.accuracy_imagenet")
    lines = [f"- Recorded runtime of the published records: {imagenet_runtime_text(meta)}; machine: {meta.get('machine')}."]
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
    from benchmarks.harness.cv_grid_tables import budget_table

    rows = _cv_rows(results, "budget")
    return budget_table(rows) + "\n" if rows else missing("cv_grid_study.json", f"{_CV_STUDY} budget")


def cv_rule(results: Path) -> str:
    """The selection rule and sub-grid study (``cv_grid_study.md``)."""
    from benchmarks.harness.cv_grid_tables import rule_table

    rows = _cv_rows(results, "rule")
    return rule_table(rows) + "\n" if rows else missing("cv_grid_study.json", f"{_CV_STUDY} rule")


def cv_ensemble(results: Path) -> str:
    """Soft votes of the default grid's candidates against the single refitted pick (``cv_grid_study.md``)."""
    from benchmarks.harness.cv_grid_tables import ensemble_table

    rows = _cv_rows(results, "ensemble")
    return ensemble_table(rows) + "\n" if rows else missing("cv_grid_study.json", f"{_CV_STUDY} ensemble")


def cv_race(results: Path) -> str:
    """Racing margins simulated on stored per-fold scores, for the default selection rule (``cv_grid_study.md``)."""
    from benchmarks.harness.cv_grid_tables import race_table

    race = _cv_rows(results, "race")
    if not race:
        return missing("cv_grid_study.json", f"{_CV_STUDY} race")
    rule_rows = {(r["task"], r["backbone"], r["seed"]): r for r in _cv_rows(results, "rule")}
    parts = []
    for title, rows in (("The accuracy benchmarks' training sets", [r for r in race if ":" not in r["task"]]),
                        ("The PACS domain-shift benchmark's training sets", [r for r in race if ":" in r["task"]])):
        if rows:
            table = only_rows(race_table(rows, rule_rows), lambda line: line.split(" | ")[1] == "best")
            parts += [f"{title}:", "", table, ""]
    return "\n".join(parts).rstrip("\n") + "\n"
