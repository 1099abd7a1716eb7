"""``FrozenBackboneTransformer``: a frozen pre-trained model as a scikit-learn transformer."""

from __future__ import annotations

import contextlib
import copy
import os
import weakref
from numbers import Integral, Real
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import validate_data

from .._utils import restore_device, resolve_device
from ..cache import FeatureCache
from ._images import AugmentedView, as_file_inputs, check_image_array
from ._inputs import Inputs, _first, as_inputs, describe
from ._kinds import _resolve_kind
from ._registry import BackendOptions, build_backend
from ._runner import resolve_amp_dtype
from ._text import PAIR_PARTS, pair_features, validate_pair_parts
from ._views import ViewSpec, resolve_view_spec, view_seeds

__all__ = ["FrozenBackboneTransformer"]

_IMAGE_OPTIONS = ("image_size", "crop_pct", "interpolation", "mean", "std")

# The loaded backend of each transformer, with the parameters it was built from: a run-time cache kept
# outside the estimator, so that ``transform`` writes no state and pickles / ``.skn`` files never see it.
_LOADED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class FrozenBackboneTransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Features of a frozen pre-trained model, as a scikit-learn transformer.

    ``fit`` learns nothing (it validates the input and loads the model); ``transform`` runs the
    backbone in eval and inference mode, batch by batch, into a preallocated float32 array of shape
    (n_samples, n_features). Models are loaded lazily on first use and are not part of
    ``get_params``, so the transformer clones and pickles as its specification (a module backbone
    pickles with its module). With ``cache`` every distinct input sample goes through the backbone at
    most once, across calls, clones (GridSearchCV) and processes.

    Parameters
    ----------
    backbone : str, torch.nn.Module or callable
        * a timm model name (``"resnet50.a1_in1k"``, ``"cifar_resnet20"``, ``"hf-hub:timm/..."``):
          pooled pre-logits features (``forward_head(forward_features(x), pre_logits=True)``);
        * a sentence-transformers / Hugging Face model name or local directory: sentence embeddings
          with the model's own pooling and normalization;
        * a ``torch.nn.Module``: its output (or ``layer``'s), flattened per sample;
        * any callable mapping a batch (an ndarray slice, or a list of samples) to an array
          (n_batch, n_features): the black-box / paid API case.
    kind : {"auto", "timm", "text", "module", "callable"} or str, default="auto"
        Backbone family (or one added with :func:`sknmtune.backbones.register_backend`). ``"auto"``: a Module is ``"module"``; another callable ``"callable"``; a string
        naming a local directory with a model config ``"text"``; a name timm knows ``"timm"``; another
        string containing ``"/"`` a hub text model; anything else is an error listing the options.
    pretrained : bool, default=True
        timm only: download timm's pretrained weights. ``False`` gives a seeded (reproducible) random
        initialization. Ignored when ``weights`` is given.
    weights : str or path-like, default=None
        timm only: a local state-dict checkpoint (plain, ``{"state_dict": ...}`` or ``{"model": ...}``;
        ``module.`` prefixes are stripped; a classifier head of another size is ignored).
    model_kwargs : dict, default=None
        Extra keyword arguments for ``timm.create_model`` or ``SentenceTransformer``.
    layer : str, default=None
        timm / module: take the output of this named submodule instead (flattened per sample).
    image_size : int, (int, int), "native" or None, default=None
        Resize + center-crop target. ``None``: the model's input size from timm's data config (no
        resizing for module backbones); ``"native"``: never resize (all images must share one size).
    crop_pct : float, default=None
        The shorter side is resized to ``image_size / crop_pct`` before the center crop; ``None``: from
        the data config (1.0 for modules).
    interpolation : {"bilinear", "bicubic", "nearest"}, default=None
        Resize interpolation; ``None``: from the data config (bilinear for modules).
    mean, std : sequence of float, default=None
        Normalization after scaling to [0, 1]; ``None``: from the data config (none for modules).
    pair_features : sequence of {"u", "v", "abs_diff", "prod"} or None, default=("u", "v", "abs_diff", "prod")
        For sentence pairs ``(a, b)`` given as 2-tuples: with u, v the embeddings of a and b, the
        concatenation of these blocks (default [u, v, \\|u - v\\|, u * v], 4 * dim features). ``None``
        passes the tuples unchanged to a callable backbone.
    batch_size : int, default=64
        Samples per backbone call.
    device : str or torch.device, default="auto"
        CUDA, then MPS, then CPU for ``"auto"``. Module backbones are moved to it in place.
    amp_dtype : {"bf16", "fp16"} or None, default=None
        Autocast dtype for torch backbones (output is always float32).
    channels_last : bool or "auto", default="auto"
        Run convolutional models in channels_last (NHWC) memory format. ``"auto"``: on the CPU for
        models with 2-D convolutions (oneDNN runs them faster than on contiguous NCHW batches),
        unchanged elsewhere.
    compile : bool, default=False
        Compile the feature function with ``torch.compile`` for static shapes (module and timm
        backbones; refused for text and callable backbones, whose extraction it does not reach). A
        partial last batch is padded to ``batch_size`` rows (its last row repeated, the extra rows
        dropped), so one compiled graph serves every call with inputs of one size. Compilation costs
        about a minute on a CPU and pays off on large image sets (see the backbones guide).
    num_workers : int, default=None
        DataLoader workers decoding image files and Dataset items; ``None``: ``min(4, cpus - 1)``.
        In-memory arrays are sliced in the main process.
    cache : str, path-like, joblib.Memory, FeatureCache or None, default=None
        Feature cache directory (a Memory uses ``<location>/sknmtune_features``). Keyed by backbone
        identity (a hash of structure and weights, or of the callable), preprocessing, precision and
        each sample's content; written in atomic chunks, so interrupted runs resume.
    cache_key : str, default=None
        Names a callable backbone in the cache when it cannot be hashed (closures, API clients).
    retry_on : tuple of exception types, default=()
        Callable backbones: errors worth retrying (timeouts, rate limits).
    max_retries : int, default=3
        Retries per batch for ``retry_on`` errors.
    backoff : float, default=1.0
        Seconds before the first retry; doubled for each further one.
    views : int, default=0
        Augmented views per training image (image backbones). With ``views=K > 0``,
        :meth:`fit_transform` (what a ``Pipeline`` calls while fitting) returns training features of
        shape ``(n_samples, 1 + K, n_features)``: index 0 is the eval transform's center crop (what
        :meth:`transform` gives, e.g. at prediction time), indices 1..K the augmented views, which the
        NMTune heads train on the way the paper's authors do (see ``views`` of
        :class:`~sknmtune.NMTuneClassifier`). Each view costs one more backbone forward per training
        image, once: with ``cache`` the views are stored like plain features.
    view_augmentation : dict, default=None
        How views are drawn; ``None`` is the authors' recipe, ``{"scale": (0.8, 1.0), "ratio": (3/4, 4/3),
        "hflip": True}`` (a random resized crop to the model's input size covering ``scale`` of the image
        area, then a horizontal flip with probability 0.5). Keys given override those values.
    random_state : int, default=0
        Seeds the views: view ``k`` of an image is drawn from a generator seeded by
        ``(random_state, k, the image's content)``, so it does not depend on the image's position or
        batch (the folds of a grid search extract the same views, and the cache serves them).
    verbose : int, default=0
        Show a tqdm progress bar when > 0.

    Attributes
    ----------
    n_features_in_ : int
        Only after fitting on a 2-D numeric array (vector inputs).
    n_features_out_ : int
        Width of the features, set by ``fit`` / ``fit_transform`` (``get_feature_names_out`` needs it).
        ``fit`` reads it from the model when the model declares it (timm, text), else runs the backbone
        on the first sample. ``transform`` works without ``fit`` (a frozen model learns nothing) and
        never changes the transformer's state.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sknmtune.backbones import FrozenBackboneTransformer
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh())
    >>> FrozenBackboneTransformer(net, device="cpu").fit_transform(np.ones((5, 4))).shape
    (5, 3)
    >>> images = np.zeros((2, 32, 32, 3), dtype=np.uint8)
    >>> ext = FrozenBackboneTransformer("cifar_resnet20", pretrained=False, device="cpu")
    >>> ext.transform(images).shape
    (2, 64)
    """

    _parameter_constraints: dict = {
        "backbone": "no_validation",  # resolved into a family by _resolve_kind, with errors naming the options
        "kind": [str],  # a built-in family or one registered with register_backend (checked by _resolve_kind)
        "pretrained": ["boolean"],
        "weights": [str, os.PathLike, None],
        "model_kwargs": [dict, None],
        "layer": [str, None],
        "image_size": "no_validation",  # these five are validated by the image spec (timm's data config)
        "crop_pct": "no_validation",
        "interpolation": "no_validation",
        "mean": "no_validation",
        "std": "no_validation",
        "pair_features": "no_validation",  # validate_pair_parts names the allowed parts
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str, torch.device, None],
        "amp_dtype": [str, torch.dtype, None],
        "channels_last": ["boolean", StrOptions({"auto"})],
        "compile": ["boolean"],
        "num_workers": [Interval(Integral, 0, None, closed="left"), None],
        "cache": "no_validation",  # None, a directory, a joblib.Memory or a FeatureCache (checked where used)
        "cache_key": [str, None],
        "retry_on": "no_validation",  # a tuple of exception classes (checked in _check_params)
        "max_retries": [Interval(Integral, 0, None, closed="left")],
        "backoff": [Interval(Real, 0, None, closed="left")],
        "views": [Interval(Integral, 0, None, closed="left")],
        "view_augmentation": [dict, None],
        "random_state": [Interval(Integral, 0, None, closed="left")],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        backbone: Any,
        *,
        kind: str = "auto",
        pretrained: bool = True,
        weights: str | os.PathLike | None = None,
        model_kwargs: dict[str, Any] | None = None,
        layer: str | None = None,
        image_size: int | Sequence[int] | str | None = None,
        crop_pct: float | None = None,
        interpolation: str | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        pair_features: Sequence[str] | None = PAIR_PARTS,
        batch_size: int = 64,
        device: Any = "auto",
        amp_dtype: str | None = None,
        channels_last: bool | str = "auto",
        compile: bool = False,
        num_workers: int | None = None,
        cache: Any = None,
        cache_key: str | None = None,
        retry_on: tuple[type[BaseException], ...] = (),
        max_retries: int = 3,
        backoff: float = 1.0,
        views: int = 0,
        view_augmentation: dict[str, Any] | None = None,
        random_state: int = 0,
        verbose: int = 0,
    ) -> None:
        self.backbone = backbone
        self.kind = kind
        self.pretrained = pretrained
        self.weights = weights
        self.model_kwargs = model_kwargs
        self.layer = layer
        self.image_size = image_size
        self.crop_pct = crop_pct
        self.interpolation = interpolation
        self.mean = mean
        self.std = std
        self.pair_features = pair_features
        self.batch_size = batch_size
        self.device = device
        self.amp_dtype = amp_dtype
        self.channels_last = channels_last
        self.compile = compile
        self.num_workers = num_workers
        self.cache = cache
        self.cache_key = cache_key
        self.retry_on = retry_on
        self.max_retries = max_retries
        self.backoff = backoff
        self.views = views
        self.view_augmentation = view_augmentation
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------------------------------ sklearn API
    def fit(self, X: Any, y: Any = None) -> FrozenBackboneTransformer:
        """Validate ``X``, load the backbone and record the output width; nothing is learned.

        Parameters
        ----------
        X : array-like, list of str / (str, str) / paths / PIL images, or torch Dataset
        y : ignored

        Returns
        -------
        self : FrozenBackboneTransformer
        """
        self.__dict__.pop("n_features_out_", None)
        inputs = self._as_inputs(X, reset=True)
        backend = self._get_backend()
        self.n_features_out_ = self._output_width(backend, inputs)
        return self

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> np.ndarray:
        """``fit`` then ``transform`` in one pass (the width comes from the features themselves).

        With ``views=0`` (the default) this equals ``fit(X).transform(X)``. With ``views=K > 0`` it returns
        the training features with a views axis, ``(n_samples, 1 + K, n_features)`` (see
        :meth:`transform_views`): a ``Pipeline`` hands them to the head while fitting, and the center
        crop (:meth:`transform`) at prediction time.
        """
        self.__dict__.pop("n_features_out_", None)
        inputs = self._as_inputs(X, reset=True)
        backend = self._get_backend()
        out = self._features(backend, inputs) if not self.views else self._views(backend, inputs)
        self.n_features_out_ = int(out.shape[-1])
        return out

    def transform_views(self, X: Any) -> np.ndarray:
        """The center crop and ``views`` augmented views of each image, ``(n_samples, 1 + views, n_features)``.

        Index 0 is :meth:`transform`'s output; index ``k >= 1`` is view ``k``, a seeded random resized
        crop (+ flip) of the image (``view_augmentation``, ``random_state``). Needs an image backbone.

        Examples
        --------
        >>> import numpy as np
        >>> from sknmtune.backbones import FrozenBackboneTransformer
        >>> images = np.random.default_rng(0).integers(0, 256, (3, 40, 40, 3), dtype=np.uint8)
        >>> ext = FrozenBackboneTransformer("cifar_resnet20", pretrained=False, image_size=32, views=2, device="cpu")
        >>> ext.transform_views(images).shape
        (3, 3, 64)
        """
        if not self.views:
            raise ValueError("transform_views needs views >= 1; this transformer has views=0.")
        return self._views(self._get_backend(), self._as_inputs(X, reset=False))

    def transform(self, X: Any) -> np.ndarray:
        """Extract features.

        Parameters
        ----------
        X : array-like, list of str / (str, str) / paths / PIL images, or torch Dataset
            Images as uint8 or [0, 1] float arrays (N, H, W, C), (N, C, H, W) or (N, H, W); lists
            of image file paths or PIL images; lists of strings or of (str, str) pairs; numeric
            arrays for module / callable backbones; a torch Dataset of any of these (items may be
            ``(input, target)`` tuples).

        Returns
        -------
        features : ndarray of shape (n_samples, n_features), float32
        """
        inputs = self._as_inputs(X, reset=False)
        return self._features(self._get_backend(), inputs)

    @property
    def _n_features_out(self) -> int:
        """The fitted output width (``get_feature_names_out`` gives ``frozenbackbonetransformer0`` ...)."""
        if "n_features_out_" not in self.__dict__:
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet: the feature names need the output width, "
                "which fit() or fit_transform() records."
            )
        return self.n_features_out_

    def __sklearn_is_fitted__(self) -> bool:
        # transform needs no fit (a frozen model learns nothing; scikit-learn's FunctionTransformer
        # makes the same choice): the transformer counts as fitted, and only the feature names ask
        # for fit's recorded width (``_n_features_out``).
        return True

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        module = state.get("backbone")
        if _is_module(module) and any(t.device.type != "cpu" for t in module.state_dict().values()):
            state["backbone"] = copy.deepcopy(module).cpu()  # pickles always hold CPU tensors
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickle; a module backbone goes to the device ``device`` asks for (see ``restore_device``).

        When that device does not exist here, the module stays on the CPU, ``device`` becomes
        ``"cpu"`` and a ``UserWarning`` names the missing device.
        """
        super().__setstate__(state)
        module = self.__dict__.get("backbone")
        if _is_module(module):
            self.device = restore_device(module, self.__dict__.get("device", "auto"), f"{type(self).__name__}'s backbone")

    def to_device(self, device: str | Any) -> FrozenBackboneTransformer:
        """Run on ``device`` from now on (sets ``device``; a module backbone is moved); returns self."""
        resolved = resolve_device(device)
        self.device = device if isinstance(device, str) else str(resolved)
        if _is_module(self.backbone):
            self.backbone.to(resolved)
        _LOADED.pop(self, None)
        return self

    # ------------------------------------------------------------------------------------------ internals
    def _as_inputs(self, X: Any, *, reset: bool) -> Inputs:
        inputs = as_inputs(X)
        if inputs.modality == "vectors" and inputs.data.ndim <= 2:
            arr = validate_data(self, X, reset=reset, dtype=[np.float32, np.float64], ensure_all_finite=True)
            return Inputs("vectors", arr)
        if reset:
            for attr in ("n_features_in_", "feature_names_in_"):
                self.__dict__.pop(attr, None)
        return inputs

    def _check_params(self) -> None:
        self._validate_params()  # scikit-learn's checks from _parameter_constraints
        for name in ("batch_size", "max_retries", "num_workers"):  # Integral admits bools: refuse them here
            if isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be an int, not a bool; got {getattr(self, name)!r}.")
        retry = self.retry_on if isinstance(self.retry_on, tuple) else (self.retry_on,)
        if not all(isinstance(e, type) and issubclass(e, BaseException) for e in retry):
            raise ValueError(f"retry_on must be a tuple of exception classes; got {self.retry_on!r}.")
        validate_pair_parts(self.pair_features)

    def _spec_key(self) -> tuple:
        simple = (str, int, float, bool, type(None), tuple, os.PathLike)
        return tuple(
            (k, v if isinstance(v, simple) else (type(v).__name__, id(v)))
            for k, v in sorted(self.get_params(deep=False).items())
        )

    def _get_backend(self) -> Any:
        key = self._spec_key()
        cached = _LOADED.get(self)
        if cached is not None and cached[0] == key:
            return cached[1]
        self._check_params()
        backend = self._load_backend()
        _LOADED[self] = (key, backend)
        return backend

    def _load_backend(self) -> Any:
        kind = _resolve_kind(self.backbone, self.kind)
        workers = self.num_workers if self.num_workers is not None else min(4, max(0, (os.cpu_count() or 1) - 1))
        options = BackendOptions(
            backbone=self.backbone,
            device=resolve_device(self.device) if kind != "callable" else torch.device("cpu"),
            amp_dtype=resolve_amp_dtype(self.amp_dtype),
            num_workers=int(workers),
            image_options={k: getattr(self, k) for k in _IMAGE_OPTIONS},
            layer=self.layer,
            channels_last=self.channels_last if isinstance(self.channels_last, str) else bool(self.channels_last),
            compile=bool(self.compile),
            pretrained=bool(self.pretrained),
            weights=self.weights,
            model_kwargs=self.model_kwargs,
            cache_key=self.cache_key,
            retry_on=self.retry_on if isinstance(self.retry_on, tuple) else (self.retry_on,),
            max_retries=int(self.max_retries),
            backoff=float(self.backoff),
        )
        return build_backend(kind, options)

    def _feature_cache(self) -> FeatureCache | None:
        cache = self.cache
        if cache is None or isinstance(cache, FeatureCache):
            return cache
        if isinstance(cache, (str, os.PathLike)):
            return FeatureCache(cache)
        location = getattr(cache, "location", "missing")
        if location != "missing":  # a joblib.Memory
            return None if location is None else FeatureCache(os.path.join(location, "sknmtune_features"))
        raise TypeError(f"cache must be None, a directory, a joblib.Memory or a FeatureCache; got {type(cache).__name__}.")

    def _check_modality(self, backend: Any, inputs: Inputs) -> Inputs:
        m = inputs.modality
        if backend.kind == "callable":
            return inputs
        if backend.kind == "text":
            if m != "strings":
                raise ValueError(
                    f"Got {describe(inputs)}, but the backbone is a text model ({backend.description}); it takes a "
                    "list of strings or of (str, str) pairs. Images need an image backbone (a timm model name)."
                )
            return inputs
        if m == "pairs":
            raise ValueError(
                f"Got sentence pairs, but the backbone is an image model ({backend.description}). Text needs a text "
                "backbone (a sentence-transformers model name or directory)."
            )
        if m == "strings":
            inputs = as_file_inputs(inputs)
            m = inputs.modality
        if m not in backend.accepts:
            raise ValueError(
                f"Got {describe(inputs)}, but the backbone ({backend.description}) takes images: arrays (N, H, W, C), "
                "(N, C, H, W) or (N, H, W), image file paths, PIL images or a torch Dataset."
            )
        if m == "images" and (not backend.raw_float or inputs.data.dtype.kind in "ui"):
            check_image_array(inputs.data, backend.spec.in_chans if backend.spec is not None else 3)
        return inputs

    def _features(self, backend: Any, inputs: Inputs) -> np.ndarray:
        if inputs.modality == "dataset" and backend.kind == "text":  # text is small: materialize it
            inputs = as_inputs([_first(inputs.data[i]) for i in range(len(inputs.data))])
        if inputs.modality == "pairs":
            parts = validate_pair_parts(self.pair_features)
            if parts is not None or backend.kind != "callable":
                if backend.kind not in ("text", "callable"):
                    self._check_modality(backend, inputs)  # raises the image-backbone error
                if parts is None:
                    raise ValueError("pair_features=None passes pairs unchanged, which only a callable backbone accepts.")
                first = [a for a, _ in inputs.data]
                second = [b for _, b in inputs.data]
                where = {s: i for i, s in enumerate(dict.fromkeys(first + second))}
                emb = self._extract(backend, Inputs("strings", list(where)))
                return pair_features(emb[[where[s] for s in first]], emb[[where[s] for s in second]], parts)
        inputs = self._check_modality(backend, inputs)
        return self._extract(backend, inputs)

    def _output_width(self, backend: Any, inputs: Inputs) -> int:
        """The width ``transform`` gives for ``inputs``: declared by the model, or measured on one sample."""
        width = backend.n_features
        if width is not None and inputs.modality not in ("pairs", "dataset"):
            self._check_modality(backend, inputs)  # the errors transform would raise, raised by fit
            return int(width)
        if width is not None and backend.kind == "text":
            parts = validate_pair_parts(self.pair_features)
            if parts is not None:
                return int(pair_features(np.zeros((1, width)), np.zeros((1, width)), parts).shape[1])
        if inputs.modality == "dataset":
            from torch.utils.data import Subset

            first = Inputs("dataset", Subset(inputs.data, [0]))
        else:
            first = Inputs(inputs.modality, inputs.take(np.array([0])))
        return int(self._features(backend, first).shape[1])

    def _views(self, backend: Any, inputs: Inputs) -> np.ndarray:
        """Center crop + augmented views, ``(n, 1 + views, D)``; each view cached as its own feature set."""
        if backend.kind != "torch" or inputs.modality in ("pairs", "vectors"):
            raise ValueError(
                f"views={self.views} needs an image backbone and image inputs; got {describe(inputs)} for "
                f"{backend.description}. Set views=0 for text, vector or API backbones."
            )
        inputs = self._check_modality(backend, inputs)
        spec = resolve_view_spec(self.view_augmentation, self.random_state)
        center = self._extract(backend, inputs)
        out = np.empty((center.shape[0], 1 + int(self.views), center.shape[1]), dtype=np.float32)
        out[:, 0] = center
        for k in range(1, int(self.views) + 1):
            out[:, k] = self._extract(backend, inputs, view=(spec, k))
        return out

    def _extract(self, backend: Any, inputs: Inputs, view: tuple[ViewSpec, int] | None = None) -> np.ndarray:
        """Run the backbone over the samples not in the cache, into one preallocated array.

        ``view=(spec, k)`` extracts augmented view ``k`` instead of the center crop (its own cache namespace).
        """
        n = len(inputs)
        augmented = None if view is None else AugmentedView(view[0], view_seeds(inputs.keys(), view[1], view[0].random_state))
        cache = self._feature_cache()
        out: np.ndarray | None = None
        writer: Any = contextlib.nullcontext()
        keys = src = None
        if cache is None:
            todo = np.arange(n)
        else:
            keys = inputs.keys()
            _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
            src = first[inverse.ravel()]  # the row holding each sample's first occurrence
            firsts = np.sort(first)
            space = cache.namespace(
                f"{backend.identity}\nmodality={inputs.modality}" + ("" if view is None else "\n" + view[0].identity(view[1])),
                description={"backbone": backend.description, "params": {k: repr(v) for k, v in self.get_params(deep=False).items()}},
            )
            found, rows = space.lookup(keys[firsts])
            for pos, feats in rows:
                if out is None:
                    out = np.empty((n, feats.shape[1]), dtype=np.float32)
                elif feats.shape[1] != out.shape[1]:
                    raise ValueError(
                        f"The feature cache {space.path} holds rows of {feats.shape[1]} and {out.shape[1]} features "
                        "for one backbone; the backbone changed under the same cache_key. Use another cache_key or "
                        "delete that directory."
                    )
                out[firsts[pos]] = feats
            todo = firsts[~found]
            writer = space.writer()
        from tqdm.auto import tqdm

        with writer as w, tqdm(total=len(todo), disable=not self.verbose or not len(todo), unit="sample",
                               desc=f"Extracting ({backend.description})") as bar:
            for pos, feats in backend.iter_features(
                inputs, todo, int(self.batch_size), **({} if augmented is None else {"view": augmented})
            ):
                if not np.isfinite(feats).all():
                    raise ValueError(
                        f"The backbone ({backend.description}) produced NaN or infinite features for samples "
                        f"{int(pos.min())}..{int(pos.max())}" + (" (try amp_dtype='bf16' or None)." if self.amp_dtype else ".")
                    )
                if out is None:
                    out = np.empty((n, feats.shape[1]), dtype=np.float32)
                elif feats.shape[1] != out.shape[1]:
                    raise ValueError(
                        f"The backbone ({backend.description}) returned {feats.shape[1]} features for samples "
                        f"{int(pos.min())}..{int(pos.max())} but {out.shape[1]} before (or in the cache)."
                    )
                out[pos] = feats
                if keys is not None:
                    w.add(keys[pos], feats)
                bar.update(len(pos))
        if src is not None:
            dup = src != np.arange(n)
            if dup.any():
                out[dup] = out[src[dup]]
        return out


def _is_module(obj: Any) -> bool:
    from torch import nn

    return isinstance(obj, nn.Module)
