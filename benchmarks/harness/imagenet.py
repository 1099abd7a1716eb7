"""The ImageNet-backbone suite (``python -m benchmarks.accuracy_imagenet`` and the studies on its features): its
tasks, backbones and scales.

Tasks: Flowers-102, DTD-10, CIFAR-10 (-> CIFAR-10-C-style corruptions) and PACS photo / sketch (128 px -> the other
styles), through timm's eval transform (224 px). Each task is one :func:`~benchmarks.harness.tasks.register_task` on
its builder; the full scale runs every registered task, and ``label_noise``, ``ablation``, ``fit_time`` and
``cv_grid_study`` read the same registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from benchmarks import datasets as bd
from benchmarks.harness.backbones import IMAGENET_BACKBONES, ImageNetBackbone
from benchmarks.harness.tasks import Scale, Task, TaskData, load_ood, register_task

__all__ = ["ALL_BACKBONES", "ALL_TASKS", "BACKBONES", "CORRUPTION_TASKS", "ImageNetScale", "SCALES", "TASKS", "corruptions"]


@dataclass(frozen=True)
class ImageNetScale(Scale):
    """A :class:`~benchmarks.harness.tasks.Scale` with this suite's sample caps (``None`` keeps a split whole;
    every subset is stratified with seed 0)."""

    flowers_test: int | None
    dtd_cap: int | None  # cap on each DTD-10 split
    cifar_train: int
    cifar_val: int
    cifar_test: int
    cifar_c_n: int  # images per corruption x severity (a subset of the ID test subset)
    severities: tuple[int, ...]
    n_corruption_families: int
    pacs_cap: dict[str, int | None]  # per-domain cap; the same subset serves as ID and as OOD data


def corruptions(s: ImageNetScale) -> list[tuple[str, int]]:
    """The scale's CIFAR-10-C-style OOD domains: :func:`benchmarks.datasets.select_corruptions` (seed 0),
    the first ``n_corruption_families`` families."""
    chosen = bd.select_corruptions(s.severities, seed=0)
    names = list(dict.fromkeys(c for c, _ in chosen))[: s.n_corruption_families]
    return [(c, sev) for c, sev in chosen if c in names]


# =========================================================================== tasks

TASKS: dict[str, Task] = {}

#: tasks whose OOD domains are the synthetic CIFAR-10-C-style corruptions (reported apart from the natural shift)
CORRUPTION_TASKS = ("cifar10",)


@register_task(TASKS, "flowers102", modality="image", domain="flowers102",
               description="Oxford Flowers-102: Udacity train split (20/class) halved into train / val (10/class each), "
                           "test 819; no OOD")
def _flowers(s: ImageNetScale) -> TaskData:
    # the official Oxford protocol's sizes: 10 training and 10 validation images per class (the shipped
    # train split has 20 per class; its "valid" split is not needed)
    train, val = bd.stratified_split(bd.load_flowers102("train"), 0.5, seed=0, names=("train", "val"))
    return TaskData(train, val, bd.subsample(bd.load_flowers102("test"), s.flowers_test, seed=0), {})


@register_task(TASKS, "dtd10", modality="image", domain="dtd10",
               description="DTD, 10 texture classes: seeded stratified 72/24/24 per class train/val/test; no OOD")
def _dtd(s: ImageNetScale) -> TaskData:
    train, val, test = (bd.subsample(bd.load_dtd10(split), s.dtd_cap, seed=0) for split in ("train", "val", "test"))
    return TaskData(train, val, test, {})


@register_task(TASKS, "cifar10", modality="image", domain="cifar10",
               description="CIFAR-10 (JPEG) stratified subsets, 32 px upsampled by the eval transform -> CIFAR-10-C-style "
                           "corruptions")
def _cifar(s: ImageNetScale) -> TaskData:
    pool = bd.load_cifar10("train")
    rest, val = bd.stratified_split(pool, s.cifar_val, seed=0, names=("rest", "val"))
    train = bd.subsample(rest, s.cifar_train, seed=0)
    test = bd.subsample(bd.load_cifar10("test"), s.cifar_test, seed=0)
    ood, skipped = load_ood(
        {f"{c}-{sev}": (lambda c=c, sev=sev: bd.load_cifar10_c(c, sev, n=s.cifar_c_n, seed=0)) for c, sev in corruptions(s)},
        None,
    )
    return TaskData(train, val, test, ood, skipped)


def _pacs_domain(domain: str, s: ImageNetScale) -> bd.Dataset:
    """One PACS domain at 128 px, capped (nested subsets: a smaller cap is a subset of a larger one)."""
    return bd.subsample(bd.load_pacs_full(domain), s.pacs_cap.get(domain), seed=0)


def _pacs(source: str) -> Callable[[ImageNetScale], TaskData]:
    def build(s: ImageNetScale) -> TaskData:
        rest, test = bd.stratified_split(_pacs_domain(source, s), 0.2, seed=0, names=("rest", "test"))
        train, val = bd.stratified_split(rest, 0.25, seed=0, names=("train", "val"))  # 60 / 20 / 20
        others = [d for d in bd.PACS_DOMAINS if d != source]
        ood, skipped = load_ood({d: (lambda d=d: _pacs_domain(d, s)) for d in others}, None)
        return TaskData(train, val, test, ood, skipped)

    return build


register_task(TASKS, "pacs-photo", modality="image", domain="photo",
              description="PACS photo 128 px (60/20/20) -> art_painting, cartoon, sketch")(_pacs("photo"))
register_task(TASKS, "pacs-sketch", modality="image", domain="sketch",
              description="PACS sketch 128 px (60/20/20) -> photo, art_painting, cartoon")(_pacs("sketch"))


# =========================================================================== backbones and scales

#: the ImageNet-1k backbones, under this suite's family names
BACKBONES: dict[str, ImageNetBackbone] = {name: replace(b, family=f"vision: {b.family}")
                                          for name, b in IMAGENET_BACKBONES.items()}

ALL_TASKS = tuple(TASKS)
ALL_BACKBONES = tuple(BACKBONES)

SCALES = {
    "full": ImageNetScale(
        name="full", seeds=(0, 1, 2), max_epochs=None, flowers_test=None,
        dtd_cap=None, cifar_train=1000, cifar_val=400, cifar_test=1000, cifar_c_n=250, severities=(3, 5),
        n_corruption_families=4,
        pacs_cap={"photo": None, "sketch": 2000, "art_painting": 1000, "cartoon": 1000},
        tasks=ALL_TASKS, backbones=ALL_BACKBONES, file_stem="accuracy_imagenet",
    ),
    "quick": ImageNetScale(
        name="quick", seeds=(0,), max_epochs=10, flowers_test=None,
        dtd_cap=120, cifar_train=300, cifar_val=100, cifar_test=200, cifar_c_n=100, severities=(3,),
        n_corruption_families=2,
        pacs_cap={"photo": 500, "sketch": 500, "art_painting": 150, "cartoon": 150},
        tasks=("dtd10", "cifar10", "pacs-photo"), backbones=("mobilenetv2_100",), file_stem="accuracy_imagenet_quick",
    ),
}
