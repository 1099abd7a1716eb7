"""One-shot GPU check: extraction throughput, NMTune on CUDA, and a CPU reload.

Sections (each runs in its own try/except; a failure is recorded in the JSON and the next one runs):

1. ``environment`` -- torch / CUDA / device facts.
2. ``extraction`` -- timm ``resnet50`` (random init) on uint8 224x224 images: a bare torch loop (fp32,
   and bf16 + channels_last) against ``FrozenBackboneTransformer`` with fp32, bf16, bf16 +
   channels_last and bf16 + channels_last + ``torch.compile``; images/s and the ratio to the matching
   bare loop.
3. ``nmtune`` -- features of synthetic images with a class structure (four color families), a
   ``NMTuneClassifier(device="cuda", max_epochs=3)`` fitted on them, saved with
   :func:`sknmtune.persistence.save`, reloaded with ``load(path, map_location="cpu")`` and compared with
   the CUDA predictions; then the same for a whole Pipeline(backbone, head).

Usage::

    python benchmarks/gpu_check.py --out gpu_check.json            # on the GPU machine (a few minutes)
    python benchmarks/gpu_check.py --smoke --out /tmp/smoke.json   # tiny sizes, runs on a CPU
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def section(results: dict, name: str, fn, *args) -> None:
    log(f"== {name}")
    t0 = time.perf_counter()
    try:
        results[name] = fn(*args)
        results[name]["section_seconds"] = time.perf_counter() - t0
    except Exception as exc:  # keep going: one broken section must not hide the others
        results[name] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(),
                         "section_seconds": time.perf_counter() - t0}
        log(f"!! {name} failed: {type(exc).__name__}: {exc}")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def environment(device: torch.device) -> dict:
    info = {"python": platform.python_version(), "torch": torch.__version__, "device": str(device),
            "cuda_available": torch.cuda.is_available()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=props.name, gpu_memory_gb=props.total_memory / 2**30, cuda=torch.version.cuda,
                    cudnn=torch.backends.cudnn.version(), tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
                    tf32_cudnn=torch.backends.cudnn.allow_tf32)
    try:
        import timm

        info["timm"] = timm.__version__
    except ImportError:
        pass
    return info


def bare_loop(model, images: np.ndarray, batch_size: int, device: torch.device, amp: torch.dtype | None,
              channels_last: bool) -> float:
    """Seconds for a hand-written loop: uint8 batch -> device -> float, normalize -> features."""
    mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=device).view(1, 3, 1, 1)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    out = np.empty((len(images), model.num_features), np.float32)
    sync(device)
    t0 = time.perf_counter()
    with torch.inference_mode(), torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
        for start in range(0, len(images), batch_size):
            x = torch.from_numpy(images[start : start + batch_size]).to(device, non_blocking=True)
            x = ((x.permute(0, 3, 1, 2).float() / 255 - mean) / std).contiguous(memory_format=fmt)
            out[start : start + len(x)] = model.forward_head(model.forward_features(x), pre_logits=True).float().cpu().numpy()
    sync(device)
    return time.perf_counter() - t0


def extraction(device: torch.device, smoke: bool) -> dict:
    import timm

    from sknmtune.backbones import FrozenBackboneTransformer

    name, size = ("resnet18", 64) if smoke else ("resnet50", 224)
    n, batch_size = (32, 16) if smoke else (4096, 256)
    images = np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    res: dict = {"model": f"{name} (timm, random init)", "image_size": size, "n_images": n, "batch_size": batch_size}
    variants = {
        "fp32": dict(),
        "bf16": dict(amp_dtype="bf16"),
        "bf16_channels_last": dict(amp_dtype="bf16", channels_last=True),
        "bf16_channels_last_compile": dict(amp_dtype="bf16", channels_last=True, compile=True),
    }
    if smoke:
        variants.pop("bf16_channels_last_compile")
        res["skipped"] = ["bf16_channels_last_compile (smoke run)"]
    # bare loops: plain fp32 and the fastest eager setting
    for key, amp, cl in (("bare_fp32", None, False), ("bare_bf16_channels_last", torch.bfloat16, True)):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = timm.create_model(name, pretrained=False).eval().to(device)
        if cl:
            model = model.to(memory_format=torch.channels_last)
        bare_loop(model, images[: 2 * batch_size], batch_size, device, amp, cl)  # warm-up (cudnn autotune)
        seconds = bare_loop(model, images, batch_size, device, amp, cl)
        res[key] = {"images_per_s": n / seconds, "seconds": seconds}
        log(f"{key}: {n / seconds:.0f} images/s")
        del model
    for key, kw in variants.items():
        try:
            ext = FrozenBackboneTransformer(name, pretrained=False, image_size=size, crop_pct=1.0, batch_size=batch_size,
                                            device=str(device), **kw)
            t0 = time.perf_counter()
            ext.transform(images[: 2 * batch_size])  # warm-up (and compilation)
            warm = time.perf_counter() - t0
            sync(device)
            t0 = time.perf_counter()
            feats = ext.transform(images)
            sync(device)
            seconds = time.perf_counter() - t0
            bare = res["bare_fp32" if key == "fp32" else "bare_bf16_channels_last"]
            res[key] = {"images_per_s": n / seconds, "seconds": seconds, "warmup_seconds": warm,
                        "ratio_to_bare": bare["images_per_s"] and (n / seconds) / bare["images_per_s"],
                        "finite": bool(np.isfinite(feats).all()), "shape": list(feats.shape)}
            log(f"transformer {key}: {n / seconds:.0f} images/s (ratio {res[key]['ratio_to_bare']:.3f})")
            del ext
        except Exception as exc:
            res[key] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
            log(f"!! transformer {key} failed: {type(exc).__name__}: {exc}")
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return res


def synthetic_classes(n: int, size: int, n_classes: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Images whose class sets the dominant color (plus noise): a frozen random CNN separates them."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    palette = rng.integers(40, 216, (n_classes, 3))
    images = palette[y][:, None, None, :] + rng.normal(0, 25, (n, size, size, 3))
    return np.clip(images, 0, 255).astype(np.uint8), y


def nmtune(device: torch.device, smoke: bool) -> dict:
    from sklearn.pipeline import Pipeline

    from sknmtune import NMTuneClassifier
    from sknmtune.backbones import FrozenBackboneTransformer
    from sknmtune.persistence import load, save

    name, size, n = ("resnet18", 32, 96) if smoke else ("resnet50", 64, 2048)
    images, y = synthetic_classes(n, size)
    split = int(0.75 * n)
    ext = FrozenBackboneTransformer(name, pretrained=False, image_size=size, crop_pct=1.0, batch_size=128,
                                    device=str(device))
    feats = ext.transform(images)
    res: dict = {"backbone": name, "image_size": size, "n_train": split, "n_test": n - split, "n_features": feats.shape[1]}
    head = NMTuneClassifier(device=str(device), max_epochs=3, random_state=0)
    t0 = time.perf_counter()
    head.fit(feats[:split], y[:split])
    res["fit_seconds"] = time.perf_counter() - t0
    proba = head.predict_proba(feats[split:])
    res["test_accuracy"] = float((proba.argmax(1) == y[split:]).mean())
    res["chance"] = float(np.bincount(y[split:]).max() / (n - split))
    res["head_device"] = str(next(head.module_.parameters()).device) if hasattr(head, "module_") else None
    with tempfile.TemporaryDirectory() as tmp:
        path = save(head, Path(tmp) / "head.joblib")
        cpu_head = load(path, map_location="cpu")
        cpu_proba = cpu_head.predict_proba(feats[split:])
        res["reload_cpu_max_abs_proba_diff"] = float(np.abs(cpu_proba - proba).max())
        res["reload_cpu_same_predictions"] = bool((cpu_proba.argmax(1) == proba.argmax(1)).all())
        log(f"head: accuracy {res['test_accuracy']:.3f} (chance {res['chance']:.3f}); CPU reload "
            f"max |dp| {res['reload_cpu_max_abs_proba_diff']:.2e}")

        pipe = Pipeline([
            ("backbone", FrozenBackboneTransformer(name, pretrained=False, image_size=size, crop_pct=1.0,
                                                   batch_size=128, device=str(device))),
            ("head", NMTuneClassifier(device=str(device), max_epochs=3, random_state=0)),
        ]).fit(images[:split], y[:split])
        pipe_proba = pipe.predict_proba(images[split:])
        path = save(pipe, Path(tmp) / "pipe.joblib")
        res["pipeline_file_mb"] = os.path.getsize(path) / 2**20
        cpu_pipe = load(path, map_location="cpu")
        cpu_pipe_proba = cpu_pipe.predict_proba(images[split:])
        res["pipeline_cpu_max_abs_proba_diff"] = float(np.abs(cpu_pipe_proba - pipe_proba).max())
        res["pipeline_cpu_prediction_agreement"] = float((cpu_pipe_proba.argmax(1) == pipe_proba.argmax(1)).mean())
        res["pipeline_test_accuracy"] = float((pipe_proba.argmax(1) == y[split:]).mean())
        log(f"pipeline: file {res['pipeline_file_mb']:.2f} MB (weights not pickled for named backbones); CPU "
            f"reload agreement {res['pipeline_cpu_prediction_agreement']:.3f}")
    return res


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="where to write the JSON results")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes; runs on a CPU in well under a minute")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    from sknmtune._utils import resolve_device

    device = resolve_device(args.device)
    if device.type != "cuda" and not args.smoke:
        log("warning: no CUDA device; numbers below are for " + str(device))
    results: dict = {"smoke": args.smoke, "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    section(results, "environment", environment, device)
    section(results, "extraction", extraction, device, args.smoke)
    section(results, "nmtune", nmtune, device, args.smoke)
    results["errors"] = [k for k, v in results.items() if isinstance(v, dict) and "error" in v]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, default=str))
    log(f"wrote {args.out}; sections with errors: {results['errors'] or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
