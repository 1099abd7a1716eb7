"""Decoding: the JSON spec and the archive's arrays -> the object tree, running no code from the file."""

from __future__ import annotations

import math
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.utils import Bunch

from .._utils import restore_device, seeded_global_rng
from ..cache import FeatureCache
from ._format import (
    _ARRAY_PREFIX,
    _BUILTIN_TYPES,
    _KIND,
    _LOAD_CHECKS,
    _TRANSIENT,
    ADDED_PARAMS,
    SAFE_CLASSES,
    _allowed_list,
    class_of,
    _Malformed,
    _plain_dtype,
    module_attributes,
)
from ._layers import decode_tree
from ._limits import Budget, read_array
from ._modules import Trust, entry_type, rebuild, untrusted_message


class _Decoder:
    """Rebuilds the object tree from the JSON spec and the archive's arrays."""

    def __init__(self, archive: zipfile.ZipFile, budget: Budget, trust: Trust) -> None:
        self.archive = archive
        self.names = set(archive.namelist())
        self.budget = budget
        self.trust = trust
        self.refusals: list[str] = []

    def _array(self, member: Any) -> np.ndarray:
        if not isinstance(member, str) or not member.startswith(_ARRAY_PREFIX) or member not in self.names:
            raise _Malformed(f"it refers to an array {member!r} that the archive does not hold")
        try:
            return read_array(self.archive, member, self.budget)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
            raise _Malformed(f"array {member} is damaged ({exc})") from exc

    def decode(self, value: Any, where: str) -> Any:
        if value is None or type(value) in (bool, int, str, float):
            return value
        if type(value) is list:
            return [self.decode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if type(value) is not dict or not isinstance(value.get(_KIND), str):
            raise _Malformed(f"unexpected value at {where}")
        kind = value[_KIND]
        method = getattr(self, f"_decode_{kind}", None)
        if method is None:
            raise _Malformed(f"unknown entry kind {kind!r} at {where}")
        return method(value, where)

    @staticmethod
    def _field(value: dict, key: str, types: type | tuple[type, ...], where: str) -> Any:
        item = value.get(key)
        if not isinstance(item, types):
            raise _Malformed(f"malformed {value.get(_KIND)!r} entry at {where} (field {key!r})")
        return item

    def _decode_float(self, value: dict, where: str) -> float:
        text = self._field(value, "value", str, where)
        if text not in ("nan", "inf", "-inf"):
            raise _Malformed(f"malformed float at {where}")
        return float(text)

    def _decode_tuple(self, value: dict, where: str) -> tuple:
        return tuple(self.decode(v, f"{where}[{i}]") for i, v in enumerate(self._field(value, "items", list, where)))

    def _decode_dict(self, value: dict, where: str) -> dict:
        out = {}
        for pair in self._field(value, "items", list, where):
            if not isinstance(pair, list) or len(pair) != 2:
                raise _Malformed(f"malformed dict at {where}")
            key = self.decode(pair[0], f"{where} key")
            try:
                out[key] = self.decode(pair[1], f"{where}[{key!r}]")
            except TypeError as exc:  # an unhashable key
                raise _Malformed(f"malformed dict key at {where}") from exc
        return out

    def _decode_bunch(self, value: dict, where: str) -> Bunch:
        items = self._decode_dict(value, where)
        if not all(isinstance(k, str) for k in items):
            raise _Malformed(f"malformed bunch at {where} (its keys must be strings)")
        return Bunch(**items)

    def _decode_scalar(self, value: dict, where: str) -> np.generic:
        dtype = _plain_dtype(self._field(value, "dtype", str, where), where)
        if "member" in value:
            array = self._array(value["member"])
            if array.shape != () or array.dtype != dtype:
                raise _Malformed(f"malformed scalar at {where}")
            return array[()]
        item = value.get("value")
        if isinstance(item, str) and dtype.kind == "f":
            item = float(item)
        if not isinstance(item, (bool, int, float, str)):
            raise _Malformed(f"malformed scalar at {where}")
        try:
            return dtype.type(item)
        except (TypeError, ValueError, OverflowError) as exc:
            raise _Malformed(f"malformed scalar at {where}") from exc

    def _decode_array(self, value: dict, where: str) -> np.ndarray:
        return self._array(value.get("member"))

    def _decode_masked(self, value: dict, where: str) -> np.ma.MaskedArray:
        data, mask = self.decode(value.get("data"), where), self.decode(value.get("mask"), where)
        if not (isinstance(data, np.ndarray) and isinstance(mask, np.ndarray) and mask.dtype == bool
                and mask.shape == data.shape):
            raise _Malformed(f"malformed masked array at {where}")
        return np.ma.MaskedArray(data, mask=mask, fill_value=self.decode(value.get("fill_value"), where))

    def _decode_objects(self, value: dict, where: str) -> np.ndarray:
        shape = self._field(value, "shape", list, where)
        items = self._field(value, "items", list, where)
        if not all(type(n) is int and n >= 0 for n in shape) or math.prod(shape) != len(items):
            raise _Malformed(f"malformed object array at {where}")
        out = np.empty(len(items), dtype=object)
        for i, item in enumerate(items):
            out[i] = self.decode(item, f"{where}[{i}]")
        return out.reshape(shape)

    def _decode_tensor(self, value: dict, where: str) -> torch.Tensor:
        name = self._field(value, "dtype", str, where)
        dtype = getattr(torch, name, None)
        if not isinstance(dtype, torch.dtype):
            raise _Malformed(f"unknown tensor dtype {name!r} at {where}")
        array = self._array(value.get("member"))
        tensor = torch.from_numpy(np.array(array, copy=True))
        if tensor.dtype != dtype:
            if tensor.element_size() != dtype.itemsize:
                raise _Malformed(f"tensor at {where} does not match its dtype {name}")
            tensor = tensor.view(dtype)
        return tensor

    def _decode_device(self, value: dict, where: str) -> torch.device:
        try:
            return torch.device(self._field(value, "value", str, where))
        except RuntimeError as exc:
            raise _Malformed(f"malformed device at {where}") from exc

    def _decode_dtype(self, value: dict, where: str) -> np.dtype:
        return _plain_dtype(self._field(value, "value", str, where), where)

    def _decode_dtype_type(self, value: dict, where: str) -> type:
        return _plain_dtype(self._field(value, "value", str, where), where).type

    def _decode_type(self, value: dict, where: str) -> type:
        name = self._field(value, "value", str, where)
        if name not in _BUILTIN_TYPES:
            raise _Malformed(f"type {name!r} at {where} is not allowed")
        return _BUILTIN_TYPES[name]

    def _decode_path(self, value: dict, where: str) -> Path:
        return Path(self._field(value, "value", str, where))

    def _decode_feature_cache(self, value: dict, where: str) -> FeatureCache:
        try:
            return FeatureCache(
                self._field(value, "directory", str, where),
                chunk_rows=self._field(value, "chunk_rows", int, where),
                flush_seconds=self._field(value, "flush_seconds", (int, float), where),
            )
        except ValueError as exc:
            raise _Malformed(f"malformed feature cache at {where} ({exc})") from exc

    def _decode_estimator(self, value: dict, where: str) -> Any:
        name = self._field(value, "class", str, where)
        if name not in SAFE_CLASSES:
            raise _Malformed(
                f"it names the class {name!r}{'' if where == 'model' else f' at {where}'}, which is not one of the "
                f"classes the safe format loads ({_allowed_list()})"
            )
        cls = class_of(name)
        label = cls.__name__ if where == "model" else where
        its = f"its {cls.__name__}" + ("" if where == "model" else f" at {where}")
        params = self._field(value, "params", dict, where)
        attributes = self._field(value, "attributes", dict, where)
        modules = value.get("modules", {})
        if not isinstance(modules, dict):
            raise _Malformed(f"malformed estimator at {where}")
        expected = set(cls._get_param_names())
        added = {k: v for k, v in ADDED_PARAMS.get(name, {}).items() if k not in params}
        params = {**params, **added}  # plain constants: they decode to themselves
        if set(params) != expected:
            unknown, missing = sorted(set(params) - expected), sorted(expected - set(params))
            raise _Malformed(
                f"{its} has parameters that do not match this version of sknmtune"
                + (f" (unknown: {', '.join(unknown)})" if unknown else "")
                + (f" (missing: {', '.join(missing)})" if missing else "")
            )
        for key in list(attributes) + list(modules):
            if (
                not key.isidentifier() or key in params or hasattr(cls, key) or key.startswith("__")
                or key in _TRANSIENT.get(name, ())
            ):
                raise _Malformed(f"{its} has an attribute named {key!r}, which is not allowed")
        state = {key: self.decode(v, f"{label}.{key}") for key, v in params.items()}
        state.update({key: self.decode(v, f"{label}.{key}") for key, v in attributes.items()})
        # The estimator's own code rebuilds its modules, from a bare copy holding the decoded state;
        # the object itself then gets the complete state at once, as unpickling would give it.
        probe = cls.__new__(cls)
        probe.__dict__.update(state)
        if hasattr(cls, "_parameter_constraints"):
            try:
                probe._validate_params()
            except Exception as exc:
                raise _Malformed(f"{its} has an invalid parameter ({' '.join(str(exc).split())})") from exc
        for key, tensors in modules.items():
            state[key] = self._module(probe, name, key, tensors, f"{label}.{key}")
        obj = cls.__new__(cls)
        try:
            obj.__setstate__(state)
        except Exception as exc:
            raise _Malformed(f"{its} could not be restored ({exc})") from exc
        check = _LOAD_CHECKS.get(name)
        reason = check(obj) if check is not None else None
        if reason:
            self.refusals.append(reason)
        return obj

    def _decode_torch_module(self, value: dict, where: str) -> torch.nn.Module:
        module, qualname = entry_type(value, where)
        name = f"{module}.{qualname}"
        if not self.trust.allows(name):  # load() checked the whole tree first; this guards every other path
            raise _Malformed(untrusted_message([name]))
        tensors = self._field(value, "state", dict, where)
        state = {k: self._decode_tensor(v, f"{where}[{k!r}]") if isinstance(v, dict) else None for k, v in tensors.items()}
        kwargs = self.decode(value.get("init_kwargs"), f"{where}.get_init_kwargs()")
        return rebuild(module, qualname, kwargs, state, value.get("training", False), where)

    def _decode_nn_tree(self, value: dict, where: str) -> torch.nn.Module:
        tensors = self._field(value, "state", dict, where)
        state = {k: self._decode_tensor(self._field(tensors, k, dict, where), f"{where}[{k!r}]") for k in tensors}
        return decode_tree(value, state, where)

    def _module(self, obj: Any, name: str, key: str, tensors: Any, where: str) -> torch.nn.Module:
        if key not in module_attributes(type(obj)) or not isinstance(tensors, dict):
            raise _Malformed(f"it holds a torch module at {where} that this version of sknmtune cannot rebuild")
        state = {k: self._decode_tensor(v, f"{where}[{k!r}]") if isinstance(v, dict) else None for k, v in tensors.items()}
        try:
            with seeded_global_rng(None):  # the weights are overwritten; leave the caller's RNG alone
                module = obj.__sknmtune_rebuild__(key)
            module.load_state_dict(state, strict=True)
        except Exception as exc:  # wrong shapes, missing tensors, inconsistent attributes
            raise _Malformed(f"the weights at {where} do not fit the architecture ({' '.join(str(exc).split())})") from exc
        if isinstance(getattr(obj, "device", None), (str, torch.device)):
            # the device its `device` parameter asks for when it exists here, else the CPU with a warning
            obj.device = restore_device(module, obj.device, type(obj).__name__)
        return module.eval()
