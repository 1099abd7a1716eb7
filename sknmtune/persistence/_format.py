"""What the safe ``.skn`` format is: its constants, errors, and the classes it stores (the allow-list)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

#: Name of the safe format, stored in every file.
FORMAT_NAME = "sknmtune-model"
#: Highest version of the safe format this sknmtune reads and writes. A file is written with the lowest version
#: that holds it: 1, 2 with a custom torch module backbone (stored by import path), 3 with a backbone of
#: standard torch.nn layers (stored as its layer tree); files with a higher version are refused.
FORMAT_VERSION = 3
#: Conventional extension of the safe format.
SUFFIX = ".skn"

_SPEC_MEMBER = "sknmtune.json"
_ARRAY_PREFIX = "arrays/"
_PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle", ".pt", ".pth")
_KIND = "__kind__"

def _allowed_classes() -> dict[str, type]:
    """The allow-list as classes: the package's estimators (from their subpackages' public names) and the
    scikit-learn steps users put around them, named by their public import path."""
    from sklearn import decomposition, discriminant_analysis, dummy, ensemble, feature_selection, impute
    from sklearn import linear_model, naive_bayes, pipeline, preprocessing, svm

    from ..backbones import FrozenBackboneTransformer
    from ..heads import NMTuneClassifier, NMTuneClassifierCV, NMTuneRegressor

    own = {f"sknmtune.{cls.__name__}": cls
           for cls in (NMTuneClassifier, NMTuneClassifierCV, NMTuneRegressor, FrozenBackboneTransformer)}
    steps = {
        pipeline: ("Pipeline", "FeatureUnion"),
        preprocessing: ("StandardScaler", "MinMaxScaler", "MaxAbsScaler", "RobustScaler", "Normalizer",
                        "PowerTransformer", "LabelEncoder", "LabelBinarizer"),
        decomposition: ("PCA", "TruncatedSVD"),
        impute: ("SimpleImputer",),
        feature_selection: ("VarianceThreshold",),
        linear_model: ("LogisticRegression", "LogisticRegressionCV", "RidgeClassifier"),
        ensemble: ("VotingClassifier",),
        svm: ("LinearSVC",),
        discriminant_analysis: ("LinearDiscriminantAnalysis",),
        naive_bayes: ("GaussianNB",),
        dummy: ("DummyClassifier",),
    }
    return {**own, **{f"{module.__name__}.{attr}": getattr(module, attr) for module, attrs in steps.items()
                      for attr in attrs}}


_ALLOWED: dict[str, type] = _allowed_classes()

#: The classes the safe format stores: the name written in the file -> (module, attribute).
#: Exact classes only (a subclass could change what loading does); anything else needs ``format="joblib"``.
SAFE_CLASSES: dict[str, tuple[str, str]] = {name: (cls.__module__, cls.__name__) for name, cls in _ALLOWED.items()}

_BACKBONE = "sknmtune.FrozenBackboneTransformer"


class ModelFileError(ValueError):
    """A model file that cannot be loaded; the message names the file and the problem.

    The file is not a model file, is empty, truncated or damaged, was written by a newer format
    version, holds the wrong kind of object, is a pickle that needs ``trusted=True``, names a
    custom torch module type that ``trusted`` does not list, or is larger than ``max_bytes``.

    Attributes
    ----------
    path : str
        The file.
    problem : str
        What is wrong with it.

    Examples
    --------
    >>> from sknmtune.persistence import ModelFileError
    >>> str(ModelFileError("m.skn", "is empty (0 bytes)"))
    'model file m.skn is empty (0 bytes)'
    """

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"model file {self.path} {problem}")


class _Malformed(Exception):
    """Raised while decoding; turned into a :class:`ModelFileError` naming the file (``is damaged ...``)."""


class _Refused(Exception):
    """A well-formed file that is refused (too large for the limits); a :class:`ModelFileError` (``is refused ...``)."""


# --------------------------------------------------------------------------------------- class table


def class_of(name: str) -> type:
    """The allow-listed class of a name written in a file (a ``KeyError`` for any other name)."""
    return _ALLOWED[name]


def safe_name(cls: type) -> str | None:
    """The allow-list name of exactly ``cls`` (not of a subclass), or None."""
    for name, allowed in _ALLOWED.items():
        if cls is allowed:
            return name
    return None


def module_attributes(cls: type) -> tuple[str, ...]:
    """The fitted torch modules an allow-listed class rebuilds itself on load (its ``__sknmtune_modules__``).

    Fitted modules are code: the file stores their weights, and the estimator's own
    ``__sknmtune_rebuild__(attribute)`` builds the architecture they are loaded into.
    """
    names = getattr(cls, "__sknmtune_modules__", ())
    return tuple(names) if callable(getattr(cls, "__sknmtune_rebuild__", None)) else ()


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


# Specifications that are data but would make *later* use run code or read pickles: refused unless trusted=True.
_LOAD_CHECKS: dict[str, Callable[[Any], str | None]] = {
    _BACKBONE: _check_backbone_spec,
    "sklearn.pipeline.Pipeline": _check_pipeline_memory,
}

# Run-time caches that are never saved; a file that sets them is refused.
_TRANSIENT: dict[str, frozenset[str]] = {_BACKBONE: frozenset({"_backend"})}

# Parameters added after files were first written, with the value (a plain constant) that keeps an older file's
# behaviour: a file without them loads with that value (any other missing or unknown parameter is refused as damage).
ADDED_PARAMS: dict[str, dict[str, Any]] = {
    "sknmtune.NMTuneClassifierCV": {"selection_rows": None},  # 0.2: the search on a subsample of rows
}

_BUILTIN_TYPES = {t.__name__: t for t in (bool, int, float, complex, str, bytes)}


def _allowed_list() -> str:
    return ", ".join(name.rsplit(".", 1)[1] for name in SAFE_CLASSES)


def _plain_dtype(text: str, where: str) -> np.dtype:
    try:
        dtype = np.dtype(text)
    except (TypeError, ValueError) as exc:
        raise _Malformed(f"unknown dtype {text!r} at {where}") from exc
    if dtype.hasobject or dtype.fields is not None:
        raise _Malformed(f"dtype {text!r} at {where} is not allowed")
    return dtype
