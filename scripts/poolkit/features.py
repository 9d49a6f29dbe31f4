"""VGG16 conv base + global average pooling: 512 scores per image, batched; optionally the
base's last feature map too (from the same forward pass), for the GMP and Flatten heads."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from .dataset import load_rgb
from .machine import cpu_flags, native_bfloat16
from .progress import Progress

IMAGENET_BGR_MEAN = np.array([103.939, 116.779, 123.68], dtype=np.float32)
PREPROCESSINGS: tuple[str, ...] = ("caffe", "none")
PRECISIONS: tuple[str, ...] = ("auto", "float32", "bfloat16")


def resolve_precision(requested: str, flags: set[str], has_gpu: bool) -> tuple[str, str]:
    """``(precision, reason)`` for a requested precision.

    ``auto`` means bfloat16 on a CPU-only machine whose CPU has native bfloat16
    (AVX512-BF16 or AMX), where it runs about twice as fast, and float32 elsewhere
    (a GPU, or a CPU that would only emulate bfloat16, slower than float32).
    """
    if requested not in PRECISIONS:
        raise ValueError(f"unknown precision {requested!r}; allowed: {', '.join(PRECISIONS)}")
    if requested != "auto":
        return requested, "set in the config"
    if has_gpu:
        return "float32", "auto: a GPU is visible"
    native = native_bfloat16(flags)
    if native:
        return "bfloat16", f"auto: the CPU has native bfloat16 ({', '.join(native)})"
    return "float32", "auto: the CPU has no native bfloat16"


def feature_stage_precision(features_info: str | None, requested: str) -> str:
    """The precision a later VGG16 stage runs: the feature stage's (from its features.json, so that
    every head sees scores of one kind), or ``requested`` without one."""
    from .io import read_json

    return str(read_json(features_info)["precision"]) if features_info else requested


def check_preprocessing(mode: str) -> None:
    """Raise for a preprocessing name other than ``caffe`` or ``none``."""
    if mode not in PREPROCESSINGS:
        raise ValueError(f"unknown preprocessing {mode!r}; allowed: {', '.join(PREPROCESSINGS)}")


def preprocess(images: np.ndarray, mode: str) -> np.ndarray:
    """0–255 RGB floats → model input: ``caffe`` (BGR, ImageNet mean removed) or ``none``."""
    check_preprocessing(mode)
    images = images.astype(np.float32)
    return images[..., ::-1] - IMAGENET_BGR_MEAN if mode == "caffe" else images


def shard_bounds(n_images: int, batch_size: int, n_shards: int, shard: int) -> tuple[int, int]:
    """Image range ``[start, stop)`` of one shard, aligned to whole batches.

    Aligning shards to batch boundaries makes every image meet the same batch
    in a sharded run as in an unsharded one, so the merged result is identical.
    """
    n_batches = -(-n_images // batch_size)
    first = shard * n_batches // n_shards
    last = (shard + 1) * n_batches // n_shards
    return min(first * batch_size, n_images), min(last * batch_size, n_images)


def padded_batches(
    items: Sequence[Any] | np.ndarray, batch_size: int, shape: tuple[int, ...], load: Callable[[Any], np.ndarray]
) -> Iterator[tuple[np.ndarray, int]]:
    """Yield ``(uint8 batch of load(item)s padded to batch_size, n_real)``; padding rows are zeros."""
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        batch = np.zeros((batch_size, *shape), dtype=np.uint8)
        for i, item in enumerate(chunk):
            batch[i] = load(item)
        yield batch, len(chunk)


def image_batches(paths: Sequence[str], size: int, resize: str, batch_size: int) -> Iterator[tuple[np.ndarray, int]]:
    """Padded batches of image files decoded to RGB and resized to size×size."""
    return padded_batches(paths, batch_size, (size, size, 3), lambda path: np.asarray(load_rgb(path, size, resize)))


def batch_dataset(paths: Sequence[str], size: int, resize: str, batch_size: int) -> Any:
    """A ``tf.data`` pipeline of padded uint8 batches, decoded ahead of the model.

    Autotuning is off (fixed prefetch) because it can stall for seconds when an
    iterator is destroyed.
    """
    import tensorflow as tf

    dataset = tf.data.Dataset.from_generator(
        lambda: image_batches(paths, size, resize, batch_size),
        output_signature=(
            tf.TensorSpec((batch_size, size, size, 3), tf.uint8),
            tf.TensorSpec((), tf.int64),
        ),
    )
    options = tf.data.Options()
    options.autotune.enabled = False
    options.deterministic = True
    return dataset.with_options(options).prefetch(2)


class FeatureExtractor:
    """A compiled forward pass: VGG16 base (pools swapped for ``variant``, see
    :mod:`poolkit.variants`) → GlobalAveragePooling2D → 512 scores."""

    def __init__(self, weights_file: str, preprocessing: str, precision: str = "float32", variant: str = "max"):
        import keras
        import tensorflow as tf

        from .variants import load_variant_base

        check_preprocessing(preprocessing)
        has_gpu = precision == "auto" and bool(tf.config.list_physical_devices("GPU"))
        self.preprocessing = preprocessing
        #: The precision that runs (``auto`` resolved) and why it was chosen.
        self.precision, self.precision_reason = resolve_precision(precision, cpu_flags(), has_gpu)
        policies = {"float32": "float32", "bfloat16": "mixed_bfloat16"}
        # The layers' compute dtype is fixed when they are built: set the policy first.
        keras.mixed_precision.set_global_policy(policies[self.precision])
        try:
            self.base = load_variant_base(weights_file, variant)
        finally:
            keras.mixed_precision.set_global_policy("float32")
        base = self.base
        mean = tf.constant(IMAGENET_BGR_MEAN)

        @tf.function(reduce_retracing=True)
        def forward(batch: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            # Preprocessing runs inside the graph, next to the model (same arithmetic as
            # preprocess(): float32, then RGB→BGR and the ImageNet mean removed for caffe).
            x = tf.cast(batch, tf.float32)
            if preprocessing == "caffe":
                x = tf.reverse(x, axis=[-1]) - mean
            maps = tf.cast(base(x, training=False), tf.float32)
            return tf.reduce_mean(maps, axis=(1, 2)), maps

        self._forward = forward

    def feature_map_shape(self, image_size: int) -> tuple[int, int, int]:
        """Shape (H, W, C) of the base's last feature map for a square input."""
        shape = self.base.compute_output_shape((1, image_size, image_size, 3))
        return int(shape[1]), int(shape[2]), int(shape[3])

    def scores(self, uint8_batch: np.ndarray) -> np.ndarray:
        """GAP scores of one batch of 0–255 RGB images (float32, shape (n, 512))."""
        return self._forward(uint8_batch)[0].numpy()

    def _score_batches(
        self, batches: Iterable[tuple[Any, Any]], n_images: int, label: str, keep_maps: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None, float]:
        """Scores (and with ``keep_maps`` the last feature maps) of ``(padded batch, n_real)``
        pairs in order, with progress lines.

        Returns the scores, the maps (or None) and the steady-state rate in images/s: timed
        from the end of the first batch, which also traces the graph (over the whole run
        when there is a single batch).
        """
        progress = Progress(n_images, label)
        out = np.zeros((n_images, 512), dtype=np.float32)
        maps: np.ndarray | None = None
        position, steady_from, steady_start = 0, 0, progress.start
        for batch, n_real in batches:
            n_real = int(n_real)
            gap, batch_maps = self._forward(batch)
            out[position : position + n_real] = gap.numpy()[:n_real]
            if keep_maps:
                if maps is None:
                    maps = np.zeros((n_images, *batch_maps.shape[1:]), dtype=np.float32)
                maps[position : position + n_real] = batch_maps.numpy()[:n_real]
            position += n_real
            progress.update(n_real)
            if steady_from == 0 and position < n_images:
                steady_from, steady_start = position, time.perf_counter()
        elapsed = time.perf_counter() - steady_start
        rate = (position - steady_from) / elapsed if elapsed > 0 else 0.0
        return out, maps, rate

    def extract_paths(
        self,
        paths: Sequence[str],
        size: int,
        resize: str,
        batch_size: int,
        label: str = "features",
        keep_maps: bool = True,
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """GAP scores and last feature maps (n, h, w, 512; none kept without ``keep_maps``) for
        image files in order, decoded ahead by tf.data; returns (scores, maps, images/s)."""
        dataset = batch_dataset(paths, size, resize, batch_size)
        scores, maps, rate = self._score_batches(dataset, len(paths), label, keep_maps=keep_maps)
        if maps is None or not keep_maps:  # no images (an empty shard) or none kept: the right shape
            maps = np.zeros((0, *self.feature_map_shape(size)), dtype=np.float32)
        return scores, maps, rate

    def extract_arrays(self, images: np.ndarray, batch_size: int, label: str = "features") -> np.ndarray:
        """GAP scores for an in-memory uint8 array (n, H, W, 3), padded to whole batches."""
        batches = padded_batches(images, batch_size, images.shape[1:], lambda image: image)
        return self._score_batches(batches, len(images), label)[0]
