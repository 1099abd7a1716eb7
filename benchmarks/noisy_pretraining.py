"""The paper's Section 2 study at small scale: noisy pre-training, then ID/OOD transfer, spectra and NMTune.

One command runs the whole study (pre-training of one backbone per noise ratio, then the downstream
analysis) and writes a results JSON, the paper-style figures and a claim-by-claim table::

    .venv/bin/python benchmarks/noisy_pretraining.py            # CPU default (2 cores, <= 90 min)
    .venv/bin/python benchmarks/noisy_pretraining.py --tiny     # smoke run (seconds)
    python benchmarks/noisy_pretraining.py --full --skip-downstream   # GPU pre-training (all 50k images)

Steps
-----
1. **Pre-training** (needs only torch, timm, numpy, Pillow, scikit-learn and ``sknmtune.noise``, no skorch): a timm backbone
   (``resnet18`` by default, created with ``pretrained=False, num_classes=10``) is trained at 32x32 on
   CIFAR-10 train (JPEG-75 copy) whose labels were corrupted with symmetric noise
   (:func:`sknmtune.noise.symmetric_label_noise`) at each ratio gamma. Same initialisation, same batch
   order and same augmentation stream for every gamma, so the labels are the only difference. The
   clean CIFAR-10 test accuracy of each backbone is the analogue of the paper's Table 3. Checkpoints are
   plain ``state_dict`` files ``<checkpoint-dir>/<arch>_noise<gamma>.pt`` that
   ``FrozenBackboneTransformer(arch, pretrained=False, weights=path)`` loads.
2. **Downstream** (public API only: ``FrozenBackboneTransformer`` -> ``NMTuneClassifier``): for each
   gamma, linear probing (LP) on ID tasks (PACS photo, MNIST) and OOD tasks (PACS photo -> art_painting,
   cartoon, sketch; MNIST -> USPS, MNIST-M) at several fractions of the downstream training data;
   the SVE of ID test features and the LSVR of OOD test features; MLP tuning and NMTune at 100 %.
3. **Report**: ``results.json``, figures in the manner of the paper's Figures 2, 3 and 5, and
   ``claims.md`` stating for each claim whether it reproduced, with the numbers.

Everything is resumable (a finished gamma is skipped, a pre-training run interrupted mid-way resumes
from its last saved epoch), seeded, and shows progress. No hyper-parameter is chosen on test data:
the pre-training recipe and the head presets are fixed before any test number is seen.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:  # run as a script: make `benchmarks.*` and `sknmtune` importable
    sys.path.insert(0, str(_ROOT))

from benchmarks._cifar import DEFAULT_CIFAR_DIR, cifar10_available, load_cifar10  # noqa: E402
from benchmarks._io import atomic_write_text as _atomic_write_text  # noqa: E402
from benchmarks._io import log as _log  # noqa: E402
from benchmarks._io import read_json as _read_json  # noqa: E402
from benchmarks._io import write_json as _write_json  # noqa: E402

# --------------------------------------------------------------------------- configuration

_DEFAULT_RESULTS = _ROOT / "benchmarks" / "results" / "noisy_pretraining"
_DEFAULT_CHECKPOINTS = _ROOT / "benchmarks" / "checkpoints"
_DEFAULT_CACHE = _ROOT / "benchmarks" / "cache"


@dataclasses.dataclass(frozen=True)
class PretrainConfig:
    """Everything that defines one pre-training run except gamma (part of the checkpoint fingerprint)."""

    arch: str
    n_train: int  # balanced CIFAR-10 train subset (50000 = all)
    epochs: int
    batch_size: int
    lr: float  # peak SGD learning rate
    momentum: float
    weight_decay: float
    warmup_epochs: float
    seed: int
    amp: bool  # bf16 autocast (CUDA only)
    channels_last: bool


@dataclasses.dataclass(frozen=True)
class DownstreamConfig:
    """Downstream protocol (part of the downstream fingerprint)."""

    fractions: tuple[float, ...]  # LP training-data fractions
    seeds: tuple[int, ...]  # head seeds (and subsampling seeds)
    lp_preset: str
    mlp_preset: str
    nmtune_preset: str
    pacs_test_fraction: float  # share of PACS photo held out as its ID test set
    mnist_test_fraction: float  # share of MNIST t10k held out as its ID test set
    max_train: int | None  # cap on each downstream training set (None = all)
    head_epochs: int | None  # override of the presets' max_epochs (None = preset value)


_PROFILES: dict[str, dict[str, Any]] = {
    # a few hundred images, 1 epoch, 2 gammas: exercises every code path in seconds
    "tiny": dict(
        pretrain=dict(n_train=320, epochs=1, batch_size=64, lr=0.05, warmup_epochs=0.0),
        gammas=(0, 30),
        downstream=dict(fractions=(0.5, 1.0), seeds=(0,), max_train=160, head_epochs=2),
        test_limit=200,
        ood_limit=100,
    ),
    # 2 CPU cores, whole study <= 90 min (sized from measured throughput, see docs/guide/noisy_pretraining.md)
    "cpu": dict(
        pretrain=dict(n_train=20000, epochs=15, batch_size=128, lr=0.1, warmup_epochs=1.0),
        gammas=(0, 5, 10, 20, 30),
        downstream=dict(fractions=(0.1, 0.5, 1.0), seeds=(0, 1, 2), max_train=None, head_epochs=None),
        test_limit=None,
        ood_limit=None,
    ),
    # one GPU: all 50k images, bf16 autocast, channels_last, data and augmentation on the GPU
    "full": dict(
        pretrain=dict(n_train=50000, epochs=25, batch_size=512, lr=0.2, warmup_epochs=2.0, amp=True, channels_last=True),
        gammas=(0, 5, 10, 20, 30),
        downstream=dict(fractions=(0.1, 0.5, 1.0), seeds=(0, 1, 2), max_train=None, head_epochs=None),
        test_limit=None,
        ood_limit=None,
    ),
}


def _fingerprint(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def checkpoint_path(checkpoint_dir: Path, arch: str, gamma: int) -> Path:
    """Where the backbone pre-trained with ``gamma`` % symmetric noise is saved."""
    return Path(checkpoint_dir) / f"{arch}_noise{int(gamma)}.pt"


# --------------------------------------------------------------------------- pre-training


def _create_model(arch: str, num_classes: int) -> torch.nn.Module:
    import timm

    if arch.startswith("cifar_resnet"):
        import sknmtune.backbones  # noqa: F401  (registers the CIFAR ResNets as timm models)
    return timm.create_model(arch, pretrained=False, num_classes=num_classes)


def _input_normalization(arch: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean/std of ``arch``'s timm data config: what the backbone is trained with, and what the
    downstream ``FrozenBackboneTransformer`` is told to apply (its default for timm models too)."""
    import timm.data

    cfg = timm.data.resolve_model_data_config(_create_model(arch, 10))
    return tuple(float(v) for v in cfg["mean"]), tuple(float(v) for v in cfg["std"])


def _balanced_subset(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of a class-balanced subset of size ``n`` (all rows when ``n >= len(y)``), sorted."""
    if n >= len(y):
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    per = np.full(len(classes), n // len(classes))
    per[: n - per.sum()] += 1
    idx = [rng.permutation(np.flatnonzero(y == c))[:k] for c, k in zip(classes, per)]
    return np.sort(np.concatenate(idx))


def _augment(xb: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """uint8 (B, 32, 32, 3) -> normalised float (B, 3, 32, 32) with 4-px pad random crop and h-flip.

    Runs on whatever device ``xb`` lives on (the GPU in ``--full``), drawing from ``gen``.
    """
    b, h, w, _ = xb.shape
    x = xb.permute(0, 3, 1, 2).float().div_(255.0).sub_(mean).div_(std)
    x = F.pad(x, (4, 4, 4, 4))  # zero after normalisation = the mean colour
    oy = torch.randint(0, 9, (b,), device=xb.device, generator=gen)
    ox = torch.randint(0, 9, (b,), device=xb.device, generator=gen)
    ar = torch.arange(h, device=xb.device)
    rows = (oy[:, None] + ar[None, :])[:, :, None]
    cols = (ox[:, None] + ar[None, :])[:, None, :]
    x = x[torch.arange(b, device=xb.device)[:, None, None], :, rows, cols]  # (B, H, W, C)
    x = x.permute(0, 3, 1, 2)
    flip = torch.rand(b, device=xb.device, generator=gen) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def _to_input(xb: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    return xb.permute(0, 3, 1, 2).float().div_(255.0).sub_(mean).div_(std)


@torch.inference_mode()
def _predict(model, images: torch.Tensor, mean, std, *, batch_size: int, amp: bool, channels_last: bool) -> np.ndarray:
    model.eval()
    out = []
    for i in range(0, len(images), batch_size):
        x = _to_input(images[i : i + batch_size], mean, std)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device_type=images.device.type, dtype=torch.bfloat16, enabled=amp):
            out.append(model(x).argmax(1).cpu())
    return torch.cat(out).numpy()


def _lr_lambda(total_steps: int, warmup_steps: int):
    def f(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))

    return f


def pretrain_one(
    gamma: int,
    cfg: PretrainConfig,
    data: dict[str, np.ndarray],
    *,
    ckpt: Path,
    device: torch.device,
    normalization: tuple[tuple[float, ...], tuple[float, ...]],
    partial_every_s: float = 60.0,
    progress: bool = True,
) -> dict[str, Any]:
    """Pre-train one backbone on CIFAR-10 with ``gamma`` % symmetric label noise; save its state_dict.

    Returns the Table-3 row: clean test accuracy, the accuracy on the (noisy) training labels, and how
    many of the corrupted labels the network fitted (memorisation), plus timing.
    """
    # sknmtune's root is lazy: this loads no skorch (absent on a bare GPU machine)
    from sknmtune.noise import symmetric_label_noise

    t0 = time.perf_counter()
    y_clean = data["y_train"]
    if gamma > 0:
        y_noisy, noisy_mask = symmetric_label_noise(y_clean, gamma / 100.0, random_state=cfg.seed + 1000 * gamma)
    else:
        y_noisy, noisy_mask = y_clean.copy(), np.zeros(len(y_clean), dtype=bool)

    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input shapes: let cuDNN pick the fastest kernels
    torch.manual_seed(cfg.seed)  # same initialisation for every gamma
    model = _create_model(cfg.arch, 10).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    mean_t, std_t = (torch.tensor(v, device=device).view(1, -1, 1, 1) for v in normalization)

    x_train = torch.from_numpy(np.ascontiguousarray(data["x_train"])).to(device)
    y_train = torch.from_numpy(y_noisy.astype(np.int64)).to(device)
    n = len(y_train)
    steps_per_epoch = n // cfg.batch_size  # drop the ragged last batch (stable BN, fixed shapes)
    if steps_per_epoch < 1:
        raise ValueError(f"batch_size={cfg.batch_size} exceeds the {n} training images")
    total = steps_per_epoch * cfg.epochs
    decay, no_decay = [], []
    for p in model.parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    opt = torch.optim.SGD(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr, momentum=cfg.momentum, nesterov=True,
    )
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(total, int(round(cfg.warmup_epochs * steps_per_epoch))))

    partial = ckpt.with_name(ckpt.name + ".partial")
    start_epoch = 0
    if partial.is_file():
        state = torch.load(partial, map_location=device, weights_only=False)
        if state.get("fingerprint") == _fingerprint([dataclasses.asdict(cfg), gamma]):
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["opt"])
            sched.load_state_dict(state["sched"])
            start_epoch = int(state["epoch"])
            _log(f"gamma={gamma}%: resuming from epoch {start_epoch} ({partial.name})")
    last_save = time.perf_counter()

    from tqdm.auto import tqdm

    bar = tqdm(
        total=total, initial=start_epoch * steps_per_epoch, desc=f"pretrain {cfg.arch} gamma={gamma}%",
        unit="step", disable=not progress, mininterval=1.0 if sys.stderr.isatty() else 30.0, file=sys.stderr,
    )
    train_t0, seen = time.perf_counter(), 0
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        gen = torch.Generator(device=device)
        gen.manual_seed(cfg.seed * 100003 + epoch)  # same order and augmentation for every gamma
        perm = torch.randperm(n, device=device, generator=gen)
        loss_sum = torch.zeros((), device=device)
        for s in range(steps_per_epoch):
            idx = perm[s * cfg.batch_size : (s + 1) * cfg.batch_size]
            x = _augment(x_train[idx], mean_t, std_t, gen)
            if cfg.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=cfg.amp):
                loss = F.cross_entropy(model(x), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.detach()
            bar.update(1)
        seen += steps_per_epoch * cfg.batch_size
        mean_loss = float(loss_sum) / steps_per_epoch
        if not math.isfinite(mean_loss):
            raise FloatingPointError(f"gamma={gamma}%: training loss became {mean_loss} at epoch {epoch + 1}")
        _log(f"gamma={gamma}% epoch {epoch + 1}/{cfg.epochs} loss {mean_loss:.4f} lr {sched.get_last_lr()[0]:.4f}")
        if epoch + 1 < cfg.epochs and time.perf_counter() - last_save >= partial_every_s:
            ckpt.parent.mkdir(parents=True, exist_ok=True)
            tmp = partial.with_name(partial.name + ".tmp")
            torch.save(
                {"fingerprint": _fingerprint([dataclasses.asdict(cfg), gamma]), "epoch": epoch + 1,
                 "model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()},
                tmp,
            )
            os.replace(tmp, partial)
            last_save = time.perf_counter()
    bar.close()
    train_s = time.perf_counter() - train_t0

    eval_bs = 1024 if device.type == "cuda" else 500
    x_test = torch.from_numpy(np.ascontiguousarray(data["x_test"])).to(device)
    pred_test = _predict(model, x_test, mean_t, std_t, batch_size=eval_bs, amp=cfg.amp, channels_last=cfg.channels_last)
    pred_train = _predict(model, x_train, mean_t, std_t, batch_size=eval_bs, amp=cfg.amp, channels_last=cfg.channels_last)

    ckpt.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    tmp = ckpt.with_name(ckpt.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, ckpt)
    partial.unlink(missing_ok=True)

    row = {
        "gamma": gamma,
        "clean_test_acc": float(np.mean(pred_test == data["y_test"])),
        "train_acc_noisy_labels": float(np.mean(pred_train == y_noisy)),
        "train_acc_clean_labels": float(np.mean(pred_train == y_clean)),
        "n_corrupted": int(noisy_mask.sum()),
        "memorized_fraction": float(np.mean(pred_train[noisy_mask] == y_noisy[noisy_mask])) if noisy_mask.any() else None,
        "train_seconds": round(train_s, 1),
        "train_images_per_s": round(seen / train_s, 1) if train_s > 0 and seen else None,
        "total_seconds": round(time.perf_counter() - t0, 1),
        "checkpoint": str(ckpt),
        "fingerprint": _fingerprint([dataclasses.asdict(cfg), gamma]),
    }
    _log(
        f"gamma={gamma}%: clean test acc {row['clean_test_acc']:.4f}, train acc (noisy labels) "
        f"{row['train_acc_noisy_labels']:.4f}, memorised {row['memorized_fraction']}, {train_s:.0f}s "
        f"({row['train_images_per_s']} img/s)"
    )
    return row


def run_pretraining(args, cfg: PretrainConfig, gammas, device: torch.device) -> dict[str, Any]:
    """Pre-train every gamma not finished yet; write ``pretraining.json`` after each one."""
    out_path = Path(args.results_dir) / "pretraining.json"
    results = _read_json(out_path)
    if results.get("config") not in (None, dataclasses.asdict(cfg)) and not args.force:
        raise SystemExit(
            f"{out_path} was written with another pre-training config ({results.get('config')}); "
            "use another --results-dir/--checkpoint-dir or pass --force to retrain."
        )
    results.update(
        config=dataclasses.asdict(cfg), data_dir=str(args.data_dir), device=str(device),
        device_name=torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        torch_threads=torch.get_num_threads(),
    )
    mean, std = _input_normalization(cfg.arch)
    results["normalization"] = {"mean": list(mean), "std": list(std)}
    rows = results.setdefault("gammas", {})
    todo = []
    for g in gammas:
        ckpt = checkpoint_path(args.checkpoint_dir, cfg.arch, g)
        done = rows.get(str(g))
        if not args.force and done and done.get("fingerprint") == _fingerprint([dataclasses.asdict(cfg), g]) and ckpt.is_file():
            _log(f"gamma={g}%: already pre-trained ({ckpt.name}, clean test acc {done['clean_test_acc']:.4f}), skipped")
        else:
            todo.append(g)
    if not todo:
        return results

    t0 = time.perf_counter()
    x_train, y_train = load_cifar10("train", data_dir=args.data_dir, cache_dir=args.cache_dir)
    x_test, y_test = load_cifar10("test", data_dir=args.data_dir, cache_dir=args.cache_dir)
    keep = _balanced_subset(y_train, cfg.n_train, cfg.seed)
    data = {"x_train": x_train[keep], "y_train": y_train[keep], "x_test": x_test, "y_test": y_test}
    if args.test_limit:
        keep_test = _balanced_subset(y_test, args.test_limit, cfg.seed)
        data["x_test"], data["y_test"] = x_test[keep_test], y_test[keep_test]
    _log(f"CIFAR-10 loaded in {time.perf_counter() - t0:.1f}s: {len(keep)} train, {len(data['y_test'])} test images")

    for g in todo:
        rows[str(g)] = pretrain_one(
            g, cfg, data, ckpt=checkpoint_path(args.checkpoint_dir, cfg.arch, g), device=device,
            normalization=(mean, std), partial_every_s=args.partial_every_s, progress=not args.no_progress,
        )
        results["gammas"] = dict(sorted(rows.items(), key=lambda kv: int(kv[0])))
        _write_json(out_path, results)
    return results


# --------------------------------------------------------------------------- downstream


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


_HEADS = ("LP", "MLP", "NMTune", "MLP-authors", "NMTune-authors")


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

    from sknmtune import NMTuneClassifier
    from sknmtune.backbones import FrozenBackboneTransformer
    from sknmtune.evaluation import evaluate_heads
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
    _log(f"gamma={gamma}%: features extracted in {feature_s:.0f}s (dim {feats[tasks[0].name]['test'].shape[1]})")

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
            overrides = {"random_state": seed, "device": device}
            if dcfg.head_epochs is not None:
                overrides["max_epochs"] = dcfg.head_epochs
            ood = {k: (feats[t.name][k], y) for k, (_, y) in t.ood.items()}
            head = NMTuneClassifier.from_preset(preset, **overrides)
            scored = evaluate_heads(
                {method: head}, Ftr[keep], t.y_train[keep], id_test=(feats[t.name]["test"], t.y_test),
                ood_tests=ood, seeds=(seed,),
            )
            for target, r in zip([t.name, *ood], scored):  # the ID test first, then the OOD domains in order
                records.append({
                    "gamma": gamma, "noise_rate": gamma / 100.0, "source": t.name, "target": target,
                    "role": r["role"].upper(), "method": method, "preset": preset, "fraction": frac, "seed": seed,
                    "n_train": int(len(keep)), "accuracy": r["accuracy"], "f1": r["macro_f1"],
                    "sve": r["sve_Z"], "lsvr": r["lsvr_Z"], "fit_seconds": round(r["fit_seconds"], 2),
                })
            bar.update(1)
    bar.close()
    return {
        "spectral": spectra, "top_singular_values": top, "records": records,
        "feature_seconds": round(feature_s, 1), "total_seconds": round(time.perf_counter() - t0, 1),
    }


def run_downstream(args, cfg: PretrainConfig, dcfg: DownstreamConfig, gammas, pre: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Downstream analysis for every pre-trained gamma not analysed yet; write ``downstream.json`` after each."""
    out_path = Path(args.results_dir) / "downstream.json"
    results = _read_json(out_path)
    norm = pre.get("normalization") or {}
    mean, std = tuple(norm.get("mean", ())), tuple(norm.get("std", ()))
    results.update(config=dataclasses.asdict(dcfg), authors_seeds=list(args.authors_seeds), arch=cfg.arch)
    done = results.setdefault("gammas", {})
    tasks = None
    for g in gammas:
        row = pre.get("gammas", {}).get(str(g))
        ckpt = checkpoint_path(args.checkpoint_dir, cfg.arch, g)
        if row is None or not ckpt.is_file():
            _log(f"gamma={g}%: no pre-trained checkpoint ({ckpt}); downstream skipped")
            continue
        fp = _fingerprint([dataclasses.asdict(dcfg), list(args.authors_seeds), row["fingerprint"], args.test_limit, args.ood_limit])
        if not args.force and done.get(str(g), {}).get("fingerprint") == fp:
            _log(f"gamma={g}%: downstream already done, skipped")
            continue
        if tasks is None:
            tasks = load_tasks(dcfg, cache_dir=Path(args.cache_dir), ood_limit=args.ood_limit, test_limit=args.test_limit)
            results["tasks"] = {t.name: {"train": len(t.y_train), "test": len(t.y_test), "ood": {k: len(v[1]) for k, v in t.ood.items()}} for t in tasks}
            _log("downstream tasks: " + ", ".join(f"{t.name} ({len(t.y_train)} train / {len(t.y_test)} test; OOD "
                                                   + ", ".join(f"{k} {len(v[1])}" for k, v in t.ood.items()) + ")" for t in tasks))
        res = downstream_one(
            g, ckpt, tasks, dcfg, arch=cfg.arch, mean=mean, std=std, authors_seeds=tuple(args.authors_seeds),
            device=str(device), feature_cache=Path(args.cache_dir) / "features", progress=not args.no_progress,
        )
        res["fingerprint"] = fp
        done[str(g)] = res
        results["gammas"] = dict(sorted(done.items(), key=lambda kv: int(kv[0])))
        _write_json(out_path, results)
        _log(f"gamma={g}%: downstream done in {res['total_seconds']:.0f}s")
    return results


# --------------------------------------------------------------------------- report: aggregates, figures, claims


def _seed_stats(values_by_seed: dict[int, list[float]]) -> tuple[float, float, int]:
    """Mean and std (ddof=0) over seeds of the per-seed means."""
    per_seed = [float(np.mean(v)) for v in values_by_seed.values() if v]
    if not per_seed:
        return float("nan"), float("nan"), 0
    return float(np.mean(per_seed)), float(np.std(per_seed)), len(per_seed)


def _avg(records, *, method: str, role: str, metric: str, fraction: float | None = None) -> dict[int, tuple[float, float, int]]:
    """gamma -> (mean, std over seeds, n_seeds) of ``metric`` averaged over the role's targets (and fractions)."""
    by_gamma: dict[int, dict[int, list[float]]] = {}
    for r in records:
        if r["method"] == method and r["role"] == role and (fraction is None or abs(r["fraction"] - fraction) < 1e-9):
            by_gamma.setdefault(int(r["gamma"]), {}).setdefault(int(r["seed"]), []).append(float(r[metric]))
    return {g: _seed_stats(v) for g, v in sorted(by_gamma.items())}


def _frozen_metric(down: dict[str, Any], role: str, metric: str) -> dict[int, float]:
    """gamma -> mean over the role's test sets of a frozen-feature spectral metric."""
    return {int(g): float(np.mean([s[metric] for s in d["spectral"] if s["role"] == role])) for g, d in down.items()}


def _spearman(x, y) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic) if len(x) > 2 else float("nan")


def summarize(pre: dict[str, Any], down: dict[str, Any]) -> dict[str, Any]:
    """Seed-averaged tables the figures and claims are built from."""
    records = [r for d in down.values() for r in d["records"]]
    methods = [m for m in _HEADS if any(r["method"] == m for r in records)]
    fractions = sorted({r["fraction"] for r in records if r["method"] == "LP"})
    out: dict[str, Any] = {
        "table3": {int(g): row["clean_test_acc"] for g, row in pre.get("gammas", {}).items()},
        "memorized": {int(g): row.get("memorized_fraction") for g, row in pre.get("gammas", {}).items()},
        "sve_id": _frozen_metric(down, "ID", "sve"),
        "lsvr_ood": _frozen_metric(down, "OOD", "lsvr"),
        "sve_ood": _frozen_metric(down, "OOD", "sve"),
        "lsvr_id": _frozen_metric(down, "ID", "lsvr"),
        "lp_by_fraction": {
            role: {str(f): _avg(records, method="LP", role=role, metric="accuracy", fraction=f) for f in fractions}
            for role in ("ID", "OOD")
        },
        "lp_all_fractions": {role: _avg(records, method="LP", role=role, metric="accuracy") for role in ("ID", "OOD")},
        "heads": {
            m: {role: {metric: _avg(records, method=m, role=role, metric=metric, fraction=1.0) for metric in ("accuracy", "f1", "sve", "lsvr")}
                for role in ("ID", "OOD")}
            for m in methods
        },
    }
    return out


def _pct(v: float) -> str:
    return f"{100 * v:.2f}"


def _series(d: dict[int, tuple[float, float, int]], fmt=_pct) -> str:
    return ", ".join(f"{g}%: {fmt(m)}" + (f"±{fmt(s)}" if n > 1 else "") for g, (m, s, n) in d.items())


def _plain(d: dict[int, float], digits: int = 4) -> str:
    return ", ".join(f"{g}%: {v:.{digits}f}" for g, v in d.items())


def _verdict(ok: bool | None) -> str:
    return "n/a (see note)" if ok is None else ("**reproduced**" if ok else "**not reproduced**")


def _per_fraction(summary: dict[str, Any], role: str, diff, what: str) -> str:
    """``diff`` (a function of one fraction's gamma -> stats table) for each LP data fraction, in points."""
    parts = []
    for frac, d in summary["lp_by_fraction"][role].items():
        if 0 in d and len(d) > 1:
            parts.append(f"{100 * float(frac):.0f}% data: {100 * diff(d):+.2f}")
    return f"{what} per data fraction: " + ", ".join(parts)


def build_claims(summary: dict[str, Any]) -> list[dict[str, str]]:
    """Claim-by-claim verdicts. Each claim states the paper's finding, the test applied here and the numbers."""
    claims: list[dict[str, str]] = []

    def add(ref: str, claim: str, test: str, numbers: str, ok: bool | None, note: str = "") -> None:
        claims.append({"ref": ref, "claim": claim, "test": test, "numbers": numbers, "verdict": _verdict(ok), "note": note})

    t3 = dict(sorted(summary["table3"].items()))
    g = list(t3)
    if len(g) >= 2:
        acc = [t3[k] for k in g]
        add("Table 3", "Clean test accuracy of the pre-trained model falls as pre-training noise rises",
            "strictly decreasing over gamma", ", ".join(f"{k}%: {_pct(v)}" for k, v in t3.items()),
            all(a > b for a, b in zip(acc, acc[1:])))

    for role in ("ID", "OOD"):
        lp = summary["lp_all_fractions"].get(role, {})
        if 0 not in lp or len(lp) < 2:
            continue
        base, base_sd = lp[0][0], lp[0][1]
        slight = {k: lp[k] for k in (5, 10) if k in lp}
        if role == "ID":
            if slight:
                best_k = max(slight, key=lambda k: slight[k][0])
                best = slight[best_k][0]
                add("Fig. 2 (ID)", "Slight pre-training noise (5% or 10%) improves ID linear probing over the clean model",
                    "max(LP acc at 5%, 10%) > LP acc at 0% (mean over ID tasks, fractions; ± = std over head seeds)",
                    _series(lp), best > base, f"difference {100 * (best - base):+.2f} pts (gamma={best_k}%); "
                    + _per_fraction(summary, role, lambda d: max(d[k][0] for k in (5, 10) if k in d) - d[0][0], "best of 5/10% minus 0%"))
                high = [k for k in lp if k > 10]
                if high:
                    worst = lp[max(high)][0]
                    add("Fig. 2 (ID)", "More noise then hurts ID transfer",
                        f"LP acc at {max(high)}% < max(LP acc at 5%, 10%)", _series(lp), worst < best,
                        f"difference {100 * (worst - best):+.2f} pts")
        else:
            noisy = {k: v for k, v in lp.items() if k > 0}
            add("Fig. 2 (OOD)", "Any pre-training noise hurts OOD transfer (even 5%)",
                "LP acc at every gamma > 0 < LP acc at 0% (mean over OOD targets, fractions)",
                _series(lp), all(v[0] < base for v in noisy.values()),
                "differences to 0%: " + ", ".join(f"{k}%: {100 * (v[0] - base):+.2f}" for k, v in noisy.items()) + "; "
                + _per_fraction(summary, role, lambda d: max(v[0] for k, v in d.items() if k > 0) - d[0][0], "best noisy minus 0%"))
            if len(lp) >= 3:
                xs = list(lp)
                rho = _spearman(xs, [lp[k][0] for k in xs])
                add("Fig. 2 (OOD)", "OOD robustness decreases steadily as noise increases",
                    "Spearman rho(gamma, LP OOD acc) <= -0.9", _series(lp), rho <= -0.9 + 1e-9, f"rho = {rho:+.2f}")

    sve = dict(sorted(summary["sve_id"].items()))
    if 0 in sve and len(sve) >= 3:
        xs = list(sve)
        rho = _spearman(xs, [sve[k] for k in xs])
        add("Fig. 3 (ID)", "SVE of ID test features rises with pre-training noise",
            "Spearman rho(gamma, SVE) > 0 and SVE at 5% or 10% > SVE at 0% (raw features, Def. 2.1, mean over ID tasks)",
            _plain(sve), rho > 0 and any(sve.get(k, -np.inf) > sve[0] for k in (5, 10)),
            f"rho = {rho:+.2f}; peak at gamma={max(sve, key=sve.get)}%")
    lsvr = dict(sorted(summary["lsvr_ood"].items()))
    if 0 in lsvr and len(lsvr) >= 3:
        xs = list(lsvr)
        rho = _spearman(xs, [lsvr[k] for k in xs])
        add("Fig. 3 (OOD)", "LSVR of OOD test features rises with pre-training noise (dominant singular value shrinks)",
            "Spearman rho(gamma, LSVR) > 0 and LSVR at every gamma > 0 above LSVR at 0% (mean over OOD targets)",
            _plain(lsvr), rho > 0 and all(v > lsvr[0] for k, v in lsvr.items() if k > 0),
            f"rho = {rho:+.2f}; peak at gamma={max(lsvr, key=lsvr.get)}%")

    heads = summary["heads"]
    for mlp, nmt in (("MLP", "NMTune"), ("MLP-authors", "NMTune-authors")):
        if not all(m in heads for m in ("LP", mlp, nmt)):
            continue
        tag = "" if nmt == "NMTune" else " [authors' configuration]"
        for role in ("ID", "OOD"):
            means = {m: float(np.mean([v[0] for v in heads[m][role]["f1"].values()])) for m in ("LP", mlp, nmt)}
            add("Fig. 5" + (" (a)" if role == "ID" else " (c)"), f"{role} macro-F1: NMTune > MLP > LP{tag}",
                "mean over gammas and seeds at 100% data",
                ", ".join(f"{m}: {_pct(v)}" for m, v in means.items()), means[nmt] > means[mlp] > means["LP"],
                "per gamma NMTune-MLP: " + ", ".join(
                    f"{k}%: {100 * (heads[nmt][role]['f1'][k][0] - heads[mlp][role]['f1'][k][0]):+.2f}" for k in heads[nmt][role]["f1"]))
        f1 = heads[nmt]["ID"]["f1"]
        if 0 in f1 and len(f1) >= 2:
            best_noisy = max((v[0], k) for k, v in f1.items() if k > 0)
            lp_f1 = heads["LP"]["ID"]["f1"]
            lp_clean_best = 0 in lp_f1 and all(lp_f1[0][0] >= v[0] for k, v in lp_f1.items() if k > 0)
            add("Fig. 5 (a)", f"With NMTune the clean backbone is best on ID again (noise effect rectified){tag}",
                "NMTune ID F1 at 0% >= NMTune ID F1 at every gamma > 0, where LP (100%) has a noisy backbone ahead",
                f"NMTune: {_series(f1)}; LP (100%): {_series(lp_f1)}", None if lp_clean_best else f1[0][0] >= best_noisy[0],
                f"0% minus best noisy ({best_noisy[1]}%): {100 * (f1[0][0] - best_noisy[0]):+.2f} pts"
                + ("; not testable: LP at 100% data already ranks the clean backbone first, so there is no noise "
                   "benefit to rectify" if lp_clean_best else ""))
        mf1 = heads[mlp]["ID"]["f1"]
        if 0 in mf1 and 5 in mf1:
            add("Fig. 5 (a)", f"MLP tuning alone does not remove the effect: the 5% model beats the clean one{tag}",
                "MLP ID F1 at 5% > at 0%", _series(mf1), mf1[5][0] > mf1[0][0], f"{100 * (mf1[5][0] - mf1[0][0]):+.2f} pts")
        of1, lof1 = heads[nmt]["OOD"]["f1"], heads["LP"]["OOD"]["f1"]
        if all(k in d for d in (of1, lof1) for k in (0, 5)):
            gap_n, gap_l = of1[0][0] - of1[5][0], lof1[0][0] - lof1[5][0]
            add("Fig. 5 (c)", f"NMTune narrows the OOD gap between the clean and the 5% model{tag}",
                "abs(F1(0%) - F1(5%)) smaller with NMTune than with LP (100%)",
                f"gap NMTune {100 * gap_n:+.2f} pts, LP {100 * gap_l:+.2f} pts", abs(gap_n) < abs(gap_l),
                "the LP gap has the paper's sign (clean ahead)" if gap_l > 0 else
                "the LP gap has the opposite sign to the paper's: under LP the 5% model is ahead OOD here")
        sve_m = {m: float(np.mean([v[0] for v in heads[m]["ID"]["sve"].values()])) for m in ("LP", mlp, nmt)}
        add("Fig. 5 (b)", f"NMTune gives a larger (flatter) SVE of Z on ID than MLP and LP{tag}",
            "mean SVE(Z) over gammas and seeds", ", ".join(f"{m}: {v:.4f}" for m, v in sve_m.items()),
            sve_m[nmt] > sve_m[mlp] and sve_m[nmt] > sve_m["LP"])
        add("Fig. 5 (b)", f"MLP tuning gives a smaller SVE of Z on ID than LP{tag}", "mean SVE(Z): MLP < LP",
            ", ".join(f"{m}: {v:.4f}" for m, v in sve_m.items()), sve_m[mlp] < sve_m["LP"])
        lsvr_m = {m: float(np.mean([v[0] for v in heads[m]["OOD"]["lsvr"].values()])) for m in ("LP", mlp, nmt)}
        add("Fig. 5 (d)", f"NMTune gives a smaller LSVR of Z on OOD than MLP (larger dominant singular value){tag}",
            "mean LSVR(Z) over gammas and seeds: NMTune < MLP", ", ".join(f"{m}: {v:.4f}" for m, v in lsvr_m.items()),
            lsvr_m[nmt] < lsvr_m[mlp])
        add("Fig. 5 (d)", f"MLP tuning gives a larger LSVR of Z on OOD than LP{tag}", "mean LSVR(Z): MLP > LP",
            ", ".join(f"{m}: {v:.4f}" for m, v in lsvr_m.items()), lsvr_m[mlp] > lsvr_m["LP"])
    return claims


def _claims_markdown(claims, summary, pre, down, meta) -> str:
    lines = ["# Noisy pre-training study: claims table", ""]
    lines += [f"Generated by `benchmarks/noisy_pretraining.py` ({meta['profile']} profile). {meta['setup']}", ""]
    lines += ["## Pre-trained backbones (analogue of the paper's Table 3)", "",
              "| noise gamma | clean CIFAR-10 test acc (%) | train acc on its noisy labels (%) | corrupted labels fitted (%) | train time (s) | img/s |",
              "|---|---|---|---|---|---|"]
    for g, row in sorted(pre.get("gammas", {}).items(), key=lambda kv: int(kv[0])):
        mem = row.get("memorized_fraction")
        lines.append(f"| {g}% | {_pct(row['clean_test_acc'])} | {_pct(row['train_acc_noisy_labels'])} | "
                     f"{'-' if mem is None else _pct(mem)} | {row['train_seconds']} | {row['train_images_per_s']} |")
    lines += ["", "## Claims", "", "| # | paper | claim | test here | numbers | verdict | note |", "|---|---|---|---|---|---|---|"]
    for i, c in enumerate(claims, 1):
        cells = [str(i)] + [c[k].replace("|", "\\|") for k in ("ref", "claim", "test", "numbers", "verdict", "note")]
        lines.append("| " + " | ".join(cells) + " |")
    lines += _details_markdown(summary, down)
    n_ok = sum(c["verdict"] == "**reproduced**" for c in claims)
    n_na = sum(c["verdict"].startswith("n/a") for c in claims)
    lines += ["", f"{n_ok} of {len(claims) - n_na} testable claims reproduced at this scale"
              + (f" ({n_na} not testable)." if n_na else "."), ""]
    lines += ["Caveats: one pre-training run per gamma (run-to-run variance of pre-training is not measured; "
              "the ± are over downstream head seeds only, which also redraw the LP training subsets); "
              "small downstream test sets (see the task sizes above); verdicts are the sign of a difference of means, "
              "compare the margins with the ± before reading much into a small one.", ""]
    return "\n".join(lines)


def _details_markdown(summary: dict[str, Any], down: dict[str, Any]) -> list[str]:
    """Per-test-set tables behind the claims: LP accuracy (100% data), frozen SVE/LSVR, heads' F1."""
    gam = sorted(int(g) for g in down)
    if not gam:
        return []
    head = "| test set | role | " + " | ".join(f"{g}%" for g in gam) + " |"
    sep = "|---|---|" + "---|" * len(gam)
    records = [r for d in down.values() for r in d["records"]]
    targets = list(dict.fromkeys((r["target"], r["role"]) for r in records))
    out = ["", "## Details", "", "LP accuracy (%) at 100% of the downstream training data (mean over head seeds):", "", head, sep]
    for t, role in targets:
        cells = []
        for g in gam:
            v = [r["accuracy"] for r in records if r["method"] == "LP" and r["fraction"] == 1.0 and r["gamma"] == g and r["target"] == t]
            cells.append(_pct(float(np.mean(v))) if v else "-")
        out.append(f"| {t} | {role} | " + " | ".join(cells) + " |")
    out += ["", "SVE / LSVR of the frozen test features (raw matrix, Definitions 2.1 and 2.2; centred values in downstream.json):",
            "", head, sep]
    for t, role in targets:
        cells = []
        for g in gam:
            s = next((x for x in down[str(g)]["spectral"] if x["target"] == t), None)
            cells.append("-" if s is None else f"{s['sve']:.3f} / {s['lsvr']:.3f}")
        out.append(f"| {t} | {role} | " + " | ".join(cells) + " |")
    out += ["", "Macro-F1 (%) of each head at 100% data, mean over the role's test sets and head seeds:", "",
            "| head | role | " + " | ".join(f"{g}%" for g in gam) + " |", sep]
    for m, by_role in summary["heads"].items():
        for role in ("ID", "OOD"):
            f1 = by_role[role]["f1"]
            out.append(f"| {m} | {role} | " + " | ".join(
                (_pct(f1[g][0]) + (f" ±{_pct(f1[g][1])}" if f1[g][2] > 1 else "")) if g in f1 else "-" for g in gam) + " |")
    return out + [""]


def _make_figures(summary: dict[str, Any], down: dict[str, Any], results_dir: Path) -> list[str]:
    """Fig. 2, 3, 5 analogues (and the normalized spectra, Fig. 11-14) as PNGs; returns the file names."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        _log("matplotlib is absent: figures skipped")
        return []
    from sknmtune.plotting import plot_accuracy_vs_noise, plot_metric_vs_noise, plot_spectrum

    written = []
    records = [r for d in down.values() for r in d["records"]]

    # Fig. 2: LP accuracy vs gamma, one line per data fraction; per seed the mean over the role's targets.
    recs = [
        {"method": f"LP {100 * frac:.0f}% data", "role": role, "noise_rate": g / 100, "accuracy": float(np.mean([r["accuracy"] for r in rs]))}
        for (g, seed, frac, role), rs in _group(records, ("gamma", "seed", "fraction", "role"), method="LP").items()
    ]
    if recs:
        fig = Figure(figsize=(9, 3.6), layout="constrained")
        ax = fig.subplots(1, 2)
        for a, role in zip(ax, ("ID", "OOD")):
            plot_accuracy_vs_noise(recs, roles=[role], ax=a)
            a.set_title(f"{role}: linear probing (mean over {role} test sets)")
        fig.savefig(results_dir / "fig2_accuracy_vs_noise.png", dpi=120)
        written.append("fig2_accuracy_vs_noise.png")

    # Fig. 3: SVE of ID test features, LSVR of OOD test features, per test set.
    rates = sorted(int(g) for g in down)
    if len(rates) >= 2:
        fig = Figure(figsize=(9, 3.6), layout="constrained")
        ax = fig.subplots(1, 2)
        for a, role, metric in zip(ax, ("ID", "OOD"), ("sve", "lsvr")):
            targets = sorted({s["target"] for d in down.values() for s in d["spectral"] if s["role"] == role})
            values = {t: np.array([next(s[metric] for s in down[str(g)]["spectral"] if s["target"] == t) for g in rates])
                      for t in targets}
            # test sets differ a lot in absolute level: plot the change from the lowest gamma (the absolute
            # values are in claims.md / downstream.json)
            values = {t: v - v[0] for t, v in values.items()}
            plot_metric_vs_noise([g / 100 for g in rates], values, metric=f"{metric.upper()} - {metric.upper()}(gamma={rates[0]}%)", ax=a)
            a.axhline(0.0, color="0.5", lw=0.8)
            a.set_title(f"{role} test features: change of {metric.upper()}")
        fig.savefig(results_dir / "fig3_spectral_vs_noise.png", dpi=120)
        written.append("fig3_spectral_vs_noise.png")

    # Fig. 5: heads at 100% data: F1 and SVE(Z) on ID, F1 and LSVR(Z) on OOD.
    recs = [
        {"method": method, "role": role, "noise_rate": g / 100, **{m: float(np.mean([r[m] for r in rs])) for m in ("f1", "sve", "lsvr")}}
        for (g, seed, method, role), rs in _group(records, ("gamma", "seed", "method", "role"), fraction=1.0).items()
    ]
    if recs:
        fig = Figure(figsize=(16, 3.8), layout="constrained")
        ax = fig.subplots(1, 4)
        for a, role, metric, title in zip(ax, ("ID", "ID", "OOD", "OOD"), ("f1", "sve", "f1", "lsvr"),
                                          ("(a) ID macro-F1", "(b) ID SVE of Z", "(c) OOD macro-F1", "(d) OOD LSVR of Z")):
            plot_accuracy_vs_noise(recs, metric=metric, roles=[role], ax=a)
            a.set_title(title)
        fig.savefig(results_dir / "fig5_heads_vs_noise.png", dpi=120)
        written.append("fig5_heads_vs_noise.png")

    # Normalized singular value spectra of the frozen features (paper, Fig. 11-14), one panel row per test set kind.
    first = next(iter(down.values()), None)
    if first:
        targets = list(first["top_singular_values"])
        id_t = [t for t in targets if any(s["target"] == t and s["role"] == "ID" for s in first["spectral"])][:1]
        ood_t = [t for t in targets if t not in id_t][:1]
        fig = Figure(figsize=(9, 6.4), layout="constrained")
        ax = fig.subplots(2, 2)
        for row, t in zip(ax, id_t + ood_t):
            sv = {f"gamma={g}%": np.asarray(d["top_singular_values"][t]) for g, d in down.items()}
            plot_spectrum(singular_values=sv, groups=(10,), normalize=False, ax=row)
            row[0].set_title(f"{t}: singular values 1-10")
            row[0].set_ylabel("sigma_i / sum_j sigma_j")
        fig.savefig(results_dir / "fig_spectra.png", dpi=120)
        written.append("fig_spectra.png")
    return written


def _group(records, keys: tuple[str, ...], **where) -> dict[tuple, list[dict[str, Any]]]:
    """Records matching ``where``, grouped by the values of ``keys`` (to average over test sets)."""
    out: dict[tuple, list[dict[str, Any]]] = {}
    for r in records:
        if all(r[k] == v for k, v in where.items()):
            out.setdefault(tuple(r[k] for k in keys), []).append(r)
    return out


def write_report(args, profile: str) -> dict[str, Any]:
    """results.json (summary + claims), claims.md and figures from pretraining.json / downstream.json."""
    results_dir = Path(args.results_dir)
    pre = _read_json(results_dir / "pretraining.json")
    down_all = _read_json(results_dir / "downstream.json")
    down = down_all.get("gammas", {})
    summary = summarize(pre, down)
    claims = build_claims(summary)
    cfg = pre.get("config", {})
    setup = (f"Backbone `{cfg.get('arch')}` pre-trained at 32x32 on {cfg.get('n_train')} CIFAR-10 (JPEG-75) train images for "
             f"{cfg.get('epochs')} epochs per noise ratio (SGD, cosine, crop+flip) on {pre.get('device_name', pre.get('device'))}; "
             f"downstream heads = sknmtune presets ({down_all.get('config', {}).get('lp_preset')}, "
             f"{down_all.get('config', {}).get('mlp_preset')}, {down_all.get('config', {}).get('nmtune_preset')}; "
             f"authors' pair with seeds {down_all.get('authors_seeds')}), head seeds {down_all.get('config', {}).get('seeds')}.")
    tasks = down_all.get("tasks", {})
    meta = {"profile": profile, "setup": setup + " Tasks: " + "; ".join(
        f"{name}: {t['train']} train / {t['test']} ID test, OOD " + ", ".join(f"{k} {n}" for k, n in t["ood"].items())
        for name, t in tasks.items()) + "."}
    figures = _make_figures(summary, down, results_dir) if down else []
    md = _claims_markdown(claims, summary, pre, down, meta)
    _atomic_write_text(results_dir / "claims.md", md)
    out = {"profile": profile, "summary": _jsonable(summary), "claims": claims, "figures": figures}
    _write_json(results_dir / "results.json", out)
    return out


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


# --------------------------------------------------------------------------- command line


def _parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Noisy pre-training study (paper Section 2 + Fig. 5) at small scale. Default: CPU-sized.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    size = p.add_mutually_exclusive_group()
    size.add_argument("--tiny", action="store_true", help="smoke run: a few hundred images, 1 epoch, 2 gammas")
    size.add_argument("--full", action="store_true", help="GPU sizing: all 50k images, bf16, channels_last, data on the GPU")
    p.add_argument("--arch", default="resnet18", help="timm architecture (e.g. cifar_resnet20)")
    p.add_argument("--gammas", type=int, nargs="+", help="noise ratios in percent (profile default: 0 5 10 20 30)")
    p.add_argument("--seed", type=int, default=0, help="pre-training seed (init, batch order, augmentation, noise)")
    p.add_argument("--epochs", type=int, help="pre-training epochs (profile default)")
    p.add_argument("--n-train", type=int, help="CIFAR-10 train images, class-balanced (profile default)")
    p.add_argument("--batch-size", type=int, help="pre-training batch size (profile default)")
    p.add_argument("--lr", type=float, help="peak SGD learning rate (profile default)")
    p.add_argument("--seeds", type=int, nargs="+", help="downstream head seeds (profile default)")
    p.add_argument("--authors-seeds", type=int, nargs="*", help="seeds for the authors'-configuration MLP/NMTune pair "
                   "(slow on CPU; default: the first head seed on CPU, all on GPU; empty list to skip)")
    p.add_argument("--fractions", type=float, nargs="+", help="LP training-data fractions (profile default)")
    p.add_argument("--data-dir", default=str(DEFAULT_CIFAR_DIR), help="folder holding train_jpg.zip and test_jpg.zip")
    p.add_argument("--results-dir", help="where JSON, figures and claims.md go")
    p.add_argument("--checkpoint-dir", help="where <arch>_noise<gamma>.pt state dicts go")
    p.add_argument("--cache-dir", default=str(_DEFAULT_CACHE), help="decoded datasets and feature cache")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, ...")
    p.add_argument("--threads", type=int, help="torch/BLAS threads; default 1 on CPU (robust when cores are shared: "
                   "oversubscribed threads ran ~10x slower in our measurements), torch's default on a GPU; 0 = torch default")
    p.add_argument("--skip-pretraining", action="store_true", help="use existing checkpoints only")
    p.add_argument("--skip-downstream", action="store_true", help="pre-training only (needs no skorch)")
    p.add_argument("--report-only", action="store_true", help="only rebuild figures and claims from the JSON files")
    p.add_argument("--force", action="store_true", help="redo finished gammas")
    p.add_argument("--partial-every-s", type=float, default=60.0, help="save a resumable pre-training state this often")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bars (epoch lines are still printed)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    """Run the study; returns a process exit code (0 done, 2 data absent)."""
    args = _parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)
    profile = "tiny" if args.tiny else "full" if args.full else "cpu"
    prof = _PROFILES[profile]
    sub = {"cpu": "", "full": "full", "tiny": "tiny"}[profile]
    if args.results_dir is None:
        args.results_dir = str(_DEFAULT_CACHE / "noisy_pretraining_tiny" if profile == "tiny" else _DEFAULT_RESULTS / sub)
    if args.checkpoint_dir is None:
        args.checkpoint_dir = str(_DEFAULT_CHECKPOINTS / sub)
    threads_before, limiter = torch.get_num_threads(), None
    if args.threads is None:
        args.threads = 0 if (args.full or (args.device != "cpu" and torch.cuda.is_available())) else 1
    if args.threads > 0:  # torch and the BLAS behind NumPy's SVDs (oversubscribed BLAS threads crawl on shared cores)
        torch.set_num_threads(args.threads)
        try:
            from threadpoolctl import threadpool_limits

            limiter = threadpool_limits(limits=args.threads)
        except ImportError:
            pass
    try:
        return _run(args, profile, prof)
    finally:  # leave the caller's process as it was (the smoke test calls main() in-process)
        torch.set_num_threads(threads_before)
        if limiter is not None:
            limiter.restore_original_limits()


def _run(args: argparse.Namespace, profile: str, prof: dict[str, Any]) -> int:
    args.test_limit, args.ood_limit = prof["test_limit"], prof["ood_limit"]
    Path(args.results_dir).mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()

    from sknmtune._utils import resolve_device

    device = resolve_device(args.device)
    if profile == "full" and device.type != "cuda":
        _log(f"--full is sized for a GPU but runs on {device}")
    pc = dict(prof["pretrain"])
    for k in ("epochs", "n_train", "batch_size", "lr"):
        if getattr(args, k) is not None:
            pc[k] = getattr(args, k)
    cuda = device.type == "cuda"
    cfg = PretrainConfig(
        arch=args.arch, n_train=pc["n_train"], epochs=pc["epochs"], batch_size=pc["batch_size"], lr=pc["lr"],
        momentum=0.9, weight_decay=5e-4, warmup_epochs=pc["warmup_epochs"], seed=args.seed,
        amp=bool(pc.get("amp", False)) and cuda, channels_last=bool(pc.get("channels_last", False)) and cuda,
    )
    gammas = tuple(args.gammas) if args.gammas else prof["gammas"]
    dc = dict(prof["downstream"])
    if args.seeds:
        dc["seeds"] = tuple(args.seeds)
    if args.fractions:
        dc["fractions"] = tuple(sorted(args.fractions))
    dcfg = DownstreamConfig(lp_preset="lp", mlp_preset="mlp", nmtune_preset="nmtune-paper",
                            pacs_test_fraction=0.4, mnist_test_fraction=0.8, **dc)
    if args.authors_seeds is None:
        args.authors_seeds = list(dcfg.seeds if cuda else dcfg.seeds[:1])
    _log(f"profile={profile} device={device} threads={torch.get_num_threads()} arch={cfg.arch} gammas={list(gammas)} "
         f"results={args.results_dir} checkpoints={args.checkpoint_dir}")

    if not args.report_only:
        if args.skip_pretraining:
            pre = _read_json(Path(args.results_dir) / "pretraining.json")
        else:
            if not cifar10_available(args.data_dir):
                print(f"CIFAR-10 zips not found in {args.data_dir} (train_jpg.zip, test_jpg.zip); nothing to do.", flush=True)
                return 2
            pre = run_pretraining(args, cfg, gammas, device)
        if not args.skip_downstream:
            from benchmarks.datasets import DatasetUnavailable

            try:
                run_downstream(args, cfg, dcfg, gammas, pre, device)
            except DatasetUnavailable as exc:
                print(f"downstream data absent ({exc}); downstream skipped.", flush=True)
                return 2
    if not args.skip_downstream:
        report = write_report(args, profile)
        for c in report["claims"]:
            _log(f"{c['verdict']:>20}  {c['ref']}: {c['claim']}  [{c['numbers']}]")
    wall = time.perf_counter() - t_start
    if args.report_only:
        _log(f"report rebuilt in {wall:.0f}s; results in {args.results_dir}")
        return 0
    timing_path = Path(args.results_dir) / "timing.json"
    timing = _read_json(timing_path)
    timing.setdefault("invocations", []).append({
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() - wall)), "wall_seconds": round(wall, 1),
        "argv": args.argv, "threads": torch.get_num_threads(),
    })
    _write_json(timing_path, timing)
    _log(f"done in {wall / 60:.1f} min; results in {args.results_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
