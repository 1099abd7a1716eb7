"""The cost of one NMTune training step, measured by ``benchmarks.bench_core`` (CPU), ``benchmarks.gpu_check`` (CUDA)
and ``benchmarks.fit_time`` (``--batching-bound``).

One *step* is what the training loop does per mini-batch: forward through the head, the loss,
backward, one AdamW step and one host sync (the loop reads the loss terms back each step). The head is the
:class:`sknmtune.heads.NMTuneHead` a registry preset trains (:func:`head_module`), its regularizers
:func:`sknmtune.losses.regularizer_terms`. It is timed for three variants of the same architecture, side by side:

* ``mlp``: plain cross-entropy (``reg_lambda = 0``), the baseline;
* NMTune with ``svd_method="auto"``: cross-entropy plus the regularizers through
  :func:`sknmtune.losses.regularizer_terms` (the fast path), and with any other ``svd_method``;
* NMTune ``"exact"``: the same loss through the three reference functions with
  ``torch.linalg.svdvals`` (how the package computed it before the fast path; ``regularizer_terms``'
  ``svd_method="exact"``).

Variants are interleaved block by block (a block is a few steps ending in a device sync), so
machine noise hits all of them alike; the ratio is the median of the per-round paired ratios.
:func:`training_equivalence` checks that the fast path trains like the exact one, and
:func:`batching_bound` what training several heads as one batched network could save.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from sknmtune.heads import NMTuneHead, make_head
from sknmtune.losses import regularizer_terms

__all__ = ["ARCHITECTURES", "EQUIVALENCE_CONFIGS", "Penalty", "batching_bound", "equivalence_runs", "head_module",
           "hidden_width", "regularizer_cost", "step_cost", "sync", "training_equivalence"]

#: The two fair pairs: (NMTune preset, MLP preset of the same architecture).
ARCHITECTURES = {"authors": ("nmtune-authors", "mlp-authors"), "paper": ("nmtune-paper", "mlp")}
N_CLASSES = 10
#: training_equivalence runs: the authors' preset, and the same with a 1000x SVD weight.
EQUIVALENCE_CONFIGS = {"nmtune-authors": None, "nmtune-authors, svd_weight=1": {"svd_weight": 1.0}}


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA), so that a timer around it measures it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def hidden_width(estimator: Any, n_features: int) -> int:
    """The hidden width the head ``estimator`` trains for ``n_features`` inputs: ``hidden_ratio * D``, capped at
    ``max_hidden_width``."""
    width = max(1, int(round(estimator.hidden_ratio * n_features)))
    return width if estimator.max_hidden_width is None else min(width, int(estimator.max_hidden_width))


def head_module(estimator: Any, n_features: int, n_classes: int = N_CLASSES) -> NMTuneHead:
    """A freshly initialized :class:`~sknmtune.heads.NMTuneHead` of the architecture ``estimator`` (an
    ``NMTuneClassifier``) trains for ``n_features`` inputs and ``n_classes`` classes."""
    return NMTuneHead(n_features, n_classes, mlp_depth=estimator.mlp_depth, hidden_width=hidden_width(estimator, n_features),
                      batch_norm=estimator.batch_norm, residual=estimator.residual, residual_init=estimator.residual_init,
                      dropout=estimator.dropout)


class Penalty:
    """``reg_lambda * (mse_weight * MSE + cov_weight * COV + svd_weight * SVD)`` of a head's configuration.

    The terms are :func:`~sknmtune.losses.regularizer_terms` with ``svd_method`` (``how="fused"``), or with
    ``svd_method="exact"``: the three reference functions, the SVD through ``torch.linalg.svdvals`` (``how="exact"``).
    """

    def __init__(self, estimator: Any, how: str, device: torch.device, svd_method: str = "auto") -> None:
        self.reg_lambda = float(estimator.reg_lambda)
        self.top_k = int(estimator.svd_top_k)
        self.reduction = estimator.consistency_reduction
        self.svd_method = "exact" if how == "exact" else svd_method
        weights = {"mse": estimator.mse_weight, "cov": estimator.cov_weight, "svd": estimator.svd_weight}
        self.terms = tuple(name for name, w in weights.items() if w > 0)
        self.weights = torch.tensor([self.reg_lambda * weights[t] for t in self.terms], device=device)

    def __call__(self, F: torch.Tensor, Z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        values = regularizer_terms(F, Z, self.terms, top_k=self.top_k, mse_reduction=self.reduction,
                                   svd_method=self.svd_method)
        return (values * self.weights).sum(), values


class _Trainer:
    """One head + AdamW + (optional) penalty; ``step`` is one training step with one host sync."""

    def __init__(self, estimator: Any, penalty: Penalty | None, n_features: int, device: torch.device, seed: int) -> None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.head = head_module(estimator, n_features).to(device)
        self.opt = torch.optim.AdamW(self.head.parameters(), lr=estimator.lr, weight_decay=estimator.weight_decay)
        self.penalty = penalty

    def step(self, F: torch.Tensor, y: torch.Tensor) -> float:
        self.opt.zero_grad(set_to_none=True)
        logits, Z = self.head(F)
        loss = torch.nn.functional.cross_entropy(logits, y)
        if self.penalty is not None:
            reg, values = self.penalty(F, Z)
            loss = loss + reg
            record = torch.cat([loss.detach().reshape(1), values.detach()])
        else:
            record = loss.detach().reshape(1)
        loss.backward()
        self.opt.step()
        return record.tolist()[0]  # the loop's one host sync per step


def step_cost(arch: str, n_features: int, batch_size: int, device: torch.device, *, rounds: int | None = None,
              block_seconds: float = 0.1, budget_seconds: float = 12.0, methods: tuple[str, ...] = ("auto", "exact"),
              seed: int = 0) -> dict[str, Any]:
    """ms per training step of the MLP and of NMTune with each SVD method, interleaved, and their ratios.

    ``methods`` are ``svd_method`` values for :func:`regularizer_terms`; ``"exact"`` means the three
    reference functions with ``torch.linalg.svdvals`` (the package before the fast path).
    ``nmtune_ms`` / ``ratio`` are for the first method (``"auto"``, what training uses).

    Each round times one block of every variant back to back (the order rotates), so each NMTune
    block has an MLP block measured under the same machine load next to it: ``ratio`` is the median
    over rounds of these paired ratios, which drifting load on a shared machine does not bias.
    ``nmtune_ms`` / ``mlp_ms`` are medians over rounds; ``best_ms`` the least disturbed blocks.
    ``rounds`` defaults to what fits in ``budget_seconds`` (between 5 and 21).
    """
    nm_preset, mlp_preset = ARCHITECTURES[arch]
    gen = torch.Generator().manual_seed(seed)
    batches = [
        (torch.randn(batch_size, n_features, generator=gen).to(device),
         torch.randint(0, N_CLASSES, (batch_size,), generator=gen).to(device))
        for _ in range(4)
    ]
    nmtune, mlp = make_head(nm_preset), make_head(mlp_preset)
    trainers = {"mlp": _Trainer(mlp, None, n_features, device, seed)}
    for method in methods:
        penalty = Penalty(nmtune, "exact", device) if method == "exact" else Penalty(nmtune, "fused", device, method)
        trainers[method] = _Trainer(nmtune, penalty, n_features, device, seed)
    # warm-up (allocator, cuBLAS / cuSOLVER handles, LAPACK workspaces), then size the blocks and rounds
    first = {}
    for name, trainer in trainers.items():
        for F, y in batches[:2]:
            trainer.step(F, y)
        sync(device)
        start = time.perf_counter()
        trainer.step(*batches[2])
        sync(device)
        first[name] = time.perf_counter() - start
    steps = max(1, int(round(block_seconds / max(min(first.values()), 1e-6))))
    if rounds is None:
        per_round = steps * sum(first.values())
        rounds = int(min(21, max(5, budget_seconds // max(per_round, 1e-6))))
    samples: dict[str, list[float]] = {name: [] for name in trainers}
    order = list(trainers)
    for r in range(rounds):
        for name in order[r % len(order):] + order[: r % len(order)]:
            trainer = trainers[name]
            sync(device)
            start = time.perf_counter()
            for i in range(steps):
                trainer.step(*batches[i % len(batches)])
            sync(device)
            samples[name].append((time.perf_counter() - start) / steps)
    median = {name: 1e3 * statistics.median(v) for name, v in samples.items()}
    paired = {m: statistics.median(a / b for a, b in zip(samples[m], samples["mlp"])) for m in methods}
    main = methods[0]
    return {
        "device": device.type if device.type != "cuda" else torch.cuda.get_device_name(device),
        "arch": arch, "presets": [nm_preset, mlp_preset], "D": n_features, "batch": batch_size,
        "nmtune_ms": round(median[main], 4), "mlp_ms": round(median["mlp"], 4), "ratio": round(paired[main], 4),
        "svd_method": main,
        "nmtune_ms_by_method": {m: round(median[m], 4) for m in methods},
        "ratio_by_method": {m: round(paired[m], 4) for m in methods},
        "best_ms": {name: round(1e3 * min(v), 4) for name, v in samples.items()},
        "statistic": "ms: median over rounds of the per-step time of a block; ratio: median over rounds of the "
                     "paired (same-round) NMTune / MLP block-time ratios",
        "steps_per_block": steps, "rounds": rounds,
    }


def regularizer_cost(n_features: int, batch_size: int, device: torch.device, *, top_k: int = 5,
                     methods: tuple[str, ...] = ("exact", "gram", "gram-cpu"), repeats: int = 20) -> dict[str, Any]:
    """ms of the three regularizers alone (forward + backward) for each ``svd_method``, interleaved.

    Also ``"eigh_floor"``: :func:`torch.linalg.eigh` alone of the ``n x n`` float64 Gram matrix
    (``n = min(batch_size, n_features)``) on the CPU, which every exact path through the spectrum pays
    (the SVD term needs all singular values: their sum is the denominator)."""
    gen = torch.Generator().manual_seed(1)
    F = torch.randn(batch_size, n_features, generator=gen).to(device)
    Z = torch.randn(batch_size, n_features, generator=gen).to(device).requires_grad_()
    weights = torch.tensor([1.0, 0.04, 0.001], device=device)
    Z64 = Z.detach().cpu().double()
    gram = Z64 @ Z64.mT if batch_size <= n_features else Z64.mT @ Z64

    def run(method: str) -> None:
        if method == "eigh_floor":
            torch.linalg.eigh(gram)
            return
        (regularizer_terms(F, Z, top_k=top_k, svd_method=method) * weights).sum().backward()
        Z.grad = None

    timed = (*methods, "eigh_floor")
    samples: dict[str, list[float]] = {m: [] for m in timed}
    for m in timed:
        run(m)
    for _ in range(repeats):
        for m in timed:
            sync(device)
            start = time.perf_counter()
            run(m)
            sync(device)
            samples[m].append(time.perf_counter() - start)
    return {"D": n_features, "batch": batch_size, "top_k": top_k, "statistic": "best of the interleaved repeats",
            "ms": {m: round(1e3 * min(v), 4) for m, v in samples.items()},
            "median_ms": {m: round(1e3 * statistics.median(v), 4) for m, v in samples.items()}}


def _class_data(n_samples: int, n_features: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class-conditional Gaussian features (float32) and balanced labels."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n_samples) % N_CLASSES)
    means = (rng.standard_normal((N_CLASSES, n_features)) * (2.2 / np.sqrt(2 * n_features))).astype(np.float32)
    X = rng.standard_normal((n_samples, n_features), dtype=np.float32) + means[y]
    return X, y


def training_equivalence(arch: str = "authors", n_features: int = 256, n_train: int = 3000, n_test: int = 2000,
                         epochs: int = 4, batch_size: int = 64, seeds: tuple[int, ...] = (0, 1, 2),
                         device: torch.device | None = None, overrides: dict[str, float] | None = None) -> dict[str, Any]:
    """Train the same NMTune head with the exact and the fast SVD term, for a few seeds.

    AdamW with the preset's lr and weight decay, a per-step cosine schedule, shuffled batches:
    the package's training loop without skorch, on 10 overlapping Gaussian classes (about 75 %
    accuracy, so differences can show). ``overrides`` changes the preset's loss weights (e.g. a
    much larger ``svd_weight``, so that a wrong SVD gradient would change the trajectory).
    Returns the per-epoch mean training loss and the test accuracy per method and seed, and the
    largest gap between the methods at one seed next to the spread across seeds.
    """
    device = device or torch.device("cpu")
    nm_preset, _ = ARCHITECTURES[arch]
    X, y = _class_data(n_train + n_test, n_features, seed=123)
    Xtr, ytr = torch.from_numpy(X[:n_train]).to(device), torch.from_numpy(y[:n_train]).to(device)
    Xte, yte = torch.from_numpy(X[n_train:]).to(device), torch.from_numpy(y[n_train:])
    steps_per_epoch = math.ceil(n_train / batch_size)
    runs: dict[str, dict[str, Any]] = {}
    for how in ("exact", "fused"):
        for seed in seeds:
            nmtune = make_head(nm_preset, **(overrides or {}))
            trainer = _Trainer(nmtune, Penalty(nmtune, how, device), n_features, device, seed)
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(trainer.opt, T_max=epochs * steps_per_epoch)
            gen = torch.Generator().manual_seed(seed)
            curve = []
            for _ in range(epochs):
                trainer.head.train()
                perm = torch.randperm(n_train, generator=gen).to(device)
                losses = []
                for start in range(0, n_train, batch_size):
                    idx = perm[start : start + batch_size]
                    if len(idx) < 2:
                        continue
                    losses.append(trainer.step(Xtr[idx], ytr[idx]))
                    sched.step()
                curve.append(float(np.mean(losses)))
            trainer.head.eval()
            with torch.inference_mode():
                accuracy = float((trainer.head(Xte)[0].argmax(1).cpu() == yte).float().mean())
            runs[f"{how}/seed{seed}"] = {"loss_curve": [round(v, 6) for v in curve], "test_accuracy": accuracy}
    acc = {how: [runs[f"{how}/seed{s}"]["test_accuracy"] for s in seeds] for how in ("exact", "fused")}
    curve_gap = max(
        abs(a - b)
        for s in seeds
        for a, b in zip(runs[f"exact/seed{s}"]["loss_curve"], runs[f"fused/seed{s}"]["loss_curve"])
    )
    return {
        "arch": arch, "preset": nm_preset, "overrides": overrides or {}, "D": n_features, "n_train": n_train, "n_test": n_test, "epochs": epochs,
        "batch": batch_size, "seeds": list(seeds), "device": str(device), "runs": runs,
        "accuracy_mean": {how: float(np.mean(v)) for how, v in acc.items()},
        "accuracy_seed_std": {how: float(np.std(v)) for how, v in acc.items()},
        "max_accuracy_gap_same_seed": float(max(abs(a - b) for a, b in zip(acc["exact"], acc["fused"]))),
        "max_loss_curve_gap_same_seed": float(curve_gap),
    }


def equivalence_runs(device: torch.device, *, small: bool = False,
                     on_result: Callable[[str, dict[str, Any]], None] | None = None) -> dict[str, dict[str, Any]]:
    """:func:`training_equivalence` for each of :data:`EQUIVALENCE_CONFIGS` (``small``: a smoke size, seconds);
    ``on_result(label, result)`` after each."""
    kwargs = dict(n_features=16, n_train=200, n_test=100, epochs=1, seeds=(0, 1)) if small else {}
    out = {}
    for label, overrides in EQUIVALENCE_CONFIGS.items():
        out[label] = training_equivalence(device=device, overrides=overrides, **kwargs)
        if on_result is not None:
            on_result(label, out[label])
    return out


def batching_bound(n_rows: int, n_features: int, n_classes: int, *, device: torch.device | str = "cpu",
                   n_models: int = 12, epochs: int = 10, batch_size: int = 64, repeats: int = 3) -> dict:
    """What training ``n_models`` heads as one batched network could save over fitting them one by one.

    ``n_models`` copies of ``NMTuneClassifierCV``'s default MLP candidate (``mlp_depth=2``, hidden width capped
    at 512) for ``n_features`` inputs, each with its own rows and mini-batches, trained for the same AdamW steps
    (fused kernel, as the heads) three ways, interleaved: one after the other in a bare torch loop, stacked with
    ``torch.func.stack_module_state`` + ``vmap`` (one forward, backward and optimizer step for all), and one
    ``NMTuneClassifier.fit`` each (the package's skorch loop; same epochs, no early stopping). Returns seconds per
    model and step of each and the ratios to the bare loop.
    """
    import copy

    from torch.func import functional_call, grad_and_value, stack_module_state, vmap

    device = torch.device(device)
    est = make_head("nmtune", random_state=0, device=str(device), mlp_depth=2, reg_lambda=0.0, max_hidden_width=512,
                    early_stopping=False, max_epochs=epochs, batch_size=batch_size)
    torch.manual_seed(0)
    models = [head_module(est, n_features, n_classes).to(device) for _ in range(n_models)]
    X = torch.randn(n_models, n_rows, n_features, device=device)
    y = torch.randint(0, n_classes, (n_models, n_rows), device=device)
    steps = epochs * -(-n_rows // batch_size)
    batches = [[torch.randint(0, n_rows, (batch_size,), device=device) for _ in range(steps)] for _ in range(n_models)]

    def sequential() -> None:
        for m, model in enumerate(copy.deepcopy(models)):
            opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4, fused=True)
            for idx in batches[m]:
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(X[m, idx])[0], y[m, idx]).backward()
                opt.step()

    def batched() -> None:
        params, buffers = stack_module_state(copy.deepcopy(models))
        params = {k: v.detach().requires_grad_(False) for k, v in params.items()}
        template = copy.deepcopy(models[0]).to("meta")

        def loss(p, b, xb, yb):
            return torch.nn.functional.cross_entropy(functional_call(template, (p, b), (xb,))[0], yb)

        step = vmap(grad_and_value(loss))
        opt = torch.optim.AdamW(list(params.values()), lr=1e-3, weight_decay=1e-4, fused=True)
        rows = torch.arange(n_models, device=device)[:, None]
        for s in range(steps):
            idx = torch.stack([batches[m][s] for m in range(n_models)])
            grads, _ = step(params, buffers, X[rows, idx], y[rows, idx])
            for name, value in params.items():
                value.grad = grads[name]
            opt.step()

    def skorch_fits() -> None:
        for m in range(n_models):
            make_head("nmtune", **{**est.get_params(), "random_state": m}).fit(X[m].cpu().numpy(), y[m].cpu().numpy())

    seconds: dict[str, list[float]] = {"sequential": [], "batched": [], "skorch": []}
    runs = (("sequential", sequential), ("batched", batched), ("skorch", skorch_fits))
    for _, run in runs:  # warm-up: first-call costs (allocator, kernel selection) out of the timings
        run()
    for _ in range(repeats):  # interleaved, so a noisy machine slows all three alike
        for name, run in runs:
            t0 = time.perf_counter()
            run()
            sync(device)
            seconds[name].append(time.perf_counter() - t0)
    per_step = {k: float(np.median(v)) / (n_models * steps) for k, v in seconds.items()}
    return {"device": str(device), "n_models": n_models, "n_rows": n_rows, "n_features": n_features, "n_classes": n_classes,
            "hidden_width": hidden_width(est, n_features), "steps_per_model": steps, "batch_size": batch_size,
            "repeats": repeats, "seconds": seconds, "seconds_per_model_step": per_step,
            "batched_over_sequential": per_step["batched"] / per_step["sequential"],
            "skorch_over_sequential": per_step["skorch"] / per_step["sequential"]}
