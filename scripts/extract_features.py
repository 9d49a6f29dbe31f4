#!/usr/bin/env python
"""Features stage: VGG16 base + global average pooling → 512 scores per image, and the base's last feature
map of each image from the same forward pass (one shard)."""

import argparse
import time

import pandas as pd

from poolkit import cli
from poolkit.io import check_recorded_digest, feature_columns, write_json, write_maps, write_parquet


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    p.add_argument("--manifest", required=True)
    p.add_argument("--weights", required=True, help=".weights.h5 from prepare_weights.py")
    p.add_argument("--weights-info", required=True, help="weights.json from prepare_weights.py (the file's sha256)")
    p.add_argument("--out", required=True, help="output Parquet of the GAP scores of this shard")
    p.add_argument("--maps", required=True, help="output Parquet of the last feature maps of this shard")
    p.add_argument("--info", required=True, help="output JSON: shapes, counts, speed")
    p.add_argument("--shard", type=int, required=True, help="this shard's number, from 0")
    cli.config_option(p, "features.shards")
    cli.add_model_options(p)
    return p


def main(args: argparse.Namespace) -> None:
    check_recorded_digest(args.weights, args.weights_info, "file_sha256")  # before any work
    from poolkit import tfsetup

    tfsetup.configure(cli.job_threads(args.threads))
    from poolkit.device import compute_device, require_gpu, tensorflow_build

    require_gpu(args.require_gpu)
    from poolkit.features import FeatureExtractor, shard_bounds

    manifest = pd.read_parquet(args.manifest)
    start, stop = shard_bounds(len(manifest), args.batch_size, args.shards, args.shard)
    rows = manifest.iloc[start:stop]
    extractor = FeatureExtractor(args.weights, args.preprocessing, args.precision)
    device, build = compute_device(), tensorflow_build()
    cli.log.info("device: %s; precision: %s (%s)", device, extractor.precision, extractor.precision_reason)
    began = time.perf_counter()
    scores, maps, rate = extractor.extract_paths(
        rows["path"].tolist(),
        args.image_size,
        args.resize,
        args.batch_size,
        label=f"features shard {args.shard + 1}/{args.shards}",
    )
    seconds = time.perf_counter() - began
    meta = rows[["image_id", "split", "label"]].reset_index(drop=True)
    table = pd.concat([meta, pd.DataFrame(scores, columns=feature_columns(scores.shape[1]))], axis=1)
    write_parquet(table, args.out)
    write_maps(meta, maps, args.maps)
    write_json(
        {
            "shard": args.shard,
            "shards": args.shards,
            "first_image": start,
            "n_images": len(rows),
            "feature_map_shape": list(extractor.feature_map_shape(args.image_size)),
            "image_size": args.image_size,
            "resize": args.resize,
            "preprocessing": args.preprocessing,
            "precision": extractor.precision,
            "precision_requested": args.precision,
            "precision_reason": extractor.precision_reason,
            "batch_size": args.batch_size,
            "device": device,
            "tensorflow_build": build,
            "seconds": round(seconds, 3),
            "images_per_s": round(rate, 3),
        },
        args.info,
    )


if __name__ == "__main__":
    cli.run(build_parser, main)
