"""Backbone families as a registry of backend builders.

Every family turns the transformer's parameters (:class:`BackendOptions`) into a *backend*, the one
interface :class:`~sknmtune.FrozenBackboneTransformer` talks to (see :func:`register_backend`). Each
built-in family registers its builder in its own module, as timm's ``register_model`` does:
``_timm.py`` (``"timm"``), ``_text.py`` (``"text"``), ``_module.py`` (``"module"``) and ``_callable.py``
(``"callable"``); ``backbones/__init__.py`` imports them. ``_transformer.py`` validates, resolves the
family, dispatches here and caches; it builds nothing itself. This module imports no family.

Named models (timm, text) are kept in a small LRU (:func:`_loaded`) so that ``GridSearchCV`` clones
reuse loaded weights.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["BACKENDS", "BackendOptions", "build_backend", "register_backend"]


@dataclass(frozen=True)
class BackendOptions:
    """The transformer's parameters as a family's builder reads them (devices and workers already resolved).

    :class:`~sknmtune.FrozenBackboneTransformer` fills one from its parameters and passes it to the
    builder of the backbone's family (see :func:`register_backend`); ``dataclasses.replace`` derives
    options for another family, e.g. ``replace(options, backbone=loaded_module)`` for ``"module"``.

    Attributes
    ----------
    backbone : object
        The ``backbone`` parameter as given (a name, a module, a callable, ...).
    device : torch.device
    amp_dtype : torch.dtype or None
    num_workers : int
    image_options : dict
        ``image_size``, ``crop_pct``, ``interpolation``, ``mean``, ``std`` (None: the family's default).
    layer, channels_last, compile, pretrained, weights, model_kwargs, cache_key, retry_on, max_retries, backoff
        The transformer's parameters of those names.
    """

    backbone: Any
    device: torch.device
    amp_dtype: torch.dtype | None
    num_workers: int
    image_options: dict[str, Any] = field(default_factory=dict)  # image_size, crop_pct, interpolation, mean, std
    layer: str | None = None
    channels_last: bool | str = "auto"
    compile: bool = False
    pretrained: bool = True
    weights: str | os.PathLike | None = None
    model_kwargs: dict[str, Any] | None = None
    cache_key: str | None = None
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    max_retries: int = 0
    backoff: float = 0.0


#: kind -> builder(options) -> backend, in registration order.
BACKENDS: dict[str, Callable[[BackendOptions], Any]] = {}

Builder = Callable[[BackendOptions], Any]


def register_backend(kind: str, builder: Builder | None = None, *, replace: bool = False) -> Any:
    """Register a backbone family: ``builder(options) -> backend`` under the name ``kind``.

    Use it as a decorator (``@register_backend("name")``) or call it with the builder. The built-in
    families (``"timm"``, ``"text"``, ``"module"``, ``"callable"``) register themselves this way in
    their own modules when :mod:`sknmtune.backbones` is imported.

    A builder receives the transformer's parameters as :class:`BackendOptions` (``backbone``,
    ``device``, ``amp_dtype``, ``layer``, ``image_options``, ...) and returns a *backend*, an object
    with

    * ``kind``: how the transformer validates inputs for it: ``"torch"`` (images or vectors),
      ``"text"`` (strings and sentence pairs) or ``"callable"`` (anything, passed through);
    * ``accepts``: the input modalities it takes (a set of ``"images"``, ``"vectors"``,
      ``"image_list"``, ``"files"``, ``"strings"``, ``"pairs"``, ``"dataset"``);
    * ``identity``: a string that changes whenever the features would (the feature cache's key);
    * ``description``: a short name for messages;
    * ``n_features``: the output width, or ``None`` when it is only known by running the model;
    * ``iter_features(inputs, indices, batch_size, ...)``: yields ``(positions, float32 features)``.

    The easiest way to a backend is to load the model and hand it to a built-in family with
    :func:`build_backend`, e.g. a torch module to ``"module"`` (batched, on the device, with AMP).

    Parameters
    ----------
    kind : str
        The family's name (``FrozenBackboneTransformer(kind=...)``): a non-empty string other than
        ``"auto"``.
    builder : callable, default=None
        ``builder(options: BackendOptions) -> backend``. ``None`` returns a decorator.
    replace : bool, default=False
        Replace an existing family of that name instead of raising.

    Returns
    -------
    builder or decorator
        ``builder`` itself (unchanged), or, without ``builder``, a decorator that registers and
        returns the function it decorates.

    Raises
    ------
    ValueError
        If ``kind`` is not a non-empty string, is ``"auto"``, or names a registered family and
        ``replace`` is False.
    TypeError
        If ``builder`` is not callable.

    See Also
    --------
    build_backend : the backend of a registered family for given options.

    Examples
    --------
    A family of seeded random projections named ``"toy:<width>"``, run through the module family:

    >>> import dataclasses, torch
    >>> from sknmtune.backbones import BackendOptions, build_backend, register_backend
    >>> @register_backend("toy-projection", replace=True)
    ... def build_toy(options):
    ...     width = int(str(options.backbone).split(":")[1])
    ...     torch.manual_seed(0)
    ...     module = torch.nn.Linear(4, width, bias=False)
    ...     return build_backend("module", dataclasses.replace(options, backbone=module))
    >>> options = BackendOptions(backbone="toy:3", device=torch.device("cpu"), amp_dtype=None, num_workers=0)
    >>> build_backend("toy-projection", options).description
    'module Linear'
    """
    if not isinstance(kind, str) or not kind.strip():
        raise ValueError(f"kind must be a non-empty string naming the backbone family; got {kind!r}.")
    if kind == "auto":
        raise ValueError("kind='auto' means 'resolve the family from the backbone'; register under another name.")

    def register(function: Builder) -> Builder:
        if not callable(function):
            raise TypeError(f"the builder of kind {kind!r} must be callable; got {type(function).__name__}.")
        if kind in BACKENDS and not replace and BACKENDS[kind] is not function:
            raise ValueError(
                f"a backbone family named {kind!r} is already registered ({_qualname(BACKENDS[kind])}); "
                "choose another name, or pass replace=True."
            )
        BACKENDS[kind] = function
        return function

    return register if builder is None else register(builder)


def _qualname(function: Callable[..., Any]) -> str:
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', repr(function))}"


def build_backend(kind: str, options: BackendOptions) -> Any:
    """The backend of the registered family ``kind`` for ``options``.

    Parameters
    ----------
    kind : str
        A registered family (see :func:`register_backend`).
    options : BackendOptions

    Returns
    -------
    backend
        What the family's builder returns.

    Raises
    ------
    ValueError
        If no family of that name is registered (the message lists the registered ones).
    """
    try:
        builder = BACKENDS[kind]
    except KeyError:
        raise ValueError(f"no backend is registered for kind {kind!r}; registered: {sorted(BACKENDS)}.") from None
    return builder(options)


# ------------------------------------------------------------------------------------------ for the families
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


def _refuse_compile(o: BackendOptions, why: str) -> None:
    if o.compile:
        raise ValueError(f"compile=True compiles torch module and timm backbones only; {why}. Remove compile=True.")
