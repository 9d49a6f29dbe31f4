#!/usr/bin/env python
"""Network stage, one VGG16 base variant (pools swapped, weights unchanged): the 512 GAP scores of every
image (for the variant's refitted head), and those of both copies of every consistency pair (crop: two
crops of the image resized larger; circular: two rolls) and of each sampled image's centre crop."""

import argparse
from typing import Any

import numpy as np
import pandas as pd

from poolkit import cli
from poolkit.dataset import load_rgb, sample_split
from poolkit.io import UserError, check_recorded_digest, feature_columns, write_parquet
from poolkit.kinds import VARIANTS
from poolkit.protocols import NetworkSettings, centre_crops, pair_copies, pair_plan

SETTING_KEYS = ("protocols", "max_shifts", "resize_to", "passes", "n_images", "seed")


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    p.add_argument("--manifest", required=True)
    p.add_argument("--weights", required=True, help=".weights.h5 from prepare_weights.py")
    p.add_argument("--weights-info", required=True, help="weights.json from prepare_weights.py (the file's sha256)")
    p.add_argument("--variant", required=True, choices=VARIANTS)
    p.add_argument(
        "--features",
        help="for the max variant (the stock VGG16): the feature stage's features.parquet, whose GAP scores "
        "are this variant's (not computed again)",
    )
    p.add_argument("--features-info", help="features.json of the feature stage: run in its precision")
    p.add_argument("--scores", required=True, help="output Parquet: image_id, split, label, 512 GAP scores")
    p.add_argument("--copies", required=True, help="output Parquet: one row per pair and copy (a, b), 512 GAP scores")
    p.add_argument("--centre", required=True, help="output Parquet: each sampled image's centre-crop scores")
    for key in SETTING_KEYS:
        cli.config_option(p, f"invariance.network.{key}")
    cli.add_model_options(p)
    return p


def load_images(paths: list[str], size: int, resize: str) -> np.ndarray:
    """The images as uint8 RGB, ``size`` px square."""
    return np.stack([np.asarray(load_rgb(path, size, resize)) for path in paths])


def image_scores(extractor: Any, manifest: pd.DataFrame, args: argparse.Namespace) -> pd.DataFrame:
    """The GAP scores of every image: the feature stage's for max, else computed through the variant."""
    meta = manifest[["image_id", "split", "label"]].reset_index(drop=True)
    if args.features:
        if args.variant != "max":
            raise UserError("--features gives the stock VGG16's scores: only for --variant max")
        check_recorded_digest(args.features, args.features_info, "features_sha256")
        features = pd.read_parquet(args.features)
        if features["image_id"].tolist() != meta["image_id"].tolist():
            raise UserError(f"{args.features} does not hold the manifest's images in order")
        return features
    scores, _, rate = extractor.extract_paths(
        manifest["path"].tolist(), args.image_size, args.resize, args.batch_size, f"{args.variant} scores", False
    )
    cli.log.info("%d images at %.1f images/s", len(manifest), rate)
    return pd.concat([meta, pd.DataFrame(scores, columns=feature_columns())], axis=1)


def copy_stacks(pairs: pd.DataFrame, images: dict[str, np.ndarray], crop: int) -> list[tuple[pd.DataFrame, np.ndarray]]:
    """Per protocol and copy (a, b): the pair rows, and the copies as one uint8 stack."""
    pieces = []
    for protocol, rows in pairs.groupby("protocol", sort=False):
        a, b = pair_copies(images[protocol], rows, crop=crop if protocol == "crop" else None)
        pieces += [(rows.reset_index(drop=True).assign(copy=copy), stack) for copy, stack in (("a", a), ("b", b))]
    return pieces


def scored_copies(
    extractor: Any, pairs: pd.DataFrame, images: dict[str, np.ndarray], args: argparse.Namespace
) -> tuple[pd.DataFrame, np.ndarray]:
    """Every copy's row with its GAP scores, and the centre crops' scores: one pass over all of them
    (whole batches, one traced graph)."""
    pieces = copy_stacks(pairs, images, args.image_size)
    stacks = [stack for _, stack in pieces] + [centre_crops(images["crop"], args.image_size)]
    scores = extractor.extract_arrays(np.concatenate(stacks), args.batch_size, f"{args.variant} copies")
    parts = np.split(scores, np.cumsum([len(stack) for stack in stacks])[:-1])
    frames = [
        pd.concat([rows, pd.DataFrame(part, columns=feature_columns())], axis=1)
        for (rows, _), part in zip(pieces, parts[:-1], strict=True)
    ]
    return pd.concat(frames, ignore_index=True), parts[-1]


def write_copies(table: pd.DataFrame, centre: np.ndarray, chosen: pd.DataFrame, args: argparse.Namespace) -> None:
    """The copies' and the centre crops' tables, each row naming its variant and image."""
    table.insert(0, "variant", args.variant)
    table.insert(1, "image_id", chosen["image_id"].to_numpy()[table["image"]])
    table.insert(2, "label", chosen["label"].to_numpy()[table["image"]])
    write_parquet(table.drop(columns="image"), args.copies)
    meta = chosen[["image_id", "label"]]
    meta.insert(0, "variant", args.variant)
    write_parquet(pd.concat([meta, pd.DataFrame(centre, columns=feature_columns())], axis=1), args.centre)
    cli.log.info("%d pairs, %d same-offset pairs", len(table) // 2, int(table["same_offset"].sum()) // 2)


def main(args: argparse.Namespace) -> None:
    check_recorded_digest(args.weights, args.weights_info, "file_sha256")  # before any work
    from poolkit import tfsetup

    tfsetup.configure(cli.job_threads(args.threads))
    from poolkit.device import compute_device, require_gpu

    require_gpu(args.require_gpu)
    from poolkit.features import FeatureExtractor, feature_stage_precision

    settings = NetworkSettings(
        variants=[args.variant], **{key: getattr(args, key) for key in SETTING_KEYS}, crop=args.image_size
    )
    manifest = pd.read_parquet(args.manifest)
    chosen = sample_split(manifest, "valid", settings.n_images, settings.seed)
    paths = chosen["path"].tolist()
    images = {
        "crop": load_images(paths, settings.resize_to, args.resize),
        "circular": load_images(paths, args.image_size, args.resize),
    }
    precision = feature_stage_precision(args.features_info, args.precision)
    extractor = FeatureExtractor(args.weights, args.preprocessing, precision, variant=args.variant)
    cli.log.info("variant %s; device: %s; precision: %s", args.variant, compute_device(), extractor.precision)
    write_parquet(image_scores(extractor, manifest, args), args.scores)
    table, centre = scored_copies(extractor, pair_plan(len(chosen), settings), images, args)
    write_copies(table, centre, chosen, args)


if __name__ == "__main__":
    cli.run(build_parser, main)
