#!/usr/bin/env python
"""Network stage, the worst shift, one VGG16 base variant (pools swapped, weights unchanged): the 512 GAP
scores of every integer shift (dy, dx in −s..s−1) of each sampled validation image under each protocol
(crop: the centre crop of the image resized larger, moved by the shift; circular: the image rolled by it),
the unshifted copy (the reference) among them. See poolkit.worst_shift."""

import argparse

import pandas as pd

from poolkit import cli
from poolkit.dataset import load_rgb_rows, sample_split
from poolkit.io import check_recorded_digest, feature_columns, write_parquet
from poolkit.kinds import VARIANTS
from poolkit.worst_shift import WorstShiftSettings, shifted_copies, worst_shift_passes, worst_shift_plan


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    p.add_argument("--manifest", required=True)
    p.add_argument("--weights", required=True, help=".weights.h5 from prepare_weights.py")
    p.add_argument("--weights-info", required=True, help="weights.json from prepare_weights.py (the file's sha256)")
    p.add_argument("--features-info", help="features.json of the feature stage: run in its precision")
    p.add_argument("--variant", required=True, choices=VARIANTS)
    p.add_argument(
        "--out",
        required=True,
        help="output Parquet: one row per image, protocol and shift of this shard, 512 GAP scores",
    )
    p.add_argument("--shard", type=int, default=0, help="this shard's number, from 0")
    cli.config_option(p, "invariance.network.shards")
    cli.add_settings_options(p, WorstShiftSettings)
    cli.add_model_options(p)
    return p


def main(args: argparse.Namespace) -> None:
    check_recorded_digest(args.weights, args.weights_info, "file_sha256")  # before any work
    settings = cli.settings_from_args(WorstShiftSettings, args, crop=args.image_size)  # checks the crop's room
    from poolkit import tfsetup

    tfsetup.configure(cli.job_threads(args.threads))
    from poolkit.device import compute_device, require_gpu

    require_gpu(args.require_gpu)
    from poolkit.features import FeatureExtractor, feature_stage_precision, shard_bounds

    manifest = pd.read_parquet(args.manifest)
    chosen = sample_split(manifest, "valid", settings.n_images, settings.seed)
    paths = chosen["path"].tolist()
    sizes = {"crop": settings.resize_to, "circular": args.image_size}
    plan = worst_shift_plan(len(chosen), settings.protocols, settings.max_shift)
    cli.log.info(
        "%d images × %d shifts: %d VGG16 passes per protocol",
        len(chosen),
        (2 * settings.max_shift) ** 2,
        worst_shift_passes(len(chosen), settings.max_shift),
    )
    precision = feature_stage_precision(args.features_info, args.precision)
    extractor = FeatureExtractor(args.weights, args.preprocessing, precision, variant=args.variant)
    cli.log.info("variant %s; device: %s; precision: %s", args.variant, compute_device(), extractor.precision)
    frames = []
    for protocol, rows in plan.groupby("protocol", sort=False):
        start, stop = shard_bounds(len(rows), args.batch_size, args.shards, args.shard)
        rows = rows.iloc[start:stop]
        if rows.empty:
            continue
        images = load_rgb_rows(paths, sizes[str(protocol)], args.resize, range(len(paths)))
        stack = shifted_copies(images, rows, crop=settings.crop if protocol == "crop" else None)
        scores = extractor.extract_arrays(stack, args.batch_size, f"{args.variant} {protocol} shifts")
        rows = rows.reset_index(drop=True)
        meta = pd.DataFrame(
            {
                "variant": args.variant,
                "image_id": chosen["image_id"].to_numpy()[rows["image"]],
                "label": chosen["label"].to_numpy()[rows["image"]],
            }
        )
        frames.append(
            pd.concat([meta, rows.drop(columns="image"), pd.DataFrame(scores, columns=feature_columns())], axis=1)
        )
    columns = ["variant", "image_id", "label", *plan.columns.drop("image"), *feature_columns()]
    write_parquet(pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns), args.out)


if __name__ == "__main__":
    cli.run(build_parser, main)
