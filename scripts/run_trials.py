#!/usr/bin/env python
"""Invariance stage: one shard of random-shift invariance trials (every pooling kind configured; several fills)."""

import argparse

import numpy as np
import pandas as pd
from PIL import Image

from poolkit import cli
from poolkit.dataset import sample_split
from poolkit.invariance import TrialSettings, run_shard
from poolkit.io import write_parquet


def dataset_greys(manifest_path: str, n: int, size: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """``n`` validation images picked with ``seed``, grey, ``size``², floats in [0, 1]."""
    chosen = sample_split(pd.read_parquet(manifest_path), "valid", n, seed)
    images = []
    for path in chosen["path"]:
        with Image.open(path) as image:
            grey = image.convert("L").resize((size, size), Image.Resampling.BILINEAR)
        images.append(np.asarray(grey, dtype=np.float32) / 255)
    return np.stack(images), chosen["image_id"].tolist()


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    p.add_argument("--shard", required=True, help="'grid' or 's<seed>'")
    p.add_argument("--out", required=True)
    cli.add_settings_options(p, TrialSettings)
    p.add_argument("--manifest", default="", help="needed for the 'dataset' input")
    cli.config_option(p, "invariance.n_dataset_images")
    return p


def main(args: argparse.Namespace) -> None:
    ids: list[str]
    settings = cli.settings_from_args(TrialSettings, args)
    images, ids = None, []
    if "dataset" in settings.inputs:
        images, ids = dataset_greys(args.manifest, args.n_dataset_images, settings.size, seed=0)
    table = run_shard(args.shard, settings, dataset_images=images, dataset_ids=ids)
    write_parquet(table, args.out)
    n_trials = table["trial"].groupby([table["input"], table["jitter"]]).nunique().sum()
    cli.log.info("shard %s: %d trials, %d rows", args.shard, n_trials, len(table))


if __name__ == "__main__":
    cli.run(build_parser, main)
