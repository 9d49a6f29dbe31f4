#!/usr/bin/env python
"""Exercise stage: the exercise's figures: emboss → ReLU → condense; the shifted ring condensed four
times; global average pooling of random feature maps of different overall levels."""

import argparse

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from PIL import Image

from poolkit import cli, plots
from poolkit.invariance import random_shifts
from poolkit.io import write_json
from poolkit.pooling import EMBOSS_KERNEL, conv2d_valid, max_pool, random_map, ring, shift_images

#: As in the exercise: pooling steps applied to the ring, random shifts shown, random maps pooled.
REPEATS, EXAMPLES, N_MAPS = 4, 4, 8
#: Overall levels of the random maps are drawn from [-MAX_LEVEL, MAX_LEVEL] (before the sigmoid).
MAX_LEVEL = 2.0


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    p.add_argument("--manifest", required=True)
    for key in ("seed", "ring_size", "r_shrink", "jitter"):
        cli.config_option(p, f"exercise.{key}")
    p.add_argument("--condense", required=True, help="output PNG: emboss, ReLU, one max pool")
    p.add_argument("--ring", required=True, help="output PNG: the shifted ring condensed")
    p.add_argument("--gap-maps", required=True, help="output PNG: GAP of random maps")
    p.add_argument("--info", required=True, help="output JSON of the figures' numbers")
    return p


def condense_figure(manifest_path: str, path: str) -> dict:
    """Emboss, ReLU and one max pool of the first validation car, in grey."""
    manifest = pd.read_parquet(manifest_path)
    row = manifest[(manifest["split"] == "valid") & (manifest["class_name"] == "Car")].iloc[0]
    with Image.open(row["path"]) as image:
        grey = np.asarray(image.convert("L"), dtype=np.float32) / 255
    filtered = conv2d_valid(grey, EMBOSS_KERNEL)
    detected = np.maximum(filtered, 0)
    condensed = max_pool(detected)
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.8), layout="constrained")
    steps = ("Input", "Filter (emboss)", "Detect (ReLU)", "Condense (MaxPool)")
    for ax, img, title, cmap in zip(
        axes, (grey, filtered, detected, condensed), steps, ("gray", None, None, None), strict=True
    ):
        ax.imshow(img, cmap=cmap)
        ax.set_title(f"{title}\n{img.shape[0]}×{img.shape[1]} px")
        ax.axis("off")
    plots.save(fig, path)
    return {
        "image_id": row["image_id"],
        "input_shape": list(grey.shape),
        "filtered_shape": list(filtered.shape),
        "condensed_shape": list(condensed.shape),
        "share_zero_after_relu": float((detected == 0).mean()),
    }


def ring_figure(args: argparse.Namespace, rng: np.random.Generator, path: str) -> dict:
    """The ring shifted at random (edge replication) and max-pooled REPEATS times."""
    base = ring(args.ring_size, args.r_shrink)
    dx, dy = random_shifts(rng, args.jitter, EXAMPLES)
    shifted = shift_images(base, dx, dy, "replicate")
    fig, axes = plt.subplots(EXAMPLES, REPEATS + 1, figsize=(2.6 * (REPEATS + 1), 3.0 * EXAMPLES), layout="constrained")
    finals = []
    for i in range(EXAMPLES):
        image = shifted[i]
        axes[i, 0].imshow(image, vmin=0, vmax=1)
        axes[i, 0].set_title(f"shift ({dx[i]:+d}, {dy[i]:+d})\n{image.shape[0]}×{image.shape[1]}")
        for k in range(REPEATS):
            image = max_pool(image)
            axes[i, k + 1].imshow(image, vmin=0, vmax=1)
            axes[i, k + 1].set_title(f"MaxPool {k + 1}\n{image.shape[0]}×{image.shape[1]}")
        finals.append(image)
        for ax in axes[i]:
            ax.axis("off")
    plots.save(fig, path)
    reference = base
    for _ in range(REPEATS):
        reference = max_pool(reference)
    return {
        "size": args.ring_size,
        "radius": args.ring_size // 2 - args.r_shrink,
        "jitter": args.jitter,
        "repeats": REPEATS,
        "shifts": [[int(a), int(b)] for a, b in zip(dx, dy, strict=True)],
        "final_shape": list(reference.shape),
        "final_identical_to_unshifted": [bool(np.array_equal(f, reference)) for f in finals],
    }


def gap_maps_figure(rng: np.random.Generator, path: str) -> dict:
    """Random 5×5 maps of different overall levels, each pooled to its average."""
    levels = rng.uniform(-MAX_LEVEL, MAX_LEVEL, size=N_MAPS)
    maps = np.stack([random_map((5, 5), 0.1, 4, rng, level=level) for level in levels])
    pooled = maps.mean(axis=(1, 2))
    fig = plt.figure(figsize=(2 * N_MAPS, 3.6), layout="constrained")
    grid = fig.add_gridspec(2, N_MAPS, height_ratios=[4, 1])
    for i in range(N_MAPS):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(maps[i], vmin=0, vmax=1)
        ax.set_title(f"map {i + 1}")
        ax.axis("off")
    ax = fig.add_subplot(grid[1, :])
    ax.imshow(pooled[None, :], vmin=0, vmax=1, aspect="auto")
    for i, value in enumerate(pooled):
        ax.text(i, 0, f"{value:.2f}", ha="center", va="center", color="white" if value < 0.6 else "black")
    ax.set_title("GlobalAvgPool2D: one score per 5×5 map")
    ax.axis("off")
    plots.save(fig, path)
    return {
        "n_maps": N_MAPS,
        "map_shape": [5, 5],
        "levels": levels.round(6).tolist(),
        "pooled": pooled.round(6).tolist(),
        "values_per_map_before": 25,
        "values_per_map_after": 1,
    }


def main(args: argparse.Namespace) -> None:
    plots.setup()
    rng = np.random.default_rng(args.seed)
    record = {"seed": args.seed, "condense": condense_figure(args.manifest, args.condense)}
    record["ring"] = ring_figure(args, rng, args.ring)
    record["gap"] = gap_maps_figure(rng, args.gap_maps)
    write_json(record, args.info)


if __name__ == "__main__":
    cli.run(build_parser, main)
