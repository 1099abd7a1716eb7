"""Distributed feature extraction (``extract_distributed``) against in-process ``transform``, on the CPU.

2,000 images through EfficientNet-Lite0 (timm ``tf_efficientnet_lite0`` with the ImageNet-1k weights
from ``../shared/data/imagenet-weights``, timm's eval transform: 128 px PACS JPEG -> resize 249 ->
center crop 224), given as file paths (the scalable case: only the paths travel, each worker reads and
decodes its own images). Measured side by side in one run, no feature cache (every image goes through
the backbone in every configuration):

* in-process ``transform`` with 1 and with 2 torch threads (``num_workers=0``: decoding in the calling
  thread, as on a Dask worker);
* ``extract_distributed`` on a Dask ``LocalCluster`` of worker processes: 1 worker x 1 thread and
  2 workers x 1 thread (Dask gives each worker process one OpenMP / torch thread); with ``--ray``
  also on a local Ray instance with 2 CPUs (one task per CPU);
* the per-chunk cost of the engine: a no-op callable backbone over 2,000 short strings in chunks of
  5 (400 tasks) through ``extract_distributed`` minus the same through in-process ``transform``;
* the peak RSS of every worker process (``getrusage`` in the worker) and of the calling process.

Before the first timed section the script waits (polling every 30 s, at most 10 minutes) for the
1-minute load average to drop below 1.5, before each later one at most 1 minute, and it records the
load before and after each. The features of all
configurations are compared (bit for bit where the thread count is the same).

Usage::

    .venv/bin/python -m benchmarks.bench_distributed          # -> benchmarks/results/distributed.json
    .venv/bin/python -m benchmarks.bench_distributed --ray    # adds the Ray rows
    .venv/bin/python -m benchmarks.bench_distributed --quick  # 128 images, no waiting: a smoke test
    .venv/bin/python -m benchmarks.bench_distributed --rss-only --ray  # workers' peak memory only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import datasets as bd
from benchmarks.harness.backbones import IMAGENET_BACKBONES
from benchmarks.harness.io import RESULTS_DIR, log

DATA = bd.data_root()
LITE0 = IMAGENET_BACKBONES["tf_efficientnet_lite0"]
DOMAINS = bd.PACS_DOMAINS


def load1() -> float:
    return round(os.getloadavg()[0], 2)


def wait_quiet(enabled: bool, threshold: float = 1.5, timeout: float = 600.0) -> dict[str, Any]:
    """Wait until the 1-minute load is below ``threshold`` (at most ``timeout`` s); returns what happened."""
    start = time.monotonic()
    while enabled and load1() >= threshold and time.monotonic() - start < timeout:
        log(f"load {load1():.2f} >= {threshold}: waiting")
        time.sleep(30)
    return {"waited_s": round(time.monotonic() - start, 1), "quiet": load1() < threshold, "load_before": load1()}


def pacs_paths(n: int, directory: Path) -> tuple[list[str], dict[str, int]]:
    """The first ``n`` JPEGs of the PACS-full domain zips (in zip order, domain by domain), unpacked to ``directory``."""
    paths, taken = [], {}
    for domain in DOMAINS:
        with zipfile.ZipFile(DATA / "pacs-full" / f"pacs128_{domain}.zip") as z:
            names = [m for m in z.namelist() if m.lower().endswith(".jpg")][: n - len(paths)]
            for name in names:
                target = directory / f"{len(paths):05d}.jpg"
                target.write_bytes(z.read(name))
                paths.append(str(target))
            taken[domain] = len(names)
        if len(paths) == n:
            break
    return paths, taken


def lite0(batch_size: int):
    from sknmtune.backbones import FrozenBackboneTransformer

    return FrozenBackboneTransformer("tf_efficientnet_lite0", weights=str(LITE0.weights()), device="cpu",
                                     batch_size=batch_size, num_workers=0)


def noop(batch):
    return np.zeros((len(batch), 8), dtype=np.float32)


def timed(fn, *args, **kw) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn(*args, **kw)
    return time.perf_counter() - t, out


def _peak_rss_mb() -> tuple[int, float]:
    """This process's peak resident memory (VmHWM; getrusage's ru_maxrss survives fork + exec on Linux,
    so a worker spawned by a process that had a larger peak would report its parent's)."""
    with open("/proc/self/status") as fh:
        kb = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
    return os.getpid(), kb / 1024


_WAITED = []


def section(name: str, args, fn) -> dict[str, Any]:
    # the first section waits up to 10 minutes for a quiet machine, later ones up to 1 minute each
    state = wait_quiet(not (args.quick or args.rss_only), timeout=60.0 if _WAITED else 600.0)  # memory: no wait
    _WAITED.append(state["waited_s"])
    log(f"{name} (load {state['load_before']})")
    record = fn()
    record.update(state, load_after=load1(), name=name)
    if "seconds" in record:
        log(f"  {record['seconds']:.1f} s, {record.get('images_per_s', 0):.1f} images/s")
    return record


def dask_cluster(n_workers: int):
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, protocol="tcp://",
                           host="127.0.0.1", dashboard_address="127.0.0.1:0", worker_dashboard_address="127.0.0.1:0")
    return cluster, Client(cluster)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="images (default 2000)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--chunk-size", type=int, default=64, help="images per task (a multiple of --batch-size)")
    parser.add_argument("--ray", action="store_true", help="also measure a local Ray instance (2 CPUs)")
    parser.add_argument("--quick", action="store_true", help="128 images, no waiting for a quiet machine")
    parser.add_argument("--rss-only", action="store_true",
                        help="only the workers' peak memory (Dask 2 x 1, and Ray with --ray) over --n images "
                             "(default 256) -> results/distributed_rss.json")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    explicit_out = args.out is not None
    if args.out is None:
        args.out = RESULTS_DIR / ("distributed_rss.json" if args.rss_only else "distributed.json")
    if args.rss_only and "--n" not in sys.argv:
        args.n = 256
    if args.quick:
        args.n = min(args.n, 128)
    import torch

    from sknmtune.backbones import FrozenBackboneTransformer, extract_distributed

    tmp = Path(tempfile.mkdtemp(prefix="bench_distributed_"))
    paths, taken = pacs_paths(args.n, tmp)
    warm = paths[: 2 * args.chunk_size]
    results: dict[str, Any] = {
        "meta": {
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "python": platform.python_version(), "torch": torch.__version__, "cpu_count": os.cpu_count(),
            "machine": platform.machine(), "load_average_at_start": list(os.getloadavg()),
            "images": f"{len(paths)} PACS-full 128 px JPEGs, the first of the domain zips in zip order: {taken}",
            "backbone": "timm tf_efficientnet_lite0, ImageNet-1k weights (imagenet-weights safetensors), 1280-d",
            "preprocessing": "timm eval transform: resize 249 (bicubic), center crop 224, ImageNet mean/std",
            "batch_size": args.batch_size, "chunk_size": args.chunk_size, "feature_cache": None,
        },
        "runs": [],
    }
    features: dict[str, np.ndarray] = {}
    try:
        # ---- in-process transform, 1 and 2 torch threads
        for threads in () if args.rss_only else (1, 2):
            def inprocess(threads=threads):
                torch.set_num_threads(threads)
                ext = lite0(args.batch_size)
                ext.transform(warm[: args.batch_size])  # loads the model
                seconds, out = timed(ext.transform, paths)
                features[f"inprocess_{threads}t"] = out
                return {"engine": "in-process", "workers": 1, "threads_per_worker": threads, "seconds": seconds,
                        "images_per_s": len(paths) / seconds}
            results["runs"].append(section(f"in-process transform, {threads} torch thread(s)", args, inprocess))
        if not args.rss_only:
            results["meta"]["driver_peak_rss_mb_after_inprocess"] = round(_peak_rss_mb()[1], 1)
        torch.set_num_threads(1)

        # ---- Dask: 1 x 1 and 2 x 1
        for n_workers in (2,) if args.rss_only else (1, 2):
            cluster, client = dask_cluster(n_workers)
            try:
                def on_dask(n_workers=n_workers, client=client):
                    ext = lite0(args.batch_size)
                    extract_distributed(ext, warm[: n_workers * args.batch_size], client=client,
                                        chunk_size=args.batch_size)  # every worker loads the model
                    seconds, out = timed(extract_distributed, ext, paths, client=client, chunk_size=args.chunk_size)
                    features[f"dask_{n_workers}x1"] = out
                    rss = client.run(_peak_rss_mb)
                    return {"engine": "dask", "workers": n_workers, "threads_per_worker": 1, "seconds": seconds,
                            "images_per_s": len(paths) / seconds, "chunks": -(-len(paths) // args.chunk_size),
                            "worker_peak_rss_mb": {str(pid): round(mb, 1) for pid, mb in rss.values()}}
                results["runs"].append(section(f"Dask LocalCluster {n_workers} worker(s) x 1 thread", args, on_dask))
                if n_workers == 2 and not args.rss_only:
                    results["per_chunk_overhead"] = [section("Dask per-chunk overhead (no-op backbone)", args,
                                                             lambda: chunk_overhead(client, args))]
            finally:
                client.close()
                cluster.close()

        # ---- Ray: 2 CPUs
        if args.ray:
            import ray
            from ray._private import ray_constants

            os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # a single-node instance on loopback
            ray_constants.ENABLE_RAY_CLUSTER = False
            ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
            try:
                def on_ray():
                    ext = lite0(args.batch_size)
                    extract_distributed(ext, warm[: 4 * args.batch_size], client="ray", chunk_size=args.batch_size)
                    seconds, out = timed(extract_distributed, ext, paths, client="ray", chunk_size=args.chunk_size)
                    features["ray_2x1"] = out
                    probe = ray.remote(_peak_rss_mb)
                    rss = dict(ray.get([probe.remote() for _ in range(8)]))
                    return {"engine": "ray", "workers": 2, "threads_per_worker": 1, "seconds": seconds,
                            "images_per_s": len(paths) / seconds, "chunks": -(-len(paths) // args.chunk_size),
                            "worker_peak_rss_mb": {str(pid): round(mb, 1) for pid, mb in rss.items()}}
                results["runs"].append(section("Ray 2 CPUs (tasks of 1 CPU)", args, on_ray))
                if not args.rss_only:
                    results.setdefault("per_chunk_overhead", []).append(
                        section("Ray per-chunk overhead (no-op backbone)", args, lambda: chunk_overhead("ray", args)))
            finally:
                ray.shutdown()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    results["comparison"] = compare(results["runs"], features)
    results["meta"]["load_average_at_end"] = list(os.getloadavg())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not args.quick or explicit_out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")
        log(f"wrote {args.out}")
    print(json.dumps(results["comparison"], indent=1))


def chunk_overhead(client: Any, args) -> dict[str, Any]:
    """Seconds per chunk that the engine adds: a no-op backbone through extract_distributed vs in-process."""
    from sknmtune.backbones import FrozenBackboneTransformer, extract_distributed

    texts = [f"sample {i}" for i in range(2000)]
    ext = FrozenBackboneTransformer(noop, batch_size=5)
    extract_distributed(ext, texts[:20], client=client, chunk_size=5)  # warm-up
    n_chunks = len(texts) // 5
    t_engine, _ = timed(extract_distributed, ext, texts, client=client, chunk_size=5)
    t_local = min(timed(lambda: [ext.transform(texts[i : i + 5]) for i in range(0, len(texts), 5)])[0] for _ in range(3))
    return {"engine": "ray" if client == "ray" else "dask", "chunks": n_chunks, "samples_per_chunk": 5,
            "workers": 2, "seconds_engine": t_engine, "seconds_in_process_same_calls": t_local,
            "ms_per_chunk_wall": 1000 * (t_engine - t_local) / n_chunks,
            "note": "wall time over the 400 tasks run on 2 workers, minus the same 400 transform calls in-process"}


def compare(runs: list[dict[str, Any]], features: dict[str, np.ndarray]) -> dict[str, Any]:
    by = {(r["engine"], r["workers"], r["threads_per_worker"]): r["seconds"] for r in runs}
    out: dict[str, Any] = {}
    if ("dask", 1, 1) in by and ("dask", 2, 1) in by:
        out["dask_speedup_2x1_over_1x1"] = by[("dask", 1, 1)] / by[("dask", 2, 1)]
        out["dask_parallel_efficiency"] = out["dask_speedup_2x1_over_1x1"] / 2
        out["target_speedup_ge_1.7"] = out["dask_speedup_2x1_over_1x1"] >= 1.7
    if ("dask", 2, 1) in by and ("in-process", 1, 2) in by:
        out["dask_2x1_time_over_inprocess_2_threads"] = by[("dask", 2, 1)] / by[("in-process", 1, 2)]
        out["target_within_10pct_of_inprocess_2_threads"] = out["dask_2x1_time_over_inprocess_2_threads"] <= 1.10
    if ("dask", 1, 1) in by and ("in-process", 1, 1) in by:
        out["dask_1x1_time_over_inprocess_1_thread"] = by[("dask", 1, 1)] / by[("in-process", 1, 1)]
    for other, label in ((("dask", 2, 1), "dask_2x1"), (("in-process", 1, 2), "inprocess_2_threads")):
        if ("ray", 2, 1) in by and other in by:
            out[f"ray_2x1_time_over_{label}"] = by[("ray", 2, 1)] / by[other]
    ref = features.get("inprocess_1t")
    if ref is not None:
        out["features_max_abs_diff_vs_inprocess_1_thread"] = {
            k: float(np.abs(v - ref).max()) for k, v in features.items() if k != "inprocess_1t"
        }
        out["features_bit_identical_vs_inprocess_1_thread"] = {
            k: bool(np.array_equal(v, ref)) for k, v in features.items() if k != "inprocess_1t"
        }
    return out


if __name__ == "__main__":
    main()
