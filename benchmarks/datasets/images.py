"""Image benchmark data: PACS, digits, Flowers-102, DTD-10, CIFAR-10 and its CIFAR-10-C-style corruptions."""

from __future__ import annotations

import gzip
import io
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ._core import (
    CIFAR10_CLASSES,
    CORRUPTION_FAMILIES,
    Dataset,
    DatasetUnavailable,
    PACS_DOMAINS,
    data_root,
    read_lines,
    require,
    stratified_split,
    subsample,
    _check_choice,
    _labels,
)


__all__ = ['gray_to_rgb32', 'load_pacs', 'load_mnist_t10k', 'load_usps', 'load_mnist_m', 'read_zip_images', 'load_flowers102', 'load_dtd10', 'load_pacs_full', 'load_cifar10', 'select_corruptions', 'bench_cache_dir', 'load_cifar10_c']

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
    return Path(env) if env else Path(__file__).resolve().parents[1] / "cache"  # benchmarks/cache


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
