"""Downstream step of the noisy pre-training study (``python -m benchmarks.noisy_pretraining``): frozen features of
each pre-trained backbone, LP / MLP / NMTune heads (registry presets) scored by
:func:`sknmtune.evaluation.evaluate_heads`, whose records are stored as they come (with the study's ``gamma``,
``noise_rate``, ``source``, ``preset`` and ``fraction``).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.harness.io import log, read_json, write_json
from benchmarks.harness.noisy_pretraining.training import DownstreamConfig, PretrainConfig, checkpoint_path, fingerprint

__all__ = ["HEADS", "load_tasks", "run_downstream"]


@dataclasses.dataclass(frozen=True)
class _Task:
    """One downstream source: a training set, its ID test set and the OOD test sets of the same label space."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    ood: dict[str, tuple[np.ndarray, np.ndarray]]


def _cached_dataset(cache_dir: Path | None, key: str, load):
    """``load()`` -> Dataset, memoised as ``<cache_dir>/downstream_<key>.npz`` (decoding MNIST-M takes seconds)."""
    path = None if cache_dir is None else Path(cache_dir) / f"downstream_{key}.npz"
    if path is not None and path.is_file():
        with np.load(path) as z:
            return z["X"], z["y"]
    ds = load()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}.npz")
        np.savez(tmp, X=ds.X, y=ds.y)
        os.replace(tmp, path)
    return ds.X, ds.y


def _limit(x: np.ndarray, y: np.ndarray, n: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if n is None or n >= len(y):
        return x, y
    keep = _stratified_take(y, n, seed)
    return x[keep], y[keep]


def _stratified_take(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted indices of a stratified sample of ``n`` rows (the shared loaders' ``subsample``)."""
    from benchmarks.datasets import Dataset, subsample

    return np.asarray(subsample(Dataset(np.arange(len(y)), np.asarray(y), (), "rows"), n, seed).X)


def load_tasks(dcfg: DownstreamConfig, *, cache_dir: Path | None, ood_limit: int | None, test_limit: int | None) -> list[_Task]:
    """PACS (photo -> art_painting, cartoon, sketch) and MNIST (-> USPS, MNIST-M), split with seed 0.

    The ID test split of each source is fixed (seed 0) for every gamma and head seed; head seeds
    only change which training rows a fraction keeps and the head's initialisation.
    Raises :class:`benchmarks.datasets.DatasetUnavailable` when a shared data folder is absent.
    """
    from benchmarks.datasets import load_mnist_m, load_mnist_t10k, load_pacs, load_usps

    tasks = []
    photo = _cached_dataset(cache_dir, "pacs_photo", lambda: load_pacs("photo"))
    test_idx = _stratified_take(photo[1], int(round(dcfg.pacs_test_fraction * len(photo[1]))), 0)
    train_idx = np.setdiff1d(np.arange(len(photo[1])), test_idx)
    ood = {f"pacs/{d}": _cached_dataset(cache_dir, f"pacs_{d}", lambda d=d: load_pacs(d)) for d in ("art_painting", "cartoon", "sketch")}
    tasks.append(_Task("pacs/photo", photo[0][train_idx], photo[1][train_idx], photo[0][test_idx], photo[1][test_idx], ood))

    mnist = _cached_dataset(cache_dir, "mnist_t10k", load_mnist_t10k)
    test_idx = _stratified_take(mnist[1], int(round(dcfg.mnist_test_fraction * len(mnist[1]))), 0)
    train_idx = np.setdiff1d(np.arange(len(mnist[1])), test_idx)
    ood = {"usps": _cached_dataset(cache_dir, "usps", load_usps), "mnist-m": _cached_dataset(cache_dir, "mnist_m", load_mnist_m)}
    tasks.append(_Task("mnist", mnist[0][train_idx], mnist[1][train_idx], mnist[0][test_idx], mnist[1][test_idx], ood))

    out = []
    for t in tasks:
        xtr, ytr = _limit(t.x_train, t.y_train, dcfg.max_train, 0)
        xte, yte = _limit(t.x_test, t.y_test, test_limit, 0)
        ood = {k: _limit(x, y, ood_limit, 0) for k, (x, y) in t.ood.items()}
        out.append(_Task(t.name, xtr, ytr, xte, yte, ood))
    return out


HEADS = ("LP", "MLP", "NMTune", "MLP-authors", "NMTune-authors")


def _head_plan(dcfg: DownstreamConfig, authors_seeds: tuple[int, ...]) -> list[tuple[str, str, float, int]]:
    """(method, preset, fraction, seed) for every head fit of one gamma and one task."""
    plan = [("LP", dcfg.lp_preset, f, s) for s in dcfg.seeds for f in dcfg.fractions]
    plan += [(m, p, 1.0, s) for s in dcfg.seeds for m, p in (("MLP", dcfg.mlp_preset), ("NMTune", dcfg.nmtune_preset))]
    plan += [(m, p, 1.0, s) for s in authors_seeds for m, p in (("MLP-authors", "mlp-authors"), ("NMTune-authors", "nmtune-authors"))]
    return plan


def _spectral(F_: np.ndarray, *, centered: bool = False) -> dict[str, float]:
    """SVE and LSVR of the raw matrix (the paper's Definitions 2.1, 2.2); optionally also of the centred one."""
    from sknmtune.spectral import spectral_summary

    raw = spectral_summary(F_)
    out = {"sve": raw["sve"], "lsvr": raw["lsvr"]}
    if centered:
        cen = spectral_summary(F_, center=True)
        out.update(sve_centered=cen["sve"], lsvr_centered=cen["lsvr"], numerical_rank=raw["numerical_rank"])
    return out


def downstream_one(
    gamma: int,
    ckpt: Path,
    tasks: list[_Task],
    dcfg: DownstreamConfig,
    *,
    arch: str,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    authors_seeds: tuple[int, ...],
    device: str,
    feature_cache: Path | None,
    progress: bool,
) -> dict[str, Any]:
    """Extract frozen features with one checkpoint, fit every head, score ID and OOD test sets
    (the protocol is :func:`sknmtune.evaluation.evaluate_heads`)."""
    from tqdm.auto import tqdm

    from sknmtune.backbones import FrozenBackboneTransformer
    from sknmtune.evaluation import evaluate_heads
    from sknmtune.heads import make_head
    from sknmtune.spectral import singular_values

    t0 = time.perf_counter()
    ext = FrozenBackboneTransformer(
        arch, pretrained=False, weights=str(ckpt), image_size=32, crop_pct=1.0, mean=mean, std=std,
        batch_size=256, device=device, cache=str(feature_cache) if feature_cache else None,
    )
    feats: dict[str, dict[str, np.ndarray]] = {}
    for t in tasks:
        feats[t.name] = {"train": ext.fit_transform(t.x_train), "test": ext.transform(t.x_test)}
        for k, (x, _) in t.ood.items():
            feats[t.name][k] = ext.transform(x)
    feature_s = time.perf_counter() - t0
    log(f"gamma={gamma}%: features extracted in {feature_s:.0f}s (dim {feats[tasks[0].name]['test'].shape[1]})")

    spectra, top = [], {}
    for t in tasks:
        for split, role, y in [("test", "ID", t.y_test)] + [(k, "OOD", v[1]) for k, v in t.ood.items()]:
            F_ = feats[t.name][split]
            target = t.name if split == "test" else split
            spectra.append({"source": t.name, "target": target, "role": role, **_spectral(F_, centered=True)})
            s = singular_values(F_)
            top[target] = (s / s.sum())[:64].round(6).tolist()

    plan = _head_plan(dcfg, authors_seeds)
    records = []
    bar = tqdm(total=len(plan) * len(tasks), desc=f"heads gamma={gamma}%", disable=not progress,
               mininterval=1.0 if sys.stderr.isatty() else 30.0, file=sys.stderr)
    for t in tasks:
        Ftr = feats[t.name]["train"]
        for method, preset, frac, seed in plan:
            keep = np.arange(len(t.y_train)) if frac >= 1.0 else _stratified_take(t.y_train, max(len(np.unique(t.y_train)), int(round(frac * len(t.y_train)))), seed)
            overrides = {} if dcfg.head_epochs is None else {"max_epochs": dcfg.head_epochs}
            ood = {k: (feats[t.name][k], y) for k, (_, y) in t.ood.items()}
            head = make_head(preset, random_state=seed, device=device, **overrides)
            records += evaluate_heads(
                {method: head}, Ftr[keep], t.y_train[keep], id_test=(feats[t.name]["test"], t.y_test),
                ood_tests=ood, seeds=(seed,),
                extra={"gamma": gamma, "noise_rate": gamma / 100.0, "source": t.name, "preset": preset, "fraction": frac},
            )
            bar.update(1)
    bar.close()
    return {
        "spectral": spectra, "top_singular_values": top, "records": records,
        "feature_seconds": round(feature_s, 1), "total_seconds": round(time.perf_counter() - t0, 1),
    }


def run_downstream(args, cfg: PretrainConfig, dcfg: DownstreamConfig, gammas, pre: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Downstream analysis for every pre-trained gamma not analysed yet; write ``downstream.json`` after each."""
    out_path = Path(args.results_dir) / "downstream.json"
    results = read_json(out_path)
    norm = pre.get("normalization") or {}
    mean, std = tuple(norm.get("mean", ())), tuple(norm.get("std", ()))
    results.update(config=dataclasses.asdict(dcfg), authors_seeds=list(args.authors_seeds), arch=cfg.arch)
    done = results.setdefault("gammas", {})
    tasks = None
    for g in gammas:
        row = pre.get("gammas", {}).get(str(g))
        ckpt = checkpoint_path(args.checkpoint_dir, cfg.arch, g)
        if row is None or not ckpt.is_file():
            log(f"gamma={g}%: no pre-trained checkpoint ({ckpt}); downstream skipped")
            continue
        fp = fingerprint([dataclasses.asdict(dcfg), list(args.authors_seeds), row["fingerprint"], args.test_limit, args.ood_limit])
        if not args.force and done.get(str(g), {}).get("fingerprint") == fp:
            log(f"gamma={g}%: downstream already done, skipped")
            continue
        if tasks is None:
            tasks = load_tasks(dcfg, cache_dir=Path(args.cache_dir), ood_limit=args.ood_limit, test_limit=args.test_limit)
            results["tasks"] = {t.name: {"train": len(t.y_train), "test": len(t.y_test), "ood": {k: len(v[1]) for k, v in t.ood.items()}} for t in tasks}
            log("downstream tasks: " + ", ".join(f"{t.name} ({len(t.y_train)} train / {len(t.y_test)} test; OOD "
                                                   + ", ".join(f"{k} {len(v[1])}" for k, v in t.ood.items()) + ")" for t in tasks))
        res = downstream_one(
            g, ckpt, tasks, dcfg, arch=cfg.arch, mean=mean, std=std, authors_seeds=tuple(args.authors_seeds),
            device=str(device), feature_cache=Path(args.cache_dir) / "features", progress=not args.no_progress,
        )
        res["fingerprint"] = fp
        done[str(g)] = res
        results["gammas"] = dict(sorted(done.items(), key=lambda kv: int(kv[0])))
        write_json(out_path, results)
        log(f"gamma={g}%: downstream done in {res['total_seconds']:.0f}s")
    return results
