"""Saving and loading fitted sknmtune models, by default in a safe format that holds data only.

:func:`save` writes the **sknmtune model format** (``.skn``): a zip archive with

* ``sknmtune.json`` -- the format name (``"sknmtune-model"``), the format version, the versions of
  sknmtune, scikit-learn, torch and NumPy that wrote it, and the object tree: for every estimator its
  class (a name from an explicit allow-list, :data:`SAFE_CLASSES`), its ``get_params()`` and its fitted
  state, as JSON values;
* ``arrays/<n>.npy`` -- every NumPy array and torch tensor of that tree (CPU copies), one NumPy file each.

Reading it runs no code from the file: JSON is parsed, arrays are read from their ``.npy`` headers
(no object dtypes, no pickle), classes are looked up in the allow-list (never imported by a name from
the file), and torch modules are rebuilt by the estimator's own code before their weights are loaded.
A custom ``torch.nn.Module`` backbone is stored by its import path: :func:`load` imports and builds
it only when the caller names its type in ``trusted=``. Sizes are checked from the headers before
any memory is spent (``max_bytes``). :func:`load` refuses pickle and joblib files unless
``trusted=True``, because unpickling runs whatever code the file names. Every problem with a file is
a :class:`ModelFileError` naming the file.

``save(..., format="joblib")`` still writes a joblib pickle (any picklable object); plain
``joblib.dump`` / ``joblib.load`` work as for any scikit-learn model, and are pickle, with its risks.

The implementation: ``_format`` (constants, errors, allow-list), ``_encode`` / ``_decode`` (the
object tree), ``_modules`` (custom module backbones and ``trusted``), ``_limits`` (size limits).
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import torch

from .._utils import loading_onto, resolve_device
from .._version import __version__
from ._decode import _Decoder
from ._encode import _Encoder
from ._format import (
    _KIND,
    _PICKLE_SUFFIXES,
    _SPEC_MEMBER,
    FORMAT_NAME,
    FORMAT_VERSION,
    SAFE_CLASSES,
    SUFFIX,
    ModelFileError,
    class_of,
    _Malformed,
    _Refused,
)
from ._limits import DEFAULT_MAX_BYTES, SPEC_MAX_BYTES, Budget, check_max_bytes, check_members, read_spec
from ._modules import INIT_HOOK, Trust, custom_types, untrusted_message

__all__ = [
    "save",
    "load",
    "get_untrusted_types",
    "ModelFileError",
    "SAFE_CLASSES",
    "FORMAT_VERSION",
    "DEFAULT_MAX_BYTES",
    "SPEC_MAX_BYTES",
    "INIT_HOOK",
]

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


def check_model_path(path: str | os.PathLike, format: str) -> Path:
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
        is a model *name* or a ``torch.nn.Module`` of an importable class, ``Pipeline``,
        ``FeatureUnion`` and common scikit-learn scalers, decompositions and linear models), nested in
        any way. With ``format="joblib"``: any picklable object.
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
        not on the allow-list, a callable backbone, a module backbone whose class cannot be imported
        by name or constructed again, a function); the message names it.

    Notes
    -----
    A ``torch.nn.Module`` backbone is stored as its class's import path
    (``cls.__module__ + "." + cls.__qualname__``), its constructor arguments and its state dict.
    The class must be defined at the top level of an importable module (not in ``__main__``) and be
    constructible either as ``cls()`` or as ``cls(**module.get_init_kwargs())`` when the module
    defines a ``get_init_kwargs()`` method returning a dict of plain values (numbers, strings,
    lists, tuples, dicts, arrays). Loading such a file needs ``load(path, trusted=["<that name>"])``.

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
    path = check_model_path(path, format)
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

    header = {
        "format": FORMAT_NAME,
        # the lowest version that holds the file, so that older sknmtune reads it: 1, 2 with a custom module
        # backbone (import path), 3 with a backbone of standard torch.nn layers stored as its layer tree
        "format_version": 3 if encoder.layer_trees else 2 if encoder.custom_modules else 1,
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
            with archive.open(f"arrays/{i}.npy", "w", force_zip64=array.nbytes > 2**30) as member:
                np.save(member, array, allow_pickle=False)


def _open_safe(path: Path, max_bytes: int | None) -> tuple[zipfile.ZipFile, dict]:
    """The open archive and its parsed, checked header (format, version, sizes); the caller closes it."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:  # a damaged version field
        raise ModelFileError(path, f"is truncated or damaged (the zip archive is incomplete: {exc})") from exc
    try:
        listed = archive.namelist()
        names = set(listed)
        if len(names) != len(listed):
            twice = sorted({name for name in listed if listed.count(name) > 1})
            raise ModelFileError(path, f"is damaged: it holds the member {twice[0]} twice (a zip archive with "
                                       "duplicated names is ambiguous)")
        if _SPEC_MEMBER not in names:
            if any(name.endswith("data.pkl") for name in names):
                kind = "a torch.save checkpoint (a pickle inside a zip)"
            elif names and all(name.endswith(".npy") for name in names):
                kind = "a NumPy .npz archive"
            else:
                kind = "a zip archive without sknmtune.json"
            raise ModelFileError(path, f"is not an sknmtune model file: it is {kind}")
        try:
            check_members(archive, max_bytes)
            header = json.loads(read_spec(archive, _SPEC_MEMBER, max_bytes).decode("utf-8"))
        except _Refused as exc:
            raise ModelFileError(path, f"is refused: {exc}") from None
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, zlib.error) as exc:
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
    except BaseException:
        archive.close()
        raise
    return archive, tree


def _read_safe(path: Path, trust: Trust, max_bytes: int | None) -> Any:
    archive, tree = _open_safe(path, max_bytes)
    with archive:
        untrusted = sorted({name for name in custom_types(tree) if not trust.allows(name)})
        if untrusted:  # before anything is decoded or imported
            raise ModelFileError(path, untrusted_message(untrusted))
        decoder = _Decoder(archive, Budget(max_bytes), trust)
        try:
            obj = decoder.decode(tree, "model")
        except _Refused as exc:
            raise ModelFileError(path, f"is refused: {exc}") from None
        except _Malformed as exc:
            raise ModelFileError(path, f"is damaged or was not written by this version of sknmtune: {exc}") from None
        except RecursionError:
            raise ModelFileError(path, "is damaged: its object tree is nested too deeply") from None
        except Exception as exc:  # NumPy / torch / zip errors on content that passed the checks above
            text = " ".join(str(exc).split()) or "no message"
            raise ModelFileError(path, f"is damaged ({type(exc).__name__}: {text})") from exc
        if decoder.refusals and not trust.everything:
            raise ModelFileError(path, decoder.refusals[0])
    return obj


def get_untrusted_types(path: str | os.PathLike, *, max_bytes: int | None = DEFAULT_MAX_BYTES) -> list[str]:
    """The custom types a safe model file names, which :func:`load` needs listed in ``trusted=``.

    Reads only the file's JSON spec: nothing is imported or built. Review the names (they are
    ``module.qualname`` of ``torch.nn.Module`` classes whose code loading would run), then pass
    the ones you trust to ``load(path, trusted=[...])``.

    Parameters
    ----------
    path : path-like
        A file in the safe format (``.skn``).
    max_bytes : int or None, default=DEFAULT_MAX_BYTES
        Size limit, as in :func:`load`.

    Returns
    -------
    names : list of str
        Sorted, without duplicates; empty when the file needs no trust.

    Raises
    ------
    ModelFileError
        If the file is not a safe model file (a pickle, damaged, too large).

    Examples
    --------
    >>> import tempfile, os
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sknmtune.persistence import save, get_untrusted_types
    >>> get_untrusted_types(save(StandardScaler(), os.path.join(tempfile.mkdtemp(), "s.skn")))
    []
    """
    path = Path(path)
    max_bytes = check_max_bytes(max_bytes)
    if _file_kind(path)[0] != "zip":
        raise ModelFileError(path, "is not an sknmtune safe model file (.skn), so it names no types to trust")
    archive, tree = _open_safe(path, max_bytes)
    with archive:
        return sorted(set(custom_types(tree)))


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


def _file_kind(path: Path) -> tuple[str, bytes]:
    """What ``path`` holds (see :func:`_sniff`) and its first bytes; errors for missing, empty, .npy files."""
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
    return kind, head


def load(
    path: str | os.PathLike,
    *,
    trusted: bool | Iterable[str | type] = False,
    map_location: str | torch.device | None = None,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
) -> Any:
    """Load a model written by :func:`save`.

    Parameters
    ----------
    path : path-like
        A file in the safe sknmtune format (``.skn``). Loading it never runs code from the file
        (except the constructors of the module types listed in ``trusted``).
    trusted : bool or list of str, default=False
        * ``False``: the safe format only, with the allow-listed classes.
        * a list of type names (``["mypkg.nets.MyNet"]``, as :func:`get_untrusted_types` gives
          them; classes are accepted too): also import these ``torch.nn.Module`` classes and call
          their constructors, to rebuild a custom backbone stored in the file. A file naming any
          other type raises :class:`ModelFileError` naming it, before anything is imported.
        * ``True``: trust the file completely: every type it names, specifications that run code
          later (``trust_remote_code``, a ``Pipeline`` ``memory``), and pickle / joblib files
          (``save(..., format="joblib")``, ``joblib.dump``). Unpickling runs whatever code the file
          names: pass ``True`` only for files from a source you trust.
    map_location : str or torch.device, optional
        Move every fitted sknmtune model inside the loaded object (also inside pipelines and
        searches) to this device, e.g. ``"cuda"``. By default fitted modules load on the CPU.
    max_bytes : int or None, default=DEFAULT_MAX_BYTES (4 GiB)
        The most bytes a safe file may decompress to, all members together, and the most its arrays
        may take in memory, as their ``.npy`` headers declare them (an array referred to twice
        counts twice); the JSON spec is also limited to ``SPEC_MAX_BYTES`` (64 MiB). Checked from
        the zip and ``.npy`` headers before anything is read, so a zip bomb or an absurd array shape
        is refused without spending the memory. ``None`` lifts every limit. Pickles are not checked.

    Returns
    -------
    estimator : the saved estimator or Pipeline

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ModelFileError
        If the file is not a model file, is empty, truncated or damaged, was written by a newer
        format version, holds something other than an estimator, names a module type ``trusted``
        does not list, exceeds ``max_bytes``, or is a pickle without ``trusted=True``. The message
        names the file and the problem.

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
    trust = Trust(trusted)
    max_bytes = check_max_bytes(max_bytes)
    kind, head = _file_kind(path)
    if kind != "zip" and not trust.everything:
        if kind in ("pickle", "compressed pickle"):
            raise ModelFileError(path, _pickle_refusal())
        raise ModelFileError(path, _describe_other(head))
    with loading_onto(resolve_device(map_location) if map_location is not None else None):
        obj = _read_safe(path, trust, max_bytes) if kind == "zip" else _read_pickle(path)
    if map_location is not None:
        device = resolve_device(map_location)
        for item in _movable(obj, set()):
            try:
                item.to_device(device)
            except Exception as exc:  # unfitted estimators inside a search's params, say
                if type(exc).__name__ != "NotFittedError":
                    raise
    return obj
