"""The paper's Section 2 study at small scale: noisy pre-training, then ID/OOD transfer, spectra and NMTune.

One command runs the whole study (pre-training of one backbone per noise ratio, then the downstream
analysis) and writes a results JSON, the paper-style figures and a claim-by-claim table::

    .venv/bin/python -m benchmarks.noisy_pretraining            # CPU default (2 cores, <= 90 min)
    .venv/bin/python -m benchmarks.noisy_pretraining --tiny     # smoke run (seconds)
    python -m benchmarks.noisy_pretraining --full --skip-downstream   # GPU pre-training (all 50k images)

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
import sys
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.harness.backbones import CHECKPOINT_DIR
from benchmarks.harness.hardware import torch_device
from benchmarks.harness.io import CACHE_DIR, RESULTS_DIR, log, read_json, write_json
from benchmarks.harness.noisy_pretraining.cifar10 import DEFAULT_CIFAR_DIR, cifar10_available
from benchmarks.harness.noisy_pretraining.downstream import run_downstream
from benchmarks.harness.noisy_pretraining.report import write_report
from benchmarks.harness.noisy_pretraining.training import DownstreamConfig, PretrainConfig, run_pretraining

_DEFAULT_RESULTS = RESULTS_DIR / "noisy_pretraining"


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
    p.add_argument("--cache-dir", default=str(CACHE_DIR), help="decoded datasets and feature cache")
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
        args.results_dir = str(CACHE_DIR / "noisy_pretraining_tiny" if profile == "tiny" else _DEFAULT_RESULTS / sub)
    if args.checkpoint_dir is None:
        args.checkpoint_dir = str(CHECKPOINT_DIR / sub)
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

    device = torch_device(args.device)
    if profile == "full" and device.type != "cuda":
        log(f"--full is sized for a GPU but runs on {device}")
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
    log(f"profile={profile} device={device} threads={torch.get_num_threads()} arch={cfg.arch} gammas={list(gammas)} "
         f"results={args.results_dir} checkpoints={args.checkpoint_dir}")

    if not args.report_only:
        if args.skip_pretraining:
            pre = read_json(Path(args.results_dir) / "pretraining.json")
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
            log(f"{c['verdict']:>20}  {c['ref']}: {c['claim']}  [{c['numbers']}]")
    wall = time.perf_counter() - t_start
    if args.report_only:
        log(f"report rebuilt in {wall:.0f}s; results in {args.results_dir}")
        return 0
    timing_path = Path(args.results_dir) / "timing.json"
    timing = read_json(timing_path)
    timing.setdefault("invocations", []).append({
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() - wall)), "wall_seconds": round(wall, 1),
        "argv": args.argv, "threads": torch.get_num_threads(),
    })
    write_json(timing_path, timing)
    log(f"done in {wall / 60:.1f} min; results in {args.results_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
