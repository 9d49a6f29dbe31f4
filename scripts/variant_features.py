#!/usr/bin/env python
"""Network stage, one VGG16 base variant (pools swapped, weights unchanged), one shard: the 512 GAP scores
of its share of the images (for the variant's refitted head), and of its share of the copies (both copies
of every consistency pair, crop: two crops of the image resized larger; circular: two rolls; and each
sampled image's centre crop).

Both shares are cut at whole batches (:func:`poolkit.features.shard_bounds`) of one global order that the
shard count does not change: the manifest's images, and :func:`poolkit.protocols.copy_plan` of the pair
plan. Every image and copy meets the same batch in any split, so the merged tables
(``merge_variant_features.py``) are byte-identical for any number of shards. The max variant's image
scores are the feature stage's (merged, not computed again): its shards score only copies."""

import argparse
import time
from typing import Any

import numpy as np
import pandas as pd

from poolkit import cli
from poolkit.dataset import load_rgb_rows, sample_split
from poolkit.io import check_recorded_digest, feature_columns, write_json, write_parquet
from poolkit.kinds import VARIANTS
from poolkit.protocols import NetworkSettings, copy_plan, copy_tables, pair_plan, plan_copies


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    p.add_argument("--manifest", required=True)
    p.add_argument("--weights", required=True, help=".weights.h5 from prepare_weights.py")
    p.add_argument("--weights-info", required=True, help="weights.json from prepare_weights.py (the file's sha256)")
    p.add_argument("--variant", required=True, choices=VARIANTS)
    p.add_argument("--shard", type=int, required=True, help="this shard's number, from 0")
    p.add_argument("--scores", required=True, help="output Parquet: image_id, split, label, 512 GAP scores")
    p.add_argument("--copies", required=True, help="output Parquet: one row per pair and copy (a, b), 512 GAP scores")
    p.add_argument("--centre", required=True, help="output Parquet: each sampled image's centre-crop scores")
    p.add_argument("--info", required=True, help="output JSON: the shard's ranges, precision, device, speed")
    cli.config_option(p, "invariance.network.shards")
    cli.add_settings_options(p, NetworkSettings)
    cli.add_model_options(p)
    return p


def image_scores(extractor: Any, rows: pd.DataFrame, args: argparse.Namespace) -> pd.DataFrame:
    """The GAP scores of this shard's images through the variant; none for max (the feature stage's)."""
    meta = rows[["image_id", "split", "label"]].reset_index(drop=True)
    if args.variant == "max" or rows.empty:
        empty = pd.DataFrame(np.zeros((0, 512), dtype=np.float32), columns=feature_columns())
        return pd.concat([meta.iloc[:0], empty], axis=1)
    scores, _, rate = extractor.extract_paths(
        rows["path"].tolist(),
        args.image_size,
        args.resize,
        args.batch_size,
        f"{args.variant} scores {args.shard + 1}/{args.shards}",
        False,
    )
    cli.log.info("%d images at %.1f images/s", len(rows), rate)
    return pd.concat([meta, pd.DataFrame(scores, columns=feature_columns())], axis=1)


def scored_copies(
    extractor: Any, plan: pd.DataFrame, rows: pd.DataFrame, chosen: pd.DataFrame, args: argparse.Namespace
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """This shard's copies (rows of the copy plan) scored in one pass: the pair copies' and the centre
    crops' tables (:func:`poolkit.protocols.copy_tables`)."""
    paths = chosen["path"].tolist()
    needed = {source: np.unique(part["image"]) for source, part in rows.groupby("source")}
    images = {
        "crop": load_rgb_rows(paths, args.resize_to, args.resize, needed.get("crop", [])),
        "circular": load_rgb_rows(paths, args.image_size, args.resize, needed.get("circular", [])),
    }
    stack = plan_copies(rows, images, args.image_size)
    scores = extractor.extract_arrays(stack, args.batch_size, f"{args.variant} copies {args.shard + 1}/{args.shards}")
    return copy_tables(plan, rows, chosen, pd.DataFrame(scores, columns=feature_columns()), args.variant)


def main(args: argparse.Namespace) -> None:
    check_recorded_digest(args.weights, args.weights_info, "file_sha256")  # before any work
    settings = cli.settings_from_args(NetworkSettings, args, crop=args.image_size)
    from poolkit import tfsetup

    tfsetup.configure(cli.job_threads(args.threads))
    from poolkit.device import compute_device, require_gpu

    require_gpu(args.require_gpu)
    from poolkit.features import FeatureExtractor, shard_bounds

    manifest = pd.read_parquet(args.manifest)
    chosen = sample_split(manifest, "valid", settings.n_images, settings.seed)
    plan = pair_plan(len(chosen), settings)
    order = copy_plan(plan, len(chosen), resize_to=settings.resize_to, crop=settings.crop)
    first_image, stop_image = shard_bounds(len(manifest), args.batch_size, args.shards, args.shard)
    if args.variant == "max":
        first_image = stop_image = 0  # the feature stage's scores
    first_copy, stop_copy = shard_bounds(len(order), args.batch_size, args.shards, args.shard)
    extractor = FeatureExtractor(args.weights, args.preprocessing, args.precision, variant=args.variant)
    info = dict(variant=args.variant, shard=args.shard, shards=args.shards, first_image=first_image)
    info |= dict(n_images=stop_image - first_image, first_copy=first_copy, n_copies=stop_copy - first_copy)
    info |= dict(copies_total=len(order), precision=extractor.precision, precision_requested=args.precision)
    info |= dict(precision_reason=extractor.precision_reason, batch_size=args.batch_size, device=compute_device())
    ranges = f"images {first_image}..{stop_image}, copies {first_copy}..{stop_copy} of {len(order)}"
    shard = f"variant {args.variant}, shard {args.shard + 1}/{args.shards}"
    precision = f"{extractor.precision} ({extractor.precision_reason})"
    cli.log.info("%s: %s; device: %s; precision: %s", shard, ranges, info["device"], precision)
    began = time.perf_counter()
    write_parquet(image_scores(extractor, manifest.iloc[first_image:stop_image], args), args.scores)
    copies, centre = scored_copies(extractor, plan, order.iloc[first_copy:stop_copy], chosen, args)
    write_parquet(copies, args.copies)
    write_parquet(centre, args.centre)
    seconds = time.perf_counter() - began
    passes = info["n_images"] + info["n_copies"]
    info |= {"seconds": round(seconds, 3), "images_per_s": round(passes / seconds, 3) if passes and seconds else None}
    write_json(info, args.info)
    cli.log.info(
        "%d pairs' copies, %d centre crops; %d VGG16 passes in %.1f s", len(copies), len(centre), passes, seconds
    )


if __name__ == "__main__":
    cli.run(build_parser, main)
