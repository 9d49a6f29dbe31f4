#!/usr/bin/env python
"""Features stage: raw downsampled pixels (RGB, 0–1) per image, for the pixel baseline head."""

import argparse

import numpy as np
import pandas as pd

from poolkit import cli
from poolkit.dataset import load_rgb
from poolkit.io import write_parquet


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    p.add_argument("--manifest", required=True)
    cli.config_option(p, "features.pixel_size", "--size")
    p.add_argument("--out", required=True)
    return p


def main(args: argparse.Namespace) -> None:
    manifest = pd.read_parquet(args.manifest)
    pixels = np.stack(
        [np.asarray(load_rgb(path, args.size, "bilinear"), dtype=np.float32).ravel() / 255 for path in manifest["path"]]
    )
    columns = [f"p{i:04d}" for i in range(pixels.shape[1])]
    table = pd.concat(
        [manifest[["image_id", "split", "label"]].reset_index(drop=True), pd.DataFrame(pixels, columns=columns)],
        axis=1,
    )
    write_parquet(table, args.out)


if __name__ == "__main__":
    cli.run(build_parser, main)
