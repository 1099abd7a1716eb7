"""Module trees of standard ``torch.nn`` layers (``nn.Sequential(nn.Linear(...), nn.ReLU(), ...)``), stored as data.

A backbone built only from the layers of :data:`LAYERS` (exact classes, no subclasses) is written as its
tree: each node names its layer class (a key of the allow-list, never an import path), the constructor
arguments read back from the layer's attributes, and its children; the root holds the state dict. Loading
looks every class up in the allow-list, checks every argument is a plain value, builds the tree on
PyTorch's ``meta`` device (no memory, no initialization), checks the state dict's keys, shapes and
dtypes against it, and only then assigns the stored tensors: no import by a name from the file, no
constructor outside torch.nn's standard layers, no memory spent before the sizes are checked.

Saving refuses (``TypeError``, naming the layer) a tree with another class, hooks, or a layer whose
arguments do not rebuild it exactly (its ``repr`` and state dict are compared with the rebuilt one's).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from ._format import _KIND, _Malformed

#: The entry kind of a layer tree in the JSON spec.
TREE_KIND = "nn_tree"
#: The most nodes a stored tree may have (a file cannot make loading build an unbounded tree).
MAX_NODES = 10_000

_CONV = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias",
         "padding_mode")
_CONV_T = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "output_padding", "groups", "bias",
           "dilation", "padding_mode")
_NORM = ("num_features", "eps", "momentum", "affine", "track_running_stats")
_POOL_MAX = ("kernel_size", "stride", "padding", "dilation", "return_indices", "ceil_mode")

#: class name -> constructor arguments read from the layer's attribute of the same name ("bias" is a bool).
LAYERS: dict[str, tuple[type[nn.Module], tuple[str, ...]]] = {
    "Sequential": (nn.Sequential, ()),
    "ModuleList": (nn.ModuleList, ()),
    "Identity": (nn.Identity, ()),
    "Linear": (nn.Linear, ("in_features", "out_features", "bias")),
    "Conv1d": (nn.Conv1d, _CONV),
    "Conv2d": (nn.Conv2d, _CONV),
    "Conv3d": (nn.Conv3d, _CONV),
    "ConvTranspose1d": (nn.ConvTranspose1d, _CONV_T),
    "ConvTranspose2d": (nn.ConvTranspose2d, _CONV_T),
    "BatchNorm1d": (nn.BatchNorm1d, _NORM),
    "BatchNorm2d": (nn.BatchNorm2d, _NORM),
    "BatchNorm3d": (nn.BatchNorm3d, _NORM),
    "InstanceNorm1d": (nn.InstanceNorm1d, _NORM),
    "InstanceNorm2d": (nn.InstanceNorm2d, _NORM),
    "LayerNorm": (nn.LayerNorm, ("normalized_shape", "eps", "elementwise_affine", "bias")),
    "GroupNorm": (nn.GroupNorm, ("num_groups", "num_channels", "eps", "affine")),
    "Embedding": (nn.Embedding, ("num_embeddings", "embedding_dim", "padding_idx", "max_norm", "norm_type",
                                 "scale_grad_by_freq", "sparse")),
    "Dropout": (nn.Dropout, ("p", "inplace")),
    "Dropout1d": (nn.Dropout1d, ("p", "inplace")),
    "Dropout2d": (nn.Dropout2d, ("p", "inplace")),
    "AlphaDropout": (nn.AlphaDropout, ("p", "inplace")),
    "ReLU": (nn.ReLU, ("inplace",)),
    "ReLU6": (nn.ReLU6, ("inplace",)),
    "LeakyReLU": (nn.LeakyReLU, ("negative_slope", "inplace")),
    "ELU": (nn.ELU, ("alpha", "inplace")),
    "SELU": (nn.SELU, ("inplace",)),
    "CELU": (nn.CELU, ("alpha", "inplace")),
    "GELU": (nn.GELU, ("approximate",)),
    "SiLU": (nn.SiLU, ("inplace",)),
    "Mish": (nn.Mish, ("inplace",)),
    "Hardswish": (nn.Hardswish, ("inplace",)),
    "Hardsigmoid": (nn.Hardsigmoid, ("inplace",)),
    "Hardtanh": (nn.Hardtanh, ("min_val", "max_val", "inplace")),
    "Softplus": (nn.Softplus, ("beta", "threshold")),
    "Tanh": (nn.Tanh, ()),
    "Sigmoid": (nn.Sigmoid, ()),
    "Softmax": (nn.Softmax, ("dim",)),
    "LogSoftmax": (nn.LogSoftmax, ("dim",)),
    "Flatten": (nn.Flatten, ("start_dim", "end_dim")),
    "Unflatten": (nn.Unflatten, ("dim", "unflattened_size")),
    "MaxPool1d": (nn.MaxPool1d, _POOL_MAX),
    "MaxPool2d": (nn.MaxPool2d, _POOL_MAX),
    "AvgPool1d": (nn.AvgPool1d, ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad")),
    "AvgPool2d": (nn.AvgPool2d, ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                                 "divisor_override")),
    "AdaptiveAvgPool1d": (nn.AdaptiveAvgPool1d, ("output_size",)),
    "AdaptiveAvgPool2d": (nn.AdaptiveAvgPool2d, ("output_size",)),
    "AdaptiveMaxPool1d": (nn.AdaptiveMaxPool1d, ("output_size", "return_indices")),
    "AdaptiveMaxPool2d": (nn.AdaptiveMaxPool2d, ("output_size", "return_indices")),
}
_NAMES = {cls: name for name, (cls, _) in LAYERS.items()}
_CONTAINERS = ("Sequential", "ModuleList")


def _plain(value: Any) -> bool:
    """Whether ``value`` is a constructor argument the tree stores (numbers, strings, None, tuples of them)."""
    if value is None or type(value) in (bool, int, str):
        return True
    if type(value) is float:
        return math.isfinite(value)
    return type(value) in (tuple, list) and all(_plain(v) for v in value)


def is_layer_tree(module: Any) -> bool:
    """Whether ``module`` is stored as a layer tree: its root is exactly one of the allow-listed ``torch.nn``
    layers (:func:`encode_tree` then refuses, naming it, any other module inside)."""
    return type(module) in _NAMES


def _refusal(where: str, why: str) -> TypeError:
    return TypeError(
        f"cannot save {where} in the safe format: {why}. A backbone built only from standard torch.nn layers "
        f"({', '.join(LAYERS)}) is stored as its layer tree; save(..., format='joblib') writes a pickle instead "
        "(loading it then needs trusted=True)."
    )


def _arguments(layer: nn.Module, where: str) -> dict[str, Any]:
    name = _NAMES[type(layer)]
    args: dict[str, Any] = {}
    for key in LAYERS[name][1]:
        value = getattr(layer, key, None)
        if key == "bias" and not isinstance(value, bool):
            value = value is not None  # the Parameter, or None: the constructor takes a bool
        if isinstance(value, torch.Size):
            value = tuple(value)
        if not _plain(value):
            raise _refusal(where, f"its {name} has {key}={value!r}, which is not a plain value")
        args[key] = list(value) if isinstance(value, tuple) else value
    return args


def _build(name: str, args: dict[str, Any], children: list[tuple[str, nn.Module]]) -> nn.Module:
    cls = LAYERS[name][0]
    if name == "Sequential":
        return nn.Sequential(OrderedDict(children))
    if name == "ModuleList":
        return nn.ModuleList([child for _, child in children])
    kwargs = {key: tuple(value) if isinstance(value, list) else value for key, value in args.items()}
    return cls(**kwargs)


def encode_tree(module: nn.Module, where: str) -> dict[str, Any]:
    """The structure of a layer tree as JSON values (the state dict is stored by the caller).

    Raises ``TypeError`` naming the layer when the tree cannot be stored (another class, hooks, a layer
    that its arguments do not rebuild exactly).
    """
    def node(layer: nn.Module, path: str) -> dict[str, Any]:
        name = _NAMES.get(type(layer))
        if name is None:
            kind = type(layer)
            raise _refusal(where, f"{path} is a {kind.__module__}.{kind.__qualname__}, not a standard torch.nn layer")
        if any(getattr(layer, hooks, None) for hooks in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks",
                                                         "_state_dict_hooks", "_load_state_dict_pre_hooks")):
            raise _refusal(where, f"{path} ({name}) has hooks registered, which are code")
        children = [[key, node(child, f"{path}.{key}")] for key, child in layer.named_children()]
        if children and name not in _CONTAINERS:
            raise _refusal(where, f"{path} ({name}) has child modules its constructor does not build")
        entry: dict[str, Any] = {"class": name, "args": _arguments(layer, path), "children": children}
        return entry

    tree = node(module, "the backbone")
    with torch.device("meta"):
        rebuilt = _rebuild_node(tree, where, [0])
    if repr(rebuilt) != repr(module):
        raise _refusal(where, "its layers' arguments do not rebuild it exactly (a layer attribute was changed after "
                              "construction?)")
    have = {k: (tuple(t.shape), t.dtype) for k, t in module.state_dict().items()}
    built = {k: (tuple(t.shape), t.dtype) for k, t in rebuilt.state_dict().items()}
    if have != built:
        raise _refusal(where, "its state dict differs from the one its layers build (keys, shapes or dtypes); "
                              "save the module as its constructors build it")
    return {_KIND: TREE_KIND, "tree": tree, "training": bool(module.training)}


def _rebuild_node(node: Any, where: str, count: list[int]) -> nn.Module:
    count[0] += 1
    if count[0] > MAX_NODES:
        raise _Malformed(f"the layer tree at {where} has more than {MAX_NODES} nodes")
    if not (isinstance(node, dict) and isinstance(node.get("class"), str) and isinstance(node.get("args"), dict)
            and isinstance(node.get("children"), list)):
        raise _Malformed(f"malformed layer tree node at {where}")
    name = node["class"]
    if name not in LAYERS:
        raise _Malformed(f"the layer tree at {where} names {name!r}, which is not one of the standard torch.nn layers "
                         "the safe format builds")
    args = node["args"]
    if set(args) != set(LAYERS[name][1]) or not all(_plain(v) for v in args.values()):
        raise _Malformed(f"malformed arguments of the {name} at {where}")
    if node["children"] and name not in _CONTAINERS:
        raise _Malformed(f"the {name} at {where} cannot have child modules")
    children = []
    for item in node["children"]:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str) and item[0]
                and "." not in item[0]):
            raise _Malformed(f"malformed child of the {name} at {where}")
        children.append((item[0], _rebuild_node(item[1], f"{where}.{item[0]}", count)))
    try:
        return _build(name, args, children)
    except Exception as exc:  # arguments a constructor refuses (negative sizes, wrong types)
        raise _Malformed(f"the {name} at {where} cannot be built from its stored arguments "
                         f"({type(exc).__name__}: {' '.join(str(exc).split())})") from exc


def decode_tree(value: dict[str, Any], state: dict[str, torch.Tensor], where: str) -> nn.Module:
    """Build the stored tree on the meta device, check ``state`` against it, then assign the tensors."""
    with torch.device("meta"):
        module = _rebuild_node(value.get("tree"), where, [0])
    expected = {k: (tuple(t.shape), t.dtype) for k, t in module.state_dict().items()}
    found = {k: (tuple(t.shape), t.dtype) for k, t in state.items()}
    if expected != found:
        missing, extra = sorted(expected.keys() - found.keys()), sorted(found.keys() - expected.keys())
        wrong = sorted(k for k in expected.keys() & found.keys() if expected[k] != found[k])
        raise _Malformed(f"the weights at {where} do not fit its layer tree (missing: {missing[:5]}, unexpected: "
                         f"{extra[:5]}, wrong shape or dtype: {wrong[:5]})")
    module.load_state_dict(state, strict=True, assign=True)
    if any(t.is_meta for t in (*module.parameters(), *module.buffers())):
        raise _Malformed(f"the layer tree at {where} has tensors its state dict does not hold")
    return module.train(value.get("training") is True)
