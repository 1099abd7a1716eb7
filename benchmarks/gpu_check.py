"""One-shot GPU check: the test suite on CUDA, the cost of an NMTune step, extraction, and reloads.

Sections (each runs in its own try/except; a failure is recorded in the JSON and the next one runs;
the JSON is rewritten after every section, so a run cut short still reports what it finished):

``environment``
    torch / CUDA / device facts.
``step_cost_detail`` (``--suite``; flattened into the top-level ``step_cost`` list)
    Median ms of one training step of NMTune and of the MLP of the same architecture, side by side
    (:mod:`benchmarks.harness.step_cost`), D = 384, 768, 2048 x batch 64, 256 x both architectures;
    NMTune with ``svd_method`` "auto" (what training uses), "gram" (eigh on the GPU) and "exact"
    (``torch.linalg.svdvals``, the previous implementation). Target: ``ratio <= 1.2``.
``regularizer_cost`` (``--suite``)
    The three regularizers alone (forward + backward) per ``svd_method``.
``equivalence`` (``--suite``)
    The same NMTune head trained on CUDA with the exact and the fast SVD term, 3 seeds.
``batching`` (``--suite``)
    What fitting ``NMTuneClassifierCV``'s fold heads as one batched network would save on this device
    (:func:`benchmarks.harness.step_cost.batching_bound`: 18 copies of the default MLP candidate for a DTD-10
    fold, 1280-d, trained one by one, ``vmap``-batched and through ``NMTuneClassifier.fit``).
``extraction`` (without ``--suite``)
    timm ``resnet50`` (random init) on uint8 224x224 images: a bare torch loop against
    ``FrozenBackboneTransformer`` with fp32, bf16, bf16 + channels_last (+ ``torch.compile``).
``imagenet_extraction``
    ``tf_efficientnet_lite0`` and ``mobilenetv2_100`` as ``benchmarks/accuracy_imagenet.py`` builds them
    (random weights, 128-px images resized to 224 px): images/s and the projected extraction time of that
    benchmark's 14,129 images per backbone on this device.
``nmtune``
    A ``NMTuneClassifier(device="cuda")`` on features of synthetic images, saved (safe format and
    joblib) and reloaded: by default (it should come back on CUDA, predicting bit-identically) and
    with ``map_location="cpu"`` (equal to float32 tolerance); then a whole Pipeline(backbone, head).
``suite`` (``--suite``)
    ``pytest -m gpu`` (the CUDA-only tests), then the whole suite with pytest-xdist when installed;
    failures are re-run serially (to tell a real failure from one caused by parallel workers).
    Counts of passed / failed / skipped tests and the failures' ids.

Usage::

    python -m benchmarks.gpu_check --suite --out-dir "$OUT"       # on the GPU machine, ~8 min; see docs/guide/gpu.md
    python -m benchmarks.gpu_check --out gpu_check.json            # extraction + reloads only
    python -m benchmarks.gpu_check --smoke --out /tmp/smoke.json   # tiny sizes, runs on a CPU

The file is ``<out-dir>/gpu_check_<gpu>.json`` (``gpu_check_h200.json`` on an H200) unless ``--out``
names one; it holds ``"suite": {"passed", "failed", "skipped", ...}`` and
``"step_cost": [{"device", "D", "batch", "nmtune_ms", "mlp_ms", "ratio", ...}, ...]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import torch

from benchmarks.harness.hardware import torch_device
from benchmarks.harness.io import RESULTS_DIR, ROOT, log
from benchmarks.harness.step_cost import ARCHITECTURES, batching_bound, equivalence_runs, regularizer_cost, step_cost, sync

GPU_RESULTS_DIR = RESULTS_DIR / "gpu"
RATIO_TARGET = 1.2

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


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


def environment(device: torch.device) -> dict:
    info = {"python": platform.python_version(), "torch": torch.__version__, "device": str(device),
            "cuda_available": torch.cuda.is_available(), "torch_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(), "load_average": list(os.getloadavg())}
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


# Unique images per backbone in benchmarks/accuracy_imagenet.py's full scale (Flowers-102 2,859, DTD-10 1,200,
# CIFAR-10 with its corruptions 4,400, PACS 5,670: the extraction timings in accuracy_imagenet_meta.json).
IMAGENET_BENCHMARK_IMAGES = 14_129


def imagenet_extraction(device: torch.device, smoke: bool) -> dict:
    """The ImageNet benchmark's two architectures, built as ``accuracy_imagenet.py`` builds them (defaults,
    ``channels_last``, timm's eval transform from 128-px uint8 images to 224 px) but with random weights (the
    same compute; the ImageNet files stay on the CPU machine): images/s, and the time the benchmark's images
    would take on this device."""
    from sknmtune.backbones import FrozenBackboneTransformer

    n, size = (16, 32) if smoke else (2048, 128)
    images = np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    res: dict = {"n_images": n, "source_px": size, "benchmark_images_per_backbone": IMAGENET_BENCHMARK_IMAGES}
    for name in ("tf_efficientnet_lite0", "mobilenetv2_100"):
        ext = FrozenBackboneTransformer(name, pretrained=False, channels_last=True, device=str(device))
        t0 = time.perf_counter()
        ext.transform(images[:64])  # warm-up (model build, cudnn autotune)
        warm = time.perf_counter() - t0
        sync(device)
        t0 = time.perf_counter()
        feats = ext.transform(images)
        sync(device)
        ips = n / (time.perf_counter() - t0)
        res[name] = {"images_per_s": ips, "warmup_seconds": warm, "batch_size": ext.batch_size,
                     "projected_benchmark_seconds": IMAGENET_BENCHMARK_IMAGES / ips,
                     "finite": bool(np.isfinite(feats).all()), "shape": list(feats.shape)}
        log(f"{name}: {ips:.0f} images/s -> {IMAGENET_BENCHMARK_IMAGES / ips:.0f} s for the benchmark's images")
        del ext
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

    from sknmtune.backbones import FrozenBackboneTransformer
    from sknmtune.heads import make_head
    from sknmtune.persistence import load, save

    name, size, n = ("resnet18", 32, 96) if smoke else ("resnet50", 64, 2048)
    images, y = synthetic_classes(n, size)
    split = int(0.75 * n)
    ext = FrozenBackboneTransformer(name, pretrained=False, image_size=size, crop_pct=1.0, batch_size=128,
                                    device=str(device))
    feats = ext.transform(images)
    res: dict = {"backbone": name, "image_size": size, "n_train": split, "n_test": n - split, "n_features": feats.shape[1]}
    head = make_head("nmtune", random_state=0, device=str(device), max_epochs=3)
    t0 = time.perf_counter()
    head.fit(feats[:split], y[:split])
    res["fit_seconds"] = time.perf_counter() - t0
    proba = head.predict_proba(feats[split:])
    res["test_accuracy"] = float((proba.argmax(1) == y[split:]).mean())
    res["chance"] = float(np.bincount(y[split:]).max() / (n - split))
    res["head_device"] = str(next(head.module_.parameters()).device)
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, path, kwargs in (("skn", Path(tmp) / "head.skn", {}),
                                  ("joblib", Path(tmp) / "head.joblib", {"trusted": True})):
            save(head, path, **({"format": fmt} if fmt == "joblib" else {}))
            again = load(path, **kwargs)  # the device parameter decides where it lands
            again_proba = again.predict_proba(feats[split:])
            cpu_head = load(path, map_location="cpu", **kwargs)
            cpu_proba = cpu_head.predict_proba(feats[split:])
            res[f"reload_{fmt}"] = {
                "default_device": str(next(again.module_.parameters()).device),
                "default_bit_identical": bool(np.array_equal(again_proba, proba)),
                "default_max_abs_proba_diff": float(np.abs(again_proba - proba).max()),
                "map_location_cpu_device": str(next(cpu_head.module_.parameters()).device),
                "map_location_cpu_max_abs_proba_diff": float(np.abs(cpu_proba - proba).max()),
                "map_location_cpu_same_predictions": bool((cpu_proba.argmax(1) == proba.argmax(1)).all()),
            }
            log(f"head ({fmt}): reload on {res[f'reload_{fmt}']['default_device']}, bit-identical "
                f"{res[f'reload_{fmt}']['default_bit_identical']}; CPU max |dp| "
                f"{res[f'reload_{fmt}']['map_location_cpu_max_abs_proba_diff']:.2e}")
        log(f"head: accuracy {res['test_accuracy']:.3f} (chance {res['chance']:.3f})")

        pipe = Pipeline([
            ("backbone", FrozenBackboneTransformer(name, pretrained=False, image_size=size, crop_pct=1.0,
                                                   batch_size=128, device=str(device))),
            ("head", make_head("nmtune", random_state=0, device=str(device), max_epochs=3)),
        ]).fit(images[:split], y[:split])
        pipe_proba = pipe.predict_proba(images[split:])
        path = save(pipe, Path(tmp) / "pipe.skn")
        res["pipeline_file_mb"] = os.path.getsize(path) / 2**20
        res["pipeline_test_accuracy"] = float((pipe_proba.argmax(1) == y[split:]).mean())
        again = load(path).predict_proba(images[split:])
        res["pipeline_reload_bit_identical"] = bool(np.array_equal(again, pipe_proba))
        cpu_pipe_proba = load(path, map_location="cpu").predict_proba(images[split:])
        res["pipeline_cpu_max_abs_proba_diff"] = float(np.abs(cpu_pipe_proba - pipe_proba).max())
        res["pipeline_cpu_prediction_agreement"] = float((cpu_pipe_proba.argmax(1) == pipe_proba.argmax(1)).mean())
        log(f"pipeline: file {res['pipeline_file_mb']:.2f} MB; reload bit-identical {res['pipeline_reload_bit_identical']}; "
            f"CPU reload agreement {res['pipeline_cpu_prediction_agreement']:.3f}")
    return res


def step_costs(device: torch.device, smoke: bool) -> dict:
    """NMTune vs MLP step, side by side, per architecture, D and batch (see benchmarks/harness/step_cost.py)."""
    dims, batches = ([32, 64], [16]) if smoke else ([384, 768, 2048], [64, 256])
    methods = ("auto", "gram", "exact") if device.type == "cuda" else ("auto", "exact")
    rows = []
    for arch in ARCHITECTURES:
        for d in dims:
            for batch in batches:
                row = step_cost(arch, d, batch, device, methods=methods, rounds=3 if smoke else 15,
                                block_seconds=0.02 if smoke else 0.1)
                rows.append(row)
                log(f"{arch:7s} D={d:5d} B={batch:4d}: mlp {row['mlp_ms']:.3f} ms, nmtune "
                    + ", ".join(f"{m} {v:.3f} ms ({row['ratio_by_method'][m]:.2f}x)" for m, v in row["nmtune_ms_by_method"].items()))
    return {"rows": rows, "target_ratio": RATIO_TARGET,
            "target_met": {f"{r['arch']}/D={r['D']}/B={r['batch']}": r["ratio"] <= RATIO_TARGET for r in rows}}


def regularizer_costs(device: torch.device, smoke: bool) -> dict:
    dims, batches = ([32], [16]) if smoke else ([384, 768, 2048], [64, 256])
    methods = ("exact", "gram", "gram-cpu") if device.type == "cuda" else ("exact", "gram")
    rows = [regularizer_cost(d, b, device, methods=methods, repeats=3 if smoke else 20) for d in dims for b in batches]
    for row in rows:
        log(f"regularizers D={row['D']} B={row['batch']}: {row['ms']}")
    return {"rows": rows}


def equivalence(device: torch.device, smoke: bool) -> dict:
    def show(label: str, result: dict) -> None:
        log(f"equivalence {label}: accuracy exact {result['accuracy_mean']['exact']:.4f}, fast "
            f"{result['accuracy_mean']['fused']:.4f}, largest same-seed gaps: accuracy "
            f"{result['max_accuracy_gap_same_seed']:.4f}, loss {result['max_loss_curve_gap_same_seed']:.2e}")

    return equivalence_runs(device, small=smoke, on_result=show)


def _junit_counts(xml_path: Path) -> dict:
    """passed / failed / errors / skipped and the ids of the failures, from a JUnit XML report."""
    root = ET.parse(xml_path).getroot()
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    failed_ids = []
    for case in root.iter("testcase"):
        kinds = {child.tag for child in case}
        test_id = f"{case.get('classname', '')}::{case.get('name', '')}"
        if "failure" in kinds:
            counts["failed"] += 1
            failed_ids.append(test_id)
        elif "error" in kinds:
            counts["errors"] += 1
            failed_ids.append(test_id)
        elif "skipped" in kinds:
            counts["skipped"] += 1
        else:
            counts["passed"] += 1
    return {**counts, "failed_ids": failed_ids}


def _node_id(junit_id: str) -> str:
    """'tests.test_x::test_y[a]' (JUnit classname::name) -> 'tests/test_x.py::test_y[a]'."""
    classname, name = junit_id.split("::", 1)
    parts = classname.split(".")
    for cut in range(len(parts), 0, -1):  # the longest prefix that is a file
        candidate = Path(ROOT, *parts[:cut]).with_suffix(".py")
        if candidate.exists():
            return "::".join([str(candidate.relative_to(ROOT))] + parts[cut:] + [name])
    return junit_id


def _pytest(args: list[str], xml_path: Path, timeout: float, log_path: Path, env: dict) -> dict:
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfE", f"--junitxml={xml_path}", *args]
    log("$ " + " ".join(cmd))
    t0 = time.perf_counter()
    with open(log_path, "a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            rc, timed_out = proc.wait(), True
    res: dict = {"command": " ".join(cmd[1:]), "returncode": rc, "timed_out": timed_out,
                 "seconds": round(time.perf_counter() - t0, 1)}
    if xml_path.exists() and not timed_out:
        res.update(_junit_counts(xml_path))
    else:  # no report: fall back to the last summary line pytest printed, if any
        text = log_path.read_text(errors="replace")
        summary = re.findall(r"=+ (.*?(?:passed|failed|skipped|error).*?) in [\d.]+s", text)
        res["summary_line"] = summary[-1] if summary else None
    return res


def suite(device: torch.device, smoke: bool, timeout: float, workers: int, log_dir: Path) -> dict:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), str(ROOT)) if p)
    log_path = log_dir / "pytest.log"
    start = time.perf_counter()
    res: dict = {"log": log_path.name}
    with tempfile.TemporaryDirectory() as tmp:
        res["gpu_marked"] = _pytest(["-m", "gpu"], Path(tmp) / "gpu.xml", min(120.0, timeout), log_path, env)
        log(f"gpu-marked tests: {res['gpu_marked']}")
        if smoke:
            return res
        parallel: list[str] = []
        try:
            import xdist  # noqa: F401

            if workers > 1:
                parallel = ["-n", str(workers), "--dist", "loadfile"]
                # each worker gets a share of the cores
                threads = str(max(1, (os.cpu_count() or 2) // workers))
                env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
        except ImportError:
            pass
        remaining = timeout - (time.perf_counter() - start)
        full = _pytest(parallel, Path(tmp) / "full.xml", remaining, log_path, env)
        res.update({k: v for k, v in full.items()})
        res["workers"] = workers if parallel else 1
        failed = full.get("failed_ids", [])
        remaining = timeout - (time.perf_counter() - start)
        if parallel and failed and remaining > 30:
            rerun = _pytest([_node_id(i) for i in failed], Path(tmp) / "rerun.xml", remaining, log_path,
                            dict(env, OMP_NUM_THREADS="", MKL_NUM_THREADS=""))
            res["failed_serial_rerun"] = rerun
    log(f"suite: {res.get('passed')} passed, {res.get('failed')} failed, {res.get('errors')} errors, "
        f"{res.get('skipped')} skipped in {res.get('seconds')} s")
    return res


def _slug(device: torch.device) -> str:
    if device.type != "cuda":
        return device.type
    name = torch.cuda.get_device_name(device).lower().replace("nvidia", "").strip()
    return re.sub(r"[^a-z0-9]+", "_", name).strip("_") or "cuda"


def batching(device: torch.device, smoke: bool) -> dict:
    kwargs = dict(n_models=3, epochs=1, repeats=1) if smoke else dict(n_models=18, epochs=10, repeats=3)
    row = batching_bound(48 if smoke else 432, 32 if smoke else 1280, 10, device=device, **kwargs)
    log(f"batching: ms per model-step {({k: round(1e3 * v, 3) for k, v in row['seconds_per_model_step'].items()})}, "
        f"batched / one by one {row['batched_over_sequential']:.2f}")
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="the JSON file (default: <out-dir>/gpu_check_<gpu>.json)")
    parser.add_argument("--out-dir", type=Path, default=GPU_RESULTS_DIR)
    parser.add_argument("--suite", action="store_true",
                        help="run the test suite and the step-cost benchmarks (instead of the extraction benchmark)")
    parser.add_argument("--suite-timeout", type=float, default=390.0, help="seconds for all pytest runs together")
    parser.add_argument("--suite-workers", type=int, default=8, help="pytest-xdist workers (1: serial)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes; runs on a CPU in about a minute")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    device = torch_device(args.device)
    if device.type != "cuda" and not args.smoke:
        log("warning: no CUDA device; numbers below are for " + str(device))
    out = args.out or args.out_dir / f"gpu_check_{_slug(device)}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    results: dict = {"smoke": args.smoke, "suite_mode": args.suite, "started": time.strftime("%Y-%m-%d %H:%M:%S")}

    def write() -> None:
        results["errors"] = [k for k, v in results.items() if isinstance(v, dict) and "error" in v]
        out.write_text(json.dumps(results, indent=1, default=str))

    section(results, "environment", environment, device)
    if args.suite:
        for name, fn in (("step_cost_detail", step_costs), ("regularizer_cost", regularizer_costs),
                         ("equivalence", equivalence), ("batching", batching), ("nmtune", nmtune)):
            section(results, name, fn, device, args.smoke)
            if name == "step_cost_detail":  # the schema: one flat list at the top level
                results["step_cost"] = [
                    {k: row[k] for k in ("device", "D", "batch", "nmtune_ms", "mlp_ms", "ratio", "arch", "svd_method",
                                         "nmtune_ms_by_method", "ratio_by_method")}
                    for row in results[name].get("rows", [])
                ]
            write()
        section(results, "imagenet_extraction", imagenet_extraction, device, args.smoke)
        write()
        section(results, "suite", suite, device, args.smoke, args.suite_timeout, args.suite_workers, out.parent)
    else:
        section(results, "extraction", extraction, device, args.smoke)
        section(results, "imagenet_extraction", imagenet_extraction, device, args.smoke)
        write()
        section(results, "nmtune", nmtune, device, args.smoke)
    write()
    log(f"wrote {out}; sections with errors: {results['errors'] or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
