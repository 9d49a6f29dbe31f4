#!/usr/bin/env python
"""Data stage: a grid of example images per class, as the model sees them (resized like the features)."""

import argparse

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from poolkit import cli, plots
from poolkit.dataset import load_rgb, sample_split

PER_CLASS = 6  # examples shown per class
SAMPLE_SEED = 0


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    p.add_argument("--manifest", required=True)
    cli.config_option(p, "features.image_size")
    cli.config_option(p, "features.resize")
    p.add_argument("--figure", required=True, help="output PNG")
    return p


def main(args: argparse.Namespace) -> None:
    manifest = pd.read_parquet(args.manifest)
    plots.setup()
    classes = sorted(
        manifest["class_name"].unique(), key=lambda name: manifest.loc[manifest["class_name"] == name, "label"].iloc[0]
    )
    fig, axes = plt.subplots(
        len(classes), PER_CLASS, figsize=(1.9 * PER_CLASS, 2.2 * len(classes)), layout="constrained", squeeze=False
    )
    for row, name in enumerate(classes):
        chosen = sample_split(manifest[manifest["class_name"] == name], "valid", PER_CLASS, SAMPLE_SEED)
        for col in range(PER_CLASS):
            ax = axes[row, col]
            ax.axis("off")
            if col < len(chosen):
                ax.imshow(np.asarray(load_rgb(chosen["path"].iloc[col], args.image_size, args.resize)))
                ax.set_title(f"{name}", fontsize=9)
    fig.suptitle(
        f"Validation images as the model sees them ({args.image_size}×{args.image_size}, {args.resize})",
        fontweight="bold",
    )
    plots.save(fig, args.figure)


if __name__ == "__main__":
    cli.run(build_parser, main)
