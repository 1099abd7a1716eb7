"""Running a frozen torch model fast: device, eval + inference mode, AMP, channels_last, torch.compile."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from ._images import AugmentedView, ImageSpec, iter_image_batches
from ._inputs import Inputs

__all__ = ["TorchRunner", "TorchBackend", "resolve_amp_dtype", "resolve_channels_last"]

_AMP = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16}


def resolve_amp_dtype(amp_dtype: str | torch.dtype | None) -> torch.dtype | None:
    """``None``, ``"bf16"``/``"fp16"`` (or the torch dtypes) -> a torch dtype or ``None``."""
    if amp_dtype is None or amp_dtype in (torch.bfloat16, torch.float16):
        return amp_dtype
    if isinstance(amp_dtype, str) and amp_dtype.lower() in _AMP:
        return _AMP[amp_dtype.lower()]
    raise ValueError(f"amp_dtype must be None, 'bf16' or 'fp16'; got {amp_dtype!r}.")


def resolve_channels_last(channels_last: bool | str | None, device: torch.device, module: nn.Module) -> bool:
    """Whether ``module`` runs in channels_last memory format: ``channels_last`` itself, or for ``"auto"``
    (and ``None``) channels_last exactly on the CPU for a module with a 2-D convolution.

    On the CPU, oneDNN runs convolutions on NHWC batches faster than on contiguous NCHW ones (resnet18
    at 224 px, 2 threads: ``benchmarks/bench_extraction.py --default-format``, stored in
    ``benchmarks/results/extraction.json``); on
    CUDA the gain depends on AMP and the GPU, so ``"auto"`` leaves the memory format alone there.
    Modules without 2-D convolutions (MLPs, transformers on token inputs) are unaffected either way.

    Examples
    --------
    >>> import torch
    >>> from sknmtune.backbones._runner import resolve_channels_last
    >>> cnn = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten())
    >>> resolve_channels_last("auto", torch.device("cpu"), cnn), resolve_channels_last("auto", torch.device("cpu"), torch.nn.Linear(3, 4))
    (True, False)
    >>> resolve_channels_last(False, torch.device("cpu"), cnn)
    False
    """
    if channels_last is None or (isinstance(channels_last, str) and channels_last == "auto"):
        return device.type == "cpu" and any(isinstance(m, nn.Conv2d) for m in module.modules())
    if isinstance(channels_last, (bool, np.bool_)):
        return bool(channels_last)
    raise ValueError(f"channels_last must be True, False or 'auto'; got {channels_last!r}.")


class TorchRunner:
    """Apply ``feature_fn`` (closing over ``module``) to device batches, frozen.

    The module is moved to ``device`` (and to channels_last) once; every call runs under
    ``torch.inference_mode`` and, with ``amp_dtype``, under autocast; it is put in eval mode for the
    duration of :meth:`session` and its previous train/eval flags are restored afterwards.

    ``channels_last`` is ``True``, ``False`` or ``"auto"`` (``None`` means ``"auto"``), resolved
    once by :func:`resolve_channels_last`: ``"auto"`` is channels_last on the CPU for a module with
    2-D convolutions (it then gets 4-D image batches in NHWC memory order, which oneDNN's CPU
    convolutions run faster than contiguous NCHW), and contiguous elsewhere. The
    resolved bool is the ``channels_last`` attribute.

    With ``compile`` the feature function is compiled for static shapes, and a batch smaller than
    ``pad_to`` (the last, partial batch of a call) is padded to ``pad_to`` rows by repeating its last
    row; the extra rows are dropped from the output. Every batch then has the same shape, so the graph
    compiled for the first batch serves all of them instead of a second compilation for the partial
    batch (measured on CPU: ``benchmarks/results/extraction_compile.json``). Rows are independent in eval mode, so
    the padding does not change the features.
    """

    def __init__(
        self,
        module: nn.Module,
        feature_fn: Callable[[torch.Tensor], torch.Tensor],
        *,
        device: torch.device,
        amp_dtype: torch.dtype | None = None,
        channels_last: bool | str | None = "auto",
        compile: bool = False,
    ) -> None:
        channels_last = resolve_channels_last(channels_last, device, module)
        self.module, self.device, self.amp_dtype, self.channels_last = module, device, amp_dtype, channels_last
        module.to(device)
        if channels_last:
            module.to(memory_format=torch.channels_last)
        self.compiled = bool(compile)
        self.fn = torch.compile(feature_fn, dynamic=False) if compile else feature_fn

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        modes = [(m, m.training) for m in self.module.modules()]
        self.module.eval()
        try:
            yield
        finally:
            for m, training in modes:
                m.training = training

    def __call__(self, x: torch.Tensor, *, pad_to: int | None = None) -> torch.Tensor:
        n = x.shape[0]
        padded = self.compiled and pad_to is not None and 0 < n < pad_to
        if padded:
            x = _pad_rows(x, pad_to, channels_last=self.channels_last)
        amp = (
            torch.autocast(self.device.type, dtype=self.amp_dtype)
            if self.amp_dtype is not None
            else contextlib.nullcontext()
        )
        with torch.inference_mode(), amp:
            try:
                y = self.fn(x)
            except RuntimeError as exc:
                if not _is_shape_error(exc):
                    raise
                raise ValueError(
                    f"The backbone cannot take inputs of shape {tuple(x.shape[1:])} per sample: {exc}. Pass inputs "
                    "of the shape its first layer expects (e.g. the feature width of a Linear layer)."
                ) from exc
        if isinstance(y, (tuple, list)):
            y = y[0]
        if not isinstance(y, torch.Tensor):
            raise TypeError(f"The backbone returned {type(y).__name__}; expected a tensor (or a tuple starting with one).")
        if y.ndim == 1:
            y = y.unsqueeze(1)
        elif y.ndim > 2:
            y = y.flatten(1)
        if padded and y.shape[0] == x.shape[0]:
            y = y[:n]  # drop the padding rows (a wrong row count is left for the caller's check)
        if y.ndim == 2 and y.shape[1] == 0:
            raise ValueError(f"The backbone returned no features for inputs of shape {tuple(x.shape[1:])} per sample "
                             "(an empty axis?); pass inputs with at least one value along every axis.")
        return y.float()


#: fragments of torch's messages for an input whose shape a layer does not take
_SHAPE_ERRORS = ("cannot be multiplied", "size mismatch", "must match the size", "Expected", "expected input",
                 "shape", "channels")


def _is_shape_error(exc: RuntimeError) -> bool:
    """Whether a torch ``RuntimeError`` says the input's shape does not fit a layer (out-of-memory and other
    run-time failures are left as they are)."""
    if isinstance(exc, torch.OutOfMemoryError):
        return False
    return any(fragment in str(exc) for fragment in _SHAPE_ERRORS)


def _pad_rows(x: torch.Tensor, rows: int, *, channels_last: bool) -> torch.Tensor:
    """``x`` with its last row repeated up to ``rows`` rows (in-distribution padding)."""
    padded = torch.cat([x, x[-1:].expand(rows - x.shape[0], *x.shape[1:])])
    if channels_last and padded.ndim == 4:
        padded = padded.contiguous(memory_format=torch.channels_last)
    return padded


class TorchBackend:
    """A frozen torch model plus its input pipeline, as the transformer's extraction backend.

    Parameters
    ----------
    runner : TorchRunner
    spec : ImageSpec or None
        Image preprocessing; ``None`` passes numeric inputs through unchanged.
    identity : str
        Digest of the model (structure + weights) and preprocessing, for the cache.
    accepts : set of str
        Input modalities this backbone takes.
    n_features : int or None
        Output width when known without running the model.
    raw_float : bool
        Float arrays are model inputs as they are (plain modules), not images in [0, 1].
    """

    kind = "torch"

    def __init__(
        self,
        runner: TorchRunner,
        spec: ImageSpec | None,
        identity: str,
        *,
        description: str,
        accepts: frozenset[str],
        n_features: int | None = None,
        raw_float: bool = False,
        num_workers: int = 0,
    ) -> None:
        self.runner, self.spec, self.identity, self.description = runner, spec, identity, description
        self.accepts, self.n_features, self.raw_float, self.num_workers = accepts, n_features, raw_float, num_workers

    def iter_features(
        self, inputs: Inputs, indices: np.ndarray, batch_size: int, view: AugmentedView | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(positions, float32 features)`` batch by batch.

        On CUDA the result of batch k is copied to pinned host memory asynchronously and handed out
        only after batch k + 1 has been queued, so the GPU computes while the host prepares and stores.
        """
        cuda = self.runner.device.type == "cuda"
        pending: tuple[np.ndarray, torch.Tensor, Any] | None = None
        for pos, y in self._device_batches(inputs, indices, batch_size, view):
            if not cuda:
                yield pos, y.cpu().numpy()
                continue
            host = torch.empty(y.shape, dtype=y.dtype, pin_memory=True)
            host.copy_(y, non_blocking=True)
            done = torch.cuda.Event()
            done.record()
            if pending is not None:
                yield _ready(pending)
            pending = (pos, host, done)
        if pending is not None:
            yield _ready(pending)

    def _device_batches(
        self, inputs: Inputs, indices: np.ndarray, batch_size: int, view: AugmentedView | None = None
    ) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
        workers = self.num_workers if inputs.modality in ("files", "dataset") else 0
        with self.runner.session():
            for pos, x in iter_image_batches(
                inputs,
                indices,
                self.spec,
                batch_size=batch_size,
                device=self.runner.device,
                num_workers=workers,
                channels_last=self.runner.channels_last,
                raw_float=self.raw_float,
                view=view,
            ):
                y = self.runner(x, pad_to=batch_size)
                if y.shape[0] != len(pos):
                    raise ValueError(
                        f"The backbone returned {y.shape[0]} rows for a batch of {len(pos)} samples; its output "
                        "must have the batch as first dimension."
                    )
                yield pos, y


def _ready(pending: tuple[np.ndarray, torch.Tensor, Any]) -> tuple[np.ndarray, np.ndarray]:
    pos, host, done = pending
    done.synchronize()
    return pos, host.numpy()
