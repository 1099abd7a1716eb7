"""Reliability matrix: bad and hostile inputs at every public entry point.

Each case is one input a new user (or an attacker) could give; the test asserts the exception type
and a keyword of its message, so a problem is always reported by name. Entry points: the estimator
(:class:`NMTuneClassifier`), the backbone transformer, the feature cache, the spectral functions,
the scorer, the label-noise functions, persistence, and the command line (exit status + one line).
"""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import joblib
import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.svm import LinearSVC

from sknmtune import (
    FeatureCache,
    NMTuneClassifier,
    SpectralScorer,
    inject_label_noise,
    largest_singular_value_ratio,
    pair_label_noise,
    rankme,
    singular_value_entropy,
    singular_values,
    spectral_summary,
    symmetric_label_noise,
)
from sknmtune.backbones import FrozenBackboneTransformer
from sknmtune.cli import main
from sknmtune.heads import NMTuneClassifierCV
from sknmtune.persistence import ModelFileError, load, save

FAST = {"max_epochs": 1, "early_stopping": False, "device": "cpu", "random_state": 0, "hidden_ratio": 1.0, "batch_size": 16}


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


class _Marker:
    """A pickle payload that creates a file when unpickled: the proof that code ran."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


class Env:
    """Files and fitted objects shared by the cases (built once per module)."""

    def __init__(self, root: Path) -> None:
        from PIL import Image

        self.root = root
        rng = np.random.default_rng(0)
        self.X = rng.standard_normal((40, 5)).astype(np.float32)
        self.y = np.arange(40) % 3
        self.clf = NMTuneClassifier(**FAST).fit(self.X, self.y)
        self.marker = root / "PWNED"
        self.net = torch.nn.Sequential(torch.nn.Linear(5, 3))

        def write(name: str, data: bytes) -> Path:
            (root / name).write_bytes(data)
            return root / name

        self.model = save(self.clf, root / "model.skn")
        blob = self.model.read_bytes()
        self.truncated = {f: write(f"trunc{f}.skn", blob[: int(len(blob) * f / 100)]) for f in (10, 50, 90)}
        self.empty = write("empty.skn", b"")
        self.random = write("random.bin", np.random.default_rng(1).integers(0, 256, 512, dtype=np.uint8).tobytes())
        self.text = write("model.txt", b"id,label\n1,cat\n")
        np.save(root / "array.npy", np.ones(3))
        np.savez(root / "arrays.npz", X=np.ones(3))
        torch.save({"w": torch.ones(2)}, root / "state.pt")
        self.evil_pickle = write("evil.pkl", pickle.dumps(_Marker(self.marker)))
        self.evil_pickle0 = write("evil0.pkl", pickle.dumps(_Marker(self.marker), protocol=0))
        joblib.dump(_Marker(self.marker), root / "evil.joblib", compress=3)
        joblib.dump(self.clf, root / "plain.joblib")
        joblib.dump(self.clf, root / "compressed.joblib", compress=3)
        joblib.dump({"not": "a model"}, root / "dict.joblib")
        self.truncated_joblib = write("trunc.joblib", (root / "plain.joblib").read_bytes()[:300])
        self.scaler_model = save(StandardScaler().fit(self.X), root / "scaler.skn")
        self.logreg_model = save(LogisticRegression().fit(self.X, self.y), root / "logreg.skn")
        self.svc_model = save(LinearSVC().fit(self.X, self.y), root / "svc.skn")
        self.header = json.loads(zipfile.ZipFile(self.model).read("sknmtune.json"))

        # image files: three good ones and a corrupt one, in a class folder for the CLI
        folder = root / "images" / "cat"
        folder.mkdir(parents=True)
        self.images = []
        for i in range(3):
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(folder / f"{i}.png")
            self.images.append(str(folder / f"{i}.png"))
        write("images/cat/3.png", b"this is not a png")
        self.corrupt_image = str(root / "images" / "cat" / "3.png")
        Image.fromarray(rng.integers(0, 255, (10, 12, 3), dtype=np.uint8)).save(root / "big.png")
        (root / "empty_dir").mkdir()

        # features and labels for the CLI
        np.save(root / "F.npy", self.X)
        np.save(root / "F_nan.npy", np.where(np.eye(40, 5, dtype=bool), np.nan, self.X))
        np.save(root / "F_1d.npy", self.X[:, 0])
        np.save(root / "F_zero.npy", np.zeros((10, 3)))
        np.save(root / "F_huge.npy", np.full((200, 10), 1.7e308))
        np.save(root / "F_obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
        np.save(root / "F3.npy", self.X[:, :3])
        labels = [str(v) for v in self.y]
        write("y_pairs.csv", ("id,label\n" + "".join(f"{i},{v}\n" for i, v in enumerate(labels[:39]))).encode())
        write("y_table.csv", ("id,label\n" + "".join(f"{i},{v}\n" for i, v in enumerate(labels))).encode())
        write("y_short_row.csv", ("id,label\n0,1\n1\n").encode())
        write("y_empty_value.csv", ("id,label\n0,1\n1,\n").encode())
        write("y_tabs.txt", ("".join(f"{i}\t{v}\n" for i, v in enumerate(labels))).encode())
        write("y_gap.txt", ("0\n1\n\n2\n").encode())
        write("y_short.txt", ("\n".join(labels[:30]) + "\n").encode())
        write("y_latin1.txt", "caf\xe9\n".encode("latin-1"))
        write("y_blank.txt", b"\n\n")
        write("y_quote.txt", b'0\n"1\n2\n')
        np.save(root / "y.npy", self.y)


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Env:
    return Env(tmp_path_factory.mktemp("reliability"))


class Case(NamedTuple):
    name: str
    action: Callable[[Env], Any]
    exc: type[BaseException] | tuple[type[BaseException], ...]
    keyword: str


def _hooked(net: torch.nn.Module) -> torch.nn.Module:
    """A copy of a standard layer tree with a forward hook (code), which the safe format refuses to store."""
    import copy

    hooked = copy.deepcopy(net)
    hooked.register_forward_hook(lambda module, args, out: out)
    return hooked


def _clf(**params: Any) -> NMTuneClassifier:
    return NMTuneClassifier(**{**FAST, **params})


def _fit(**params: Any) -> Callable[[Env], Any]:
    return lambda e: _clf(**params).fit(e.X, e.y)


def _ext(backbone: Any = None, **params: Any) -> Callable[[Env], Any]:
    return lambda e: FrozenBackboneTransformer(e.net if backbone is None else backbone, device="cpu", **params).fit(e.X)


def _img(**params: Any) -> FrozenBackboneTransformer:
    return FrozenBackboneTransformer("cifar_resnet20", pretrained=False, device="cpu", num_workers=0, **params)


def _rewrite(e: Env, name: str, edit: Callable[[dict], Any] | None = None, *, members: dict[str, bytes] | None = None,
             drop: tuple[str, ...] = ()) -> Path:
    """A copy of the saved model with its JSON edited and members replaced / dropped."""
    source = zipfile.ZipFile(e.model)
    header = json.loads(source.read("sknmtune.json"))
    if edit is not None:
        header = edit(header) or header
    path = e.root / name
    with zipfile.ZipFile(path, "w") as out:
        out.writestr("sknmtune.json", header if isinstance(header, (str, bytes)) else json.dumps(header))
        for info in source.infolist():
            if info.filename != "sknmtune.json" and info.filename not in drop:
                out.writestr(info.filename, (members or {}).get(info.filename, source.read(info.filename)))
        for extra, data in (members or {}).items():
            if extra not in source.namelist():
                out.writestr(extra, data)
    return path


def _load_edit(name: str, edit: Callable[[dict], Any] | None = None, **kw: Any) -> Callable[[Env], Any]:
    return lambda e: load(_rewrite(e, name, edit, **kw))


def _clf_node(header: dict) -> dict:
    return header["object"]


# ------------------------------------------------------------------------------------------ the cases

ESTIMATOR = [
    Case("fit-nan", lambda e: _clf().fit(np.where(e.X > 1, np.nan, e.X), e.y), ValueError, "NaN"),
    Case("fit-inf", lambda e: _clf().fit(np.where(e.X > 1, np.inf, e.X), e.y), ValueError, "infinity"),
    Case("fit-1d", lambda e: _clf().fit(e.X[:, 0], e.y), ValueError, "2D"),
    # 3-D features are training views (n, n_views, D): see tests/test_views_training.py; 4-D is refused
    Case("fit-4d", lambda e: _clf().fit(e.X[:, :, None, None], e.y), ValueError, "dim 4"),
    Case("fit-no-rows", lambda e: _clf().fit(e.X[:0], e.y[:0]), ValueError, "0 sample"),
    Case("fit-no-columns", lambda e: _clf().fit(e.X[:, :0], e.y), ValueError, "0 feature"),
    Case("fit-one-row", lambda e: _clf().fit(e.X[:1], e.y[:1]), ValueError, "minimum of 2"),
    Case("fit-y-length", lambda e: _clf().fit(e.X, e.y[:-1]), ValueError, "inconsistent numbers of samples"),
    Case("fit-one-class", lambda e: _clf().fit(e.X, np.zeros(40)), ValueError, "only one class"),
    Case("fit-continuous-y", lambda e: _clf().fit(e.X, np.linspace(0, 1, 40)), ValueError, "Unknown label type"),
    Case("fit-y-nan", lambda e: _clf().fit(e.X, np.where(e.y == 0, np.nan, e.y)), ValueError, "NaN"),
    Case("fit-y-2d", lambda e: _clf().fit(e.X, np.c_[e.y, e.y]), ValueError, "1d array"),
    Case("fit-y-none", lambda e: _clf().fit(e.X, None), ValueError, "requires y"),
    Case("fit-strings", lambda e: _clf().fit(np.full((40, 5), "a"), e.y), ValueError, "convert"),
    Case("param-reg_lambda", _fit(reg_lambda=-1.0), ValueError, "reg_lambda"),
    Case("param-mse_weight", _fit(mse_weight=-0.5), ValueError, "mse_weight"),
    Case("param-cov_weight", _fit(cov_weight="a"), ValueError, "cov_weight"),
    Case("param-svd_weight", _fit(svd_weight=-1), ValueError, "svd_weight"),
    Case("param-svd_top_k", _fit(svd_top_k=0), ValueError, "svd_top_k"),
    Case("param-mlp_depth", _fit(mlp_depth=-1), ValueError, "mlp_depth"),
    Case("param-hidden_ratio", _fit(hidden_ratio=0), ValueError, "hidden_ratio"),
    Case("param-batch_norm", _fit(batch_norm="yes"), ValueError, "batch_norm"),
    Case("param-residual", _fit(residual=2), ValueError, "residual"),
    Case("param-dropout", _fit(dropout=1.0), ValueError, "dropout"),
    Case("param-lr", _fit(lr=0), ValueError, "lr"),
    Case("param-weight_decay", _fit(weight_decay=-1), ValueError, "weight_decay"),
    Case("param-lr_schedule", _fit(lr_schedule="exp"), ValueError, "lr_schedule"),
    Case("param-max_epochs", _fit(max_epochs=0), ValueError, "max_epochs"),
    Case("param-batch_size", _fit(batch_size=0), ValueError, "batch_size"),
    Case("param-device-type", _fit(device=123), ValueError, "device"),
    Case("param-device-name", _fit(device="tpu"), ValueError, "not a valid device"),
    Case("param-random_state", _fit(random_state="seed"), ValueError, "random_state"),
    Case("param-consistency_reduction", _fit(consistency_reduction="median"), ValueError, "consistency_reduction"),
    Case("param-early_stopping", _fit(early_stopping="sometimes"), ValueError, "early_stopping"),
    Case("param-validation_fraction", _fit(validation_fraction=1.5), ValueError, "validation_fraction"),
    Case("param-n_iter_no_change", _fit(n_iter_no_change=0), ValueError, "n_iter_no_change"),
    Case("param-tol", _fit(tol=-1.0), ValueError, "tol"),
    Case("param-max_hidden_width", _fit(max_hidden_width=0), ValueError, "max_hidden_width"),
    Case("param-residual_init", _fit(residual_init=float("inf")), ValueError, "residual_init"),
    Case("predict-unfitted", lambda e: _clf().predict(e.X), NotFittedError, "not fitted"),
    Case("proba-unfitted", lambda e: _clf().predict_proba(e.X), NotFittedError, "not fitted"),
    Case("transform-unfitted", lambda e: _clf().transform(e.X), NotFittedError, "not fitted"),
    Case("names-unfitted", lambda e: _clf().get_feature_names_out(), NotFittedError, "not fitted"),
    Case("to_device-unfitted", lambda e: _clf().to_device("cpu"), NotFittedError, "not fitted"),
    Case("predict-width", lambda e: e.clf.predict(e.X[:, :3]), ValueError, "features"),
    Case("transform-width", lambda e: e.clf.transform(np.c_[e.X, e.X]), ValueError, "features"),
    Case("predict-nan", lambda e: e.clf.predict(np.full((2, 5), np.nan)), ValueError, "NaN"),
    Case("decision-inf", lambda e: e.clf.decision_function(np.full((2, 5), np.inf)), ValueError, "infinity"),
    Case("predict-1d", lambda e: e.clf.predict(e.X[0]), ValueError, "2D"),
    Case("score-y-length", lambda e: e.clf.score(e.X, e.y[:5]), ValueError, "inconsistent"),
    Case("to_device-name", lambda e: e.clf.to_device("tpu"), ValueError, "not a valid device"),
    Case("preset-unknown", lambda e: NMTuneClassifier.from_preset("nope"), ValueError, "Unknown preset"),
    Case("preset-bad-override", lambda e: NMTuneClassifier.from_preset("lp", bogus=1), TypeError, "bogus"),
]
if not torch.cuda.is_available():
    ESTIMATOR.append(Case("param-device-cuda", _fit(device="cuda"), ValueError, "CUDA is not available"))


TRANSFORMER = [
    Case("backbone-int", _ext(123), TypeError, "Unsupported backbone"),
    Case("backbone-unknown-name", _ext("definitely_not_a_model_xyz"), ValueError, "Unknown backbone"),
    Case("backbone-file", lambda e: _ext(str(e.random))(e), ValueError, "is a file"),
    Case("backbone-empty-dir", lambda e: _ext(str(e.root / "empty_dir"))(e), ValueError, "no sentence-transformers"),
    Case("kind-unknown", _ext(kind="bogus"), ValueError, "kind must be one of"),
    Case("kind-timm-module", _ext(kind="timm"), TypeError, "kind='timm'"),
    Case("kind-callable-string", _ext("resnet18", kind="callable"), TypeError, "callable"),
    Case("image_size-word", _ext(image_size="big"), ValueError, "image_size"),
    Case("image_size-triple", _ext(image_size=(1, 2, 3)), ValueError, "image_size"),
    Case("image_size-zero", _ext(image_size=0), ValueError, "positive"),
    Case("crop_pct-zero", _ext(crop_pct=0), ValueError, "crop_pct"),
    Case("crop_pct-above-1", _ext(crop_pct=1.5), ValueError, "crop_pct"),
    Case("interpolation", _ext(interpolation="cubic2"), ValueError, "interpolation"),
    Case("mean-without-std", _ext(mean=(0.5, 0.5, 0.5)), ValueError, "together"),
    Case("std-zero", _ext(mean=(0.5,), std=(0.0,)), ValueError, "positive"),
    Case("mean-length", _ext(mean=(0.5, 0.5), std=(1.0, 1.0)), ValueError, "entries"),
    Case("batch_size-zero", _ext(batch_size=0), ValueError, "batch_size"),
    Case("batch_size-bool", _ext(batch_size=True), ValueError, "batch_size"),
    Case("max_retries", _ext(max_retries=-1), ValueError, "max_retries"),
    Case("backoff", _ext(backoff=-1.0), ValueError, "backoff"),
    Case("retry_on", _ext(retry_on=(int,)), ValueError, "retry_on"),
    Case("num_workers", _ext(num_workers=-1), ValueError, "num_workers"),
    Case("amp_dtype", _ext(amp_dtype="fp8"), ValueError, "amp_dtype"),
    Case("pair_features", _ext(pair_features=("x",)), ValueError, "pair_features"),
    Case("cache-type", lambda e: FrozenBackboneTransformer(e.net, device="cpu", cache=123).transform(e.X), TypeError,
         "cache must be"),
    Case("device-name", lambda e: FrozenBackboneTransformer(e.net, device="tpu").fit(e.X), ValueError,
         "not a valid device"),
    Case("vectors-nan", lambda e: FrozenBackboneTransformer(e.net, device="cpu").fit(np.full((3, 5), np.nan)),
         ValueError, "NaN"),
    Case("vectors-width", lambda e: FrozenBackboneTransformer(e.net, device="cpu").fit(e.X).transform(e.X[:, :2]),
         ValueError, "features"),
    Case("module-nan-output", lambda e: FrozenBackboneTransformer(torch.nn.Sequential(torch.nn.Linear(5, 2), torch.nn.Threshold(
        10.0, float("nan"))), device="cpu").fit_transform(e.X), ValueError, "NaN"),
    Case("callable-rows", lambda e: FrozenBackboneTransformer(lambda b: np.ones((1, 2)), cache_key="k").fit_transform(e.X),
         ValueError, "expected (40, n_features)"),
    Case("callable-nan", lambda e: FrozenBackboneTransformer(lambda b: np.full((len(b), 2), np.nan)).fit_transform(e.X),
         ValueError, "NaN"),
    Case("names-before-fit", lambda e: FrozenBackboneTransformer(e.net, device="cpu").get_feature_names_out(),
         NotFittedError, "not fitted"),
    Case("image-float-range", lambda e: _img().transform(np.full((2, 8, 8, 3), 2.0, dtype=np.float32)), ValueError, "[0, 1]"),
    Case("image-rank-5", lambda e: _img().transform(np.zeros((1, 2, 8, 8, 3), dtype=np.uint8)), ValueError, "rank"),
    Case("image-channels", lambda e: _img().transform(np.zeros((2, 8, 8, 5), dtype=np.uint8)), ValueError, "channel"),
    Case("image-nan", lambda e: _img().transform(np.full((2, 8, 8, 3), np.nan, dtype=np.float32)), ValueError, "NaN"),
    Case("image-int-range", lambda e: _img().transform(np.full((2, 8, 8, 3), 300, dtype=np.int32)), ValueError, "[0, 255]"),
    Case("image-missing-paths", lambda e: _img().transform(["nope1.png", "nope2.png"]), ValueError, "existing file"),
    Case("image-one-missing", lambda e: _img().transform([e.images[0], str(e.root / "gone.png")]), FileNotFoundError,
         "does not exist"),
    Case("image-corrupt", lambda e: _img().transform([e.images[0], e.corrupt_image]), ValueError, "Cannot read image file"),
    Case("image-pairs", lambda e: _img().transform([("a", "b")]), ValueError, "sentence pairs"),
    Case("image-native-sizes", lambda e: _img(image_size="native").transform([e.images[0], str(e.root / "big.png")]),
         ValueError, "different sizes"),
    Case("weights-missing", lambda e: _img(weights=str(e.root / "none.pth")).transform(np.zeros((1, 8, 8, 3), np.uint8)),
         FileNotFoundError, "weights file"),
    Case("weights-random-bytes", lambda e: _img(weights=str(e.random)).transform(np.zeros((1, 8, 8, 3), np.uint8)),
         ValueError, "weights file"),
    Case("weights-malicious-pickle", lambda e: _img(weights=str(e.evil_pickle)).transform(np.zeros((1, 8, 8, 3), np.uint8)),
         ValueError, "safely"),
]


def _corrupt_worker_error(e: Env) -> None:
    """The DataLoader-worker path: the original message (file, index) must come first."""
    ext = FrozenBackboneTransformer("cifar_resnet20", pretrained=False, device="cpu", num_workers=1, batch_size=2)
    try:
        ext.transform([e.images[0], e.images[1], e.corrupt_image])
    except ValueError as exc:
        assert str(exc).startswith(f"Cannot read image file {e.corrupt_image!r} (index 2)"), str(exc)
        raise


TRANSFORMER.append(Case("image-corrupt-worker", _corrupt_worker_error, ValueError, "index 2"))


def _cache_into_file(e: Env) -> None:
    with FeatureCache(e.random).namespace("x").writer() as w:
        w.add(np.array([b"a" * 16], dtype="S16"), np.ones((1, 2)))


CACHE = [
    Case("cache-chunk_rows-zero", lambda e: FeatureCache(e.root / "c", chunk_rows=0), ValueError, "chunk_rows"),
    Case("cache-chunk_rows-negative", lambda e: FeatureCache(e.root / "c", chunk_rows=-5), ValueError, "chunk_rows"),
    Case("cache-add-mismatch", lambda e: FeatureCache(e.root / "c").namespace("x").writer().add(
        np.array([b"a" * 16], dtype="S16"), np.ones((2, 3))), ValueError, "keys for"),
    Case("cache-directory-is-a-file", _cache_into_file, (FileExistsError, NotADirectoryError), "random.bin"),
    Case("transformer-cache-is-a-file", lambda e: FrozenBackboneTransformer(e.net, device="cpu", cache=e.random).fit_transform(
        e.X), (FileExistsError, NotADirectoryError), "random.bin"),
]
CACHE_PARAMETERS = [
    Case("cache-chunk_rows-text", lambda e: FeatureCache(e.root / "c", chunk_rows="x"), ValueError, "chunk_rows"),
    Case("cache-chunk_rows-float", lambda e: FeatureCache(e.root / "c", chunk_rows=2.5), ValueError, "chunk_rows"),
    Case("cache-chunk_rows-zero", lambda e: FeatureCache(e.root / "c", chunk_rows=0), ValueError, "chunk_rows"),
    Case("cache-flush_seconds-text", lambda e: FeatureCache(e.root / "c", flush_seconds="x"), ValueError, "flush_seconds"),
    Case("cache-flush_seconds-negative", lambda e: FeatureCache(e.root / "c", flush_seconds=-1), ValueError,
         "flush_seconds"),
    Case("cache-flush_seconds-nan", lambda e: FeatureCache(e.root / "c", flush_seconds=float("nan")), ValueError,
         "flush_seconds"),
]

SPECTRAL_FUNCTIONS = [singular_values, singular_value_entropy, largest_singular_value_ratio, rankme, spectral_summary]
SPECTRAL_INPUTS = [
    ("nan", np.array([[1.0, np.nan], [0.0, 1.0]]), {}, ValueError, "NaN"),
    ("inf", np.array([[1.0, np.inf], [0.0, 1.0]]), {}, ValueError, "infinity"),
    ("1d", np.arange(5.0), {}, ValueError, "2D"),
    ("3d", np.ones((2, 2, 2)), {}, ValueError, "dim 3"),
    ("no-rows", np.empty((0, 3)), {}, ValueError, "0 sample"),
    ("no-columns", np.empty((3, 0)), {}, ValueError, "0 feature"),
    ("zeros", np.zeros((4, 3)), {}, ValueError, "all zeros"),
    ("constant-centered", np.ones((4, 3)), {"center": True}, ValueError, "all zeros"),
    ("strings", np.array([["a", "b"], ["c", "d"]]), {}, ValueError, "convert"),
    ("complex", np.ones((2, 2), dtype=complex), {}, ValueError, "Complex"),
]
SPECTRAL = [
    Case(f"{func.__name__}-{name}", (lambda f, X, kw: lambda e: f(X, **kw))(func, X, kw), exc, keyword)
    for func in SPECTRAL_FUNCTIONS
    for name, X, kw, exc, keyword in SPECTRAL_INPUTS
]

SCORER = [
    Case("scorer-lsvr", lambda e: SpectralScorer("lsvr")(e.clf, e.X), ValueError, "neg_lsvr"),
    Case("scorer-metric", lambda e: SpectralScorer("bogus")(e.clf, e.X), ValueError, "metric must be"),
    Case("scorer-metric-in-list", lambda e: SpectralScorer(["sve", "bogus"])(e.clf, e.X), ValueError, "metric must be"),
    Case("scorer-metric-twice", lambda e: SpectralScorer(["sve", "sve"])(e.clf, e.X), ValueError, "twice"),
    Case("scorer-representation", lambda e: SpectralScorer(representation="bogus")(e.clf, e.X), ValueError,
         "representation must be"),
    Case("scorer-scoring-clash", lambda e: SpectralScorer("sve", scoring={"sve": "accuracy"})(e.clf, e.X, e.y),
         ValueError, "reuses"),
    Case("scorer-scoring-needs-y", lambda e: SpectralScorer("sve", scoring={"acc": "accuracy"})(e.clf, e.X),
         ValueError, "needs y"),
    Case("scorer-output-without-transform", lambda e: SpectralScorer(representation="output")(
        LogisticRegression().fit(e.X, e.y), e.X), ValueError, "transform()"),
    Case("scorer-unfitted", lambda e: SpectralScorer()(_clf(), e.X), NotFittedError, "not fitted"),
    Case("scorer-nan", lambda e: SpectralScorer()(e.clf, np.full((3, 5), np.nan)), ValueError, "NaN"),
    Case("scorer-width", lambda e: SpectralScorer()(e.clf, e.X[:, :2]), ValueError, "features"),
    Case("scorer-zero-input", lambda e: SpectralScorer(representation="input")(e.clf, np.zeros((4, 5))), ValueError,
         "all zeros"),
]

NOISE_FUNCTIONS = [symmetric_label_noise, pair_label_noise, lambda y, rate, **kw: inject_label_noise(y, rate, **kw)]
NOISE = [
    Case(f"{kind}-{label}", (lambda f, rate: lambda e: f(e.y, rate, random_state=0))(f, rate), ValueError, "noise_rate")
    for kind, f in zip(("symmetric", "pair", "inject"), NOISE_FUNCTIONS)
    for label, rate in (("negative", -0.1), ("one", 1.0), ("text", "0.1"), ("nan", float("nan")))
] + [
    Case("noise-y-2d", lambda e: symmetric_label_noise(np.c_[e.y, e.y], 0.1), ValueError, "1-D"),
    Case("noise-y-empty", lambda e: symmetric_label_noise([], 0.1), ValueError, "empty"),
    Case("noise-y-nan", lambda e: pair_label_noise([0.0, np.nan, 1.0], 0.1), ValueError, "NaN"),
    Case("noise-classes-missing", lambda e: symmetric_label_noise(e.y, 0.1, classes=[0, 1]), ValueError, "missing"),
    Case("noise-classes-duplicated", lambda e: symmetric_label_noise(e.y, 0.1, classes=[0, 1, 1, 2]), ValueError,
         "duplicated"),
    Case("noise-classes-single", lambda e: symmetric_label_noise([0, 0], 0.1, classes=[0]), ValueError, "at least 2"),
    Case("noise-classes-2d", lambda e: symmetric_label_noise(e.y, 0.1, classes=[[0, 1, 2]]), ValueError, "1-D"),
    Case("noise-kind", lambda e: inject_label_noise(e.y, 0.1, kind="bogus"), ValueError, "kind must be"),
    Case("noise-unsortable", lambda e: pair_label_noise(np.array([1, "a", 2.5], dtype=object), 0.1), ValueError, "sorted"),
]


def _modules_edit(header: dict) -> None:
    tensors = _clf_node(header)["modules"]["module_"]
    tensors["mlp.0.weight"]["member"] = tensors["classifier.bias"]["member"]  # float32, of another shape


def _evil_npy() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.array([_Marker(Path("/nonexistent-dir/never"))], dtype=object), allow_pickle=True)
    return buffer.getvalue()


def _set(path: tuple, value: Any) -> Callable[[dict], None]:
    def edit(header: dict) -> None:
        node = header
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return edit


def _del(path: tuple) -> Callable[[dict], None]:
    def edit(header: dict) -> None:
        node = header
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return edit


def _module_entry(module: str, qualname: str) -> dict:
    return {"__kind__": "torch_module", "module": module, "qualname": qualname, "init_kwargs": {"__kind__": "dict",
            "items": []}, "state": {}, "training": False}


def _npy_header(shape: tuple, descr: str = "<f8") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def _backbone_model(e: Env, **params: Any) -> Path:
    return save(FrozenBackboneTransformer("cifar_resnet20", pretrained=False, **params), e.root / "backbone.skn")


class _MyClassifier(NMTuneClassifier):
    pass


def _with_attribute(value: Any) -> Callable[[Env], Any]:
    def action(e: Env) -> Any:
        clf = NMTuneClassifier(**FAST)
        clf.extra_ = value
        return save(clf, e.root / "attr.skn")
    return action


def _cycle() -> list:
    items: list = []
    items.append(items)
    return items


PERSISTENCE = [
    Case("load-missing", lambda e: load(e.root / "missing.skn"), FileNotFoundError, "not found"),
    Case("load-directory", lambda e: load(e.root / "empty_dir"), ModelFileError, "directory"),
    Case("load-empty", lambda e: load(e.empty), ModelFileError, "empty"),
    Case("load-random-bytes", lambda e: load(e.random), ModelFileError, "not an sknmtune model file"),
    Case("load-text", lambda e: load(e.text), ModelFileError, "text"),
    Case("load-npy", lambda e: load(e.root / "array.npy"), ModelFileError, ".npy"),
    Case("load-npz", lambda e: load(e.root / "arrays.npz"), ModelFileError, ".npz"),
    Case("load-torch-save", lambda e: load(e.root / "state.pt"), ModelFileError, "torch.save"),
    Case("load-plain-joblib", lambda e: load(e.root / "plain.joblib"), ModelFileError, "trusted=True"),
    Case("load-compressed-joblib", lambda e: load(e.root / "compressed.joblib"), ModelFileError, "trusted=True"),
    Case("load-malicious-pickle", lambda e: load(e.evil_pickle), ModelFileError, "trusted=True"),
    Case("load-malicious-pickle-protocol-0", lambda e: load(e.evil_pickle0), ModelFileError, "trusted=True"),
    Case("load-malicious-joblib", lambda e: load(e.root / "evil.joblib"), ModelFileError, "trusted=True"),
    Case("load-truncated-10", lambda e: load(e.truncated[10]), ModelFileError, "truncated"),
    Case("load-truncated-50", lambda e: load(e.truncated[50]), ModelFileError, "truncated"),
    Case("load-truncated-90", lambda e: load(e.truncated[90]), ModelFileError, "truncated"),
    Case("trusted-truncated-joblib", lambda e: load(e.truncated_joblib, trusted=True), ModelFileError, "could not be unpickled"),
    Case("trusted-random-bytes", lambda e: load(e.random, trusted=True), ModelFileError, "could not be unpickled"),
    Case("trusted-empty", lambda e: load(e.empty, trusted=True), ModelFileError, "empty"),
    Case("trusted-dict", lambda e: load(e.root / "dict.joblib", trusted=True), ModelFileError, "wrong kind of object"),
    Case("json-invalid", _load_edit("bad-json.skn", lambda h: "{not json"), ModelFileError, "not valid JSON"),
    Case("json-list", _load_edit("list.skn", lambda h: "[1, 2]"), ModelFileError, "does not name the format"),
    Case("format-name", _load_edit("name.skn", _set(("format",), "other-format")), ModelFileError, "does not name the format"),
    Case("format-newer", _load_edit("newer.skn", _set(("format_version",), 99)), ModelFileError, "newer"),
    Case("format-version-text", _load_edit("vtext.skn", _set(("format_version",), "1")), ModelFileError, "format_version"),
    Case("format-version-zero", _load_edit("vzero.skn", _set(("format_version",), 0)), ModelFileError, "format_version"),
    Case("root-not-estimator", _load_edit("root.skn", _set(("object",), [1, 2])), ModelFileError, "wrong kind of object"),
    Case("class-os-system", _load_edit("os.skn", _set(("object", "class"), "os.system")), ModelFileError,
         "not one of the classes"),
    Case("class-builtins-eval", _load_edit("eval.skn", _set(("object", "class"), "builtins.eval")), ModelFileError,
         "not one of the classes"),
    Case("class-subprocess", _load_edit("popen.skn", _set(("object", "class"), "subprocess.Popen")), ModelFileError,
         "not one of the classes"),
    Case("kind-unknown", _load_edit("kind.skn", _set(("object", "attributes", "classes_", "__kind__"), "pickle")),
         ModelFileError, "unknown entry kind"),
    Case("member-missing", _load_edit("member.skn", drop=("arrays/0.npy",)), ModelFileError, "does not hold"),
    Case("member-pickled-object-array", _load_edit("objnpy.skn", members={"arrays/0.npy": _evil_npy()}), ModelFileError,
         "not a plain NumPy array"),
    Case("member-garbage", _load_edit("garbage.skn", members={"arrays/0.npy": b"garbage"}), ModelFileError,
         "not a NumPy .npy file"),
    Case("weights-wrong-shape", _load_edit("shape.skn", _modules_edit), ModelFileError, "do not fit the architecture"),
    Case("weights-n_features", _load_edit("nfeat.skn", _set(("object", "attributes", "n_features_in_"), 7)), ModelFileError,
         "do not fit the architecture"),
    Case("module-unknown", _load_edit("module.skn", lambda h: _clf_node(h)["modules"].update(other_={})), ModelFileError,
         "cannot rebuild"),
    Case("param-unknown", _load_edit("punknown.skn", _set(("object", "params", "bogus"), 1)), ModelFileError, "unknown: bogus"),
    Case("param-missing", _load_edit("pmissing.skn", _del(("object", "params", "lr"))), ModelFileError, "missing: lr"),
    Case("param-invalid-value", _load_edit("pvalue.skn", _set(("object", "params", "lr"), -1.0)), ModelFileError,
         "invalid parameter"),
    Case("pipeline-memory", lambda e: load(save(make_pipeline(StandardScaler(), memory=str(e.root / "joblib-cache")),
                                                e.root / "memory.skn")), ModelFileError, "memory="),
    Case("attribute-shadows-method", _load_edit("shadow.skn", _set(("object", "attributes", "predict"), "x")),
         ModelFileError, "not allowed"),
    Case("attribute-dunder", _load_edit("dunder.skn", _set(("object", "attributes", "__class__"), "x")), ModelFileError,
         "not allowed"),
    Case("attribute-not-identifier", _load_edit("ident.skn", _set(("object", "attributes", "a b"), 1)), ModelFileError,
         "not allowed"),
    Case("tensor-dtype", _load_edit("tdtype.skn", lambda h: _clf_node(h)["modules"]["module_"]["classifier.bias"].update(
        dtype="Tensor")), ModelFileError, "unknown tensor dtype"),
    Case("scalar-object-dtype", _load_edit("odtype.skn", _set(("object", "attributes", "n_iter_"), {
        "__kind__": "scalar", "dtype": "|O", "value": 1})), ModelFileError, "not allowed"),
    Case("objects-shape", _load_edit("oshape.skn", _set(("object", "attributes", "n_iter_"), {
        "__kind__": "objects", "shape": [5], "items": [1]})), ModelFileError, "object array"),
    Case("float-text", _load_edit("ftext.skn", _set(("object", "attributes", "n_iter_"), {
        "__kind__": "float", "value": "__import__('os')"})), ModelFileError, "malformed float"),
    Case("builtin-type", _load_edit("btype.skn", _set(("object", "attributes", "n_iter_"), {
        "__kind__": "type", "value": "eval"})), ModelFileError, "not allowed"),
    Case("backbone-trust_remote_code", lambda e: load(_backbone_model(e, model_kwargs={"trust_remote_code": True})),
         ModelFileError, "trust_remote_code"),
    Case("backbone-runtime-cache", lambda e: load(_rewrite_backbone(e)), ModelFileError, "not allowed"),
    Case("map_location", lambda e: load(e.model, map_location="tpu"), ValueError, "not a valid device"),
    Case("save-module-backbone", lambda e: save(FrozenBackboneTransformer(_hooked(e.net)), e.root / "m.skn"), TypeError,
         "backbone"),
    Case("module-backbone-untrusted", _load_edit("untrusted.skn", _set(("object", "attributes", "n_iter_"),
                                                                        _module_entry("os", "system"))),
         ModelFileError, "'os.system'"),
    Case("module-backbone-bad-name", _load_edit("badname.skn", _set(("object", "attributes", "n_iter_"), _module_entry(
        "os;rm", "x"))), ModelFileError, "trusted=["),
    Case("module-backbone-not-a-module", lambda e: load(_rewrite(e, "notmod.skn", _set(
        ("object", "attributes", "n_iter_"), _module_entry("collections", "OrderedDict"))), trusted=["collections.OrderedDict"]),
         ModelFileError, "not a torch.nn.Module class"),
    Case("trusted-a-string", lambda e: load(e.model, trusted="os.system"), TypeError, "list of type names"),
    Case("max-bytes-zero", lambda e: load(e.model, max_bytes=0), ValueError, "max_bytes"),
    Case("max-bytes-small", lambda e: load(e.model, max_bytes=64), ModelFileError, "max_bytes=64"),
    Case("npy-absurd-shape", _load_edit("absurd.skn", members={"arrays/0.npy": _npy_header((2**40, 2**40))}),
         ModelFileError, "is refused"),
    Case("npy-object-header", _load_edit("objheader.skn", members={"arrays/0.npy": _npy_header((3,), "|O")}),
         ModelFileError, "holds Python objects"),
    Case("npy-version-3", _load_edit("npy3.skn", members={"arrays/0.npy": b"\x93NUMPY\x03\x00" + bytes(8)}),
         ModelFileError, "format version"),
    Case("save-callable-backbone", lambda e: save(FrozenBackboneTransformer(len), e.root / "m.skn"), TypeError,
         "backbone"),
    Case("save-function-transformer", lambda e: save(FunctionTransformer(np.log1p), e.root / "m.skn"), TypeError,
         "not one of the classes"),
    Case("save-subclass", lambda e: save(_MyClassifier(), e.root / "m.skn"), TypeError, "not one of the classes"),
    Case("save-callable-scoring", lambda e: save(NMTuneClassifierCV(scoring=len), e.root / "m.skn"), TypeError,
         "scoring"),
    Case("save-lambda-attribute", _with_attribute(lambda: 0), TypeError, "extra_"),
    Case("save-object-attribute", _with_attribute(object()), TypeError, "extra_"),
    Case("save-cycle", _with_attribute(_cycle()), TypeError, "cycle"),
    Case("save-not-an-estimator", lambda e: save({"model": 1}, e.root / "m.skn"), TypeError, "estimator or Pipeline"),
    Case("save-class-not-instance", lambda e: save(NMTuneClassifier, e.root / "m.skn"), TypeError, "estimator or Pipeline"),
    Case("save-format", lambda e: save(e.clf, e.root / "m.skn", format="pickle"), ValueError, "format must be"),
    Case("save-pickle-name", lambda e: save(e.clf, e.root / "m.joblib"), ValueError, "extension of a pickle"),
    Case("save-safe-name-for-pickle", lambda e: save(e.clf, e.root / "m.skn", format="joblib"), ValueError,
         "extension of the safe format"),
    Case("save-into-directory", lambda e: save(e.clf, e.root / "empty_dir"), IsADirectoryError, "directory"),
    Case("save-missing-parent", lambda e: save(e.clf, e.root / "no" / "such" / "m.skn"), FileNotFoundError,
         "does not exist"),
    Case("save-compress", lambda e: save(e.clf, e.root / "m.skn", compress=11), ValueError, "compress"),
]


def _rewrite_backbone(e: Env) -> Path:
    path = _backbone_model(e)
    header = json.loads(zipfile.ZipFile(path).read("sknmtune.json"))
    header["object"]["attributes"]["_backend"] = "x"
    out = e.root / "backbone-cache.skn"
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("sknmtune.json", json.dumps(header))
    return out


CASES = [
    *(("estimator", c) for c in ESTIMATOR),
    *(("transformer", c) for c in TRANSFORMER),
    *(("cache", c) for c in CACHE),
    *(("spectral", c) for c in SPECTRAL),
    *(("scorer", c) for c in SCORER),
    *(("noise", c) for c in NOISE),
    *(("persistence", c) for c in PERSISTENCE),
]


@pytest.mark.parametrize("entry, case", CASES, ids=[f"{entry}:{case.name}" for entry, case in CASES])
def test_bad_input_raises_a_named_error(env, entry, case):
    with pytest.raises(case.exc) as info:
        case.action(env)
    assert case.keyword.lower() in str(info.value).lower(), str(info.value)
    assert not env.marker.exists(), "a hostile input ran code"


@pytest.mark.parametrize("case", CACHE_PARAMETERS, ids=[c.name for c in CACHE_PARAMETERS])
def test_cache_parameter_errors_name_the_parameter(env, case):
    with pytest.raises(case.exc) as info:
        case.action(env)
    assert case.keyword in str(info.value)


# ------------------------------------------------------------------------------------------ command line


CLI = [
    # (name, argv with {d} for the files directory, exit status, keyword)
    ("predict-random-bytes", ["predict", "{d}/random.bin", "{d}/F.npy", "-o", "{d}/p.npy"], 2, "not an sknmtune model file"),
    ("predict-empty", ["predict", "{d}/empty.skn", "{d}/F.npy", "-o", "{d}/p.npy"], 2, "empty"),
    ("predict-npy-model", ["predict", "{d}/array.npy", "{d}/F.npy", "-o", "{d}/p.npy"], 2, ".npy"),
    ("predict-text-model", ["predict", "{d}/model.txt", "{d}/F.npy", "-o", "{d}/p.npy"], 2, "text"),
    ("predict-truncated", ["predict", "{d}/trunc50.skn", "{d}/F.npy", "-o", "{d}/p.npy"], 2, "truncated"),
    ("predict-pickle", ["predict", "{d}/plain.joblib", "{d}/F.npy", "-o", "{d}/p.npy"], 2, "--trusted"),
    ("predict-malicious-pickle", ["predict", "{d}/evil.pkl", "{d}/F.npy", "-o", "{d}/p.npy"], 2, "--trusted"),
    ("predict-newer-format", ["predict", "{d}/newer.skn", "{d}/F.npy", "-o", "{d}/p.npy"], 2, "newer"),
    ("predict-not-a-classifier", ["predict", "{d}/scaler.skn", "{d}/F.npy", "-o", "{d}/p.npy"], 2, "no predict()"),
    ("predict-proba-unsupported", ["predict", "{d}/svc.skn", "{d}/F.npy", "-o", "{d}/p.npy", "--proba"], 2,
     "no predict_proba()"),
    ("predict-trusted-random", ["predict", "{d}/random.bin", "{d}/F.npy", "-o", "{d}/p.npy", "--trusted"], 2,
     "could not be unpickled"),
    ("predict-trusted-dict", ["predict", "{d}/dict.joblib", "{d}/F.npy", "-o", "{d}/p.npy", "--trusted"], 2,
     "wrong kind of object"),
    ("predict-width", ["predict", "{d}/model.skn", "{d}/F3.npy", "-o", "{d}/p.npy"], 2, "features"),
    ("predict-labels-table", ["predict", "{d}/model.skn", "{d}/F.npy", "-o", "{d}/p.npy", "--labels", "{d}/y_table.csv"], 2,
     "line 1"),
    ("spectrum-model-pickle", ["spectrum", "{d}/F.npy", "--model", "{d}/plain.joblib"], 2, "--trusted"),
    ("spectrum-model-no-transform", ["spectrum", "{d}/F.npy", "--model", "{d}/logreg.skn"], 2, "no transform()"),
    ("spectrum-model-damaged", ["spectrum", "{d}/F.npy", "--model", "{d}/trunc90.skn"], 2, "truncated"),
    ("spectrum-model-malicious", ["spectrum", "{d}/F.npy", "--model", "{d}/evil.joblib"], 2, "--trusted"),
    ("spectrum-overflow", ["spectrum", "{d}/F_huge.npy"], 1, "not finite"),
    ("spectrum-object-npy", ["spectrum", "{d}/F_obj.npy"], 2, "could not be read"),
    ("spectrum-nan", ["spectrum", "{d}/F_nan.npy"], 2, "NaN"),
    ("spectrum-1d", ["spectrum", "{d}/F_1d.npy"], 2, "2-D"),
    ("spectrum-zeros", ["spectrum", "{d}/F_zero.npy"], 2, "all zeros"),
    ("fit-pickle-name", ["fit", "{d}/F.npy", "--labels", "{d}/y.npy", "-o", "{d}/out.joblib"], 2, "extension of a pickle"),
    ("fit-safe-name-joblib", ["fit", "{d}/F.npy", "--labels", "{d}/y.npy", "-o", "{d}/out.skn", "--format", "joblib"], 2,
     "extension of the safe format"),
    ("fit-format-choice", ["fit", "{d}/F.npy", "--labels", "{d}/y.npy", "-o", "{d}/out.skn", "--format", "pickle"], 2,
     "invalid choice"),
    ("fit-labels-two-columns", ["fit", "{d}/F.npy", "--labels", "{d}/y_pairs.csv", "-o", "{d}/out.skn"], 2, "line 1"),
    ("fit-labels-tabs", ["fit", "{d}/F.npy", "--labels", "{d}/y_tabs.txt", "-o", "{d}/out.skn"], 2, "line 1"),
    ("fit-labels-blank-line", ["fit", "{d}/F.npy", "--labels", "{d}/y_gap.txt", "-o", "{d}/out.skn"], 2, "line 3"),
    ("fit-labels-count", ["fit", "{d}/F.npy", "--labels", "{d}/y_short.txt", "-o", "{d}/out.skn"], 2, "30 labels for 40"),
    ("fit-labels-not-utf8", ["fit", "{d}/F.npy", "--labels", "{d}/y_latin1.txt", "-o", "{d}/out.skn"], 2, "UTF-8"),
    ("fit-labels-unterminated-quote", ["fit", "{d}/F.npy", "--labels", "{d}/y_quote.txt", "-o", "{d}/out.skn"], 2,
     "line 3"),
    ("demo-label-column-alone", ["demo", "--label-column", "label", "--no-plot"], 2, "needs --labels"),
    ("fit-labels-blank-file", ["fit", "{d}/F.npy", "--labels", "{d}/y_blank.txt", "-o", "{d}/out.skn"], 2, "no labels"),
    ("fit-label-column-unknown", ["fit", "{d}/F.npy", "--labels", "{d}/y_table.csv", "--label-column", "target", "-o",
                                  "{d}/out.skn"], 2, "no column 'target'"),
    ("fit-label-column-short-row", ["fit", "{d}/F.npy", "--labels", "{d}/y_short_row.csv", "--label-column", "label",
                                    "-o", "{d}/out.skn"], 2, "line 3"),
    ("fit-label-column-empty-value", ["fit", "{d}/F.npy", "--labels", "{d}/y_empty_value.csv", "--label-column", "label",
                                      "-o", "{d}/out.skn"], 2, "line 3"),
    ("fit-label-column-npy", ["fit", "{d}/F.npy", "--labels", "{d}/y.npy", "--label-column", "label", "-o",
                              "{d}/out.skn"], 2, "--label-column"),
    ("fit-label-column-without-labels", ["fit", "{d}/F.npy", "--label-column", "label", "-o", "{d}/out.skn"], 2,
     "needs --labels"),
    ("extract-corrupt-image-workers", ["extract", "{d}/images", "--backbone", "cifar_resnet20", "--no-pretrained",
                                       "--device", "cpu", "--quiet", "-o", "{d}/f.npz"], 2, "Cannot read image file"),
]


@pytest.mark.parametrize("name, argv, status, keyword", CLI, ids=[c[0] for c in CLI])
def test_cli_bad_input_exits_with_one_line(env, capsys, name, argv, status, keyword):
    if name == "predict-newer-format":
        _rewrite(env, "newer.skn", _set(("format_version",), 99))
    argv = [a.format(d=env.root) for a in argv]
    assert main(argv) == status
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sknmtune: error: "), err
    assert keyword.lower() in err[0].lower(), err[0]
    if "model" in name or "predict" in name:
        assert "model file" in err[0] or "labels" in err[0] or "features" in err[0], err[0]
    assert not env.marker.exists(), "a hostile input ran code"
    assert not (env.root / "out.joblib").exists() and not (env.root / "out.skn").exists()


class ReliabilityNet(torch.nn.Module):
    """A user's own backbone (importable, built as ``ReliabilityNet()``) for the --trusted-type test."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.lin(x))


def test_cli_trusted_type_loads_a_custom_module_backbone(env, capsys):
    pipe = make_pipeline(FrozenBackboneTransformer(ReliabilityNet(), device="cpu"), NMTuneClassifier(**FAST)).fit(env.X, env.y)
    model = save(pipe, env.root / "custom.skn")
    name = f"{ReliabilityNet.__module__}.ReliabilityNet"
    argv = ["predict", str(model), str(env.root / "F.npy"), "-o", str(env.root / "custom.npy")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"'{name}'" in err[0] and "--trusted-type" in err[0], err
    assert main([*argv, "--trusted-type", "other.Net", "--trusted-type", name]) == 0
    np.testing.assert_array_equal(np.load(env.root / "custom.npy"), pipe.predict(env.X))


def test_matrix_size():
    """The matrix covers every public entry point with at least 150 inputs in all."""
    per_entry: dict[str, int] = {}
    for entry, _ in CASES:
        per_entry[entry] = per_entry.get(entry, 0) + 1
    per_entry["cli"] = len(CLI)
    assert set(per_entry) == {"estimator", "transformer", "cache", "spectral", "scorer", "noise", "persistence", "cli"}
    assert sum(per_entry.values()) >= 150, per_entry


# ------------------------------------------------------------------ bugs found by the generated tests (issue 37)


def test_fuzz_found_a_last_step_overflow_giving_nan_predictions():
    """tests/test_fuzz.py::test_regressor: lr=1e6 on two rows left NaN weights (the loss was finite at every step,
    the last update overflowed) and the fit returned a model that predicted NaN. Now TrainingDivergedError."""
    from sknmtune import TrainingDivergedError
    from sknmtune.heads import NMTuneRegressor

    X = np.array([[0.12573022, -0.13210486], [0.64042265, 0.10490012]])
    reg = NMTuneRegressor(**{**FAST, "max_epochs": 2, "lr": 1e6})
    with pytest.raises(TrainingDivergedError, match="not finite"):
        reg.fit(X, np.array([0.3, -1.2]))
    assert not hasattr(reg, "module_")


def test_fuzz_found_predicting_on_an_empty_views_axis_raised_index_error(env):
    """tests/test_fuzz.py: predict_proba on an array of shape (0, 0, 0) raised a bare IndexError."""
    with pytest.raises(ValueError, match="views axis"):
        env.clf.predict_proba(np.zeros((0, 0, 0)))
    with pytest.raises(ValueError, match="views axis"):
        env.clf.predict(np.zeros((3, 0, 5)))
