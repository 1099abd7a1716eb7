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

from ._core import (  # noqa: F401
    SENTIMENT_CLASSES,
    NLI_CLASSES,
    PACS_DOMAINS,
    CIFAR10_CLASSES,
    CORRUPTION_FAMILIES,
    DatasetUnavailable,
    Dataset,
    data_root,
    require,
    read_lines,
    subsample,
    stratified_split,
)
from .images import (  # noqa: F401
    gray_to_rgb32,
    load_pacs,
    load_mnist_t10k,
    load_usps,
    load_mnist_m,
    read_zip_images,
    load_flowers102,
    load_dtd10,
    load_pacs_full,
    load_cifar10,
    select_corruptions,
    bench_cache_dir,
    load_cifar10_c,
    _corrupt_one,
)
from .text import (  # noqa: F401
    load_glue_sst2,
    load_sst_sentences,
    substring_overlap,
    load_imdb_cad_sentiment,
    load_yelp_amazon,
    load_uci_sentiment,
    load_cola,
    load_mnli_dev_matched,
    load_sick,
    load_mrpc,
    load_snli_cad,
)

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
