"""Backbone families as a registry of backend builders.

Every family turns the transformer's parameters (:class:`BackendOptions`) into a *backend*, the one
interface :class:`~sknmtune.FrozenBackboneTransformer` talks to: ``kind``, ``accepts`` (the input
modalities), ``identity`` (what the feature cache keys on), ``description``, ``n_features`` (the declared
width or ``None``) and the feature extraction itself (:class:`._runner.TorchBackend`,
:class:`._text.TextBackend`, :class:`._callable.CallableBackend`). ``_transformer.py`` validates,
resolves the family, dispatches here and caches; it builds nothing itself.

Named models (timm, text) are kept in a small LRU so that ``GridSearchCV`` clones reuse loaded weights.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from ._callable import CallableBackend
from ._images import resolve_image_spec
from ._module import layer_feature_fn, module_backend
from ._runner import TorchBackend, TorchRunner
from ._text import TextBackend, load_sentence_transformer
from ._timm import TIMM_INPUTS, create_timm_model, timm_data_config, timm_features

__all__ = ["BACKENDS", "BackendOptions", "build_backend", "register_backend"]


@dataclass(frozen=True)
class BackendOptions:
    """The transformer's parameters as the builders read them (devices and workers already resolved)."""

    backbone: Any
    device: torch.device
    amp_dtype: torch.dtype | None
    num_workers: int
    image_options: dict[str, Any] = field(default_factory=dict)  # image_size, crop_pct, interpolation, mean, std
    layer: str | None = None
    channels_last: bool = False
    compile: bool = False
    pretrained: bool = True
    weights: str | os.PathLike | None = None
    model_kwargs: dict[str, Any] | None = None
    cache_key: str | None = None
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    max_retries: int = 0
    backoff: float = 0.0


#: kind -> builder(options) -> backend
BACKENDS: dict[str, Callable[[BackendOptions], Any]] = {}


def register_backend(kind: str) -> Callable[[Callable[[BackendOptions], Any]], Callable[[BackendOptions], Any]]:
    """Decorator: register ``builder`` as the backend factory of ``kind``."""

    def decorate(builder: Callable[[BackendOptions], Any]) -> Callable[[BackendOptions], Any]:
        BACKENDS[kind] = builder
        return builder

    return decorate


def build_backend(kind: str, options: BackendOptions) -> Any:
    """The backend of family ``kind`` for ``options``."""
    try:
        builder = BACKENDS[kind]
    except KeyError:
        raise ValueError(f"no backend is registered for kind {kind!r}; registered: {sorted(BACKENDS)}.") from None
    return builder(options)


# ------------------------------------------------------------------------------------------ loaded models
_LOADED: OrderedDict[tuple, tuple[Any, str]] = OrderedDict()
_LOADED_MAX = 2  # loaded named models kept alive (most recent last)


def _loaded(key: tuple, load: Callable[[], tuple[Any, str]]) -> tuple[Any, str]:
    if key in _LOADED:
        _LOADED.move_to_end(key)
        return _LOADED[key]
    value = load()
    _LOADED[key] = value
    while len(_LOADED) > _LOADED_MAX:
        _LOADED.popitem(last=False)
    return value


def _file_stamp(path: str | os.PathLike | None) -> tuple | None:
    if path is None:
        return None
    path = os.path.abspath(os.fspath(path))
    try:
        st = os.stat(path)
    except OSError:
        return (path,)
    return (path, st.st_size, st.st_mtime_ns)


def _with_digest(model: Any, digest: Callable[[Any], str]) -> tuple[Any, str]:
    return model, digest(model)


# ------------------------------------------------------------------------------------------ the families
def _refuse_compile(o: BackendOptions, why: str) -> None:
    if o.compile:
        raise ValueError(f"compile=True compiles torch module and timm backbones only; {why}. Remove compile=True.")


@register_backend("callable")
def _callable_backend(o: BackendOptions) -> CallableBackend:
    _refuse_compile(o, "a callable backbone is your own function (compile it yourself if it runs torch code)")
    return CallableBackend(
        o.backbone, cache_key=o.cache_key, retry_on=o.retry_on, max_retries=o.max_retries, backoff=o.backoff
    )


@register_backend("module")
def _module_backend(o: BackendOptions) -> TorchBackend:
    options = o.image_options
    spec = None if all(v is None for v in options.values()) else resolve_image_spec(None, **options)
    return module_backend(
        o.backbone, layer=o.layer, spec=spec, device=o.device, amp_dtype=o.amp_dtype,
        channels_last=o.channels_last, compile=o.compile, num_workers=o.num_workers,
    )


@register_backend("text")
def _text_backend(o: BackendOptions) -> TextBackend:
    _refuse_compile(o, "a sentence-transformers model runs through its own encode(), which is not compiled")
    name = os.fspath(o.backbone)
    kwargs = dict(o.model_kwargs or {})
    model, digest = _loaded(
        ("text", name, str(o.device), repr(sorted(kwargs.items()))),
        lambda: _with_digest(load_sentence_transformer(name, device=o.device, model_kwargs=kwargs), TextBackend.digest),
    )
    return TextBackend(model, name=name, digest=digest, amp_dtype=o.amp_dtype)


@register_backend("timm")
def _timm_backend(o: BackendOptions) -> TorchBackend:
    from ._checkpoint import state_digest

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
