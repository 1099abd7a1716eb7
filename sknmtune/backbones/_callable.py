"""Black-box backbones: any Python callable mapping a batch of samples to an array (e.g. a paid API).

Registers the ``"callable"`` backbone family (:func:`sknmtune.backbones.register_backend`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ._inputs import Inputs, _first
from ._registry import BackendOptions, _refuse_compile, register_backend

__all__ = ["CallableBackend", "call_with_retry"]

logger = logging.getLogger("sknmtune.backbones")
_sleep = time.sleep  # patched in tests


def call_with_retry(
    fn: Callable[[Any], Any],
    batch: Any,
    *,
    retry_on: tuple[type[BaseException], ...],
    max_retries: int,
    backoff: float,
) -> Any:
    """``fn(batch)``, retried up to ``max_retries`` times on ``retry_on`` errors.

    The k-th retry waits ``backoff * 2**k`` seconds. Other errors, and the last retryable one, propagate.
    """
    for attempt in range(max_retries + 1):
        try:
            return fn(batch)
        except retry_on as exc:
            if attempt == max_retries:
                raise
            delay = backoff * 2**attempt
            logger.warning("backbone call failed (%s: %s); retry %d/%d in %.1fs", type(exc).__name__, exc, attempt + 1, max_retries, delay)
            _sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def as_feature_block(y: Any, n: int, where: str) -> np.ndarray:
    """Validate a backbone's output for ``n`` samples: a finite (n, d) float32 array."""
    if hasattr(y, "detach"):
        y = y.detach().cpu().numpy()
    try:
        arr = np.asarray(y, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"The backbone returned {type(y).__name__}, which is not a numeric array, {where}.") from exc
    if arr.ndim != 2 or arr.shape[0] != n:
        raise ValueError(f"The backbone returned shape {arr.shape} {where}; expected ({n}, n_features).")
    if not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
        raise ValueError(f"The backbone returned NaN or infinite values {where} (first in row {bad} of the batch).")
    return arr


class CallableBackend:
    """Call ``fn`` on batches of raw samples: an ndarray slice for arrays, a list otherwise.

    ``identity`` (for the cache) is ``cache_key`` when given, otherwise a joblib hash of ``fn``
    (module-level functions hash by their qualified name; objects by their pickled state).
    """

    kind = "callable"
    accepts = frozenset({"images", "vectors", "image_list", "strings", "pairs", "dataset"})
    n_features = None

    def __init__(
        self,
        fn: Callable[[Any], Any],
        *,
        cache_key: str | None,
        retry_on: tuple[type[BaseException], ...],
        max_retries: int,
        backoff: float,
    ) -> None:
        self.fn, self.cache_key = fn, cache_key
        self.retry_on, self.max_retries, self.backoff = retry_on, max_retries, backoff
        self.description = f"callable {getattr(fn, '__qualname__', type(fn).__name__)}"

    @property
    def identity(self) -> str:
        if self.cache_key is not None:
            return f"callable-key:{self.cache_key}"
        import joblib

        try:
            return f"callable:{joblib.hash(self.fn)}"
        except Exception as exc:
            raise ValueError(
                f"Cannot key the cache on the callable {self.description}: it cannot be hashed ({exc}). Use a "
                "module-level function or a picklable object, or pass cache_key='a-name-for-this-backbone'."
            ) from exc

    def iter_features(self, inputs: Inputs, indices: np.ndarray, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for start in range(0, len(indices), batch_size):
            pos = indices[start : start + batch_size]
            batch = inputs.take(pos)
            if inputs.modality == "dataset":
                batch = [_first(item) for item in batch]
            y = call_with_retry(
                self.fn, batch, retry_on=self.retry_on, max_retries=self.max_retries, backoff=self.backoff
            )
            yield pos, as_feature_block(y, len(pos), f"for samples {int(pos[0])}..{int(pos[-1])}")


@register_backend("callable")
def _callable_backend(o: BackendOptions) -> CallableBackend:
    _refuse_compile(o, "a callable backbone is your own function (compile it yourself if it runs torch code)")
    return CallableBackend(
        o.backbone, cache_key=o.cache_key, retry_on=o.retry_on, max_retries=o.max_retries, backoff=o.backoff
    )
