"""Loaders for the shared benchmark data in ``../shared/data`` (read in place, never copied).

Every loader returns a :class:`Dataset` (inputs ``X``, integer labels ``y``, class names and a short
provenance note) and raises :class:`DatasetUnavailable` -- with a message naming the missing folder --
when the data is absent, so that callers (the benchmark runner, the smoke tests) can skip cleanly.

Input conventions, chosen to match what :class:`sknmtune.FrozenBackboneTransformer` accepts:

* single-sentence text tasks: ``X`` is a ``list[str]``;
* sentence-pair (NLI) tasks: ``X`` is a ``list[tuple[str, str]]`` of (premise, hypothesis);
* images of one size: ``X`` is a ``uint8`` array of shape ``(N, H, W, 3)`` (RGB, HWC): 32x32 for
  the small-image sets, 128x128 for ``pacs-full``;
* images of varying size (Flowers-102, DTD-10): ``X`` is a list of ``uint8`` arrays ``(H, W, 3)``,
  decoded from the stored JPEGs unchanged (the backbone's own eval transform resizes them).

Grayscale digits are converted consistently: grey values are mapped to ``uint8`` (white digit on a
black background for both MNIST and USPS), resized to 32x32 with PIL bilinear resampling and
replicated to three channels. MNIST-M is already 32x32 RGB and is used as is.

NLI labels are mapped to one shared order for every source, :data:`NLI_CLASSES`
(``entailment=0, neutral=1, contradiction=2``).

The data root is ``<project>/../shared/data``; set the environment variable ``SKNMTUNE_DATA_DIR``
to point elsewhere. Generated data (the CIFAR-10-C-style corrupted test sets) is written once to
``benchmarks/cache/`` (git-ignored; ``$SKNMTUNE_BENCH_CACHE`` overrides it) and read back afterwards.

Examples
--------
>>> from benchmarks.datasets import DatasetUnavailable, load_cola
>>> try:
...     ds = load_cola("in_domain_dev")
... except DatasetUnavailable as exc:
...     print("skipped:", exc)
... else:
...     print(len(ds.X) == len(ds.y), ds.classes)
True ('unacceptable', 'acceptable')
"""

from __future__ import annotations

import gzip
import io
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CIFAR10_CLASSES",
    "CORRUPTION_FAMILIES",
    "NLI_CLASSES",
    "PACS_DOMAINS",
    "SENTIMENT_CLASSES",
    "DatasetUnavailable",
    "Dataset",
    "data_root",
    "gray_to_rgb32",
    "load_cifar10",
    "load_cifar10_c",
    "load_cola",
    "load_dtd10",
    "load_flowers102",
    "load_glue_sst2",
    "load_imdb_cad_sentiment",
    "load_mnist_m",
    "load_mnist_t10k",
    "load_mnli_dev_matched",
    "load_mrpc",
    "load_pacs",
    "load_pacs_full",
    "load_sick",
    "load_snli_cad",
    "load_uci_sentiment",
    "load_usps",
    "load_yelp_amazon",
    "read_lines",
    "read_zip_images",
    "require",
    "select_corruptions",
    "stratified_split",
    "subsample",
]

SENTIMENT_CLASSES: tuple[str, str] = ("negative", "positive")
NLI_CLASSES: tuple[str, str, str] = ("entailment", "neutral", "contradiction")
_NLI_INDEX = {name: i for i, name in enumerate(NLI_CLASSES)}
PACS_DOMAINS: tuple[str, ...] = ("photo", "art_painting", "cartoon", "sketch")
CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
#: The ImageNet-C corruption families (Hendrycks & Dietterich, 2019) used for the CIFAR-10-C-style
#: sets. ``glass_blur`` is left out: it takes seconds per image and ignores ``np.random.seed``.
CORRUPTION_FAMILIES: dict[str, tuple[str, ...]] = {
    "noise": ("gaussian_noise", "shot_noise", "impulse_noise"),
    "blur": ("defocus_blur", "motion_blur", "zoom_blur"),
    "weather": ("snow", "frost", "fog", "brightness"),
    "digital": ("contrast", "elastic_transform", "pixelate", "jpeg_compression"),
}


class DatasetUnavailable(FileNotFoundError):
    """A shared data folder (or a file inside it) is absent; callers should skip, not fail."""


@dataclass(frozen=True)
class Dataset:
    """One labelled split.

    Attributes
    ----------
    X : list of str, list of (str, str) tuples, or ndarray of uint8, shape (N, 32, 32, 3)
        The inputs, in the form the frozen backbone expects.
    y : ndarray of int64, shape (N,)
        Integer labels, indices into ``classes``.
    classes : tuple of str
        Class names.
    name : str
        Short identifier, e.g. ``"glue-sst2/test"``.
    note : str
        Provenance and preprocessing in one line (subsampling, truncation, conversions).
    """

    X: Any
    y: np.ndarray
    classes: tuple[str, ...]
    name: str
    note: str = ""

    def __len__(self) -> int:
        return len(self.y)


# --------------------------------------------------------------------------- paths and helpers


def data_root() -> Path:
    """Return the shared data directory (``$SKNMTUNE_DATA_DIR`` or ``<project>/../shared/data``)."""
    env = os.environ.get("SKNMTUNE_DATA_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


def require(folder: str, *relative: str) -> Path:
    """Return ``data_root()/folder/relative...``, raising :class:`DatasetUnavailable` if absent."""
    base = data_root() / folder
    if not base.is_dir():
        raise DatasetUnavailable(
            f"shared data folder '{folder}' is absent (looked in {base}); "
            "see ../shared/data/README.md or set SKNMTUNE_DATA_DIR"
        )
    path = base.joinpath(*relative)
    if not path.exists():
        raise DatasetUnavailable(f"file '{path.relative_to(data_root())}' is absent from the shared data folder '{folder}'")
    return path


def read_lines(path: Path) -> list[str]:
    """Read a UTF-8 text file split on ``\\n`` only (some files contain NEL characters inside lines)."""
    text = path.read_text(encoding="utf-8-sig")
    return [line.rstrip("\r") for line in text.split("\n") if line.strip()]


def _check_choice(name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not valid; use one of {tuple(allowed)}")


def subsample(ds: Dataset, n: int | None, seed: int = 0) -> Dataset:
    """Return at most ``n`` rows of ``ds`` drawn without replacement with a fixed seed (stratified).

    ``n=None`` or ``n >= len(ds)`` returns ``ds`` unchanged.
    """
    if n is None or n >= len(ds):
        return ds
    keep, _ = _stratified_indices(ds.y, n, seed)
    note = f"{ds.note}; subsampled to {n} of {len(ds)} (stratified, seed {seed})".lstrip("; ")
    return _take(ds, np.sort(keep), ds.name, note)


def stratified_split(ds: Dataset, n_second: int | float, seed: int = 0, names: tuple[str, str] = ("a", "b")) -> tuple[Dataset, Dataset]:
    """Split ``ds`` into two disjoint stratified parts; the second has ``n_second`` rows (or that fraction).

    Returns ``(first, second)``; their names are ``ds.name + "/" + names[i]``.
    """
    n = int(round(n_second * len(ds))) if isinstance(n_second, float) else int(n_second)
    if not 0 < n < len(ds):
        raise ValueError(f"n_second={n_second!r} must leave both parts non-empty (dataset has {len(ds)} rows)")
    second, first = _stratified_indices(ds.y, n, seed)
    tag = f"stratified split seed {seed}"
    note = ds.note if ds.note.endswith(tag) else f"{ds.note}; {tag}".lstrip("; ")
    return (
        _take(ds, np.sort(first), f"{ds.name}/{names[0]}", note),
        _take(ds, np.sort(second), f"{ds.name}/{names[1]}", note),
    )


def _stratified_indices(y: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Pick ``n`` indices keeping class proportions (largest remainders); return (picked, rest)."""
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    quota = counts * n / len(y)
    take = np.floor(quota).astype(int)
    order = np.argsort(-(quota - take), kind="stable")
    take[order[: n - take.sum()]] += 1
    picked = []
    for cls, k in zip(classes, take):
        idx = np.flatnonzero(y == cls)
        picked.append(rng.permutation(idx)[:k])
    chosen = np.concatenate(picked)
    rest = np.setdiff1d(np.arange(len(y)), chosen)
    return chosen, rest


def _take(ds: Dataset, idx: np.ndarray, name: str, note: str) -> Dataset:
    X = ds.X[idx] if isinstance(ds.X, np.ndarray) else [ds.X[i] for i in idx]
    return Dataset(X=X, y=ds.y[idx], classes=ds.classes, name=name, note=note)


def _labels(values: Sequence[int]) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


# --------------------------------------------------------------------------- text: sentiment


def load_glue_sst2(split: str = "train") -> Dataset:
    """GLUE SST-2 (``glue-sst2``): ``train`` (60,614), ``dev`` (6,735, a 10% re-split of GLUE train)
    or ``test`` (872 = the official GLUE dev set). Labels 0=negative, 1=positive."""
    _check_choice("split", split, ("train", "dev", "test"))
    path = require("glue-sst2", "data", "SST-2", f"{split}.tsv")
    X, y = [], []
    for line in read_lines(path)[1:]:
        sentence, label = line.rsplit("\t", 1)
        X.append(sentence.strip())
        y.append(int(label))
    return Dataset(X, _labels(y), SENTIMENT_CLASSES, f"glue-sst2/{split}", "GLUE SST-2 (lower-cased, PTB-tokenized)")


def load_sst_sentences(split: str = "test") -> Dataset:
    """SST-2 at the *sentence* level (``sst2-cr-mr``, Kim 2014's ``stsa.binary.*``): ``train`` (6,920),
    ``dev`` (872: the same sentences as GLUE SST-2 dev, i.e. this benchmark's ID test) or ``test`` (1,821,
    SST's test split with labels). GLUE SST-2's training set holds every *phrase* of SST's training
    sentences, so ``test`` is the split whose sentences GLUE-train does not contain: the benchmark's
    sentence-level validation set. Labels 0=negative, 1=positive."""
    _check_choice("split", split, ("train", "dev", "test"))
    X, y = [], []
    for line in read_lines(require("sst2-cr-mr", "data", f"stsa.binary.{split}")):
        label, text = line.split(" ", 1)
        X.append(text.strip())
        y.append(int(label))
    return Dataset(X, _labels(y), SENTIMENT_CLASSES, f"sst2-cr-mr/stsa.binary.{split}",
                   "SST-2 sentences (lower-cased, tokenized)")


def substring_overlap(items: Sequence[str], corpus: Sequence[str]) -> float:
    """Fraction of ``items`` that occur inside some string of ``corpus`` (whitespace-normalized,
    case-insensitive): how much of a held-out split a model trained on ``corpus`` has already seen."""
    joined = "\n".join(" ".join(c.lower().split()) for c in corpus)
    normal = [" ".join(i.lower().split()) for i in items]
    return float(np.mean([bool(n) and n in joined for n in normal])) if normal else 0.0


def load_imdb_cad_sentiment(split: str = "test", version: str = "orig") -> Dataset:
    """IMDB reviews from ``imdb-cad``: ``version="orig"`` (real reviews) or ``"new"`` (counterfactual
    rewrites); ``split`` in ``train``/``dev``/``test``/``all``. ``<br />`` tags are replaced by spaces;
    long reviews are truncated later by the encoder's maximum sequence length."""
    _check_choice("split", split, ("train", "dev", "test", "all"))
    _check_choice("version", version, ("orig", "new"))
    splits = ("train", "dev", "test") if split == "all" else (split,)
    X, y = [], []
    for part in splits:
        for line in read_lines(require("imdb-cad", "sentiment", version, f"{part}.tsv"))[1:]:
            label, text = line.split("\t", 1)
            X.append(" ".join(text.replace("<br />", " ").replace("<br/>", " ").split()))
            y.append(SENTIMENT_CLASSES.index(label.strip().lower()))
    return Dataset(X, _labels(y), SENTIMENT_CLASSES, f"imdb-cad/sentiment/{version}/{split}", "IMDB reviews (document level; <br /> removed)")


def load_yelp_amazon(domain: str, split: str = "test") -> Dataset:
    """Review sentences from ``yelp-amazon-sent``: ``domain`` in ``yelp``/``amazon``, ``split`` in
    ``dev``/``test``. The label is in the file name (``.0`` negative, ``.1`` positive)."""
    _check_choice("domain", domain, ("yelp", "amazon"))
    _check_choice("split", split, ("dev", "test"))
    X, y = [], []
    for label in (0, 1):
        for line in read_lines(require("yelp-amazon-sent", "data", domain, f"sentiment.{split}.{label}")):
            X.append(line.strip())
            y.append(label)
    return Dataset(X, _labels(y), SENTIMENT_CLASSES, f"yelp-amazon-sent/{domain}/{split}", f"{domain} review sentences (lower-cased, tokenized)")


def load_uci_sentiment(domain: str) -> Dataset:
    """UCI Sentiment Labelled Sentences (1,000 per domain): ``domain`` in ``yelp``/``amazon``/``imdb``."""
    files = {"yelp": "yelp_labelled.txt", "amazon": "amazon_cells_labelled.txt", "imdb": "imdb_labelled.txt"}
    _check_choice("domain", domain, tuple(files))
    X, y = [], []
    for line in read_lines(require("uci-sentiment-sentences", "sentiment labelled sentences", files[domain])):
        sentence, label = line.rsplit("\t", 1)  # split on the last tab: the imdb file has stray quotes
        X.append(sentence.strip())
        y.append(int(label))
    return Dataset(X, _labels(y), SENTIMENT_CLASSES, f"uci-sentiment/{domain}", f"UCI sentences ({domain})")


# --------------------------------------------------------------------------- text: acceptability


def load_cola(split: str = "in_domain_train") -> Dataset:
    """CoLA v1.1 raw: ``in_domain_train`` (8,551), ``in_domain_dev`` (527) or ``out_of_domain_dev``
    (516). Labels 0=unacceptable, 1=acceptable."""
    _check_choice("split", split, ("in_domain_train", "in_domain_dev", "out_of_domain_dev"))
    path = require("cola", "acceptability_corpus", "cola_public", "raw", f"{split}.tsv")
    X, y = [], []
    for line in read_lines(path):
        _source, label, _mark, sentence = line.split("\t", 3)
        X.append(sentence.strip())
        y.append(int(label))
    return Dataset(X, _labels(y), ("unacceptable", "acceptable"), f"cola/{split}", "CoLA raw sentences")


# --------------------------------------------------------------------------- text: NLI (pairs)


def _nli_label(value: str) -> int:
    return _NLI_INDEX[value.strip().lower()]


def load_mnli_dev_matched() -> Dataset:
    """MNLI dev-matched (9,815 (premise, hypothesis) pairs), labels in :data:`NLI_CLASSES` order."""
    path = require("mnli-dev-matched", "berts_of_a_feather", "mnli_development_set_number_of_correct_responses.txt")
    X, y = [], []
    for line in read_lines(path)[1:]:
        _index, premise, hypothesis, label, _n_correct = line.split("\t")
        X.append((premise.strip(), hypothesis.strip()))
        y.append(_nli_label(label))
    return Dataset(X, _labels(y), NLI_CLASSES, "mnli-dev-matched", "MNLI dev-matched pairs")


def load_sick(split: str = "test", target: str = "entailment") -> Dataset:
    """SICK (``sick-mrpc``): ``train`` (4,500), ``trial`` (500) or ``test`` (4,927) sentence pairs.

    ``target="entailment"``: labels mapped to :data:`NLI_CLASSES` (ENTAILMENT/NEUTRAL/CONTRADICTION);
    ``target="relatedness"``: the float relatedness scores (1-5) as ``y``, no classes.
    """
    files = {"train": "SICK_train.txt", "trial": "SICK_trial.txt", "test": "SICK_test_annotated.txt"}
    _check_choice("split", split, tuple(files))
    _check_choice("target", target, ("entailment", "relatedness"))
    X, y = [], []
    for line in read_lines(require("sick-mrpc", files[split])):
        fields = line.split("\t")
        if fields[0] == "pair_ID":
            continue
        _pid, a, b, score, label = fields
        X.append((a.strip(), b.strip()))
        y.append(_nli_label(label) if target == "entailment" else float(score))
    if target == "relatedness":
        return Dataset(X, np.asarray(y), (), f"sick/{split}", "SICK sentence pairs, relatedness scores")
    return Dataset(X, _labels(y), NLI_CLASSES, f"sick/{split}", "SICK sentence pairs")


def load_mrpc(split: str = "test") -> Dataset:
    """MRPC (``sick-mrpc``) ``test`` pairs (1,725 news sentence pairs); ``y`` = 1 for a paraphrase."""
    _check_choice("split", split, ("test",))
    X, y = [], []
    for line in read_lines(require("sick-mrpc", "msr_paraphrase_test.txt")):
        label, _id1, _id2, a, b = line.split("\t")
        X.append((a.strip(), b.strip()))
        y.append(int(label))
    return Dataset(X, _labels(y), ("not paraphrase", "paraphrase"), "mrpc/test", "MRPC test pairs")


def load_snli_cad(split: str = "test", version: str = "original") -> Dataset:
    """The SNLI subset of ``imdb-cad``: ``version="original"`` or ``"revised_combined"``; ``split`` in
    ``train``/``dev``/``test``/``all``. Labels mapped to :data:`NLI_CLASSES`."""
    _check_choice("split", split, ("train", "dev", "test", "all"))
    _check_choice("version", version, ("original", "revised_combined"))
    splits = ("train", "dev", "test") if split == "all" else (split,)
    X, y = [], []
    for part in splits:
        for line in read_lines(require("imdb-cad", "NLI", version, f"{part}.tsv"))[1:]:
            premise, hypothesis, label = line.split("\t")
            X.append((premise.strip(), hypothesis.strip()))
            y.append(_nli_label(label))
    return Dataset(X, _labels(y), NLI_CLASSES, f"snli-cad/{version}/{split}", "SNLI subset of imdb-cad")


# --------------------------------------------------------------------------- images


def gray_to_rgb32(images: np.ndarray) -> np.ndarray:
    """Convert ``(N, H, W)`` uint8 grayscale digits to ``(N, 32, 32, 3)`` uint8 RGB.

    Each image is resized to 32x32 with PIL bilinear resampling (a no-op when already 32x32) and its
    single channel is replicated three times.
    """
    from PIL import Image

    images = np.asarray(images)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"expected uint8 images of shape (N, H, W); got dtype {images.dtype} and shape {images.shape}")
    if images.shape[1:] == (32, 32):
        out = images
    else:
        out = np.stack([np.asarray(Image.fromarray(img).resize((32, 32), Image.BILINEAR)) for img in images])
    return np.repeat(out[..., None], 3, axis=-1)


def load_pacs(domain: str) -> Dataset:
    """All PACS images of one domain at 32x32 (``pacs_all_32x32_uint8.npz``); 7 classes.

    ``domain`` in ``photo`` (1,670), ``art_painting`` (2,048), ``cartoon`` (2,344), ``sketch`` (3,929).
    """
    _check_choice("domain", domain, PACS_DOMAINS)
    with np.load(require("pacs", "pacs_all_32x32_uint8.npz"), allow_pickle=False) as npz:
        domain_names = [str(d) for d in npz["domain_names"]]
        mask = npz["domains"] == domain_names.index(domain)
        images = npz["images"][mask]
        labels = npz["labels"][mask].astype(np.int64)
        classes = tuple(str(c) for c in npz["class_names"])
    return Dataset(images, labels, classes, f"pacs/{domain}", "PACS 227->32x32 (PIL bicubic, pre-resized in the npz)")


def load_mnist_t10k() -> Dataset:
    """The MNIST test set (10,000 digits) as ``(N, 32, 32, 3)`` uint8 (bilinear 28->32, grey replicated)."""
    with gzip.open(require("mnist-t10k", "t10k-images-idx3-ubyte.gz"), "rb") as fh:
        raw = fh.read()
    n, rows, cols = (int.from_bytes(raw[i : i + 4], "big") for i in (4, 8, 12))
    images = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows, cols)
    with gzip.open(require("mnist-t10k", "t10k-labels-idx1-ubyte.gz"), "rb") as fh:
        labels = np.frombuffer(fh.read(), dtype=np.uint8, offset=8).astype(np.int64)
    classes = tuple(str(d) for d in range(10))
    return Dataset(gray_to_rgb32(images), labels, classes, "mnist-t10k", "MNIST 28x28 grey -> 32x32 (PIL bilinear) x3 channels")


def load_usps() -> Dataset:
    """USPS test digits (2,000) as ``(N, 32, 32, 3)`` uint8: [-1, 1] -> [0, 255], bilinear 16->32, x3."""
    values = np.loadtxt(require("usps-test", "zip.test"), dtype=np.float64)
    labels = values[:, 0].astype(np.int64)
    grey = np.clip(np.round((values[:, 1:] + 1.0) * 127.5), 0, 255).astype(np.uint8).reshape(-1, 16, 16)
    classes = tuple(str(d) for d in range(10))
    return Dataset(gray_to_rgb32(grey), labels, classes, "usps-test", "USPS 16x16 [-1,1] -> uint8 -> 32x32 (PIL bilinear) x3 channels")


def load_mnist_m() -> Dataset:
    """MNIST-M test (9,001 colour 32x32 digits), decoded from the PNG zip (or the ``.npz`` if present)."""
    folder = "mnist-m-test"
    npz_path = data_root() / folder / "mnist_m_test_uint8.npz"
    classes = tuple(str(d) for d in range(10))
    if npz_path.exists():
        with np.load(npz_path, allow_pickle=False) as npz:
            return Dataset(npz["images"], npz["labels"].astype(np.int64), classes, "mnist-m-test", "MNIST-M 32x32 RGB")
    from PIL import Image

    labels_by_name = {}
    for line in read_lines(require(folder, "mnist_m_test_labels.txt")):
        name, label = line.split()
        labels_by_name[name] = int(label)
    images, labels = [], []
    with zipfile.ZipFile(require(folder, "mnist_m_test_png.zip")) as zf:
        for member in sorted(zf.namelist()):
            base = member.rsplit("/", 1)[-1]
            if base not in labels_by_name:
                continue
            with Image.open(io.BytesIO(zf.read(member))) as img:
                images.append(np.asarray(img.convert("RGB"), dtype=np.uint8))
            labels.append(labels_by_name[base])
    return Dataset(np.stack(images), _labels(labels), classes, "mnist-m-test", "MNIST-M 32x32 RGB (decoded PNGs)")


# --------------------------------------------------------------------------- images for ImageNet backbones


def _decode_rgb(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        return np.array(img.convert("RGB"), dtype=np.uint8)  # a writable copy (torch warns on read-only arrays)


def read_zip_images(path: Path, members: Sequence[str]) -> list[np.ndarray]:
    with zipfile.ZipFile(path) as zf:
        return [_decode_rgb(zf.read(m)) for m in members]


def _image_members(zf: zipfile.ZipFile) -> list[str]:
    return sorted(m for m in zf.namelist() if m.lower().endswith((".jpg", ".jpeg", ".png")))


def load_flowers102(split: str = "train") -> Dataset:
    """Oxford Flowers-102 (``flowers102``, Udacity split): ``train`` (2,040, 20 per class), ``valid``
    (818) or ``test`` (819); 102 classes.

    ``X`` is a list of ``uint8`` arrays ``(H, W, 3)`` with shorter side 128 px (aspect ratios vary).
    Label ``k`` is the folder ``str(k + 1)``; ``classes`` holds the names from ``cat_to_name.json``.
    """
    import json

    _check_choice("split", split, ("train", "valid", "test"))
    path = require("flowers102", f"flowers102_{split}.zip")
    names = json.loads(require("flowers102", "cat_to_name.json").read_text(encoding="utf-8"))
    classes = tuple(names[str(k)] for k in range(1, len(names) + 1))
    with zipfile.ZipFile(path) as zf:
        members = _image_members(zf)
    labels = [int(m.split("/")[1]) - 1 for m in members]
    return Dataset(read_zip_images(path, members), _labels(labels), classes, f"flowers102/{split}",
                   "Flowers-102 (Udacity split), JPEG q70, shorter side 128 px")


def load_dtd10(split: str = "train", seed: int = 0) -> Dataset:
    """DTD-10 (``dtd10``: 10 DTD texture classes x 120 images) with a fixed stratified split.

    No split is shipped, so the 1,200 images are split per class 72 / 24 / 24 (60 / 20 / 20 %) into
    ``train`` (720), ``val`` (240) and ``test`` (240) with :func:`stratified_split` and ``seed``
    (test first, then validation from the rest). ``X`` is a list of ``uint8`` arrays ``(H, W, 3)``
    with shorter side 160 px; ``split="all"`` returns the 1,200 images unsplit.
    """
    _check_choice("split", split, ("train", "val", "test", "all"))
    path = require("dtd10", "dtd10.zip")
    with zipfile.ZipFile(path) as zf:
        members = _image_members(zf)
    class_of = [m.split("/")[1] for m in members]
    classes = tuple(sorted(set(class_of)))
    y = _labels([classes.index(c) for c in class_of])
    if split == "all":
        return Dataset(read_zip_images(path, members), y, classes, "dtd10", "DTD-10, JPEG q90, shorter side 160 px")
    index = Dataset(np.asarray(members), y, classes, "dtd10", "DTD-10, JPEG q90, shorter side 160 px")
    rest, test = stratified_split(index, 240, seed=seed, names=("rest", "test"))
    train, val = stratified_split(rest, 240, seed=seed, names=("train", "val"))
    part = {"train": train, "val": val, "test": test}[split]
    return Dataset(read_zip_images(path, list(part.X)), part.y, classes, f"dtd10/{split}",
                   f"{part.note}; per class 72/24/24 train/val/test")


def load_pacs_full(domain: str) -> Dataset:
    """All PACS images of one domain at 128x128 (``pacs-full``), as ``uint8`` ``(N, 128, 128, 3)``.

    ``domain`` in ``photo`` (1,670), ``art_painting`` (2,048), ``cartoon`` (2,344), ``sketch`` (3,929);
    7 classes in alphabetical order (dog, elephant, giraffe, guitar, horse, house, person).
    """
    _check_choice("domain", domain, PACS_DOMAINS)
    path = require("pacs-full", f"pacs128_{domain}.zip")
    with zipfile.ZipFile(path) as zf:
        members = _image_members(zf)
    class_of = [m.split("/")[0] for m in members]
    classes = tuple(sorted(set(class_of)))
    images = np.stack(read_zip_images(path, members))
    return Dataset(images, _labels([classes.index(c) for c in class_of]), classes, f"pacs-full/{domain}",
                   "PACS 227->128x128 (PIL bicubic), JPEG q90")


def load_cifar10(split: str = "test") -> Dataset:
    """CIFAR-10 (``cifar10-jpg``, JPEG quality ~75): ``train`` (50,000) or ``test`` (10,000), as
    ``uint8`` ``(N, 32, 32, 3)`` in the standard class order :data:`CIFAR10_CLASSES`.

    Use :func:`subsample` / :func:`stratified_split` for the smaller stratified subsets a CPU run needs.
    """
    _check_choice("split", split, ("train", "test"))
    path = require("cifar10-jpg", f"{split}_jpg.zip")
    with zipfile.ZipFile(path) as zf:
        members = _image_members(zf)
    labels = [CIFAR10_CLASSES.index(m.split("/")[1]) for m in members]
    images = np.stack(read_zip_images(path, members))
    return Dataset(images, _labels(labels), CIFAR10_CLASSES, f"cifar10/{split}", "CIFAR-10 as JPEG (quality ~75)")


def select_corruptions(severities: Sequence[int] = (3, 5), seed: int = 0) -> list[tuple[str, int]]:
    """A fixed, seeded choice of CIFAR-10-C-style shifts: one corruption per ImageNet-C family
    (:data:`CORRUPTION_FAMILIES`, drawn with ``numpy.random.default_rng(seed)``) x each severity.

    Returns ``[(corruption, severity), ...]`` in family order, then severity order.
    """
    bad = [s for s in severities if s not in (1, 2, 3, 4, 5)]
    if bad:
        raise ValueError(f"severities must be in 1..5; got {bad}")
    rng = np.random.default_rng(seed)
    chosen = [str(rng.choice(names)) for names in CORRUPTION_FAMILIES.values()]
    return [(c, int(s)) for c in chosen for s in severities]


def bench_cache_dir() -> Path:
    """Directory for generated benchmark data (``$SKNMTUNE_BENCH_CACHE`` or ``benchmarks/cache``)."""
    env = os.environ.get("SKNMTUNE_BENCH_CACHE")
    return Path(env) if env else Path(__file__).resolve().parent / "cache"


def _corrupt_one(image: np.ndarray, corruption: str, severity: int, seed: int) -> np.ndarray:
    """``imagecorruptions.corrupt`` of one uint8 image, reproducible from ``seed``.

    Most corruptions draw from numpy's global generator, which ``np.random.seed(seed)`` fixes (its state is
    restored afterwards); ``impulse_noise`` and ``glass_blur`` draw from their own generator unless they are
    given ``seed=``, which they then get.
    """
    import inspect

    from imagecorruptions import corrupt, corruption_dict

    kwargs = {"seed": seed} if "seed" in inspect.signature(corruption_dict[corruption]).parameters else {}
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        corrupted = corrupt(image, corruption_name=corruption, severity=severity, **kwargs)
    finally:
        np.random.set_state(state)
    return np.clip(np.asarray(corrupted), 0, 255).astype(np.uint8)


def load_cifar10_c(
    corruption: str, severity: int, n: int | None = 1000, seed: int = 0, cache_dir: str | os.PathLike | None = None,
) -> Dataset:
    """A CIFAR-10-C-style corrupted test set, generated once and then read from ``cache_dir``.

    The source images are ``subsample(load_cifar10("test"), n, seed=0)`` (stratified; nested across
    ``n``, so a smaller set is a subset of a larger one and of the ID test subset of the same size);
    image ``i`` is corrupted by ``imagecorruptions.corrupt`` (PyPI ``imagecorruptions-imaug``, the
    ImageNet-C severity settings, not CIFAR-10-C's) with the per-image seed ``seed * 1_000_003 + i``
    (:func:`_corrupt_one`), so a fresh generation gives the same images as the last. The result is stored as
    ``cifar10c2_<corruption>_s<severity>_n<n>_seed<seed>.npz`` under ``cache_dir`` (default
    :func:`bench_cache_dir` ``/ "cifar10c"``): the corruptions are slow. (The ``cifar10c_`` files of earlier
    versions left ``impulse_noise`` and ``glass_blur`` unseeded, so their images changed from one generation to
    the next; they are not read.)
    """
    valid = [c for names in CORRUPTION_FAMILIES.values() for c in names] + ["glass_blur"]
    _check_choice("corruption", corruption, valid)
    if severity not in (1, 2, 3, 4, 5):
        raise ValueError(f"severity must be in 1..5; got {severity!r}")
    folder = Path(cache_dir) if cache_dir is not None else bench_cache_dir() / "cifar10c"
    path = folder / f"cifar10c2_{corruption}_s{severity}_n{n if n is not None else 'all'}_seed{seed}.npz"
    name = f"cifar10-c/{corruption}-{severity}"
    note = (f"CIFAR-10-C-style: imagecorruptions-imaug {corruption} severity {severity} (ImageNet-C settings) "
            f"on {n if n is not None else 'all'} stratified CIFAR-10 test images (seed {seed}); stored in {path.name}")
    if path.is_file():
        with np.load(path, allow_pickle=False) as npz:
            return Dataset(npz["images"], npz["labels"].astype(np.int64), CIFAR10_CLASSES, name, note)
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import imagecorruptions  # noqa: F401
    except ImportError as exc:
        raise DatasetUnavailable(
            "the CIFAR-10-C-style sets need `pip install imagecorruptions-imaug==1.1.5` (imports as imagecorruptions)"
        ) from exc
    source = subsample(load_cifar10("test"), n, seed=0)
    out = np.empty_like(source.X)
    for i, img in enumerate(source.X):
        out[i] = _corrupt_one(img, corruption, severity, seed * 1_000_003 + i)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}.npz")
    np.savez_compressed(tmp, images=out, labels=source.y)
    os.replace(tmp, path)
    return Dataset(out, source.y, CIFAR10_CLASSES, name, note)
