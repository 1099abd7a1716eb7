"""The paper's Section 2 study at small scale: noisy pre-training, then ID/OOD transfer, spectra and NMTune.

One command runs the whole study (pre-training of one backbone per noise ratio, then the downstream
analysis) and writes a results JSON, the paper-style figures and a claim-by-claim table::

    .venv/bin/python benchmarks/noisy_pretraining.py            # CPU default (2 cores, <= 90 min)
    .venv/bin/python benchmarks/noisy_pretraining.py --tiny     # smoke run (seconds)
    python benchmarks/noisy_pretraining.py --full --skip-downstream   # GPU pre-training (all 50k images)

Steps
-----
1. **Pre-training** (needs only torch, timm, numpy, Pillow and ``sknmtune.noise``): a timm backbone
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
        downstream=dict(fractions=(0.5, 1.0), seeds=(0,), max_train=200, head_epochs=2),
        test_limit=500,
        ood_limit=200,
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
        pretrain=dict(n_train=50000, epochs=40, batch_size=512, lr=0.2, warmup_epochs=2.0, amp=True, channels_last=True),
        gammas=(0, 5, 10, 20, 30),
        downstream=dict(fractions=(0.1, 0.5, 1.0), seeds=(0, 1, 2), max_train=None, head_epochs=None),
        test_limit=None,
        ood_limit=None,
    ),
}


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _fingerprint(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def _write_json(path: Path, obj: Any) -> None:
    _atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


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
    """Mean/std the frozen transformer applies for ``arch``: training must see the same inputs."""
    from sknmtune.backbones import image_normalization

    return image_normalization(arch)


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
    partial_every_s: float = 60.0,
    progress: bool = True,
) -> dict[str, Any]:
    """Pre-train one backbone on CIFAR-10 with ``gamma`` % symmetric label noise; save its state_dict.

    Returns the Table-3 row: clean test accuracy, the accuracy on the (noisy) training labels, and how
    many of the corrupted labels the network fitted (memorisation), plus timing.
    """
    from sknmtune.noise import symmetric_label_noise

    t0 = time.perf_counter()
    y_clean = data["y_train"]
    if gamma > 0:
        y_noisy, noisy_mask = symmetric_label_noise(y_clean, gamma / 100.0, random_state=cfg.seed + 1000 * gamma)
    else:
        y_noisy, noisy_mask = y_clean.copy(), np.zeros(len(y_clean), dtype=bool)

    torch.manual_seed(cfg.seed)  # same initialisation for every gamma
    model = _create_model(cfg.arch, 10).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    mean_t, std_t = (torch.tensor(v, device=device).view(1, 3, 1, 1) for v in _input_normalization(cfg.arch))

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
        data["x_test"], data["y_test"] = x_test[: args.test_limit], y_test[: args.test_limit]
    _log(f"CIFAR-10 loaded in {time.perf_counter() - t0:.1f}s: {len(keep)} train, {len(data['y_test'])} test images")

    for g in todo:
        rows[str(g)] = pretrain_one(
            g, cfg, data, ckpt=checkpoint_path(args.checkpoint_dir, cfg.arch, g), device=device,
            partial_every_s=args.partial_every_s, progress=not args.no_progress,
        )
        results["gammas"] = dict(sorted(rows.items(), key=lambda kv: int(kv[0])))
        _write_json(out_path, results)
    return results
