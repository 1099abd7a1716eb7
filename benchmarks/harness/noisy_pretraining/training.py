"""Pre-training of the noisy pre-training study (``python -m benchmarks.noisy_pretraining``): configurations, checkpoints,
one backbone per noise ratio through :func:`sknmtune.pretraining.train_epochs` (per-epoch generators, GPU-side
augmentation, warm-up + cosine schedule, bf16, channels-last, resuming from a partial checkpoint).
"""

from __future__ import annotations

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

from benchmarks.harness.io import log, read_json, write_json
from benchmarks.harness.noisy_pretraining.cifar10 import load_cifar10

__all__ = ["DownstreamConfig", "PretrainConfig", "augment", "checkpoint_path", "create_model", "fingerprint",
           "run_pretraining", "to_input"]

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


def fingerprint(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def checkpoint_path(checkpoint_dir: Path, arch: str, gamma: int) -> Path:
    """Where the backbone pre-trained with ``gamma`` % symmetric noise is saved."""
    return Path(checkpoint_dir) / f"{arch}_noise{int(gamma)}.pt"


# --------------------------------------------------------------------------- pre-training


def create_model(arch: str, num_classes: int) -> torch.nn.Module:
    import timm

    if arch.startswith("cifar_resnet"):
        import sknmtune.backbones  # noqa: F401  (registers the CIFAR ResNets as timm models)
    return timm.create_model(arch, pretrained=False, num_classes=num_classes)


def input_normalization(arch: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean/std of ``arch``'s timm data config: what the backbone is trained with, and what the
    downstream ``FrozenBackboneTransformer`` is told to apply (its default for timm models too)."""
    import timm.data

    cfg = timm.data.resolve_model_data_config(create_model(arch, 10))
    return tuple(float(v) for v in cfg["mean"]), tuple(float(v) for v in cfg["std"])


def balanced_subset(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of a class-balanced subset of size ``n`` (all rows when ``n >= len(y)``), sorted."""
    if n >= len(y):
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    per = np.full(len(classes), n // len(classes))
    per[: n - per.sum()] += 1
    idx = [rng.permutation(np.flatnonzero(y == c))[:k] for c, k in zip(classes, per)]
    return np.sort(np.concatenate(idx))


def augment(xb: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
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


def to_input(xb: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    return xb.permute(0, 3, 1, 2).float().div_(255.0).sub_(mean).div_(std)


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
    model = create_model(cfg.arch, 10).to(device)
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
        if state.get("fingerprint") == fingerprint([dataclasses.asdict(cfg), gamma]):
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["opt"])
            sched.load_state_dict(state["sched"])
            start_epoch = int(state["epoch"])
            log(f"gamma={gamma}%: resuming from epoch {start_epoch} ({partial.name})")
    last_save = time.perf_counter()

    from tqdm.auto import tqdm

    from sknmtune.pretraining import predict_labels, train_epochs

    bar = tqdm(
        total=total, initial=start_epoch * steps_per_epoch, desc=f"pretrain {cfg.arch} gamma={gamma}%",
        unit="step", disable=not progress, mininterval=1.0 if sys.stderr.isatty() else 30.0, file=sys.stderr,
    )

    def on_epoch(epoch: int, mean_loss: float) -> None:
        nonlocal last_save
        log(f"gamma={gamma}% epoch {epoch + 1}/{cfg.epochs} loss {mean_loss:.4f} lr {sched.get_last_lr()[0]:.4f}")
        if epoch + 1 < cfg.epochs and time.perf_counter() - last_save >= partial_every_s:
            ckpt.parent.mkdir(parents=True, exist_ok=True)
            tmp = partial.with_name(partial.name + ".tmp")
            torch.save(
                {"fingerprint": fingerprint([dataclasses.asdict(cfg), gamma]), "epoch": epoch + 1,
                 "model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()},
                tmp,
            )
            os.replace(tmp, partial)
            last_save = time.perf_counter()

    train_t0 = time.perf_counter()
    # same order and augmentation for every gamma: one generator per epoch, seeded by the run seed and the epoch
    train_epochs(model, x_train, y_train, opt, epochs=cfg.epochs, batch_size=cfg.batch_size,
                 generator=lambda e: torch.Generator(device=device).manual_seed(cfg.seed * 100003 + e),
                 scheduler=sched, augment=lambda xb, g: augment(xb, mean_t, std_t, g), drop_last=True, amp=cfg.amp,
                 channels_last=cfg.channels_last, start_epoch=start_epoch, on_step=bar.update, on_epoch=on_epoch)
    seen = (cfg.epochs - start_epoch) * steps_per_epoch * cfg.batch_size
    bar.close()
    train_s = time.perf_counter() - train_t0

    eval_bs = 1024 if device.type == "cuda" else 500
    x_test = torch.from_numpy(np.ascontiguousarray(data["x_test"])).to(device)
    predict = dict(batch_size=eval_bs, transform=lambda xb: to_input(xb, mean_t, std_t), amp=cfg.amp,
                   channels_last=cfg.channels_last)
    pred_test, pred_train = predict_labels(model, x_test, **predict), predict_labels(model, x_train, **predict)

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
        "fingerprint": fingerprint([dataclasses.asdict(cfg), gamma]),
    }
    log(
        f"gamma={gamma}%: clean test acc {row['clean_test_acc']:.4f}, train acc (noisy labels) "
        f"{row['train_acc_noisy_labels']:.4f}, memorised {row['memorized_fraction']}, {train_s:.0f}s "
        f"({row['train_images_per_s']} img/s)"
    )
    return row


def run_pretraining(args, cfg: PretrainConfig, gammas, device: torch.device) -> dict[str, Any]:
    """Pre-train every gamma not finished yet; write ``pretraining.json`` after each one."""
    out_path = Path(args.results_dir) / "pretraining.json"
    results = read_json(out_path)
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
    mean, std = input_normalization(cfg.arch)
    results["normalization"] = {"mean": list(mean), "std": list(std)}
    rows = results.setdefault("gammas", {})
    todo = []
    for g in gammas:
        ckpt = checkpoint_path(args.checkpoint_dir, cfg.arch, g)
        done = rows.get(str(g))
        if not args.force and done and done.get("fingerprint") == fingerprint([dataclasses.asdict(cfg), g]) and ckpt.is_file():
            log(f"gamma={g}%: already pre-trained ({ckpt.name}, clean test acc {done['clean_test_acc']:.4f}), skipped")
        else:
            todo.append(g)
    if not todo:
        return results

    t0 = time.perf_counter()
    x_train, y_train = load_cifar10("train", data_dir=args.data_dir, cache_dir=args.cache_dir)
    x_test, y_test = load_cifar10("test", data_dir=args.data_dir, cache_dir=args.cache_dir)
    keep = balanced_subset(y_train, cfg.n_train, cfg.seed)
    data = {"x_train": x_train[keep], "y_train": y_train[keep], "x_test": x_test, "y_test": y_test}
    if args.test_limit:
        keep_test = balanced_subset(y_test, args.test_limit, cfg.seed)
        data["x_test"], data["y_test"] = x_test[keep_test], y_test[keep_test]
    log(f"CIFAR-10 loaded in {time.perf_counter() - t0:.1f}s: {len(keep)} train, {len(data['y_test'])} test images")

    for g in todo:
        rows[str(g)] = pretrain_one(
            g, cfg, data, ckpt=checkpoint_path(args.checkpoint_dir, cfg.arch, g), device=device,
            normalization=(mean, std), partial_every_s=args.partial_every_s, progress=not args.no_progress,
        )
        results["gammas"] = dict(sorted(rows.items(), key=lambda kv: int(kv[0])))
        write_json(out_path, results)
    return results
