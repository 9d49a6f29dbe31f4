"""Keras layers for the pooling variants of :mod:`poolkit.variants`, and the layers each kind of
:mod:`poolkit.kinds` puts in place of one 2×2 stride-2 max pool.

Importing this module imports Keras (and TensorFlow): import it inside functions, after
:func:`poolkit.tfsetup.configure`, as :mod:`poolkit.kinds` does. Tensors are NHWC.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from .pooling import BINOMIAL_3, Taps, blur_kernel, blur_padding


def _grow(side: int | None, extra: int) -> int | None:
    return None if side is None else side + extra


def circular_pad(x: Any, top: int, bottom: int, left: int, right: int) -> Any:
    """Pad rows and columns by wrapping round: the rows added on top are the last ``top`` rows, etc."""
    rows = [*([x[:, -top:]] if top else []), x, *([x[:, :bottom]] if bottom else [])]
    x = ops.concatenate(rows, axis=1) if len(rows) > 1 else x
    cols = [*([x[:, :, -left:]] if left else []), x, *([x[:, :, :right]] if right else [])]
    return ops.concatenate(cols, axis=2) if len(cols) > 1 else x


def polyphase_pick(x: Any) -> Any:
    """Adaptive polyphase sampling by 2 (sides even): per image, the component ``x[:, a::2, b::2]``
    of largest l2 norm over all channels and positions, ties to the first of (a, b) =
    (0, 0), (1, 0), (0, 1), (1, 1), the order of :func:`poolkit.pooling.polyphase_components`.

    One transpose lays the four components of image n out as rows 4n + a + 2b of one batch, and a
    single gather takes the picked row of each image (stacking strided slices and gathering with
    broadcast indices was 11 times slower at VGG16's first pool)."""
    _, height, width, channels = ops.shape(x)
    grid = ops.reshape(x, (-1, height // 2, 2, width // 2, 2, channels))  # x[n, 2i + a, 2j + b] at [n, i, a, j, b]
    phases = ops.reshape(ops.transpose(grid, (0, 4, 2, 1, 3, 5)), (-1, height // 2, width // 2, channels))
    energy = ops.reshape(ops.sum(ops.square(ops.cast(phases, "float32")), axis=(1, 2, 3)), (-1, 4))  # (batch, 4)
    best = ops.max(energy, axis=1, keepdims=True)
    pick = ops.min(ops.where(energy == best, ops.arange(4, dtype="int32"), 4), axis=1)  # lowest index among the maxima
    return ops.take(phases, ops.arange(ops.shape(energy)[0], dtype="int32") * 4 + pick, axis=0)


def binomial_blur_pool(x: Any, kernel: Any, taps: Taps) -> Any:
    """Reflection padding for ``taps`` (:func:`poolkit.pooling.blur_padding`), then the depthwise
    k×k ``kernel`` (k, k, C, 1) with stride 2."""
    pad = blur_padding(taps)
    x = ops.pad(x, [(0, 0), pad, pad, (0, 0)], mode="reflect")
    return ops.depthwise_conv(x, ops.cast(kernel, x.dtype), strides=2, padding="valid")


@keras.saving.register_keras_serializable(package="poolkit")
class CircularPad2D(keras.layers.Layer):
    """Circular padding by ``(top, bottom, left, right)`` cells."""

    def __init__(self, padding: tuple[int, int, int, int] = (1, 1, 1, 1), **kwargs: Any):
        super().__init__(**kwargs)
        self.padding = tuple(int(p) for p in padding)

    def call(self, x: Any) -> Any:
        return circular_pad(x, *self.padding)

    def compute_output_shape(self, shape: tuple) -> tuple:
        top, bottom, left, right = self.padding
        return (shape[0], _grow(shape[1], top + bottom), _grow(shape[2], left + right), shape[3])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "padding": self.padding}


@keras.saving.register_keras_serializable(package="poolkit")
class BinomialBlurPool(keras.layers.Layer):
    """Zhang's BlurPool step: reflection padding, ``taps`` ⊗ ``taps`` normalised, per channel, stride 2
    (by default Tri-3: pad by one, [1, 2, 1] ⊗ [1, 2, 1] / 16)."""

    def __init__(self, taps: Taps = BINOMIAL_3, **kwargs: Any):
        super().__init__(**kwargs)
        self.taps = tuple(int(t) for t in taps)

    def build(self, shape: tuple) -> None:
        kernel = np.repeat(blur_kernel(self.taps)[:, :, None, None], int(shape[-1]), axis=2)  # (k, k, C, 1)
        self.kernel = self.add_weight(
            shape=kernel.shape, initializer=keras.initializers.Constant(kernel), trainable=False, name="kernel"
        )

    def call(self, x: Any) -> Any:
        return binomial_blur_pool(x, self.kernel, self.taps)

    def compute_output_shape(self, shape: tuple) -> tuple:
        half = [None if side is None else (side - 1) // 2 + 1 for side in shape[1:3]]
        return (shape[0], *half, shape[3])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "taps": self.taps}


@keras.saving.register_keras_serializable(package="poolkit")
class PolyphasePick(keras.layers.Layer):
    """Adaptive polyphase sampling by 2 (:func:`polyphase_pick`); sides must be even."""

    def call(self, x: Any) -> Any:
        return polyphase_pick(x)

    def compute_output_shape(self, shape: tuple) -> tuple:
        half = [None if side is None else side // 2 for side in shape[1:3]]
        return (shape[0], *half, shape[3])


# --------------------------------------------------------------------------- one max pool's replacement
def stock_max_pool(name: str) -> list[Any]:
    """The stock 2×2 max pool, stride 2, named ``name``."""
    return [keras.layers.MaxPooling2D(2, strides=2, name=name)]


def max_blur_pool(name: str, taps: Taps) -> list[Any]:
    """Zhang's MaxBlurPool: 2×2 max with stride 1 (no padding: side n → n − 1), then the blur ``taps``
    with stride 2 (:class:`BinomialBlurPool`; n − 1 → n / 2 for even n)."""
    return [
        keras.layers.MaxPooling2D(2, strides=1, padding="valid", name=f"{name}_max"),
        BinomialBlurPool(taps, name=name),
    ]


def max_aps_pool(name: str) -> list[Any]:
    """Circular padding by one at the bottom and right, 2×2 max with stride 1 (side kept), then
    adaptive polyphase sampling (:class:`PolyphasePick`)."""
    return [
        CircularPad2D((0, 1, 0, 1), name=f"{name}_wrap"),
        keras.layers.MaxPooling2D(2, strides=1, padding="valid", name=f"{name}_max"),
        PolyphasePick(name=name),
    ]
