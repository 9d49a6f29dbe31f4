"""The pretrained VGG16 conv base with its five max pools swapped, weights unchanged (no retraining).

Variants (:data:`VARIANTS`), each applied to all five pooling layers:

- ``max``: the stock 2×2 max pool, stride 2.
- ``blur``: Zhang's MaxBlurPool (ICML 2019; adobe/antialiased-cnns): 2×2 max with stride 1
  (no padding: side n → n − 1), reflection padding by one, then the binomial blur
  [1, 2, 1] ⊗ [1, 2, 1] / 16 per channel with stride 2 (n − 1 → n / 2 for even n).
- ``aps``: circular padding by one at the bottom and right, 2×2 max with stride 1 (side kept),
  then adaptive polyphase sampling (Chaman & Dokmanić, CVPR 2021): per image, the stride-2
  polyphase component with the largest l2 norm over all channels and positions (ties: the first
  in the order of :func:`poolkit.pooling.polyphase_components`).
- ``aps_circular``: ``aps`` with circular instead of zero ("same") padding in every 3×3
  convolution; exactly invariant to integer circular shifts after global average pooling for
  sides divisible by 32.

:func:`load_variant_base` is the drop-in for :func:`poolkit.weights.load_model_from_file`
(image → last feature map); :func:`gap_model` adds the 512 GAP scores.
"""

from __future__ import annotations

import os
from typing import Any

VARIANTS: tuple[str, ...] = ("max", "blur", "aps", "aps_circular")


def check_variant(variant: str) -> None:
    """Raise for a variant name not in :data:`VARIANTS`."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown base variant {variant!r}; allowed: {', '.join(VARIANTS)}")


def _keras() -> Any:
    import keras

    return keras


def pool_layers(variant: str, name: str) -> list[Any]:
    """The layers that replace one 2×2 stride-2 max pool named ``name``."""
    from .keras_layers import BinomialBlurPool, CircularPad2D, PolyphasePick

    layers = _keras().layers
    if variant == "max":
        return [layers.MaxPooling2D(2, strides=2, name=name)]
    if variant == "blur":
        return [layers.MaxPooling2D(2, strides=1, padding="valid", name=f"{name}_max"), BinomialBlurPool(name=name)]
    return [
        CircularPad2D((0, 1, 0, 1), name=f"{name}_wrap"),
        layers.MaxPooling2D(2, strides=1, padding="valid", name=f"{name}_max"),
        PolyphasePick(name=name),
    ]


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
    check_variant(variant)
    inputs = keras.Input(shape=(None, None, 3), name="image")
    x = inputs
    for layer in base.layers[1:]:
        if isinstance(layer, keras.layers.MaxPooling2D):
            new = pool_layers(variant, layer.name)
        elif isinstance(layer, keras.layers.Conv2D):
            new = conv_layers(layer, circular=variant == "aps_circular")
        else:
            raise ValueError(f"unexpected layer {layer.name} ({type(layer).__name__}) in the VGG16 base")
        for piece in new:
            x = piece(x)
    return keras.Model(inputs, x, name=f"vgg16_{variant}")


def load_variant_base(weights_file: str | os.PathLike[str], variant: str) -> Any:
    """The VGG16 base with weights from a Keras weights file (as :func:`poolkit.weights.load_model_from_file`),
    pools swapped for ``variant``: a drop-in for ``FeatureExtractor.base``."""
    from .weights import load_model_from_file

    check_variant(variant)
    base = load_model_from_file(weights_file)
    return base if variant == "max" else variant_base(base, variant)


def gap_model(base: Any) -> Any:
    """``base`` followed by global average pooling: image → (512 GAP scores, last feature map)."""
    keras = _keras()
    inputs = keras.Input(shape=(None, None, 3), name="image")
    maps = base(inputs)
    scores = keras.layers.GlobalAveragePooling2D(name="gap")(maps)
    return keras.Model(inputs, [scores, maps], name=f"{base.name}_gap")
