"""The text and CIFAR-backbone suite (``python -m benchmarks.accuracy``): its tasks, backbones and scales.

Tasks (ID train -> ID test, OOD tests): SST-2, CoLA and MNLI for the MiniLM sentence encoder; PACS photo /
sketch (32 px) and MNIST digits for the CIFAR ResNets and the 32-px timm resnet18. Each task is one
:func:`~benchmarks.harness.tasks.register_task` on its builder; the full scale runs every registered task.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from benchmarks import datasets as bd
from benchmarks.harness.backbones import CIFAR_RESNETS, MINILM, TIMM_RESNET18
from benchmarks.harness.tasks import Scale, Task, TaskData, load_ood, register_task

__all__ = ["ALL_BACKBONES", "ALL_TASKS", "AccuracyScale", "BACKBONES", "SCALES", "TASKS", "split_train"]


@dataclass(frozen=True)
class AccuracyScale(Scale):
    """A :class:`~benchmarks.harness.tasks.Scale` with sample caps and the validation study's candidates."""

    sst2_train: int | None
    val_cap: int | None
    train_cap: int | None
    test_cap: int | None
    ood_cap: int | None
    candidates: tuple[str, ...]  # () = every candidate of the validation study


def split_train(ds: bd.Dataset, test: int | float, val: int | float, s: AccuracyScale) -> tuple[bd.Dataset, bd.Dataset, bd.Dataset]:
    """ID split of one labelled set: test held out first, then validation from the rest (seed 0)."""
    rest, test_ds = bd.stratified_split(ds, test, seed=0, names=("rest", "test"))
    train, val_ds = bd.stratified_split(rest, val, seed=0, names=("train", "val"))
    return (
        bd.subsample(train, s.train_cap, seed=0),
        bd.subsample(val_ds, s.val_cap, seed=0),
        bd.subsample(test_ds, s.test_cap, seed=0),
    )


# =========================================================================== tasks

TASKS: dict[str, Task] = {}


@register_task(TASKS, "sst2", modality="text", domain="sst2",
               description="SST-2 (GLUE train subsample; SST test sentences as validation; GLUE dev as test) -> IMDB "
                           "(imdb-cad orig), Yelp, Amazon (2 sources each)")
def _sst2(s: AccuracyScale) -> TaskData:
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


@register_task(TASKS, "cola", modality="text", domain="cola-in-domain",
               description="CoLA in_domain_train (85/15 train/val) -> in_domain_dev (ID), out_of_domain_dev (OOD)")
def _cola(s: AccuracyScale) -> TaskData:
    train, val = bd.stratified_split(bd.load_cola("in_domain_train"), 0.15, seed=0, names=("train", "val"))
    test = bd.load_cola("in_domain_dev")
    ood, skipped = load_ood({"cola-ood": lambda: bd.load_cola("out_of_domain_dev")}, s.ood_cap)
    return TaskData(bd.subsample(train, s.train_cap), bd.subsample(val, s.val_cap), bd.subsample(test, s.test_cap), ood, skipped)


@register_task(TASKS, "nli", modality="text", domain="mnli",
               description="MNLI dev-matched split train/val/test -> SICK test, SNLI subset of imdb-cad (labels E/N/C)")
def _nli(s: AccuracyScale) -> TaskData:
    train, val, test = split_train(bd.load_mnli_dev_matched(), 2000, 1500, s)
    ood, skipped = load_ood(
        {"sick": lambda: bd.load_sick("test"), "snli": lambda: bd.load_snli_cad("all", "original")}, s.ood_cap
    )
    return TaskData(train, val, test, ood, skipped)


def _pacs(source: str) -> Callable[[AccuracyScale], TaskData]:
    def build(s: AccuracyScale) -> TaskData:
        train, val, test = split_train(bd.load_pacs(source), 0.2, 0.2, s)
        others = [d for d in bd.PACS_DOMAINS if d != source]
        ood, skipped = load_ood({d: (lambda d=d: bd.load_pacs(d)) for d in others}, s.ood_cap)
        return TaskData(train, val, test, ood, skipped)

    return build


register_task(TASKS, "pacs-photo", modality="image", domain="photo",
              description="PACS photo (60/20/20 train/val/test) -> art_painting, cartoon, sketch")(_pacs("photo"))
register_task(TASKS, "pacs-sketch", modality="image", domain="sketch",
              description="PACS sketch (60/20/20) -> photo, art_painting, cartoon")(_pacs("sketch"))


@register_task(TASKS, "digits", modality="image", domain="mnist",
               description="MNIST t10k (7000/1000/2000) -> USPS, MNIST-M (grey 28/16 px -> 32x32 RGB)")
def _digits(s: AccuracyScale) -> TaskData:
    train, val, test = split_train(bd.load_mnist_t10k(), 2000, 1000, s)
    ood, skipped = load_ood({"usps": bd.load_usps, "mnist-m": bd.load_mnist_m}, s.ood_cap)
    return TaskData(train, val, test, ood, skipped)


# =========================================================================== backbones and scales

BACKBONES: dict[str, Any] = {b.name: b for b in (MINILM, CIFAR_RESNETS["cifar_resnet20"], CIFAR_RESNETS["cifar_resnet56"],
                                                 TIMM_RESNET18)}

ALL_TASKS = tuple(TASKS)
ALL_BACKBONES = tuple(BACKBONES)

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
