"""What the accuracy benchmarks run: scales, tasks (ID splits and OOD domains) and their frozen features.

A :class:`Task` builds its splits for a :class:`Scale`; a suite (:mod:`benchmarks.harness.text_cifar`,
:mod:`benchmarks.harness.imagenet`) registers each of its tasks once, with :func:`register_task` on the function
that builds it. :func:`extract_jobs` runs every split of every (task, backbone) through the backbone's
:class:`sknmtune.FrozenBackboneTransformer` (content-keyed cache in ``benchmarks/cache``) and returns one
:class:`JobFeatures` per pair. A missing data folder or weights file skips its task, OOD domain or backbone with a
message, never the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchmarks import datasets as bd
from benchmarks.harness.backbones import BackboneUnavailable
from benchmarks.harness.io import CACHE_DIR, log

__all__ = ["JobFeatures", "Scale", "Task", "TaskData", "extract_features", "extract_jobs", "load_ood", "register_task"]


@dataclass(frozen=True)
class Scale:
    """How big a run is: seeds, the heads' epoch budget (``None``: each preset's own), tasks, backbones,
    and the stem of its result files. Benchmarks subclass it with their sample caps."""

    name: str
    seeds: tuple[int, ...]
    max_epochs: int | None
    tasks: tuple[str, ...]
    backbones: tuple[str, ...]
    file_stem: str


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
    """A downstream task: ``build(scale)`` loads its splits; the domains name its records."""

    name: str
    modality: str  # "text" or "image"
    train_domain: str
    test_domain: str
    build: Callable[[Any], TaskData]
    description: str


def register_task(tasks: dict[str, Task], name: str, *, modality: str, domain: str, description: str,
                  test_domain: str | None = None) -> Callable[[Callable[[Any], TaskData]], Callable[[Any], TaskData]]:
    """Register the decorated ``build(scale) -> TaskData`` in the suite's ``tasks`` as the :class:`Task` ``name``.

    ``domain`` names the ID training data in records (``test_domain``, the ID test set's, defaults to it).
    """

    def decorator(build: Callable[[Any], TaskData]) -> Callable[[Any], TaskData]:
        if name in tasks:
            raise ValueError(f"a task named {name!r} is already registered")
        tasks[name] = Task(name, modality, domain, test_domain or domain, build, description)
        return build

    return decorator


def load_ood(loaders: dict[str, Callable[[], bd.Dataset]], cap: int | None) -> tuple[dict[str, bd.Dataset], dict[str, str]]:
    """Load each OOD domain (capped, seed 0); a missing one is skipped with its reason, not fatal."""
    out, skipped = {}, {}
    for domain, loader in loaders.items():
        try:
            out[domain] = bd.subsample(loader(), cap, seed=0)
        except bd.DatasetUnavailable as exc:
            skipped[domain] = str(exc)
    return out, skipped


@dataclass
class JobFeatures:
    """Features (and labels) of every split of one (task, backbone)."""

    task: Task
    backbone: Any  # .name, .family
    splits: dict[str, tuple[np.ndarray, np.ndarray]]  # "train", "val", "test", "ood:<domain>"
    notes: dict[str, str]
    skipped_ood: dict[str, str]
    extract_seconds: float

    def test_splits(self) -> list[tuple[str, str, str]]:
        """(split key, role, test_domain) of the ID test and every OOD domain."""
        out = [("test", "ID", self.task.test_domain)]
        out += [(k, "OOD", k.removeprefix("ood:")) for k in self.splits if k.startswith("ood:")]
        return out


def extract_features(task: Task, backbone: Any, transformer: Any, scale: Scale) -> JobFeatures:
    """Build the task's splits and run each through the frozen backbone (cached on disk)."""
    data = task.build(scale)
    t0 = time.perf_counter()
    splits, notes = {}, {}
    named = {"train": data.train, "val": data.val, "test": data.test, **{f"ood:{d}": ds for d, ds in data.ood.items()}}
    for key, ds in named.items():
        splits[key] = (np.asarray(transformer.transform(ds.X), dtype=np.float32), ds.y)
        notes[key] = f"{ds.name} (n={len(ds)}): {ds.note}"
    return JobFeatures(task, backbone, splits, notes, data.skipped_ood, time.perf_counter() - t0)


def extract_jobs(tasks: Iterable[Task], backbones: Iterable[Any], scale: Scale, device: str, skipped: list[str],
                 unavailable: dict[str, str] | None = None) -> tuple[list[JobFeatures], list[dict[str, Any]]]:
    """Features of every (task, backbone) of the same modality; returns the jobs and per-job extraction timings.

    ``backbone.make(CACHE_DIR, device=device)`` builds each transformer; what cannot run is appended to
    ``skipped`` (and an unavailable backbone's reason to ``unavailable``).
    """
    jobs, timings, tasks = [], [], list(tasks)
    for backbone in backbones:
        try:
            transformer = backbone.make(CACHE_DIR, device=device)
        except BackboneUnavailable as exc:
            if unavailable is not None:
                unavailable[backbone.name] = str(exc)
            skipped.append(f"backbone {backbone.name}: {exc}")
            log(f"SKIP backbone {backbone.name}: {exc}")
            continue
        for task in tasks:
            if task.modality != getattr(backbone, "modality", "image"):
                continue
            try:
                job = extract_features(task, backbone, transformer, scale)
            except bd.DatasetUnavailable as exc:
                skipped.append(f"task {task.name}: {exc}")
                log(f"SKIP task {task.name}: {exc}")
                continue
            for domain, why in job.skipped_ood.items():
                skipped.append(f"OOD domain {task.name}/{domain}: {why}")
                log(f"SKIP OOD domain {task.name}/{domain}: {why}")
            n = sum(len(y) for _, y in job.splits.values())
            timings.append({"task": task.name, "backbone": backbone.name, "images": n,
                            "seconds": round(job.extract_seconds, 1)})
            sizes = ", ".join(f"{k} {len(v[1])}" for k, v in job.splits.items())
            log(f"features {task.name}/{backbone.name}: D={job.splits['train'][0].shape[1]}; {sizes} "
                f"({job.extract_seconds:.1f}s, {n / max(job.extract_seconds, 1e-9):.1f} inputs/s incl. cached)")
            jobs.append(job)
    return jobs, timings
