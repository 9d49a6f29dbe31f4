"""The registry of pooling kinds: every kind, and every VGG16 variant built from it, defined once.

An entry (:class:`Kind`) holds the kind's NumPy operation for the trials (:mod:`poolkit.pooling`),
the Keras layers that replace each of VGG16's five max pools for the network stage
(:mod:`poolkit.keras_layers`, imported only when a network is built: this module keeps Keras and
TensorFlow out of what the Snakefile imports), its label, colour and line style in the figures, its
one-line description, and Zhang's published VGG16 figures where there are some. The config schema's
lists of kinds and their defaults (:func:`complete_schema`), the config checks, the network rules'
wildcard constraint (:data:`VARIANTS` joined by ``|``), the figures and the findings read this
module: adding a kind is adding an entry here (with its tests, and the config where it should run).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from .io import UserError
from .pooling import BINOMIAL_3, Taps, aps_pool, avg_pool, blur_pool, max_pool

#: A NumPy 2×2 stride-2 pooling step on ``(..., H, W)`` arrays.
TrialPool = Callable[[np.ndarray], np.ndarray]
#: The Keras layers that replace one 2×2 stride-2 max pool, given the pool's layer name.
NetworkPool = Callable[[str], list[Any]]


def stock_max_layers(name: str) -> list[Any]:
    """Keras' 2×2 max pool, stride 2 (the stock VGG16's)."""
    from .keras_layers import stock_max_pool

    return stock_max_pool(name)


def max_blur_layers(taps: Taps) -> NetworkPool:
    """Zhang's MaxBlurPool with the blur filter ``taps`` along rows and columns."""

    def layers(name: str) -> list[Any]:
        from .keras_layers import max_blur_pool

        return max_blur_pool(name, taps)

    return layers


def blur_pooling(taps: Taps) -> dict[str, Any]:
    """The trial operation and the network layers of blur pooling with the filter ``taps`` (Zhang's
    MaxBlurPool: 2×2 max with stride 1, reflection padding, ``taps`` ⊗ ``taps`` normalised, stride 2)."""
    return {"trial": partial(blur_pool, taps=taps), "network": max_blur_layers(taps)}


def max_aps_layers(name: str) -> list[Any]:
    """Circular 2×2 max with stride 1, then adaptive polyphase sampling."""
    from .keras_layers import max_aps_pool

    return max_aps_pool(name)


@dataclass(frozen=True, kw_only=True)
class Kind:
    """One pooling kind: what the trials and the network stage run, and how figures and text show it."""

    name: str
    label: str
    description: str
    colour: str
    marker: str
    line: str
    #: The trials' NumPy operation (None: not a trial kind).
    trial: TrialPool | None = None
    #: The network stage's Keras layers per max pool (None: not a VGG16 variant).
    network: NetworkPool | None = None
    #: Circular instead of zero ("same") padding in every 3×3 convolution of the variant.
    circular_convolutions: bool = False
    #: The trial operation needs even sides at every pooling step.
    even_sides: bool = False
    #: In the schema's default lists (the real experiment, config/config.yaml): trials, network.
    default_trial: bool = False
    default_network: bool = False
    #: Zhang (ICML 2019, Table of VGG16 filters): ImageNet accuracy and consistency (%), trained so.
    zhang_vgg16: tuple[float, float] | None = None


KINDS: Mapping[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind(
            name="max",
            label="max",
            description="2×2 max pooling, stride 2 (the stock VGG16)",
            colour="#c03d3e",
            marker="o",
            line="-",
            trial=max_pool,
            network=stock_max_layers,
            default_trial=True,
            default_network=True,
            zhang_vgg16=(71.59, 88.52),
        ),
        Kind(
            name="avg",
            label="avg",
            description="2×2 average pooling, stride 2",
            colour="#3274a1",
            marker="s",
            line="--",
            trial=avg_pool,
            default_trial=True,
        ),
        Kind(
            name="blur",
            label="blur (Tri-3)",
            description="Zhang's anti-aliased max pooling (MaxBlurPool): 2×2 max with stride 1, reflection padding, "
            "the binomial blur [1, 2, 1] ⊗ [1, 2, 1] / 16 with stride 2 (Tri-3)",
            colour="#3a923a",
            marker="^",
            line=":",
            **blur_pooling(BINOMIAL_3),
            default_trial=True,
            default_network=True,
            zhang_vgg16=(72.20, 89.60),
        ),
        Kind(
            name="blur_rect2",
            label="blur (Rect-2)",
            description="`blur` with Zhang's 2-tap filter [1, 1] ⊗ [1, 1] / 4 (Rect-2; reflection padding by one "
            "at the bottom and right only)",
            colour="#9bbf3a",
            marker="<",
            line=":",
            **blur_pooling((1, 1)),
            zhang_vgg16=(72.15, 89.24),
        ),
        Kind(
            name="blur_bin5",
            label="blur (Bin-5)",
            description="`blur` with Zhang's 5-tap binomial filter [1, 4, 6, 4, 1] ⊗ [1, 4, 6, 4, 1] / 256 "
            "(Bin-5, his best VGG16)",
            colour="#1f6f5c",
            marker=">",
            line=":",
            **blur_pooling((1, 4, 6, 4, 1)),
            zhang_vgg16=(72.33, 90.19),
        ),
        Kind(
            name="aps",
            label="aps",
            description="adaptive polyphase sampling (Chaman & Dokmanić, CVPR 2021): circular 2×2 max with stride 1, "
            "then the polyphase component with the largest l2 norm; trials need image sides divisible by "
            "2^max_depth",
            colour="#8e5ea2",
            marker="D",
            line="-.",
            trial=aps_pool,
            network=max_aps_layers,
            even_sides=True,
            default_trial=True,
            default_network=True,
        ),
        Kind(
            name="aps_circular",
            label="aps_circular",
            description="`aps` with circular padding in every convolution: exactly invariant to circular shifts",
            colour="#d684bd",
            marker="v",
            line="-",
            network=max_aps_layers,
            circular_convolutions=True,
            default_network=True,
        ),
    )
}

#: Trial kinds and VGG16 variants, in the registry's order (figures and text list them so).
POOLINGS: tuple[str, ...] = tuple(name for name, kind in KINDS.items() if kind.trial is not None)
VARIANTS: tuple[str, ...] = tuple(name for name, kind in KINDS.items() if kind.network is not None)
#: The config keys that list kinds, and the kinds each allows.
TRIALS_KEY, NETWORK_KEY = "invariance.poolings", "invariance.network.variants"
KIND_KEYS: Mapping[str, tuple[str, ...]] = {TRIALS_KEY: POOLINGS, NETWORK_KEY: VARIANTS}
_DEFAULTS = {
    TRIALS_KEY: [name for name in POOLINGS if KINDS[name].default_trial],
    NETWORK_KEY: [name for name in VARIANTS if KINDS[name].default_network],
}


def kind(name: str, key: str) -> Kind:
    """The entry of ``name`` among the kinds config key ``key`` allows; a UserError naming both otherwise."""
    if name not in KIND_KEYS[key]:
        raise UserError(f"config key '{key}': unknown kind {name!r}; known kinds: {', '.join(KIND_KEYS[key])}")
    return KINDS[name]


def pool(x: np.ndarray, name: str) -> np.ndarray:
    """One 2×2 stride-2 pooling step of the trial kind ``name``."""
    operation = kind(name, TRIALS_KEY).trial
    assert operation is not None  # every kind invariance.poolings allows has one
    return operation(x)


def network_layers(name: str, layer_name: str) -> list[Any]:
    """The Keras layers of VGG16 variant ``name`` that replace the max pool ``layer_name``."""
    layers = kind(name, NETWORK_KEY).network
    assert layers is not None  # every kind invariance.network.variants allows has them
    return layers(layer_name)


def _schema_node(schema: dict[str, Any], key: str) -> dict[str, Any]:
    node = schema
    for part in key.split("."):
        node = node["properties"][part]
    return node


def complete_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with every kind list filled in from the registry: the allowed names, the default
    list, and the description followed by each kind's one line."""
    for key, names in KIND_KEYS.items():
        node = _schema_node(schema, key)
        node["items"]["enum"] = list(names)
        node["default"] = list(_DEFAULTS[key])
        node["description"] += ": " + "; ".join(f"`{name}`: {KINDS[name].description}" for name in names)
    return schema
