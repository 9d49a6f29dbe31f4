#!/usr/bin/env python
"""Stage 5a: one shard of random-shift invariance trials (max, avg, blur pooling)."""

import numpy as np
import pandas as pd
from PIL import Image

from poolkit import cli
from poolkit.dataset import sample_split
from poolkit.invariance import run_shard
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


def main() -> None:
    p = cli.parser(__doc__)
    p.add_argument("--shard", required=True, help="'grid' or 's<seed>'")
    p.add_argument("--out", required=True)
    p.add_argument("--inputs", type=cli.str_list, default="ring,disc,square,dataset")
    p.add_argument("--jitters", type=cli.int_list, default="1,2,3,4,8")
    p.add_argument("--trials-per-jitter", type=int, default=250)
    p.add_argument("--exhaustive-max-jitter", type=int, default=3)
    p.add_argument("--poolings", type=cli.str_list, default="max,avg,blur")
    p.add_argument("--depths", type=int, default=4)
    p.add_argument("--fill", default="replicate", choices=["replicate", "reflect", "zero"])
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--r-shrink", type=int, default=4)
    p.add_argument("--manifest", default="", help="needed for the 'dataset' input")
    p.add_argument("--n-dataset-images", type=int, default=8)
    p.add_argument("--dataset-seed", type=int, default=0)
    args = p.parse_args()

    images, ids = (None, [])
    if "dataset" in args.inputs:
        images, ids = dataset_greys(args.manifest, args.n_dataset_images, args.size, args.dataset_seed)
    table = run_shard(
        args.shard,
        args.inputs,
        args.jitters,
        args.trials_per_jitter,
        args.exhaustive_max_jitter,
        args.poolings,
        args.depths,
        args.fill,
        args.size,
        args.r_shrink,
        images,
        ids,
    )
    write_parquet(table, args.out)
    print(
        f"shard {args.shard}: {table['trial'].groupby([table['input'], table['jitter']]).nunique().sum()} trials, {len(table)} rows"
    )


if __name__ == "__main__":
    cli.run(main)
