"""Report of the noisy pre-training study (``python -m benchmarks.noisy_pretraining``): seed-averaged summaries, claim-by-claim verdicts, figures.

Reads ``pretraining.json`` and ``downstream.json``; downstream records are
:func:`sknmtune.evaluation.evaluate_heads` records (roles ``id`` / ``ood``, ``macro_f1``, ``sve_Z``,
``lsvr_Z``). Records stored before the study used that format (``target``, ``f1``, ``sve``, ``lsvr``, roles
``ID`` / ``OOD``) are read through :func:`as_evaluation_record`, so every stored report re-renders unchanged.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness.io import atomic_write_text, log, read_json, write_json
from benchmarks.harness.noisy_pretraining.downstream import HEADS
from benchmarks.harness.tables import seed_means

__all__ = ["as_evaluation_record", "build_claims", "summarize", "write_report"]

#: the report's metric names -> the evaluation records' fields
_FIELDS = {"accuracy": "accuracy", "f1": "macro_f1", "sve": "sve_Z", "lsvr": "lsvr_Z"}


def as_evaluation_record(r: dict[str, Any]) -> dict[str, Any]:
    """A downstream record in the evaluation format (records in the study's former format are converted)."""
    if "target" not in r:
        return r
    role = r["role"].lower()
    return {"gamma": r["gamma"], "noise_rate": r["noise_rate"], "source": r["source"], "preset": r["preset"],
            "fraction": r["fraction"], "method": r["method"], "seed": r["seed"], "role": role,
            "domain": "id" if role == "id" else r["target"], "accuracy": r["accuracy"], "macro_f1": r["f1"],
            "sve_Z": r["sve"], "lsvr_Z": r["lsvr"], "fit_seconds": r["fit_seconds"], "n_train": r["n_train"]}


def _records(down: dict[str, Any]) -> list[dict[str, Any]]:
    return [as_evaluation_record(r) for d in down.values() for r in d["records"]]


def _target(r: dict[str, Any]) -> str:
    """The test set's name: the source for its ID test split, else the OOD domain."""
    return r["source"] if r["domain"] == "id" else r["domain"]


def _avg(records, *, method: str, role: str, metric: str, fraction: float | None = None) -> dict[int, tuple[float, float, int]]:
    """gamma -> (mean, std (ddof=0) over seeds, n_seeds) of ``metric``: per seed, the mean over the role's targets
    (and fractions); :func:`benchmarks.harness.tables.seed_means` of those."""
    selected = [{"gamma": int(r["gamma"]), "seed": r["seed"], metric: r[_FIELDS[metric]]} for r in records
                if r["method"] == method and r["role"] == role.lower()
                and (fraction is None or abs(r["fraction"] - fraction) < 1e-9)]
    summary = seed_means(selected, metric, by=("gamma",))
    return {gamma: summary[(gamma,)] for gamma in sorted({r["gamma"] for r in selected})}


def _frozen_metric(down: dict[str, Any], role: str, metric: str) -> dict[int, float]:
    """gamma -> mean over the role's test sets of a frozen-feature spectral metric."""
    return {int(g): float(np.mean([s[metric] for s in d["spectral"] if s["role"] == role])) for g, d in down.items()}


def _spearman(x, y) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic) if len(x) > 2 else float("nan")


def summarize(pre: dict[str, Any], down: dict[str, Any]) -> dict[str, Any]:
    """Seed-averaged tables the figures and claims are built from."""
    records = _records(down)
    methods = [m for m in HEADS if any(r["method"] == m for r in records)]
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
    records = _records(down)
    targets = list(dict.fromkeys((_target(r), r["role"].upper()) for r in records))
    out = ["", "## Details", "", "LP accuracy (%) at 100% of the downstream training data (mean over head seeds):", "", head, sep]
    for t, role in targets:
        cells = []
        for g in gam:
            v = [r["accuracy"] for r in records if r["method"] == "LP" and r["fraction"] == 1.0 and r["gamma"] == g and _target(r) == t]
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
        log("matplotlib is absent: figures skipped")
        return []
    from sknmtune.plotting import plot_accuracy_vs_noise, plot_metric_vs_noise, plot_spectrum

    written = []
    records = _records(down)

    # Fig. 2: LP accuracy vs gamma, one line per data fraction; per seed the mean over the role's targets.
    recs = [
        {"method": f"LP {100 * frac:.0f}% data", "role": role.upper(), "noise_rate": g / 100, "accuracy": float(np.mean([r["accuracy"] for r in rs]))}
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
        {"method": method, "role": role.upper(), "noise_rate": g / 100,
         **{m: float(np.mean([r[_FIELDS[m]] for r in rs])) for m in ("f1", "sve", "lsvr")}}
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
    pre = read_json(results_dir / "pretraining.json")
    down_all = read_json(results_dir / "downstream.json")
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
    atomic_write_text(results_dir / "claims.md", md)
    out = {"profile": profile, "summary": _jsonable(summary), "claims": claims, "figures": figures}
    write_json(results_dir / "results.json", out)
    return out


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
