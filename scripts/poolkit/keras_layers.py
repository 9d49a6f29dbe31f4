"""Keras layers for the pooling variants of :mod:`poolkit.variants`.

Importing this module imports Keras (and TensorFlow): import it inside functions, after
:func:`poolkit.tfsetup.configure`, as :mod:`poolkit.variants` does. Tensors are NHWC.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from .pooling import blur_kernel


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


def binomial_blur_pool(x: Any, kernel: Any) -> Any:
    """Reflection pad by one, then a depthwise 3×3 ``kernel`` (3, 3, C, 1) with stride 2."""
    x = ops.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)], mode="reflect")
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
    """Zhang's BlurPool step: reflection pad by one, [1, 2, 1] ⊗ [1, 2, 1] / 16 per channel, stride 2."""

    def build(self, shape: tuple) -> None:
        kernel = np.repeat(blur_kernel()[:, :, None, None], int(shape[-1]), axis=2)  # (3, 3, C, 1)
        self.kernel = self.add_weight(
            shape=kernel.shape, initializer=keras.initializers.Constant(kernel), trainable=False, name="kernel"
        )

    def call(self, x: Any) -> Any:
        return binomial_blur_pool(x, self.kernel)

    def compute_output_shape(self, shape: tuple) -> tuple:
        half = [None if side is None else (side - 1) // 2 + 1 for side in shape[1:3]]
        return (shape[0], *half, shape[3])


@keras.saving.register_keras_serializable(package="poolkit")
class PolyphasePick(keras.layers.Layer):
    """Adaptive polyphase sampling by 2 (:func:`polyphase_pick`); sides must be even."""

    def call(self, x: Any) -> Any:
        return polyphase_pick(x)

    def compute_output_shape(self, shape: tuple) -> tuple:
        half = [None if side is None else side // 2 for side in shape[1:3]]
        return (shape[0], *half, shape[3])
