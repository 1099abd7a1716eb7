"""Markdown tables of the accuracy benchmarks' records (``results/accuracy*.json``), grouped by backbone family.

Per seed, each (task, backbone) pair first averages its test domains; a family's value is the mean over its
pairs, then mean ± std over seeds (:func:`family_summary`). Every mean over seeds is
:func:`sknmtune.evaluation.seed_summary`'s (:func:`seed_means`). ``order`` is the benchmark's method order.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["claims_table", "coverage_table", "detail_sections", "extraction_table", "families_in", "family_summary",
           "fit_time_table", "fmt", "headline_table", "matched", "mean_of", "methods_in", "paired_table", "paired_wins",
           "per_domain_table", "per_task_table", "seed_means", "spectral_table", "summary_table", "target_table",
           "vote_target_section"]


def mean_of(values: Iterable[float | None]) -> float:
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals else float("nan")


def fmt(m: float, s: float | None = None, pct: bool = True) -> str:
    if m is None or not math.isfinite(m):
        return "-"
    if pct:
        return f"{100 * m:.1f}" + (f" ± {100 * s:.1f}" if s is not None and math.isfinite(s) else "")
    return f"{m:.3f}" + (f" ± {s:.3f}" if s is not None and math.isfinite(s) else "")


def seed_means(records: Iterable[Mapping[str, Any]], key: str, by: Sequence[str]) -> dict[tuple, tuple[float, float, int]]:
    """``{group: (mean, std, n_seeds)}`` over seeds, with the spread the benchmark reports print.

    Per seed, the mean of ``key`` over the group's test sets is :func:`sknmtune.evaluation.seed_summary`'s (grouped by
    ``by`` and the seed); then the mean and the population standard deviation (``ddof=0``; ``seed_summary`` reports
    the sample one) of those per-seed means, the seeds in the order the records first show them.
    """
    from sknmtune.evaluation import seed_summary

    records = [r for r in records if r.get(key) is not None]
    per_seed = seed_summary(records, key, by=(*by, "seed"))
    seeds: dict[tuple, dict[int, None]] = {}
    for r in records:
        seeds.setdefault(tuple(r[f] for f in by), {}).setdefault(r["seed"], None)
    out = {}
    for group, group_seeds in seeds.items():
        means = [per_seed[(*group, seed)][0] for seed in group_seeds]
        out[group] = (float(np.mean(means)), float(np.std(means)), len(means))
    return out


def family_summary(records: list[dict[str, Any]], key: str = "accuracy") -> dict[tuple[str, str, str], tuple[float, float, int]]:
    """(family, method, role) -> (mean, std over seeds, n pairs): per seed, the mean over the family's (task, backbone)
    pairs of each pair's mean over its test domains (so each pair weighs equally); then :func:`seed_means` of those
    per-seed values (std NaN for one seed)."""
    per_pair: dict[tuple, list[float]] = defaultdict(list)
    for r in records:
        for fam in (r["family"], "all"):
            per_pair[(fam, r["method"], r["role"], r["seed"], r["task"], r["backbone"])].append(r[key])
    pairs = [{"family": fam, "method": m, "role": role, "seed": seed, key: float(np.mean(values))}
             for (fam, m, role, seed, _, _), values in per_pair.items()]
    n_pairs: dict[tuple, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for p in pairs:
        n_pairs[(p["family"], p["method"], p["role"])][p["seed"]] += 1
    summary = seed_means(pairs, key, by=("family", "method", "role"))
    return {group: (mean, std if n_seeds > 1 else float("nan"), max(n_pairs[group].values()))
            for group, (mean, std, n_seeds) in summary.items()}


def matched(records: list[dict[str, Any]], methods: Iterable[str]) -> list[dict[str, Any]]:
    """The records of ``methods`` on the (task, backbone, seed) units that every one of them has finished,
    so that means compare like with like while a run is incomplete."""
    methods = tuple(methods)
    units = [{(r["task"], r["backbone"], r["seed"]) for r in records if r["method"] == m} for m in methods]
    common = set.intersection(*units) if units else set()
    return [r for r in records if r["method"] in methods and (r["task"], r["backbone"], r["seed"]) in common]


def target_table(records: list[dict[str, Any]], probe: str, head: str = "recommended",
                 baselines: tuple[str, ...] = ("lp", "mlp")) -> str:
    """The heads issue's target, per backbone family, on matched units: ``head`` >= the best of the
    ``baselines`` and ``probe`` - 0.5 pt on mean ID and on mean OOD accuracy, with the paired difference to that
    best head over (task, backbone, test domain, seed) units and its bootstrap interval; ``head`` - ``probe``; the
    ratio of mean fit times ``head`` / ``probe`` (one fit per unit; wall clock as recorded)."""
    compared = (head, probe, *baselines)
    recs = matched(records, compared)
    if not recs:
        return f"(no unit has finished all of {', '.join(compared)} yet)"
    from sknmtune.evaluation import paired_difference

    acc = family_summary(recs)
    lines = [f"| backbone family | role | `{head}` | best of {', '.join(f'`{m}`' for m in (*baselines, probe))} "
             f"| gap (pp) | ≥ best − 0.5? | paired `{head}` − best, 95 % CI (clusters) | `{head}` − `{probe}` (pp) |",
             "|---|---|---|---|---|---|---|---|"]
    for fam in families_in(recs):
        in_family = [r for r in recs if fam == "all" or r["family"] == fam]
        for role in ("ID", "OOD"):
            if (fam, head, role) not in acc:
                continue
            best_m = max((*baselines, probe), key=lambda m: acc.get((fam, m, role), (-1.0,))[0])
            h, b, p = acc[(fam, head, role)][0], acc[(fam, best_m, role)][0], acc[(fam, probe, role)][0]
            d = paired_difference(in_family, head, best_m, role=role, units=("task", "backbone", "test_domain", "seed"))
            lines.append(f"| {fam} | {role} | {fmt(h)} | {fmt(b)} (`{best_m}`) | {100 * (h - b):+.2f} "
                         f"| {'yes' if h - b >= -0.005 else 'no'} "
                         f"| {100 * d.mean:+.2f} [{100 * d.low:+.2f}, {100 * d.high:+.2f}] ({d.n_clusters}) "
                         f"| {100 * (h - p):+.2f} |")
    secs = {m: [r["fit_seconds"] for r in recs if r["method"] == m and r["role"] == "ID"] for m in (head, probe)}
    n_units = len({(r["task"], r["backbone"], r["seed"]) for r in recs})
    lines += ["", f"{n_units} matched (task, backbone, seed) units. Mean fit time: `{head}` {np.mean(secs[head]):.1f} s, "
              f"`{probe}` {np.mean(secs[probe]):.1f} s (ratio {np.mean(secs[head]) / np.mean(secs[probe]):.1f}×; "
              "fits ran two at a time beside other jobs: see `benchmarks/results/fit_time.json` for a side-by-side "
              "measurement)."]
    return "\n".join(lines)


def vote_target_section(records: list[dict[str, Any]], probe: str) -> list[str]:
    """Report lines: :func:`target_table` for the ``voting`` method (``make_voting_head()``), when it has records."""
    if not any(r["method"] == "voting" for r in records):
        return []
    return ["The same target for `voting` (`make_voting_head()`):", "",
            target_table(records, probe=probe, head="voting"), ""]


def methods_in(records: list[dict[str, Any]], order: Iterable[str]) -> list[str]:
    present = {r["method"] for r in records}
    return [m for m in order if m in present]


def families_in(records: list[dict[str, Any]]) -> list[str]:
    order = ["text: MiniLM-L6-v2", "vision: CIFAR ResNet", "vision: timm resnet18"]
    present = {r["family"] for r in records}
    return [f for f in order if f in present] + sorted(present - set(order)) + ["all"]


def summary_table(records: list[dict[str, Any]], order: Iterable[str]) -> str:
    acc, f1 = family_summary(records, "accuracy"), family_summary(records, "macro_f1")
    methods = methods_in(records, order)
    lines = ["| backbone family | method | mean ID acc | mean OOD acc | ID macro-F1 | OOD macro-F1 |",
             "|---|---|---|---|---|---|"]
    for fam in families_in(records):
        most = max(acc[(fam, m, "ID")][2] for m in methods if (fam, m, "ID") in acc)
        for m in methods:
            if (fam, m, "ID") not in acc:
                continue
            n_pairs = acc[(fam, m, "ID")][2]
            name = m if n_pairs == most else f"{m} ({n_pairs} of {most} (task, backbone) pairs)"
            lines.append(
                f"| {fam} | {name} | {fmt(*acc[(fam, m, 'ID')][:2])} | {fmt(*acc.get((fam, m, 'OOD'), (float('nan'), None))[:2])} "
                f"| {fmt(*f1[(fam, m, 'ID')][:2])} | {fmt(*f1.get((fam, m, 'OOD'), (float('nan'), None))[:2])} |"
            )
    return "\n".join(lines)


def per_domain_table(records: list[dict[str, Any]], order: Iterable[str]) -> str:
    """Accuracy per test domain and method, mean ± std over seeds (:func:`seed_means`); the best of a row in bold."""
    methods = methods_in(records, order)
    rows = list(dict.fromkeys((r["backbone"], r["task"], r["role"], r["test_domain"]) for r in records))
    cells = seed_means(records, "accuracy", by=("backbone", "task", "role", "test_domain", "method"))
    lines = ["| backbone | task | role | test domain | " + " | ".join(methods) + " |",
             "|---|---|---|---|" + "---|" * len(methods)]
    for row in rows:
        vals = []
        best = max((cells[(*row, m)][0] for m in methods if (*row, m) in cells), default=float("nan"))
        for m in methods:
            if (*row, m) not in cells:
                vals.append("-")
                continue
            mean, std, n_seeds = cells[(*row, m)]
            txt = fmt(mean, std if n_seeds > 1 else None)
            vals.append(f"**{txt}**" if abs(mean - best) < 1e-12 else txt)
        lines.append(f"| {' | '.join(row)} | " + " | ".join(vals) + " |")
    return "\n".join(lines)


def spectral_table(records: list[dict[str, Any]], order: Iterable[str]) -> str:
    methods = methods_in(records, order)
    lines = ["| backbone family | method | SVE(F) ID | SVE(Z) ID | LSVR(F) OOD | LSVR(Z) OOD |", "|---|---|---|---|---|---|"]
    for fam in families_in(records)[:-1]:
        for m in methods:
            rid = [r for r in records if r["family"] == fam and r["method"] == m and r["role"] == "ID"]
            rood = [r for r in records if r["family"] == fam and r["method"] == m and r["role"] == "OOD"]
            if not rid:
                continue
            lines.append(
                f"| {fam} | {m} | {fmt(mean_of(r['sve_F'] for r in rid), pct=False)} | {fmt(mean_of(r['sve_Z'] for r in rid), pct=False)} "
                f"| {fmt(mean_of(r['lsvr_F'] for r in rood), pct=False)} | {fmt(mean_of(r['lsvr_Z'] for r in rood), pct=False)} |"
            )
    return "\n".join(lines)


def paired_wins(records: list[dict[str, Any]], a: str, b: str, role: str, family: str = "all") -> tuple[float, int, int]:
    """Mean over (task, backbone, domain, seed) of acc(a) - acc(b); also wins and comparisons."""
    idx = {(r["task"], r["backbone"], r["test_domain"], r["seed"], r["method"]): r["accuracy"] for r in records
           if r["role"] == role and (family == "all" or r["family"] == family)}
    diffs = [v - idx[(*k[:4], b)] for k, v in idx.items() if k[4] == a and (*k[:4], b) in idx]
    if not diffs:
        return float("nan"), 0, 0
    return float(np.mean(diffs)), int(sum(d > 0 for d in diffs)), len(diffs)


def claims_table(records: list[dict[str, Any]], pairs: Iterable[tuple[str, str]],
                 order: Iterable[str]) -> str:
    acc = family_summary(records, "accuracy")
    lines = ["| backbone family | NMTune variant | vs | role | Δ mean acc (pp) | wins / comparisons | holds? |",
             "|---|---|---|---|---|---|---|"]
    present = set(methods_in(records, order))
    for fam in families_in(records):
        for a, b in pairs:
            if a not in present or b not in present:
                continue
            for role in ("ID", "OOD"):
                if (fam, a, role) not in acc or (fam, b, role) not in acc:
                    continue
                delta = acc[(fam, a, role)][0] - acc[(fam, b, role)][0]
                _, wins, n = paired_wins(records, a, b, role, fam)
                lines.append(f"| {fam} | {a} | {b} | {role} | {100 * delta:+.2f} | {wins} / {n} | {'yes' if delta > 0 else 'no'} |")
    return "\n".join(lines)


def detail_sections(records: list[dict[str, Any]], meta: dict[str, Any], tasks: Mapping[str, Any],
                    order: Iterable[str], probe: str) -> list[str]:
    """The report's closing sections, as lines: accuracy per test domain, the spectra of F and Z, the data."""
    order = list(order)
    parts = [
        "## Per test domain (accuracy %; best in bold)", "", per_domain_table(records, order), "",
        "## Spectra: SVE of ID test features, LSVR of OOD test features, backbone F vs head Z", "",
        f"Raw features (the paper's definitions, no centering). {probe} has no Z.", "", spectral_table(records, order),
        "", "## Data", "",
    ]
    for task, notes in meta.get("data", {}).items():
        parts.append(f"- **{task}** ({tasks[task].description}):")
        parts += [f"    - {split}: {note}" for split, note in notes.items()]
    return parts


def paired_table(records: list[dict[str, Any]], pairs: Sequence[tuple[str, str]], order: Iterable[str]) -> str:
    """:func:`claims_table` for ``pairs``, each pair on its matched units."""
    tables = [claims_table(matched(records, pair), [pair], order).split("\n") for pair in pairs]
    rows = [row for t in tables for row in t[2:]]
    by_family = {fam: i for i, fam in enumerate(families_in(records))}
    rows.sort(key=lambda row: by_family.get(row.split(" | ")[0].lstrip("| "), len(by_family)))  # stable: pair order kept
    return "\n".join(tables[0][:2] + rows)


def per_task_table(records: list[dict[str, Any]], order: Iterable[str], role: str = "OOD") -> str:
    """Mean accuracy per (backbone, task) over its test domains of ``role``, mean over the seeds present."""
    methods = methods_in(records, order)
    selected = [r for r in records if r["role"] == role]
    cells = seed_means(selected, "accuracy", by=("backbone", "task", "method"))
    rows = list(dict.fromkeys((r["backbone"], r["task"]) for r in selected))
    lines = ["| backbone | task | " + " | ".join(methods) + " |", "|---|---|" + "---|" * len(methods)]
    for b, t in rows:
        vals = [fmt(cells[(b, t, m)][0]) if (b, t, m) in cells else "-" for m in methods]
        lines.append(f"| {b} | {t} | " + " | ".join(vals) + " |")
    return "\n".join(lines)


def coverage_table(records: list[dict[str, Any]], order: Iterable[str]) -> str:
    """Finished fits per method and family, as (task, seed) units out of those of the most complete method."""
    units: dict[tuple[str, str], set] = defaultdict(set)
    for r in records:
        units[(r["family"], r["method"])].add((r["task"], r["backbone"], r["seed"]))
    methods = methods_in(records, order)
    fams = families_in(records)[:-1]
    lines = ["| backbone family | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for fam in fams:
        full = max(len(units[(fam, m)]) for m in methods)
        lines.append(f"| {fam} | " + " | ".join(f"{len(units[(fam, m)])} / {full}" for m in methods) + " |")
    return "\n".join(lines)


def headline_table(records: list[dict[str, Any]]) -> str:
    """Per family, role and NMTune variant: is NMTune > its MLP, MLP > LP, and the whole order?

    Means over the (task, backbone, seed) units that all three methods have finished (:func:`matched`).
    """
    variants = (("nmtune-paper", "mlp"), ("nmtune-authors", "mlp-authors"))
    lines = ["| backbone family | role | NMTune variant | NMTune − MLP (pp, wins) | MLP − LP (pp, wins) | "
             "NMTune − LP (pp, wins) | NMTune > MLP > LP? |", "|---|---|---|---|---|---|---|"]
    for fam in families_in(records):
        for role in ("ID", "OOD"):
            for nm, mlp in variants:
                sub = matched(records, (nm, mlp, "lp"))
                accs = family_summary(sub, "accuracy")
                keys = [(fam, m, role) for m in (nm, mlp, "lp")]
                if not all(k in accs for k in keys):
                    continue
                a, b, c = (accs[k][0] for k in keys)
                cells = []
                for hi, lo, dv in ((nm, mlp, a - b), (mlp, "lp", b - c), (nm, "lp", a - c)):
                    _, wins, n = paired_wins(sub, hi, lo, role, fam)
                    cells.append(f"{100 * dv:+.2f} ({wins}/{n})")
                verdict = "yes" if a > b > c else ("no" + (" (NMTune ≤ MLP)" if a <= b else "") + (" (MLP ≤ LP)" if b <= c else ""))
                lines.append(f"| {fam} | {role} | {nm} | " + " | ".join(cells) + f" | {verdict} |")
    return "\n".join(lines)


def fit_time_table(records: list[dict[str, Any]], order: Iterable[str]) -> str:
    """Mean fit seconds per method and family, and the ratio to LogisticRegressionCV (target: <= 10x)."""
    fits: dict[tuple[str, str], dict[tuple, float]] = defaultdict(dict)
    for r in records:
        if r["role"] == "ID":
            for fam in (r["family"], "all"):
                fits[(fam, r["method"])][(r["task"], r["backbone"], r["seed"])] = r["fit_seconds"]
    methods = methods_in(records, order)
    lines = ["| backbone family | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for fam in families_in(records):
        base = fits.get((fam, "logreg_cv"))
        cells = []
        for m in methods:
            f = fits.get((fam, m))
            if not f:
                cells.append("-")
                continue
            mean = float(np.mean(list(f.values())))
            ratio = ""
            if base and m != "logreg_cv":
                common = [k for k in f if k in base]
                if common:
                    ratio = f" ({np.mean([f[k] for k in common]) / np.mean([base[k] for k in common]):.1f}x)"
            cells.append(f"{mean:.1f}{ratio}")
        lines.append(f"| {fam} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n(x): mean fit time relative to `logreg_cv` on the same (task, backbone, seed) fits."


def extraction_table(meta: dict[str, Any]) -> str:
    """Per invocation and backbone: images, seconds and throughput (a warm cache shows as very fast)."""
    lines = ["| invocation | backbone | images | seconds | images/s |", "|---|---|---|---|---|"]
    for i, run in enumerate(meta.get("runtime", {}).get("runs", []), 1):
        per: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
        for t in run.get("extraction", []):
            per[t["backbone"]][0] += t["images"]
            per[t["backbone"]][1] += t["seconds"]
        for b, (n, sec) in per.items():
            lines.append(f"| {i} ({run['finished']}) | {b} | {int(n)} | {sec:.0f} | {n / max(sec, 1e-9):.1f} |")
    return "\n".join(lines)
