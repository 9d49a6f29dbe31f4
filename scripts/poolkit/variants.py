"""The pretrained VGG16 conv base with its five max pools swapped, weights unchanged (no retraining).

The variants are the kinds of :mod:`poolkit.kinds` that have Keras layers (:data:`poolkit.kinds.VARIANTS`:
``max``, the blur filters, ``aps``, ``aps_circular``); each entry says which layers replace every
pooling layer and whether the 3×3 convolutions pad circularly instead of with zeros ("same").

:func:`load_variant_base` is the drop-in for :func:`poolkit.weights.load_model_from_file`
(image → last feature map); :func:`gap_model` adds the 512 GAP scores.
"""

from __future__ import annotations

import os
from typing import Any

from .kinds import NETWORK_KEY, kind, network_layers


def _keras() -> Any:
    import keras

    return keras


def conv_layers(conv: Any, circular: bool) -> list[Any]:
    """A copy of a built Conv2D (its weights too), with circular padding instead of 'same' if asked."""
    from .keras_layers import CircularPad2D

    layers = _keras().layers
    config = conv.get_config()
    out: list[Any] = []
    if circular and config["padding"] == "same":
        pad_h, pad_w = (k // 2 for k in config["kernel_size"])
        out.append(CircularPad2D((pad_h, pad_h, pad_w, pad_w), name=f"{conv.name}_wrap"))
        config["padding"] = "valid"
    copy = layers.Conv2D.from_config(config)
    copy.build((None, None, None, conv.kernel.shape[2]))
    copy.set_weights(conv.get_weights())
    return [*out, copy]


def variant_base(base: Any, variant: str) -> Any:
    """A functional copy of a VGG16 conv base (image → last feature map) with the pools swapped.

    Convolutions keep ``base``'s weights; the result shares no variables with ``base``.
    """
    keras = _keras()
    circular = kind(variant, NETWORK_KEY).circular_convolutions
    inputs = keras.Input(shape=(None, None, 3), name="image")
    x = inputs
    for layer in base.layers[1:]:
        if isinstance(layer, keras.layers.MaxPooling2D):
            new = network_layers(variant, layer.name)
        elif isinstance(layer, keras.layers.Conv2D):
            new = conv_layers(layer, circular=circular)
        else:
            raise ValueError(f"unexpected layer {layer.name} ({type(layer).__name__}) in the VGG16 base")
        for piece in new:
            x = piece(x)
    return keras.Model(inputs, x, name=f"vgg16_{variant}")


def load_variant_base(weights_file: str | os.PathLike[str], variant: str) -> Any:
    """The VGG16 base with weights from a Keras weights file (as :func:`poolkit.weights.load_model_from_file`),
    pools swapped for ``variant``: a drop-in for ``FeatureExtractor.base``."""
    from .weights import load_model_from_file

    kind(variant, NETWORK_KEY)  # an unknown name fails before the weights are read
    base = load_model_from_file(weights_file)
    return base if variant == "max" else variant_base(base, variant)


def gap_model(base: Any) -> Any:
    """``base`` followed by global average pooling: image → (512 GAP scores, last feature map)."""
    keras = _keras()
    inputs = keras.Input(shape=(None, None, 3), name="image")
    maps = base(inputs)
    scores = keras.layers.GlobalAveragePooling2D(name="gap")(maps)
    return keras.Model(inputs, [scores, maps], name=f"{base.name}_gap")
