#!/usr/bin/env python
"""Data stage: a grid of example images per class, as the model sees them (resized like the features)."""

import argparse

import pandas as pd

from poolkit import cli, plots
from poolkit.dataset import example_images

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
    examples = example_images(pd.read_parquet(args.manifest), PER_CLASS, SAMPLE_SEED, args.image_size, args.resize)
    plots.setup()
    plots.examples_figure(examples, per_class=PER_CLASS, size=args.image_size, resize=args.resize, path=args.figure)


if __name__ == "__main__":
    cli.run(build_parser, main)
