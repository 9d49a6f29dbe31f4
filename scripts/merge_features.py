#!/usr/bin/env python
"""Features stage: concatenate feature shards (in shard order): one table of GAP scores, one of feature maps."""

import argparse
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from poolkit import cli
from poolkit.io import atomic_path, file_digest, read_json, write_json, write_parquet
from poolkit.merge import check_covers, check_feature_shards, features_info


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    p.add_argument("--shards", nargs="+", required=True, help="shard Parquets of GAP scores, in order")
    p.add_argument("--shard-maps", nargs="+", required=True, help="shard Parquets of feature maps, in order")
    p.add_argument("--infos", nargs="+", required=True, help="shard JSONs, in order")
    p.add_argument("--manifest", required=True)
    p.add_argument("--out", required=True, help="output Parquet of every image's GAP scores")
    p.add_argument("--maps", required=True, help="output Parquet of every image's last feature map")
    p.add_argument("--info", required=True)
    return p


def main(args: argparse.Namespace) -> None:
    table = pd.concat([pd.read_parquet(path) for path in args.shards], ignore_index=True)
    image_ids = pd.read_parquet(args.manifest)["image_id"].tolist()
    check_covers(table["image_id"], image_ids, "feature shards")
    infos = [read_json(path) for path in args.infos]
    check_feature_shards(infos)
    write_parquet(table, args.out)
    maps = pa.concat_tables(pq.read_table(path) for path in args.shard_maps)
    check_covers(maps.column("image_id").to_pylist(), image_ids, "feature-map shards")
    with atomic_path(args.maps) as tmp:
        pq.write_table(maps, tmp, compression="zstd", use_dictionary=False)
    info = features_info(
        infos,
        table,
        maps_bytes=Path(args.maps).stat().st_size,
        features_sha256=file_digest(args.out),
        maps_sha256=file_digest(args.maps),
    )
    write_json(info, args.info)


if __name__ == "__main__":
    cli.run(build_parser, main)
