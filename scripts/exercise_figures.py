#!/usr/bin/env python
"""Exercise stage: the exercise's figures: emboss → ReLU → condense; the shifted ring condensed four
times; global average pooling of random feature maps of different overall levels."""

import argparse

import numpy as np
import pandas as pd

from poolkit import cli, exercise, plots
from poolkit.io import write_json


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


def main(args: argparse.Namespace) -> None:
    plots.setup()
    car = exercise.first_valid_car(pd.read_parquet(args.manifest))
    steps, condensed = exercise.condense(exercise.load_grey(car["path"]), car["image_id"])
    plots.condense_figure(steps, args.condense)
    rng = np.random.default_rng(args.seed)
    shifts, rows, rings = exercise.condensed_rings(args.ring_size, args.r_shrink, args.jitter, rng)
    plots.ring_figure(shifts, rows, args.ring)
    maps, pooled, gap = exercise.pooled_maps(rng)
    plots.gap_maps_figure(maps, pooled, args.gap_maps)
    write_json({"seed": args.seed, "condense": condensed, "ring": rings, "gap": gap}, args.info)


if __name__ == "__main__":
    cli.run(build_parser, main)
