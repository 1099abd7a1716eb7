"""``compare_heads``: the package's evaluation protocol on the user's own features, in one call.

Heads come by name from the registry (:func:`sknmtune.heads.make_head`); every fit goes through
:func:`~sknmtune.evaluation.evaluate_heads`, so the records are the benchmarks' records. Two protocols:

* **split** (no ``groups``): for each seed, a stratified split of ``(X, y)`` drawn with that seed -- the
  heads train on ``1 - test_size`` of the rows and are scored on the rest (role ``"val"``, what decisions
  read). Each seed draws its own split, so seeds are independent units: intervals resample seeds.
* **leave-one-group-out** (``groups``: the domain of each row; DomainBed's protocol): for each group, the heads
  train on the others and are scored on it (role ``"ood"``); ``test_size`` of the sources, stratified by source
  and class, is held out for training-domain validation (role ``"val"``, with the worst source domain's
  accuracy). The held-out group is the independent unit: intervals resample groups.

Either way an in-domain test set (``X_test, y_test``: role ``"id"``) and named out-of-distribution test sets
(``test_sets``: role ``"ood"``) are scored by every fit. A fit is a *unit* (head, held-out group, seed); its
records are handed to ``on_record`` as soon as it finishes, and ``records=`` skips the units they complete, so
an interrupted run resumes without refitting anything.
"""

from __future__ import annotations

import hashlib
import math
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, column_or_1d

from ..metrics import score_predictions
from ..spectral import singular_values
from ._comparison import LOGO, REFERENCE, SPLIT, Comparison
from ._protocol import evaluate_heads

__all__ = ["DEFAULT_HEADS", "compare_heads"]

#: the heads compared by default: the paper's probe, the tuned probe, MLP tuning, NMTune, the package's CV head
#: and the soft vote of the probes, MLP tuning and NMTune
DEFAULT_HEADS = ("lp", "logreg-cv", "mlp", "nmtune-paper", "cv", "vote")
#: leading singular values kept per validation record (enough for the spectrum figures)
N_SINGULAR_VALUES = 512
_RESERVED = ("id", "val")


@dataclass(frozen=True)
class _Split:
    """One training / validation split: seed, held-out group (leave-one-group-out) and row indices."""

    seed: int
    held_out: str | None
    train: np.ndarray
    val: np.ndarray
    ood: np.ndarray | None  # the held-out group's rows


def _as_features(X: Any, name: str, n_features: int | None = None) -> np.ndarray:
    X = check_array(X, dtype=[np.float32, np.float64], ensure_min_samples=1, input_name=name)
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features but X has {n_features}; test sets need the same features.")
    return X


def _as_labels(y: Any, name: str, n: int) -> np.ndarray:
    y = column_or_1d(y, warn=False)
    if y.shape[0] != n:
        raise ValueError(f"{name} has {y.shape[0]} labels for {n} rows; they must match.")
    check_classification_targets(y)
    return y


def _fingerprint(X: np.ndarray, y: np.ndarray, groups: np.ndarray | None, tests: Mapping[str, tuple],
                 test_size: float | int) -> str:
    """A short hash of the data and of the split size: records of other data are never reused."""
    h = hashlib.sha1()
    for array in (X, y, groups, *(a for pair in tests.values() for a in pair)):
        if array is None:
            h.update(b"none")
        else:
            array = np.ascontiguousarray(array)
            h.update(str((array.shape, array.dtype.str)).encode())
            h.update(array.tobytes() if array.dtype.kind in "biuf" else "\x1f".join(map(str, array.tolist())).encode())
    h.update(("|".join(tests) + f"|{test_size!r}").encode())
    return h.hexdigest()[:16]


def _stratified(idx: np.ndarray, strata: np.ndarray, test_size: float | int,
                seed: int) -> tuple[np.ndarray, np.ndarray]:
    train, val = train_test_split(idx, test_size=test_size, random_state=seed, stratify=strata)
    return np.sort(train), np.sort(val)


def _source_strata(y: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Strata for the sources' validation split: (group, class) when each pair has 2 rows or more, else class."""
    pairs = np.array([f"{g}\x1f{c}" for g, c in zip(groups, y)])
    return pairs if np.unique(pairs, return_counts=True)[1].min() >= 2 else y


def _plan(y: np.ndarray, groups: np.ndarray | None, seeds: Sequence[int], test_size: float | int) -> list[_Split]:
    idx = np.arange(y.shape[0])
    if groups is None:
        return [_Split(s, None, *_stratified(idx, y, test_size, s), None) for s in seeds]
    splits = []
    for g in np.unique(groups):
        sources = idx[groups != g]
        strata = _source_strata(y[sources], groups[sources])
        splits += [_Split(s, str(g), *_stratified(sources, strata, test_size, s), idx[groups == g]) for s in seeds]
    return splits


def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _check_counts(y: np.ndarray, groups: np.ndarray | None) -> None:
    classes, counts = np.unique(y, return_counts=True)
    if classes.shape[0] < 2:
        raise ValueError(f"y holds a single class ({_py(classes[0])!r}); comparing classifiers needs at least 2.")
    if counts.min() < 2:
        raise ValueError(f"class {_py(classes[counts.argmin()])!r} has a single row; the stratified split needs at least "
                         "2 rows of every class.")
    if groups is None:
        return
    names = np.unique(groups)
    if names.shape[0] < 2:
        raise ValueError(f"groups holds a single group ({_py(names[0])!r}); leave-one-group-out needs at least 2. "
                         "Without several domains, leave groups out (an internal split is used).")
    for g in names:
        left = y[groups != g]
        kept, counts = np.unique(left, return_counts=True)
        if kept.shape[0] < 2 or counts.min() < 2:
            raise ValueError(f"holding out group {_py(g)!r} leaves training rows of {kept.shape[0]} class(es), some with "
                             "fewer than 2 rows; every held-out group must leave at least 2 rows of 2 classes.")


def _check_heads(heads: Any, reference: str, groups: np.ndarray | None) -> tuple[str, ...]:
    from ..heads import head_names, head_spec

    if isinstance(heads, str):
        heads = [h.strip() for h in heads.split(",") if h.strip()]
    heads = tuple(heads)
    if not heads:
        raise ValueError("heads is empty; name at least two heads of sknmtune.heads.head_names().")
    unknown = [h for h in heads if h not in head_names()]
    if unknown:
        raise ValueError(f"unknown head(s) {unknown}; choose among {head_names()}.")
    if len(set(heads)) != len(heads):
        raise ValueError(f"heads repeats a name: {list(heads)}.")
    if reference not in heads:
        raise ValueError(f"the reference {reference!r} is not among the heads {list(heads)}; add it, or pass "
                         "reference= one of them.")
    grouped = [h for h in heads if head_spec(h).groups]
    if grouped and groups is None:
        raise ValueError(f"head(s) {grouped} select across domains and need groups=...; leave them out without groups.")
    return heads


def _top(values: np.ndarray) -> list[float]:
    return [float(f"{v:.6g}") for v in np.asarray(values)[:N_SINGULAR_VALUES]]


def _fit_unit(method: str, split: _Split, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None,
              tests: Mapping[str, tuple[str, np.ndarray, np.ndarray]], extra: Mapping[str, Any], spectra: bool,
              device: str) -> list[dict[str, Any]]:
    """Fit one head on one split through :func:`evaluate_heads`; add the package's metrics and the spectra."""
    from ..heads import head_spec, make_head

    F_train, y_train = X[split.train], y[split.train]
    F_val, y_val = X[split.val], y[split.val]
    ood = {name: (F, t) for name, (role, F, t) in tests.items() if role == "ood"}
    if split.ood is not None:
        ood = {split.held_out: (X[split.ood], y[split.ood]), **ood}
    id_test = next(((F, t) for role, F, t in tests.values() if role == "id"), None)
    train_by_method = None
    if head_spec(method).groups:
        train_by_method = {method: (F_train, y_train, {"groups": groups[split.train]})}
    probas: dict[str, np.ndarray] = {}
    records, fitted = evaluate_heads(
        {method: make_head(method, device=device)}, F_train, y_train, id_test=id_test, ood_tests=ood or None,
        validation=(F_val, y_val), seeds=(split.seed,), spectra=spectra, extra={**extra, "held_out": split.held_out},
        return_estimators=True, on_proba=lambda m, s, p: probas.update(p), train_by_method=train_by_method,
    )
    estimator = fitted[(method, split.seed)]
    truth = {"val": (F_val, y_val, None if groups is None else groups[split.val]),
             **{d: (F, t, None) for d, (F, t) in ood.items()}}
    if id_test is not None:
        truth["id"] = (*id_test, None)
    for record in records:
        F, t, g = truth[record["domain"]]
        scores = score_predictions(t, probas[record["domain"]], estimator.classes_, groups=g)
        record.update({k: v for k, v in scores.items() if k not in record})
        if spectra and record["role"] == "val":
            sv_F = singular_values(F)
            record["singular_values_F"] = _top(sv_F)
            if record.get("sve_Z") is not None:
                Z = np.asarray(estimator.transform(F))
                same = Z.shape == F.shape and np.array_equal(Z, F)
                record["singular_values_Z"] = _top(sv_F if same else singular_values(Z))
    return records


def _indexed_fit(i: int, *args: Any) -> tuple[int, list[dict[str, Any]]]:
    """``(i, _fit_unit(*args))``: a parallel fit that says which unit it was."""
    return i, _fit_unit(*args)


def _unit_key(record: Mapping[str, Any]) -> tuple[str, str | None, int]:
    return record["method"], record.get("held_out"), int(record["seed"])


def _reusable(records: Iterable[Mapping[str, Any]] | None, fingerprint: str, protocol: str,
              expected: set[str]) -> dict[tuple, list[dict[str, Any]]]:
    """The finished units among earlier records (all their test sets present), checked against this data."""
    done: dict[tuple, list[dict[str, Any]]] = {}
    for r in records or ():
        if not isinstance(r, Mapping) or not {"method", "seed", "domain"} <= set(r):
            raise ValueError("records must be the records of an earlier compare_heads run (dicts with method, seed, "
                             f"domain, ...); got {str(r)[:80]}.")
        if r.get("fingerprint") != fingerprint or r.get("protocol") != protocol:
            raise ValueError(
                f"the earlier records were computed on other data or with another protocol (fingerprint "
                f"{r.get('fingerprint')!r}, protocol {r.get('protocol')!r}; now {fingerprint!r}, {protocol!r}): "
                "the features, labels, groups, test sets and test_size must be the same to resume. Start afresh "
                "(records=None, or a new output directory).")
        done.setdefault(_unit_key(r), []).append(dict(r))
    return {k: v for k, v in done.items() if {r["domain"] for r in v} >= expected | ({k[1]} - {None})}


@contextmanager
def _interrupts() -> Iterator[dict[str, bool]]:
    """Note Ctrl-C (SIGINT) while fits run: skorch ends a torch head's epoch loop on ``KeyboardInterrupt`` and
    returns as if the fit were done, so a unit interrupted that way must be discarded, not recorded."""
    seen = {"interrupted": False}
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous in (signal.SIG_IGN, None):
        yield seen
        return

    def handler(signum: int, frame: Any) -> None:
        seen["interrupted"] = True
        if callable(previous):
            previous(signum, frame)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGINT, previous)


def _progress(enabled: bool, total: float, n_units: int) -> Any:
    """A tqdm bar over the pending fits' registry cost: its time left is the remaining cost at the measured speed."""
    from tqdm.auto import tqdm

    estimate = f"~{total / 60:.0f} min" if total >= 60 else f"~{total:.0f} s"
    return tqdm(total=total or 1.0, disable=not enabled, smoothing=0.0, desc=f"0/{n_units} fits",
                bar_format="compare {desc} |{bar}| {percentage:3.0f}% [{elapsed}<{remaining}, "
                           f"{estimate} estimated on one thread]", leave=True)


def compare_heads(
    X: Any,
    y: Any,
    *,
    groups: Any = None,
    X_test: Any = None,
    y_test: Any = None,
    test_sets: Mapping[str, tuple[Any, Any]] | None = None,
    heads: Sequence[str] | str = DEFAULT_HEADS,
    n_seeds: int = 6,
    test_size: float | int = 0.2,
    random_state: int = 0,
    reference: str = REFERENCE,
    n_jobs: int | None = None,
    spectra: bool = True,
    device: str = "auto",
    on_record: Callable[[list[dict[str, Any]]], None] | None = None,
    records: Iterable[Mapping[str, Any]] | None = None,
    progress: bool = True,
) -> Comparison:
    """Does a better head than a probe exist for these features, and how sure is that? Fit and compare heads.

    Every head of ``heads`` (names of :func:`sknmtune.heads.make_head`) is fitted once per unit through
    :func:`~sknmtune.evaluation.evaluate_heads` and scored on the validation split, the in-domain test set and
    every out-of-distribution test set; the result summarizes each head (mean ± std over seeds of accuracy,
    balanced accuracy, macro-F1, top-5 accuracy with more than 5 classes, worst-group accuracy with groups, the
    SVE / LSVR of ``F`` and ``Z``, fit time), its paired difference to ``reference`` with an interval over the
    protocol's independent units (seeds, or held-out groups) and their count, and the head
    :func:`~sknmtune.evaluation.recommend_head` picks on the validation records.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Frozen features (e.g. from :class:`~sknmtune.FrozenBackboneTransformer`).
    y : array-like of shape (n_samples,)
        Class labels; every class needs at least 2 rows.
    groups : array-like of shape (n_samples,), default=None
        The domain of each row. Given, the protocol is leave-one-group-out: for each group, train on the others
        and score it (role ``"ood"``), with training-domain validation on ``test_size`` of the sources (role
        ``"val"``, also recording the worst source domain's accuracy). ``None``: a stratified split per seed.
    X_test, y_test : array-like, default=None
        An in-domain test set (role ``"id"``), scored by every fit; pass both or neither.
    test_sets : mapping of str to (X, y), default=None
        Named out-of-distribution test sets (role ``"ood"``, domain = the name).
    heads : sequence of str or comma-separated str, default=DEFAULT_HEADS
        ``("lp", "logreg-cv", "mlp", "nmtune-paper", "cv", "vote")``: LP, the tuned probe
        ``LogisticRegressionCV``, MLP tuning, NMTune, ``NMTuneClassifierCV()`` and ``make_voting_head()``.
    n_seeds : int, default=6
        Seeds ``random_state, ..., random_state + n_seeds - 1``; each seeds a head's training and, in the split
        protocol, its own split. Below 6 independent units the verdicts come from an exact sign-flip test whose
        smallest two-sided p-value is ``2 / 2**n`` (0.0625 with 5): the default is the fewest seeds whose
        verdict can be decisive.
    test_size : float or int, default=0.2
        The held-out part of the training rows per seed (a fraction, or a number of rows): the validation split.
    random_state : int, default=0
        The first seed.
    reference : str, default="logreg-cv"
        The head every other is compared with; one of ``heads``.
    n_jobs : int or None, default=None
        Fits run in parallel through joblib (``None``: one at a time); ``on_record`` is still called here.
    spectra : bool, default=True
        Record SVE / LSVR of ``F`` and ``Z`` and, on validation records, the leading singular values of both.
    device : str, default="auto"
        The torch device of the heads that train with torch.
    on_record : callable, default=None
        Called with each finished unit's records (save them to resume an interrupted run).
    records : iterable of dict, default=None
        Records of an earlier, interrupted run on the same data: units they complete are not refitted.
        Records computed on other data raise an error.
    progress : bool, default=True
        A progress bar (tqdm, on stderr) that starts from :func:`sknmtune.heads.estimate_fit_seconds` of the
        pending fits and rescales their time left by the speed measured so far.

    Returns
    -------
    Comparison

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sknmtune.evaluation import compare_heads
    >>> X, y = load_digits(return_X_y=True)
    >>> c = compare_heads(X[:200] / 16, y[:200], heads=("lp", "logreg-cv"), n_seeds=2, progress=False)
    >>> c.protocol, c.roles, c.summaries["lp"].n_fits
    ('split', ('val',), 2)
    >>> d = c.difference("lp")  # lp - logreg-cv on validation accuracy, over 2 independent splits
    >>> d.n_clusters, d.clusters, d.few_clusters
    (2, ('seed',), True)
    """
    from ..heads import estimate_fit_seconds

    X = _as_features(X, "X")
    y = _as_labels(y, "y", X.shape[0])
    groups_arr = None if groups is None else _as_labels(groups, "groups", X.shape[0]).astype(str)
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, (int, np.integer)) or n_seeds < 1:
        raise ValueError(f"n_seeds must be a positive integer; got {n_seeds!r}.")
    if isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer)):
        raise ValueError(f"random_state must be an integer (the first seed); got {random_state!r}.")
    if isinstance(test_size, bool) or not (isinstance(test_size, (int, np.integer)) and test_size >= 1
                                           or isinstance(test_size, float) and 0 < test_size < 1):
        raise ValueError(f"test_size must be a fraction in (0, 1) or a number of rows >= 1; got {test_size!r}.")
    _check_counts(y, groups_arr)
    heads = _check_heads(heads, reference, groups_arr)
    if (X_test is None) != (y_test is None):
        raise ValueError("pass X_test and y_test together (an in-domain test set), or neither.")
    tests: dict[str, tuple[str, np.ndarray, np.ndarray]] = {}
    if X_test is not None:
        F = _as_features(X_test, "X_test", X.shape[1])
        tests["id"] = ("id", F, _as_labels(y_test, "y_test", F.shape[0]))
    for name, pair in (test_sets or {}).items():
        if not isinstance(name, str) or not name or name in _RESERVED:
            raise ValueError(f"test set names must be non-empty strings other than {_RESERVED}; got {name!r}.")
        if groups_arr is not None and name in set(groups_arr):
            raise ValueError(f"test set {name!r} has the name of a group; name it differently.")
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(f"test_sets[{name!r}] must be a pair (X, y).")
        F = _as_features(pair[0], f"test_sets[{name!r}] X", X.shape[1])
        tests[name] = ("ood", F, _as_labels(pair[1], f"test_sets[{name!r}] y", F.shape[0]))
    if groups_arr is not None and set(groups_arr) & set(_RESERVED):
        raise ValueError(f"groups may not be named {_RESERVED} (the in-domain and validation test sets).")

    protocol = SPLIT if groups_arr is None else LOGO
    fingerprint = _fingerprint(X, y, groups_arr, {k: v[1:] for k, v in tests.items()}, test_size)
    splits = _plan(y, groups_arr, [int(random_state) + i for i in range(int(n_seeds))], test_size)
    expected = {"val", *tests}
    done = _reusable(records, fingerprint, protocol, expected)
    units = [(m, split) for split in splits for m in heads]
    pending = [(m, split) for m, split in units if (m, split.held_out, split.seed) not in done]
    # the registry's cost model (one thread); the bar's time left rescales it by the speed measured so far
    weights = [estimate_fit_seconds(m, int(split.train.shape[0]), int(X.shape[-1])) for m, split in pending]
    extra = {"protocol": protocol, "fingerprint": fingerprint}
    bar = _progress(progress and bool(pending), float(sum(weights)), len(pending))
    finished: dict[tuple, list[dict[str, Any]]] = {}
    with _interrupts() as seen:
        try:
            if n_jobs is None or n_jobs == 1:
                results: Iterable[Any] = ((i, _fit_unit(m, s, X, y, groups_arr, tests, extra, spectra, device))
                                          for i, (m, s) in enumerate(pending))
            else:
                from joblib import Parallel, delayed

                order = sorted(range(len(pending)), key=lambda i: -weights[i])  # longest first: no idle worker last
                results = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
                    delayed(_indexed_fit)(i, *pending[i], X, y, groups_arr, tests, extra, spectra, device)
                    for i in order)
            for n_done, (i, unit_records) in enumerate(results, start=1):
                if seen["interrupted"]:  # the fit may have been cut short: keep nothing of it
                    raise KeyboardInterrupt
                method, split = pending[i]
                finished[(method, split.held_out, split.seed)] = unit_records
                if on_record is not None:
                    on_record(unit_records)
                bar.set_description_str(f"{n_done}/{len(pending)} fits (last: {method}, seed {split.seed}"
                                        f"{'' if split.held_out is None else f', held out {split.held_out}'})",
                                        refresh=False)
                bar.update(weights[i])
        finally:
            bar.close()
    key_order = {(m, s.held_out, s.seed): i for i, (m, s) in enumerate(units)}
    ordered = sorted({**done, **finished}.items(), key=lambda kv: key_order.get(kv[0], math.inf))
    out = [r for key, rs in ordered if key in key_order for r in rs]
    return Comparison.from_records(out, reference=reference, heads=heads)
