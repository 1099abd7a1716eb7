"""timm backbones: model creation (pretrained, local weights or random init), data config, pooled features.

Registers the ``"timm"`` backbone family (:func:`sknmtune.backbones.register_backend`).
"""

from __future__ import annotations

import difflib
import os
from typing import Any

import torch
from torch import nn

from .._utils import seeded_global_rng
from ._checkpoint import load_into_model, read_checkpoint, state_digest
from ._images import resolve_image_spec
from ._module import layer_feature_fn
from ._registry import BackendOptions, _file_stamp, _loaded, _with_digest, register_backend
from ._runner import TorchBackend, TorchRunner

__all__ = ["create_timm_model", "timm_features", "is_timm_name", "normalize_timm_name", "close_timm_names"]

TIMM_INPUTS = frozenset({"images", "image_list", "files", "dataset"})
_INIT_SEED = 0


def normalize_timm_name(name: str) -> str:
    """``timm/<model>`` (a Hugging Face repo of timm weights) -> ``hf-hub:timm/<model>``."""
    return f"hf-hub:{name}" if name.startswith("timm/") else name


def is_timm_name(name: str) -> bool:
    import timm

    return name.startswith(("hf-hub:", "timm/")) or timm.is_model(name)


def close_timm_names(name: str, n: int = 5) -> list[str]:
    import timm

    return difflib.get_close_matches(name.split(".")[0], timm.list_models(), n=n, cutoff=0.6)


def create_timm_model(
    name: str, *, pretrained: bool, weights: str | os.PathLike | None, model_kwargs: dict[str, Any] | None
) -> nn.Module:
    """Create a timm model in eval mode.

    With ``weights`` (a state-dict checkpoint) the architecture is built without pretrained weights and
    the checkpoint is loaded (a classifier head of another size is ignored: features are pre-logits).
    Without it, ``pretrained=True`` downloads timm's weights (an offline failure says so and points to
    ``weights=``), and ``pretrained=False`` gives a random initialization that is seeded, so every reload
    (e.g. after unpickling) yields the same model.
    """
    import timm

    name = normalize_timm_name(name)
    kwargs = dict(model_kwargs or {})
    if not name.startswith("hf-hub:") and not timm.is_model(name):
        close = close_timm_names(name)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"Unknown timm model {name!r}.{hint} See timm.list_models().")
    if pretrained and weights is None:
        try:
            model = timm.create_model(name, pretrained=True, **kwargs)
        except OSError as exc:
            raise OSError(
                f"Could not get the pretrained weights of timm model {name!r}: they are not in the local cache and "
                f"could not be downloaded (offline?). Original error: {exc}. Pass local weights with "
                "weights='/path/to/checkpoint.pth' (a state dict), or pretrained=False for a random initialization."
            ) from exc
        return model.eval()
    with seeded_global_rng(_INIT_SEED):
        model = timm.create_model(name, pretrained=False, **kwargs)
    if weights is not None:
        load_into_model(model, read_checkpoint(weights), source=f"weights file {os.fspath(weights)!r}")
    return model.eval()


def timm_features(model: nn.Module) -> Any:
    """The pooled pre-logits feature function and its width."""

    def features(x: torch.Tensor) -> torch.Tensor:
        return model.forward_head(model.forward_features(x), pre_logits=True)

    width = getattr(model, "head_hidden_size", None) or getattr(model, "num_features", None)
    return features, width


def timm_data_config(model: nn.Module) -> dict[str, Any]:
    import timm.data

    return timm.data.resolve_model_data_config(model)


@register_backend("timm")
def _timm_backend(o: BackendOptions) -> TorchBackend:
    name = os.fspath(o.backbone)
    model, digest = _loaded(
        ("timm", name, o.pretrained, _file_stamp(o.weights), repr(sorted((o.model_kwargs or {}).items())),
         str(o.device), o.channels_last),
        lambda: _with_digest(
            create_timm_model(name, pretrained=o.pretrained, weights=o.weights, model_kwargs=o.model_kwargs),
            state_digest,
        ),
    )
    config = timm_data_config(model)
    spec = resolve_image_spec(config, **o.image_options, in_chans=int(config["input_size"][0]))
    default_fn, width = timm_features(model)
    fn = layer_feature_fn(model, o.layer, default_fn)
    runner = TorchRunner(model, fn, device=o.device, amp_dtype=o.amp_dtype, channels_last=o.channels_last, compile=o.compile)
    return TorchBackend(
        runner,
        spec,
        f"timm:{name}:{digest}:layer={o.layer}:spec={spec!r}:amp={o.amp_dtype}",
        description=f"timm model {name!r}",
        accepts=TIMM_INPUTS,
        n_features=None if o.layer else width,
        num_workers=o.num_workers,
    )
