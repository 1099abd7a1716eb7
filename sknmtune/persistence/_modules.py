"""Custom ``torch.nn.Module`` backbones in the safe format: stored as an import path, constructor
arguments and a state dict; rebuilt only for the types the caller names as trusted.

Saving needs the module's class to be importable by its name (``cls.__module__`` +
``cls.__qualname__``: defined at the top level of a module, not in ``__main__`` nor in a function)
and constructible from plain values: either ``cls()``, or ``cls(**module.get_init_kwargs())`` when
the module defines ``get_init_kwargs()`` (:data:`INIT_HOOK`) returning a dict of values the safe
format stores (numbers, strings, lists, tuples, dicts, arrays). Loading imports the module and calls
the constructor -- code -- so :func:`sknmtune.persistence.load` does it only for type names listed in
``trusted=``, and checks every name in the file against that list before it imports anything.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Iterable, Iterator
from typing import Any

import torch

from ._format import _KIND, _Malformed

#: The method a custom backbone module may define to give its constructor's keyword arguments.
INIT_HOOK = "get_init_kwargs"

_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def type_name(cls: type) -> str:
    """The name under which ``trusted=`` lists a class: ``module.qualname``."""
    return f"{cls.__module__}.{cls.__qualname__}"


def _resolve(module: str, qualname: str) -> Any:
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _save_refusal(cls: type, why: str) -> TypeError:
    return TypeError(
        f"cannot save the backbone {type_name(cls)} in the safe format: {why}. A module backbone is stored as its "
        f"import path, its constructor arguments (cls() or cls(**module.{INIT_HOOK}())) and its state dict. "
        "save(..., format='joblib') writes a pickle instead (loading it then needs trusted=True)."
    )


def init_kwargs(module: torch.nn.Module) -> dict[str, Any]:
    """The constructor arguments that rebuild ``module``'s architecture; TypeError when there are none."""
    cls = type(module)
    name = type_name(cls)
    if cls.__module__ == "__main__" or "<" in cls.__qualname__:
        raise _save_refusal(cls, "its class is defined in __main__ or inside a function, so it cannot be imported by "
                                 "name when the file is loaded; define it in an importable module")
    try:
        found = _resolve(cls.__module__, cls.__qualname__)
    except (ImportError, AttributeError) as exc:
        raise _save_refusal(cls, f"{name} cannot be imported by that name ({exc})") from exc
    if found is not cls:
        raise _save_refusal(cls, f"importing {name} gives another object")
    hook = getattr(module, INIT_HOOK, None)
    kwargs = hook() if callable(hook) else {}
    if type(kwargs) is not dict or not all(type(k) is str for k in kwargs):
        raise _save_refusal(cls, f"{INIT_HOOK}() must return a dict with str keys; got {type(kwargs).__name__}")
    try:
        inspect.signature(cls).bind(**kwargs)
    except TypeError as exc:
        how = f"{INIT_HOOK}() gives {sorted(kwargs)}" if callable(hook) else f"it defines no {INIT_HOOK}()"
        raise _save_refusal(cls, f"its constructor cannot be called with those arguments ({how}: {exc})") from exc
    _check_rebuilds(module, kwargs)
    return kwargs


def _construct(cls: type, kwargs: dict[str, Any]) -> torch.nn.Module:
    """``cls(**kwargs)``, on the meta device when the constructor allows it (no memory, no init cost)."""
    from .._utils import seeded_global_rng

    with seeded_global_rng(None):  # leave the caller's RNG alone
        try:
            with torch.device("meta"):
                return cls(**kwargs)
        except Exception:  # constructors that compute with real tensors
            return cls(**kwargs)


def _check_rebuilds(module: torch.nn.Module, kwargs: dict[str, Any]) -> None:
    """Refuse to save ``module`` unless ``cls(**kwargs)`` has the same state-dict keys, shapes and dtypes."""
    cls = type(module)
    call = f"{cls.__qualname__}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
    try:
        probe = _construct(cls, kwargs)
    except Exception as exc:
        raise _save_refusal(cls, f"{call} fails ({type(exc).__name__}: {' '.join(str(exc).split())})") from exc
    have = {k: (tuple(t.shape), t.dtype) for k, t in module.state_dict().items() if isinstance(t, torch.Tensor)}
    built = {k: (tuple(t.shape), t.dtype) for k, t in probe.state_dict().items() if isinstance(t, torch.Tensor)}
    if have.keys() != built.keys():
        missing, extra = sorted(have.keys() - built.keys()), sorted(built.keys() - have.keys())
        detail = "; ".join(
            f"{label}: {', '.join(names[:5])}{', ...' if len(names) > 5 else ''}"
            for label, names in (("lacking", missing), ("with the extra", extra)) if names
        )
        raise _save_refusal(
            cls, f"{call} builds a module whose state dict differs from this one's ({detail}); "
                 f"define {INIT_HOOK}() returning the arguments that rebuild this architecture"
        )
    for key, (shape, dtype) in have.items():
        if built[key] != (shape, dtype):
            raise _save_refusal(
                cls, f"its tensor {key!r} has shape {shape} and dtype {dtype}, but {call} builds {built[key][0]} "
                     f"and {built[key][1]} (save the module as its constructor builds it; use amp_dtype= for precision)"
            )


def module_entry(module: torch.nn.Module, kwargs: Any, state: dict[str, Any]) -> dict[str, Any]:
    """The JSON entry of a custom module (``kwargs`` and ``state`` already encoded)."""
    cls = type(module)
    return {_KIND: "torch_module", "module": cls.__module__, "qualname": cls.__qualname__, "init_kwargs": kwargs,
            "state": state, "training": bool(module.training)}


def entry_type(value: dict, where: str) -> tuple[str, str]:
    """``(module, qualname)`` of a ``torch_module`` entry, checked to be plain dotted names."""
    module, qualname = value.get("module"), value.get("qualname")
    if not (isinstance(module, str) and isinstance(qualname, str) and _DOTTED.fullmatch(module)
            and _DOTTED.fullmatch(qualname)):
        raise _Malformed(f"malformed torch module entry at {where}")
    return module, qualname


def custom_types(tree: Any) -> Iterator[str]:
    """Every custom module type named in a decoded JSON tree (before anything is imported)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            if node.get(_KIND) == "torch_module":
                try:
                    module, qualname = entry_type(node, "a torch module entry")
                except _Malformed:
                    yield f"{node.get('module')!r}.{node.get('qualname')!r}"
                    continue
                yield f"{module}.{qualname}"
            stack.extend(node.values())


class Trust:
    """What ``load(trusted=...)`` allows: everything (``True``), nothing, or the listed type names."""

    def __init__(self, trusted: bool | Iterable[str | type]) -> None:
        if trusted is True or trusted is False:
            self.everything, self.names = trusted, frozenset()
            return
        if isinstance(trusted, (str, bytes)) or not isinstance(trusted, Iterable):
            raise TypeError(
                "trusted must be True, False, or a list of type names such as ['mypkg.nets.MyNet']; "
                f"got {trusted!r}."
            )
        names = []
        for item in trusted:
            if isinstance(item, type):
                item = type_name(item)
            if not isinstance(item, str):
                raise TypeError(f"trusted lists type names (str) or classes; got {item!r}.")
            names.append(item)
        self.everything, self.names = False, frozenset(names)

    def allows(self, name: str) -> bool:
        return self.everything or name in self.names


def untrusted_message(names: list[str]) -> str:
    listed = ", ".join(repr(n) for n in names)
    kind = "type" if len(names) == 1 else "types"
    return (
        f"holds a custom torch module of {kind} {listed}: loading it imports that code and calls its constructor, "
        f"which load() does only for types you name. If you trust the file and that code, pass trusted=[{listed}] "
        f"(the CLI: --trusted-type NAME); nothing was imported"
    )


def rebuild(module: str, qualname: str, kwargs: Any, state: dict[str, torch.Tensor], training: Any, where: str) -> torch.nn.Module:
    """Import the (trusted) class, construct it from ``kwargs`` and load ``state`` into it."""
    from .._utils import seeded_global_rng

    name = f"{module}.{qualname}"
    try:
        cls = _resolve(module, qualname)
    except (ImportError, AttributeError) as exc:
        raise _Malformed(f"its backbone type {name} cannot be imported here ({exc})") from exc
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise _Malformed(f"{name} at {where} is not a torch.nn.Module class")
    if type(kwargs) is not dict or not all(type(k) is str for k in kwargs):
        raise _Malformed(f"malformed constructor arguments at {where}")
    try:
        with seeded_global_rng(None):  # the weights are overwritten; leave the caller's RNG alone
            net = cls(**kwargs)
        net.load_state_dict(state, strict=True)
    except Exception as exc:
        raise _Malformed(f"the weights at {where} do not fit {name} ({' '.join(str(exc).split())})") from exc
    return net.train(bool(training))
