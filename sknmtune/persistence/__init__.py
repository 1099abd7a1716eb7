"""Saving and loading fitted sknmtune models, by default in a safe format that holds data only.

:func:`save` writes the **sknmtune model format** (``.skn``): a zip archive with

* ``sknmtune.json`` -- the format name (``"sknmtune-model"``), the format version, the versions of
  sknmtune, scikit-learn, torch and NumPy that wrote it, and the object tree: for every estimator its
  class (a name from an explicit allow-list, :data:`SAFE_CLASSES`), its ``get_params()`` and its fitted
  state, as JSON values;
* ``arrays/<n>.npy`` -- every NumPy array and torch tensor of that tree (CPU copies), one NumPy file each.

Reading it runs no code from the file: JSON is parsed, arrays are read with
``np.load(allow_pickle=False)``, classes are looked up in the allow-list (never imported by a name from
the file), and torch modules are rebuilt by the estimator's own code before their weights are loaded.
:func:`load` refuses pickle and joblib files unless ``trusted=True``, because unpickling runs whatever
code the file names. Every problem with a file is a :class:`ModelFileError` naming the file.

``save(..., format="joblib")`` still writes a joblib pickle (any picklable object); plain
``joblib.dump`` / ``joblib.load`` work as for any scikit-learn model, and are pickle, with its risks.
"""

from __future__ import annotations

import importlib
import io
import json
import math
import os
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path, PurePath
from typing import Any

import joblib
import numpy as np
import torch

from ._utils import _loading_onto, _restore_device, _seeded_global_rng, resolve_device
from .cache import FeatureCache

__all__ = ["save", "load", "ModelFileError", "SAFE_CLASSES", "FORMAT_VERSION"]

#: Name of the safe format, stored in every file.
FORMAT_NAME = "sknmtune-model"
#: Version of the safe format written by this sknmtune; files with a higher version are refused.
FORMAT_VERSION = 1
#: Conventional extension of the safe format.
SUFFIX = ".skn"

_SPEC_MEMBER = "sknmtune.json"
_ARRAY_PREFIX = "arrays/"
_PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle", ".pt", ".pth")
_KIND = "__kind__"

#: The classes the safe format stores: the name written in the file -> (module, attribute).
#: Exact classes only (a subclass could change what loading does); anything else needs ``format="joblib"``.
SAFE_CLASSES: dict[str, tuple[str, str]] = {
    "sknmtune.NMTuneClassifier": ("sknmtune.classifier", "NMTuneClassifier"),
    "sknmtune.NMTuneClassifierCV": ("sknmtune.model_selection", "NMTuneClassifierCV"),
    "sknmtune.NMTuneRegressor": ("sknmtune.regressor", "NMTuneRegressor"),
    "sknmtune.FrozenBackboneTransformer": ("sknmtune.backbones._transformer", "FrozenBackboneTransformer"),
    "sklearn.pipeline.Pipeline": ("sklearn.pipeline", "Pipeline"),
    "sklearn.pipeline.FeatureUnion": ("sklearn.pipeline", "FeatureUnion"),
    "sklearn.preprocessing.StandardScaler": ("sklearn.preprocessing", "StandardScaler"),
    "sklearn.preprocessing.MinMaxScaler": ("sklearn.preprocessing", "MinMaxScaler"),
    "sklearn.preprocessing.MaxAbsScaler": ("sklearn.preprocessing", "MaxAbsScaler"),
    "sklearn.preprocessing.RobustScaler": ("sklearn.preprocessing", "RobustScaler"),
    "sklearn.preprocessing.Normalizer": ("sklearn.preprocessing", "Normalizer"),
    "sklearn.preprocessing.PowerTransformer": ("sklearn.preprocessing", "PowerTransformer"),
    "sklearn.preprocessing.LabelEncoder": ("sklearn.preprocessing", "LabelEncoder"),
    "sklearn.preprocessing.LabelBinarizer": ("sklearn.preprocessing", "LabelBinarizer"),
    "sklearn.decomposition.PCA": ("sklearn.decomposition", "PCA"),
    "sklearn.decomposition.TruncatedSVD": ("sklearn.decomposition", "TruncatedSVD"),
    "sklearn.impute.SimpleImputer": ("sklearn.impute", "SimpleImputer"),
    "sklearn.feature_selection.VarianceThreshold": ("sklearn.feature_selection", "VarianceThreshold"),
    "sklearn.linear_model.LogisticRegression": ("sklearn.linear_model", "LogisticRegression"),
    "sklearn.linear_model.RidgeClassifier": ("sklearn.linear_model", "RidgeClassifier"),
    "sklearn.svm.LinearSVC": ("sklearn.svm", "LinearSVC"),
    "sklearn.discriminant_analysis.LinearDiscriminantAnalysis": (
        "sklearn.discriminant_analysis", "LinearDiscriminantAnalysis",
    ),
    "sklearn.naive_bayes.GaussianNB": ("sklearn.naive_bayes", "GaussianNB"),
    "sklearn.dummy.DummyClassifier": ("sklearn.dummy", "DummyClassifier"),
}


class ModelFileError(ValueError):
    """A model file that cannot be loaded; the message names the file and the problem.

    The file is not a model file, is empty, truncated or damaged, was written by a newer format
    version, holds the wrong kind of object, or is a pickle that needs ``trusted=True``.

    Attributes
    ----------
    path : str
        The file.
    problem : str
        What is wrong with it.
    """

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"model file {self.path} {problem}")


class _Malformed(Exception):
    """Raised while decoding; turned into a :class:`ModelFileError` naming the file."""


# --------------------------------------------------------------------------------------- class table


def _class_of(name: str) -> type:
    module, attr = SAFE_CLASSES[name]
    return getattr(importlib.import_module(module), attr)


def _safe_name(cls: type) -> str | None:
    """The allow-list name of exactly ``cls`` (not of a subclass), or None."""
    for name, (module, attr) in SAFE_CLASSES.items():
        if attr == cls.__name__ and cls is _class_of(name):
            return name
    return None


def _rebuild_nmtune_module(estimator: Any) -> torch.nn.Module:
    return estimator._build_module(int(estimator.n_features_in_), len(estimator.classes_))


def _rebuild_regressor_module(estimator: Any) -> torch.nn.Module:
    return estimator._build_module(int(estimator.n_features_in_), int(estimator.n_outputs_))


# Fitted torch modules are code: they are stored as a state dict and rebuilt by the estimator itself.
_MODULE_BUILDERS: dict[str, dict[str, Callable[[Any], torch.nn.Module]]] = {
    "sknmtune.NMTuneClassifier": {"module_": _rebuild_nmtune_module},
    "sknmtune.NMTuneRegressor": {"module_": _rebuild_regressor_module},
}


def _check_backbone_spec(obj: Any) -> str | None:
    """A reason to refuse a FrozenBackboneTransformer spec from an untrusted file, or None."""
    kwargs = obj.model_kwargs if isinstance(obj.model_kwargs, dict) else {}
    if kwargs.get("trust_remote_code"):
        return (
            "asks for model_kwargs={'trust_remote_code': True} in its FrozenBackboneTransformer, which would run code "
            "downloaded with the model; load it with trusted=True only if you trust both the file and the model"
        )
    return None


def _check_pipeline_memory(obj: Any) -> str | None:
    if obj.memory is not None:
        return (
            f"asks for a Pipeline with memory={obj.memory!r}, a joblib cache whose entries are pickles read back on "
            "refitting; load it with trusted=True only if you trust the file and that directory"
        )
    return None


# Specifications that are data but would make *later* use run code or read pickles: refused unless trusted.
_LOAD_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "sknmtune.FrozenBackboneTransformer": _check_backbone_spec,
    "sklearn.pipeline.Pipeline": _check_pipeline_memory,
}

# Run-time caches that are never saved; a file that sets them is refused.
_TRANSIENT: dict[str, frozenset[str]] = {"sknmtune.FrozenBackboneTransformer": frozenset({"_backend"})}


# --------------------------------------------------------------------------------------- encoding


class _Encoder:
    """Turns an object tree into JSON-able values plus a list of arrays."""

    def __init__(self) -> None:
        self.arrays: list[np.ndarray] = []
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
        if type(value) is dict:
            return {
                _KIND: "dict",
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
        name = _safe_name(type(obj))
        label = type(obj).__name__ if where == "model" else where
        if name is None:
            raise TypeError(
                f"cannot save {label}: {type(obj).__module__}.{type(obj).__qualname__} is not one of the classes the "
                f"safe format stores ({_allowed_list()}). save(..., format='joblib') writes a pickle instead "
                "(loading it then needs trusted=True)."
            )
        params = obj.get_params(deep=False)
        state = obj.__getstate__() if hasattr(obj, "__getstate__") else dict(vars(obj))
        builders = _MODULE_BUILDERS.get(name, {})
        spec: dict[str, Any] = {_KIND: "estimator", "class": name, "params": {}, "attributes": {}, "modules": {}}
        for key, value in params.items():
            if name == "sknmtune.FrozenBackboneTransformer" and key == "backbone" and not isinstance(value, (str, PurePath)):
                raise TypeError(
                    f"cannot save {label}.backbone ({type(value).__name__}): the safe format stores a backbone by "
                    "name (a timm or text model name, with weights=FILE for a local state dict), not a torch module "
                    "or callable, which is code. save(..., format='joblib') writes a pickle instead (loading it "
                    "then needs trusted=True)."
                )
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
                spec["modules"][key] = {
                    k: self._encode_tensor(t) for k, t in value.state_dict().items()
                }
                continue
            spec["attributes"][key] = self.encode(value, f"{label}.{key}")
        return spec


_BUILTIN_TYPES = {t.__name__: t for t in (bool, int, float, complex, str, bytes)}


def _allowed_list() -> str:
    return ", ".join(name.rsplit(".", 1)[1] for name in SAFE_CLASSES)


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


# --------------------------------------------------------------------------------------- decoding


class _Decoder:
    """Rebuilds the object tree from the JSON spec and the archive's arrays."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive
        self.names = set(archive.namelist())
        self.refusals: list[str] = []

    def _array(self, member: Any) -> np.ndarray:
        if not isinstance(member, str) or not member.startswith(_ARRAY_PREFIX) or member not in self.names:
            raise _Malformed(f"it refers to an array {member!r} that the archive does not hold")
        try:
            data = self.archive.read(member)
        except zipfile.BadZipFile as exc:
            raise _Malformed(f"array {member} is damaged ({exc})") from exc
        if not data.startswith(b"\x93NUMPY"):
            raise _Malformed(f"array {member} is not a NumPy .npy file")
        try:
            array = np.load(io.BytesIO(data), allow_pickle=False)
        except ValueError as exc:
            raise _Malformed(f"array {member} is not a plain NumPy array ({exc})") from exc
        except (OSError, EOFError) as exc:
            raise _Malformed(f"array {member} is damaged ({exc})") from exc
        if not isinstance(array, np.ndarray):
            raise _Malformed(f"{member} is not a NumPy array")
        return array

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
        cls = _class_of(name)
        label = cls.__name__ if where == "model" else where
        its = f"its {cls.__name__}" + ("" if where == "model" else f" at {where}")
        params = self._field(value, "params", dict, where)
        attributes = self._field(value, "attributes", dict, where)
        modules = value.get("modules", {})
        if not isinstance(modules, dict):
            raise _Malformed(f"malformed estimator at {where}")
        expected = set(cls._get_param_names())
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

    def _module(self, obj: Any, name: str, key: str, tensors: Any, where: str) -> torch.nn.Module:
        builder = _MODULE_BUILDERS.get(name, {}).get(key)
        if builder is None or not isinstance(tensors, dict):
            raise _Malformed(f"it holds a torch module at {where} that this version of sknmtune cannot rebuild")
        state = {k: self._decode_tensor(v, f"{where}[{k!r}]") if isinstance(v, dict) else None for k, v in tensors.items()}
        try:
            with _seeded_global_rng(None):  # the weights are overwritten; leave the caller's RNG alone
                module = builder(obj)
            module.load_state_dict(state, strict=True)
        except Exception as exc:  # wrong shapes, missing tensors, inconsistent attributes
            raise _Malformed(f"the weights at {where} do not fit the architecture ({' '.join(str(exc).split())})") from exc
        if isinstance(getattr(obj, "device", None), (str, torch.device)):
            # the device its `device` parameter asks for when it exists here, else the CPU with a warning
            obj.device = _restore_device(module, obj.device, type(obj).__name__)
        return module.eval()


def _plain_dtype(text: str, where: str) -> np.dtype:
    try:
        dtype = np.dtype(text)
    except (TypeError, ValueError) as exc:
        raise _Malformed(f"unknown dtype {text!r} at {where}") from exc
    if dtype.hasobject or dtype.fields is not None:
        raise _Malformed(f"dtype {text!r} at {where} is not allowed")
    return dtype


# --------------------------------------------------------------------------------------- file kinds


def _sniff(head: bytes, tail: bytes = b"") -> str:
    """What a file starting with ``head`` (and ending with ``tail``) looks like."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "pickle"
    if head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"]\x00\x00", b"\x04\x22\x4d\x18", b"ZF")):
        return "compressed pickle"
    if len(head) >= 2 and head[0] == 0x78 and head[1] in (0x01, 0x5E, 0x9C, 0xDA):
        return "compressed pickle"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if tail == b"." and head[:1] in (b"c", b"(", b"]", b"}", b"I", b"S", b"V"):  # text pickle, protocol 0 or 1
        return "pickle"
    return "other"


def _describe_other(head: bytes) -> str:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "is not an sknmtune model file (unrecognized binary content)"
    return "is not an sknmtune model file (it holds text)"


def _pickle_refusal() -> str:
    return (
        "is a pickle (or joblib) file, not an sknmtune safe model file. Unpickling runs whatever code the file names, so "
        "load() refuses it by default: if you trust its source, pass trusted=True (the CLI: --trusted), then re-save "
        "it with save(model, 'model.skn')"
    )


# --------------------------------------------------------------------------------------- public API


def _check_model_path(path: str | os.PathLike, format: str) -> Path:
    """Validate ``format`` and that the name of ``path`` does not claim the other format."""
    path = Path(path)
    if format not in ("skn", "joblib"):
        raise ValueError(f"format must be 'skn' (the safe format) or 'joblib' (a pickle); got {format!r}.")
    suffix = path.suffix.lower()
    if format == "skn" and suffix in _PICKLE_SUFFIXES:
        raise ValueError(
            f"{path} has the extension of a pickle ({suffix}), but save() writes the safe sknmtune format by default: "
            f"name it '{path.with_suffix(SUFFIX).name}', or pass format='joblib' to write a pickle "
            "(loading it then needs trusted=True)."
        )
    if format == "joblib" and suffix == SUFFIX:
        raise ValueError(f"{path} has the extension of the safe format ({SUFFIX}) but format='joblib' writes a pickle; "
                         "use a .joblib name.")
    if path.is_dir():
        raise IsADirectoryError(f"model file {path} is a directory.")
    return path


def save(estimator: Any, path: str | os.PathLike, *, format: str = "skn", compress: int = 3) -> Path:
    """Write a fitted (or unfitted) estimator or Pipeline to ``path``.

    Parameters
    ----------
    estimator : estimator or Pipeline
        With ``format="skn"``: an object of the allow-listed classes (:data:`SAFE_CLASSES`:
        ``NMTuneClassifier``, ``NMTuneClassifierCV``, a ``FrozenBackboneTransformer`` whose backbone
        is a model *name*, ``Pipeline``, ``FeatureUnion`` and common scikit-learn scalers,
        decompositions and linear models), nested in any way. With ``format="joblib"``: any
        picklable object.
    path : path-like
        Conventionally ``*.skn`` for the safe format and ``*.joblib`` for a pickle; a pickle extension
        with the safe format (or the reverse) is refused, so names never lie.
    format : {"skn", "joblib"}, default="skn"
        ``"skn"``: the safe, pickle-free format that :func:`load` reads by default. ``"joblib"``: a
        joblib pickle, which :func:`load` reads only with ``trusted=True``.
    compress : int, default=3
        Compression level (zlib for joblib, DEFLATE for the members of the safe format); 0 stores.

    Returns
    -------
    path : Path

    Raises
    ------
    TypeError
        With ``format="skn"``, if the object holds something the safe format does not store (a class
        not on the allow-list, a torch module backbone, a function); the message names it.

    Notes
    -----
    The file is written to a temporary name and renamed, so an interrupted save never leaves a
    truncated model behind. Fitted torch modules are stored as CPU tensors: a model fitted on a GPU
    loads on a machine without one.

    Examples
    --------
    >>> import tempfile, os
    >>> from sklearn.datasets import load_iris
    >>> from sknmtune import NMTuneClassifier
    >>> from sknmtune.persistence import save, load
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = NMTuneClassifier(max_epochs=2, random_state=0).fit(X, y)
    >>> path = save(clf, os.path.join(tempfile.mkdtemp(), "head.skn"))
    >>> bool((load(path).predict_proba(X) == clf.predict_proba(X)).all())
    True
    """
    path = _check_model_path(path, format)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot save {path}: the directory {path.parent} does not exist.")
    if isinstance(compress, bool) or not isinstance(compress, int) or not 0 <= compress <= 9:
        raise ValueError(f"compress must be an int from 0 to 9; got {compress!r}.")
    tmp = path.with_name(path.name + ".tmp")
    try:
        if format == "joblib":
            joblib.dump(estimator, tmp, compress=compress)
        else:
            _write_safe(estimator, tmp, compress)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _write_safe(estimator: Any, tmp: Path, compress: int) -> None:
    if isinstance(estimator, type) or not hasattr(estimator, "get_params"):
        raise TypeError(
            f"save() stores an estimator or Pipeline; got {type(estimator).__name__}. "
            "save(..., format='joblib') pickles any object."
        )
    encoder = _Encoder()
    tree = encoder.encode(estimator, "model")  # before opening the file: a refusal writes nothing
    import sklearn

    from . import __version__

    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "sknmtune_version": __version__,
        "sklearn_version": sklearn.__version__,
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "object": tree,
    }
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    level = compress or None
    with zipfile.ZipFile(tmp, "w", compression=method, compresslevel=level) as archive:
        archive.writestr(_SPEC_MEMBER, json.dumps(header, allow_nan=False, indent=1))
        for i, array in enumerate(encoder.arrays):
            buffer = io.BytesIO()
            np.save(buffer, array, allow_pickle=False)
            archive.writestr(f"{_ARRAY_PREFIX}{i}.npy", buffer.getvalue())


def _read_safe(path: Path, trusted: bool) -> Any:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise ModelFileError(path, f"is truncated or damaged (the zip archive is incomplete: {exc})") from exc
    with archive:
        names = set(archive.namelist())
        if _SPEC_MEMBER not in names:
            if any(name.endswith("data.pkl") for name in names):
                kind = "a torch.save checkpoint (a pickle inside a zip)"
            elif names and all(name.endswith(".npy") for name in names):
                kind = "a NumPy .npz archive"
            else:
                kind = "a zip archive without sknmtune.json"
            raise ModelFileError(path, f"is not an sknmtune model file: it is {kind}")
        try:
            header = json.loads(archive.read(_SPEC_MEMBER).decode("utf-8"))
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
            raise ModelFileError(path, f"is truncated or damaged ({exc})") from exc
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise ModelFileError(path, f"is damaged: its {_SPEC_MEMBER} is not valid JSON ({exc})") from exc
        if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
            raise ModelFileError(path, f"is not an sknmtune model file: its {_SPEC_MEMBER} does not name the format {FORMAT_NAME!r}")
        version = header.get("format_version")
        if type(version) is not int or version < 1:
            raise ModelFileError(path, f"is damaged: format_version {version!r} is not a positive integer")
        if version > FORMAT_VERSION:
            raise ModelFileError(
                path,
                f"was written by a newer sknmtune ({header.get('sknmtune_version', 'unknown version')}, format version "
                f"{version}); this sknmtune reads format versions up to {FORMAT_VERSION}: upgrade sknmtune to load it",
            )
        tree = header.get("object")
        if not (isinstance(tree, dict) and tree.get(_KIND) == "estimator"):
            raise ModelFileError(path, "holds the wrong kind of object: its root is not an estimator or Pipeline")
        decoder = _Decoder(archive)
        try:
            obj = decoder.decode(tree, "model")
        except _Malformed as exc:
            raise ModelFileError(path, f"is damaged or was not written by this version of sknmtune: {exc}") from None
        except RecursionError:
            raise ModelFileError(path, "is damaged: its object tree is nested too deeply") from None
        except Exception as exc:  # NumPy / torch / zip errors on content that passed the checks above
            text = " ".join(str(exc).split()) or "no message"
            raise ModelFileError(path, f"is damaged ({type(exc).__name__}: {text})") from exc
        if decoder.refusals and not trusted:
            raise ModelFileError(path, decoder.refusals[0])
    return obj


def _read_pickle(path: Path) -> Any:
    try:
        obj = joblib.load(path)
    except Exception as exc:  # a damaged pickle raises any type: EOFError, KeyError, UnpicklingError...
        text = " ".join(str(exc).split()) or "no message"
        raise ModelFileError(path, f"could not be unpickled: it is truncated, damaged or not a pickle ({type(exc).__name__}: {text})") from exc
    if isinstance(obj, type) or not hasattr(obj, "get_params"):
        raise ModelFileError(path, f"holds the wrong kind of object: a {type(obj).__name__}, not an estimator or Pipeline")
    return obj


def _movable(obj: Any, seen: set[int]) -> Iterator[Any]:
    """Yield every object inside ``obj`` that knows how to move itself (``to_device``)."""
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if callable(getattr(obj, "to_device", None)) and hasattr(obj, "get_params"):
        yield obj
    children: list[Any] = []
    if hasattr(obj, "get_params"):
        children.extend(obj.get_params(deep=False).values())
        children.extend(value for key, value in vars(obj).items() if key.endswith("_") and not key.startswith("_"))
    elif isinstance(obj, (list, tuple)):
        children.extend(obj)
    elif isinstance(obj, dict):
        children.extend(obj.values())
    for child in children:
        yield from _movable(child, seen)


def load(path: str | os.PathLike, *, trusted: bool = False, map_location: str | torch.device | None = None) -> Any:
    """Load a model written by :func:`save`.

    Parameters
    ----------
    path : path-like
        A file in the safe sknmtune format (``.skn``). Loading it never runs code from the file.
    trusted : bool, default=False
        Also accept pickle / joblib files (``save(..., format="joblib")``, ``joblib.dump``).
        Unpickling runs whatever code the file names: pass ``True`` only for files from a source
        you trust. Without it such a file raises :class:`ModelFileError`.
    map_location : str or torch.device, optional
        Move every fitted sknmtune model inside the loaded object (also inside pipelines and
        searches) to this device, e.g. ``"cuda"``. By default fitted modules load on the CPU.

    Returns
    -------
    estimator : the saved estimator or Pipeline

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ModelFileError
        If the file is not a model file, is empty, truncated or damaged, was written by a newer
        format version, holds something other than an estimator, or is a pickle without
        ``trusted=True``. The message names the file and the problem.

    Examples
    --------
    >>> import tempfile, os
    >>> from sklearn.datasets import load_iris
    >>> from sknmtune import NMTuneClassifier
    >>> from sknmtune.persistence import save, load
    >>> X, y = load_iris(return_X_y=True)
    >>> path = save(NMTuneClassifier(max_epochs=1, random_state=0).fit(X, y), os.path.join(tempfile.mkdtemp(), "m.skn"))
    >>> load(path).predict(X[:3]).shape
    (3,)
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"model file not found: {path}")
    if path.is_dir():
        raise ModelFileError(path, "is a directory, not a file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
            fh.seek(max(0, path.stat().st_size - 1))
            tail = fh.read(1)
    except OSError as exc:
        raise ModelFileError(path, f"cannot be read ({exc.strerror or exc})") from exc
    if not head:
        raise ModelFileError(path, "is empty (0 bytes)")
    kind = _sniff(head, tail)
    if kind == "npy":
        raise ModelFileError(path, "is not a model file: it is a NumPy .npy array")
    if kind != "zip" and not trusted:
        if kind in ("pickle", "compressed pickle"):
            raise ModelFileError(path, _pickle_refusal())
        raise ModelFileError(path, _describe_other(head))
    with _loading_onto(resolve_device(map_location) if map_location is not None else None):
        obj = _read_safe(path, trusted) if kind == "zip" else _read_pickle(path)
    if map_location is not None:
        device = resolve_device(map_location)
        for item in _movable(obj, set()):
            try:
                item.to_device(device)
            except Exception as exc:  # unfitted estimators inside a search's params, say
                if type(exc).__name__ != "NotFittedError":
                    raise
    return obj
