"""The accuracy benchmarks' fits: :func:`sknmtune.evaluation.evaluate_heads` over every (task, backbone) job.

The protocol (fit, score ID / OOD / validation, spectra of ``F`` and ``Z``, the parallel longest-first pool,
resuming) is the library's; :func:`job_record` only renames its records into the format of
``results/accuracy*.json`` (roles ``"ID"`` / ``"OOD"`` / ``"val"``, the task's domains, the backbone
family, and what configured the head), which stays as stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from benchmarks.harness.io import log
from benchmarks.harness.methods import costs as method_costs
from benchmarks.harness.tasks import JobFeatures

__all__ = ["job_record", "run_benchmark"]

ROLES = {"id": "ID", "ood": "OOD", "val": "val"}
_CONFIG_SKIP = ("verbose", "device", "random_state")
_MEASURES = ("accuracy", "macro_f1", "sve_F", "lsvr_F", "sve_Z", "lsvr_Z", "fit_seconds", "n_train", "n_test")


def job_record(job: JobFeatures, record: Mapping[str, Any], head: Any) -> dict[str, Any]:
    """One :func:`~sknmtune.evaluation.evaluate_heads` record of ``job`` in the ``accuracy.json`` format.

    ``head`` is the unfitted estimator of the record's method: its ``max_epochs`` (and, for
    ``nmtune-default``, its parameters) are recorded; a probe records only its chosen ``C``.
    """
    role = record["role"]
    domain = record["domain"] if role == "ood" else job.task.test_domain
    split = {"id": "test", "val": "val"}.get(role, f"ood:{domain}")
    out = {"task": job.task.name, "role": ROLES[role], "train_domain": job.task.train_domain, "test_domain": domain,
           "backbone": job.backbone.name, "family": job.backbone.family, "modality": job.task.modality,
           "method": record["method"], "seed": record["seed"], **{k: record[k] for k in _MEASURES},
           "n_features": job.splits[split][0].shape[1]}
    if "chosen_C" in record:
        return {**out, "chosen_C": record["chosen_C"]}
    if hasattr(head, "max_epochs"):
        out["max_epochs"] = head.max_epochs
    if "n_iter" in record:
        out["n_iter"] = record["n_iter"]
    if record["method"] == "nmtune-default":
        out["params"] = {k: v for k, v in head.get_params().items() if k not in _CONFIG_SKIP}
    if "best_params" in record:
        out["best_params"] = record["best_params"]
    return out


def run_benchmark(jobs: JobFeatures | Sequence[JobFeatures], seeds: Iterable[int], methods: Iterable[str], done: set[tuple],
                  n_jobs: int, on_result: Callable[[list[dict[str, Any]]], None], *, make: Callable[[str, int], Any],
                  validation: bool = False) -> None:
    """Fit every pending (job, method, seed), ``n_jobs`` at a time, longest first; hand each fit's records
    (:func:`job_record`) to ``on_result`` as it finishes.

    ``done`` holds the finished ``(task, backbone, method, seed)`` units (skipped); ``make(method, seed)``
    builds the heads; ``validation=True`` also scores each job's ``"val"`` split (role ``"val"``).
    Each seed of each job is one :func:`~sknmtune.evaluation.evaluate_heads` call (a head's own
    configuration may depend on the seed, e.g. the folds of a probe's inner CV); fits run on one
    torch thread each.
    """
    import torch
    from joblib import parallel_config

    from sknmtune.evaluation import evaluate_heads

    torch.set_num_threads(1)
    methods = list(methods)
    for job in [jobs] if isinstance(jobs, JobFeatures) else jobs:
        unit = (job.task.name, job.backbone.name)
        for seed in seeds:
            heads = {m: make(m, seed) for m in methods if (*unit, m, seed) not in done}
            if not heads:
                continue

            def on_record(records: list[dict[str, Any]], job: JobFeatures = job, heads: dict = heads) -> None:
                rows = [job_record(job, r, heads[r["method"]]) for r in records]
                on_result(rows)
                accs = ", ".join(f"{r['test_domain']} {r['accuracy']:.3f}" for r in rows if r["role"] != "val")
                log(f"  {job.task.name}/{job.backbone.name} {rows[0]['method']:<15} seed {rows[0]['seed']}  "
                    f"fit {rows[0]['fit_seconds']:.1f}s  {accs}")

            ood = {key.removeprefix("ood:"): job.splits[key] for key, role, _ in job.test_splits() if role == "OOD"}
            with parallel_config(backend="loky", inner_max_num_threads=1):
                evaluate_heads(heads, *job.splits["train"], id_test=job.splits["test"], ood_tests=ood,
                               validation=job.splits.get("val") if validation else None, seeds=(seed,),
                               n_jobs=n_jobs, costs=method_costs(heads),
                               on_record=on_record)
