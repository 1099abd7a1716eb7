"""Property-based tests (hypothesis) of every public entry point: hostile inputs generated, not listed.

The property (issue 37): each call either succeeds with finite, well-shaped results, or raises one of the
documented exceptions (``ValueError`` and its subclasses -- ``NotFittedError``, ``ModelFileError`` --,
``TypeError``, ``FileNotFoundError``, ``TrainingDivergedError``) with a message of its own, raised by
sknmtune's or scikit-learn's validation (the innermost Python frame is not inside torch, NumPy or skorch);
never NaN predictions, never another exception, never a hang (each example runs under a time limit).

Example counts: ``examples(n)`` per test in the default lane (derandomized, reproducible; about 2,000 cases in
all); 10x in the extended lane (``pytest -m extended`` or ``HYPOTHESIS_PROFILE=extended``).
"""

from __future__ import annotations

import signal
import traceback
import warnings
from contextlib import contextmanager

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.exceptions import NotFittedError

from sknmtune import (
    SpectralScorer,
    TrainingDivergedError,
    h_score,
    inject_label_noise,
    largest_singular_value_ratio,
    logme,
    pair_label_noise,
    rankme,
    singular_value_entropy,
    singular_values,
    spectral_summary,
    symmetric_label_noise,
)
from sknmtune.backbones import FrozenBackboneTransformer
from sknmtune.heads import NMTuneClassifier, NMTuneClassifierCV, NMTuneRegressor, make_voting_head

#: The exceptions the entry points document (ModelFileError and NotFittedError are ValueErrors).
DOCUMENTED = (ValueError, TypeError, FileNotFoundError, IsADirectoryError, NotFittedError, TrainingDivergedError)
#: Where an exception may not originate: a bare traceback from deep inside a dependency.
_DEEP = ("/torch/", "/numpy/", "/skorch/", "/scipy/", "/PIL/", "/timm/")
FAST = {"max_epochs": 2, "early_stopping": False, "device": "cpu", "random_state": 0, "hidden_ratio": 1.0,
        "batch_size": 16}


def examples(n: int) -> int:
    """``n`` examples in the default lane, 10x in the extended one (the loaded profile's scale)."""
    return max(1, n * settings.default.max_examples // 50)


@contextmanager
def time_limit(seconds: float):
    """Fail (instead of hanging) when the block runs longer than ``seconds`` (POSIX, main thread)."""
    def _alarm(*_):
        raise TimeoutError(f"an example ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_error(exc: BaseException) -> None:
    """The error half of the property: documented type, a message, raised at the boundary."""
    assert isinstance(exc, DOCUMENTED), f"undocumented {type(exc).__name__}: {exc}\n{''.join(traceback.format_exception(exc))}"
    message = " ".join(str(exc).split())
    assert len(message) >= 10, f"{type(exc).__name__} without a message that names the problem: {message!r}"
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        deepest = frames[-1].filename.replace("\\", "/")
        assert not any(part in deepest for part in _DEEP), (
            f"{type(exc).__name__} raised from inside a dependency ({deepest}:{frames[-1].lineno}): {message}\n"
            + "".join(traceback.format_exception(exc)))


def run(call, *, seconds: float = 20.0):
    """``call()``'s result, or None after checking the exception it raised."""
    with warnings.catch_warnings(), time_limit(seconds):
        warnings.simplefilter("ignore")
        try:
            return call()
        except TimeoutError:
            raise
        except Exception as exc:  # noqa: BLE001 -- the property is about every exception
            check_error(exc)
            return None


def assert_finite(value) -> None:
    if isinstance(value, dict):
        for item in value.values():
            if isinstance(item, (float, np.floating, np.ndarray)):
                assert_finite(item)
        return
    arr = np.asarray(value)
    assert arr.dtype.kind in "fiub", arr.dtype
    assert np.isfinite(arr).all(), value


# --------------------------------------------------------------------------------------------- strategies

_DTYPES = st.sampled_from([np.float64, np.float32, np.float16, np.int64, np.int8, np.uint8, np.bool_,
                           np.complex128, "U3", object])


def _elements(dtype):
    kind = np.dtype(dtype).kind
    if kind == "f":
        width = np.dtype(dtype).itemsize * 8
        return st.floats(allow_nan=True, allow_infinity=True, width=width) | st.sampled_from([0.0, 1e-300, -1e300, 1.0])
    if kind == "c":
        return st.complex_numbers(max_magnitude=1e3, allow_nan=False, allow_infinity=False)
    if kind == "U":
        return st.text(st.characters(exclude_characters="\x00"), max_size=3)
    if kind == "O":
        return st.one_of(st.none(), st.integers(-3, 3), st.text(max_size=2), st.floats(allow_nan=True))
    return None


@st.composite
def arrays(draw, max_dims: int = 3, max_side: int = 6, min_dims: int = 0):
    """Arrays of any dtype, shape (0 to ``max_dims`` axes, empty sides included) and memory layout."""
    dtype = draw(_DTYPES)
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=0, max_side=max_side))
    elements = _elements(dtype)
    kwargs = {} if elements is None else {"elements": elements}
    arr = draw(hnp.arrays(np.dtype(dtype), shape, **kwargs))
    layout = draw(st.sampled_from(["c", "f", "strided"]))
    if layout == "f":
        arr = np.asfortranarray(arr)
    elif layout == "strided" and arr.ndim >= 1:
        arr = np.repeat(arr, 2, axis=0)[::2]
    return arr


@st.composite
def feature_matrices(draw, min_rows: int = 0, max_rows: int = 30, max_cols: int = 5):
    """Mostly real-valued 2-D matrices (the heads' inputs), with hostile values mixed in."""
    n = draw(st.integers(min_rows, max_rows))
    d = draw(st.integers(0, max_cols))
    kind = draw(st.sampled_from(["normal", "normal", "normal", "constant", "huge", "tiny", "hostile", "int", "dtype"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    X = rng.standard_normal((n, d))
    if kind == "constant":
        X[:] = draw(st.floats(-1e6, 1e6))
    elif kind == "huge":
        X *= 1e30
    elif kind == "tiny":
        X *= 1e-30
    elif kind == "hostile" and X.size:
        X.flat[draw(st.integers(0, X.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf, 1e308]))
    elif kind == "int":
        X = rng.integers(-5, 5, (n, d))
    elif kind == "dtype":
        X = draw(arrays(min_dims=1, max_dims=2, max_side=max_rows))
    return X


def _labels(draw, n: int):
    kind = draw(st.sampled_from(["int", "int", "str", "mixed", "float", "bool", "one-class", "singletons", "nan"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if kind == "int":
        return rng.integers(0, draw(st.integers(1, 4)), n)
    if kind == "str":
        return np.array(["cat", "dog", "ému"])[rng.integers(0, 3, n)]
    if kind == "mixed":
        return np.array([1, "a", 2.5, None], dtype=object)[rng.integers(0, 4, n)]
    if kind == "float":
        return rng.standard_normal(n).round(1)
    if kind == "bool":
        return rng.integers(0, 2, n).astype(bool)
    if kind == "one-class":
        return np.zeros(n, dtype=int)
    if kind == "singletons":
        return np.arange(n)
    return np.where(rng.random(n) < 0.3, np.nan, 1.0)


def _wrap(draw, X):
    """The matrix as users pass it: ndarray, list, sparse, or a pandas DataFrame with odd columns."""
    how = draw(st.sampled_from(["array", "array", "list", "sparse", "pandas"]))
    if how == "list":
        return X.tolist()
    if how == "sparse" and X.ndim == 2:
        try:
            return sp.csr_matrix(X)
        except (TypeError, ValueError):
            return X
    if how == "pandas" and X.ndim == 2:
        import pandas as pd

        columns = draw(st.sampled_from(["int", "str", "dup", "mixed"]))
        names = {"int": list(range(X.shape[1])), "str": [f"f{i}" for i in range(X.shape[1])],
                 "dup": ["a"] * X.shape[1], "mixed": [i if i % 2 else f"c{i}" for i in range(X.shape[1])]}[columns]
        return pd.DataFrame(X, columns=names)
    return X


_BAD_PARAMS = st.sampled_from([{}, {}, {}, {"lr": -1.0}, {"lr": float("nan")}, {"max_epochs": 0}, {"batch_size": 0},
                               {"hidden_ratio": 0.0}, {"dropout": 1.5}, {"reg_lambda": -1}, {"mlp_depth": -1},
                               {"validation_fraction": 1.0}, {"device": "tpu"}, {"views": "x"}, {"svd_top_k": 0},
                               {"early_stopping": "yes"}, {"max_hidden_width": 0}, {"lr": 1e6},
                               {"early_stopping": True}, {"standardize": True}, {"mlp_depth": 0}])


# ---------------------------------------------------------------------------------- pure functions


@settings(max_examples=examples(400))
@given(X=arrays(), center=st.booleans(), normalize_rows=st.booleans(),
       function=st.sampled_from([singular_values, singular_value_entropy, largest_singular_value_ratio, rankme,
                                 spectral_summary]))
def test_spectral_functions(X, center, normalize_rows, function):
    result = run(lambda: function(X, center=center, normalize_rows=normalize_rows))
    if result is not None:
        assert_finite(result)


@settings(max_examples=examples(220))
@given(data=st.data(), metric=st.sampled_from(["logme", "h_score"]))
def test_transferability_functions(data, metric):
    F = data.draw(feature_matrices(max_rows=25))
    y = _labels(data.draw, len(F)) if data.draw(st.booleans()) else data.draw(arrays(max_dims=2, max_side=25))
    if metric == "logme":
        target_type = data.draw(st.sampled_from(["auto", "classification", "regression", "nonsense"]))
        result = run(lambda: logme(F, y, target_type=target_type))
    else:
        shrinkage = data.draw(st.sampled_from([None, "auto", 0.5, -1.0, 2.0, float("nan"), "x"]))
        result = run(lambda: h_score(F, y, shrinkage=shrinkage))
    if result is not None:
        assert isinstance(result, float) and np.isfinite(result)


@settings(max_examples=examples(350))
@given(data=st.data(), function=st.sampled_from(["symmetric", "pair", "inject"]),
       rate=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, 0.5, 0.999, 1.0]),
                      st.text(max_size=2), st.none()))
def test_noise_functions(data, function, rate):
    n = data.draw(st.integers(0, 30))
    y = _labels(data.draw, n) if data.draw(st.integers(0, 4)) else data.draw(arrays(max_dims=2, max_side=10))
    classes = data.draw(st.sampled_from([None, None, [0, 1, 2], ["cat", "dog", "ému", "x"], [], [1, 1]]))
    seed = data.draw(st.sampled_from([0, None, -1, "seed"]))
    if function == "inject":
        kind = data.draw(st.sampled_from(["symmetric", "pair", "other"]))
        result = run(lambda: inject_label_noise(y, rate, kind=kind, random_state=seed, classes=classes))
    else:
        fn = symmetric_label_noise if function == "symmetric" else pair_label_noise
        result = run(lambda: fn(y, rate, random_state=seed, classes=classes))
    if result is not None:
        noisy, mask = result
        original = np.asarray(y)
        assert noisy.shape == original.shape and mask.shape == original.shape and mask.dtype == bool
        assert mask.sum() == int(np.floor(float(rate) * len(original) + 0.5))
        assert (noisy[~mask] == original[~mask]).all() and (noisy[mask] != original[mask]).all()


# ------------------------------------------------------------------------------------------- the heads


@settings(max_examples=examples(120))
@given(data=st.data())
def test_classifier(data):
    X = data.draw(feature_matrices())
    y = _labels(data.draw, len(X)) if data.draw(st.integers(0, 5)) else data.draw(arrays(max_dims=2, max_side=30))
    params = {**FAST, **data.draw(_BAD_PARAMS)}
    Xw = _wrap(data.draw, X)
    clf = NMTuneClassifier(**params)
    if run(lambda: clf.fit(Xw, y)) is None:
        return
    proba = run(lambda: clf.predict_proba(Xw))
    assert proba is not None, "a fitted classifier refused its own training data"
    assert proba.shape == (len(X), len(clf.classes_)) and np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert set(np.asarray(clf.predict(Xw)).tolist()) <= set(clf.classes_.tolist())
    Z = clf.transform(Xw)
    assert Z.shape == (len(X), clf.n_features_in_) and np.isfinite(Z).all()
    other = data.draw(feature_matrices(max_rows=5))
    result = run(lambda: clf.predict_proba(other))
    if result is not None:
        assert result.shape == (len(other), len(clf.classes_)) and np.isfinite(result).all()


@settings(max_examples=examples(110))
@given(data=st.data())
def test_regressor(data):
    X = data.draw(feature_matrices())
    kind = data.draw(st.sampled_from(["normal", "normal", "2d", "huge", "constant", "hostile", "labels"]))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    y = {"normal": lambda: rng.standard_normal(len(X)), "2d": lambda: rng.standard_normal((len(X), 2)),
         "huge": lambda: rng.standard_normal(len(X)) * 1e200, "constant": lambda: np.full(len(X), 3.0),
         "hostile": lambda: np.where(rng.random(len(X)) < 0.2, np.inf, 1.0),
         "labels": lambda: _labels(data.draw, len(X))}[kind]()
    params = {k: v for k, v in {**FAST, **data.draw(_BAD_PARAMS)}.items()}
    loss = data.draw(st.sampled_from(["squared_error", "huber", "absolute"]))
    Xw = _wrap(data.draw, X)
    reg = NMTuneRegressor(loss=loss, **params)
    if run(lambda: reg.fit(Xw, y)) is None:
        return
    pred = run(lambda: reg.predict(Xw))
    assert pred is not None, "a fitted regressor refused its own training data"
    assert pred.shape == np.asarray(y).shape and np.isfinite(pred).all(), pred


@settings(max_examples=examples(12))
@given(data=st.data())
def test_cross_validated_head(data):
    X = data.draw(feature_matrices(max_rows=24, max_cols=4))
    y = _labels(data.draw, len(X))
    grid = data.draw(st.sampled_from([{"max_epochs": [1]}, {"max_epochs": [1], "mlp_depth": [0, 1]}, {"lr": [-1.0]},
                                      {"nonsense": [1]}, {}]))
    cv = data.draw(st.sampled_from([2, 3, 1, 0]))
    est = NMTuneClassifierCV(param_grid=grid or None, estimator=NMTuneClassifier(**FAST), cv=cv, random_state=0)
    if run(lambda: est.fit(_wrap(data.draw, X), y), seconds=60) is None:
        return
    proba = est.predict_proba(X)
    assert proba.shape == (len(X), len(est.classes_)) and np.isfinite(proba).all()


@settings(max_examples=examples(6))
@given(data=st.data())
def test_vote(data):
    X = data.draw(feature_matrices(min_rows=0, max_rows=24, max_cols=4))
    y = _labels(data.draw, len(X))
    vote = make_voting_head(random_state=0)
    if run(lambda: vote.fit(X, y), seconds=120) is None:
        return
    proba = vote.predict_proba(X)
    assert proba.shape == (len(X), len(vote.classes_)) and np.isfinite(proba).all()


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((30, 4)), np.arange(30) % 3
    return NMTuneClassifier(**FAST).fit(X, y), NMTuneRegressor(**FAST).fit(X, rng.standard_normal(30))


@settings(max_examples=examples(150))
@given(data=st.data())
def test_fitted_heads_and_the_spectral_scorer_on_hostile_inputs(fitted, data):
    X = data.draw(st.one_of(feature_matrices(max_rows=10), arrays(max_dims=3, max_side=5)))
    X = _wrap(data.draw, X)
    clf, reg = fitted
    method = data.draw(st.sampled_from(["predict_proba", "predict", "decision_function", "transform", "reg.predict",
                                        "scorer"]))
    if method == "scorer":
        metric = data.draw(st.sampled_from(["sve", "rankme", "neg_lsvr", ["sve", "rankme"], "nonsense"]))
        representation = data.draw(st.sampled_from(["auto", "input", "output", "z"]))
        result = run(lambda: SpectralScorer(metric, representation=representation)(clf, X))
    elif method == "reg.predict":
        result = run(lambda: reg.predict(X))
    else:
        result = run(lambda: getattr(clf, method)(X))
    if result is not None:
        assert_finite(result)


# ------------------------------------------------------------------------------------ the backbone


@pytest.fixture(scope="module")
def image_backbone():
    torch.manual_seed(0)
    from PIL import Image

    ext = FrozenBackboneTransformer("cifar_resnet20", pretrained=False, device="cpu", num_workers=0)
    return ext.fit([Image.new("RGB", (32, 32))])


@settings(max_examples=examples(170))
@given(data=st.data())
def test_backbone_on_arrays(data):
    X = data.draw(arrays(max_dims=2, max_side=6))
    width = data.draw(st.integers(1, 4))
    # the module's input width is the array's last axis (mismatched widths: see the tests below)
    net = torch.nn.Sequential(torch.nn.Linear(X.shape[-1] if X.ndim >= 1 and X.shape[-1] else 3, width))
    ext = FrozenBackboneTransformer(net, device="cpu", batch_size=data.draw(st.sampled_from([1, 4, 64])))
    F = run(lambda: ext.fit_transform(_wrap(data.draw, X)))
    if F is not None:
        assert F.dtype == np.float32 and F.shape == (X.shape[0], width) and np.isfinite(F).all()


# Found by test_backbone_on_arrays with any input width (issue 37): a bare torch RuntimeError ('mat1 and mat2 shapes
# cannot be multiplied') and (n, 0) features from an empty middle axis; the runner now names both.
def test_backbone_names_an_input_width_its_module_does_not_take():
    with pytest.raises(ValueError, match=r"cannot take inputs of shape \(4,\)"):
        FrozenBackboneTransformer(torch.nn.Linear(3, 2), device="cpu").fit_transform(np.zeros((2, 4)))


def test_backbone_refuses_inputs_that_give_no_features():
    with pytest.raises(ValueError, match="returned no features"):
        FrozenBackboneTransformer(torch.nn.Linear(3, 2), device="cpu").fit_transform(np.zeros((2, 0, 3)))


@settings(max_examples=examples(60))
@given(mode=st.sampled_from(["1", "L", "P", "RGB", "RGBA", "CMYK", "LA", "I", "F", "I;16", "YCbCr", "HSV"]),
       size=st.tuples(st.integers(1, 40), st.integers(1, 40)), n=st.integers(1, 3), as_list=st.booleans())
def test_backbone_on_pil_images_of_odd_modes(image_backbone, mode, size, n, as_list):
    from PIL import Image

    images = [Image.new(mode, size) for _ in range(n)]
    F = run(lambda: image_backbone.transform(images if as_list else tuple(images)))
    if F is not None:
        assert F.shape == (n, image_backbone.n_features_out_) and np.isfinite(F).all()


@settings(max_examples=examples(40))
@given(paths=st.lists(st.text(min_size=1, max_size=12).filter(lambda s: "\x00" not in s), min_size=1, max_size=3),
       suffix=st.sampled_from(["", ".png", ".jpg", "/", ".txt"]))
def test_backbone_on_paths_that_do_not_exist(image_backbone, tmp_path_factory, paths, suffix):
    root = tmp_path_factory.getbasetemp() / "missing-images"
    files = [str(root / (p.replace("/", "_") + suffix)) for p in paths]
    assert run(lambda: image_backbone.transform(files)) is None  # always an error: none of them exists


# --------------------------------------------------------------------------------------- the CLI

_TOKENS = ["fit", "predict", "extract", "spectrum", "rank", "--head", "preset", "cv", "vote", "--preset", "nmtune",
           "--epochs", "-1", "0", "abc", "--set", "lr=-1", "lr=", "=", "--device", "cpu", "tpu", "--output",
           "--features", "--labels", "--model", "--trusted", "--trusted-type", "--top", "--seed", "--help-nothing",
           "--", "-", "", "x.npy", "model.skn", "missing.csv", "--label-column", "1e999", "nan"]  # no --traceback: it re-raises


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-fuzz")
    rng = np.random.default_rng(0)
    np.save(root / "F.npy", rng.standard_normal((20, 3)).astype(np.float32))
    (root / "y.txt").write_text("\n".join(str(v) for v in np.arange(20) % 2) + "\n")
    (root / "junk.npy").write_bytes(rng.integers(0, 256, 64, dtype=np.uint8).tobytes())
    return root


@settings(max_examples=examples(200))
@given(tokens=st.lists(st.sampled_from(_TOKENS) | st.text(max_size=6), max_size=7),
       command=st.sampled_from(["fit", "predict", "extract", "spectrum", "rank", "--version", "nonsense"]))
def test_cli_argument_parsing(cli_files, tokens, command):
    import contextlib
    import io

    from sknmtune.cli import main

    files = {"x.npy": str(cli_files / "junk.npy"), "F.npy": str(cli_files / "F.npy")}
    argv = [command, *[files.get(t, t) for t in tokens]]
    err, out = io.StringIO(), io.StringIO()
    with warnings.catch_warnings(), time_limit(60), contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        warnings.simplefilter("ignore")
        status = main(argv)
    assert status in (0, 1, 2), (argv, status)
    if status:
        text = err.getvalue()
        assert text.strip(), (argv, "a failure without a message")
        assert "Traceback" not in text, (argv, text)


@settings(max_examples=examples(200))
@given(content=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode),
                         st.lists(st.sampled_from(["1", "a", "1,2", "id,label", "", "\t", '"', "é", "nan", "1e999"]),
                                  max_size=12).map(lambda rows: "\n".join(rows).encode())),
       suffix=st.sampled_from([".npy", ".npz", ".csv", ".txt", ".tsv", ".json"]),
       reader=st.sampled_from(["features", "labels"]))
def test_cli_file_readers(tmp_path_factory, content, suffix, reader):
    from sknmtune.cli import _io

    path = tmp_path_factory.getbasetemp() / f"input{suffix}"
    path.write_bytes(content)
    if reader == "features":
        result = run(lambda: _io._read_features(path))
        if result is not None:
            X, y = result
            assert X.ndim == 2 and np.isfinite(X).all() and (y is None or len(y) == len(X))
    else:
        result = run(lambda: _io._read_labels(path))
        if result is not None:
            assert result.ndim == 1 and len(result) >= 1
