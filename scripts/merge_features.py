#!/usr/bin/env python
"""Features stage: concatenate feature shards (in shard order): one table of GAP scores, one of feature maps."""

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from poolkit import cli
from poolkit.io import UserError, atomic_path, file_digest, read_json, write_json, write_parquet


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
    manifest = pd.read_parquet(args.manifest)
    if table["image_id"].tolist() != manifest["image_id"].tolist():
        raise UserError("feature shards do not cover the manifest exactly once, in order")
    infos = [read_json(path) for path in args.infos]
    precisions = {info["precision"] for info in infos}
    if len(precisions) > 1:
        by_shard = ", ".join(
            f"shard {info['shard']}: {info['precision']} ({info['precision_reason']})" for info in infos
        )
        raise UserError(
            f"feature shards were computed in different precisions ({by_shard}), so they cannot be merged; "
            "set features.precision to float32 (or bfloat16) instead of auto, or run every shard on the same "
            "kind of node"
        )
    seconds = sum(info["seconds"] for info in infos)
    first = infos[0]
    write_parquet(table, args.out)
    maps = pa.concat_tables(pq.read_table(path) for path in args.shard_maps)
    if maps.column("image_id").to_pylist() != manifest["image_id"].tolist():
        raise UserError("feature-map shards do not cover the manifest exactly once, in order")
    with atomic_path(args.maps) as tmp:
        pq.write_table(maps, tmp, compression="zstd", use_dictionary=False)
    maps_bytes = Path(args.maps).stat().st_size
    write_json(
        {
            "n_images": len(table),
            "n_features": int(table.shape[1] - 3),
            "shards": len(infos),
            "feature_map_shape": first["feature_map_shape"],
            "image_size": first["image_size"],
            "resize": first["resize"],
            "preprocessing": first["preprocessing"],
            "precision": first["precision"],
            "precision_requested": first["precision_requested"],
            "precision_reason": first["precision_reason"],
            "batch_size": first["batch_size"],
            "devices": sorted({info["device"] for info in infos}),
            "tensorflow_build": first["tensorflow_build"],
            "maps_file_bytes": maps_bytes,
            # Checked by every stage that reads them (poolkit.io.check_recorded_digest).
            "features_sha256": file_digest(args.out),
            "maps_sha256": file_digest(args.maps),
            "maps_bytes_per_image": round(maps_bytes / len(table), 1),
            "maps_values_per_image": int(np.prod(first["feature_map_shape"])),
            "extract_seconds": round(seconds, 3),
            "images_per_s": round(len(table) / seconds, 3) if seconds else None,
        },
        args.info,
    )


if __name__ == "__main__":
    cli.run(build_parser, main)
