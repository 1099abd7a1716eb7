"""The renderers of ``benchmarks/render_docs.py``'s blocks on the other studies: fit time and its batching bound,
the training step's cost, GPU reloads, compiled and distributed extraction, transferability ranking, regression and
noisy pre-training; each ``renderer(results folder) -> markdown``.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.harness.doc_renderers import BACKBONE_NAMES, missing
from benchmarks.harness.io import read_json

__all__ = ["cost_choice", "distributed", "extraction_compile", "fit_time", "fit_time_batching", "fit_time_sweep",
           "gpu_reload", "noisy_pretraining",
           "noisy_pretraining_gpu", "ranking", "regression_defaults", "regression_sick", "step_cost"]


# =========================================================================== fit time and step cost


def fit_time(results: Path) -> str:
    """Side-by-side fit times on one thread (``fit_time.json``): medians and ratios to ``LogisticRegressionCV``."""
    data = read_json(results / "fit_time.json", {})
    if not data.get("rows"):
        return missing("fit_time.json", "python -m benchmarks.fit_time")
    heads = (("recommended", "`NMTuneClassifierCV()`"), ("recommended-no-racing", "`NMTuneClassifierCV(racing=None)`"),
             ("voting", "`make_voting_head()`"))
    lines = [f"Seconds per fit on {data.get('threads', 1)} thread, median of interleaved repeats, and the ratio to "
             "`LogisticRegressionCV` measured beside it (`benchmarks/results/fit_time.json`):", "",
             "| task (backbone, training rows) | measured | `LogisticRegressionCV` | "
             + " | ".join(label for _, label in heads) + " |", "|---|---|---|" + "---|" * len(heads)]
    for row in data["rows"]:
        med, base = row["median_s"], row["median_s"]["logreg_cv"]
        cells = [f"{med[h]:.2f} s ({med[h] / base:.1f}×)" if h in med else "–" for h, _ in heads]
        lines.append(f"| {row['task']} ({BACKBONE_NAMES.get(row['backbone'], row['backbone'])}, {row['n_train']}) "
                     f"| {row['finished'][:10]} | {base:.2f} s | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def fit_time_sweep(results: Path) -> str:
    """Fit time against rows and width beside ``LogisticRegressionCV`` (``fit_time_sweep.json``), with the growth
    exponents and :func:`sknmtune.heads.estimate_fit_seconds`'s estimate of the CV head."""
    from benchmarks.harness.fit_sweep import LABELS, REFERENCE

    data = read_json(results / "fit_time_sweep.json", {})
    if not data.get("points"):
        return missing("fit_time_sweep.json", "python -m benchmarks.fit_time --sweep")
    heads = [h for h in LABELS if h != REFERENCE and any(h in p["seconds"] for p in data["points"])]
    lines = [f"One fit per head and size on {data.get('threads', 1)} thread, interleaved, beside "
             f"`{LABELS[REFERENCE]}` (StandardScaler, Cs=10, 5 folds): seconds of the reference, and each head's "
             "ratio to it (`benchmarks/results/fit_time_sweep.json`):", "",
             f"| rows × width (features) | `{LABELS[REFERENCE]}` | " + " | ".join(f"`{LABELS[h]}`" for h in heads) + " |",
             "|---|---|" + "---|" * len(heads)]
    for p in data["points"]:
        cells = [f"{p['seconds'][h]:.1f} s ({p['ratio'][h]:.2f}×)" if h in p["seconds"] else "–" for h in heads]
        lines.append(f"| {p['n']:,} × {p['d']:,} ({p['source']}) | {p['seconds'][REFERENCE]:.1f} s | "
                     + " | ".join(cells) + " |")
    growth = data.get("exponents", {})
    if growth:
        spans = list(next(iter(growth.values())))
        lines += ["", "Growth exponent of fit time with rows at 1,280 columns (log t₂/t₁ ÷ log n₂/n₁; 1 is linear):", "",
                  "| head | " + " | ".join(spans) + " |", "|---|" + "---|" * len(spans)]
        for h in [REFERENCE, *heads]:
            if h in growth:
                lines.append(f"| `{LABELS[h]}` | " + " | ".join(f"{growth[h].get(s, float('nan')):.2f}" for s in spans) + " |")
    return "\n".join(lines) + "\n"


def cost_choice(results: Path) -> str:
    """The cost issue's decisions on validation records (``cost_choice.json``)."""
    from benchmarks.harness.cost_report import report_lines

    data = read_json(results / "cost_choice.json", {})
    if not data.get("changes"):
        return missing("cost_choice.json", "python -m benchmarks.cost_choice")
    return "\n".join(report_lines(data)) + "\n"


def fit_time_batching(results: Path) -> str:
    """Training the candidates as one ``vmap``-batched network vs one by one (``fit_time_batching.json``)."""
    data = read_json(results / "fit_time_batching.json", {})
    if not data.get("rows"):
        return missing("fit_time_batching.json", "python -m benchmarks.fit_time --batching-bound")
    lines = ["| models × rows (features → width) | one by one, bare torch loop | `vmap`-batched "
             "| the package's loop | batched / one by one |", "|---|---|---|---|---|"]
    for row in data["rows"]:
        ms = {k: 1000 * v for k, v in row["seconds_per_model_step"].items()}
        lines.append(f"| {row['n_models']} × {row['n_rows']} ({row['n_features']} → {row['hidden_width']}) "
                     f"| {ms['sequential']:.1f} ms | {ms['batched']:.1f} ms | {ms['skorch']:.1f} ms "
                     f"| {row['batched_over_sequential']:.2f}× |")
    return (f"Milliseconds per model and training step, batch {data['rows'][0]['batch_size']}, "
            f"{data.get('threads', 1)} CPU thread:\n\n" + "\n".join(lines) + "\n")


def step_cost(results: Path) -> str:
    """NMTune's training step against the MLP's on the CPU (``core.json``: ``step_cost``, ``step_cost_floor``,
    ``regularizer_cost``)."""
    data = read_json(results / "core.json", {})
    if not data.get("step_cost"):
        return missing("core.json", "python -m benchmarks.bench_core")
    floor = {(r["arch"], r["D"], r["batch"]): r for r in data.get("step_cost_floor", [])}
    lines = ["NMTune step / MLP step of the same architecture (CPU, one thread; paired medians of interleaved "
             "blocks), and the lowest ratio an exact spectrum allows (the eigen-decomposition alone added to the "
             "MLP's step):", "", "| architecture | D | batch | NMTune ms | MLP ms | ratio | lowest exact ratio |",
             "|---|---|---|---|---|---|---|"]
    for r in sorted(data["step_cost"], key=lambda r: (r["arch"], r["D"], r["batch"])):
        low = floor.get((r["arch"], r["D"], r["batch"]), {}).get("lowest_exact_ratio")
        lines.append(f"| {r['arch']} | {r['D']} | {r['batch']} | {r['nmtune_ms']:.1f} | {r['mlp_ms']:.1f} "
                     f"| {r['ratio']:.2f} | {'–' if low is None else f'{low:.2f}'} |")
    if data.get("regularizer_cost"):
        lines += ["", "The regularizers alone (ms, best of interleaved repeats): the fused path, `svdvals` with "
                  "autograd, and the eigen-decomposition it cannot avoid:", "",
                  "| D | batch | fused (`gram`) | `exact` | eigen-decomposition |", "|---|---|---|---|---|"]
        for r in data["regularizer_cost"]:
            lines.append(f"| {r['D']} | {r['batch']} | {r['ms']['gram']:.2f} | {r['ms']['exact']:.2f} "
                         f"| {r['ms']['eigh_floor']:.2f} |")
    return "\n".join(lines) + "\n"


def extraction_compile(results: Path) -> str:
    """``compile=True`` against eager extraction on the CPU (``extraction_compile.json``)."""
    data = read_json(results / "extraction_compile.json", {})
    models = {k: v for k, v in data.items() if k != "meta" and "compile_first_call_s" in v}
    if not models:
        return missing("extraction_compile.json", "python -m benchmarks.bench_extraction --compile")
    meta = data.get("meta", {})
    lines = [f"{meta.get('cpu_count', '?')} CPU cores, {meta.get('torch_threads', '?')} torch threads, torch "
             f"{meta.get('torch', '?')}; random-init weights, channels_last on both sides:", "",
             "| model | image size, batch | compilation (empty inductor cache) | eager | compiled | speed-up "
             "| largest feature difference | pays off from |", "|---|---|---|---|---|---|---|---|"]
    for name, m in models.items():
        lines.append(f"| {name} | {m['image_size']} px, {m['batch_size']} | {m['compile_first_call_s']:.0f} s "
                     f"| {m['bare_samples_per_s_best']:.0f} images/s | {m['transformer_samples_per_s_best']:.0f} images/s "
                     f"| {m['ratio_best']:.2f}× | {m['max_abs_diff']:.0e} | {m['break_even_images']:,.0f} images |")
    return "\n".join(lines) + "\n"


def distributed(results: Path) -> str:
    """Distributed extraction against in-process (``distributed.json``, ``benchmarks/bench_distributed.py``)."""
    data = read_json(results / "distributed.json", {})
    if not data.get("runs"):
        return missing("distributed.json", "python -m benchmarks.bench_distributed --ray")
    lines = ["| configuration | seconds | images/s | load before → after | peak RSS per worker |",
             "|---|---:|---:|---|---:|"]
    for r in data["runs"]:
        rss = " / ".join(f"{mb / 1000:.2f} GB" for mb in r.get("worker_peak_rss_mb", {}).values())
        lines.append(f"| {r['name']} | {r['seconds']:.1f} | {r['images_per_s']:.1f} "
                     f"| {r['load_before']:.2f} → {r['load_after']:.2f} | {rss} |")
    c = data.get("comparison", {})
    if c:
        identical = c.get("features_bit_identical_vs_inprocess_1_thread", {})
        lines += ["", f"- 2 Dask workers are {c['dask_speedup_2x1_over_1x1']:.2f}× as fast as 1 (parallel efficiency "
                  f"{c['dask_parallel_efficiency']:.2f}) and take {c['dask_2x1_time_over_inprocess_2_threads']:.2f}× the "
                  f"time of in-process extraction with 2 torch threads (Ray: "
                  f"{c['ray_2x1_time_over_inprocess_2_threads']:.2f}×).",
                  f"- Features bit-identical to in-process with 1 thread: "
                  f"{sum(identical.values())} of {len(identical)} other configurations."]
    for o in data.get("per_chunk_overhead", []):
        lines.append(f"- {o['engine'].capitalize()}'s cost per chunk ({o['chunks']} tasks of {o['samples_per_chunk']} "
                     f"samples with a no-op backbone, minus the same calls in-process): {o['ms_per_chunk_wall']:.1f} ms.")
    return "\n".join(lines) + "\n"


def ranking(results: Path) -> str:
    """Transferability scores against trained heads' accuracy (``ranking.json``): the report's summaries over tasks,
    all six backbones and within the CIFAR family, and the ImageNet pair."""
    from benchmarks.harness.ranking_report import GROUPS, score_summary_table

    data = read_json(results / "ranking.json", {})
    if not data.get("correlations"):
        return missing("ranking.json", "python -m benchmarks.ranking")
    parts = []
    for study, groups in GROUPS.items():
        for group, label in groups.items():
            sel = [c for c in data["correlations"] if c["study"] == study and c["group"] == group]
            if sel:
                tasks = sorted({c["task"] for c in sel})
                parts += [f"Mean Kendall τ over {len(tasks)} tasks ({', '.join(tasks)}), {label}, and how often the "
                          "score's top backbone was the most accurate one:", "", *score_summary_table(sel), ""]
    return "\n".join(parts).rstrip("\n") + "\n"


def regression_sick(results: Path) -> str:
    """SICK relatedness from frozen MiniLM pair features (``regression.json``), the report's two tables."""
    from benchmarks.harness.regression_tables import paired_table, summary_table

    data = read_json(results / "regression.json", {})
    if not data.get("records"):
        return missing("regression.json", "python -m benchmarks.regression")
    return (summary_table(data["records"]) + "\n\nSame-seed differences (the MLP heads share their initialization "
            "and batch order for one seed):\n\n" + paired_table(data["records"]) + "\n")


#: ``regression_defaults.json``'s sets and methods, as the regression guide names them
_REGRESSION_SETS = {"arcsinh": "arcsinh", "friedman1": "Friedman #1", "diabetes": "diabetes", "linnerud": "linnerud",
                    "sick": "SICK trial"}
_REGRESSION_METHODS = {"ridge": "`StandardScaler + RidgeCV`", "mlp_sklearn": "`MLPRegressor()`",
                       "previous": "`NMTuneRegressor()` before (random readout)",
                       "defaults": "`NMTuneRegressor()` (ridge start, `lr=1e-3`)", "lr3e-3": "ridge start, `lr=3e-3`",
                       "lr1e-2": "ridge start, `lr=1e-2`", "standardize": "ridge start, `standardize=True`"}


def regression_defaults(results: Path) -> str:
    """The regressor's validation study (``regression_defaults.json``): mean validation R² per set and candidate."""
    records = read_json(results / "regression_defaults.json", {}).get("records", [])
    if not records:
        return missing("regression_defaults.json", "python -m benchmarks.regression_defaults")
    cells: dict[tuple[str, str], list[float]] = {}
    for r in records:
        cells.setdefault((r["method"], r["set"]), []).append(r["val_r2"])
    sets = [k for k in _REGRESSION_SETS if any(k == st for _, st in cells)]
    lines = ["| method | " + " | ".join(_REGRESSION_SETS[k] for k in sets) + " |", "|---|" + "---|" * len(sets)]
    for method, label in _REGRESSION_METHODS.items():
        if any(m == method for m, _ in cells):
            row = [f"{sum(v) / len(v):.4f} ({len(v)})" if (v := cells.get((method, k))) else "—" for k in sets]
            lines.append(f"| {label} | " + " | ".join(row) + " |")
    return "Mean validation R² (number of seeds in brackets):\n\n" + "\n".join(lines) + "\n"


def _noisy_pretraining(folder: Path) -> str:
    """The noisy pre-training study of one results folder (``results.json``, written with ``claims.md`` by
    ``benchmarks/noisy_pretraining.py``; ``pretraining.json``, ``timing.json``): per noise ratio the backbone's clean
    accuracy, the corrupted labels it fitted, LP in and out of domain and the features' spectra; then every claim's
    verdict."""
    data = read_json(folder / "results.json", {})
    summary = data.get("summary", {})
    if not summary:
        return missing(f"{folder.name}/results.json", "python -m benchmarks.noisy_pretraining")
    gammas = list(summary["table3"])
    lp = summary["lp_all_fractions"]

    def spread(cell: list[float]) -> str:
        mean, std, n = cell
        return f"{100 * mean:.2f}" + (f" (± {100 * std:.2f}, {n} seeds)" if n > 1 else "")

    rows = [("clean CIFAR-10 test accuracy (%, Table 3 analogue)", [f"{100 * summary['table3'][g]:.2f}" for g in gammas]),
            ("corrupted training labels the network fitted", [
                "–" if summary["memorized"].get(g) is None else f"{100 * summary['memorized'][g]:.1f} %" for g in gammas]),
            ("LP, ID accuracy (%; mean over tasks and data fractions)", [spread(lp["ID"][g]) for g in gammas]),
            ("LP, OOD accuracy (%; mean over the OOD test sets)", [spread(lp["OOD"][g]) for g in gammas]),
            ("SVE, ID test features", [f"{summary['sve_id'][g]:.3f}" for g in gammas]),
            ("LSVR, OOD test features", [f"{summary['lsvr_ood'][g]:.3f}" for g in gammas])]
    lines = ["| γ | " + " | ".join(f"{g} %" for g in gammas) + " |", "|---|" + "---|" * len(gammas)]
    lines += [f"| {name} | " + " | ".join(cells) + " |" for name, cells in rows]
    pre = read_json(folder / "pretraining.json", {})
    timing = read_json(folder / "timing.json", {}).get("invocations", [])
    if pre.get("gammas"):
        rates = [g["train_images_per_s"] for g in pre["gammas"].values()]
        cfg = pre.get("config", {})
        lines += ["", f"Pre-training: `{cfg.get('arch')}`, {cfg.get('n_train'):,} images, {cfg.get('epochs')} epochs per "
                  f"γ on {pre.get('device_name', pre.get('device'))} (torch threads: {pre.get('torch_threads')}): "
                  f"{min(rates):,.0f}–{max(rates):,.0f} images/s, "
                  + " / ".join(f"{g['train_seconds'] / 60:.1f}" for g in pre["gammas"].values()) + " min per γ"
                  + ("; invocations recorded in `timing.json`: "
                     + ", ".join(f"{t['wall_seconds'] / 60:.1f} min" for t in timing) if timing else "") + "."]
    claims = data.get("claims", [])
    if claims:
        lines += ["", "| # | paper | claim | verdict |", "|---|---|---|---|"]
        lines += [f"| {i} | {c['ref']} | {c['claim']} | {c['verdict']} |" for i, c in enumerate(claims, 1)]
    return "\n".join(lines) + "\n"


def noisy_pretraining(results: Path) -> str:
    """The CPU-default noisy pre-training run (``noisy_pretraining/``)."""
    return _noisy_pretraining(results / "noisy_pretraining")


def noisy_pretraining_gpu(results: Path) -> str:
    """The GPU-pre-trained CIFAR ResNet-20 run (``noisy_pretraining_gpu/``)."""
    return _noisy_pretraining(results / "noisy_pretraining_gpu")


def gpu_reload(results: Path) -> str:
    """How far a CUDA head's probabilities move when it is reloaded on the CPU (``gpu/gpu_check_*.json``)."""
    runs = sorted((results / "gpu").glob("gpu_check_*.json"))
    checks = [(read_json(p, {}).get("environment", {}).get("gpu", p.stem), read_json(p, {}).get("nmtune", {}))
              for p in runs]
    checks = [(gpu, n) for gpu, n in checks if "reload_cpu_max_abs_proba_diff" in n]
    if not checks:
        return missing("gpu/gpu_check_<gpu>.json", "python -m benchmarks.gpu_check --suite")
    return "; ".join(f"{gpu}: largest probability difference {n['reload_cpu_max_abs_proba_diff']:.1e}, "
                     f"predictions {'identical' if n.get('reload_cpu_same_predictions') else 'not identical'}"
                     for gpu, n in checks) + "\n"
