"""Feature extraction sharded over the workers of a Dask or Ray cluster.

:func:`extract_distributed` splits ``X`` into chunks of distinct samples and sends each chunk, with
the transformer's specification (not its loaded model), to a worker. A worker process loads the
backbone once per transformer specification (:data:`_LOADED`) and runs the transformer's own
``transform`` on the chunk, so every chunk is looked up in and written to the transformer's
content-keyed feature cache exactly as a single-process ``transform`` would do it. A chunk whose
worker dies is recomputed elsewhere by the engine; if the dead worker had already written it, the
retry reads it from the cache instead of writing it again (cache chunks are renamed into place
atomically, so a half-written chunk is never read).
"""

from __future__ import annotations

import ctypes
import hashlib
import multiprocessing
import os
import pickle
import socket
import sys
import threading
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from numbers import Integral
from typing import Any

import numpy as np

from ..cache import FeatureCache
from ._inputs import Inputs, as_inputs
from ._transformer import FrozenBackboneTransformer

__all__ = ["extract_distributed", "DistributedExtractionError"]

_SCATTER_BYTES = 1 << 20  # larger transformer specifications (module weights) are sent once per worker
_KEEP_LOADED = 2  # backbones kept loaded per worker process (least recently used dropped first)
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number (malloc.h)


class DistributedExtractionError(RuntimeError):
    """A chunk failed on a worker.

    Attributes
    ----------
    rows : tuple of (int, int)
        First and last position in ``X`` of the chunk's samples.
    worker : str
        The worker that ran the chunk (engine address, host and process id).
    remote_traceback : str
        The traceback on the worker.
    """

    def __init__(self, message: str, rows: tuple[int, int] = (0, 0), worker: str = "", remote_traceback: str = "") -> None:
        super().__init__(message)
        self.rows, self.worker, self.remote_traceback = rows, worker, remote_traceback

    def __reduce__(self) -> tuple:  # travels between processes with its attributes
        return (type(self), (str(self), self.rows, self.worker, self.remote_traceback))


# ------------------------------------------------------------------------------------------------ worker side
class _Loaded:
    """A worker process's copy of one transformer; ``ready`` once its first chunk has built the backbone."""

    def __init__(self, transformer: FrozenBackboneTransformer) -> None:
        self.transformer, self.lock, self.ready = transformer, threading.Lock(), False


# token (digest of the pickled transformer) -> its loaded copy, least recently used first
_LOADED: OrderedDict[str, _Loaded] = OrderedDict()
_LOADED_LOCK = threading.Lock()


_MMAP_THRESHOLD_SET: list[int] = []  # the value this worker process's allocator was given, once


def _set_mmap_threshold(value: int | None) -> None:
    """Set glibc's ``M_MMAP_THRESHOLD`` in this worker process, once (no-op off glibc or with ``None``).

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``; setting any glibc malloc
    threshold freezes the mmap threshold at its 128 KiB default, so every batch's activation buffers
    are mmapped, page-faulted and unmapped again: EfficientNet-Lite0 extraction ran markedly slower
    in such a worker than in a plain process (seen with ``benchmarks/bench_distributed.py``; that
    comparison was not kept in a results file).
    """
    if value is None or _MMAP_THRESHOLD_SET or not sys.platform.startswith("linux"):
        return
    _MMAP_THRESHOLD_SET.append(value)
    try:
        libc = ctypes.CDLL(None)
        mallopt = getattr(libc, "mallopt", None)
        if mallopt is not None and getattr(libc, "gnu_get_libc_version", None) is not None:
            mallopt(_M_MMAP_THRESHOLD, ctypes.c_int(value))
    except OSError:  # pragma: no cover - no C library handle
        pass


def _worker_transformer(token: str, payload: bytes, mmap_threshold: int | None = None) -> _Loaded:
    with _LOADED_LOCK:
        _set_mmap_threshold(mmap_threshold)
        entry = _LOADED.get(token)
        if entry is None:
            cls, state = pickle.loads(payload)
            transformer = cls.__new__(cls)
            transformer.__setstate__(state)  # a module backbone goes to the transformer's device
            if multiprocessing.current_process().daemon and transformer.num_workers != 0:
                # Dask's worker processes are daemons, which may not start DataLoader processes:
                # decode images in the task's own thread (one worker per core is the parallelism).
                transformer.set_params(num_workers=0)
            entry = _LOADED[token] = _Loaded(transformer)
            while len(_LOADED) > _KEEP_LOADED:
                _LOADED.popitem(last=False)
        _LOADED.move_to_end(token)
        return entry


def _worker_name(engine: str) -> str:
    where = f"{socket.gethostname()}, pid {os.getpid()}"
    try:
        if engine == "dask":
            from distributed import get_worker

            worker = get_worker()
            return f"Dask worker {worker.name!r} at {worker.address} ({where})"
        if engine == "ray":
            import ray

            ctx = ray.get_runtime_context()
            return f"Ray worker {ctx.get_worker_id()[:12]} on node {ctx.get_node_id()[:12]} ({where})"
    except Exception:  # pragma: no cover - outside a worker (tests call the task directly)
        pass
    return f"process {where}"


def _extract_chunk(engine: str, token: str, payload: bytes, chunk: Any, rows: tuple[int, int], label: str,
                   mmap_threshold: int | None = None) -> np.ndarray:
    """Run on a worker: the transformer's ``transform`` of one chunk (reads / writes the shared cache)."""
    try:
        entry = _worker_transformer(token, payload, mmap_threshold)
        if not entry.ready:
            with entry.lock:  # the first chunk of this process builds the backbone; other threads wait for it
                out = entry.transformer.transform(chunk)
                entry.ready = True
            return out
        return entry.transformer.transform(chunk)
    except Exception as exc:
        worker = _worker_name(engine)
        note = " (sample numbers in that message count from the chunk's first sample)" if "sample" in str(exc) else ""
        raise DistributedExtractionError(
            f"Feature extraction failed for {label} on {worker}: {type(exc).__name__}: {exc}{note}",
            rows,
            worker,
            traceback.format_exc(),
        ) from None


# ------------------------------------------------------------------------------------------------ caller side
def _payload(transformer: FrozenBackboneTransformer) -> tuple[str, bytes]:
    """The transformer's pickled state for the workers (absolute cache path, no progress bar) and its digest.

    The transformer is not touched: its state (what pickling stores: the specification, a module
    backbone with its weights, no loaded model) is copied and adjusted.
    """
    import cloudpickle  # a dependency of both Dask and Ray; pickles closures (callable backbones) too

    state = dict(transformer.__getstate__())
    state["verbose"] = 0
    cache = state.get("cache")
    if isinstance(cache, (str, os.PathLike)):
        state["cache"] = os.path.abspath(cache)
    elif isinstance(cache, FeatureCache):
        state["cache"] = FeatureCache(
            os.path.abspath(cache.directory), chunk_rows=cache.chunk_rows, flush_seconds=cache.flush_seconds
        )
    payload = cloudpickle.dumps((type(transformer), state))
    return hashlib.blake2b(payload, digest_size=16).hexdigest(), payload


def _distinct(inputs: Inputs, dedupe: bool) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the first occurrence of each distinct sample (in order) and, per sample, its first occurrence.

    Only with a cache (``dedupe``), as ``transform`` does: without one, ``transform`` runs duplicates
    too, and on the CPU a sample's features can change in the last bits with the size of its batch.
    """
    n = len(inputs)
    if not dedupe:
        ident: np.ndarray | None = None
    elif inputs.modality in ("images", "vectors"):
        ident = inputs.keys()
    elif inputs.modality == "strings":
        ident = np.array([os.fspath(s) for s in inputs.data], dtype=object)
    elif inputs.modality == "pairs":
        ident = np.array(["\x00".join(p) for p in inputs.data], dtype=object)
    else:  # PIL images / per-image arrays: no cheap identity, every sample is its own
        ident = None
    if ident is None:
        return np.arange(n), np.arange(n)
    _, first, inverse = np.unique(ident, return_index=True, return_inverse=True)
    return np.sort(first), first[inverse.ravel()]


def _check_args(transformer: Any, chunk_size: Any, resources: Any, mmap_threshold: Any) -> None:
    if not isinstance(transformer, FrozenBackboneTransformer):
        raise TypeError(f"transformer must be a FrozenBackboneTransformer; got {type(transformer).__name__}.")
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, Integral) or chunk_size < 1):
        raise ValueError(f"chunk_size must be None or an integer >= 1; got {chunk_size!r}.")
    if resources is not None and not (
        isinstance(resources, Mapping) and all(isinstance(k, str) and float(v) >= 0 for k, v in resources.items())
    ):
        raise ValueError(f"resources must be None or a mapping of resource name -> amount >= 0; got {resources!r}.")
    if mmap_threshold is not None and (
        isinstance(mmap_threshold, bool) or not isinstance(mmap_threshold, Integral)
        or not 0 <= mmap_threshold <= 2**31 - 1
    ):
        raise ValueError(
            f"mmap_threshold must be None or an integer number of bytes in [0, 2**31 - 1]; got {mmap_threshold!r}."
        )


def _resolve_engine(client: Any) -> tuple[str, Any]:
    if isinstance(client, str):
        if client != "ray":
            raise ValueError(f"client must be a distributed.Client, 'ray' or None; got the string {client!r}.")
        import ray

        if not ray.is_initialized():
            raise ValueError("client='ray' needs a connected Ray cluster: call ray.init(...) first.")
        return "ray", ray
    if client is not None:
        if type(client).__module__.split(".")[0] != "distributed" or not hasattr(client, "submit"):
            raise TypeError(f"client must be a distributed.Client, 'ray' or None; got {type(client).__name__}.")
        return "dask", client
    try:
        from distributed import default_client

        return "dask", default_client()
    except (ImportError, ValueError):
        pass
    try:
        import ray

        if ray.is_initialized():
            return "ray", ray
    except ImportError:
        pass
    raise ValueError(
        "No cluster to run on: pass client=<distributed.Client> or client='ray' (after ray.init()), or create a "
        "Dask Client first (it becomes the default)."
    )


def extract_distributed(
    transformer: FrozenBackboneTransformer,
    X: Any,
    *,
    client: Any = None,
    chunk_size: int | None = None,
    resources: Mapping[str, float] | None = None,
    verbose: int | None = None,
    mmap_threshold: int | None = 64 << 20,
) -> np.ndarray:
    """``transformer.transform(X)``, computed by the workers of a Dask or Ray cluster.

    ``X`` is split into chunks (of distinct samples, with a cache); each chunk travels to a worker with the
    transformer's specification (a module backbone travels with its weights, once per worker),
    and the worker runs ``transform`` on it. Each worker process loads the backbone once and keeps it
    for later chunks and calls. With the transformer's ``cache`` every worker looks its chunk up in,
    and writes it to, that content-keyed cache, which must then be a directory every worker reaches
    at the same path (shared storage); chunks are written atomically, so a worker that dies never
    leaves a chunk that is read half-written, and the retry of its chunk reads what it wrote instead
    of writing it again. The transformer itself is not changed.

    Parameters
    ----------
    transformer : FrozenBackboneTransformer
        The extractor; its ``device``, ``batch_size``, ``cache`` ... apply on every worker. A relative
        cache directory (a path or a :class:`~sknmtune.cache.FeatureCache`) is made absolute here;
        give a ``joblib.Memory`` cache an absolute location.
    X : array-like or list
        Image or vector arrays (sent with the tasks, through the scheduler), lists of image file paths (only the paths
        travel: the workers read the files, which must exist at the same paths there), lists of
        strings or of sentence pairs, lists of PIL images. A torch Dataset is refused: pass the file
        paths it reads.
    client : distributed.Client, "ray" or None, default=None
        The engine. ``"ray"`` runs on the Ray cluster this process is connected to (``ray.init``).
        ``None``: the current default Dask client, else a connected Ray cluster.
    chunk_size : int, default=None
        Samples per task; ``None``: ``4 * transformer.batch_size``. A multiple of
        ``batch_size`` gives each chunk the batches a single-process ``transform`` runs, so the
        features equal it bit for bit on the CPU. Smaller chunks balance load and lose less work to
        a dying worker; larger ones pay the per-task scheduling cost (milliseconds) less often.
    resources : mapping of str to float, default=None
        What each task needs from its worker, e.g. ``{"GPU": 1}``: Dask worker resources
        (``dask worker --resources "GPU=1"``); for Ray ``"CPU"`` / ``"GPU"`` become ``num_cpus`` /
        ``num_gpus`` and other keys custom resources. ``None``: the engine's default (one CPU slot).
    verbose : int, default=None
        A progress bar over finished chunks when > 0; ``None``: the transformer's ``verbose``. The
        engine's own tools (the Dask dashboard, ``ray status``) show the tasks too, named
        ``sknmtune-extract-...``.
    mmap_threshold : int or None, default=64 MiB
        glibc's ``M_MMAP_THRESHOLD`` (bytes), set once in each worker process that runs a chunk
        (Linux with glibc only). Dask's nanny starts its workers with ``MALLOC_TRIM_THRESHOLD_=65536``,
        which pins the mmap threshold at 128 KiB: every batch's activations are then mapped and
        page-faulted afresh, and extraction ran markedly slower in such a worker than in a plain
        process here (EfficientNet-Lite0, 224 px); 64 MiB restores it. Allocations below the threshold come
        from the heap, which the worker's trim threshold still returns to the system. ``None``
        leaves the workers' allocator as it is.

    Returns
    -------
    features : ndarray of shape (n_samples, n_features), float32
        What ``transformer.transform(X)`` returns.

    Raises
    ------
    DistributedExtractionError
        A chunk failed on a worker; the message names the positions in ``X`` and the worker, and
        the other chunks are cancelled. Chunks finished before stay in the cache, so a second call
        resumes.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from distributed import Client, LocalCluster
    >>> from sknmtune.backbones import FrozenBackboneTransformer, extract_distributed
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh())
    >>> ext = FrozenBackboneTransformer(net, device="cpu", batch_size=8)
    >>> X = np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)
    >>> local = dict(processes=False, dashboard_address="127.0.0.1:0")  # threads; status page on loopback
    >>> with LocalCluster(n_workers=2, **local) as cluster, Client(cluster) as client:
    ...     F = extract_distributed(ext, X, client=client, chunk_size=16)
    >>> F.shape, bool((F == ext.transform(X)).all())
    ((40, 3), True)
    """
    _check_args(transformer, chunk_size, resources, mmap_threshold)
    inputs = as_inputs(X)
    if inputs.modality == "dataset":
        raise TypeError(
            "extract_distributed does not send a torch Dataset to workers; pass the list of image file paths "
            "(the workers read the files) or an array."
        )
    engine, handle = _resolve_engine(client)
    size = int(chunk_size) if chunk_size is not None else 4 * int(transformer.batch_size)
    verbose = transformer.verbose if verbose is None else verbose
    distinct, source = _distinct(inputs, dedupe=transformer.cache is not None)
    chunks = [distinct[i : i + size] for i in range(0, len(distinct), size)]
    token, payload = _payload(transformer)
    run = _run_dask if engine == "dask" else _run_ray

    out: np.ndarray | None = None
    from tqdm.auto import tqdm

    with tqdm(total=len(inputs), disable=not verbose, unit="sample", desc=f"Extracting on {engine}") as bar:
        for i, feats in run(handle, token, payload, inputs, chunks, resources, mmap_threshold):
            where = chunks[i]
            if out is None:
                out = np.empty((len(inputs), feats.shape[1]), dtype=np.float32)
            elif feats.shape[1] != out.shape[1]:
                raise ValueError(
                    f"Chunk {i} (samples {int(where[0])}..{int(where[-1])}) came back with {feats.shape[1]} features, "
                    f"other chunks with {out.shape[1]}: the workers do not run the same backbone."
                )
            out[where] = feats
            bar.update(len(where))
    assert out is not None
    dup = source != np.arange(len(inputs))
    if dup.any():
        out[dup] = out[source[dup]]
    return out


def _label(i: int, n_chunks: int, where: np.ndarray) -> str:
    return f"X samples {int(where[0])}..{int(where[-1])} (chunk {i + 1} of {n_chunks}, {len(where)} distinct samples)"


def _task_args(inputs: Inputs, chunks: list[np.ndarray]) -> Iterator[tuple[Any, tuple[int, int], str]]:
    for i, where in enumerate(chunks):
        yield inputs.take(where), (int(where[0]), int(where[-1])), _label(i, len(chunks), where)


def _clean(exc: BaseException) -> BaseException:
    """The chunk's DistributedExtractionError without the engine's wrapping (Ray's RayTaskError), else ``exc``."""
    err = getattr(exc, "cause", None)
    if not isinstance(err, DistributedExtractionError):
        err = exc
    if isinstance(err, DistributedExtractionError):
        return DistributedExtractionError(err.args[0], err.rows, err.worker, err.remote_traceback)
    return exc


def _run_dask(client: Any, token: str, payload: bytes, inputs: Inputs, chunks: list[np.ndarray],
              resources: Mapping[str, float] | None, mmap_threshold: int | None) -> Iterator[tuple[int, np.ndarray]]:
    from distributed import as_completed

    spec: Any = client.scatter(payload, broadcast=True, hash=False) if len(payload) > _SCATTER_BYTES else payload
    call = uuid.uuid4().hex[:8]
    futures = {}
    for i, (chunk, rows, label) in enumerate(_task_args(inputs, chunks)):
        future = client.submit(
            _extract_chunk, "dask", token, spec, chunk, rows, label, mmap_threshold,
            key=f"sknmtune-extract-{call}-{i}", pure=False, resources=dict(resources) if resources else None,
        )
        futures[future.key] = (i, future)
    try:
        for future in as_completed([f for _, f in futures.values()]):
            i = futures[future.key][0]
            try:
                result = future.result()
            except Exception as exc:
                raise _clean(exc) from None
            future.release()
            yield i, result
    finally:
        client.cancel([f for _, f in futures.values()])


def _run_ray(ray: Any, token: str, payload: bytes, inputs: Inputs, chunks: list[np.ndarray],
             resources: Mapping[str, float] | None, mmap_threshold: int | None) -> Iterator[tuple[int, np.ndarray]]:
    options: dict[str, Any] = {"name": "sknmtune-extract", "max_retries": 3, "retry_exceptions": False}
    custom = dict(resources or {})
    if "CPU" in custom:
        options["num_cpus"] = custom.pop("CPU")
    if "GPU" in custom:
        options["num_gpus"] = custom.pop("GPU")
    if custom:
        options["resources"] = custom
    task = ray.remote(_extract_chunk).options(**options)
    spec = ray.put(payload)
    pending = {
        task.remote("ray", token, spec, chunk, rows, label, mmap_threshold): i
        for i, (chunk, rows, label) in enumerate(_task_args(inputs, chunks))
    }
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            i = pending.pop(done[0])
            try:
                result = ray.get(done[0])
            except Exception as exc:
                raise _clean(exc) from None
            yield i, result
    finally:
        for ref in pending:
            ray.cancel(ref)
