"""Plain ``torch.nn.Module`` backbones: the module's output, or the output of one of its layers.

Registers the ``"module"`` backbone family (:func:`sknmtune.backbones.register_backend`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ._checkpoint import state_digest
from ._images import ImageSpec, resolve_image_spec
from ._registry import BackendOptions, register_backend
from ._runner import TorchBackend, TorchRunner

__all__ = ["layer_feature_fn", "module_backend"]

MODULE_INPUTS = frozenset({"images", "vectors", "image_list", "files", "dataset"})


class _Captured(Exception):
    """Raised by the layer hook to stop the forward pass once the wanted output exists."""

    def __init__(self, output: torch.Tensor) -> None:
        super().__init__()
        self.output = output


def layer_feature_fn(
    model: nn.Module, layer: str | None, default: Callable[[torch.Tensor], torch.Tensor]
) -> Callable[[torch.Tensor], torch.Tensor]:
    """``default``, or a function returning the output of ``model``'s submodule named ``layer``.

    The forward pass stops as soon as that layer has run. Outputs with more than two dimensions are
    flattened per sample by the runner.
    """
    if layer is None:
        return default
    modules = dict(model.named_modules())
    if layer not in modules or layer == "":
        names = [n for n in modules if n]
        shown = ", ".join(repr(n) for n in names[:12]) + (", ..." if len(names) > 12 else "")
        raise ValueError(f"layer={layer!r} is not a submodule of {type(model).__name__}; available: {shown}.")
    target = modules[layer]

    def hook(module: nn.Module, args: object, output: torch.Tensor) -> None:
        raise _Captured(output)

    def features(x: torch.Tensor) -> torch.Tensor:
        handle = target.register_forward_hook(hook)
        try:
            model(x)
        except _Captured as captured:
            return captured.output
        finally:
            handle.remove()
        raise RuntimeError(f"layer {layer!r} was not called during the forward pass of {type(model).__name__}.")

    return features


def module_backend(
    module: nn.Module,
    *,
    layer: str | None,
    spec: ImageSpec | None,
    device: torch.device,
    amp_dtype: torch.dtype | None,
    channels_last: bool,
    compile: bool,
    num_workers: int,
) -> TorchBackend:
    """A backend running ``module`` (moved to ``device``; eval mode while extracting)."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"kind='module' needs a torch.nn.Module; got {type(module).__name__}.")
    fn = layer_feature_fn(module, layer, module)
    runner = TorchRunner(module, fn, device=device, amp_dtype=amp_dtype, channels_last=channels_last, compile=compile)
    identity = f"module:{state_digest(module)}:layer={layer}:spec={spec!r}:amp={amp_dtype}"
    return TorchBackend(
        runner,
        spec,
        identity,
        description=f"module {type(module).__name__}" + (f" (layer {layer!r})" if layer else ""),
        accepts=MODULE_INPUTS,
        raw_float=True,
        num_workers=num_workers,
    )


@register_backend("module")
def _module_backend(o: BackendOptions) -> TorchBackend:
    options = o.image_options
    spec = None if all(v is None for v in options.values()) else resolve_image_spec(None, **options)
    return module_backend(
        o.backbone, layer=o.layer, spec=spec, device=o.device, amp_dtype=o.amp_dtype,
        channels_last=o.channels_last, compile=o.compile, num_workers=o.num_workers,
    )
