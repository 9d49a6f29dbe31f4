#!/usr/bin/env python
"""Network stage, one base variant: concatenate its shards (in shard order) into the GAP scores of every
image, of both copies of every pair and of the centre crops; byte-identical for any shard count. The max
variant's image scores are the feature stage's (checked against their recorded sha256)."""

import argparse

import pandas as pd

from poolkit import cli
from poolkit.io import UserError, check_recorded_digest, read_json, write_parquet
from poolkit.kinds import VARIANTS
from poolkit.merge import check_covers, check_network_shards, concat_shards


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    p.add_argument("--variant", required=True, choices=VARIANTS)
    p.add_argument("--manifest", required=True)
    p.add_argument("--features-info", required=True, help="features.json of the feature stage (precision, sha256)")
    p.add_argument("--features", help="max only: the feature stage's features.parquet, this variant's scores")
    p.add_argument("--shard-scores", nargs="+", required=True, help="the shards' image scores, in order")
    p.add_argument("--shard-copies", nargs="+", required=True, help="the shards' copies, in order")
    p.add_argument("--shard-centre", nargs="+", required=True, help="the shards' centre crops, in order")
    p.add_argument("--infos", nargs="+", required=True, help="the shards' JSONs, in order")
    p.add_argument("--scores", required=True, help="output Parquet: image_id, split, label, 512 GAP scores")
    p.add_argument("--copies", required=True, help="output Parquet: one row per pair and copy (a, b)")
    p.add_argument("--centre", required=True, help="output Parquet: each sampled image's centre-crop scores")
    return p


def main(args: argparse.Namespace) -> None:
    infos = [read_json(path) for path in args.infos]
    check_network_shards(infos, read_json(args.features_info)["precision"])
    manifest = pd.read_parquet(args.manifest)
    if args.variant == "max":
        if not args.features:
            raise UserError("the max variant's image scores are the feature stage's: give --features")
        check_recorded_digest(args.features, args.features_info, "features_sha256")
        scores = pd.read_parquet(args.features)
    else:
        scores = concat_shards(args.shard_scores)
    check_covers(scores["image_id"], manifest["image_id"], f"the {args.variant} scores")
    copies = concat_shards(args.shard_copies)
    centre = concat_shards(args.shard_centre)
    write_parquet(scores, args.scores)
    write_parquet(copies, args.copies)
    write_parquet(centre, args.centre)
    cli.log.info(
        "variant %s: %d shards; %d images, %d copies, %d centre crops",
        args.variant,
        len(infos),
        len(scores),
        len(copies),
        len(centre),
    )


if __name__ == "__main__":
    cli.run(build_parser, main)
