"""The course exercise's three demonstrations, as the arrays their figures show and the numbers the
report quotes: emboss → ReLU → condense of one car; the ring shifted at random (edge replication)
and max-pooled :data:`REPEATS` times; global average pooling of random maps of different levels."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from .invariance import random_shifts
from .pooling import EMBOSS_KERNEL, conv2d_valid, max_pool, random_map, ring, shift_images

#: As in the exercise: pooling steps applied to the ring, random shifts shown, random maps pooled.
REPEATS, EXAMPLES, N_MAPS = 4, 4, 8
#: Overall levels of the random maps are drawn from [-MAX_LEVEL, MAX_LEVEL] (before the sigmoid).
MAX_LEVEL = 2.0
MAP_SHAPE = (5, 5)


def first_valid_car(manifest: pd.DataFrame) -> pd.Series:
    """The manifest row of the first validation car: the image the exercise condenses."""
    return manifest[(manifest["split"] == "valid") & (manifest["class_name"] == "Car")].iloc[0]


def load_grey(path: str | os.PathLike[str]) -> np.ndarray:
    """An image in grey, float32 in [0, 1]."""
    with Image.open(path) as image:
        return np.asarray(image.convert("L"), dtype=np.float32) / 255


def condense(grey: np.ndarray, image_id: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The exercise's steps on ``grey`` (step title → image) and their record."""
    filtered = conv2d_valid(grey, EMBOSS_KERNEL)
    detected = np.maximum(filtered, 0)
    condensed = max_pool(detected)
    steps = {
        "Input": grey,
        "Filter (emboss)": filtered,
        "Detect (ReLU)": detected,
        "Condense (MaxPool)": condensed,
    }
    record = {
        "image_id": image_id,
        "input_shape": list(grey.shape),
        "filtered_shape": list(filtered.shape),
        "condensed_shape": list(condensed.shape),
        "share_zero_after_relu": float((detected == 0).mean()),
    }
    return steps, record


def pooled_steps(image: np.ndarray, repeats: int = REPEATS) -> list[np.ndarray]:
    """``image`` and each of ``repeats`` 2×2 max pools of it, in turn."""
    steps = [image]
    for _ in range(repeats):
        steps.append(max_pool(steps[-1]))
    return steps


def condensed_rings(
    size: int, r_shrink: int, jitter: int, rng: np.random.Generator
) -> tuple[list[tuple[int, int]], list[list[np.ndarray]], dict[str, Any]]:
    """:data:`EXAMPLES` random shifts (dx, dy) of the ring, each shifted ring's pooled steps, and their
    record: does the last map equal the unshifted ring's?"""
    base = ring(size, r_shrink)
    dx, dy = random_shifts(rng, jitter, EXAMPLES)
    shifted = shift_images(base, dx, dy, "replicate")
    rows = [pooled_steps(image) for image in shifted]
    reference = pooled_steps(base)[-1]
    shifts = [(int(a), int(b)) for a, b in zip(dx, dy, strict=True)]
    record = {
        "size": size,
        "radius": size // 2 - r_shrink,
        "jitter": jitter,
        "repeats": REPEATS,
        "shifts": [list(shift) for shift in shifts],
        "final_shape": list(reference.shape),
        "final_identical_to_unshifted": [bool(np.array_equal(row[-1], reference)) for row in rows],
    }
    return shifts, rows, record


def pooled_maps(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """:data:`N_MAPS` random maps of different overall levels, each map's average (global average
    pooling), and their record."""
    levels = rng.uniform(-MAX_LEVEL, MAX_LEVEL, size=N_MAPS)
    maps = np.stack([random_map(MAP_SHAPE, 0.1, 4, rng, level=level) for level in levels])
    pooled = maps.mean(axis=(1, 2))
    record = {
        "n_maps": N_MAPS,
        "map_shape": list(MAP_SHAPE),
        "levels": levels.round(6).tolist(),
        "pooled": pooled.round(6).tolist(),
        "values_per_map_before": int(np.prod(MAP_SHAPE)),
        "values_per_map_after": 1,
    }
    return maps, pooled, record
