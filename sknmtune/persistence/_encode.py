"""Encoding: an object tree -> JSON-able values plus the list of arrays stored as ``.npy`` members."""

from __future__ import annotations

import math
from pathlib import PurePath
from typing import Any

import numpy as np
import torch
from sklearn.utils import Bunch

from ..cache import FeatureCache
from ._format import (
    _ARRAY_PREFIX,
    _BACKBONE,
    _BUILTIN_TYPES,
    _KIND,
    _allowed_list,
    safe_name,
    module_attributes,
)
from ._layers import encode_tree, is_layer_tree
from ._modules import init_kwargs, module_entry


class _Encoder:
    """Turns an object tree into JSON-able values plus a list of arrays."""

    def __init__(self) -> None:
        self.arrays: list[np.ndarray] = []
        self.custom_modules = 0  # torch module backbones stored by import path (format version 2)
        self.layer_trees = 0  # backbones of standard torch.nn layers stored as their tree (format version 3)
        self._active: set[int] = set()

    def _member(self, array: np.ndarray) -> str:
        self.arrays.append(array)
        return f"{_ARRAY_PREFIX}{len(self.arrays) - 1}.npy"

    def encode(self, value: Any, where: str) -> Any:
        if value is None or type(value) in (bool, int, str):
            return value
        if type(value) is float:
            return value if math.isfinite(value) else {_KIND: "float", "value": repr(value)}
        if id(value) in self._active:
            raise TypeError(f"cannot save {where}: the object contains itself (a reference cycle).")
        self._active.add(id(value))
        try:
            return self._encode_container(value, where)
        finally:
            self._active.discard(id(value))

    def _encode_container(self, value: Any, where: str) -> Any:
        if type(value) is list:
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if type(value) is tuple:
            return {_KIND: "tuple", "items": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]}
        if type(value) in (dict, Bunch):  # a Bunch: VotingClassifier.named_estimators_, a dict with attribute access
            return {
                _KIND: "dict" if type(value) is dict else "bunch",
                "items": [[self.encode(k, f"{where} key"), self.encode(v, f"{where}[{k!r}]")] for k, v in value.items()],
            }
        if isinstance(value, np.generic):
            return self._encode_scalar(value)
        if type(value) in (np.ndarray, np.memmap):
            return self._encode_array(np.asarray(value), where)
        if type(value) is np.ma.MaskedArray:  # e.g. the param_* columns of cv_results_
            return {
                _KIND: "masked",
                "data": self._encode_array(np.asarray(value.data), f"{where}.data"),
                "mask": self._encode_array(np.ma.getmaskarray(value), f"{where}.mask"),
                "fill_value": self.encode(value.fill_value, f"{where}.fill_value"),
            }
        if isinstance(value, torch.Tensor):
            return self._encode_tensor(value)
        if isinstance(value, torch.device):
            return {_KIND: "device", "value": str(value)}
        if isinstance(value, np.dtype) and value.fields is None and value.kind != "O":
            return {_KIND: "dtype", "value": value.str}
        if isinstance(value, type) and value in _BUILTIN_TYPES.values():
            return {_KIND: "type", "value": value.__name__}
        if isinstance(value, type) and issubclass(value, np.generic) and value is not np.object_:
            return {_KIND: "dtype_type", "value": np.dtype(value).str}
        if isinstance(value, PurePath):
            return {_KIND: "path", "value": str(value)}
        if type(value) is FeatureCache:
            return {_KIND: "feature_cache", "directory": str(value.directory), "chunk_rows": value.chunk_rows,
                    "flush_seconds": value.flush_seconds}
        if hasattr(value, "get_params") and not isinstance(value, type):
            return self._encode_estimator(value, where)
        raise TypeError(_unsupported(value, where))

    def _encode_scalar(self, value: np.generic) -> Any:
        dtype = value.dtype
        if dtype.kind in "biu" or (dtype.kind == "f" and dtype.itemsize <= 8) or dtype.kind == "U":
            item = value.item()
            if isinstance(item, float) and not math.isfinite(item):
                item = repr(item)
            return {_KIND: "scalar", "dtype": dtype.str, "value": item}
        if dtype.kind == "O":
            raise TypeError(f"cannot save a NumPy object scalar ({value!r}); convert it to a Python value.")
        return {_KIND: "scalar", "dtype": dtype.str, "member": self._member(np.asarray(value))}

    def _encode_array(self, value: np.ndarray, where: str) -> Any:
        if value.dtype.kind == "O":
            items = [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value.reshape(-1).tolist())]
            return {_KIND: "objects", "shape": list(value.shape), "items": items}
        if value.dtype.hasobject:
            raise TypeError(f"cannot save {where}: a structured array with Python objects inside.")
        return {_KIND: "array", "member": self._member(value)}

    def _encode_tensor(self, value: torch.Tensor) -> Any:
        t = value.detach().cpu().contiguous()
        try:
            array = t.numpy()
        except TypeError:  # bfloat16 and other dtypes NumPy lacks: store the bits
            array = t.view({1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()]).numpy()
        return {_KIND: "tensor", "dtype": str(t.dtype).removeprefix("torch."), "member": self._member(array.copy())}

    def _encode_estimator(self, obj: Any, where: str) -> Any:
        name = safe_name(type(obj))
        label = type(obj).__name__ if where == "model" else where
        if name is None:
            raise TypeError(
                f"cannot save {label}: {type(obj).__module__}.{type(obj).__qualname__} is not one of the classes the "
                f"safe format stores ({_allowed_list()}). save(..., format='joblib') writes a pickle instead "
                "(loading it then needs trusted=True)."
            )
        params = obj.get_params(deep=False)
        state = dict(obj.__getstate__() if hasattr(obj, "__getstate__") else vars(obj))
        builders = module_attributes(type(obj))
        # the fitted modules the estimator rebuilds itself are stored as weights (its __getstate__ may give
        # them as arrays, for pickle and skops): the live module is what the format encodes
        state.update({key: vars(obj)[key] for key in builders if isinstance(vars(obj).get(key), torch.nn.Module)})
        spec: dict[str, Any] = {_KIND: "estimator", "class": name, "params": {}, "attributes": {}, "modules": {}}
        for key, value in params.items():
            if name == _BACKBONE and key == "backbone" and not isinstance(value, (str, PurePath)):
                spec["params"][key] = self._encode_backbone(value, f"{label}.{key}")
                continue
            spec["params"][key] = self.encode(value, f"{label}.{key}")
        for key, value in state.items():
            if key in params:
                continue
            if isinstance(value, torch.nn.Module):
                if key not in builders:
                    raise TypeError(
                        f"cannot save {label}.{key}: a torch module the safe format cannot rebuild "
                        "(only modules the estimator builds itself are stored, as weights). "
                        "save(..., format='joblib') writes a pickle instead."
                    )
                spec["modules"][key] = self._encode_state(value, f"{label}.{key}")
                continue
            spec["attributes"][key] = self.encode(value, f"{label}.{key}")
        return spec

    def _encode_state(self, module: torch.nn.Module, where: str) -> dict[str, Any]:
        state = {}
        for key, tensor in module.state_dict().items():
            if not isinstance(tensor, torch.Tensor):  # get_extra_state() values are arbitrary objects
                raise TypeError(f"cannot save {where}: its state dict entry {key!r} is a {type(tensor).__name__}, "
                                "not a tensor. save(..., format='joblib') writes a pickle instead.")
            state[key] = self._encode_tensor(tensor)
        return state

    def _encode_backbone(self, value: Any, where: str) -> Any:
        """A torch module backbone: its import path, constructor arguments and state dict (see ``_modules``)."""
        if not isinstance(value, torch.nn.Module):
            raise TypeError(
                f"cannot save {where} ({type(value).__name__}): the safe format stores a backbone by name (a timm "
                "or text model name, with weights=FILE for a local state dict) or as a torch.nn.Module of an "
                "importable class, not a callable, which is code. save(..., format='joblib') writes a pickle "
                "instead (loading it then needs trusted=True)."
            )
        if is_layer_tree(value):  # standard torch.nn layers only: stored as data, rebuilt without trust
            entry = encode_tree(value, where)
            entry["state"] = self._encode_state(value, where)
            self.layer_trees += 1
            return entry
        kwargs = self.encode(init_kwargs(value), f"{where}.get_init_kwargs()")
        self.custom_modules += 1
        return module_entry(value, kwargs, self._encode_state(value, where))


def _unsupported(value: Any, where: str) -> str:
    kind = type(value)
    hint = ""
    if isinstance(value, torch.nn.Module) or callable(value):
        hint = " (code, not data)"
    return (
        f"cannot save {where}: values of type {kind.__module__}.{kind.__qualname__}{hint} are not stored by the safe "
        "format, which holds numbers, strings, arrays, tensors and allow-listed estimators only. "
        "save(..., format='joblib') writes a pickle instead (loading it then needs trusted=True)."
    )
